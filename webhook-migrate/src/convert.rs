//! The mapping itself: webhook flags to settings, ConfigMap entries to `serviceAccountRoles`, the
//! identities file to `containerCredentials.identities`, the MutatingWebhookConfiguration to the
//! policy's own webhook fields. Everything not carried becomes a [`Note`]. The settings are
//! checked with the policy's own validation before anything is returned.

use aws_pod_identity_policy::settings::{API_SERVER_MIN_EXPIRATION, Settings};
use serde_yaml::{Mapping, Value};

use crate::flags::{self, Fate, Parsed};
use crate::gojson::{self, Entry, Identity};
use crate::manifests::{self, Found, Object};

/// What the user has of the webhook, as text, with where each came from.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Kubernetes manifests: `(path, text)`.
    pub manifests: Vec<(String, String)>,
    /// The webhook's flags given directly: `(origin, argv without the program)`.
    pub args: Option<(String, Vec<String>)>,
    /// The container-credentials identities file: `(path, text)`.
    pub identities: Option<(String, String)>,
    /// The Deployment's container that runs the webhook, when it has several.
    pub container: Option<String>,
}

/// Something the converted policy does not carry as given: what, and why / what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub subject: String,
    pub reason: String,
}

/// The result: the policy's settings and webhook fields, and the notes.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub settings: Mapping,
    /// `failurePolicy`, `namespaceSelector`, … in the order they are written.
    pub spec: Mapping,
    pub notes: Vec<Note>,
}

struct Builder {
    settings: Mapping,
    spec: Mapping,
    notes: Vec<Note>,
}

impl Builder {
    fn note(&mut self, subject: impl Into<String>, reason: impl Into<String>) {
        self.notes.push(Note {
            subject: subject.into(),
            reason: reason.into(),
        });
    }
}

fn key(name: &str) -> Value {
    Value::String(name.to_owned())
}

/// The whole conversion; `Err` names the file and the field or flag at fault.
pub fn convert(inputs: &Inputs) -> Result<Conversion, String> {
    let found = manifests::read(&inputs.manifests)?;
    let mut b = Builder {
        settings: Mapping::new(),
        spec: Mapping::new(),
        notes: Vec::new(),
    };
    let deployment = the_webhooks(
        &found.deployments,
        manifests::runs_the_webhook,
        "Deployment",
        &mut b,
    )?;
    let (origin, argv) = command_line(inputs, deployment)?;
    let parsed = flags::parse(&argv).map_err(|e| format!("{origin}: {e}"))?;
    flag_settings(&parsed, &mut b);
    dropped_flags(&parsed, &mut b);
    config_map(&parsed, &found, &mut b)?;
    container_credentials(&parsed, inputs.identities.as_ref(), &mut b)?;
    webhook_config(&parsed, &found, &mut b)?;
    for object in &found.others {
        b.note(
            object.origin.clone(),
            "part of the webhook's installation, not needed by the policy: delete it with the webhook",
        );
    }
    check(&b.settings, &origin, &found)?;
    Ok(Conversion {
        settings: b.settings,
        spec: b.spec,
        notes: b.notes,
    })
}

/// With several objects of a kind (a `kubectl get … -A` dump), the webhook's one; the others are
/// noted as ignored.
fn the_webhooks<'a>(
    objects: &'a [Object],
    is_it: impl Fn(&Object) -> bool,
    kind: &str,
    b: &mut Builder,
) -> Result<Option<&'a Object>, String> {
    if objects.len() <= 1 {
        return Ok(objects.first());
    }
    let chosen: Vec<&Object> = objects.iter().filter(|o| is_it(o)).collect();
    let [one] = chosen[..] else {
        let origins: Vec<&str> = objects.iter().map(|o| o.origin.as_str()).collect();
        return Err(format!(
            "{} {kind}s given ({}): cannot tell which is the webhook's; give it alone",
            objects.len(),
            origins.join(", ")
        ));
    };
    for other in objects.iter().filter(|o| !std::ptr::eq(*o, one)) {
        b.note(
            format!("{} (ignored)", other.origin),
            format!("not the webhook's {kind}"),
        );
    }
    Ok(Some(one))
}

