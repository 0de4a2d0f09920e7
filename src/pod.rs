//! What the policy reads of a Pod, in one pass over its bytes: a skeleton of
//! borrowed strings and byte positions (metadata labels and annotations, the
//! ServiceAccount name, each container's name and the names in its `env` and
//! `volumeMounts`, the volumes, the node selector and `spec.os`). Everything
//! else is only scanned. Then the shape checks (each error names the
//! offending field) and the facts the decision needs.
//!
//! Duplicate keys: the last one counts, as in every JSON decoder the API
//! server uses.

use std::borrow::Cow;

use crate::parse;
use crate::scan::{self, Read, Scanner, Span};

/// A Pod the policy cannot work on; rejected with code 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl ShapeError {
    pub fn expected(field: &str, what: &str, got: &str) -> Self {
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

    /// Absent and `null` read as `None`; another kind is the error for
    /// `field` (its path is only built for the error).
    pub fn optional(
        &self,
        field: impl FnOnce() -> String,
        what: &str,
    ) -> Result<Option<&T>, ShapeError> {
        match self {
            Slot::Absent | Slot::Null(_) => Ok(None),
            Slot::Found(value) => Ok(Some(value)),
            Slot::Wrong(kind) => Err(ShapeError::expected(&field(), what, kind)),
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

/// The Pod object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pod<'a> {
    /// The object's own text; offsets below are into the text it was read from,
    /// which starts `base` bytes before this one.
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
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec<'a> {
    pub span: Span,
    pub service_account_name: Text<'a>,
    pub service_account: Text<'a>,
    pub node_selector: Slot<NodeSelector<'a>>,
    /// `spec.os.name`, when `spec.os` is an object.
    pub os_name: Text<'a>,
    pub init_containers: Slot<List<Item<Container<'a>>>>,
    pub containers: Slot<List<Item<Container<'a>>>>,
    pub volumes: Slot<List<Volume<'a>>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeSelector<'a> {
    pub os: Text<'a>,
    pub beta_os: Text<'a>,
}

/// A list and what was read of its items.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct List<T> {
    pub span: Span,
    pub items: Vec<T>,
}

/// A list item that must be an object: `Err` names the kind it was instead.
pub type Item<T> = Result<T, &'static str>;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Container<'a> {
    pub span: Span,
    pub name: Text<'a>,
    pub env: Slot<Env<'a>>,
    pub mounts: Slot<List<Mount<'a>>>,
}

/// The variables the policy adds or checks that the reference reads by name.
pub const KNOWN_VARS: [&str; 8] = [
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_ROLE_SESSION_NAME",
];

/// A container's `env` list: of the [`KNOWN_VARS`], which are defined, and the
/// literal `value` of the first entry of each (`Some(None)`: defined, no value).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Env<'a> {
    pub span: Span,
    pub known: [Option<Text<'a>>; KNOWN_VARS.len()],
}

impl<'a> Env<'a> {
    pub fn defines(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }

    /// The first entry named `name`: `Some(value)` when there is one.
    pub fn entry(&self, name: &str) -> Option<&Text<'a>> {
        let index = KNOWN_VARS.iter().position(|known| *known == name)?;
        self.known.get(index)?.as_ref()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mount<'a> {
    pub name: Text<'a>,
    pub mount_path: Text<'a>,
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
    let earlier = s.restart_depth();
    let outside = s.current_depth();
    let start = s.position();
    let pod = slot(s, b'{', |s| {
        let mut pod = Pod::default();
        let span = s.object(|s, key| match key.as_deref() {
            Some("kind") => slot(s, b'"', |s| s.string()).map(|kind| pod.kind = kind),
            Some("metadata") => slot(s, b'{', read_metadata).map(|m| pod.metadata = m),
            Some("spec") => slot(s, b'{', read_spec).map(|spec| pod.spec = spec),
            _ => ignore(s),
        })?;
        pod.span = span;
        Ok(pod)
    });
    let depth = s.deepest().saturating_sub(outside);
    s.merge_depth(earlier);
    let mut pod = pod?;
    if let Slot::Found(pod) = &mut pod {
        pod.depth = depth;
        pod.base = start;
        pod.text = s.text().get(start..pod.span.close + 1).unwrap_or_default();
    }
    Ok(pod)
}

fn read_metadata<'a>(s: &mut Scanner<'a>) -> Read<Metadata<'a>> {
    let mut metadata = Metadata::default();
    metadata.span = s.object(|s, key| match key.as_deref() {
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
        if let Some(key) = key {
            entries.push((key, value));
        }
        Ok(())
    })?;
    Ok(Pairs { span, entries })
}

