//! The mutation, on the Pod's raw JSON: env, mounts, the projected-token volume
//! and the Pod Identity label. Only appends (the volume is prepended, as the
//! EKS webhook does); never overwrites, reorders or removes, so re-running it
//! on its own output changes nothing.

use serde_json::{Map, Value, json};

use crate::identity::{Identity, Mode};
use crate::pod::{ShapeError, list_at, name_of};

/// The label EKS Pod Identity sets; it does not follow `annotationPrefix`.
pub const POD_IDENTITY_LABEL: &str = "eks.amazonaws.com/pod-identity";

/// Applies `identity` to the Pod; `skip` names containers to leave alone.
/// Returns whether anything changed. Shape errors name the offending field.
pub fn apply(identity: &Identity, pod: &mut Value, skip: &[String]) -> Result<bool, ShapeError> {
    let object = pod
        .as_object_mut()
        .ok_or_else(|| ShapeError("object must be a JSON object (a Pod)".to_owned()))?;
    let mut changed = false;
    if identity.mode == Mode::ContainerCredentials {
        changed |= set_pod_identity_label(object)?;
    }
    let spec = match object.get_mut("spec") {
        Some(Value::Object(spec)) => spec,
        _ => return Err(ShapeError("spec must be an object".to_owned())),
    };
    for key in ["initContainers", "containers"] {
        changed |= process_containers(identity, spec, key, skip)?;
    }
    changed |= add_volume(identity, spec)?;
    Ok(changed)
}

fn process_containers(
    identity: &Identity,
    spec: &mut Map<String, Value>,
    key: &str,
    skip: &[String],
) -> Result<bool, ShapeError> {
    let field = format!("spec.{key}");
    let containers = match spec.get_mut(key) {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Array(containers)) => containers,
        Some(other) => return Err(ShapeError::expected(&field, "a list", other)),
    };
    let mut changed = false;
    for (i, container) in containers.iter_mut().enumerate() {
        let field = format!("{field}[{i}]");
        let Some(container) = container.as_object_mut() else {
            return Err(ShapeError::expected(&field, "an object", container));
        };
        let name = container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if skip.iter().any(|s| s == name) {
            continue;
        }
        changed |= process_container(identity, container, &field)?;
    }
    Ok(changed)
}

/// Which of the variables we add a container already defines (by `env[].name`).
struct EnvFacts {
    pair: bool,
    region: bool,
    sts: bool,
}

fn env_facts(
    identity: &Identity,
    container: &Map<String, Value>,
    field: &str,
) -> Result<EnvFacts, ShapeError> {
    let env = list_at(container, "env", &format!("{field}.env"))?;
    let has = |wanted: &str| env.iter().any(|e| name_of(e) == wanted);
    Ok(EnvFacts {
        pair: identity.mode.pair_names().iter().any(|n| has(n)),
        region: has("AWS_REGION") || has("AWS_DEFAULT_REGION"),
        sts: has("AWS_STS_REGIONAL_ENDPOINTS"),
    })
}

fn process_container(
    identity: &Identity,
    container: &mut Map<String, Value>,
    field: &str,
) -> Result<bool, ShapeError> {
    let defined = env_facts(identity, container, field)?;
    // The reference leaves a container that already has everything exactly as it
    // is, without even adding the mount.
    if defined.pair && defined.region && defined.sts {
        return Ok(false);
    }
    let mut env = Vec::new();
    if identity.regional_sts && !defined.sts {
        env.push(env_var("AWS_STS_REGIONAL_ENDPOINTS", "regional"));
    }
    if !identity.region.is_empty() && !defined.region {
        env.push(env_var("AWS_DEFAULT_REGION", &identity.region));
        env.push(env_var("AWS_REGION", &identity.region));
    }
    if !defined.pair {
        let [credential, token_file] = identity.mode.pair_names();
        env.push(env_var(credential, &identity.credential));
        env.push(env_var(token_file, &identity.token_file));
    }
    let mounts_field = format!("{field}.volumeMounts");
    let has_mount = list_at(container, "volumeMounts", &mounts_field)?
        .iter()
        .any(|m| name_of(m) == identity.volume_name);
    let mut mounts = Vec::new();
    if !has_mount {
        mounts.push(json!({"name": identity.volume_name, "readOnly": true, "mountPath": identity.mount_path}));
    }
    let env_added = append(container, "env", env);
    let mount_added = append(container, "volumeMounts", mounts);
    Ok(env_added || mount_added)
}

fn env_var(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// Appends to a list that [`list_at`] has already checked; creates it only when
/// there is something to add, so an absent list stays absent otherwise.
fn append(parent: &mut Map<String, Value>, key: &str, items: Vec<Value>) -> bool {
    if items.is_empty() {
        return false;
    }
    let slot = parent.entry(key).or_insert(Value::Null);
    match slot {
        Value::Array(list) => list.extend(items),
        _ => *slot = Value::Array(items),
    }
    true
}

fn add_volume(identity: &Identity, spec: &mut Map<String, Value>) -> Result<bool, ShapeError> {
    let exists = list_at(spec, "volumes", "spec.volumes")?
        .iter()
        .any(|v| name_of(v) == identity.volume_name);
    if exists {
        return Ok(false);
    }
    let mut token =
        json!({"expirationSeconds": identity.expiration_seconds, "path": identity.token_path});
    if !identity.audience.is_empty() {
        token["audience"] = json!(identity.audience);
    }
    let volume = json!({"name": identity.volume_name, "projected": {"sources": [{"serviceAccountToken": token}]}});
    match spec.get_mut("volumes") {
        Some(Value::Array(volumes)) => volumes.insert(0, volume),
        _ => {
            spec.insert("volumes".to_owned(), Value::Array(vec![volume]));
        }
    }
    Ok(true)
}

fn set_pod_identity_label(object: &mut Map<String, Value>) -> Result<bool, ShapeError> {
    let metadata = object_entry(object, "metadata", "metadata")?;
    let labels = object_entry(metadata, "labels", "metadata.labels")?;
    let enabled = Value::String("enabled".to_owned());
    if labels.get(POD_IDENTITY_LABEL) == Some(&enabled) {
        return Ok(false);
    }
    labels.insert(POD_IDENTITY_LABEL.to_owned(), enabled);
    Ok(true)
}

/// The map at `parent[key]`, created when absent or `null`.
fn object_entry<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a mut Map<String, Value>, ShapeError> {
    let slot = parent.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
        .ok_or_else(|| ShapeError(format!("{field} must be a map")))
}
