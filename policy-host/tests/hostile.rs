//! Hostile inputs through the compiled module: each gets its documented
//! answer (accept, 400 with a message, or a warning) — never a trap or a 500 —
//! and the same instance keeps answering normal requests afterwards.
//! `PRINT_MEMORY=1 cargo test -p policy-host --test hostile -- --nocapture`
//! also prints the guest's peak linear memory for the largest inputs.

mod common;

use std::sync::Arc;

use policy_host::engine::{HostCapabilities, Instance, Policy};
use policy_host::replay::Session;
use policy_host::response::ValidationResponse;
use policy_host::{Evaluation, RunError, check_protocol, check_settings, run};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/mapped";

/// No host calls: the mapping gives every `app` ServiceAccount a role.
fn settings() -> Value {
    json!({"lookupServiceAccounts": false, "serviceAccountRoles": {"*/app": {"roleArn": ROLE}}})
}

fn pod_request(object: Value) -> Value {
    json!({"uid": "u", "operation": "CREATE", "namespace": "team-a",
        "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": object})
}

fn pod(containers: Value) -> Value {
    json!({"kind": "Pod", "metadata": {"name": "app"}, "spec": {"serviceAccountName": "app", "containers": containers}})
}

fn payload(request: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"settings": settings(), "request": request})).unwrap()
}

fn validate(instance: &Instance, payload: &[u8]) -> ValidationResponse {
    let raw = instance
        .call("validate", payload)
        .unwrap_or_else(|e| panic!("guest error (a 500): {e}"));
    serde_json::from_slice(&raw).expect("a ValidationResponse")
}

fn big_pod(containers: usize, env_per_container: usize) -> Value {
    let env: Vec<Value> = (0..env_per_container)
        .map(|i| json!({"name": format!("VAR_{i}"), "value": "x".repeat(40)}))
        .collect();
    pod(Value::Array(
        (0..containers)
            .map(|i| json!({"name": format!("c{i}"), "image": "busybox", "env": env}))
            .collect(),
    ))
}

fn deep_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

enum Expect {
    Mutated,
    Accepted,
    BadRequest(&'static str),
}

fn hostile_payloads() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let five_mb = {
        let mut p = pod(json!([{"name": "app"}]));
        p["metadata"]["annotations"] = json!({"blob": "x".repeat(5 * 1024 * 1024)});
        p
    };
    let deep = format!(
        r#"{{"settings":{{}},"request":{{"uid":"u","operation":"CREATE","kind":{{"group":"","version":"v1","kind":"Pod"}},"object":{{"spec":{}}}}}}}"#,
        deep_json(10_000)
    );
    let odd_annotations = {
        let mut p = pod(json!([{"name": "app"}]));
        p["metadata"]["annotations"] = json!({"eks.amazonaws.com/token-expiration": 3600, "eks.amazonaws.com/skip-containers": null});
        p["metadata"]["labels"] = json!({"eks.amazonaws.com/skip-pod-identity-webhook": null});
        p
    };
    let mut odd_annotations_no_skip = odd_annotations.clone();
    odd_annotations_no_skip["metadata"]["labels"] = json!({"team": 7});
    vec![
        ("an empty body", Vec::new(), Expect::BadRequest("cannot parse the validation request")),
        ("a body that is not JSON", b"{not json".to_vec(), Expect::BadRequest("cannot parse the validation request")),
        ("a JSON array", b"[1,2,3]".to_vec(), Expect::BadRequest("cannot parse the validation request")),
        ("object null", payload(pod_request(Value::Null)), Expect::BadRequest("object must be a JSON object")),
        ("an object of the wrong kind", payload(pod_request(json!({"kind": "Deployment", "spec": {"template": {}}}))), Expect::BadRequest("kind is \"Deployment\"")),
        ("a 5 MB Pod", payload(pod_request(five_mb)), Expect::Mutated),
        ("10 000 containers", payload(pod_request(big_pod(10_000, 0))), Expect::Mutated),
        ("JSON nested 10 000 levels deep", deep.into_bytes(), Expect::BadRequest("recursion limit")),
        ("annotation and label values that are numbers or null", payload(pod_request(odd_annotations)), Expect::Accepted),
        ("non-string annotation values are ignored", payload(pod_request(odd_annotations_no_skip)), Expect::Mutated),
        ("a settings field of the wrong type inside the request", serde_json::to_vec(&json!({"settings": {"tokenExpiration": "1h"}, "request": pod_request(pod(json!([]))) })).unwrap(), Expect::BadRequest("tokenExpiration: invalid type: string \"1h\", expected i64")),
    ]
}

fn instance(policy: &Policy, session: Option<Session>) -> Instance {
    let capabilities = Arc::new(HostCapabilities {
        allow_context_aware: true,
        session: session.map(std::sync::Mutex::new),
    });
    policy.instantiate(capabilities).unwrap()
}