fn read_spec<'a>(s: &mut Scanner<'a>) -> Read<Spec<'a>> {
    let mut spec = Spec::default();
    spec.span = s.object(|s, key| match key.as_deref() {
        Some("serviceAccountName") => s.text_value().map(|n| spec.service_account_name = n),
        Some("serviceAccount") => s.text_value().map(|n| spec.service_account = n),
        Some("nodeSelector") => slot(s, b'{', read_node_selector).map(|n| spec.node_selector = n),
        Some("os") => {
            let os = slot(s, b'{', |s| {
                let mut name = None;
                s.object(|s, key| match key.as_deref() {
                    Some("name") => s.text_value().map(|n| name = n),
                    _ => ignore(s),
                })?;
                Ok(name)
            })?;
            spec.os_name = match os {
                Slot::Found(name) => name,
                _ => None,
            };
            Ok(())
        }
        Some("initContainers") => {
            slot(s, b'[', read_containers).map(|list| spec.init_containers = list)
        }
        Some("containers") => slot(s, b'[', read_containers).map(|list| spec.containers = list),
        Some("volumes") => slot(s, b'[', read_volumes).map(|list| spec.volumes = list),
        _ => ignore(s),
    })?;
    Ok(spec)
}

fn read_node_selector<'a>(s: &mut Scanner<'a>) -> Read<NodeSelector<'a>> {
    let mut selector = NodeSelector::default();
    s.object(|s, key| match key.as_deref() {
        Some("kubernetes.io/os") => s.text_value().map(|os| selector.os = os),
        Some("beta.kubernetes.io/os") => s.text_value().map(|os| selector.beta_os = os),
        _ => ignore(s),
    })?;
    Ok(selector)
}

/// A list whose items must be objects; `read` reads each object.
fn read_objects<'a, T>(
    s: &mut Scanner<'a>,
    mut read: impl FnMut(&mut Scanner<'a>) -> Read<T>,
) -> Read<List<Item<T>>> {
    let mut items = Vec::new();
    let span = s.list(|s| {
        let first = s.peek()?;
        let item = match first {
            b'{' => Ok(read(s)?),
            _ => {
                s.skip()?;
                Err(scan::kind_name(first))
            }
        };
        items.push(item);
        Ok(())
    })?;
    Ok(List { span, items })
}

fn read_containers<'a>(s: &mut Scanner<'a>) -> Read<List<Item<Container<'a>>>> {
    read_objects(s, |s| {
        let mut container = Container::default();
        container.span = s.object(|s, key| match key.as_deref() {
            Some("name") => s.text_value().map(|name| container.name = name),
            Some("env") => slot(s, b'[', read_env).map(|env| container.env = env),
            Some("volumeMounts") => slot(s, b'[', read_mounts).map(|m| container.mounts = m),
            _ => ignore(s),
        })?;
        Ok(container)
    })
}

/// One env var or mount: its `name`, `value` and `mountPath` when strings
/// (the last of each key); an item that is not an object has none.
fn read_named<'a>(s: &mut Scanner<'a>) -> Read<[Text<'a>; 3]> {
    let mut fields: [Text<'a>; 3] = [None, None, None];
    if s.peek()? != b'{' {
        s.skip()?;
        return Ok(fields);
    }
    s.object(|s, key| {
        let index = match key.as_deref() {
            Some("name") => 0,
            Some("value") => 1,
            Some("mountPath") => 2,
            _ => return ignore(s),
        };
        let value = s.text_value()?;
        if let Some(field) = fields.get_mut(index) {
            *field = value;
        }
        Ok(())
    })?;
    Ok(fields)
}

fn read_env<'a>(s: &mut Scanner<'a>) -> Read<Env<'a>> {
    let mut env = Env::default();
    env.span = s.list(|s| {
        let [name, value, _] = read_named(s)?;
        let known = name
            .as_deref()
            .and_then(|name| KNOWN_VARS.iter().position(|known| *known == name));
        if let Some(slot) = known.and_then(|index| env.known.get_mut(index))
            && slot.is_none()
        {
            *slot = Some(value);
        }
        Ok(())
    })?;
    Ok(env)
}

