//! The policy's settings: their types, their defaults and every validation
//! message. Settings are read from raw JSON by hand so that every mistake,
//! including a wrong type deep inside a mapping, is reported with the path of
//! the field, and so that `null` means "use the default" everywhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::parse;

pub const DEFAULT_PREFIX: &str = "eks.amazonaws.com";
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
pub const DEFAULT_EXPIRATION: i64 = 86400;
/// The API server refuses projected tokens that live less than ten minutes.
pub const API_SERVER_MIN_EXPIRATION: i64 = 600;
pub const DEFAULT_MOUNT_PATH: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
pub const DEFAULT_CC_URI: &str = "http://169.254.170.23/v1/credentials";
pub const DEFAULT_CC_AUDIENCE: &str = "pods.eks.amazonaws.com";
pub const DEFAULT_CC_MOUNT_PATH: &str = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount";
pub const DEFAULT_CC_VOLUME: &str = "eks-pod-identity-token";
pub const DEFAULT_CC_TOKEN_PATH: &str = "eks-pod-identity-token";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub annotation_prefix: String,
    pub token_audience: String,
    pub token_expiration: i64,
    pub min_token_expiration: i64,
    pub max_token_expiration: Option<i64>,
    pub token_mount_path: String,
    pub aws_default_region: String,
    pub sts_regional_endpoints: bool,
    pub lookup_service_accounts: bool,
    pub cache_service_accounts: bool,
    /// Keyed by `"<namespace>/<serviceaccount>"`; the namespace may be `*`.
    pub service_account_roles: BTreeMap<String, RoleMapping>,
    /// `None`: EKS Pod Identity mode is disabled.
    pub container_credentials: Option<ContainerCredentials>,
    /// The Pod annotation `<prefix>/role-arn` overrides the ServiceAccount's role.
    pub allow_pod_role_arn: bool,
    /// Patterns (`*` = any run of characters) a resolved role must match; empty = any.
    pub allowed_role_arns: Vec<String>,
    pub role_session_name: RoleSessionName,
    pub on_conflict: OnConflict,
    pub mode: PolicyMode,
}

/// Whether web-identity containers get `AWS_ROLE_SESSION_NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoleSessionName {
    #[default]
    None,
    /// The Pod's name, through the downward API.
    PodName,
}

/// What a conflicting container, mount or volume causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    #[default]
    Warn,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyMode {
    #[default]
    Mutate,
    /// Never mutates: rejects the Pods mutate mode would change.
    Audit,
}

/// A static role for a ServiceAccount (the reference's ConfigMap mode).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoleMapping {
    pub role_arn: String,
    pub audience: Option<String>,
    pub sts_regional_endpoints: Option<bool>,
    pub token_expiration: Option<i64>,
}

/// EKS Pod Identity: which ServiceAccounts use it and where the token goes.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerCredentials {
    pub identities: Vec<ServiceAccountRef>,
    pub full_uri: String,
    pub audience: String,
    pub mount_path: String,
    pub volume_name: String,
    pub token_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub service_account: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            annotation_prefix: DEFAULT_PREFIX.to_owned(),
            token_audience: DEFAULT_AUDIENCE.to_owned(),
            token_expiration: DEFAULT_EXPIRATION,
            min_token_expiration: API_SERVER_MIN_EXPIRATION,
            max_token_expiration: None,
            token_mount_path: DEFAULT_MOUNT_PATH.to_owned(),
            aws_default_region: String::new(),
            sts_regional_endpoints: false,
            lookup_service_accounts: true,
            cache_service_accounts: true,
            service_account_roles: BTreeMap::new(),
            container_credentials: None,
            allow_pod_role_arn: false,
            allowed_role_arns: Vec::new(),
            role_session_name: RoleSessionName::None,
            on_conflict: OnConflict::Warn,
            mode: PolicyMode::Mutate,
        }
    }
}

impl Default for ContainerCredentials {
    fn default() -> Self {
        ContainerCredentials {
            identities: Vec::new(),
            full_uri: DEFAULT_CC_URI.to_owned(),
            audience: DEFAULT_CC_AUDIENCE.to_owned(),
            mount_path: DEFAULT_CC_MOUNT_PATH.to_owned(),
            volume_name: DEFAULT_CC_VOLUME.to_owned(),
            token_path: DEFAULT_CC_TOKEN_PATH.to_owned(),
        }
    }
}

