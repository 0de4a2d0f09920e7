//! A thin view over the Pod's raw JSON: the shape checks (each error names the
//! offending field) and the facts the decision needs, read once.

use serde_json::{Map, Value};

use crate::inject::Selection;
use crate::parse;

/// A Pod the policy cannot work on; rejected with code 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl ShapeError {
    pub fn expected(field: &str, what: &str, got: &Value) -> Self {
        let kind = match got {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        };
        ShapeError(format!("{field} must be {what}, got {kind}"))
    }
}

/// What the decision needs to know about a Pod, owned so the Pod can then be mutated.
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

/// The label that opts a Pod out, whatever its value; checked before anything else.
pub fn has_skip_label(object: &Value, prefix: &str) -> bool {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .is_some_and(|labels| labels.contains_key(&format!("{prefix}/skip-pod-identity-webhook")))
}

/// Checks the Pod-level shape and reads the facts. The lists are checked later,
/// and only when an identity applies (see [`list_at`]).
pub fn read_facts(
    object: &Value,
    request_namespace: &str,
    prefix: &str,
) -> Result<PodFacts, ShapeError> {
    let pod = object
        .as_object()
        .ok_or_else(|| ShapeError::expected("object", "a JSON object (a Pod)", object))?;
    // The request says Pod; an object that says otherwise is not one to mutate.
    match pod.get("kind") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "Pod" => {}
        Some(Value::String(kind)) => {
            return Err(ShapeError(format!("kind is {kind:?}, not \"Pod\"")));
        }
        Some(other) => return Err(ShapeError::expected("kind", "\"Pod\"", other)),
    }
    let metadata = optional_map(pod.get("metadata"), "metadata")?;
    let spec = match pod.get("spec") {
        Some(Value::Object(spec)) => spec,
        None => return Err(ShapeError("spec is missing".to_owned())),
        Some(other) => return Err(ShapeError::expected("spec", "an object", other)),
    };
    optional_map(field_of(metadata, "labels"), "metadata.labels")?;
    let annotations = optional_map(field_of(metadata, "annotations"), "metadata.annotations")?;
    let node_selector = optional_map(spec.get("nodeSelector"), "spec.nodeSelector")?;

    let namespace = match request_namespace {
        "" => string_at(field_of(metadata, "namespace")),
        ns => ns,
    };
    let service_account = [spec.get("serviceAccountName"), spec.get("serviceAccount")]
        .into_iter()
        .map(string_at)
        .find(|name| !name.is_empty())
        .unwrap_or("default");
    Ok(PodFacts {
        namespace: namespace.to_owned(),
        service_account: service_account.to_owned(),
        annotations: ours(annotations, prefix),
        is_windows: is_windows(node_selector, spec),
    })
}

/// Only the annotations under `<prefix>/`: the rest is never read, so never copied.
fn ours(annotations: Option<&Map<String, Value>>, prefix: &str) -> Map<String, Value> {
    let is_ours = |key: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    annotations
        .into_iter()
        .flatten()
        .filter(|(key, _)| is_ours(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// The EKS webhook looks at both node-selector keys; we also honour `spec.os.name`.
fn is_windows(node_selector: Option<&Map<String, Value>>, spec: &Map<String, Value>) -> bool {
    let selects_windows = |key: &str| {
        node_selector
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            == Some("windows")
    };
    selects_windows("kubernetes.io/os")
        || selects_windows("beta.kubernetes.io/os")
        || spec
            .get("os")
            .and_then(|os| os.get("name"))
            .and_then(Value::as_str)
            == Some("windows")
}

fn field_of<'a>(map: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a Value> {
    map.and_then(|m| m.get(key))
}

fn string_at(value: Option<&Value>) -> &str {
    value.and_then(Value::as_str).unwrap_or_default()
}

fn optional_map<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, ShapeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(ShapeError::expected(field, "a map", other)),
    }
}

/// The list at `parent[key]`: empty when absent or `null`; any other value is a
/// shape error naming the field (its path is only built for the error).
pub fn list_at<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    field: impl FnOnce() -> String,
) -> Result<&'a [Value], ShapeError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(ShapeError::expected(&field(), "a list", other)),
    }
}

/// The `name` of a list entry (container, env var, mount, volume); `""` when missing.
pub fn name_of(entry: &Value) -> &str {
    string_at(entry.get("name"))
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