fn read_mounts<'a>(s: &mut Scanner<'a>) -> Read<List<Mount<'a>>> {
    let mut items = Vec::new();
    let span = s.list(|s| {
        let [name, _, mount_path] = read_named(s)?;
        items.push(Mount { name, mount_path });
        Ok(())
    })?;
    Ok(List { span, items })
}

fn read_volumes<'a>(s: &mut Scanner<'a>) -> Read<List<Volume<'a>>> {
    let mut items = Vec::new();
    let span = s.list(|s| {
        let mut volume = Volume::default();
        if s.peek()? != b'{' {
            s.skip()?;
        } else {
            s.object(|s, key| match key.as_deref() {
                Some("name") => s
                    .text_value()
                    .map(|name| volume.name = name.unwrap_or_default()),
                Some("projected") => {
                    has_token_source(s).map(|found| volume.projected_token = found)
                }
                _ => ignore(s),
            })?;
        }
        items.push(volume);
        Ok(())
    })?;
    Ok(List { span, items })
}

/// Whether the value at the cursor is a `projected` volume source whose
/// `sources` list has a `serviceAccountToken` source.
fn has_token_source(s: &mut Scanner) -> Read<bool> {
    let projected = slot(s, b'{', |s| {
        let mut found = false;
        s.object(|s, key| match key.as_deref() {
            Some("sources") => {
                let sources = slot(s, b'[', |s| {
                    let mut any = false;
                    s.list(|s| {
                        let source = slot(s, b'{', |s| {
                            let mut token = false;
                            s.object(|s, key| {
                                token |= key.as_deref() == Some("serviceAccountToken");
                                ignore(s)
                            })?;
                            Ok(token)
                        })?;
                        any |= source == Slot::Found(true);
                        Ok(())
                    })?;
                    Ok(any)
                })?;
                found = sources == Slot::Found(true);
                Ok(())
            }
            _ => ignore(s),
        })?;
        Ok(found)
    })?;
    Ok(projected == Slot::Found(true))
}

/// The annotations under `<prefix>/` of a Pod or a ServiceAccount, keyed by
/// what follows the prefix (`role-arn`): the policy reads no others, so it
/// keeps no others. A value that is not a string reads as absent; the last of
/// duplicate keys wins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Annotations(Vec<(String, Option<String>)>);

impl Annotations {
    pub fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self.0.iter().rev().find(|(key, _)| key == name)?;
        value.as_deref()
    }

    /// Keeps the annotation `key` when it is under `prefix`.
    pub fn keep(&mut self, prefix: &str, key: &str, value: Option<&str>) {
        let name = key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'));
        if let Some(name) = name {
            self.0.push((name.to_owned(), value.map(str::to_owned)));
        }
    }
}

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
    pub fn lists_names(&self) -> bool {
        self.include
            .as_ref()
            .is_some_and(|(_, names)| !names.is_empty())
            || !self.skip.1.is_empty()
    }

    pub fn selects(&self, name: &str) -> bool {
        let included = self
            .include
            .as_ref()
            .is_none_or(|(_, names)| names.iter().any(|n| n == name));
        included && !self.skip.1.iter().any(|n| n == name)
    }

    /// One warning per listed name that matches no container or init container.
    pub fn unmatched(&self, names: &[String]) -> Vec<String> {
        let lists = self.include.iter().chain(std::iter::once(&self.skip));
        lists
            .flat_map(|(key, listed)| listed.iter().map(move |name| (key, name)))
            .filter(|(_, name)| !names.contains(name))
            .map(|(key, name)| format!("container {name:?} named in annotation {key} matches no container or init container"))
            .collect()
    }
}

/// What the decision needs to know about a Pod, owned so the views can go.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodFacts {
    pub namespace: String,
    pub service_account: String,
    /// The `<prefix>/…` entries of `metadata.annotations`.
    pub annotations: Annotations,
    pub is_windows: bool,
}

impl PodFacts {
    /// The Pod's annotation `<prefix>/<name>`.
    pub fn annotation(&self, name: &str) -> Option<&str> {
        self.annotations.get(name)
    }
}

