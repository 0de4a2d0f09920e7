//! The peer: a mutating policy written the way most Kubewarden mutating
//! policies are. The SDK decodes the validation request, the object becomes a
//! typed `k8s_openapi` Pod, every container gets one env var, and
//! `mutate_request` serializes the typed Pod back. `make bench` reports
//! aws-pod-identity-policy's cost as a ratio to this module's too.

use guest::prelude::*;
use k8s_openapi::api::core::v1::{EnvVar, Pod};
use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::wapc_guest as guest;
use kubewarden_policy_sdk::{mutate_request, protocol_version_guest, reject_request};
use serde::Deserialize;

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

#[derive(Debug, Default, Deserialize)]
struct Settings {}

fn validate(payload: &[u8]) -> CallResult {
    let validation = ValidationRequest::<Settings>::new(payload)?;
    let mut pod = match serde_json::from_value::<Pod>(validation.request.object) {
        Ok(pod) => pod,
        Err(error) => return reject_request(Some(error.to_string()), Some(400), None, None),
    };
    if let Some(spec) = pod.spec.as_mut() {
        for container in &mut spec.containers {
            container.env.get_or_insert_with(Vec::new).push(EnvVar {
                name: "TYPED_POLICY".to_owned(),
                value: Some("true".to_owned()),
                value_from: None,
            });
        }
    }
    mutate_request(serde_json::to_value(&pod)?)
}

fn validate_settings(_payload: &[u8]) -> CallResult {
    Ok(br#"{"valid":true}"#.to_vec())
}
