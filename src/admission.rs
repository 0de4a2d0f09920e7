//! One admission request, from the raw payload to an [`Outcome`]: decoding,
//! the "does this apply" checks, the ServiceAccount read (with the uncached
//! retry), then the pure decision and mutation. The host is reached only
//! through the `read` function passed in, so this whole flow runs natively in
//! tests with a plain closure standing in for the host.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::identity::{self, Mode, ServiceAccountLookup};
use crate::inject::{self, Insertion};
use crate::pod::{self, Annotations, Pod, Slot};
use crate::scan::{self, Invalid, Scanner};
use crate::settings::{OnConflict, PolicyMode, Settings};

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

/// The SDK's `ValidationRequest` as serde reads it (only when the one-pass
/// reader gives up, for serde's exact error): `settings` (`null` is the
/// defaults) and a borrowed view of `request`.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    settings: Option<&'a RawValue>,
    #[serde(borrow)]
    request: RequestView<'a>,
}

/// The fields of the AdmissionRequest the policy reads, and the Pod as
/// [`pod::read_pod`] read it.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub uid: Cow<'a, str>,
    pub group: Cow<'a, str>,
    pub version: Cow<'a, str>,
    pub kind: Cow<'a, str>,
    pub operation: Cow<'a, str>,
    pub namespace: Cow<'a, str>,
    pub sub_resource: Cow<'a, str>,
    pub object: Slot<Pod<'a>>,
}

/// [`Request`]'s fields as serde reads them; the object stays bytes.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RequestView<'a> {
    uid: String,
    kind: KindView,
    operation: String,
    namespace: String,
    #[serde(rename = "subResource", alias = "sub_resource")]
    sub_resource: String,
    #[serde(borrow)]
    object: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KindView {
    group: String,
    version: String,
    kind: String,
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
        self.entries()
            .map(|(key, value)| (key.to_owned(), value.into_owned()))
            .collect()
    }

    /// The annotations, in a fixed order, values capped.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, Cow<'_, str>)> {
        let containers = match self.containers.is_empty() {
            true => Cow::Borrowed("none"),
            false => Cow::Owned(self.containers.join(",")),
        };
        [
            ("identity", Some(Cow::Borrowed(self.identity))),
            ("role-arn", self.role_arn.as_deref().map(Cow::Borrowed)),
            (
                "role-source",
                self.role_source.as_deref().map(Cow::Borrowed),
            ),
            ("serviceaccount", Some(Cow::Borrowed(self.service_account))),
            ("containers", Some(containers)),
            ("reason", self.reason.map(Cow::Borrowed)),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, capped(value?))))
    }
}

fn capped(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.len() <= MAX_AUDIT_VALUE || value.chars().count() <= MAX_AUDIT_VALUE {
        return value;
    }
    let kept: String = value.chars().take(MAX_AUDIT_VALUE - 1).collect();
    Cow::Owned(kept + "…")
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
    match read_payload(payload) {
        Some((settings, request)) => decide_request(&settings, &request, read),
        // The one-pass reader gave up: serde says why, or reads what it could not.
        None => decide_serde(payload, read),
    }
}

/// [`decide_raw`] with serde reading the envelope (`settings` and the
/// request's fields; the object is still read in one pass): what it falls
/// back to, and what the tests hold the one-pass reader to.
pub fn decide_serde(payload: &[u8], read: &mut ReadResource) -> RawDecision {
    let payload = match serde_json::from_slice::<Payload>(payload) {
        Ok(payload) => payload,
        Err(error) => return cannot_parse(error.to_string()),
    };
    let Some(settings) = settings_of(payload.settings.map(RawValue::get)) else {
        let raw = payload.settings.map_or("null", RawValue::get);
        let error = serde_json::from_str(raw)
            .map_err(|e| e.to_string())
            .and_then(|value| Settings::from_json(&value));
        return cannot_parse(error.err().unwrap_or_default());
    };
    let request = payload.request;
    let object = match request.object {
        Some(object) => match pod::read_pod(&mut Scanner::new(object.get())) {
            Ok(object) => object,
            Err(Invalid) => return cannot_parse("the object is not JSON".to_owned()),
        },
        None => Slot::Null(0),
    };
    let request = Request {
        uid: request.uid.into(),
        group: request.kind.group.into(),
        version: request.kind.version.into(),
        kind: request.kind.kind.into(),
        operation: request.operation.into(),
        namespace: request.namespace.into(),
        sub_resource: request.sub_resource.into(),
        object,
    };
    decide_request(&settings, &request, read)
}

