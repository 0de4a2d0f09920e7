//! The mutation, on the Pod's raw JSON: env, mounts, the projected-token volume
//! and the Pod Identity label. Only appends (the volume is prepended, as the
//! EKS webhook does); never overwrites, reorders or removes, so re-running it
//! on its own output changes nothing. It reports what it added and what
//! conflicts with the identity, so that audit mode and `onConflict` decide from
//! one pass over the Pod.

use serde_json::{Map, Value, json};

use crate::identity::{Identity, Mode};
use crate::pod::{ShapeError, list_at, name_of};

/// The label EKS Pod Identity sets; it does not follow `annotationPrefix`.
pub const POD_IDENTITY_LABEL: &str = "eks.amazonaws.com/pod-identity";

/// Which containers the policy processes: those named in `include` (when the
/// Pod has that annotation), minus those named in `skip`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    /// `(annotation key, names)` of `<prefix>/include-containers`, when present.
    pub include: Option<(String, Vec<String>)>,
    /// `(annotation key, names)` of `<prefix>/skip-containers`.
    pub skip: (String, Vec<String>),
    /// Why a list annotation was ignored (it is not valid CSV).
    pub warnings: Vec<String>,
}

impl Selection {
    fn lists_names(&self) -> bool {
        self.include
            .as_ref()
            .is_some_and(|(_, names)| !names.is_empty())
            || !self.skip.1.is_empty()
    }

    fn selects(&self, name: &str) -> bool {
        let included = self
            .include
            .as_ref()
            .is_none_or(|(_, names)| names.iter().any(|n| n == name));
        included && !self.skip.1.iter().any(|n| n == name)
    }

    /// One warning per listed name that matches no container or init container.
    fn unmatched(&self, names: &[String]) -> Vec<String> {
        let lists = self.include.iter().chain(std::iter::once(&self.skip));
        lists
            .flat_map(|(key, listed)| listed.iter().map(move |name| (key, name)))
            .filter(|(_, name)| !names.contains(name))
            .map(|(key, name)| format!("container {name:?} named in annotation {key} matches no container or init container"))
            .collect()
    }
}

/// One thing the policy added to a Pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    Label,
    /// A container's new env variables and whether it got the mount.
    Container {
        name: String,
        env: Vec<&'static str>,
        mount: bool,
    },
    Volume,
}

/// What applying an identity did, or would do, to a Pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// What was added, in Pod order; empty when nothing changed.
    pub added: Vec<Added>,
    /// Existing settings that disagree with the identity (subject to `onConflict`).
    pub conflicts: Vec<String>,
    /// Selected containers whose `AWS_ROLE_ARN` is not the resolved role (audit mode).
    pub role_drift: Vec<String>,
    /// Names in include/skip lists that match nothing.
    pub warnings: Vec<String>,
}

impl Report {
    pub fn changed(&self) -> bool {
        !self.added.is_empty()
    }

