//! Borrowed views over the Pod's bytes: a value's kind, its strings, the
//! entries of an object and the items of a list, each still pointing into the
//! original text so that edits can be planned as insertions at byte offsets.
//! Nothing here builds a DOM: what the policy does not read is only scanned.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One JSON value inside the object, as its own bytes.
pub type Raw<'a> = &'a RawValue;

/// The kind of a value, as the shape errors name it.
pub fn kind(raw: Raw) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "a list",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

pub fn is_null(raw: Raw) -> bool {
    raw.get() == "null"
}

pub fn is_object(raw: Raw) -> bool {
    raw.get().starts_with('{')
}

pub fn is_list(raw: Raw) -> bool {
    raw.get().starts_with('[')
}

/// A string that borrows from the input unless it had escapes.
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

/// The value as a string, if it is one.
pub fn text(raw: Raw<'_>) -> Option<Cow<'_, str>> {
    if !raw.get().starts_with('"') {
        return None;
    }
    serde_json::from_str::<Text>(raw.get()).ok().map(|t| t.0)
}

/// The entries of an object, in order (duplicates kept; lookups take the last,
/// as every JSON decoder the API server uses does).
pub struct Entries<'a> {
    pub raw: Raw<'a>,
    pub list: Vec<(Cow<'a, str>, Raw<'a>)>,
}

impl<'a> Entries<'a> {
    /// `None` when `raw` is not an object (or cannot be read as one).
    pub fn of(raw: Raw<'a>) -> Option<Entries<'a>> {
        if !is_object(raw) {
            return None;
        }
        let list = read_entries(raw.get()).ok()?;
        Some(Entries { raw, list })
    }

    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        self.list
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    pub fn text(&self, key: &str) -> Option<Cow<'a, str>> {
        self.get(key).and_then(text)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

fn read_entries(text: &str) -> Result<Vec<(Cow<'_, str>, Raw<'_>)>, serde_json::Error> {
    struct EntriesVisitor;
    impl<'de> Visitor<'de> for EntriesVisitor {
        type Value = Vec<(Cow<'de, str>, Raw<'de>)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some((key, value)) = map.next_entry::<Text, Raw>()? {
                entries.push((key.0, value));
            }
            Ok(entries)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.deserialize_map(EntriesVisitor)
}

/// The items of a list (`None` when `raw` is not a list).
pub fn items(raw: Raw<'_>) -> Option<Vec<Raw<'_>>> {
    if !is_list(raw) {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// Where `part` (a sub-slice of `base`) starts inside `base`.
pub fn offset(base: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

/// A JSON string literal.
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The nesting serde_json allows when it builds a tree (128 levels for the
/// whole payload, two of them outside the object).
pub const MAX_DEPTH: usize = 126;

/// Whether `text` nests objects and lists deeper than `limit`. The views skip
/// what they do not read without a depth limit, but the host parses a mutated
/// object as a tree: an answer it could not read must not be sent.
pub fn nests_deeper_than(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        match byte {
            b'"' => match skip_string(bytes, at) {
                Some(end) => at = end,
                None => return false,
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The index after the closing quote of the string whose content starts at `at`.
fn skip_string(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let rest = bytes.get(at..)?;
        let found = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
        at += found;
        if bytes.get(at) == Some(&b'"') {
            return Some(at + 1);
        }
        at += 2;
    }
}

/// What the policy reads of a list item (an env var, a mount): its `name`,
/// `value` and `mountPath` when they are strings. Anything else, and items
/// that are not objects, read as empty; one pass, nothing else kept.
#[derive(Default)]
pub struct Named<'a> {
    pub name: Option<Cow<'a, str>>,
    pub value: Option<Cow<'a, str>>,
    pub mount_path: Option<Cow<'a, str>>,
}

impl<'de> Deserialize<'de> for Named<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NamedVisitor)
    }
}

struct NamedVisitor;

impl<'de> Visitor<'de> for NamedVisitor {
    type Value = Named<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Named<'de>, A::Error> {
        let mut named = Named::default();
        while let Some(key) = map.next_key::<Text>()? {
            let slot = match key.0.as_ref() {
                "name" => &mut named.name,
                "value" => &mut named.value,
                "mountPath" => &mut named.mount_path,
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            let raw: Raw = map.next_value()?;
            *slot = text(raw);
        }
        Ok(named)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Named<'de>, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Named::default())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Named<'de>, E> {
        Ok(Named::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Named<'de>, E> {
        Ok(Named::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Named<'de>, E> {
        Ok(Named::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Named<'de>, E> {
        Ok(Named::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Named<'de>, E> {
        Ok(Named::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Named<'de>, E> {
        Ok(Named::default())
    }
}

/// The items of a list as [`Named`] (`None` when `raw` is not a list).
pub fn named_items(raw: Raw<'_>) -> Option<Vec<Named<'_>>> {
    if !is_list(raw) {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}
