//! One admission request, from the raw payload to a [`Decision`]: reading,
//! the "does this apply" checks, the ServiceAccount read (with the uncached
//! retry), then the pure decision and mutation. The host is reached only
//! through the `read` function passed in, so this whole flow runs natively in
//! tests with a plain closure standing in for the host.

use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;

use crate::answer::reject_verdict;
pub use crate::answer::{Decision, Trail, Verdict};
use crate::identity::{self, Mode, ServiceAccountLookup};
use crate::inject::{self, Insertion};
use crate::pod;
use crate::request::{Request, read_payload, service_account_annotations};
use crate::scan;
use crate::settings::{OnConflict, PolicyMode, Settings};

/// The host's `kubernetes/get_resource`: the request, then the raw JSON answer
/// or the host's error message.
pub type ReadResource<'a> = dyn FnMut(&GetResourceRequest) -> Result<Vec<u8>, String> + 'a;

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

fn first_line(error: &str) -> String {
    let error = error.strip_prefix("Host error: ").unwrap_or(error);
    error.lines().next().unwrap_or_default().trim().to_owned()
}
