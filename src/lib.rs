//! aws-pod-identity-policy: a Kubewarden policy that gives Pods AWS credentials
//! the way the EKS pod-identity-webhook does. This file is the waPC glue: it
//! registers the entry points, performs the one host call (reading the
//! ServiceAccount) and serializes responses. Everything else is pure.

pub mod admission;
pub mod identity;
pub mod inject;
pub mod parse;
pub mod pod;
pub mod settings;

use guest::prelude::*;
use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use kubewarden_policy_sdk::{protocol_version_guest, wapc_guest};

use admission::{Decision, Outcome};
use settings::Settings;

/// A response carries at most this many warnings (`kubectl` prints them all).
pub const MAX_WARNINGS: usize = 10;

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    let decision = admission::decide(payload, &mut read_from_host);
    Ok(serde_json::to_vec(&answer(decision))?)
}

/// Never a guest error: invalid settings are a `valid: false` answer with a
/// message naming the field, which kwctl and policy-server print as is.
fn validate_settings(payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&settings_response(payload))?)
}

pub fn settings_response(payload: &[u8]) -> SettingsValidationResponse {
    let checked = serde_json::from_slice(payload)
        .map_err(|e| format!("settings are not valid JSON: {e}"))
        .and_then(|value| Settings::from_json(&value))
        .and_then(|settings| settings.validate());
    SettingsValidationResponse {
        valid: checked.is_ok(),
        message: checked.err(),
    }
}

fn read_from_host(request: &GetResourceRequest) -> Result<Vec<u8>, String> {
    let message = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    wapc_guest::host_call("kubewarden", "kubernetes", "get_resource", &message)
        .map_err(|e| e.to_string())
}

/// The response to a decision: [`response`] with the audit trail as the
/// response's `audit_annotations`.
pub fn answer(decision: Decision) -> ValidationResponse {
    let mut answer = response(decision.outcome);
    answer.audit_annotations = decision
        .trail
        .map(|trail| trail.annotations().into_iter().collect());
    answer
}

/// Turns an outcome into the SDK's response; warnings are deduplicated (first
/// occurrence kept) and capped at [`MAX_WARNINGS`].
pub fn response(outcome: Outcome) -> ValidationResponse {
    let (accepted, message, code, mutated_object, warnings) = match outcome {
        Outcome::Accept { warnings } => (true, None, None, None, warnings),
        Outcome::Mutate { object, warnings } => (true, None, None, Some(object), warnings),
        Outcome::Reject {
            code,
            message,
            warnings,
        } => (false, Some(message), Some(code), None, warnings),
    };
    let mut unique: Vec<String> = Vec::new();
    for warning in warnings {
        if unique.len() < MAX_WARNINGS && !unique.contains(&warning) {
            unique.push(warning);
        }
    }
    ValidationResponse {
        accepted,
        message,
        code,
        mutated_object,
        audit_annotations: None,
        warnings: (!unique.is_empty()).then_some(unique),
    }
}