/// The webhook's argv: from exactly one of the Deployment and the direct args; none means the
/// webhook run without flags.
fn command_line(
    inputs: &Inputs,
    deployment: Option<&Object>,
) -> Result<(String, Vec<String>), String> {
    match (deployment, &inputs.args) {
        (None, Some(args)) => Ok(args.clone()),
        (None, None) => Ok(("the webhook's flags".to_owned(), Vec::new())),
        (Some(deployment), None) => {
            manifests::deployment_args(deployment, inputs.container.as_deref())
        }
        (Some(deployment), Some((origin, _))) => Err(format!(
            "{} and {origin} both give the webhook's flags: give one",
            deployment.origin
        )),
    }
}

/// The flags that are settings, one to one, in the settings' order; each is written when given,
/// even with its default value.
fn flag_settings(parsed: &Parsed, b: &mut Builder) {
    let strings = [
        ("annotation-prefix", "annotationPrefix"),
        ("token-audience", "tokenAudience"),
    ];
    for (flag, setting) in strings {
        if let Some(value) = parsed.get(flag) {
            b.settings.insert(key(setting), key(value));
        }
    }
    if parsed.get("token-expiration").is_some() {
        let seconds = token_expiration(parsed);
        b.settings
            .insert(key("tokenExpiration"), Value::from(seconds));
        if parsed.get("token-expiration").and_then(flags::parse_int) != Some(seconds) {
            b.note(
                format!("--token-expiration={}", parsed.get("token-expiration").unwrap_or_default()),
                format!("the webhook raises it to {API_SERVER_MIN_EXPIRATION} at start (the API server's minimum); written as tokenExpiration: {seconds}, which the policy accepts"),
            );
        }
    }
    for (flag, setting) in [
        ("token-mount-path", "tokenMountPath"),
        ("aws-default-region", "awsDefaultRegion"),
    ] {
        if let Some(value) = parsed.get(flag) {
            b.settings.insert(key(setting), key(value));
        }
    }
    if parsed.get("sts-regional-endpoint").is_some() {
        let regional = parsed.flag("sts-regional-endpoint");
        b.settings
            .insert(key("stsRegionalEndpoints"), Value::Bool(regional));
    }
}

/// `--token-expiration` as the webhook uses it: raised to 600 (`ValidateMinTokenExpiration`).
fn token_expiration(parsed: &Parsed) -> i64 {
    let given = parsed.get("token-expiration").and_then(flags::parse_int);
    given.unwrap_or(86400).max(API_SERVER_MIN_EXPIRATION)
}

/// Every flag given that is not a setting, in the table's order.
fn dropped_flags(parsed: &Parsed, b: &mut Builder) {
    for flag in flags::FLAGS {
        if let (Fate::Dropped(reason), Some(value)) = (flag.fate, parsed.get(flag.name)) {
            b.note(format!("--{}={value}", flag.name), reason);
        }
    }
    for arg in &parsed.positional {
        b.note(
            format!("argument {arg:?}"),
            "not a flag: the webhook ignores it",
        );
    }
}

const CONFIG_MAP: &str = "pod-identity-webhook";

