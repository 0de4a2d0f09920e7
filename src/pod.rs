//! What the policy reads of a Pod, in one pass over its bytes: a skeleton of borrowed strings and
//! byte positions (metadata labels and annotations, the ServiceAccount name, each container's name
//! and the names in its `env` and `volumeMounts`, the volumes, the node selector and `spec.os`).
//! Everything else is only scanned. Then the shape checks (each error names the offending field)
//! and the facts the decision needs.
//!
//! Duplicate keys: the last one counts, as in every JSON decoder the API server uses.

use std::borrow::Cow;
use std::fmt::Display;

use crate::parse;
use crate::scan::{self, Read, Scanner, Span};

/// A Pod the policy cannot work on; rejected with code 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl ShapeError {
    pub fn expected(field: impl Display, what: &str, got: &str) -> Self {
        ShapeError(format!("{field} must be {what}, got {got}"))
    }
}

/// A value the policy reads as an object or a list, as it was found.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Slot<T> {
    #[default]
    Absent,
    /// `null`; the offset just after it.
    Null(usize),
    Found(T),
    /// Any other kind of value, named for the error message.
    Wrong(&'static str),
}

impl<T> Slot<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Slot::Found(value) => Some(value),
            _ => None,
        }
    }

    /// Absent and `null` read as `None`; another kind is the error for `field` (a `format_args!` is
    /// only formatted for the error).
    pub fn optional(&self, field: impl Display, what: &str) -> Result<Option<&T>, ShapeError> {
        match self {
            Slot::Absent | Slot::Null(_) => Ok(None),
            Slot::Found(value) => Ok(Some(value)),
            Slot::Wrong(kind) => Err(ShapeError::expected(field, what, kind)),
        }
    }

    /// What was found; anything else is the error for `field`.
    pub fn required(&self, field: impl Display, what: &str) -> Result<&T, ShapeError> {
        match self {
            Slot::Found(value) => Ok(value),
            Slot::Absent => Err(ShapeError(format!("{field} is missing"))),
            Slot::Null(_) => Err(ShapeError::expected(field, what, "null")),
            Slot::Wrong(kind) => Err(ShapeError::expected(field, what, kind)),
        }
    }

    /// The same slot with `f` of what was found.
    pub fn map_found<U>(&self, f: impl FnOnce(&T) -> U) -> Slot<U> {
        match self {
            Slot::Absent => Slot::Absent,
            Slot::Null(end) => Slot::Null(*end),
            Slot::Found(value) => Slot::Found(f(value)),
            Slot::Wrong(kind) => Slot::Wrong(kind),
        }
    }
}

/// A string field: `None` when absent, not a string, or undecodable.
pub type Text<'a> = Option<Cow<'a, str>>;

/// The Pod object (or any object: the ServiceAccount is read with it too).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pod<'a> {
    /// The object's own text; offsets below are into the text it was read from, which starts `base`
    /// bytes before this one.
    pub text: &'a str,
    pub base: usize,
    pub span: Span,
    /// `kind`: absent, `null`, or a string (`None` inside when it does not decode).
    pub kind: Slot<Text<'a>>,
    pub metadata: Slot<Metadata<'a>>,
    pub spec: Slot<Spec<'a>>,
    /// The deepest nesting inside the object (the object itself is 1).
    pub depth: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata<'a> {
    pub span: Span,
    pub name: Text<'a>,
    pub namespace: Text<'a>,
    pub labels: Slot<Pairs<'a>>,
    pub annotations: Slot<Pairs<'a>>,
}

/// The entries of a string map, in order, values read as text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pairs<'a> {
    pub span: Span,
    pub entries: Vec<(Cow<'a, str>, Text<'a>)>,
}

impl<'a> Pairs<'a> {
    /// The last entry for `key`, if any (its value is `None` when not a string).
    pub fn get(&self, key: &str) -> Option<&Text<'a>> {
        let (_, value) = self.entries.iter().rev().find(|(k, _)| k == key)?;
        Some(value)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec<'a> {
    pub span: Span,
    pub service_account_name: Text<'a>,
    pub service_account: Text<'a>,
    pub node_selector: Slot<Pairs<'a>>,
    pub os: Slot<Pairs<'a>>,
    pub init_containers: Slot<List<Slot<Container<'a>>>>,
    pub containers: Slot<List<Slot<Container<'a>>>>,
    pub volumes: Slot<List<Slot<Volume<'a>>>>,
}

/// A list and what was read of its items.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List<T> {
    pub span: Span,
    pub items: Vec<T>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Container<'a> {
    pub span: Span,
    pub name: Text<'a>,
    pub env: Slot<List<Slot<Named<'a>>>>,
    pub mounts: Slot<List<Slot<Named<'a>>>>,
}

