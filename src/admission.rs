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

use crate::identity::{self, Mode, ServiceAccountLookup};
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

/// An outcome and, for a Pod CREATE the policy evaluated, the audit trail of
/// how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub trail: Option<Trail>,
}

/// What the audit log should say about one Pod: which identity, from where,
/// what the ServiceAccount read gave, which containers got something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    pub identity: &'static str,
    pub role_arn: Option<String>,
    pub role_source: Option<String>,
    pub service_account: &'static str,
    pub containers: Vec<String>,
    /// Only with identity `none`: `skip-label`, `no-role` or `rejected`.
    pub reason: Option<&'static str>,
}

/// Audit annotation values longer than this are cut, ending with `…`.
pub const MAX_AUDIT_VALUE: usize = 256;

impl Trail {
    fn none(reason: &'static str) -> Trail {
        Trail {
            identity: "none",
            role_arn: None,
            role_source: None,
            service_account: "not-read",
            containers: Vec::new(),
            reason: Some(reason),
        }
    }

    /// The policy refused the Pod: nothing was given to it.
    fn rejected(self) -> Trail {
        Trail {
            service_account: self.service_account,
            ..Trail::none("rejected")
        }
    }

    /// The response's `audit_annotations` (the API server prefixes each key
    /// with the webhook's name).
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let containers = match self.containers.is_empty() {
            true => "none".to_owned(),
            false => self.containers.join(","),
        };
        [
            ("identity", Some(self.identity.to_owned())),
            ("role-arn", self.role_arn.clone()),
            ("role-source", self.role_source.clone()),
            ("serviceaccount", Some(self.service_account.to_owned())),
            ("containers", Some(containers)),
            ("reason", self.reason.map(str::to_owned)),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), capped(value?))))
        .collect()
    }
}

fn capped(value: String) -> String {
    if value.chars().count() <= MAX_AUDIT_VALUE {
        return value;
    }
    let kept: String = value.chars().take(MAX_AUDIT_VALUE - 1).collect();
    kept + "…"
}

/// Evaluates a `validate` payload (`{"settings": …, "request": …}`).
pub fn evaluate(payload: &[u8], read: &mut ReadResource) -> Outcome {
    decide(payload, read).outcome
}

/// [`evaluate`], with the audit trail.
pub fn decide(payload: &[u8], read: &mut ReadResource) -> Decision {
    match serde_json::from_slice::<Payload>(payload) {
        Ok(payload) => decide_request(&payload.settings, payload.request, read),
        Err(error) => Decision {
            outcome: reject(
                format!("cannot parse the validation request: {error}"),
                Vec::new(),
            ),
            trail: None,
        },
    }
}

pub fn evaluate_request(
    settings: &Settings,
    request: KubernetesAdmissionRequest,
    read: &mut ReadResource,
) -> Outcome {
    decide_request(settings, request, read).outcome
}

pub fn decide_request(
    settings: &Settings,
    request: KubernetesAdmissionRequest,
    read: &mut ReadResource,
) -> Decision {
    if !is_pod_creation(&request) {
        return Decision {
            outcome: accept(Vec::new()),
            trail: None,
        };
    }
    let (outcome, trail) = decide_pod(settings, request, read);
    Decision {
        outcome,
        trail: Some(trail),
    }
}

fn decide_pod(
    settings: &Settings,
    request: KubernetesAdmissionRequest,
    read: &mut ReadResource,
) -> (Outcome, Trail) {
    let mut object = request.object;
    if pod::has_skip_label(&object, &settings.annotation_prefix) {
        return (accept(Vec::new()), Trail::none("skip-label"));
    }
    let facts = match pod::read_facts(&object, &request.namespace, &settings.annotation_prefix) {
        Ok(facts) => facts,
        Err(error) => return (reject(error.0, Vec::new()), Trail::none("rejected")),
    };
    let sa = read_service_account(settings, &facts, read);
    let resolution = identity::resolve(settings, &facts, &sa, &request.uid);
    let mut warnings = resolution.warnings;
    let service_account = match sa {
        ServiceAccountLookup::NotRead => "not-read",
        ServiceAccountLookup::Read(_) => "read",
        ServiceAccountLookup::Unreadable(_) => "unreadable",
    };
    let Some(identity) = resolution.identity else {
        let trail = Trail {
            service_account,
            ..Trail::none("no-role")
        };
        return (accept(warnings), trail);
    };
    let mut trail = Trail {
        identity: match identity.mode {
            Mode::WebIdentity => "web-identity",
            Mode::ContainerCredentials => "container-credentials",
        },
        role_arn: (identity.mode == Mode::WebIdentity).then(|| identity.credential.clone()),
        role_source: identity.role_source.clone(),
        service_account,
        containers: Vec::new(),
        reason: None,
    };
    // The allow-list comes before conflicts: a foreign role is a 403 whatever else is wrong.
    if let Some(denied) = resolution.denied {
        let outcome = Outcome::Reject {
            code: 403,
            message: denied,
            warnings,
        };
        return (outcome, trail.rejected());
    }
    let selection = pod::container_selection(&facts, &settings.annotation_prefix);
    let mut report = match inject::apply(&identity, &mut object, &selection) {
        Ok(report) => report,
        Err(error) => return (reject(error.0, warnings), trail.rejected()),
    };
    warnings.append(&mut report.warnings);
    if settings.on_conflict == OnConflict::Reject && !report.conflicts.is_empty() {
        return (
            reject(report.conflicts.join("; "), warnings),
            trail.rejected(),
        );
    }
    warnings.append(&mut report.conflicts);
    trail.containers = report.containers();
    let outcome = match settings.mode {
        PolicyMode::Audit if report.changed() || !report.role_drift.is_empty() => {
            let findings = [report.describe(&identity), report.role_drift].concat();
            reject(
                format!("the Pod lacks its AWS credentials: {}", findings.join("; ")),
                warnings,
            )
        }
        PolicyMode::Mutate if report.changed() => Outcome::Mutate { object, warnings },
        _ => accept(warnings),
    };
    (outcome, trail)
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