/// The ConfigMap the webhook reads (`pod-identity-webhook` in `--namespace`, only with
/// `--watch-config-map`) becomes `serviceAccountRoles`; every other one is noted as ignored.
fn config_map(parsed: &Parsed, found: &Found, b: &mut Builder) -> Result<(), String> {
    let namespace = parsed.get("namespace").unwrap_or("eks");
    let watch = parsed.flag("watch-config-map");
    let mut read = Vec::new();
    let others = found
        .config_maps
        .iter()
        .filter(|cm| cm.name() != CONFIG_MAP)
        .count();
    if others > 0 {
        // One line, not one per ConfigMap of a whole-cluster dump.
        b.note(
            format!("{others} other ConfigMap(s) (ignored)"),
            format!("the webhook reads only the ConfigMap named {CONFIG_MAP}"),
        );
    }
    for cm in found
        .config_maps
        .iter()
        .filter(|cm| cm.name() == CONFIG_MAP)
    {
        let why = if cm.namespace().is_some_and(|ns| ns != namespace) {
            format!("the webhook reads the one in its --namespace, {namespace}")
        } else if !watch {
            "the webhook reads no ConfigMap without --watch-config-map: its mappings were not in effect".to_owned()
        } else {
            read.push(cm);
            continue;
        };
        b.note(format!("{} (ignored)", cm.origin), why);
    }
    match (watch, &read[..]) {
        (false, _) => Ok(()),
        (true, []) => {
            b.note("--watch-config-map", format!("no ConfigMap {CONFIG_MAP} given: its mappings are not carried; add its file (kubectl -n {namespace} get configmap {CONFIG_MAP} -o yaml)"));
            Ok(())
        }
        (true, [cm]) => mappings(parsed, cm, b),
        (true, many) => Err(format!(
            "{} ConfigMaps {CONFIG_MAP} given for namespace {namespace}: give one",
            many.len()
        )),
    }
}

fn mappings(parsed: &Parsed, cm: &Object, b: &mut Builder) -> Result<(), String> {
    let at = &cm.origin;
    let config = match &cm.value["data"]["config"] {
        Value::String(config) => config,
        Value::Null => {
            return Err(format!(
                "{at}: data.config is missing (the webhook reads its mappings from it)"
            ));
        }
        _ => return Err(format!("{at}: data.config is not a string")),
    };
    let (entries, ignored) =
        gojson::config_entries(config).map_err(|e| format!("{at}: data.config: {e}"))?;
    b.note(
        "--watch-config-map",
        "its live reload is not carried: the ConfigMap's mappings become the static setting serviceAccountRoles; change the policy's settings instead of the ConfigMap",
    );
    for field in ignored {
        b.note(
            format!("{at}: data.config {field}"),
            "not a field of the webhook's entry (RoleARN, Audience, UseRegionalSTS, TokenExpiration): the webhook ignores it",
        );
    }
    let mut roles = std::collections::BTreeMap::new();
    for (name, entry) in &entries {
        if let Some(mapping) = mapping(parsed, at, name, entry, &entries, b)? {
            roles.insert(name.clone(), mapping);
        }
    }
    let roles: Mapping = roles.into_iter().map(|(k, v)| (key(&k), v)).collect();
    b.settings
        .insert(key("serviceAccountRoles"), Value::Mapping(roles));
    Ok(())
}

/// One entry, written with all four fields: the webhook never fills an entry's empty audience or
/// regional-STS flag from its flags (the policy would), only a zero `TokenExpiration`.
fn mapping(
    parsed: &Parsed,
    at: &str,
    name: &str,
    entry: &Entry,
    entries: &[(String, Entry)],
    b: &mut Builder,
) -> Result<Option<Value>, String> {
    let (namespace, service_account) = split_key(at, name)?;
    if namespace.is_empty() || service_account.is_empty() {
        b.note(
            format!("{at}: data.config {name:?}"),
            "an empty namespace or ServiceAccount matches no Pod: not carried",
        );
        return Ok(None);
    }
    if entry.role_arn.is_empty() {
        return empty_role(at, name, service_account, entries, b);
    }
    let seconds = match entry.token_expiration {
        0 => token_expiration(parsed),
        n if n < API_SERVER_MIN_EXPIRATION => {
            return Err(format!(
                "{at}: data.config {name:?}.TokenExpiration: {n} is below {API_SERVER_MIN_EXPIRATION}: the webhook uses it unclamped and the API server refuses those Pods; set {API_SERVER_MIN_EXPIRATION} or more, or 0 for --token-expiration"
            ));
        }
        n => n,
    };
    let mut mapping = Mapping::new();
    mapping.insert(key("roleArn"), key(&entry.role_arn));
    mapping.insert(key("audience"), key(&entry.audience));
    mapping.insert(
        key("stsRegionalEndpoints"),
        Value::Bool(entry.use_regional_sts),
    );
    mapping.insert(key("tokenExpiration"), Value::from(seconds));
    Ok(Some(Value::Mapping(mapping)))
}

