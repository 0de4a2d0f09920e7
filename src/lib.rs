//! aws-pod-identity-policy: a Kubewarden policy that gives Pods AWS credentials
//! the way the EKS pod-identity-webhook does. This file is the waPC glue: it
//! registers the entry points, performs the one host call (reading the
//! ServiceAccount) and writes the one answer. Everything else is pure.

pub mod admission;
pub mod identity;
pub mod inject;
pub mod parse;
pub mod pod;
pub mod scan;
pub mod settings;

use guest::prelude::*;
use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use kubewarden_policy_sdk::{protocol_version_guest, wapc_guest};

use admission::{Decision, Verdict};
use scan::push_quoted;
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
    Ok(answer(&decision))
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

/// The response (the SDK's `ValidationResponse` fields), written by hand
/// around the mutated object's bytes so that the Pod is never parsed into a
/// tree nor serialised again. Warnings are deduplicated (first occurrence
/// kept) and capped at [`MAX_WARNINGS`]; the audit trail is the response's
/// `audit_annotations`.
pub fn answer(decision: &Decision) -> Vec<u8> {
    let (accepted, message, code, object, warnings) = match &decision.verdict {
        Verdict::Accept { warnings } => (true, None, None, None, warnings),
        Verdict::Mutate { object, warnings } => (true, None, None, Some(object), warnings),
        Verdict::Reject {
            code,
            message,
            warnings,
        } => (false, Some(message), Some(code), None, warnings),
    };
    let size = object.map_or(0, |o| o.len()) + 512;
    let mut out = String::with_capacity(size);
    out.push('{');
    if let Some(object) = object {
        out.push_str("\"mutated_object\":");
        out.push_str(object);
        out.push(',');
    }
    out.push_str(match accepted {
        true => "\"accepted\":true",
        false => "\"accepted\":false",
    });
    if let Some(message) = message {
        out.push_str(",\"message\":");
        push_quoted(&mut out, message);
    }
    if let Some(code) = code {
        out.push_str(",\"code\":");
        out.push_str(&code.to_string());
    }
    if let Some(trail) = &decision.trail {
        out.push_str(",\"audit_annotations\":{");
        for (i, (key, value)) in trail.entries().enumerate() {
            out.push_str(if i == 0 { "\"" } else { ",\"" });
            out.push_str(key);
            out.push_str("\":");
            push_quoted(&mut out, &value);
        }
        out.push('}');
    }
    let warnings = unique_warnings(warnings);
    for (i, warning) in warnings.iter().enumerate() {
        out.push_str(if i == 0 { ",\"warnings\":[" } else { "," });
        push_quoted(&mut out, warning);
    }
    if !warnings.is_empty() {
        out.push(']');
    }
    out.push('}');
    out.into_bytes()
}

fn unique_warnings(warnings: &[String]) -> Vec<&str> {
    let mut unique: Vec<&str> = Vec::new();
    for warning in warnings {
        if unique.len() < MAX_WARNINGS && !unique.contains(&warning.as_str()) {
            unique.push(warning);
        }
    }
    unique
}