/// Every setting the policy accepts, for documentation checks.
pub const SETTING_NAMES: &[&str] = &[
    "annotationPrefix",
    "tokenAudience",
    "tokenExpiration",
    "minTokenExpiration",
    "maxTokenExpiration",
    "tokenMountPath",
    "awsDefaultRegion",
    "stsRegionalEndpoints",
    "lookupServiceAccounts",
    "cacheServiceAccounts",
    "serviceAccountRoles",
    "containerCredentials",
    "allowPodRoleArn",
    "allowedRoleArns",
    "roleSessionName",
    "onConflict",
    "mode",
];
const MAPPING_FIELDS: &[&str] = &[
    "roleArn",
    "audience",
    "stsRegionalEndpoints",
    "tokenExpiration",
];
/// The fields of `containerCredentials`, for documentation checks.
pub const CC_FIELDS: &[&str] = &[
    "identities",
    "fullUri",
    "audience",
    "mountPath",
    "volumeName",
    "tokenPath",
];
const IDENTITY_FIELDS: &[&str] = &["namespace", "serviceAccount"];

impl<'de> Deserialize<'de> for Settings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Settings::from_json(&value).map_err(serde::de::Error::custom)
    }
}

impl kubewarden_policy_sdk::settings::Validatable for Settings {
    fn validate(&self) -> Result<(), String> {
        Settings::validate(self)
    }
}

impl Settings {
    /// Reads the settings' types; [`Settings::validate`] checks their values.
    pub fn from_json(value: &Value) -> Result<Settings, String> {
        let d = Settings::default();
        let Some(fields) = Fields::new(value, "settings", SETTING_NAMES)? else {
            return Ok(d);
        };
        Ok(Settings {
            annotation_prefix: fields
                .string("annotationPrefix")?
                .unwrap_or(d.annotation_prefix),
            token_audience: fields.string("tokenAudience")?.unwrap_or(d.token_audience),
            token_expiration: fields.int("tokenExpiration")?.unwrap_or(d.token_expiration),
            min_token_expiration: fields
                .int("minTokenExpiration")?
                .unwrap_or(d.min_token_expiration),
            max_token_expiration: fields.int("maxTokenExpiration")?,
            token_mount_path: fields
                .string("tokenMountPath")?
                .unwrap_or(d.token_mount_path),
            aws_default_region: fields.string("awsDefaultRegion")?.unwrap_or_default(),
            sts_regional_endpoints: fields.bool("stsRegionalEndpoints")?.unwrap_or(false),
            lookup_service_accounts: fields.bool("lookupServiceAccounts")?.unwrap_or(true),
            cache_service_accounts: fields.bool("cacheServiceAccounts")?.unwrap_or(true),
            service_account_roles: read_mappings(fields.get("serviceAccountRoles"))?,
            container_credentials: read_container_credentials(fields.get("containerCredentials"))?,
            allow_pod_role_arn: fields.bool("allowPodRoleArn")?.unwrap_or(false),
            allowed_role_arns: read_strings(fields.get("allowedRoleArns"), "allowedRoleArns")?,
            role_session_name: fields
                .choice(
                    "roleSessionName",
                    &[
                        ("none", RoleSessionName::None),
                        ("podName", RoleSessionName::PodName),
                    ],
                )?
                .unwrap_or_default(),
            on_conflict: fields
                .choice(
                    "onConflict",
                    &[("warn", OnConflict::Warn), ("reject", OnConflict::Reject)],
                )?
                .unwrap_or_default(),
            mode: fields
                .choice(
                    "mode",
                    &[("mutate", PolicyMode::Mutate), ("audit", PolicyMode::Audit)],
                )?
                .unwrap_or_default(),
        })
    }

    /// Every value-level rule of the settings, each message naming its field.
    pub fn validate(&self) -> Result<(), String> {
        if !parse::is_dns_subdomain(&self.annotation_prefix) {
            return Err(format!(
                "annotationPrefix: {:?} is not a valid annotation-key prefix (a lowercase DNS subdomain such as \"eks.amazonaws.com\")",
                self.annotation_prefix
            ));
        }
        if self.min_token_expiration < API_SERVER_MIN_EXPIRATION {
            return Err(format!(
                "minTokenExpiration: must be at least {API_SERVER_MIN_EXPIRATION} seconds (the API server's minimum), got {}",
                self.min_token_expiration
            ));
        }
        if let Some(max) = self.max_token_expiration
            && max < self.min_token_expiration
        {
            return Err(format!(
                "maxTokenExpiration: must not be below minTokenExpiration ({}), got {max}",
                self.min_token_expiration
            ));
        }
        self.check_expiration("tokenExpiration", self.token_expiration)?;
        check_absolute("tokenMountPath", &self.token_mount_path)?;
        for (key, mapping) in &self.service_account_roles {
            self.check_mapping(key, mapping)?;
        }
        if let Some(cc) = &self.container_credentials {
            check_container_credentials(cc)?;
        }
        if let Some(i) = self.allowed_role_arns.iter().position(String::is_empty) {
            return Err(format!("allowedRoleArns[{i}]: must not be empty"));
        }
        Ok(())
    }

