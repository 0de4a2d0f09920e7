//! The floor: what any mutating Kubewarden policy that reads the Pod's
//! ServiceAccount must do, and nothing more — parse the validation request,
//! make the same `get_resource` call, parse the answer, and hand the object
//! back unchanged as `mutated_object`. `make bench` reports
//! aws-pod-identity-policy's cost as a ratio to this module's.

use guest::prelude::*;
use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::wapc_guest as guest;
use kubewarden_policy_sdk::{mutate_request, protocol_version_guest, reject_request};
use serde_json::Value;

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    let Ok(validation) = serde_json::from_slice::<ValidationRequest<Value>>(payload) else {
        return reject_request(
            Some("cannot parse the request".to_owned()),
            Some(400),
            None,
            None,
        );
    };
    let request = validation.request;
    let name = request.object["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default");
    let lookup = GetResourceRequest {
        api_version: "v1".to_owned(),
        kind: "ServiceAccount".to_owned(),
        name: name.to_owned(),
        namespace: Some(request.namespace.clone()),
        disable_cache: false,
        field_masks: None,
    };
    let message = serde_json::to_vec(&lookup)?;
    if let Ok(answer) = guest::host_call("kubewarden", "kubernetes", "get_resource", &message) {
        let _service_account: Value = serde_json::from_slice(&answer).unwrap_or_default();
    }
    mutate_request(request.object)
}

fn validate_settings(_payload: &[u8]) -> CallResult {
    Ok(br#"{"valid":true}"#.to_vec())
}
