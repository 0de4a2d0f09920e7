//! How settings are read with serde, the way the policy has always reported
//! them: `null` reads as the field's default, a wrong type is "must be <what>,
//! got <the value>", every error carries the field's path
//! (`serviceAccountRoles["a/b"].roleArn`), and the field lists of the derived
//! structs can be asked for (documentation checks use them).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::*;

/// `deserialize_with` functions for fields whose default is not the type's:
/// `null` gives the same value as an absent field.
pub(super) mod null_is {
    use super::{Read, *};

    macro_rules! defaults {
        ($($name:ident: $ty:ty = $default:expr;)*) => {$(
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                Ok(<$ty>::read(d)?.unwrap_or_else(|| $default))
            }
        )*};
    }

    defaults! {
        prefix: String = DEFAULT_PREFIX.to_owned();
        audience: String = DEFAULT_AUDIENCE.to_owned();
        expiration: i64 = DEFAULT_EXPIRATION;
        min_expiration: i64 = API_SERVER_MIN_EXPIRATION;
        mount_path: String = DEFAULT_MOUNT_PATH.to_owned();
        yes: bool = true;
        cc_uri: String = DEFAULT_CC_URI.to_owned();
        cc_audience: String = DEFAULT_CC_AUDIENCE.to_owned();
        cc_mount_path: String = DEFAULT_CC_MOUNT_PATH.to_owned();
        cc_volume: String = DEFAULT_CC_VOLUME.to_owned();
        cc_token_path: String = DEFAULT_CC_TOKEN_PATH.to_owned();
    }
}

pub(super) fn or_default<'de, D: Deserializer<'de>, T: Read<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(T::read(d)?.unwrap_or_default())
}

pub(super) fn optional<'de, D: Deserializer<'de>, T: Read<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::read(d)
}

/// The settings of a validation request, read as `validate_settings` reads
/// them (`null` is the defaults, errors name the field's path).
pub fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Settings, D::Error> {
    Settings::from_json(&Value::deserialize(d)?).map_err(de::Error::custom)
}

/// One settings value: `None` for `null`; a wrong type is the error
/// "must be <WHAT>, got <the value>".
pub(super) trait Read<'de>: Sized {
    const WHAT: &'static str;
    /// What a list of these must be, for messages.
    const LIST_WHAT: &'static str = "a list";
    fn read<D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error>;
    /// The message for a `null` item of a list or map.
    fn null_item() -> String {
        format!("must be {}, got null", Self::WHAT)
    }
}

fn wrong<E: de::Error>(what: &str, got: &str) -> E {
    E::custom(format!("must be {what}, got {got}"))
}

/// A scalar: read whole, then checked by `take` (which hands back what it refuses).
fn scalar<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &str,
    take: impl FnOnce(Value) -> Result<T, Value>,
) -> Result<Option<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        value => take(value)
            .map(Some)
            .map_err(|v| wrong(what, &type_name(&v))),
    }
}

impl<'de> Read<'de> for String {
    const WHAT: &'static str = "a string";
    const LIST_WHAT: &'static str = "a list of strings";
    fn read<D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        scalar(d, Self::WHAT, |v| match v {
            Value::String(s) => Ok(s),
            other => Err(other),
        })
    }
}

impl<'de> Read<'de> for bool {
    const WHAT: &'static str = "a boolean";
    fn read<D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        scalar(d, Self::WHAT, |v| v.as_bool().ok_or(v))
    }
}

impl<'de> Read<'de> for i64 {
    const WHAT: &'static str = "an integer number of seconds";
    fn read<D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        scalar(d, Self::WHAT, |v| v.as_i64().ok_or(v))
    }
}

/// Settings spelled as one of a fixed set of words.
macro_rules! choices {
    ($($ty:ty { $($word:literal => $value:expr),+ })*) => {$(
        impl<'de> Read<'de> for $ty {
            const WHAT: &'static str = "a string";
            fn read<D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
                let Some(word) = String::read(d)? else { return Ok(None) };
                match word.as_str() {
                    $($word => Ok(Some($value)),)+
                    _ => Err(de::Error::custom(format!(
                        "must be one of {}, got {word:?}",
                        [$(format!("{:?}", $word)),+].join(", ")
                    ))),
                }
            }
        }
    )*};
}

choices! {
    RoleSessionName { "none" => RoleSessionName::None, "podName" => RoleSessionName::PodName }
    OnConflict { "warn" => OnConflict::Warn, "reject" => OnConflict::Reject }
    PolicyMode { "mutate" => PolicyMode::Mutate, "audit" => PolicyMode::Audit }
}

