//! The mutation, as a plan of insertions into the Pod's own bytes: env,
//! mounts, the projected-token volume and the Pod Identity label. Only adds
//! (the volume goes first, as the EKS webhook puts it); never overwrites,
//! reorders or removes, and everything the policy does not own is copied byte
//! for byte, so re-running it on its own output changes nothing. It reports
//! what it adds and what conflicts with the identity, so that audit mode and
//! `onConflict` decide from one pass over the Pod.

use crate::identity::{Identity, Mode};
use crate::pod::{Container, Item, Pod, Selection, ShapeError, Slot, Spec, Volume, items_of};
use crate::scan::{Span, push_quoted};

/// The label EKS Pod Identity sets; it does not follow `annotationPrefix`.
pub const POD_IDENTITY_LABEL: &str = "eks.amazonaws.com/pod-identity";

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

/// One addition to the Pod's bytes: `text` goes in before byte `at` of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insertion {
    pub at: usize,
    pub text: String,
}

/// The object's bytes with the insertions made; everything else is copied as is.
pub fn write(object: &str, insertions: &[Insertion]) -> String {
    let mut sorted: Vec<&Insertion> = insertions.iter().collect();
    sorted.sort_by_key(|i| i.at);
    let extra: usize = sorted.iter().map(|i| i.text.len()).sum();
    let mut out = String::with_capacity(object.len() + extra);
    let mut copied = 0;
    for insertion in sorted {
        let at = insertion.at.clamp(copied, object.len());
        out.push_str(&object[copied..at]);
        out.push_str(&insertion.text);
        copied = at;
    }
    out.push_str(&object[copied..]);
    out
}

/// Where the edits of one request go, relative to the object's first byte.
struct Plan {
    /// The offset of the object in the text its positions were read from.
    base: usize,
    insertions: Vec<Insertion>,
}

impl Plan {
    fn insert(&mut self, at: usize, text: String) {
        self.insertions.push(Insertion {
            at: at.saturating_sub(self.base),
            text,
        });
    }

    /// New keys for an object, right after its `{` (in the order given).
    fn add_keys(&mut self, object: Span, keys: &[(&str, String)]) {
        if keys.is_empty() {
            return;
        }
        let size = keys.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut text = String::with_capacity(size);
        for (key, value) in keys {
            if !text.is_empty() {
                text.push(',');
            }
            push_quoted(&mut text, key);
            text.push(':');
            text.push_str(value);
        }
        if !object.is_empty() {
            text.push(',');
        }
        self.insert(object.open + 1, text);
    }

    /// `items` at the end of the list `key` (found as `list`), or the key and
    /// the new list to add when it is absent. A `null` list is followed by
    /// the key again: decoders take the last.
    fn append(
        &mut self,
        list: Slot<Span>,
        key: &'static str,
        items: String,
    ) -> Option<(&'static str, String)> {
        if items.is_empty() {
            return None;
        }
        match list {
            Slot::Absent => return Some((key, ["[", &items, "]"].concat())),
            Slot::Null(end) => self.insert(end, [",\"", key, "\":[", &items, "]"].concat()),
            Slot::Found(list) if list.is_empty() => self.insert(list.close, items),
            Slot::Found(list) => self.insert(list.close, [",", &items].concat()),
            // Rejected before any plan is made.
            Slot::Wrong(_) => {}
        }
        None
    }
}

/// Applies `identity` to the Pod (`spec` is its spec), processing the
/// containers `selection` picks: what it adds, and where.
pub fn apply(
    identity: &Identity,
    pod: &Pod,
    spec: &Spec,
    selection: &Selection,
) -> Result<(Report, Vec<Insertion>), ShapeError> {
    let mut plan = Plan {
        base: pod.base,
        insertions: Vec::new(),
    };
    let mut report = Report::default();
    if identity.mode == Mode::ContainerCredentials && set_pod_identity_label(pod, &mut plan)? {
        report.added.push(Added::Label);
    }
    let mut names = Vec::new();
    let lists = [
        ("initContainers", &spec.init_containers),
        ("containers", &spec.containers),
    ];
    let mut texts = Texts::default();
    for (key, containers) in lists {
        let containers = items_of(containers, || format!("spec.{key}"))?;
        let mut processing = Processing {
            identity,
            selection,
            report: &mut report,
            plan: &mut plan,
            texts: &mut texts,
        };
        processing.containers(key, containers, &mut names)?;
    }
    report.warnings = [selection.warnings.clone(), selection.unmatched(&names)].concat();
    check_volume(identity, spec, &mut report, &mut plan)?;
    Ok((report, plan.insertions))
}

/// One request's containers being processed.
struct Processing<'r> {
    identity: &'r Identity<'r>,
    selection: &'r Selection,
    report: &'r mut Report,
    plan: &'r mut Plan,
    texts: &'r mut Texts,
}

