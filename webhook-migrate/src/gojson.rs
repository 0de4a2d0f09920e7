//! The webhook's two JSON inputs, read as Go's `encoding/json` reads them into its types: the
//! ConfigMap's `data.config` (`map[string]*cache.Entry`) and the container-credentials identities
//! file (`containercredentials.IdentityConfigObject`). Go matches field names case-insensitively,
//! ignores unknown fields, lets the last of duplicate keys win and leaves a field alone on `null`;
//! the reader keeps the document's order to do the same, and reports the fields Go ignores.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value with its objects' keys in document order, duplicates kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// An integer that fits Go's int64.
    Int(i64),
    /// Any other number (a fraction, an exponent, out of int64's range).
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Go's name for the JSON type, as its `UnmarshalTypeError` says it.
    fn go_name(&self) -> String {
        match self {
            Json::Null => "null".to_owned(),
            Json::Bool(_) => "bool".to_owned(),
            Json::Int(n) => format!("number {n}"),
            Json::Number(n) => format!("number {n}"),
            Json::Str(_) => "string".to_owned(),
            Json::Array(_) => "array".to_owned(),
            Json::Object(_) => "object".to_owned(),
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Int(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(i64::try_from(n).map_or_else(|_| Json::Number(n.to_string()), Json::Int))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Json::Number(n.to_string()))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut pairs = Vec::new();
        while let Some(pair) = map.next_entry()? {
            pairs.push(pair);
        }
        Ok(Json::Object(pairs))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

pub fn parse(text: &str) -> Result<Json, String> {
    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))
}

/// Go's case-insensitive match of a JSON key to a field name (`bytes.EqualFold`; the Kelvin sign
/// and the long s fold to `k` and `s`, the only non-ASCII letters that fold to ASCII).
fn folds_to(key: &str, field: &str) -> bool {
    let fold = |c: char| match c {
        '\u{212A}' => 'k',
        '\u{017F}' => 's',
        c => c.to_ascii_lowercase(),
    };
    key.chars().map(fold).eq(field.chars().map(fold))
}

/// One ConfigMap entry as the webhook's `cache.Entry`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub role_arn: String,
    pub audience: String,
    pub use_regional_sts: bool,
    pub token_expiration: i64,
}

/// The ConfigMap's entries by key, in document order.
pub type Entries = Vec<(String, Entry)>;

/// `data.config` as the webhook's `map[string]*Entry`: the entries in document order (a repeated
/// key keeps its last entry, at its first place), and the fields Go ignored, as `key.field`.
pub fn config_entries(text: &str) -> Result<(Entries, Vec<String>), String> {
    let entries = match parse(text)? {
        Json::Null => return Ok((Vec::new(), Vec::new())),
        Json::Object(pairs) => pairs,
        other => return Err(type_error(&other, "map[string]*cache.Entry")),
    };
    let (mut out, mut ignored): (Entries, Vec<String>) = (Vec::new(), Vec::new());
    for (key, value) in entries {
        let entry = entry(&key, value, &mut ignored)?;
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = entry,
            None => out.push((key, entry)),
        }
    }
    Ok((out, ignored))
}

fn entry(key: &str, value: Json, ignored: &mut Vec<String>) -> Result<Entry, String> {
    let fields = match value {
        // The webhook dereferences the nil *Entry and panics.
        Json::Null => {
            return Err(format!(
                "{key:?}: the entry is null, which makes the webhook panic"
            ));
        }
        Json::Object(fields) => fields,
        other => return Err(format!("{key:?}: {}", type_error(&other, "cache.Entry"))),
    };
    let mut entry = Entry::default();
    for (name, value) in fields {
        let at = |go_type: &str| format!("{key:?}.{name}: {}", type_error(&value, go_type));
        if value == Json::Null {
            continue;
        }
        if folds_to(&name, "RoleARN") {
            entry.role_arn = string(&value).ok_or_else(|| at("string"))?;
        } else if folds_to(&name, "Audience") {
            entry.audience = string(&value).ok_or_else(|| at("string"))?;
        } else if folds_to(&name, "UseRegionalSTS") {
            entry.use_regional_sts = match &value {
                Json::Bool(b) => *b,
                _ => return Err(at("bool")),
            };
        } else if folds_to(&name, "TokenExpiration") {
            entry.token_expiration = match &value {
                Json::Int(n) => *n,
                _ => return Err(at("int64")),
            };
        } else {
            ignored.push(format!("{key:?}.{name}"));
        }
    }
    Ok(entry)
}

/// One `{namespace, serviceAccount}` of the identities file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub namespace: String,
    pub service_account: String,
}

/// The identities file as the webhook's `IdentityConfigObject`: its identities in order, and the
/// fields Go ignored. An empty file is no identities (the webhook clears its list).
pub fn identities(text: &str) -> Result<(Vec<Identity>, Vec<String>), String> {
    if text.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let fields = match parse(text)? {
        Json::Null => return Ok((Vec::new(), Vec::new())),
        Json::Object(fields) => fields,
        other => {
            return Err(type_error(
                &other,
                "containercredentials.IdentityConfigObject",
            ));
        }
    };
    let (mut list, mut ignored) = (Vec::new(), Vec::new());
    for (name, value) in fields {
        if !folds_to(&name, "identities") {
            ignored.push(name);
            continue;
        }
        list = match value {
            Json::Null => list,
            Json::Array(items) => identity_list(&name, items, &mut ignored)?,
            other => return Err(format!("{name}: {}", type_error(&other, "[]Identity"))),
        };
    }
    Ok((list, ignored))
}

fn identity_list(
    field: &str,
    items: Vec<Json>,
    ignored: &mut Vec<String>,
) -> Result<Vec<Identity>, String> {
    let mut list = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("{field}[{i}]");
        let fields = match item {
            Json::Null => Vec::new(),
            Json::Object(fields) => fields,
            other => return Err(format!("{at}: {}", type_error(&other, "Identity"))),
        };
        let mut identity = Identity::default();
        for (name, value) in fields {
            let slot = if folds_to(&name, "namespace") {
                &mut identity.namespace
            } else if folds_to(&name, "serviceAccount") {
                &mut identity.service_account
            } else {
                ignored.push(format!("{at}.{name}"));
                continue;
            };
            match value {
                Json::Null => {}
                Json::Str(s) => *slot = s,
                other => return Err(format!("{at}.{name}: {}", type_error(&other, "string"))),
            }
        }
        list.push(identity);
    }
    Ok(list)
}

fn string(value: &Json) -> Option<String> {
    match value {
        Json::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn type_error(value: &Json, go_type: &str) -> String {
    format!(
        "cannot unmarshal {} into Go type {go_type} (the webhook rejects the whole file)",
        value.go_name()
    )
}