fn cannot_parse(error: String) -> RawDecision {
    RawDecision {
        verdict: reject_verdict(
            format!("cannot parse the validation request: {error}"),
            Vec::new(),
        ),
        trail: None,
        insertions: Vec::new(),
    }
}

/// The payload in one pass, or `None` where serde must have its say: not
/// UTF-8 or not JSON, a field of the wrong type, a duplicate field serde
/// refuses, settings that do not read.
fn read_payload(payload: &[u8]) -> Option<(Rc<Settings>, Request<'_>)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut s = Scanner::new(text);
    let mut settings = None;
    let mut request = None;
    s.object(|s, key| match key.as_deref() {
        Some("settings") => once(&mut settings, s.raw()?),
        Some("request") => once(&mut request, read_request(s)?),
        _ => s.skip().map(drop),
    })
    .ok()?;
    s.end().ok()?;
    Some((settings_of(settings)?, request?))
}

/// A field serde reads once: a second one is serde's "duplicate field" error.
fn once<T>(slot: &mut Option<T>, value: T) -> scan::Read<()> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(Invalid),
    }
}

/// Marks `field` as read: a second one is serde's "duplicate field" error.
fn first_time(seen: &mut u16, field: u16) -> scan::Read<()> {
    if *seen & field != 0 {
        return Err(Invalid);
    }
    *seen |= field;
    Ok(())
}

/// A string field of the request: serde accepts nothing else for it.
fn string_field<'a>(
    s: &mut Scanner<'a>,
    seen: &mut u16,
    field: u16,
    slot: &mut Cow<'a, str>,
) -> scan::Read<()> {
    first_time(seen, field)?;
    match s.peek()? {
        b'"' => *slot = s.string()?.ok_or(Invalid)?,
        _ => return Err(Invalid),
    }
    Ok(())
}

fn read_request<'a>(s: &mut Scanner<'a>) -> scan::Read<Request<'a>> {
    // serde reads an absent object as `None`, as it reads `null`.
    let mut request = Request {
        object: Slot::Null(0),
        ..Request::default()
    };
    let mut seen = 0;
    s.object(|s, key| match key.as_deref() {
        Some("uid") => string_field(s, &mut seen, 1, &mut request.uid),
        Some("operation") => string_field(s, &mut seen, 2, &mut request.operation),
        Some("namespace") => string_field(s, &mut seen, 4, &mut request.namespace),
        Some("subResource" | "sub_resource") => {
            string_field(s, &mut seen, 8, &mut request.sub_resource)
        }
        Some("object") => {
            first_time(&mut seen, 16)?;
            request.object = pod::read_pod(s)?;
            Ok(())
        }
        Some("kind") => {
            first_time(&mut seen, 32)?;
            s.object(|s, key| match key.as_deref() {
                Some("group") => string_field(s, &mut seen, 64, &mut request.group),
                Some("version") => string_field(s, &mut seen, 128, &mut request.version),
                Some("kind") => string_field(s, &mut seen, 256, &mut request.kind),
                _ => s.skip().map(drop),
            })
            .map(drop)
        }
        _ => s.skip().map(drop),
    })?;
    Ok(request)
}

/// The settings of the request, read as serde reads them. Every request
/// carries them, mostly the same bytes each time: the last ones are kept.
fn settings_of(raw: Option<&str>) -> Option<Rc<Settings>> {
    thread_local! {
        static LAST: RefCell<Option<(String, Rc<Settings>)>> = const { RefCell::new(None) };
    }
    let raw = raw.unwrap_or("null");
    let known = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(text, _)| text == raw)
            .map(|(_, settings)| settings.clone())
    });
    if known.is_some() {
        return known;
    }
    let value = serde_json::from_str(raw).ok()?;
    let settings = Rc::new(Settings::from_json(&value).ok()?);
    LAST.set(Some((raw.to_owned(), settings.clone())));
    Some(settings)
}