    fn check_mapping(&self, key: &str, mapping: &RoleMapping) -> Result<(), String> {
        let field = format!("serviceAccountRoles[{key:?}]");
        match key.split_once('/') {
            Some((ns, sa)) if !ns.is_empty() && !sa.is_empty() && !sa.contains('/') => {}
            _ => {
                return Err(format!(
                    "{field}: the key must be \"<namespace>/<serviceaccount>\" (namespace may be \"*\")"
                ));
            }
        }
        if mapping.role_arn.is_empty() {
            return Err(format!("{field}.roleArn: must not be empty"));
        }
        if let Some(expiration) = mapping.token_expiration {
            self.check_expiration(&format!("{field}.tokenExpiration"), expiration)?;
        }
        Ok(())
    }

    fn check_expiration(&self, field: &str, seconds: i64) -> Result<(), String> {
        let min = self.min_token_expiration;
        if seconds < min {
            return Err(format!(
                "{field}: must be at least minTokenExpiration ({min} seconds), got {seconds}"
            ));
        }
        match self.max_token_expiration {
            Some(max) if seconds > max => Err(format!(
                "{field}: must be at most maxTokenExpiration ({max} seconds), got {seconds}"
            )),
            _ => Ok(()),
        }
    }

    /// The static mapping for a ServiceAccount: the exact key, then `*/<sa>`.
    pub fn mapping_for(&self, namespace: &str, service_account: &str) -> Option<&RoleMapping> {
        self.exact_mapping(namespace, service_account).or_else(|| {
            self.service_account_roles
                .get(&format!("*/{service_account}"))
        })
    }

    pub fn exact_mapping(&self, namespace: &str, service_account: &str) -> Option<&RoleMapping> {
        self.service_account_roles
            .get(&format!("{namespace}/{service_account}"))
    }

    /// Whether `allowedRoleArns` lets `role` through (an empty list allows any role).
    pub fn allows_role(&self, role: &str) -> bool {
        self.allowed_role_arns.is_empty()
            || self
                .allowed_role_arns
                .iter()
                .any(|pattern| parse::glob_match(pattern, role))
    }

    /// Clamps an expiration to `[minTokenExpiration, maxTokenExpiration]`.
    pub fn clamp_expiration(&self, seconds: i64) -> i64 {
        let raised = seconds.max(self.min_token_expiration);
        self.max_token_expiration
            .map_or(raised, |max| raised.min(max))
    }
}

fn check_absolute(field: &str, path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{field}: must be an absolute path, got {path:?}"))
    }
}

fn check_container_credentials(cc: &ContainerCredentials) -> Result<(), String> {
    check_absolute("containerCredentials.mountPath", &cc.mount_path)?;
    if cc.volume_name.is_empty() {
        return Err("containerCredentials.volumeName: must not be empty".to_owned());
    }
    if cc.token_path.is_empty() {
        return Err("containerCredentials.tokenPath: must not be empty".to_owned());
    }
    if !parse::is_http_url(&cc.full_uri) {
        return Err(format!(
            "containerCredentials.fullUri: must be an http:// or https:// URL with a host, got {:?}",
            cc.full_uri
        ));
    }
    for (i, identity) in cc.identities.iter().enumerate() {
        let field = format!("containerCredentials.identities[{i}]");
        if identity.namespace.is_empty() {
            return Err(format!("{field}.namespace: must not be empty"));
        }
        if identity.service_account.is_empty() {
            return Err(format!("{field}.serviceAccount: must not be empty"));
        }
        if cc.identities[..i].contains(identity) {
            return Err(format!(
                "{field}: {}/{} is listed twice",
                identity.namespace, identity.service_account
            ));
        }
    }
    Ok(())
}

