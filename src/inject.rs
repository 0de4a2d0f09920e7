//! The mutation, as a plan of insertions into the Pod's own bytes: env, mounts, the projected-token
//! volume and the Pod Identity label. Only adds (the volume goes first, as the EKS webhook puts
//! it); never overwrites, reorders or removes, and everything the policy does not own is copied
//! byte for byte, so re-running it on its own output changes nothing. It reports what it adds and
//! what conflicts with the identity, so that audit mode and `onConflict` decide from one pass over
//! the Pod.

use crate::identity::{Identity, Mode};
use crate::parse;
use crate::pod::{
    Container, List, Named, Pod, Selection, ShapeError, Slot, Spec, Volume, first_named, items_of,
};
use crate::scan::{Span, push_quoted};

/// The label EKS Pod Identity sets; it does not follow `annotationPrefix`.
pub const POD_IDENTITY_LABEL: &str = "eks.amazonaws.com/pod-identity";
const LABEL_ENTRY: &str = "\"eks.amazonaws.com/pod-identity\":\"enabled\"";
const SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
/// The variable that makes every SDK's env provider use static keys (an empty value does not).
const STATIC_KEY: &str = "AWS_ACCESS_KEY_ID";
/// What makes the Java SDKs take the IPv6 agent `[fd00:ec2::23]` (and IMDS at `[fd00:ec2::254]`).
const ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// What makes the SDKs skip the instance metadata service, and so the node's role.
const IMDS_DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
const SESSION_NAME_ENTRY: &str = "{\"name\":\"AWS_ROLE_SESSION_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}";

/// What applying an identity did, or would do, to a Pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// One phrase per addition, in Pod order (`label …`, `container app: AWS_ROLE_ARN, mount
    /// aws-iam-token`, `volume aws-iam-token`): what audit mode reports. Empty when nothing
    /// changed.
    pub added: Vec<String>,
    /// The containers that got (or, in audit mode, would get) something.
    pub containers: Vec<String>,
    /// Existing settings that disagree with the identity (subject to `onConflict`).
    pub conflicts: Vec<String>,
    /// Selected containers whose `AWS_ROLE_ARN` is not the resolved role (audit mode).
    pub role_drift: Vec<String>,
    /// Names in include/skip lists that match nothing.
    pub warnings: Vec<String>,
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

/// A JSON object's or list's brackets.
const OBJECT: [&str; 2] = ["{", "}"];
const LIST: [&str; 2] = ["[", "]"];

/// Where the edits of one request go, relative to the object's first byte.
struct Plan {
    /// The offset of the object in the text its positions were read from.
    base: usize,
    insertions: Vec<Insertion>,
}

impl Plan {
    fn insert(&mut self, at: usize, text: String) {
        let at = at.saturating_sub(self.base);
        self.insertions.push(Insertion { at, text });
    }

