//! The Kubernetes objects a user has of the webhook (YAML or JSON files, several documents each,
//! `kind: List` too): its Deployment, its ConfigMap and its MutatingWebhookConfiguration, picked
//! by kind; the webhook's command line taken out of the Deployment's container.

use serde::Deserialize;
use serde_yaml::Value;

/// One object, with where it came from for messages (`file: Kind ns/name`).
#[derive(Debug, Clone)]
pub struct Object {
    pub origin: String,
    pub value: Value,
}

impl Object {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }
}

/// The objects of every file, by kind.
#[derive(Debug, Default)]
pub struct Found {
    pub deployments: Vec<Object>,
    pub config_maps: Vec<Object>,
    pub webhook_configs: Vec<Object>,
    /// Objects of other kinds (the webhook's Service, RBAC, certificates…): not needed.
    pub others: Vec<Object>,
}

/// Reads every document of every `(path, text)`.
pub fn read(files: &[(String, String)]) -> Result<Found, String> {
    let mut found = Found::default();
    for (path, text) in files {
        for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(document)
                .map_err(|e| format!("{path}: document {}: not valid YAML: {e}", i + 1))?;
            add(path, i + 1, value, &mut found)?;
        }
    }
    Ok(found)
}

fn add(path: &str, number: usize, value: Value, found: &mut Found) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    let kind = value["kind"]
        .as_str()
        .ok_or_else(|| format!("{path}: document {number}: not a Kubernetes object (no kind)"))?
        .to_owned();
    if kind == "List" {
        let items = value["items"].as_sequence().cloned().unwrap_or_default();
        for item in items {
            add(path, number, item, found)?;
        }
        return Ok(());
    }
    let name = value["metadata"]["name"].as_str().unwrap_or("<no name>");
    let origin = match value["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{path}: {kind} {ns}/{name}"),
        None => format!("{path}: {kind} {name}"),
    };
    let object = Object { origin, value };
    match kind.as_str() {
        "Deployment" => found.deployments.push(object),
        "ConfigMap" => found.config_maps.push(object),
        "MutatingWebhookConfiguration" => found.webhook_configs.push(object),
        _ => found.others.push(object),
    }
    Ok(())
}

/// Whether a Deployment runs the webhook: one of its containers looks like it.
pub fn runs_the_webhook(deployment: &Object) -> bool {
    deployment.value["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .is_some_and(|containers| containers.iter().any(looks_like_the_webhook))
}

/// Whether a MutatingWebhookConfiguration calls the webhook's Service.
pub fn calls(configuration: &Object, service: &str) -> bool {
    configuration.value["webhooks"]
        .as_sequence()
        .is_some_and(|webhooks| {
            webhooks
                .iter()
                .any(|w| w["clientConfig"]["service"]["name"].as_str() == Some(service))
        })
}

/// The names under which the webhook's image and container are published.
fn looks_like_the_webhook(container: &Value) -> bool {
    let image = container["image"].as_str().unwrap_or_default();
    let name = container["name"].as_str().unwrap_or_default();
    image.contains("pod-identity-webhook") || name.contains("pod-identity-webhook")
}

/// The webhook's flags in a Deployment: the chosen container's `command` then `args`, without the
/// program (the first item, when it is not a flag). Returns the origin for messages too.
pub fn deployment_args(
    deployment: &Object,
    container: Option<&str>,
) -> Result<(String, Vec<String>), String> {
    let at = &deployment.origin;
    let containers = deployment.value["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .ok_or_else(|| format!("{at}: spec.template.spec.containers is not a list"))?;
    let chosen: Vec<&Value> = match container {
        Some(name) => containers
            .iter()
            .filter(|c| c["name"].as_str() == Some(name))
            .collect(),
        None if containers.len() == 1 => containers.iter().collect(),
        None => containers
            .iter()
            .filter(|c| looks_like_the_webhook(c))
            .collect(),
    };
    let [chosen] = chosen[..] else {
        return Err(match container {
            Some(name) => format!("{at}: no container named {name:?}"),
            None => format!(
                "{at}: cannot tell which of its {} containers is the webhook: name it with --container",
                containers.len()
            ),
        });
    };
    let name = chosen["name"].as_str().unwrap_or("<no name>");
    let origin = format!("{at}, container {name}");
    let mut argv = Vec::new();
    for field in ["command", "args"] {
        argv.extend(strings(&chosen[field], &format!("{origin}: {field}"))?);
    }
    if argv
        .first()
        .is_some_and(|program| !program.starts_with('-'))
    {
        argv.remove(0);
    }
    if let Some(arg) = argv.iter().find(|arg| arg.contains("$(")) {
        return Err(format!(
            "{origin}: {arg:?} uses $(VAR) expansion, which the converter does not resolve: give the expanded flags with --args-file or after --"
        ));
    }
    Ok((origin, argv))
}

/// A list of strings, or nothing when absent.
fn strings(value: &Value, at: &str) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items
            .iter()
            .map(|item| scalar(item).ok_or_else(|| format!("{at}: {item:?} is not a string")))
            .collect(),
        _ => Err(format!("{at}: not a list")),
    }
}

/// A YAML scalar as the string Kubernetes would read (numbers and booleans unquoted in YAML are
/// refused by the API server for string fields, so only strings count).
fn scalar(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// The flags of an `--args-file`: a YAML list (as in a Deployment's `args`), or one flag a line.
pub fn args_file(path: &str, text: &str) -> Result<Vec<String>, String> {
    if let Ok(Value::Sequence(items)) = serde_yaml::from_str::<Value>(text) {
        return strings(&Value::Sequence(items), path);
    }
    Ok(text
        .lines()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}
