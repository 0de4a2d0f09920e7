//! policy-host: runs a Kubewarden policy module the way `kwctl run` does, for
//! everything aws-pod-identity-policy needs. `main.rs` is the command line;
//! this file is one evaluation: protocol version, settings, then `validate`.

pub mod bench;
pub mod engine;
pub mod replay;
pub mod response;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use engine::{HostCapabilities, Instance, Policy};
use replay::Session;
use response::{AdmissionResponse, ValidationResponse};

/// Everything one evaluation needs.
pub struct Evaluation {
    /// The AdmissionRequest (not the review around it).
    pub request: Value,
    pub settings: Value,
    pub allow_context_aware: bool,
    pub session: Option<Session>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The policy refused its settings (kwctl exits non-zero).
    InvalidSettings(String),
    /// The module cannot be used at all.
    Module(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::InvalidSettings(message) => {
                write!(f, "Provided settings are not valid: {message}")
            }
            RunError::Module(message) => write!(f, "{message}"),
        }
    }
}

/// The AdmissionRequest inside a file that holds either a bare request or a
/// whole AdmissionReview.
pub fn admission_request(document: Value) -> Result<Value, String> {
    match document {
        Value::Object(mut map) if map.get("request").is_some_and(Value::is_object) => {
            Ok(map.remove("request").unwrap_or_default())
        }
        Value::Object(map) => Ok(Value::Object(map)),
        _ => Err(
            "the request must be a JSON object: an AdmissionRequest or an AdmissionReview"
                .to_owned(),
        ),
    }
}

/// Compiles `module` and evaluates once, as `kwctl run` does.
pub fn run(module: &[u8], evaluation: Evaluation) -> Result<AdmissionResponse, RunError> {
    let policy = Policy::compile(module).map_err(RunError::Module)?;
    run_compiled(&policy, evaluation)
}

/// Evaluates once on a new instance of a module compiled before: what `run` does after compiling,
/// so that `policy-host batch` answers each evaluation exactly as `run` would.
pub fn run_compiled(
    policy: &Policy,
    evaluation: Evaluation,
) -> Result<AdmissionResponse, RunError> {
    let capabilities = Arc::new(HostCapabilities {
        allow_context_aware: evaluation.allow_context_aware,
        session: evaluation.session.map(Mutex::new),
    });
    let instance = policy.instantiate(capabilities).map_err(RunError::Module)?;
    check_protocol(&instance)?;
    check_settings(&instance, &evaluation.settings)?;
    Ok(validate(
        &instance,
        &evaluation.request,
        &evaluation.settings,
    ))
}

pub fn check_protocol(instance: &Instance) -> Result<(), RunError> {
    let raw = instance
        .call("protocol_version", b"")
        .map_err(|e| RunError::Module(format!("protocol_version failed: {e}")))?;
    match serde_json::from_slice::<String>(&raw) {
        Ok(version) if version == "v1" => Ok(()),
        _ => Err(RunError::Module(format!(
            "unsupported policy protocol version {}",
            String::from_utf8_lossy(&raw)
        ))),
    }
}

pub fn check_settings(instance: &Instance, settings: &Value) -> Result<(), RunError> {
    let payload =
        serde_json::to_vec(settings).map_err(|e| RunError::InvalidSettings(e.to_string()))?;
    let raw = instance
        .call("validate_settings", &payload)
        .map_err(RunError::InvalidSettings)?;
    let answer: Value = serde_json::from_slice(&raw).map_err(|e| {
        RunError::InvalidSettings(format!("unreadable answer from validate_settings: {e}"))
    })?;
    if answer.get("valid") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    let message = answer
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    Err(RunError::InvalidSettings(message.to_owned()))
}

/// One `validate` call; any failure of the module is a 500 rejection.
pub fn validate(instance: &Instance, request: &Value, settings: &Value) -> AdmissionResponse {
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payload = json!({"settings": settings, "request": request});
    let answer = serde_json::to_vec(&payload)
        .map_err(|e| e.to_string())
        .and_then(|payload| instance.call("validate", &payload))
        .and_then(|raw| {
            serde_json::from_slice::<ValidationResponse>(&raw)
                .map_err(|e| format!("the policy returned an unreadable response: {e}"))
        });
    let original = request.get("object").unwrap_or(&Value::Null);
    match answer {
        Ok(response) => AdmissionResponse::from_validation(uid, original, response),
        Err(error) => {
            // wasmtime's trap messages span several lines (a wasm backtrace); keep one.
            let error = error.split_whitespace().collect::<Vec<_>>().join(" ");
            AdmissionResponse::internal_error(uid, format!("policy evaluation failed: {error}"))
        }
    }
}