#[test]
fn hostile_payloads_get_their_documented_answer_and_the_instance_stays_usable() {
    let policy = Policy::compile(&common::policy_module()).unwrap();
    let instance = instance(&policy, None);
    let normal = payload(pod_request(pod(json!([{"name": "app"}]))));
    for (name, body, expect) in hostile_payloads() {
        let response = validate(&instance, &body);
        match expect {
            Expect::Mutated => assert!(
                response.accepted && response.mutated_object.is_some(),
                "{name}: {:?}",
                response.message
            ),
            Expect::Accepted => assert!(
                response.accepted && response.mutated_object.is_none(),
                "{name}: {:?}",
                response.message
            ),
            Expect::BadRequest(text) => {
                assert!(!response.accepted, "{name}");
                assert_eq!(response.code, Some(400), "{name}");
                let message = response.message.unwrap_or_default();
                assert!(message.contains(text), "{name}: {message}");
                assert!(
                    message.len() < 1000,
                    "{name}: the message must not echo the payload ({} bytes)",
                    message.len()
                );
            }
        }
        let after = validate(&instance, &normal);
        let env = &after.mutated_object.expect("still mutating")["spec"]["containers"][0]["env"];
        assert_eq!(
            env[0],
            json!({"name": "AWS_ROLE_ARN", "value": ROLE}),
            "after {name}"
        );
    }
}

#[test]
fn hostile_service_account_answers_are_warnings() {
    let module = common::policy_module();
    let exchange = |response: &str| {
        format!(
            "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    api_version: v1\n    kind: ServiceAccount\n    name: app\n    namespace: team-a\n    disable_cache: false\n  response:\n{response}\n"
        )
    };
    let uncached = "- type: Exchange\n  request: |\n    !KubernetesGetResource\n    api_version: v1\n    kind: ServiceAccount\n    name: app\n    namespace: team-a\n    disable_cache: true\n  response:\n    type: Error\n    message: still failing\n";
    for (name, session, warning) in [
        (
            "a payload that is not JSON",
            exchange("    type: Success\n    payload: 'not json'"),
            "is not a ServiceAccount",
        ),
        (
            "a payload that is not a ServiceAccount",
            exchange("    type: Success\n    payload: '{\"kind\":\"Secret\",\"metadata\":{}}'"),
            "answered with a Secret",
        ),
        (
            "a payload whose annotations are not strings",
            exchange(
                "    type: Success\n    payload: '{\"kind\":\"ServiceAccount\",\"metadata\":{\"annotations\":7}}'",
            ),
            "is not a ServiceAccount",
        ),
        (
            "a replay exchange that errors, twice",
            exchange("    type: Error\n    message: |-\n      boom\n      second line") + uncached,
            "still failing",
        ),
    ] {
        let evaluation = Evaluation {
            request: pod_request(pod(json!([{"name": "app"}]))),
            settings: json!({}),
            allow_context_aware: true,
            session: Some(Session::from_yaml(&session).unwrap()),
        };
        let response = run(&module, evaluation).unwrap();
        assert!(
            response.allowed && response.patch.is_none(),
            "{name}: {response:?}"
        );
        let warnings = response.warnings.unwrap_or_default();
        assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
        assert!(
            warnings[0].contains(warning) && !warnings[0].contains('\n'),
            "{name}: {}",
            warnings[0]
        );
    }
}

#[test]
fn settings_of_the_wrong_type_are_refused_before_any_evaluation() {
    let module = common::policy_module();
    for settings in [
        json!({"tokenExpiration": "1h"}),
        json!([]),
        json!({"serviceAccountRoles": {"a/b": {"roleArn": 7}}}),
    ] {
        let evaluation = Evaluation {
            request: pod_request(pod(json!([]))),
            settings,
            allow_context_aware: false,
            session: None,
        };
        assert!(matches!(
            run(&module, evaluation),
            Err(RunError::InvalidSettings(_))
        ));
    }
}

#[test]
fn peak_guest_memory_of_the_largest_inputs() {
    let policy = Policy::compile(&common::policy_module()).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "typical Pod (1 container)",
            payload(pod_request(pod(json!([{"name": "app"}])))),
        ),
        ("a 5 MB Pod", hostile_payloads().swap_remove(5).1),
        (
            "10 000 containers",
            payload(pod_request(big_pod(10_000, 0))),
        ),
        (
            "50 containers x 50 env",
            payload(pod_request(big_pod(50, 50))),
        ),
    ];
    for (name, body) in cases {
        let works = |p: &Policy| {
            let Ok(instance) = p.instantiate(Arc::new(HostCapabilities::default())) else {
                return false;
            };
            check_protocol(&instance).is_ok()
                && check_settings(&instance, &settings()).is_ok()
                && instance.call("validate", &body).is_ok_and(|raw| {
                    serde_json::from_slice::<ValidationResponse>(&raw).is_ok_and(|r| r.accepted)
                })
        };
        let peak = policy
            .peak_memory(works)
            .unwrap_or_else(|| panic!("{name}: fails even with 1 GiB"));
        assert!(peak <= 1 << 30);
        if std::env::var_os("PRINT_MEMORY").is_some() {
            println!(
                "{name}: payload {} KiB, peak guest memory {} KiB",
                body.len() / 1024,
                peak / 1024
            );
        }
    }
}