/// An object or a list, built in place from serde's map or sequence access,
/// so that the path of an error deep inside it is still tracked.
trait Container<'de>: Sized {
    const WHAT: &'static str;
    fn from_map<A: MapAccess<'de>>(_map: A) -> Result<Self, A::Error> {
        Err(wrong(Self::WHAT, "an object"))
    }
    fn from_seq<A: SeqAccess<'de>>(_seq: A) -> Result<Self, A::Error> {
        Err(wrong(Self::WHAT, "a list"))
    }
    fn null_item() -> String {
        format!("must be {}, got null", Self::WHAT)
    }
}

impl<'de, T: Container<'de>> Read<'de> for T {
    const WHAT: &'static str = T::WHAT;
    fn read<D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        d.deserialize_any(ContainerVisitor(PhantomData))
    }
    fn null_item() -> String {
        <T as Container>::null_item()
    }
}

/// Derived structs: their own fields are read by their derived code.
macro_rules! objects {
    ($($ty:ty => $null_item:literal),*) => {$(
        impl<'de> Container<'de> for $ty {
            const WHAT: &'static str = "an object";
            fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                Self::deserialize(MapAccessDeserializer::new(map))
            }
            fn null_item() -> String {
                $null_item.to_owned()
            }
        }
    )*};
}

objects! {
    RoleMapping => "must be an object with a roleArn",
    ContainerCredentials => "must be an object",
    ServiceAccountRef => "must be an object with namespace and serviceAccount"
}

impl<'de, T: Read<'de>> Container<'de> for Vec<T> {
    const WHAT: &'static str = T::LIST_WHAT;
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Item(PhantomData))? {
            items.push(item);
        }
        Ok(items)
    }
}

impl<'de, T: Read<'de>> Container<'de> for BTreeMap<String, T> {
    const WHAT: &'static str = "an object";
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.insert(key, map.next_value_seed(Item(PhantomData))?);
        }
        Ok(entries)
    }
}

/// An item of a list or map: `null` is not a value there.
struct Item<T>(PhantomData<T>);

impl<'de, T: Read<'de>> DeserializeSeed<'de> for Item<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::read(d)?.ok_or_else(|| de::Error::custom(T::null_item()))
    }
}

struct ContainerVisitor<T>(PhantomData<T>);

impl<'de, T: Container<'de>> Visitor<'de> for ContainerVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::WHAT)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map).map(Some)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq).map(Some)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(wrong(T::WHAT, &format!("the boolean {v}")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(wrong(T::WHAT, &format!("the number {v}")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(wrong(T::WHAT, &format!("the number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(wrong(T::WHAT, &format!("the number {v}")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Err(wrong(T::WHAT, &format!("the string {v:?}")))
    }
}

/// `serviceAccountRoles["a/b"].roleArn`, `containerCredentials.identities[1]`;
/// `settings` for the object itself.
pub(super) fn field_path(segments: &[&serde_path_to_error::Segment]) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut parent = "";
    for segment in segments.iter().copied() {
        match segment {
            Segment::Seq { index } => out += &format!("[{index}]"),
            Segment::Map { key } if parent == "serviceAccountRoles" => out += &format!("[{key:?}]"),
            Segment::Map { key } if out.is_empty() => out += key,
            Segment::Map { key } => out += &format!(".{key}"),
            Segment::Enum { variant } => out += &format!(".{variant}"),
            Segment::Unknown => out += ".?",
        }
        parent = match segment {
            Segment::Map { key } => key,
            _ => "",
        };
    }
    if out.is_empty() {
        "settings".to_owned()
    } else {
        out
    }
}

/// serde says "unknown field `x`, expected one of `a`, `b`"; the policy has
/// always said `unknown field "x" (known fields: a, b)`.
pub(super) fn unknown_field_message(message: &str) -> Option<String> {
    message.strip_prefix("unknown field `")?;
    let mut names = message.split('`').skip(1).step_by(2);
    let field = names.next().unwrap_or_default();
    let known: Vec<&str> = names.collect();
    Some(format!(
        "unknown field {field:?} (known fields: {})",
        known.join(", ")
    ))
}

/// The field names serde's derive gives a struct, recorded by a deserializer
/// that answers nothing but remembers what it was asked for.
pub(super) fn field_names<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Recorded;

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Recorded {}

impl de::Error for Recorded {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Recorded
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Recorded;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Recorded> {
        Err(Recorded)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Recorded> {
        *self.0 = fields;
        Err(Recorded)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

pub(super) fn type_name(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