fn read_mappings(value: Option<&Value>) -> Result<BTreeMap<String, RoleMapping>, String> {
    let Some(map) = object_or_null(value, "serviceAccountRoles")? else {
        return Ok(BTreeMap::new());
    };
    map.iter()
        .map(|(key, entry)| {
            let path = format!("serviceAccountRoles[{key:?}]");
            let fields = Fields::new(entry, &path, MAPPING_FIELDS)?
                .ok_or_else(|| format!("{path}: must be an object with a roleArn"))?;
            let mapping = RoleMapping {
                role_arn: fields.string("roleArn")?.unwrap_or_default(),
                audience: fields.string("audience")?,
                sts_regional_endpoints: fields.bool("stsRegionalEndpoints")?,
                token_expiration: fields.int("tokenExpiration")?,
            };
            Ok((key.clone(), mapping))
        })
        .collect()
}

fn read_container_credentials(
    value: Option<&Value>,
) -> Result<Option<ContainerCredentials>, String> {
    let Some(fields) = Fields::new(
        value.unwrap_or(&Value::Null),
        "containerCredentials",
        CC_FIELDS,
    )?
    else {
        return Ok(None);
    };
    let d = ContainerCredentials::default();
    Ok(Some(ContainerCredentials {
        identities: read_identities(fields.get("identities"))?,
        full_uri: fields.string("fullUri")?.unwrap_or(d.full_uri),
        audience: fields.string("audience")?.unwrap_or(d.audience),
        mount_path: fields.string("mountPath")?.unwrap_or(d.mount_path),
        volume_name: fields.string("volumeName")?.unwrap_or(d.volume_name),
        token_path: fields.string("tokenPath")?.unwrap_or(d.token_path),
    }))
}

fn read_identities(value: Option<&Value>) -> Result<Vec<ServiceAccountRef>, String> {
    read_list(
        value,
        "containerCredentials.identities",
        "a list",
        |item, path| {
            let fields = Fields::new(item, path, IDENTITY_FIELDS)?.ok_or_else(|| {
                format!("{path}: must be an object with namespace and serviceAccount")
            })?;
            Ok(ServiceAccountRef {
                namespace: fields.string("namespace")?.unwrap_or_default(),
                service_account: fields.string("serviceAccount")?.unwrap_or_default(),
            })
        },
    )
}

fn read_strings(value: Option<&Value>, path: &str) -> Result<Vec<String>, String> {
    read_list(value, path, "a list of strings", |item, path| {
        item.as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{path}: must be a string, got {}", type_name(item)))
    })
}

/// A list setting: absent or `null` is empty; each item is read by `read_item`
/// with its own path (`<path>[<i>]`) for error messages.
fn read_list<T>(
    value: Option<&Value>,
    path: &str,
    what: &str,
    read_item: impl Fn(&Value, &str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("{path}: must be {what}, got {}", type_name(other))),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| read_item(item, &format!("{path}[{i}]")))
        .collect()
}

fn object_or_null<'a>(
    value: Option<&'a Value>,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(format!(
            "{path}: must be an object, got {}",
            type_name(other)
        )),
    }
}

/// The fields of one settings object, with typed getters whose errors name
/// the field. `null` reads as absent.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Fields<'a> {
    /// `None` when the object is `null`; an error on unknown fields.
    fn new(value: &'a Value, path: &'a str, known: &[&str]) -> Result<Option<Self>, String> {
        let Some(map) = object_or_null(Some(value), path)? else {
            return Ok(None);
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "{path}: unknown field {unknown:?} (known fields: {})",
                known.join(", ")
            ));
        }
        Ok(Some(Fields { map, path }))
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn field(&self, name: &str) -> String {
        if self.path == "settings" {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn typed<T>(
        &self,
        name: &str,
        what: &str,
        read: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => read(v).map(Some).ok_or_else(|| {
                format!("{}: must be {what}, got {}", self.field(name), type_name(v))
            }),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, String> {
        self.typed(name, "a string", |v| v.as_str().map(str::to_owned))
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, String> {
        self.typed(name, "a boolean", Value::as_bool)
    }

    /// One of a fixed set of spellings.
    fn choice<T: Copy>(&self, name: &str, choices: &[(&str, T)]) -> Result<Option<T>, String> {
        let Some(spelled) = self.string(name)? else {
            return Ok(None);
        };
        let found = choices.iter().find(|(word, _)| *word == spelled);
        found.map(|(_, value)| Some(*value)).ok_or_else(|| {
            let words: Vec<String> = choices.iter().map(|(w, _)| format!("{w:?}")).collect();
            format!(
                "{}: must be one of {}, got {spelled:?}",
                self.field(name),
                words.join(", ")
            )
        })
    }

    fn int(&self, name: &str) -> Result<Option<i64>, String> {
        self.typed(name, "an integer number of seconds", Value::as_i64)
    }
}

fn type_name(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