/// An `env` entry or a volume mount: its `name`, `value` and `mountPath` when strings (the last of
/// each key).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Named<'a> {
    pub name: Text<'a>,
    pub value: Text<'a>,
    pub mount_path: Text<'a>,
}

/// The first item of `list` named `name`.
pub fn first_named<'l, 'a>(
    list: Option<&'l List<Slot<Named<'a>>>>,
    name: &str,
) -> Option<&'l Named<'a>> {
    let items = list.into_iter().flat_map(|list| list.items.iter());
    items
        .filter_map(Slot::found)
        .find(|item| item.name.as_deref() == Some(name))
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Volume<'a> {
    /// `""` when missing or not a string.
    pub name: Cow<'a, str>,
    /// `projected.sources` has a `serviceAccountToken` source.
    pub projected_token: bool,
}

/// The value at the cursor as a slot: `read` when it starts with `open`.
fn slot<'a, T>(
    s: &mut Scanner<'a>,
    open: u8,
    read: impl FnOnce(&mut Scanner<'a>) -> Read<T>,
) -> Read<Slot<T>> {
    let first = s.peek()?;
    if first == open {
        return read(s).map(Slot::Found);
    }
    s.skip()?;
    Ok(match first {
        b'n' => Slot::Null(s.offset()),
        _ => Slot::Wrong(scan::kind_name(first)),
    })
}

fn ignore(s: &mut Scanner) -> Read<()> {
    s.skip().map(drop)
}

/// Reads the Pod at the cursor (any value: the checks name what it is).
pub fn read_pod<'a>(s: &mut Scanner<'a>) -> Read<Slot<Pod<'a>>> {
    let outside = s.restart_depth();
    let start = s.position();
    let mut pod = slot(s, b'{', |s| {
        let mut pod = Pod::default();
        pod.span = s.object(|s, key| match key.as_deref() {
            Some("kind") => slot(s, b'"', |s| s.string()).map(|kind| pod.kind = kind),
            Some("metadata") => slot(s, b'{', read_metadata).map(|m| pod.metadata = m),
            Some("spec") => slot(s, b'{', read_spec).map(|spec| pod.spec = spec),
            _ => ignore(s),
        })?;
        Ok(pod)
    })?;
    if let Slot::Found(pod) = &mut pod {
        pod.depth = s.deepest().saturating_sub(outside);
        pod.base = start;
        pod.text = s.text().get(start..pod.span.close + 1).unwrap_or_default();
    }
    Ok(pod)
}

fn read_metadata<'a>(s: &mut Scanner<'a>) -> Read<Metadata<'a>> {
    let mut metadata = Metadata::default();
    metadata.span = s.object(|s, key| match key.as_deref() {
        Some("name") => s.text_value().map(|name| metadata.name = name),
        Some("namespace") => s.text_value().map(|ns| metadata.namespace = ns),
        Some("labels") => slot(s, b'{', read_pairs).map(|l| metadata.labels = l),
        Some("annotations") => slot(s, b'{', read_pairs).map(|a| metadata.annotations = a),
        _ => ignore(s),
    })?;
    Ok(metadata)
}

fn read_pairs<'a>(s: &mut Scanner<'a>) -> Read<Pairs<'a>> {
    let mut entries = Vec::new();
    let span = s.object(|s, key| {
        let value = s.text_value()?;
        entries.extend(key.map(|key| (key, value)));
        Ok(())
    })?;
    Ok(Pairs { span, entries })
}

fn read_spec<'a>(s: &mut Scanner<'a>) -> Read<Spec<'a>> {
    let mut spec = Spec::default();
    spec.span = s.object(|s, key| match key.as_deref() {
        Some("serviceAccountName") => s.text_value().map(|n| spec.service_account_name = n),
        Some("serviceAccount") => s.text_value().map(|n| spec.service_account = n),
        Some("nodeSelector") => slot(s, b'{', read_pairs).map(|n| spec.node_selector = n),
        Some("os") => slot(s, b'{', read_pairs).map(|os| spec.os = os),
        Some("initContainers") => slot(s, b'[', read_containers).map(|l| spec.init_containers = l),
        Some("containers") => slot(s, b'[', read_containers).map(|list| spec.containers = list),
        Some("volumes") => slot(s, b'[', read_volumes).map(|list| spec.volumes = list),
        _ => ignore(s),
    })?;
    Ok(spec)
}

/// A list whose items must be objects, each read by `read`.
fn read_list<'a, T>(
    s: &mut Scanner<'a>,
    mut read: impl FnMut(&mut Scanner<'a>) -> Read<T>,
) -> Read<List<Slot<T>>> {
    let mut items = Vec::new();
    let span = s.list(|s| {
        items.push(slot(s, b'{', &mut read)?);
        Ok(())
    })?;
    Ok(List { span, items })
}