pub fn decide_request(
    settings: &Settings,
    request: &Request,
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
    request: &Request,
    read: &mut ReadResource,
) -> (Verdict, Trail, Vec<Insertion>) {
    const TOO_DEEP: &str = "cannot parse the validation request: recursion limit exceeded";
    let rejected = |message: String| {
        (
            reject_verdict(message, Vec::new()),
            Trail::none("rejected"),
            Vec::new(),
        )
    };
    let pod = match pod::pod_object(&request.object) {
        Ok(pod) => pod,
        Err(error) => return rejected(error.0),
    };
    // The host parses a mutated object as a tree: an answer it could not read must not be sent.
    let too_deep = pod.depth > scan::MAX_DEPTH;
    if pod::has_skip_label(pod, &settings.annotation_prefix) {
        let accept = Verdict::Accept {
            warnings: Vec::new(),
        };
        return (accept, Trail::none("skip-label"), Vec::new());
    }
    let (facts, spec) = match pod::read_facts(pod, &request.namespace, &settings.annotation_prefix)
    {
        Ok(read) => read,
        Err(_) if too_deep => return rejected(TOO_DEEP.to_owned()),
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
        role_arn: (identity.mode == Mode::WebIdentity).then(|| identity.credential.to_string()),
        role_source: identity.role_source.as_deref().map(str::to_owned),
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
    let (mut report, insertions) = match inject::apply(&identity, pod, spec, &selection) {
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
        PolicyMode::Mutate if report.changed() && too_deep => {
            reject_verdict(TOO_DEEP.to_owned(), warnings)
        }
        PolicyMode::Mutate if report.changed() => Verdict::Mutate {
            object: inject::write(pod.text, &insertions),
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
fn is_pod_creation(request: &Request) -> bool {
    request.kind == "Pod"
        && request.group.is_empty()
        && matches!(request.version.as_ref(), "v1" | "")
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
    let prefix = &settings.annotation_prefix;
    match answer.and_then(|raw| service_account_annotations(&raw, prefix)) {
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

/// The ServiceAccount's annotations under `prefix`, read in one pass; serde
/// reads the answers that pass gives up on, and says what is wrong with them.
pub fn service_account_annotations(raw: &[u8], prefix: &str) -> Result<Annotations, String> {
    if let Some(read) = read_service_account_fast(raw, prefix) {
        return read;
    }
    let view: ServiceAccountView = serde_json::from_slice(raw)
        .map_err(|e| format!("the host's answer is not a ServiceAccount ({e})"))?;
    if let Some(kind) = view.kind.filter(|k| k != "ServiceAccount") {
        return Err(not_a_service_account(&kind));
    }
    let mut annotations = Annotations::default();
    let all = view.metadata.and_then(|m| m.annotations);
    for (key, value) in all.iter().flatten() {
        annotations.keep(prefix, key, value.as_str());
    }
    Ok(annotations)
}

fn not_a_service_account(kind: &str) -> String {
    format!("the host answered with a {kind}, not a ServiceAccount")
}

/// `None` wherever serde could read the answer differently or fail on it.
fn read_service_account_fast(raw: &[u8], prefix: &str) -> Option<Result<Annotations, String>> {
    let mut s = Scanner::new(std::str::from_utf8(raw).ok()?);
    let (mut kind, mut metadata) = (None, None);
    let mut annotations = Annotations::default();
    let mut read_annotations = |s: &mut Scanner| {
        s.object(|s, key| {
            let value = s.text_value()?;
            annotations.keep(prefix, &key.ok_or(Invalid)?, value.as_deref());
            Ok(())
        })
        .map(drop)
    };
    s.object(|s, key| match key.as_deref() {
        Some("kind") => match s.peek()? {
            b'"' => once(&mut kind, s.string()?.ok_or(Invalid)?),
            b'n' => once(&mut kind, Cow::Borrowed("ServiceAccount")).and(s.skip().map(drop)),
            _ => Err(Invalid),
        },
        Some("metadata") => {
            once(&mut metadata, ())?;
            if s.peek()? == b'n' {
                return s.skip().map(drop);
            }
            let mut seen = None;
            s.object(|s, key| match key.as_deref() {
                Some("annotations") => {
                    once(&mut seen, ())?;
                    match s.peek()? {
                        b'n' => s.skip().map(drop),
                        _ => read_annotations(s),
                    }
                }
                _ => s.skip().map(drop),
            })
            .map(drop)
        }
        _ => s.skip().map(drop),
    })
    .ok()?;
    // serde builds the annotations' values as trees, with its nesting limit.
    if s.end().is_err() || s.deepest() > scan::MAX_DEPTH {
        return None;
    }
    Some(match kind.filter(|kind| kind != "ServiceAccount") {
        Some(kind) => Err(not_a_service_account(&kind)),
        None => Ok(annotations),
    })
}

fn first_line(error: &str) -> String {
    let error = error.strip_prefix("Host error: ").unwrap_or(error);
    error.lines().next().unwrap_or_default().trim().to_owned()
}
