//! The one-pass reader the core reads the request through: it accepts exactly
//! the texts serde_json accepts, counts nesting outside strings only, and
//! keeps every position as an offset into the original text.

use aws_pod_identity_policy::scan::{Scanner, Span};
use serde::de::IgnoredAny;

fn scans(text: &str) -> bool {
    let mut s = Scanner::new(text);
    s.skip().is_ok() && s.end().is_ok()
}

#[test]
fn the_reader_accepts_exactly_what_serde_json_accepts() {
    for text in [
        "{}",
        "[]",
        " { \"a\" : [ 1 , -2.5e+3 , true , false , null , \"x\" ] } ",
        "\"\\u00e9\\n\\\"\\\\\\/\\b\\f\\r\\t\"",
        "\"é ✓ 😀\"",
        "0",
        "-0.0E-0",
        "{\"\":{\"\":[[]]}}",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "tru",
        "nul",
        "\"\\x\"",
        "\"\\u12g4\"",
        "\"tab\there\"",
        "\"unterminated",
        "[",
        "{\"a\":}",
        "",
        "  ",
        "[] []",
        "{}\n",
        "NaN",
    ] {
        let serde = serde_json::from_str::<IgnoredAny>(text).is_ok();
        assert_eq!(scans(text), serde, "{text:?}");
    }
}