/// The JSON that containers with the same needs get alike, written once per
/// request: most Pods' containers all lack the same variables.
#[derive(Default)]
struct Texts {
    mount: Option<String>,
    env: Option<([bool; 4], EnvAdditions)>,
}

impl Texts {
    fn env(&mut self, identity: &Identity, defined: &EnvFacts) -> EnvAdditions {
        let key = [
            defined.pair,
            defined.region,
            defined.sts,
            defined.session_name,
        ];
        match &self.env {
            Some((known, env)) if *known == key => env.clone(),
            _ => {
                let env = env_additions(identity, defined);
                self.env = Some((key, env.clone()));
                env
            }
        }
    }

    fn mount(&mut self, identity: &Identity) -> String {
        self.mount
            .get_or_insert_with(|| {
                let size = 48 + identity.volume_name.len() + identity.mount_path.len();
                let mut entry = String::with_capacity(size);
                entry.push_str("{\"name\":");
                push_quoted(&mut entry, &identity.volume_name);
                entry.push_str(",\"readOnly\":true,\"mountPath\":");
                push_quoted(&mut entry, &identity.mount_path);
                entry.push('}');
                entry
            })
            .clone()
    }
}

impl Processing<'_> {
    fn containers(
        &mut self,
        key: &'static str,
        containers: &[Item<Container>],
        names: &mut Vec<String>,
    ) -> Result<(), ShapeError> {
        // Only the warnings about unmatched names need every container's name.
        let collect_names = self.selection.lists_names();
        for (index, container) in containers.iter().enumerate() {
            let field = ContainerField { list: key, index };
            let container = container
                .as_ref()
                .map_err(|kind| ShapeError::expected(&field.to_string(), "an object", kind))?;
            let name = container.name.as_deref().unwrap_or_default();
            if collect_names {
                names.push(name.to_owned());
            }
            if self.selection.selects(name) {
                self.container(container, field, name)?;
            }
        }
        Ok(())
    }

    fn container(
        &mut self,
        container: &Container,
        field: ContainerField,
        name: &str,
    ) -> Result<(), ShapeError> {
        let identity = self.identity;
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
            self.report.role_drift.extend(drift.clone());
        }
        // The reference leaves a container that already has everything exactly as it
        // is, without even adding the mount.
        if defined.pair && defined.region && defined.sts {
            return Ok(());
        }
        self.report.conflicts.extend(drift);
        let mounts = items_of(&container.mounts, || format!("{field}.volumeMounts"))?;
        let volume_name = identity.volume_name.as_ref();
        let existing_mount = mounts
            .iter()
            .find(|m| m.name.as_deref() == Some(volume_name));
        let mount_path = existing_mount.map(|m| m.mount_path.as_deref().unwrap_or_default());
        if let Some(path) = mount_path.filter(|p| *p != identity.mount_path.as_ref()) {
            self.report.conflicts.push(format!(
                "container {name} mounts volume {} at {path:?}, not {:?}",
                identity.volume_name, identity.mount_path
            ));
        }
        let mount = existing_mount.is_none();
        let env = self.texts.env(identity, &defined);
        if env.names.is_empty() && !mount {
            return Ok(());
        }
        self.report.added.push(Added::Container {
            name: name.to_owned(),
            env: env.names,
            mount,
        });
        let mut keys = Vec::new();
        let env_list = container.env.map_found(|e| e.span);
        keys.extend(self.plan.append(env_list, "env", env.text));
        if mount {
            let entry = self.texts.mount(identity);
            let mounts = container.mounts.map_found(|m| m.span);
            keys.extend(self.plan.append(mounts, "volumeMounts", entry));
        }
        self.plan.add_keys(container.span, &keys);
        Ok(())
    }
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
    container: &Container,
    field: ContainerField,
) -> Result<EnvFacts, ShapeError> {
    let env = container
        .env
        .optional(|| format!("{field}.env"), "a list")?;
    let has = |wanted: &str| env.is_some_and(|env| env.defines(wanted));
    let [credential_name, _] = identity.mode.pair_names();
    let credential = env
        .and_then(|env| env.entry(credential_name))
        .and_then(|value| value.as_deref())
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

/// The env entries a processed container lacks, in the reference's order:
/// their names, and their JSON joined by commas.
#[derive(Clone)]
struct EnvAdditions {
    names: Vec<&'static str>,
    text: String,
}

impl EnvAdditions {
    fn entry(&mut self, name: &'static str, json: &[&str]) {
        if !self.text.is_empty() {
            self.text.push(',');
        }
        json.iter().for_each(|part| self.text.push_str(part));
        self.names.push(name);
    }

    fn var(&mut self, name: &'static str, value: &str) {
        self.entry(name, &["{\"name\":\"", name, "\",\"value\":"]);
        push_quoted(&mut self.text, value);
        self.text.push('}');
    }
}

fn env_additions(identity: &Identity, defined: &EnvFacts) -> EnvAdditions {
    let mut env = EnvAdditions {
        names: Vec::new(),
        text: String::with_capacity(320),
    };
    if identity.regional_sts && !defined.sts {
        env.var("AWS_STS_REGIONAL_ENDPOINTS", "regional");
    }
    if !identity.region.is_empty() && !defined.region {
        env.var("AWS_DEFAULT_REGION", &identity.region);
        env.var("AWS_REGION", &identity.region);
    }
    if !defined.pair {
        let [credential, token_file] = identity.mode.pair_names();
        env.var(credential, &identity.credential);
        env.var(token_file, &identity.token_file);
    }
    if identity.session_name && !defined.session_name {
        env.entry(SESSION_NAME, &[SESSION_NAME_ENTRY]);
    }
    env
}

const SESSION_NAME_ENTRY: &str = "{\"name\":\"AWS_ROLE_SESSION_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}";

fn check_volume(
    identity: &Identity,
    spec: &Spec,
    report: &mut Report,
    plan: &mut Plan,
) -> Result<(), ShapeError> {
    let volumes = items_of(&spec.volumes, || "spec.volumes".to_owned())?;
    let existing = volumes.iter().find(|v| v.name == identity.volume_name);
    match existing {
        Some(Volume {
            projected_token: false,
            ..
        }) => report.conflicts.push(format!(
            "volume {} is not a projected service-account token",
            identity.volume_name
        )),
        Some(_) => {}
        None => {
            add_volume(identity, spec, plan);
            report.added.push(Added::Volume);
        }
    }
    Ok(())
}

/// The EKS webhook puts its volume first.
fn add_volume(identity: &Identity, spec: &Spec, plan: &mut Plan) {
    let size = 128 + identity.volume_name.len() + identity.audience.len();
    let mut volume = String::with_capacity(size + identity.token_path.len());
    volume.push_str("{\"name\":");
    push_quoted(&mut volume, &identity.volume_name);
    volume.push_str(",\"projected\":{\"sources\":[{\"serviceAccountToken\":{");
    if !identity.audience.is_empty() {
        volume.push_str("\"audience\":");
        push_quoted(&mut volume, &identity.audience);
        volume.push(',');
    }
    volume.push_str("\"expirationSeconds\":");
    volume.push_str(&identity.expiration_seconds.to_string());
    volume.push_str(",\"path\":");
    push_quoted(&mut volume, &identity.token_path);
    volume.push_str("}}]}}");
    match &spec.volumes {
        Slot::Found(list) => {
            let text = match list.span.is_empty() {
                true => volume,
                false => volume + ",",
            };
            plan.insert(list.span.open + 1, text);
        }
        volumes => {
            let key = plan.append(volumes.map_found(|l| l.span), "volumes", volume);
            plan.add_keys(spec.span, key.as_slice());
        }
    }
}

/// The label's entry in `metadata.labels`.
const LABEL_ENTRY: &str = "\"eks.amazonaws.com/pod-identity\":\"enabled\"";

/// Sets `metadata.labels["eks.amazonaws.com/pod-identity"]` to `enabled`;
/// an existing other value is overridden by a later duplicate key.
fn set_pod_identity_label(pod: &Pod, plan: &mut Plan) -> Result<bool, ShapeError> {
    let entry = LABEL_ENTRY;
    let metadata = match &pod.metadata {
        Slot::Absent => {
            let labels = ["{\"labels\":{", entry, "}}"].concat();
            plan.add_keys(pod.span, &[("metadata", labels)]);
            return Ok(true);
        }
        Slot::Null(end) => {
            plan.insert(*end, [",\"metadata\":{\"labels\":{", entry, "}}"].concat());
            return Ok(true);
        }
        Slot::Found(metadata) => metadata,
        Slot::Wrong(_) => return Err(ShapeError("metadata must be a map".to_owned())),
    };
    let labels = match &metadata.labels {
        Slot::Absent => {
            plan.add_keys(metadata.span, &[("labels", ["{", entry, "}"].concat())]);
            return Ok(true);
        }
        Slot::Null(end) => {
            plan.insert(*end, [",\"labels\":{", entry, "}"].concat());
            return Ok(true);
        }
        Slot::Found(labels) => labels,
        Slot::Wrong(_) => return Err(ShapeError("metadata.labels must be a map".to_owned())),
    };
    if labels
        .get(POD_IDENTITY_LABEL)
        .is_some_and(|value| value.as_deref() == Some("enabled"))
    {
        return Ok(false);
    }
    let text = match labels.span.is_empty() {
        true => entry.to_owned(),
        false => [",", entry].concat(),
    };
    plan.insert(labels.span.close, text);
    Ok(true)
}
