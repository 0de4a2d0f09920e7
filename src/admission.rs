//! One admission request, from the raw payload to an [`Outcome`]: decoding,
//! the "does this apply" checks, the ServiceAccount read (with the uncached
//! retry), then the pure decision and mutation. The host is reached only
//! through the `read` function passed in, so this whole flow runs natively in
//! tests with a plain closure standing in for the host.

use std::collections::BTreeMap;

use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::identity::{self, Mode, ServiceAccountLookup};
use crate::inject::{self, Insertion};
use crate::settings::{self, OnConflict, PolicyMode, Settings};
use crate::{pod, view};

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

/// The SDK's `ValidationRequest`, read without building the object: `settings`
/// (`null` is the defaults) and a borrowed view of `request`.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(default, deserialize_with = "settings::nullable")]
    settings: Settings,
    #[serde(borrow)]
    request: RequestView<'a>,
}

/// The fields of the AdmissionRequest the policy reads; the object stays bytes.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RequestView<'a> {
    pub uid: String,
    pub kind: KindView,
    pub operation: String,
    pub namespace: String,
    #[serde(rename = "subResource", alias = "sub_resource")]
    pub sub_resource: String,
    #[serde(borrow)]
    pub object: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct KindView {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// What the policy answers, with a mutation as the object's new bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept {
        warnings: Vec<String>,
    },
    Mutate {
        object: String,
        warnings: Vec<String>,
    },
    Reject {
        code: u16,
        message: String,
        warnings: Vec<String>,
    },
}

/// A verdict, its audit trail, and the insertions a mutation made into the
/// object's bytes (relative to its first byte).
#[derive(Debug, Clone, PartialEq)]
pub struct RawDecision {
    pub verdict: Verdict,
    pub trail: Option<Trail>,
    pub insertions: Vec<Insertion>,
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

/// [`evaluate`], with the audit trail; a mutation is given as the whole Pod.
pub fn decide(payload: &[u8], read: &mut ReadResource) -> Decision {
    let raw = decide_raw(payload, read);
    let outcome = match raw.verdict {
        Verdict::Accept { warnings } => Outcome::Accept { warnings },
        Verdict::Reject {
            code,
            message,
            warnings,
        } => Outcome::Reject {
            code,
            message,
            warnings,
        },
        Verdict::Mutate { object, warnings } => match serde_json::from_str(&object) {
            Ok(object) => Outcome::Mutate { object, warnings },
            Err(error) => reject(format!("the mutated Pod is not JSON: {error}"), warnings),
        },
    };
    Decision {
        outcome,
        trail: raw.trail,
    }
}

/// [`decide`], with the mutation as bytes: what the policy's glue sends.
pub fn decide_raw(payload: &[u8], read: &mut ReadResource) -> RawDecision {
    match serde_json::from_slice::<Payload>(payload) {
        Ok(payload) => decide_request(&payload.settings, &payload.request, read),
        Err(error) => RawDecision {
            verdict: reject_verdict(
                format!("cannot parse the validation request: {error}"),
                Vec::new(),
            ),
            trail: None,
            insertions: Vec::new(),
        },
    }
}

pub fn decide_request(
    settings: &Settings,
    request: &RequestView,
    read: &mut ReadResource,
) -> RawDecision {
    if !is_pod_creation(request) {
        return RawDecision {
            verdict: Verdict::Accept {
                warnings: Vec::new(),
            },
            trail: None,
            insertions: Vec::new(),
        };
    }
    let (verdict, trail, insertions) = decide_pod(settings, request, read);
    RawDecision {
        verdict,
        trail: Some(trail),
        insertions,
    }
}

fn decide_pod(
    settings: &Settings,
    request: &RequestView,
    read: &mut ReadResource,
) -> (Verdict, Trail, Vec<Insertion>) {
    let too_deep = |object: &RawValue| view::nests_deeper_than(object.get(), view::MAX_DEPTH);
    const TOO_DEEP: &str = "cannot parse the validation request: recursion limit exceeded";
    let rejected = |message: String| {
        (
            reject_verdict(message, Vec::new()),
            Trail::none("rejected"),
            Vec::new(),
        )
    };
    let Some(object) = request.object else {
        return rejected("object must be a JSON object (a Pod), got null".to_owned());
    };
    let pod = match pod::pod_entries(object) {
        Ok(pod) => pod,
        Err(error) => return rejected(error.0),
    };
    if pod::has_skip_label(&pod, &settings.annotation_prefix) {
        let accept = Verdict::Accept {
            warnings: Vec::new(),
        };
        return (accept, Trail::none("skip-label"), Vec::new());
    }
    let (facts, spec) = match pod::read_facts(&pod, &request.namespace, &settings.annotation_prefix)
    {
        Ok(read) => read,
        Err(_) if too_deep(object) => return rejected(TOO_DEEP.to_owned()),
        Err(error) => return rejected(error.0),
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
        return (Verdict::Accept { warnings }, trail, Vec::new());
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
        let verdict = Verdict::Reject {
            code: 403,
            message: denied,
            warnings,
        };
        return (verdict, trail.rejected(), Vec::new());
    }
    let selection = pod::container_selection(&facts, &settings.annotation_prefix);
    let (mut report, insertions) = match inject::apply(&identity, object, &pod, &spec, &selection) {
        Ok(applied) => applied,
        Err(error) => {
            return (
                reject_verdict(error.0, warnings),
                trail.rejected(),
                Vec::new(),
            );
        }
    };
    warnings.append(&mut report.warnings);
    if settings.on_conflict == OnConflict::Reject && !report.conflicts.is_empty() {
        let verdict = reject_verdict(report.conflicts.join("; "), warnings);
        return (verdict, trail.rejected(), Vec::new());
    }
    warnings.append(&mut report.conflicts);
    trail.containers = report.containers();
    let verdict = match settings.mode {
        PolicyMode::Audit if report.changed() || !report.role_drift.is_empty() => {
            let findings = [report.describe(&identity), report.role_drift].concat();
            reject_verdict(
                format!("the Pod lacks its AWS credentials: {}", findings.join("; ")),
                warnings,
            )
        }
        PolicyMode::Mutate if report.changed() && too_deep(object) => {
            reject_verdict(TOO_DEEP.to_owned(), warnings)
        }
        PolicyMode::Mutate if report.changed() => Verdict::Mutate {
            object: inject::write(object.get(), &insertions),
            warnings,
        },
        _ => Verdict::Accept { warnings },
    };
    let insertions = match verdict {
        Verdict::Mutate { .. } => insertions,
        _ => Vec::new(),
    };
    (verdict, trail, insertions)
}

/// Only `CREATE` of a core `v1` Pod, not of one of its subresources.
fn is_pod_creation(request: &RequestView) -> bool {
    let kind = &request.kind;
    kind.kind == "Pod"
        && kind.group.is_empty()
        && matches!(kind.version.as_str(), "v1" | "")
        && request.operation == "CREATE"
        && request.sub_resource.is_empty()
}

fn reject(message: String, warnings: Vec<String>) -> Outcome {
    Outcome::Reject {
        code: 400,
        message,
        warnings,
    }
}

fn reject_verdict(message: String, warnings: Vec<String>) -> Verdict {
    Verdict::Reject {
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
