//! One admission request, from the raw payload to an [`Outcome`]: decoding,
//! the "does this apply" checks, the ServiceAccount read (with the uncached
//! retry), then the pure decision and mutation. The host is reached only
//! through the `read` function passed in, so this whole flow runs natively in
//! tests with a plain closure standing in for the host.

use std::collections::BTreeMap;

use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use kubewarden_policy_sdk::request::KubernetesAdmissionRequest;
use serde::Deserialize;
use serde_json::Value;

use crate::identity::{self, ServiceAccountLookup};
use crate::settings::{self, OnConflict, PolicyMode, Settings};
use crate::{inject, pod};

/// What the policy answers.
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

/// The host's `kubernetes/get_resource`: the request, then the raw JSON answer
/// or the host's error message.
pub type ReadResource<'a> = dyn FnMut(&GetResourceRequest) -> Result<Vec<u8>, String> + 'a;

/// The SDK's `ValidationRequest`, except that `settings: null` is the defaults.
#[derive(Deserialize)]
struct Payload {
    #[serde(default, deserialize_with = "settings::nullable")]
    settings: Settings,
    request: KubernetesAdmissionRequest,
}

/// Evaluates a `validate` payload (`{"settings": …, "request": …}`).
pub fn evaluate(payload: &[u8], read: &mut ReadResource) -> Outcome {
    match serde_json::from_slice::<Payload>(payload) {
        Ok(payload) => evaluate_request(&payload.settings, payload.request, read),
        Err(error) => reject(
            format!("cannot parse the validation request: {error}"),
            Vec::new(),
        ),
    }
}

pub fn evaluate_request(
    settings: &Settings,
    request: KubernetesAdmissionRequest,
    read: &mut ReadResource,
) -> Outcome {
    if !is_pod_creation(&request) {
        return accept(Vec::new());
    }
    let mut object = request.object;
    if pod::has_skip_label(&object, &settings.annotation_prefix) {
        return accept(Vec::new());
    }
    let facts = match pod::read_facts(&object, &request.namespace, &settings.annotation_prefix) {
        Ok(facts) => facts,
        Err(error) => return reject(error.0, Vec::new()),
    };
    let sa = read_service_account(settings, &facts, read);
    let resolution = identity::resolve(settings, &facts, &sa, &request.uid);
    let mut warnings = resolution.warnings;
    let Some(identity) = resolution.identity else {
        return accept(warnings);
    };
    // The allow-list comes before conflicts: a foreign role is a 403 whatever else is wrong.
    if let Some(denied) = resolution.denied {
        return Outcome::Reject {
            code: 403,
            message: denied,
            warnings,
        };
    }
    let selection = pod::container_selection(&facts, &settings.annotation_prefix);
    let mut report = match inject::apply(&identity, &mut object, &selection) {
        Ok(report) => report,
        Err(error) => return reject(error.0, warnings),
    };
    warnings.append(&mut report.warnings);
    if settings.on_conflict == OnConflict::Reject && !report.conflicts.is_empty() {
        return reject(report.conflicts.join("; "), warnings);
    }
    warnings.append(&mut report.conflicts);
    match settings.mode {
        PolicyMode::Audit if report.changed() || !report.role_drift.is_empty() => {
            let findings = [report.describe(&identity), report.role_drift].concat();
            reject(
                format!("the Pod lacks its AWS credentials: {}", findings.join("; ")),
                warnings,
            )
        }
        PolicyMode::Mutate if report.changed() => Outcome::Mutate { object, warnings },
        _ => accept(warnings),
    }
}

/// Only `CREATE` of a core `v1` Pod, not of one of its subresources.
fn is_pod_creation(request: &KubernetesAdmissionRequest) -> bool {
    let kind = &request.kind;
    kind.kind == "Pod"
        && kind.group.is_empty()
        && matches!(kind.version.as_str(), "v1" | "")
        && request.operation == "CREATE"
        && request.sub_resource.is_empty()
}

fn accept(warnings: Vec<String>) -> Outcome {
    Outcome::Accept { warnings }
}

fn reject(message: String, warnings: Vec<String>) -> Outcome {
    Outcome::Reject {
        code: 400,
        message,
        warnings,
    }
}

/// The exact request replay sessions record: one cached read, then (only if
/// that fails) one live read, because a ServiceAccount created seconds before
/// its Pods may not be in the host's cache yet.
pub fn service_account_request(facts: &pod::PodFacts, disable_cache: bool) -> GetResourceRequest {
    GetResourceRequest {
        api_version: "v1".to_owned(),
        kind: "ServiceAccount".to_owned(),
        name: facts.service_account.clone(),
        namespace: Some(facts.namespace.clone()),
        disable_cache,
        field_masks: None,
    }
}

fn read_service_account(
    settings: &Settings,
    facts: &pod::PodFacts,
    read: &mut ReadResource,
) -> ServiceAccountLookup {
    if !settings.lookup_service_accounts {
        return ServiceAccountLookup::NotRead;
    }
    let cached = settings.cache_service_accounts;
    let mut answer = read(&service_account_request(facts, !cached));
    if cached && answer.is_err() {
        answer = read(&service_account_request(facts, true));
    }
    match answer.and_then(|raw| service_account_annotations(&raw)) {
        Ok(annotations) => ServiceAccountLookup::Read(annotations),
        Err(error) => ServiceAccountLookup::Unreadable(first_line(&error)),
    }
}

/// Only the annotations of the ServiceAccount matter; read nothing else.
#[derive(Deserialize)]
struct ServiceAccountView {
    kind: Option<String>,
    metadata: Option<MetadataView>,
}

#[derive(Deserialize)]
struct MetadataView {
    annotations: Option<BTreeMap<String, Value>>,
}

pub fn service_account_annotations(raw: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let view: ServiceAccountView = serde_json::from_slice(raw)
        .map_err(|e| format!("the host's answer is not a ServiceAccount ({e})"))?;
    if let Some(kind) = view.kind.filter(|k| k != "ServiceAccount") {
        return Err(format!(
            "the host answered with a {kind}, not a ServiceAccount"
        ));
    }
    let annotations = view
        .metadata
        .and_then(|m| m.annotations)
        .unwrap_or_default();
    Ok(annotations
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::String(s) => Some((key, s)),
            _ => None,
        })
        .collect())
}

fn first_line(error: &str) -> String {
    let error = error.strip_prefix("Host error: ").unwrap_or(error);
    error.lines().next().unwrap_or_default().trim().to_owned()
}
