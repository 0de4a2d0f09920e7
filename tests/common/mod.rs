//! Shared fixtures for the native tests: a Pod, its ServiceAccount, and a
//! runner that stands in for the host with a list of recorded answers.
#![allow(dead_code)]

use aws_pod_identity_policy::admission;
use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use serde_json::{Value, json};

pub const ROLE: &str = "arn:aws:iam::111122223333:role/app";
pub const UID: &str = "0b7b6c0a-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
pub const TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
pub const MOUNT: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";

/// One answer of the host to `get_resource`.
pub type Answer = Result<Value, String>;

/// A ServiceAccount `app` in `team-a` with these annotations.
pub fn sa(annotations: Value) -> Answer {
    Ok(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "app", "namespace": "team-a", "annotations": annotations}}))
}

pub fn sa_with_role() -> Answer {
    sa(json!({"eks.amazonaws.com/role-arn": ROLE}))
}

pub fn not_found() -> Answer {
    Err("Cannot find v1/ServiceAccount named 'app' inside of namespace 'team-a'".to_owned())
}

/// The CREATE request of `pod` in `team-a`.
pub fn create(pod: Value) -> Value {
    json!({"uid": UID, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE", "namespace": "team-a", "name": "app", "object": pod})
}

/// A Pod of SA `app` with one container `app` and the given extra spec fields.
pub fn pod(spec: Value) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": {"serviceAccountName": "app", "containers": [{"name": "app", "image": "busybox"}]}});
    merge(&mut pod["spec"], spec);
    pod
}

pub fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

pub fn env(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

pub fn web_pair(role: &str, file: &str) -> Vec<Value> {
    vec![
        env("AWS_ROLE_ARN", role),
        env("AWS_WEB_IDENTITY_TOKEN_FILE", file),
    ]
}

pub fn iam_mount() -> Value {
    json!({"name": "aws-iam-token", "readOnly": true, "mountPath": MOUNT})
}

pub fn token_volume(name: &str, audience: Option<&str>, seconds: i64, path: &str) -> Value {
    let mut token = json!({"expirationSeconds": seconds, "path": path});
    if let Some(audience) = audience {
        token["audience"] = json!(audience);
    }
    json!({"name": name, "projected": {"sources": [{"serviceAccountToken": token}]}})
}

pub fn iam_volume() -> Value {
    token_volume("aws-iam-token", Some("sts.amazonaws.com"), 86400, "token")
}

/// A container `name` with `env` and the web-identity mount.
pub fn injected(name: &str, env: Vec<Value>) -> Value {
    json!({"name": name, "image": "busybox", "env": env, "volumeMounts": [iam_mount()]})
}

/// The Pod every default-settings case expects: one container with the pair.
pub fn default_injected() -> Value {
    pod(
        json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [iam_volume()]}),
    )
}

/// What the policy answered, read back from the answer's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Accept {
        warnings: Vec<String>,
    },
    Mutate {
        object: Value,
        warnings: Vec<String>,
    },
    Reject {
        code: u16,
        message: String,
        warnings: Vec<String>,
    },
}

impl Outcome {
    /// The outcome of the answer the policy writes (the SDK's `ValidationResponse`).
    pub fn of_answer(answer: &[u8]) -> Outcome {
        let answer: Value = serde_json::from_slice(answer).expect("the answer is JSON");
        let warnings = answer["warnings"]
            .as_array()
            .map(|w| w.iter().map(|w| w.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        match (answer["accepted"].as_bool(), answer.get("mutated_object")) {
            (Some(true), Some(object)) => Outcome::Mutate {
                object: object.clone(),
                warnings,
            },
            (Some(true), None) => Outcome::Accept { warnings },
            _ => Outcome::Reject {
                code: answer["code"].as_u64().unwrap() as u16,
                message: answer["message"].as_str().unwrap().to_owned(),
                warnings,
            },
        }
    }
}

/// Evaluates a whole `validate` payload; the outcome and the answer's audit annotations.
pub fn decide(
    payload: &[u8],
    read: &mut admission::ReadResource,
) -> (Outcome, Option<std::collections::BTreeMap<String, String>>) {
    let answer = aws_pod_identity_policy::answer(&admission::decide(payload, read));
    let audit = serde_json::from_slice::<Value>(&answer).unwrap()["audit_annotations"]
        .as_object()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        });
    (Outcome::of_answer(&answer), audit)
}

pub struct Run {
    pub outcome: Outcome,
    pub calls: Vec<GetResourceRequest>,
    /// The audit annotations of the response (`None`: not an evaluated Pod CREATE).
    pub audit: Option<std::collections::BTreeMap<String, String>>,
}

/// Evaluates `request` with `settings`, answering host calls from `answers` in order
/// (an error once they run out, as an exhausted replay session would).
pub fn evaluate(settings: &Value, request: &Value, answers: &[Answer]) -> Run {
    let payload = serde_json::to_vec(&json!({"settings": settings, "request": request})).unwrap();
    let mut calls = Vec::new();
    let mut read = |req: &GetResourceRequest| {
        calls.push(GetResourceRequest {
            api_version: req.api_version.clone(),
            kind: req.kind.clone(),
            name: req.name.clone(),
            namespace: req.namespace.clone(),
            disable_cache: req.disable_cache,
            field_masks: req.field_masks.clone(),
        });
        match answers.get(calls.len() - 1) {
            Some(Ok(value)) => Ok(serde_json::to_vec(value).unwrap()),
            Some(Err(message)) => Err(format!("Host error: {message}")),
            None => Err("no more answers".to_owned()),
        }
    };
    let (outcome, audit) = decide(&payload, &mut read);
    Run {
        outcome,
        calls,
        audit,
    }
}
