//! A thin view over the Pod's bytes: the shape checks (each error names the
//! offending field) and the facts the decision needs, read once, without
//! building the Pod.

use serde_json::{Map, Value};

use crate::inject::Selection;
use crate::parse;
use crate::view::{self, Entries, Raw};

/// A Pod the policy cannot work on; rejected with code 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl ShapeError {
    pub fn expected(field: &str, what: &str, got: Raw) -> Self {
        ShapeError(format!("{field} must be {what}, got {}", view::kind(got)))
    }
}

/// What the decision needs to know about a Pod, owned so the views can go.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodFacts {
    pub namespace: String,
    pub service_account: String,
    /// The `<prefix>/…` entries of `metadata.annotations`.
    pub annotations: Map<String, Value>,
    pub is_windows: bool,
}

impl PodFacts {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).and_then(Value::as_str)
    }
}

/// The Pod's top-level entries, or the 400 for an object that is not one.
pub fn pod_entries(object: Raw<'_>) -> Result<Entries<'_>, ShapeError> {
    Entries::of(object)
        .ok_or_else(|| ShapeError::expected("object", "a JSON object (a Pod)", object))
}

/// The label that opts a Pod out, whatever its value; checked before anything else.
pub fn has_skip_label(pod: &Entries, prefix: &str) -> bool {
    let key = format!("{prefix}/skip-pod-identity-webhook");
    pod.get("metadata")
        .and_then(Entries::of)
        .and_then(|metadata| metadata.get("labels"))
        .and_then(Entries::of)
        .is_some_and(|labels| labels.get(&key).is_some())
}

/// Checks the Pod-level shape and reads the facts (and the spec, read once for
/// the mutation too). The lists are checked later,
/// and only when an identity applies (see [`list_at`]).
pub fn read_facts<'a>(
    pod: &Entries<'a>,
    request_namespace: &str,
    prefix: &str,
) -> Result<(PodFacts, Entries<'a>), ShapeError> {
    // The request says Pod; an object that says otherwise is not one to mutate.
    match pod.get("kind") {
        None => {}
        Some(kind) if view::is_null(kind) => {}
        Some(kind) => match view::text(kind) {
            Some(kind) if kind == "Pod" => {}
            Some(kind) => return Err(ShapeError(format!("kind is {kind:?}, not \"Pod\""))),
            None => return Err(ShapeError::expected("kind", "\"Pod\"", kind)),
        },
    }
    let metadata = optional_map(pod.get("metadata"), "metadata")?;
    let spec = match pod.get("spec") {
        Some(spec) => {
            Entries::of(spec).ok_or_else(|| ShapeError::expected("spec", "an object", spec))?
        }
        None => return Err(ShapeError("spec is missing".to_owned())),
    };
    let field = |key: &str| metadata.as_ref().and_then(|m| m.get(key));
    optional_map(field("labels"), "metadata.labels")?;
    let annotations = optional_map(field("annotations"), "metadata.annotations")?;
    let node_selector = optional_map(spec.get("nodeSelector"), "spec.nodeSelector")?;

    let namespace = match request_namespace {
        "" => field("namespace")
            .and_then(view::text)
            .unwrap_or_default()
            .into_owned(),
        ns => ns.to_owned(),
    };
    let service_account = ["serviceAccountName", "serviceAccount"]
        .into_iter()
        .filter_map(|key| spec.text(key))
        .find(|name| !name.is_empty())
        .map_or_else(|| "default".to_owned(), |name| name.into_owned());
    let facts = PodFacts {
        namespace,
        service_account,
        annotations: ours(annotations.as_ref(), prefix),
        is_windows: is_windows(node_selector.as_ref(), &spec),
    };
    Ok((facts, spec))
}

/// Only the annotations under `<prefix>/`: the rest is never read, so never copied.
fn ours(annotations: Option<&Entries>, prefix: &str) -> Map<String, Value> {
    let is_ours = |key: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    let mut found = Map::new();
    for (key, value) in annotations.into_iter().flat_map(|a| a.list.iter()) {
        if is_ours(key) {
            let value = view::text(value).map_or(Value::Null, |t| Value::String(t.into_owned()));
            found.insert(key.to_string(), value);
        }
    }
    found
}

/// The EKS webhook looks at both node-selector keys; we also honour `spec.os.name`.
fn is_windows(node_selector: Option<&Entries>, spec: &Entries) -> bool {
    let selects_windows = |key: &str| {
        node_selector
            .and_then(|m| m.text(key))
            .is_some_and(|os| os == "windows")
    };
    selects_windows("kubernetes.io/os")
        || selects_windows("beta.kubernetes.io/os")
        || spec
            .get("os")
            .and_then(Entries::of)
            .and_then(|os| os.text("name"))
            .is_some_and(|name| name == "windows")
}

fn optional_map<'a>(
    value: Option<Raw<'a>>,
    field: &str,
) -> Result<Option<Entries<'a>>, ShapeError> {
    match value {
        None => Ok(None),
        Some(raw) if view::is_null(raw) => Ok(None),
        Some(raw) => Entries::of(raw)
            .map(Some)
            .ok_or_else(|| ShapeError::expected(field, "a map", raw)),
    }
}

/// The list at `parent[key]`: empty when absent or `null`; any other value is a
/// shape error naming the field (its path is only built for the error).
pub fn list_at<'a>(
    parent: &Entries<'a>,
    key: &str,
    field: impl FnOnce() -> String,
) -> Result<Vec<Raw<'a>>, ShapeError> {
    match parent.get(key) {
        None => Ok(Vec::new()),
        Some(raw) if view::is_null(raw) => Ok(Vec::new()),
        Some(raw) => view::items(raw).ok_or_else(|| ShapeError::expected(&field(), "a list", raw)),
    }
}

/// [`list_at`] for lists of env vars or mounts, read as [`view::Named`] in one pass.
pub fn named_list_at<'a>(
    parent: &Entries<'a>,
    key: &str,
    field: impl FnOnce() -> String,
) -> Result<Vec<view::Named<'a>>, ShapeError> {
    match parent.get(key) {
        None => Ok(Vec::new()),
        Some(raw) if view::is_null(raw) => Ok(Vec::new()),
        Some(raw) => {
            view::named_items(raw).ok_or_else(|| ShapeError::expected(&field(), "a list", raw))
        }
    }
}

/// The `name` of a list entry (container, env var, mount, volume); `""` when missing.
pub fn name_of(entry: Raw<'_>) -> std::borrow::Cow<'_, str> {
    Entries::of(entry)
        .and_then(|e| e.text("name"))
        .unwrap_or_default()
}

/// The containers the Pod's `<prefix>/include-containers` and
/// `<prefix>/skip-containers` annotations pick. An annotation that is not
/// valid CSV counts as absent (as the EKS webhook does), with a warning.
pub fn container_selection(facts: &PodFacts, prefix: &str) -> Selection {
    let mut warnings = Vec::new();
    let mut listed = |name: &str, fallback: &str| {
        let key = format!("{prefix}/{name}");
        let names = facts.annotation(&key).and_then(|value| {
            parse::csv_names(value)
                .map_err(|problem| {
                    warnings.push(format!(
                        "annotation {key} is not valid CSV ({problem}); {fallback}"
                    ))
                })
                .ok()
        });
        (key, names)
    };
    let (include_key, include) = listed("include-containers", "every container is processed");
    let (skip_key, skip) = listed("skip-containers", "no container is skipped");
    Selection {
        include: include.map(|names| (include_key, names)),
        skip: (skip_key, skip.unwrap_or_default()),
        warnings,
    }
}
