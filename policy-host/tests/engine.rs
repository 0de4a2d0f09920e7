//! The host's own guarantees, with tiny hand-written waPC modules: a guest
//! that traps, loops forever or answers garbage gives a 500, never a crash;
//! replay sessions match host calls field for field.

use policy_host::replay::{GetResource, Session};
use policy_host::{Evaluation, RunError, run};
use serde_json::json;

/// A waPC guest that answers `protocol_version` and `validate_settings`
/// properly (told apart by the length of the operation name) and runs
/// `validate_body` for `validate`.
fn guest(validate_body: &str) -> Vec<u8> {
    format!(
        r#"(module
  (import "wapc" "__guest_response" (func $response (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\"v1\"")
  (data (i32.const 16) "{{\"valid\":true}}")
  (data (i32.const 48) "not json")
  (func (export "wapc_init"))
  (func (export "__guest_call") (param $op i32) (param $msg i32) (result i32)
    (if (i32.eq (local.get $op) (i32.const 16)) (then (call $response (i32.const 0) (i32.const 4)) (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 17)) (then (call $response (i32.const 16) (i32.const 14)) (return (i32.const 1))))
    {validate_body}))"#
    )
    .into_bytes()
}

fn evaluation() -> Evaluation {
    Evaluation {
        request: json!({"uid": "u-1", "object": {"kind": "Pod"}}),
        settings: json!({}),
        allow_context_aware: false,
        session: None,
    }
}

#[test]
fn a_failing_module_gives_a_500_rejection_not_a_host_crash() {
    for (name, body, message) in [
        ("trap", "unreachable", "error while executing"),
        (
            "garbage",
            "(call $response (i32.const 48) (i32.const 8)) (i32.const 1)",
            "unreadable response",
        ),
        (
            "endless loop",
            "(loop $forever (br $forever)) (i32.const 0)",
            "deadline",
        ),
    ] {
        let response = run(&guest(body), evaluation()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!response.allowed, "{name}");
        let status = response.status.unwrap();
        assert_eq!(status.code, Some(500), "{name}");
        let text = status.message.unwrap();
        assert!(text.contains(message), "{name}: {text}");
        assert!(!text.contains('\n'), "{name}: one line please: {text}");
        assert_eq!(response.uid, "u-1");
    }
}

#[test]
fn a_module_that_is_not_wasm_is_a_module_error() {
    match run(b"not wasm", evaluation()) {
        Err(RunError::Module(message)) => assert!(
            message.contains("cannot load the policy module"),
            "{message}"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

fn request(name: &str, disable_cache: bool) -> GetResource {
    GetResource {
        api_version: "v1".to_owned(),
        kind: "ServiceAccount".to_owned(),
        name: name.to_owned(),
        namespace: Some("team-a".to_owned()),
        disable_cache,
        field_masks: None,
    }
}

const SESSION: &str = r#"
- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: v1
    kind: ServiceAccount
    name: app
    namespace: team-a
    disable_cache: false
  response:
    type: Error
    message: not found
- type: Exchange
  request: |
    !KubernetesGetResource
    api_version: v1
    kind: ServiceAccount
    name: app
    namespace: team-a
    disable_cache: true
  response:
    type: Success
    payload: '{"kind":"ServiceAccount"}'
"#;

#[test]
fn a_replay_session_answers_matching_calls_in_order() {
    let mut session = Session::from_yaml(SESSION).unwrap();
    assert_eq!(
        session.answer(&request("app", false)),
        Err("not found".to_owned())
    );
    assert_eq!(
        session.answer(&request("app", true)),
        Ok(br#"{"kind":"ServiceAccount"}"#.to_vec())
    );
    let exhausted = session.answer(&request("app", true)).unwrap_err();
    assert!(
        exhausted.starts_with("replay session exhausted"),
        "{exhausted}"
    );
}

#[test]
fn a_call_that_differs_from_the_recording_is_an_error_showing_both() {
    let mut session = Session::from_yaml(SESSION).unwrap();
    let error = session.answer(&request("app", true)).unwrap_err();
    assert!(error.contains("mismatch"), "{error}");
    assert!(
        error.contains("disable_cache: true") && error.contains("disable_cache: false"),
        "{error}"
    );
    assert_eq!(session.remaining(), 2, "a mismatch consumes nothing");
}

#[test]
fn sessions_with_unknown_capabilities_or_fields_are_refused() {
    let other = "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: x\n  response:\n    type: Error\n    message: x\n";
    assert!(
        Session::from_yaml(other)
            .unwrap_err()
            .contains("not supported")
    );
    let typo = "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    api_version: v1\n    kind: ServiceAccount\n    name: a\n    disable_cach: true\n  response:\n    type: Error\n    message: x\n";
    assert!(
        Session::from_yaml(typo)
            .unwrap_err()
            .contains("disable_cach")
    );
    assert_eq!(Session::from_yaml("[]").unwrap().remaining(), 0);
}