/// `"<ns>/<sa>"` as the webhook splits it (`strings.Split(key, "/")`, then parts 0 and 1).
fn split_key<'a>(at: &str, name: &'a str) -> Result<(&'a str, &'a str), String> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts[..] {
        [namespace, service_account] => Ok((namespace, service_account)),
        [_] => Err(format!(
            "{at}: data.config {name:?}: the key has no \"/\", which makes the webhook panic; write \"<namespace>/<serviceaccount>\""
        )),
        _ => Err(format!(
            "{at}: data.config {name:?}: the webhook reads this key as \"{}/{}\" (it ignores what follows a second \"/\"); write that key",
            parts[0], parts[1]
        )),
    }
}

/// An entry without a role gives its Pods nothing; for a namespace, it also hides the `*/<sa>`
/// entry from the webhook, which the policy cannot express.
fn empty_role(
    at: &str,
    name: &str,
    service_account: &str,
    entries: &[(String, Entry)],
    b: &mut Builder,
) -> Result<Option<Value>, String> {
    let wildcard = format!("*/{service_account}");
    let hides = name != wildcard
        && entries
            .iter()
            .any(|(k, e)| *k == wildcard && !e.role_arn.is_empty());
    if hides {
        return Err(format!(
            "{at}: data.config {name:?}: its RoleARN is empty, which hides {wildcard:?} from this namespace in the webhook; the policy cannot express that: remove one of the two entries"
        ));
    }
    b.note(
        format!("{at}: data.config {name:?}"),
        "its RoleARN is empty: the webhook gives its Pods no role; not carried",
    );
    Ok(None)
}

const CC_FLAGS: [(&str, &str); 5] = [
    ("container-credentials-full-uri", "fullUri"),
    ("container-credentials-audience", "audience"),
    ("container-credentials-token-mount-path", "mountPath"),
    ("container-credentials-token-volume-name", "volumeName"),
    ("container-credentials-token-path", "tokenPath"),
];

/// EKS Pod Identity: on when the webhook watches an identities file.
fn container_credentials(
    parsed: &Parsed,
    file: Option<&(String, String)>,
    b: &mut Builder,
) -> Result<(), String> {
    let watched = parsed
        .get("watch-container-credentials-config")
        .filter(|path| !path.is_empty());
    let Some(watched) = watched else {
        return off(parsed, file, b);
    };
    let identities = match file {
        Some((path, text)) => identities(path, text, b)?,
        None => {
            b.note(format!("--watch-container-credentials-config={watched}"), "no identities file given: containerCredentials.identities is empty; add the file with --identities");
            Vec::new()
        }
    };
    let mut cc = Mapping::new();
    cc.insert(key("identities"), Value::Sequence(identities));
    for (flag, field) in CC_FLAGS {
        if let Some(value) = parsed.get(flag) {
            cc.insert(key(field), key(value));
        }
    }
    b.settings
        .insert(key("containerCredentials"), Value::Mapping(cc));
    Ok(())
}

/// Without the watched file the webhook gives no container credentials: its flags do nothing.
fn off(parsed: &Parsed, file: Option<&(String, String)>, b: &mut Builder) -> Result<(), String> {
    for (flag, _) in CC_FLAGS {
        if let Some(value) = parsed.get(flag) {
            b.note(
                format!("--{flag}={value}"),
                "has no effect without --watch-container-credentials-config: not carried",
            );
        }
    }
    if let Some((path, _)) = file {
        b.note(
            format!("{path} (ignored)"),
            "the webhook reads no identities file without --watch-container-credentials-config",
        );
    }
    Ok(())
}