fn read_containers<'a>(s: &mut Scanner<'a>) -> Read<List<Slot<Container<'a>>>> {
    read_list(s, |s| {
        let mut container = Container::default();
        container.span = s.object(|s, key| match key.as_deref() {
            Some("name") => s.text_value().map(|name| container.name = name),
            Some("env") => slot(s, b'[', read_env).map(|env| container.env = env),
            Some("volumeMounts") => {
                slot(s, b'[', |s| read_list(s, read_named)).map(|m| container.mounts = m)
            }
            _ => ignore(s),
        })?;
        Ok(container)
    })
}

/// The `AWS_…` entries of an `env` list: the policy looks up no others, and most Pods' variables
/// are not the SDK's.
fn read_env<'a>(s: &mut Scanner<'a>) -> Read<List<Slot<Named<'a>>>> {
    let mut items = Vec::new();
    let span = s.list(|s| {
        let var = slot(s, b'{', read_named)?;
        let name = var.found().and_then(|var| var.name.as_deref());
        if name.is_some_and(|name| name.starts_with("AWS_")) {
            items.push(var);
        }
        Ok(())
    })?;
    Ok(List { span, items })
}

fn read_named<'a>(s: &mut Scanner<'a>) -> Read<Named<'a>> {
    let mut named = Named::default();
    s.object(|s, key| match key.as_deref() {
        Some("name") => s.text_value().map(|text| named.name = text),
        Some("value") => s.text_value().map(|text| named.value = text),
        Some("mountPath") => s.text_value().map(|text| named.mount_path = text),
        _ => ignore(s),
    })?;
    Ok(named)
}

fn read_volumes<'a>(s: &mut Scanner<'a>) -> Read<List<Slot<Volume<'a>>>> {
    read_list(s, |s| {
        let mut volume = Volume::default();
        s.object(|s, key| match key.as_deref() {
            Some("name") => s.text_value().map(|n| volume.name = n.unwrap_or_default()),
            Some("projected") => has_token_source(s).map(|found| volume.projected_token = found),
            _ => ignore(s),
        })?;
        Ok(volume)
    })
}

/// Whether the value at the cursor is a `projected` volume source whose `sources` list has a
/// `serviceAccountToken` source.
fn has_token_source(s: &mut Scanner) -> Read<bool> {
    let mut found = false;
    slot(s, b'{', |s| {
        s.object(|s, key| match key.as_deref() {
            Some("sources") => {
                found = false;
                let mut source = |s: &mut Scanner| {
                    s.object(|s, key| {
                        found |= key.as_deref() == Some("serviceAccountToken");
                        ignore(s)
                    })
                };
                slot(s, b'[', |s| {
                    s.list(|s| slot(s, b'{', &mut source).map(drop))
                })
                .map(drop)
            }
            _ => ignore(s),
        })
    })?;
    Ok(found)
}

/// The annotations under `<prefix>/` of a Pod or a ServiceAccount, keyed by what follows the prefix
/// (`role-arn`): the policy reads no others, so it keeps no others. A value that is not a string
/// reads as absent; the last of duplicate keys wins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Annotations(Vec<(String, Option<String>)>);

impl Annotations {
    pub fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self.0.iter().rev().find(|(key, _)| key == name)?;
        value.as_deref()
    }
}

/// The `<prefix>/…` entries of an object's `metadata.annotations`: the rest is never read, so never
/// copied.
pub fn ours(object: &Pod, prefix: &str) -> Result<Annotations, ShapeError> {
    let metadata = object.metadata.optional("metadata", "a map")?;
    let annotations = metadata.map(|m| m.annotations.optional("metadata.annotations", "a map"));
    let entries = annotations.transpose()?.flatten().into_iter();
    let entries = entries.flat_map(|a| a.entries.iter());
    let ours = entries.filter_map(|(key, value)| {
        let name = key.strip_prefix(prefix)?.strip_prefix('/')?;
        Some((name.to_owned(), value.as_deref().map(str::to_owned)))
    });
    Ok(Annotations(ours.collect()))
}

/// Which containers the policy processes: those named in `include` (when the Pod has that
/// annotation), minus those named in `skip`.
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
    pub fn selects(&self, name: &str) -> bool {
        let included = self
            .include
            .as_ref()
            .is_none_or(|(_, names)| names.iter().any(|n| n == name));
        included && !self.skip.1.iter().any(|n| n == name)
    }

    /// One warning per listed name that matches no container or init container.
    pub fn unmatched(&self, names: &[&str]) -> Vec<String> {
        let lists = self.include.iter().chain(std::iter::once(&self.skip));
        lists
            .flat_map(|(key, listed)| listed.iter().map(move |name| (key, name)))
            .filter(|(_, name)| !names.contains(&name.as_str()))
            .map(|(key, name)| format!("container {name:?} named in annotation {key} matches no container or init container"))
            .collect()
    }
}

