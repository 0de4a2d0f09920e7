//! The AdmissionResponse kwctl prints: built from the guest's validation
//! response, with the mutation turned into a base64 RFC 6902 JSON patch.

use std::collections::HashMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the guest's `validate` returns (kubewarden-policy-sdk's `ValidationResponse`).
#[derive(Debug, Clone, Deserialize)]
pub struct ValidationResponse {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    pub mutated_object: Option<Value>,
    pub audit_annotations: Option<HashMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<HashMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

impl AdmissionResponse {
    /// A failure of the module itself (trap, deadline, garbage output).
    pub fn internal_error(uid: &str, message: String) -> Self {
        AdmissionResponse {
            uid: uid.to_owned(),
            allowed: false,
            patch_type: None,
            patch: None,
            status: Some(Status {
                message: Some(message),
                code: Some(500),
            }),
            audit_annotations: None,
            warnings: None,
        }
    }

    pub fn from_validation(uid: &str, original: &Value, response: ValidationResponse) -> Self {
        let patch = response
            .mutated_object
            .filter(|_| response.accepted)
            .map(|mutated| json_patch::diff(original, &mutated))
            .filter(|patch| !patch.0.is_empty())
            .and_then(|patch| serde_json::to_vec(&patch).ok())
            .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes));
        let status = (response.message.is_some() || response.code.is_some()).then_some(Status {
            message: response.message,
            code: response.code,
        });
        AdmissionResponse {
            uid: uid.to_owned(),
            allowed: response.accepted,
            patch_type: patch.as_ref().map(|_| "JSONPatch".to_owned()),
            patch,
            status,
            audit_annotations: response.audit_annotations,
            warnings: response.warnings.filter(|w| !w.is_empty()),
        }
    }

    /// The decoded patch, for display and tests.
    pub fn decoded_patch(&self) -> Result<Option<json_patch::Patch>, String> {
        let Some(patch) = &self.patch else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
