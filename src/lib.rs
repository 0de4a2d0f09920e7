//! aws-pod-identity-policy: a Kubewarden policy that gives Pods AWS credentials the way the EKS
//! pod-identity-webhook does. This file is the waPC glue: it registers the entry points and
//! performs the one host call (reading the ServiceAccount). Everything else is pure. The flow of
//! one request, each module using only those listed above it: `scan` (the JSON reader), `parse`
//! (Go's small parsers), `settings`, `pod` (the Pod's skeleton and facts), `request` (the envelope
//! and the ServiceAccount answer), `identity` (which identity, which values), `inject` (the plan of
//! insertions), `answer` (verdict, audit trail, the one response writer), `admission` (the one
//! entry point, `decide`).

pub mod admission;
pub mod answer;
pub mod identity;
pub mod inject;
pub mod parse;
pub mod pod;
pub mod request;
pub mod scan;
pub mod settings;

use guest::prelude::*;
use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use kubewarden_policy_sdk::{protocol_version_guest, wapc_guest};

pub use answer::{MAX_WARNINGS, answer};
use settings::Settings;

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    let decision = admission::decide(payload, &mut read_from_host);
    Ok(answer(&decision))
}

/// Never a guest error: invalid settings are a `valid: false` answer with a message naming the
/// field, which kwctl and policy-server print as is.
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