#[test]
fn nesting_is_counted_outside_strings_only() {
    for (text, deepest) in [
        ("[[[]]]", 3),
        (r#"{"a":[{"b":[]}]}"#, 4),
        (r#"["[[[[", "{{{{"]"#, 1),
        (r#"["\"[[[[\\", [1]]"#, 2),
        ("1", 0),
    ] {
        let mut s = Scanner::new(text);
        assert!(s.skip().is_ok(), "{text}");
        assert_eq!(s.deepest(), deepest, "{text}");
    }
}

#[test]
fn nesting_far_deeper_than_any_stack_is_skipped() {
    let text = "[".repeat(100_000) + &"]".repeat(100_000);
    let mut s = Scanner::new(&text);
    assert!(s.skip().is_ok());
    assert_eq!(s.deepest(), 100_000);
}

#[test]
fn spans_are_offsets_into_the_original_text() {
    let text = r#"{ "a" : [1, 2] , "b":{"c":"d"} }"#;
    let mut s = Scanner::new(text);
    let mut list = None;
    let mut keys = Vec::new();
    let object = s
        .object(|s, key| {
            keys.push(key.unwrap_or_default().into_owned());
            match keys.len() {
                1 => s.list(|s| s.skip().map(drop)).map(|span| list = Some(span)),
                _ => s.skip().map(drop),
            }
        })
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(
        object,
        Span {
            open: 0,
            close: 31,
            count: 2
        }
    );
    assert_eq!(
        list,
        Some(Span {
            open: 8,
            close: 13,
            count: 2
        })
    );
    assert_eq!(&text[8..=13], "[1, 2]");
}

#[test]
fn escaped_keys_are_decoded_and_undecodable_ones_read_as_none() {
    let text = r#"{"na\u006de":1,"\ud800":2,"plain":3}"#;
    let mut keys = Vec::new();
    let mut s = Scanner::new(text);
    s.object(|s, key| {
        keys.push(key.map(|k| k.into_owned()));
        s.skip().map(drop)
    })
    .unwrap();
    assert_eq!(
        keys,
        [Some("name".to_owned()), None, Some("plain".to_owned())]
    );
}

#[test]
fn strings_end_where_serde_json_ends_them_at_every_position() {
    for len in 0..20 {
        for at in 0..len {
            for special in [
                "\"", "\\\\", "\\n", "\\u0041", "\n", "\u{1}", "é", "\\q", "\\",
            ] {
                let mut content: Vec<String> = (0..len)
                    .map(|i| ((b'a' + i as u8) as char).to_string())
                    .collect();
                content[at] = special.to_owned();
                let text = format!("[\"{}\", 1]", content.concat());
                let serde = serde_json::from_str::<IgnoredAny>(&text).is_ok();
                assert_eq!(scans(&text), serde, "{text:?}");
            }
        }
    }
}

/// Odd envelopes, each with what the policy answers: what it reads, or where
/// and why it cannot (a 400 naming the byte and what was expected there).
#[test]
fn odd_envelopes_are_read_or_refused_naming_the_byte() {
    use aws_pod_identity_policy::admission::{Verdict, decide};
    let pod = r#"{"metadata":{"name":"p"},"spec":{"serviceAccountName":"app","containers":[{"name":"c"}]}}"#;
    let kind = r#"{"group":"","version":"v1","kind":"Pod"}"#;
    let request = |extra: &str| {
        format!(
            r#"{{"uid":"u","kind":{kind},"operation":"CREATE","namespace":"ns"{extra},"object":{pod}}}"#
        )
    };
    let sa = br#"{"kind":"ServiceAccount","metadata":{"annotations":{"eks.amazonaws.com/role-arn":"arn:aws:iam::111122223333:role/r"}}}"#;
    let mut cases: Vec<Vec<u8>> = [
        format!(r#"{{"settings":{{}},"request":{}}}"#, request("")),
        format!(r#"{{"request":{}}}"#, request("")),
        format!(r#"{{"settings":null,"request":{}}}"#, request("")),
        format!(r#"{{"settings":{{}},"settings":{{}},"request":{}}}"#, request("")),
        format!(r#"{{"settings":{{"mode":"nope"}},"request":{}}}"#, request("")),
        format!(r#"{{"settings":[],"request":{}}}"#, request("")),
        r#"{"settings":{}}"#.to_owned(),
        r#"{"settings":{},"request":[]}"#.to_owned(),
        format!(r#"{{"settings":{{}},"request":{}}} x"#, request("")),
        format!(r#"[{{}},{}]"#, request("")),
        format!(r#"{{"request":{}}}"#, request(r#","uid":"again""#)),
        format!(r#"{{"request":{}}}"#, request(r#","subResource":"","sub_resource":"""#)),
        format!(r#"{{"request":{}}}"#, request(r#","sub_resource":"status""#)),
        format!(r#"{{"request":{}}}"#, request(r#","dryRun":false,"oldObject":null"#)),
        format!(r#"{{"request":{}}}"#, request(r#","\u0075id2":1"#)),
        format!(r#"{{"request":{}}}"#, request(r#","operation":null"#)),
        format!(r#"{{"request":{}}}"#, request(r#","name":"\ud800""#)),
        r#"{"request":{"uid":"\ud800","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":{}}}"#.to_owned(),
        r#"{"request":{"uid":"x","kind":["","v1","Pod"],"operation":"CREATE","object":{}}}"#.to_owned(),
        r#"{"request":{"uid":"x","kind":{"kind":"Pod","version":"v1","kind":"Pod"},"operation":"CREATE","object":{}}}"#.to_owned(),
        r#"{"request":{"uid":"x","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE"}}"#.to_owned(),
        r#"{"request":{"uid":"x","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":null}}"#.to_owned(),
        r#"{"request":{"uid":"x","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":"pod"}}"#.to_owned(),
        r#"{"request":{"uid":"x","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":{},"object":{}}}"#.to_owned(),
        r#"{"request":{"u\u0069d":"x","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":{"spec":{}}}}"#.to_owned(),
        String::new(),
        "null".to_owned(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    let mut not_utf8 = format!(r#"{{"request":{}}}"#, request(r#","oldObject":"XX""#)).into_bytes();
    if let Some(at) = not_utf8.windows(2).position(|w| w == b"XX") {
        not_utf8[at] = 0xff;
    }
    cases.push(not_utf8);
    let answers: Vec<String> = cases
        .iter()
        .map(|payload| {
            let mut read = |_: &_| Ok(sa.to_vec());
            match decide(payload, &mut read).verdict {
                Verdict::Accept { .. } => "accept".to_owned(),
                Verdict::Mutate { .. } => "mutate".to_owned(),
                Verdict::Reject { code, message, .. } => format!("{code} {message}"),
            }
        })
        .collect();
    let expected: Vec<&str> = ODD_ENVELOPE_ANSWERS.to_vec();
    assert_eq!(answers, expected);
}

const ODD_ENVELOPE_ANSWERS: &[&str] = &[
    "mutate",
    "mutate",
    "mutate",
    "400 cannot parse the validation request: expected no duplicate field at byte 26",
    "400 cannot parse the validation request: mode: unknown variant `nope`, expected `mutate` or `audit`",
    "400 cannot parse the validation request: settings: invalid type, expected an object",
    "400 cannot parse the validation request: the request is missing",
    "400 cannot parse the validation request: expected an object at byte 25",
    "400 cannot parse the validation request: expected the end of the text at byte 223",
    "400 cannot parse the validation request: expected an object at byte 0",
    "400 cannot parse the validation request: expected no duplicate field at byte 114",
    "400 cannot parse the validation request: expected no duplicate field at byte 140",
    "accept",
    "mutate",
    "mutate",
    "400 cannot parse the validation request: expected no duplicate field at byte 120",
    "mutate",
    "400 cannot parse the validation request: expected a string with valid escapes at byte 26",
    "400 cannot parse the validation request: expected an object at byte 29",
    "400 cannot parse the validation request: expected no duplicate field at byte 65",
    "400 object must be a JSON object (a Pod), got null",
    "400 object must be a JSON object (a Pod), got null",
    "400 object must be a JSON object (a Pod), got a string",
    "400 cannot parse the validation request: expected no duplicate field at byte 101",
    "mutate",
    "400 cannot parse the validation request: expected a value at byte 0",
    "400 cannot parse the validation request: expected an object at byte 0",
    "400 cannot parse the validation request: not UTF-8 from byte 121",
];
