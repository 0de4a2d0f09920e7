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

use crate::identity::{self, Mode, ServiceAccountLookup};
use crate::inject::{self, Insertion};
use crate::pod::{self, Annotations, Pod, Slot};
use crate::scan::{self, Scanner};
use crate::settings::{OnConflict, PolicyMode, Settings};

/// The host's `kubernetes/get_resource`: the request, then the raw JSON answer
/// or the host's error message.
pub type ReadResource<'a> = dyn FnMut(&GetResourceRequest) -> Result<Vec<u8>, String> + 'a;

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

/// A verdict, its audit trail (for a Pod CREATE the policy evaluated), and
/// the insertions a mutation made into the object's bytes (relative to its
/// first byte).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub trail: Option<Trail>,
    pub insertions: Vec<Insertion>,
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

/// Evaluates a `validate` payload (`{"settings": …, "request": …}`): the one
/// entry point of the glue, the tests, policy-host and the fuzz targets.
pub fn decide(payload: &[u8], read: &mut ReadResource) -> Decision {
    match read_payload(payload) {
        Ok((settings, request)) => decide_request(&settings, &request, read),
        Err(error) => Decision {
            verdict: reject_verdict(
                format!("cannot parse the validation request: {error}"),
                Vec::new(),
            ),
            trail: None,
            insertions: Vec::new(),
        },
    }
}

/// The payload in one pass, or what is wrong with it: not UTF-8, not JSON
/// (where, and what was expected), a field of the wrong type or twice, or
/// settings that do not read.
fn read_payload(payload: &[u8]) -> Result<(Rc<Settings>, Request<'_>), String> {
    let text = std::str::from_utf8(payload)
        .map_err(|e| format!("not UTF-8 from byte {}", e.valid_up_to()))?;
    let mut s = Scanner::new(text);
    let mut settings = None;
    let mut request = None;
    let read = s.object(|s, key| match key.as_deref() {
        Some("settings") => once(s, &mut settings, |s| s.raw()),
        Some("request") => once(s, &mut request, read_request),
        _ => s.skip().map(drop),
    });
    read.and_then(|_| s.end()).map_err(|e| e.to_string())?;
    let request = request.ok_or("the request is missing")?;
    Ok((settings_of(settings)?, request))
}

/// A field read once: a second one is an error, as serde's "duplicate field".
fn once<'a, T>(
    s: &mut Scanner<'a>,
    slot: &mut Option<T>,
    read: impl FnOnce(&mut Scanner<'a>) -> scan::Read<T>,
) -> scan::Read<()> {
    if slot.is_some() {
        return s.fail("no duplicate field");
    }
    *slot = Some(read(s)?);
    Ok(())
}

/// Marks `field` as read: a second one is serde's "duplicate field" error.
fn first_time(s: &Scanner, seen: &mut u16, field: u16) -> scan::Read<()> {
    if *seen & field != 0 {
        return s.fail("no duplicate field");
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
    first_time(s, seen, field)?;
    if s.peek()? != b'"' {
        return s.fail("a string");
    }
    match s.string()? {
        Some(text) => *slot = text,
        None => return s.fail("a string with valid escapes"),
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
            first_time(s, &mut seen, 16)?;
            request.object = pod::read_pod(s)?;
            Ok(())
        }
        Some("kind") => {
            first_time(s, &mut seen, 32)?;
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

/// The settings of the request, read as `validate_settings` reads them. Every
/// request carries them, mostly the same bytes each time: the last ones are kept.
fn settings_of(raw: Option<&str>) -> Result<Rc<Settings>, String> {
    thread_local! {
        static LAST: RefCell<Option<(String, Rc<Settings>)>> = const { RefCell::new(None) };
    }
    let raw = raw.unwrap_or("null");
    let known = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(text, _)| text == raw)
            .map(|(_, settings)| settings.clone())
    });
    if let Some(settings) = known {
        return Ok(settings);
    }
    let value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    let settings = Rc::new(Settings::from_json(&value)?);
    LAST.set(Some((raw.to_owned(), settings.clone())));
    Ok(settings)
}

fn decide_request(settings: &Settings, request: &Request, read: &mut ReadResource) -> Decision {
    if !is_pod_creation(request) {
        return Decision {
            verdict: Verdict::Accept {
                warnings: Vec::new(),
            },
            trail: None,
            insertions: Vec::new(),
        };
    }
    let (verdict, trail, insertions) = decide_pod(settings, request, read);
    Decision {
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

/// The ServiceAccount's annotations under `prefix`, read in one pass; only
/// they matter, nothing else is read.
pub fn service_account_annotations(raw: &[u8], prefix: &str) -> Result<Annotations, String> {
    let not_one = |e: String| format!("the host's answer is not a ServiceAccount ({e})");
    let text = std::str::from_utf8(raw).map_err(|e| not_one(e.to_string()))?;
    let mut s = Scanner::new(text);
    let mut kind = None;
    let mut metadata = None;
    let mut annotations = Annotations::default();
    let read = s.object(|s, key| match key.as_deref() {
        Some("kind") => once(s, &mut kind, |s| s.text_value()),
        Some("metadata") => once(s, &mut metadata, |s| {
            read_annotations(s, &mut |key, value| annotations.keep(prefix, key, value))
        }),
        _ => s.skip().map(drop),
    });
    read.and_then(|_| s.end())
        .map_err(|e| not_one(e.to_string()))?;
    match kind.flatten().filter(|kind| kind != "ServiceAccount") {
        Some(kind) => Err(format!(
            "the host answered with a {kind}, not a ServiceAccount"
        )),
        None => Ok(annotations),
    }
}

/// `metadata.annotations` of an object (`null` or absent: none), each
/// string-or-not value handed to `keep`.
fn read_annotations(s: &mut Scanner, keep: &mut dyn FnMut(&str, Option<&str>)) -> scan::Read<()> {
    if s.peek()? == b'n' {
        return s.skip().map(drop);
    }
    let mut seen = None;
    s.object(|s, key| match key.as_deref() {
        Some("annotations") if s.peek()? == b'n' => once(s, &mut seen, |s| s.skip().map(drop)),
        Some("annotations") => once(s, &mut seen, |s| {
            s.object(|s, key| {
                let value = s.text_value()?;
                let Some(key) = key else {
                    return s.fail("a key with valid escapes");
                };
                keep(&key, value.as_deref());
                Ok(())
            })
            .map(drop)
        }),
        _ => s.skip().map(drop),
    })
    .map(drop)
}

fn first_line(error: &str) -> String {
    let error = error.strip_prefix("Host error: ").unwrap_or(error);
    error.lines().next().unwrap_or_default().trim().to_owned()
}