fn identities(path: &str, text: &str, b: &mut Builder) -> Result<Vec<Value>, String> {
    let (list, ignored) = gojson::identities(text).map_err(|e| format!("{path}: {e}"))?;
    b.note(
        "--watch-container-credentials-config",
        "its live reload is not carried: the file's identities become the static setting containerCredentials.identities; change the policy's settings instead of the file",
    );
    for field in ignored {
        b.note(
            format!("{path}: {field}"),
            "not a field the webhook reads: it ignores it",
        );
    }
    let mut kept: Vec<Identity> = Vec::new();
    for (i, identity) in list.into_iter().enumerate() {
        if identity.namespace.is_empty() || identity.service_account.is_empty() {
            b.note(
                format!("{path}: identities[{i}]"),
                "an empty namespace or serviceAccount matches no Pod: not carried",
            );
        } else if !kept.contains(&identity) {
            kept.push(identity);
        }
    }
    Ok(kept.into_iter().map(identity_value).collect())
}

fn identity_value(identity: Identity) -> Value {
    let mut m = Mapping::new();
    m.insert(key("namespace"), key(&identity.namespace));
    m.insert(key("serviceAccount"), key(&identity.service_account));
    Value::Mapping(m)
}

/// The fields of the webhook's MutatingWebhookConfiguration that the policy's spec carries.
const CARRIED: [&str; 5] = [
    "namespaceSelector",
    "objectSelector",
    "timeoutSeconds",
    "matchPolicy",
    "matchConditions",
];

/// Fields Kubewarden writes itself in the webhook it registers for the policy.
const KUBEWARDEN_OWNS: [&str; 4] = [
    "name",
    "clientConfig",
    "sideEffects",
    "admissionReviewVersions",
];

fn webhook_config(parsed: &Parsed, found: &Found, b: &mut Builder) -> Result<(), String> {
    let service = parsed.get("service-name").unwrap_or("pod-identity-webhook");
    let calls = |mwc: &Object| manifests::calls(mwc, service);
    let kind = "MutatingWebhookConfiguration";
    let Some(mwc) = the_webhooks(&found.webhook_configs, calls, kind, b)? else {
        return readme_defaults(parsed, b);
    };
    let at = &mwc.origin;
    let webhook = match mwc.value["webhooks"].as_sequence().map(Vec::as_slice) {
        Some([webhook]) => webhook,
        Some(list) => {
            return Err(format!(
                "{at}: has {} webhooks: give a configuration with the pod-identity webhook only",
                list.len()
            ));
        }
        None => return Err(format!("{at}: webhooks is not a list")),
    };
    let failure = match &webhook["failurePolicy"] {
        Value::Null
            if mwc.value["apiVersion"].as_str() == Some("admissionregistration.k8s.io/v1beta1") =>
        {
            key("Ignore")
        }
        Value::Null => key("Fail"),
        Value::String(policy) if policy == "Ignore" || policy == "Fail" => key(policy),
        other => {
            return Err(format!(
                "{at}: webhooks[0].failurePolicy: {other:?} is neither Ignore nor Fail"
            ));
        }
    };
    if failure == key("Fail")
        && !serde_yaml::to_string(&webhook["namespaceSelector"])
            .unwrap_or_default()
            .contains("kubewarden")
    {
        b.note(format!("{at}: webhooks[0].failurePolicy"), "Fail: while policy-server is down no Pod is created where the policy applies, Kubewarden's own included: exclude policy-server's namespace with the namespaceSelector (README: Choosing failurePolicy)");
    }
    b.spec.insert(key("failurePolicy"), failure);
    for field in CARRIED {
        if !webhook[field].is_null() {
            b.spec.insert(key(field), webhook[field].clone());
        }
    }
    webhook_notes(at, webhook, b);
    skip_label(parsed, at, webhook, b);
    Ok(())
}