    /// New keys for an object, right after its `{` (in the order given).
    fn add_keys(&mut self, object: Span, keys: &[(&str, String)]) {
        if keys.is_empty() {
            return;
        }
        let mut text = String::with_capacity(keys.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
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

    /// `items` at the end (with `front`, the start) of the object or list `key` (found as `slot`),
    /// or the key and its new value when it is absent (for [`Plan::add_keys`]). A `null` value is
    /// followed by the key again: decoders take the last.
    fn append(
        &mut self,
        slot: Slot<Span>,
        key: &'static str,
        items: &str,
        [open, close]: [&str; 2],
        front: bool,
    ) -> Option<(&'static str, String)> {
        match slot {
            Slot::Absent => return Some((key, [open, items, close].concat())),
            Slot::Null(end) => self.insert(end, [",\"", key, "\":", open, items, close].concat()),
            Slot::Found(span) if span.is_empty() => self.insert(span.close, items.to_owned()),
            Slot::Found(span) if front => self.insert(span.open + 1, [items, ","].concat()),
            Slot::Found(span) => self.insert(span.close, [",", items].concat()),
            // Rejected before any plan is made.
            Slot::Wrong(_) => {}
        }
        None
    }
}

/// Applies `identity` to the Pod (`spec` is its spec), processing the containers `selection` picks:
/// what it adds, and where.
pub fn apply(
    identity: &Identity,
    pod: &Pod,
    spec: &Spec,
    selection: &Selection,
) -> Result<(Report, Vec<Insertion>), ShapeError> {
    let mut applying = Applying {
        identity,
        report: Report::default(),
        plan: Plan {
            base: pod.base,
            insertions: Vec::new(),
        },
        env: None,
        mount: mount_json(identity),
    };
    if identity.mode == Mode::ContainerCredentials {
        applying.label(pod);
    }
    // The names of every container and init container, for the warnings about unmatched names.
    let mut names = Vec::new();
    for (key, containers) in [
        ("initContainers", &spec.init_containers),
        ("containers", &spec.containers),
    ] {
        for (index, container) in items_of(containers, format_args!("spec.{key}"))?
            .iter()
            .enumerate()
        {
            let container = container.required(format_args!("spec.{key}[{index}]"), "an object")?;
            let name = container.name.as_deref().unwrap_or_default();
            names.push(name);
            if selection.selects(name) {
                applying.container(container, (key, index), name)?;
            }
        }
    }
    applying.report.warnings = [selection.warnings.clone(), selection.unmatched(&names)].concat();
    applying.volume(spec)?;
    Ok((applying.report, applying.plan.insertions))
}

/// One request's identity being applied.
struct Applying<'r> {
    identity: &'r Identity<'r>,
    report: Report,
    plan: Plan,
    /// The additions of the last container, by what it defined: most Pods' containers all lack the
    /// same variables, so the JSON is written once.
    env: Option<(EnvFacts<'r>, String, String)>,
    /// The volume mount's JSON, the same for every container.
    mount: String,
}

impl<'r> Applying<'r> {
    fn container(
        &mut self,
        container: &'r Container<'r>,
        (list, index): (&str, usize),
        name: &str,
    ) -> Result<(), ShapeError> {
        let identity = self.identity;
        let env = container
            .env
            .optional(format_args!("spec.{list}[{index}].env"), "a list")?;
        let defined = EnvFacts::of(identity, env);
        let [credential_name, _] = identity.mode.pair_names();
        let drift = defined
            .credential
            .filter(|value| *value != identity.credential)
            .map(|value| {
                format!(
                    "container {name} sets {credential_name} to {value:?}, not {:?}",
                    identity.credential
                )
            });
        if identity.mode == Mode::WebIdentity {
            self.report.role_drift.extend(drift.clone());
        }
        // The reference leaves a container that already has everything exactly as it is, without
        // even adding the mount.
        let mode_defined = defined.endpoint_mode || !identity.ipv6_endpoint_mode;
        let imds_defined = defined.imds_disabled || !identity.disable_instance_metadata;
        if defined.pair && defined.region && defined.sts && mode_defined && imds_defined {
            return Ok(());
        }
        self.report.conflicts.extend(drift);
        // STS refuses the whole AssumeRoleWithWebIdentity call for a session name it does not take.
        let bad_session = defined
            .session_value
            .filter(|v| !parse::is_role_session_name(v));
        if let Some(value) = bad_session.filter(|_| identity.mode == Mode::WebIdentity) {
            self.report.conflicts.push(format!(
                "container {name} sets {SESSION_NAME} to {value:?}, which STS refuses as a role session name (2 to 64 characters of letters, digits and _+=,.@-)"
            ));
        }
        // Every AWS SDK takes static keys from the env before web identity or container
        // credentials: the Pod would run as whoever owns the keys, not as its role.
        if defined.static_keys {
            self.report.conflicts.push(format!(
                "container {name} sets {STATIC_KEY}: AWS SDKs use these static keys before the injected credentials, so the Pod does not act as its role"
            ));
        }
        let field = format_args!("spec.{list}[{index}].volumeMounts");
        let mounts = container.mounts.optional(field, "a list")?;
        let volume_name = identity.volume_name;
        let existing = first_named(mounts, volume_name);
        let path = existing.map(|m| m.mount_path.as_deref().unwrap_or_default());
        if let Some(path) = path.filter(|p| *p != identity.mount_path) {
            self.report.conflicts.push(format!(
                "container {name} mounts volume {volume_name} at {path:?}, not {:?}",
                identity.mount_path
            ));
        }
        let mount = existing.is_none();
        // The credential's value only matters to the drift above.
        if self.env.as_ref().map(|(known, ..)| known) != Some(&defined) {
            let (names, text) = env_additions(identity, &defined);
            self.env = Some((defined, names, text));
        }
        let Some((_, env_names, env_text)) = &self.env else {
            return Ok(());
        };
        if env_names.is_empty() && !mount {
            return Ok(());
        }
        let [glue, volume] = match (mount, env_names.is_empty()) {
            (false, _) => ["", ""],
            (true, true) => ["mount ", volume_name],
            (true, false) => [", mount ", volume_name],
        };
        let phrase = ["container ", name, ": ", env_names, glue, volume].concat();
        self.report.added.push(phrase);
        self.report.containers.push(name.to_owned());
        let mut keys = Vec::new();
        if !env_text.is_empty() {
            let env = container.env.map_found(|e| e.span);
            keys.extend(self.plan.append(env, "env", env_text, LIST, false));
        }
        if mount {
            let mounts = container.mounts.map_found(|m| m.span);
            let entry = &self.mount;
            keys.extend(self.plan.append(mounts, "volumeMounts", entry, LIST, false));
        }
        self.plan.add_keys(container.span, &keys);
        Ok(())
    }

    /// The projected-token volume, first in `spec.volumes` (as the EKS webhook puts it), unless one
    /// of that name is there.
    fn volume(&mut self, spec: &Spec) -> Result<(), ShapeError> {
        let identity = self.identity;
        let volumes = items_of(&spec.volumes, "spec.volumes")?;
        let named = |v: &&Volume| v.name == identity.volume_name;
        match volumes.iter().filter_map(Slot::found).find(named) {
            Some(volume) if !volume.projected_token => self.report.conflicts.push(format!(
                "volume {} is not a projected service-account token",
                identity.volume_name
            )),
            Some(_) => {}
            None => {
                let volumes = spec.volumes.map_found(|l| l.span);
                let volume = volume_json(identity);
                let key = self.plan.append(volumes, "volumes", &volume, LIST, true);
                self.plan.add_keys(spec.span, key.as_slice());
                let volume = format!("volume {}", identity.volume_name);
                self.report.added.push(volume);
            }
        }
        Ok(())
    }

    /// Sets `metadata.labels["eks.amazonaws.com/pod-identity"]` to `enabled` (an existing other
    /// value is overridden by a later duplicate key); unless it is so already. `metadata` and its
    /// labels are maps or absent: [`crate::pod::read_facts`] checked them.
    fn label(&mut self, pod: &Pod) {
        let (parent, key, slot, value) = match &pod.metadata {
            Slot::Found(metadata) => {
                let labels = metadata.labels.found();
                let value = labels.and_then(|labels| labels.get(POD_IDENTITY_LABEL));
                if value.is_some_and(|v| v.as_deref() == Some("enabled")) {
                    return;
                }
                let slot = metadata.labels.map_found(|l| l.span);
                (metadata.span, "labels", slot, LABEL_ENTRY.to_owned())
            }
            absent => {
                let labels = ["\"labels\":{", LABEL_ENTRY, "}"].concat();
                (pod.span, "metadata", absent.map_found(|m| m.span), labels)
            }
        };
        let key = self.plan.append(slot, key, &value, OBJECT, false);
        self.plan.add_keys(parent, key.as_slice());
        let label = format!("label {POD_IDENTITY_LABEL}");
        self.report.added.push(label);
    }
}

/// Which of the variables we add a container already defines (by `env[].name`).
#[derive(Clone, Copy, PartialEq)]
struct EnvFacts<'e> {
    pair: bool,
    region: bool,
    sts: bool,
    session_name: bool,
    endpoint_mode: bool,
    imds_disabled: bool,
    /// The literal value of `AWS_ROLE_SESSION_NAME`, if set.
    session_value: Option<&'e str>,
    /// `AWS_ACCESS_KEY_ID` is set, to a non-empty value or from elsewhere (`valueFrom`).
    static_keys: bool,
    /// The literal value of the pair's first variable (role ARN or URI), if set.
    credential: Option<&'e str>,
}

impl<'e> EnvFacts<'e> {
    fn of(identity: &Identity, env: Option<&'e List<Slot<Named>>>) -> EnvFacts<'e> {
        let has = |wanted: &str| first_named(env, wanted).is_some();
        let value = |var: &'e Named| var.value.as_deref();
        let [credential, token_file] = identity.mode.pair_names();
        let session = first_named(env, SESSION_NAME);
        let credential_var = first_named(env, credential);
        EnvFacts {
            pair: credential_var.is_some() || has(token_file),
            region: has("AWS_REGION") || has("AWS_DEFAULT_REGION"),
            sts: has("AWS_STS_REGIONAL_ENDPOINTS"),
            session_name: session.is_some(),
            endpoint_mode: has(ENDPOINT_MODE),
            imds_disabled: has(IMDS_DISABLED),
            session_value: session.and_then(value),
            static_keys: first_named(env, STATIC_KEY).is_some_and(|key| value(key) != Some("")),
            credential: credential_var.and_then(value),
        }
    }
}

/// The env entries a processed container lacks, in the reference's order: their names and their
/// JSON, each joined by commas.
fn env_additions(identity: &Identity, defined: &EnvFacts) -> (String, String) {
    let (mut names, mut text) = (String::new(), String::with_capacity(320));
    let mut entry = |name: &'static str, value: Option<&str>| {
        if !text.is_empty() {
            text.push(',');
            names.push_str(", ");
        }
        match value {
            Some(value) => {
                text.push_str("{\"name\":\"");
                text.push_str(name);
                text.push_str("\",\"value\":");
                push_quoted(&mut text, value);
                text.push('}');
            }
            None => text.push_str(SESSION_NAME_ENTRY),
        }
        names.push_str(name);
    };
    if identity.regional_sts && !defined.sts {
        entry("AWS_STS_REGIONAL_ENDPOINTS", Some("regional"));
    }
    if !identity.region.is_empty() && !defined.region {
        entry("AWS_DEFAULT_REGION", Some(identity.region));
        entry("AWS_REGION", Some(identity.region));
    }
    if !defined.pair {
        let [credential, token_file] = identity.mode.pair_names();
        entry(credential, Some(identity.credential));
        entry(token_file, Some(&identity.token_file));
    }
    if identity.session_name && !defined.session_name {
        entry(SESSION_NAME, None);
    }
    if identity.ipv6_endpoint_mode && !defined.endpoint_mode {
        entry(ENDPOINT_MODE, Some("IPv6"));
    }
    if identity.disable_instance_metadata && !defined.imds_disabled {
        entry(IMDS_DISABLED, Some("true"));
    }
    (names, text)
}

fn mount_json(identity: &Identity) -> String {
    let mut entry = String::with_capacity(64 + identity.mount_path.len());
    entry.push_str("{\"name\":");
    push_quoted(&mut entry, identity.volume_name);
    entry.push_str(",\"readOnly\":true,\"mountPath\":");
    push_quoted(&mut entry, identity.mount_path);
    entry.push('}');
    entry
}

fn volume_json(identity: &Identity) -> String {
    let mut volume = String::with_capacity(160 + identity.token_path.len());
    volume.push_str("{\"name\":");
    push_quoted(&mut volume, identity.volume_name);
    volume.push_str(",\"projected\":{\"sources\":[{\"serviceAccountToken\":{");
    if !identity.audience.is_empty() {
        volume.push_str("\"audience\":");
        push_quoted(&mut volume, identity.audience);
        volume.push(',');
    }
    volume.push_str("\"expirationSeconds\":");
    volume.push_str(&identity.expiration_seconds.to_string());
    volume.push_str(",\"path\":");
    push_quoted(&mut volume, identity.token_path);
    volume.push_str("}}]}}");
    volume
}