    /// The containers that got (or, in audit mode, would get) something, in Pod order.
    pub fn containers(&self) -> Vec<String> {
        self.added
            .iter()
            .filter_map(|added| match added {
                Added::Container { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// One phrase per addition, e.g. `container app: AWS_ROLE_ARN, mount aws-iam-token`.
    pub fn describe(&self, identity: &Identity) -> Vec<String> {
        self.added
            .iter()
            .map(|added| match added {
                Added::Label => format!("label {POD_IDENTITY_LABEL}"),
                Added::Volume => format!("volume {}", identity.volume_name),
                Added::Container { name, env, mount } => {
                    let mut items: Vec<String> = env.iter().map(|e| (*e).to_owned()).collect();
                    if *mount {
                        items.push(format!("mount {}", identity.volume_name));
                    }
                    format!("container {name}: {}", items.join(", "))
                }
            })
            .collect()
    }
}

/// Applies `identity` to the Pod, processing the containers `selection` picks.
/// Shape errors name the offending field.
pub fn apply(
    identity: &Identity,
    pod: &mut Value,
    selection: &Selection,
) -> Result<Report, ShapeError> {
    let object = pod
        .as_object_mut()
        .ok_or_else(|| ShapeError("object must be a JSON object (a Pod)".to_owned()))?;
    let mut report = Report::default();
    if identity.mode == Mode::ContainerCredentials && set_pod_identity_label(object)? {
        report.added.push(Added::Label);
    }
    let spec = match object.get_mut("spec") {
        Some(Value::Object(spec)) => spec,
        _ => return Err(ShapeError("spec must be an object".to_owned())),
    };
    let mut names = Vec::new();
    for key in ["initContainers", "containers"] {
        process_containers(identity, spec, key, selection, &mut report, &mut names)?;
    }
    report.warnings = [selection.warnings.clone(), selection.unmatched(&names)].concat();
    check_volume(identity, spec, &mut report)?;
    Ok(report)
}

fn process_containers(
    identity: &Identity,
    spec: &mut Map<String, Value>,
    key: &'static str,
    selection: &Selection,
    report: &mut Report,
    names: &mut Vec<String>,
) -> Result<(), ShapeError> {
    let containers = match spec.get_mut(key) {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(containers)) => containers,
        Some(other) => {
            return Err(ShapeError::expected(
                &format!("spec.{key}"),
                "a list",
                other,
            ));
        }
    };
    // Only the warnings about unmatched names need every container's name.
    let collect_names = selection.lists_names();
    for (i, container) in containers.iter_mut().enumerate() {
        let field = ContainerField {
            list: key,
            index: i,
        };
        let Some(container) = container.as_object_mut() else {
            return Err(ShapeError::expected(
                &field.to_string(),
                "an object",
                container,
            ));
        };
        let name = name_of_map(container);
        if collect_names {
            names.push(name.to_owned());
        }
        if selection.selects(name) {
            let name = name.to_owned();
            process_container(identity, container, field, &name, report)?;
        }
    }
    Ok(())
}

/// `spec.<list>[<index>]`, formatted only for an error message.
#[derive(Clone, Copy)]
struct ContainerField {
    list: &'static str,
    index: usize,
}

impl std::fmt::Display for ContainerField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spec.{}[{}]", self.list, self.index)
    }
}

fn name_of_map(container: &Map<String, Value>) -> &str {
    container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Which of the variables we add a container already defines (by `env[].name`).
struct EnvFacts {
    pair: bool,
    region: bool,
    sts: bool,
    session_name: bool,
    /// The literal value of the pair's first variable (role ARN or URI), if set.
    credential: Option<String>,
}

fn env_facts(
    identity: &Identity,
    container: &Map<String, Value>,
    field: ContainerField,
) -> Result<EnvFacts, ShapeError> {
    let env = list_at(container, "env", || format!("{field}.env"))?;
    let has = |wanted: &str| env.iter().any(|e| name_of(e) == wanted);
    let [credential_name, _] = identity.mode.pair_names();
    let credential = env
        .iter()
        .find(|e| name_of(e) == credential_name)
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(EnvFacts {
        pair: identity.mode.pair_names().iter().any(|n| has(n)),
        region: has("AWS_REGION") || has("AWS_DEFAULT_REGION"),
        sts: has("AWS_STS_REGIONAL_ENDPOINTS"),
        session_name: has(SESSION_NAME),
        credential,
    })
}

const SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";

fn process_container(
    identity: &Identity,
    container: &mut Map<String, Value>,
    field: ContainerField,
    name: &str,
    report: &mut Report,
) -> Result<(), ShapeError> {
    let defined = env_facts(identity, container, field)?;
    let [credential_name, _] = identity.mode.pair_names();
    let drift = defined
        .credential
        .as_ref()
        .filter(|value| **value != identity.credential)
        .map(|value| {
            format!(
                "container {name} sets {credential_name} to {value:?}, not {:?}",
                identity.credential
            )
        });
    if identity.mode == Mode::WebIdentity {
        report.role_drift.extend(drift.clone());
    }
    // The reference leaves a container that already has everything exactly as it
    // is, without even adding the mount.
    if defined.pair && defined.region && defined.sts {
        return Ok(());
    }
    report.conflicts.extend(drift);
    let existing_mount = list_at(container, "volumeMounts", || {
        format!("{field}.volumeMounts")
    })?
    .iter()
    .find(|m| name_of(m) == identity.volume_name);
    let mount_path = existing_mount.map(|m| {
        m.get("mountPath")
            .and_then(Value::as_str)
            .unwrap_or_default()
    });
    if let Some(path) = mount_path.filter(|p| *p != identity.mount_path) {
        report.conflicts.push(format!(
            "container {name} mounts volume {} at {path:?}, not {:?}",
            identity.volume_name, identity.mount_path
        ));
    }
    let mount = existing_mount.is_none();
    let env = env_additions(identity, &defined);
    if env.is_empty() && !mount {
        return Ok(());
    }
    report.added.push(Added::Container {
        name: name.to_owned(),
        env: env.iter().map(|(name, _)| *name).collect(),
        mount,
    });
    append(
        container,
        "env",
        env.into_iter().map(|(_, entry)| entry).collect(),
    );
    if mount {
        let entry = json!({"name": identity.volume_name, "readOnly": true, "mountPath": identity.mount_path});
        append(container, "volumeMounts", vec![entry]);
    }
    Ok(())
}

/// The env entries a processed container lacks, in the reference's order, with their names.
fn env_additions(identity: &Identity, defined: &EnvFacts) -> Vec<(&'static str, Value)> {
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
    if identity.session_name && !defined.session_name {
        let entry = json!({"name": SESSION_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}});
        env.push((SESSION_NAME, entry));
    }
    env
}

fn env_var(name: &'static str, value: &str) -> (&'static str, Value) {
    (name, json!({"name": name, "value": value}))
}

/// Appends to a list that [`list_at`] has already checked; creates it only when
/// there is something to add, so an absent list stays absent otherwise.
fn append(parent: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    let slot = parent.entry(key).or_insert(Value::Null);
    match slot {
        Value::Array(list) => list.extend(items),
        _ => *slot = Value::Array(items),
    }
}

fn check_volume(
    identity: &Identity,
    spec: &mut Map<String, Value>,
    report: &mut Report,
) -> Result<(), ShapeError> {
    let existing = list_at(spec, "volumes", || "spec.volumes".to_owned())?
        .iter()
        .find(|v| name_of(v) == identity.volume_name);
    match existing {
        Some(volume) if !is_projected_token(volume) => report.conflicts.push(format!(
            "volume {} is not a projected service-account token",
            identity.volume_name
        )),
        Some(_) => {}
        None => {
            add_volume(identity, spec);
            report.added.push(Added::Volume);
        }
    }
    Ok(())
}

fn is_projected_token(volume: &Value) -> bool {
    volume
        .pointer("/projected/sources")
        .and_then(Value::as_array)
        .is_some_and(|sources| {
            sources
                .iter()
                .any(|s| s.get("serviceAccountToken").is_some())
        })
}

fn add_volume(identity: &Identity, spec: &mut Map<String, Value>) {
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