fn webhook_notes(at: &str, webhook: &Value, b: &mut Builder) {
    let pods_create: Value = serde_yaml::from_str(
        "[{apiGroups: [''], apiVersions: [v1], resources: [pods], operations: [CREATE]}]",
    )
    .unwrap_or_default();
    let mut rules = webhook["rules"].clone();
    if let Value::Sequence(list) = &mut rules {
        list.iter_mut().for_each(|rule| {
            if let Value::Mapping(rule) = rule {
                rule.remove("scope");
            }
        });
    }
    if rules != pods_create {
        b.note(
            format!("{at}: webhooks[0].rules"),
            "the policy's rules are Pod CREATE, all the webhook ever mutates",
        );
    }
    if webhook["reinvocationPolicy"].as_str() == Some("IfNeeded") {
        b.note(format!("{at}: webhooks[0].reinvocationPolicy"), "Kubewarden never sets it: containers that webhooks running after the policy add get no credentials (docs/differences.md)");
    }
    let owned: Vec<&str> = KUBEWARDEN_OWNS
        .into_iter()
        .filter(|f| !webhook[*f].is_null())
        .collect();
    if !owned.is_empty() {
        b.note(
            format!("{at}: webhooks[0].{}", owned.join(", ")),
            "the Kubewarden controller registers the policy's own webhook with its own values",
        );
    }
}

/// The policy skips Pods with the skip label in code; the webhook only through its objectSelector.
fn skip_label(parsed: &Parsed, at: &str, webhook: &Value, b: &mut Builder) {
    let prefix = parsed
        .get("annotation-prefix")
        .unwrap_or("eks.amazonaws.com");
    let label = format!("{prefix}/skip-pod-identity-webhook");
    let selector = serde_yaml::to_string(&webhook["objectSelector"]).unwrap_or_default();
    if !selector.contains(&label) {
        b.note(
            format!("{at}: webhooks[0].objectSelector"),
            format!("does not exclude the label {label}: the webhook mutated Pods so labelled, the policy always leaves them unchanged"),
        );
    }
}

/// Without the webhook's configuration: the README's choices, the skip label with the prefix.
fn readme_defaults(parsed: &Parsed, b: &mut Builder) -> Result<(), String> {
    let prefix = parsed
        .get("annotation-prefix")
        .unwrap_or("eks.amazonaws.com");
    let text = format!(
        "failurePolicy: Ignore\nnamespaceSelector:\n  matchExpressions:\n  - key: kubernetes.io/metadata.name\n    operator: NotIn\n    values: [kubewarden]\nobjectSelector:\n  matchExpressions:\n  - key: {prefix}/skip-pod-identity-webhook\n    operator: DoesNotExist\n"
    );
    let fields: Mapping = serde_yaml::from_str(&text)
        .map_err(|e| format!("--annotation-prefix={prefix}: not usable in a label key: {e}"))?;
    b.spec.extend(fields);
    b.note(
        "no MutatingWebhookConfiguration given",
        "failurePolicy and the selectors are the README's (Ignore, Kubewarden's namespace excluded, the skip label); give the webhook's to carry its own",
    );
    Ok(())
}

/// The converted settings must be settings the policy accepts; a refusal names the input it came
/// from.
fn check(settings: &Mapping, flags_origin: &str, found: &Found) -> Result<(), String> {
    let json =
        serde_json::to_value(settings).map_err(|e| format!("the converted settings: {e}"))?;
    let result = Settings::from_json(&json).and_then(|s| s.validate());
    result.map_err(|message| {
        let field = message.split([':', '[', '.']).next().unwrap_or_default();
        let source = match field {
            "serviceAccountRoles" => found
                .config_maps
                .iter()
                .find(|cm| cm.name() == CONFIG_MAP)
                .map_or("the ConfigMap".to_owned(), |cm| {
                    format!("{}: data.config", cm.origin)
                }),
            "containerCredentials" if message.contains("identities") => {
                "the identities file".to_owned()
            }
            _ => flags_origin.to_owned(),
        };
        format!("{source}: the policy refuses the converted settings: {message}")
    })
}
