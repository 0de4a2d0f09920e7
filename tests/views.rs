//! The byte views the DOM-free core reads the Pod through: nesting is counted
//! outside strings only, and every view keeps its offset into the original text.

use aws_pod_identity_policy::view::{Entries, Raw, items, kind, nests_deeper_than, offset};

#[test]
fn nesting_is_counted_outside_strings_only() {
    for (text, limit, deeper) in [
        ("[[[]]]", 2, true),
        ("[[[]]]", 3, false),
        (r#"{"a":[{"b":[]}]}"#, 3, true),
        (r#"{"a":[{"b":[]}]}"#, 4, false),
        (r#"["[[[[", "{{{{"]"#, 1, false),
        (r#"["\"[[[[\\", [1]]"#, 1, true),
        (r#"["\"[[[[\\", [1]]"#, 2, false),
        (r#"["unterminated"#, 0, true),
        (r#""unterminated [[["#, 0, false),
    ] {
        assert_eq!(nests_deeper_than(text, limit), deeper, "{text} at {limit}");
    }
}

#[test]
fn views_keep_offsets_into_the_original_text() {
    let text = r#"{ "a" : [1, 2] , "b":{"c":"d"} }"#;
    let raw: Raw = serde_json::from_str(text).unwrap();
    let entries = Entries::of(raw).unwrap();
    let list = entries.get("a").unwrap();
    assert_eq!((offset(text, list.get()), list.get()), (8, "[1, 2]"));
    assert_eq!(kind(entries.get("b").unwrap()), "an object");
    assert_eq!(items(list).unwrap().len(), 2);
}