/// What the decision needs to know about a Pod, owned so the views can go.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodFacts {
    /// `metadata.name`; empty when the API server will generate it (`generateName`).
    pub name: String,
    pub namespace: String,
    pub service_account: String,
    /// The `<prefix>/…` entries of `metadata.annotations`.
    pub annotations: Annotations,
    pub is_windows: bool,
}

/// The label that opts a Pod out, whatever its value; checked before anything else.
pub fn has_skip_label(pod: &Pod, prefix: &str) -> bool {
    let is_skip = |key: &str| key.strip_prefix(prefix) == Some("/skip-pod-identity-webhook");
    let labels = pod
        .metadata
        .found()
        .and_then(|metadata| metadata.labels.found());
    labels.is_some_and(|labels| labels.entries.iter().any(|(key, _)| is_skip(key)))
}

/// Checks the Pod-level shape and reads the facts; returns the spec too. The lists are checked
/// later, and only when an identity applies.
pub fn read_facts<'p, 'a>(
    pod: &'p Pod<'a>,
    request_namespace: &str,
    prefix: &str,
) -> Result<(PodFacts, &'p Spec<'a>), ShapeError> {
    // The request says Pod; an object that says otherwise is not one to mutate.
    match &pod.kind {
        Slot::Absent | Slot::Null(_) => {}
        Slot::Found(Some(kind)) if kind == "Pod" => {}
        Slot::Found(Some(kind)) => {
            return Err(ShapeError(format!("kind is {kind:?}, not \"Pod\"")));
        }
        Slot::Found(None) => return Err(ShapeError::expected("kind", "\"Pod\"", "a string")),
        Slot::Wrong(got) => return Err(ShapeError::expected("kind", "\"Pod\"", got)),
    }
    let metadata = pod.metadata.optional("metadata", "a map")?;
    let spec = pod.spec.required("spec", "an object")?;
    if let Some(metadata) = metadata {
        metadata.labels.optional("metadata.labels", "a map")?;
    }
    let annotations = ours(pod, prefix)?;
    let node_selector = spec.node_selector.optional("spec.nodeSelector", "a map")?;
    let namespace = match request_namespace {
        "" => metadata
            .and_then(|m| m.namespace.as_deref())
            .unwrap_or_default(),
        ns => ns,
    };
    let service_account = [&spec.service_account_name, &spec.service_account]
        .into_iter()
        .filter_map(|name| name.as_deref())
        .find(|name| !name.is_empty())
        .unwrap_or("default");
    // The EKS webhook looks at both node-selector keys; we also honour `spec.os.name`.
    let windows = |pairs: Option<&Pairs>, key| {
        pairs
            .and_then(|p| p.get(key))
            .is_some_and(|os| os.as_deref() == Some("windows"))
    };
    let is_windows = windows(node_selector, "kubernetes.io/os")
        || windows(node_selector, "beta.kubernetes.io/os")
        || windows(spec.os.found(), "name");
    let name = metadata.and_then(|m| m.name.as_deref());
    let facts = PodFacts {
        name: name.unwrap_or_default().to_owned(),
        namespace: namespace.to_owned(),
        service_account: service_account.to_owned(),
        annotations,
        is_windows,
    };
    Ok((facts, spec))
}

/// The items of a list: none when absent or `null`; any other value is a shape error naming the
/// field.
pub fn items_of<T>(list: &Slot<List<T>>, field: impl Display) -> Result<&[T], ShapeError> {
    Ok(list
        .optional(field, "a list")?
        .map_or(&[], |list| list.items.as_slice()))
}

/// The containers the Pod's `<prefix>/include-containers` and `<prefix>/skip-containers`
/// annotations pick. An annotation that is not valid CSV counts as absent (as the EKS webhook
/// does), with a warning.
pub fn container_selection(facts: &PodFacts, prefix: &str) -> Selection {
    let mut warnings = Vec::new();
    let mut listed = |name: &str, fallback: &str| {
        let value = facts.annotations.get(name)?;
        let key = format!("{prefix}/{name}");
        match parse::csv_names(value) {
            Ok(names) => Some((key, names)),
            Err(problem) => {
                warnings.push(format!(
                    "annotation {key} is not valid CSV ({problem}); {fallback}"
                ));
                None
            }
        }
    };
    let include = listed("include-containers", "every container is processed");
    let skip = listed("skip-containers", "no container is skipped");
    Selection {
        include,
        skip: skip.unwrap_or_default(),
        warnings,
    }
}
