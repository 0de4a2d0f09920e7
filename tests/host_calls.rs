//! BEHAVIOUR.md §3.1 and §6: the exact host calls (replay sessions depend on
//! them), the uncached retry, and what the response carries.

mod common;

use aws_pod_identity_policy::admission::{Decision, Verdict};
use aws_pod_identity_policy::answer;
use common::*;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::json;

/// (name, namespace, disable_cache) of each call.
fn calls(run: &Run) -> Vec<(String, Option<String>, bool)> {
    for call in &run.calls {
        assert_eq!(
            (call.api_version.as_str(), call.kind.as_str()),
            ("v1", "ServiceAccount")
        );
        assert_eq!(call.field_masks, None);
    }
    run.calls
        .iter()
        .map(|c| (c.name.clone(), c.namespace.clone(), c.disable_cache))
        .collect()
}

fn call(name: &str, namespace: &str, disable_cache: bool) -> (String, Option<String>, bool) {
    (name.to_owned(), Some(namespace.to_owned()), disable_cache)
}

#[test]
fn host_calls_carry_the_exact_fields_the_contract_gives() {
    let with_sa = |spec| create(pod(spec));
    let mut no_request_namespace = create(pod(json!({})));
    no_request_namespace["namespace"] = json!("");
    no_request_namespace["object"]["metadata"]["namespace"] = json!("from-metadata");
    let cases = [
        (
            "one cached read when the SA is found",
            json!({}),
            with_sa(json!({})),
            vec![sa_with_role()],
            vec![call("app", "team-a", false)],
        ),
        (
            "a failed cached read is retried once, uncached",
            json!({}),
            with_sa(json!({})),
            vec![not_found(), not_found()],
            vec![call("app", "team-a", false), call("app", "team-a", true)],
        ),
        (
            "cacheServiceAccounts false reads live, once",
            json!({"cacheServiceAccounts": false}),
            with_sa(json!({})),
            vec![not_found()],
            vec![call("app", "team-a", true)],
        ),
        (
            "lookupServiceAccounts false makes no call",
            json!({"lookupServiceAccounts": false}),
            with_sa(json!({})),
            vec![],
            vec![],
        ),
        (
            "the deprecated serviceAccount field names the SA",
            json!({}),
            with_sa(json!({"serviceAccountName": "", "serviceAccount": "legacy"})),
            vec![sa(json!({}))],
            vec![call("legacy", "team-a", false)],
        ),
        (
            "a Pod without an SA uses default",
            json!({}),
            create(json!({"spec": {"containers": []}})),
            vec![sa(json!({}))],
            vec![call("default", "team-a", false)],
        ),
        (
            "the namespace falls back to metadata.namespace",
            json!({}),
            no_request_namespace,
            vec![sa(json!({}))],
            vec![call("app", "from-metadata", false)],
        ),
        (
            "a skipped Pod makes no call",
            json!({}),
            create(
                json!({"metadata": {"labels": {"eks.amazonaws.com/skip-pod-identity-webhook": "x"}}, "spec": {}}),
            ),
            vec![],
            vec![],
        ),
        (
            "a malformed Pod makes no call",
            json!({}),
            create(json!({"spec": "x"})),
            vec![],
            vec![],
        ),
    ];
    for (name, settings, request, answers, expected) in cases {
        let run = evaluate(&settings, &request, &answers);
        assert_eq!(calls(&run), expected, "{name}");
    }
}

#[test]
fn an_unparseable_payload_is_a_400_not_a_guest_error() {
    let mut read = |_: &_| -> Result<Vec<u8>, String> { Err("no call expected".to_owned()) };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for payload in [
        b"".to_vec(),
        b"not json".to_vec(),
        b"[1,2]".to_vec(),
        deep.into_bytes(),
    ] {
        let (outcome, _) = common::decide(&payload, &mut read);
        match outcome {
            Outcome::Reject {
                code: 400, message, ..
            } => assert!(
                message.starts_with("cannot parse the validation request"),
                "{message}"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The answer of `verdict`, read as the SDK's `ValidationResponse` (as the host reads it).
fn response(verdict: Verdict) -> ValidationResponse {
    let decision = Decision {
        verdict,
        trail: None,
        insertions: Vec::new(),
    };
    serde_json::from_slice(&answer(&decision)).unwrap()
}

#[test]
fn responses_dedupe_warnings_and_carry_at_most_ten() {
    let warnings: Vec<String> = (0..15).map(|i| format!("w{}", i % 12)).collect();
    let response = response(Verdict::Mutate {
        object: r#"{"a": 1}"#.to_owned(),
        warnings,
    });
    let expected: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    assert_eq!(response.warnings, Some(expected));
    assert!(response.accepted);
    assert_eq!(response.mutated_object, Some(json!({"a": 1})));
}

#[test]
fn responses_map_each_outcome_to_the_sdk_fields() {
    let accept = response(Verdict::Accept { warnings: vec![] });
    assert!(
        accept.accepted
            && accept.mutated_object.is_none()
            && accept.warnings.is_none()
            && accept.code.is_none()
    );
    let reject = response(Verdict::Reject {
        code: 400,
        message: "spec is missing".to_owned(),
        warnings: vec!["w".to_owned()],
    });
    assert!(!reject.accepted);
    assert_eq!(
        (reject.code, reject.message.as_deref()),
        (Some(400), Some("spec is missing"))
    );
    assert_eq!(reject.warnings, Some(vec!["w".to_owned()]));
}