/// The Pod, or the 400 for an object that is not one.
pub fn pod_object<'p, 'a>(object: &'p Slot<Pod<'a>>) -> Result<&'p Pod<'a>, ShapeError> {
    match object {
        Slot::Found(pod) => Ok(pod),
        Slot::Absent | Slot::Null(_) => Err(ShapeError(
            "object must be a JSON object (a Pod), got null".to_owned(),
        )),
        Slot::Wrong(kind) => Err(ShapeError::expected(
            "object",
            "a JSON object (a Pod)",
            kind,
        )),
    }
}

/// The label that opts a Pod out, whatever its value; checked before anything else.
pub fn has_skip_label(pod: &Pod, prefix: &str) -> bool {
    let is_skip = |key: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| rest == "/skip-pod-identity-webhook")
    };
    pod.metadata
        .found()
        .and_then(|metadata| metadata.labels.found())
        .is_some_and(|labels| labels.entries.iter().any(|(key, _)| is_skip(key)))
}

/// Checks the Pod-level shape and reads the facts; returns the spec too. The
/// lists are checked later, and only when an identity applies.
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
    let metadata = pod.metadata.optional(|| "metadata".to_owned(), "a map")?;
    let spec = match &pod.spec {
        Slot::Found(spec) => spec,
        Slot::Absent => return Err(ShapeError("spec is missing".to_owned())),
        Slot::Null(_) => return Err(ShapeError::expected("spec", "an object", "null")),
        Slot::Wrong(kind) => return Err(ShapeError::expected("spec", "an object", kind)),
    };
    if let Some(metadata) = metadata {
        metadata
            .labels
            .optional(|| "metadata.labels".to_owned(), "a map")?;
    }
    let annotations = match metadata {
        Some(metadata) => metadata
            .annotations
            .optional(|| "metadata.annotations".to_owned(), "a map")?,
        None => None,
    };
    let node_selector = spec
        .node_selector
        .optional(|| "spec.nodeSelector".to_owned(), "a map")?;

    let namespace = match request_namespace {
        "" => metadata
            .and_then(|m| m.namespace.as_deref())
            .unwrap_or_default()
            .to_owned(),
        ns => ns.to_owned(),
    };
    let service_account = [&spec.service_account_name, &spec.service_account]
        .into_iter()
        .filter_map(|name| name.as_deref())
        .find(|name| !name.is_empty())
        .unwrap_or("default")
        .to_owned();
    let facts = PodFacts {
        namespace,
        service_account,
        annotations: ours(annotations, prefix),
        is_windows: is_windows(node_selector, spec),
    };
    Ok((facts, spec))
}

/// Only the annotations under `<prefix>/`: the rest is never read, so never copied.
fn ours(annotations: Option<&Pairs>, prefix: &str) -> Annotations {
    let mut found = Annotations::default();
    for (key, value) in annotations.into_iter().flat_map(|a| a.entries.iter()) {
        found.keep(prefix, key, value.as_deref());
    }
    found
}

/// The EKS webhook looks at both node-selector keys; we also honour `spec.os.name`.
fn is_windows(node_selector: Option<&NodeSelector>, spec: &Spec) -> bool {
    let windows = |os: &Text| os.as_deref() == Some("windows");
    node_selector.is_some_and(|s| windows(&s.os) || windows(&s.beta_os)) || windows(&spec.os_name)
}

/// The items of a list: none when absent or `null`; any other value is a shape
/// error naming the field (its path is only built for the error).
pub fn items_of<T>(
    list: &Slot<List<T>>,
    field: impl FnOnce() -> String,
) -> Result<&[T], ShapeError> {
    Ok(list
        .optional(field, "a list")?
        .map_or(&[], |list| list.items.as_slice()))
}

/// The containers the Pod's `<prefix>/include-containers` and
/// `<prefix>/skip-containers` annotations pick. An annotation that is not
/// valid CSV counts as absent (as the EKS webhook does), with a warning.
pub fn container_selection(facts: &PodFacts, prefix: &str) -> Selection {
    let mut warnings = Vec::new();
    let mut listed = |name: &str, fallback: &str| {
        let Some(value) = facts.annotation(name) else {
            return (String::new(), None);
        };
        let key = format!("{prefix}/{name}");
        let names = parse::csv_names(value)
            .map_err(|problem| {
                warnings.push(format!(
                    "annotation {key} is not valid CSV ({problem}); {fallback}"
                ))
            })
            .ok();
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
