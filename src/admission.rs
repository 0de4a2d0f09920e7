//! One admission request, from the raw payload to a [`Decision`]: reading, the "does this apply"
//! checks, the ServiceAccount read (with the uncached retry), then the pure decision and mutation.
//! The host is reached only through the `read` function passed in, so this whole flow runs natively
//! in tests with a plain closure standing in for the host.

use kubewarden_policy_sdk::host_capabilities::kubernetes::GetResourceRequest;

use crate::answer::reject_verdict;
pub use crate::answer::{Decision, Trail, Verdict};
use crate::identity::{self, Mode, ServiceAccountLookup};
use crate::inject;
use crate::pod::{self, PodFacts};
use crate::request::{Request, read_payload, service_account_annotations};
use crate::scan;
use crate::settings::{OnConflict, PolicyMode, Settings};

/// The host's `kubernetes/get_resource`: the request, then the raw JSON answer or the host's error
/// message.
pub type ReadResource<'a> = dyn FnMut(&GetResourceRequest) -> Result<Vec<u8>, String> + 'a;

const TOO_DEEP: &str = "cannot parse the validation request: recursion limit exceeded";

/// Evaluates a `validate` payload (`{"settings": …, "request": …}`): the one entry point of the
/// glue, the tests, policy-host and the fuzz targets.
pub fn decide(payload: &[u8], read: &mut ReadResource) -> Decision {
    match read_payload(payload) {
        Err(error) => {
            let message = format!("cannot parse the validation request: {error}");
            Decision::of(reject_verdict(message, Vec::new()), None)
        }
        Ok((settings, request)) if is_pod_creation(&request) => {
            decide_pod(&settings, &request, read)
        }
        Ok(_) => Decision::of(accept(Vec::new()), None),
    }
}

fn accept(warnings: Vec<String>) -> Verdict {
    Verdict::Accept { warnings }
}

fn decide_pod(settings: &Settings, request: &Request, read: &mut ReadResource) -> Decision {
    let done = |verdict, trail| Decision::of(verdict, Some(trail));
    let rejected = |message| done(reject_verdict(message, Vec::new()), Trail::none("rejected"));
    let prefix = &settings.annotation_prefix;
    let pod = match request.object.required("object", "a JSON object (a Pod)") {
        Ok(pod) => pod,
        Err(error) => return rejected(error.0),
    };
    // The host parses a mutated object as a tree: an answer it could not read must not be sent.
    let too_deep = pod.depth > scan::MAX_DEPTH;
    if pod::has_skip_label(pod, prefix) {
        return done(accept(Vec::new()), Trail::none("skip-label"));
    }
    let (facts, spec) = match pod::read_facts(pod, &request.namespace, prefix) {
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
        return done(accept(warnings), trail);
    };
    let web_identity = identity.mode == Mode::WebIdentity;
    let mut trail = Trail {
        identity: if web_identity {
            "web-identity"
        } else {
            "container-credentials"
        },
        role_arn: web_identity.then(|| identity.credential.to_string()),
        role_source: identity.role_source.clone(),
        service_account,
        containers: Vec::new(),
        reason: None,
    };
    // The allow-list comes before conflicts: a foreign role is a 403 whatever else is wrong.
    if let Some(message) = resolution.denied {
        let verdict = Verdict::Reject {
            code: 403,
            message,
            warnings,
        };
        return done(verdict, trail.rejected());
    }
    let selection = pod::container_selection(&facts, prefix);
    let (mut report, insertions) = match inject::apply(&identity, pod, spec, &selection) {
        Ok(applied) => applied,
        Err(error) => return done(reject_verdict(error.0, warnings), trail.rejected()),
    };
    warnings.append(&mut report.warnings);
    if settings.on_conflict == OnConflict::Reject && !report.conflicts.is_empty() {
        let verdict = reject_verdict(report.conflicts.join("; "), warnings);
        return done(verdict, trail.rejected());
    }
    warnings.append(&mut report.conflicts);
    trail.containers = std::mem::take(&mut report.containers);
    let changed = !report.added.is_empty();
    let findings = match settings.mode {
        PolicyMode::Audit => [report.added, report.role_drift].concat(),
        PolicyMode::Mutate => Vec::new(),
    };
    if !findings.is_empty() {
        let message = format!("the Pod lacks its AWS credentials: {}", findings.join("; "));
        return done(reject_verdict(message, warnings), trail);
    }
    if settings.mode == PolicyMode::Audit || !changed {
        return done(accept(warnings), trail);
    }
    if too_deep {
        return done(reject_verdict(TOO_DEEP.to_owned(), warnings), trail);
    }
    Decision {
        verdict: Verdict::Mutate {
            object: inject::write(pod.text, &insertions),
            warnings,
        },
        trail: Some(trail),
        insertions,
    }
}

/// Only `CREATE` of a core `v1` Pod, not of one of its subresources.
fn is_pod_creation(request: &Request) -> bool {
    request.kind == "Pod"
        && request.group.is_empty()
        && matches!(request.version.as_ref(), "v1" | "")
        && request.operation == "CREATE"
        && request.sub_resource.is_empty()
}

/// One cached read, then (only if that fails) one live read, because a ServiceAccount created
/// seconds before its Pods may not be in the host's cache yet. These are the exact requests replay
/// sessions record.
fn read_service_account(
    settings: &Settings,
    facts: &PodFacts,
    read: &mut ReadResource,
) -> ServiceAccountLookup {
    if !settings.lookup_service_accounts {
        return ServiceAccountLookup::NotRead;
    }
    let mut read_once = |disable_cache| {
        read(&GetResourceRequest {
            api_version: "v1".to_owned(),
            kind: "ServiceAccount".to_owned(),
            name: facts.service_account.clone(),
            namespace: Some(facts.namespace.clone()),
            disable_cache,
            field_masks: None,
        })
    };
    let cached = settings.cache_service_accounts;
    let answer = read_once(!cached).or_else(|error| match cached {
        true => read_once(true),
        false => Err(error),
    });
    let prefix = &settings.annotation_prefix;
    match answer.and_then(|raw| service_account_annotations(&raw, prefix)) {
        Ok(annotations) => ServiceAccountLookup::Read(annotations),
        Err(error) => {
            // The host's errors carry a prefix and, sometimes, a Go stack.
            let error = error.strip_prefix("Host error: ").unwrap_or(&error);
            let first = error.lines().next().unwrap_or_default().trim();
            ServiceAccountLookup::Unreadable(first.to_owned())
        }
    }
}
