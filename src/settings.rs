//! The policy's settings: their types, their defaults and every validation message. Reading is
//! plain serde: derived structs that reject unknown fields at every level, whose errors carry the
//! field's path (`serviceAccountRoles["a/b"].roleArn: …`) through `serde_path_to_error`. A field
//! set to `null` is the field's default, as if absent. Then [`Settings::validate`] checks the
//! values.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::parse;

/// The API server refuses projected tokens that live less than ten minutes.
pub const API_SERVER_MIN_EXPIRATION: i64 = 600;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
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
    /// Also inject `AWS_EC2_METADATA_DISABLED=true` (both modes): the AWS SDKs for Java then fail
    /// with their web-identity error instead of running as the node's role (docs/sdks.md).
    pub disable_instance_metadata: bool,
    pub on_conflict: OnConflict,
    pub mode: PolicyMode,
}

/// Whether web-identity containers get `AWS_ROLE_SESSION_NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoleSessionName {
    #[default]
    None,
    /// The Pod's name, through the downward API.
    PodName,
}

/// What a conflicting container, mount or volume causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnConflict {
    #[default]
    Warn,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyMode {
    #[default]
    Mutate,
    /// Never mutates: rejects the Pods mutate mode would change.
    Audit,
}

/// A static role for a ServiceAccount (the reference's ConfigMap mode).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RoleMapping {
    pub role_arn: String,
    pub audience: Option<String>,
    pub sts_regional_endpoints: Option<bool>,
    pub token_expiration: Option<i64>,
}

/// EKS Pod Identity: which ServiceAccounts use it and where the token goes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerCredentials {
    pub identities: Vec<ServiceAccountRef>,
    pub full_uri: String,
    pub audience: String,
    pub mount_path: String,
    pub volume_name: String,
    pub token_path: String,
    /// Also inject `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6` (the `fullUri` host must be an
    /// IPv6 address): the AWS SDK for Java v1 takes `[fd00:ec2::23]` only with it (docs/sdks.md).
    pub ipv6_endpoint_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub service_account: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            annotation_prefix: "eks.amazonaws.com".to_owned(),
            token_audience: "sts.amazonaws.com".to_owned(),
            token_expiration: 86400,
            min_token_expiration: API_SERVER_MIN_EXPIRATION,
            max_token_expiration: None,
            token_mount_path: "/var/run/secrets/eks.amazonaws.com/serviceaccount".to_owned(),
            aws_default_region: String::new(),
            sts_regional_endpoints: false,
            lookup_service_accounts: true,
            cache_service_accounts: true,
            service_account_roles: BTreeMap::new(),
            container_credentials: None,
            allow_pod_role_arn: false,
            allowed_role_arns: Vec::new(),
            role_session_name: RoleSessionName::None,
            disable_instance_metadata: false,
            on_conflict: OnConflict::Warn,
            mode: PolicyMode::Mutate,
        }
    }
}

impl Default for ContainerCredentials {
    fn default() -> Self {
        ContainerCredentials {
            identities: Vec::new(),
            full_uri: "http://169.254.170.23/v1/credentials".to_owned(),
            audience: "pods.eks.amazonaws.com".to_owned(),
            mount_path: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount".to_owned(),
            volume_name: "eks-pod-identity-token".to_owned(),
            token_path: "eks-pod-identity-token".to_owned(),
            ipv6_endpoint_mode: false,
        }
    }
}

/// Every setting the policy accepts, in the struct's order (documentation checks use these lists; a
/// test holds each to its struct).
#[rustfmt::skip]
pub const SETTING_NAMES: &[&str] = &[
    "annotationPrefix", "tokenAudience", "tokenExpiration", "minTokenExpiration",
    "maxTokenExpiration", "tokenMountPath", "awsDefaultRegion", "stsRegionalEndpoints",
    "lookupServiceAccounts", "cacheServiceAccounts", "serviceAccountRoles",
    "containerCredentials", "allowPodRoleArn", "allowedRoleArns", "roleSessionName",
    "disableInstanceMetadata", "onConflict", "mode"
];

/// The fields of `containerCredentials`.
#[rustfmt::skip]
pub const CONTAINER_CREDENTIALS_FIELDS: &[&str] = &[
    "identities", "fullUri", "audience", "mountPath", "volumeName", "tokenPath",
    "ipv6EndpointMode"
];

/// The fields of a `serviceAccountRoles` entry.
#[rustfmt::skip]
pub const ROLE_MAPPING_FIELDS: &[&str] = &[
    "roleArn", "audience", "stsRegionalEndpoints", "tokenExpiration"
];

/// The fields of a `containerCredentials.identities` item.
#[rustfmt::skip]
pub const IDENTITY_FIELDS: &[&str] = &[
    "namespace", "serviceAccount"
];

impl Settings {
    /// Reads the settings' types; [`Settings::validate`] checks their values.
    pub fn from_json(value: &Value) -> Result<Settings, String> {
        match value {
            Value::Null => return Ok(Settings::default()),
            // serde would read a struct from a list too.
            Value::Object(_) => {}
            _ => return Err("settings: invalid type, expected an object".to_owned()),
        }
        let mut value = value.clone();
        drop_null_fields(&mut value, SETTING_NAMES);
        serde_path_to_error::deserialize(value)
            .map_err(|e| format!("{}: {}", field_path(e.path()), e.inner()))
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
        for (i, pattern) in self.allowed_role_arns.iter().enumerate() {
            non_empty(format_args!("allowedRoleArns[{i}]"), pattern)?;
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
        non_empty(format_args!("{field}.roleArn"), &mapping.role_arn)?;
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
}

fn non_empty(field: impl std::fmt::Display, value: &str) -> Result<(), String> {
    match value.is_empty() {
        true => Err(format!("{field}: must not be empty")),
        false => Ok(()),
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
    non_empty("containerCredentials.volumeName", &cc.volume_name)?;
    non_empty("containerCredentials.tokenPath", &cc.token_path)?;
    if !parse::is_http_url(&cc.full_uri) {
        return Err(format!(
            "containerCredentials.fullUri: must be an http:// or https:// URL with a host, got {:?}",
            cc.full_uri
        ));
    }
    // With an IPv4 agent the variable would make the Java SDKs refuse it.
    if cc.ipv6_endpoint_mode && !parse::has_ipv6_host(&cc.full_uri) {
        return Err(format!(
            "containerCredentials.ipv6EndpointMode: needs a fullUri whose host is an IPv6 address, got {:?}",
            cc.full_uri
        ));
    }
    for (i, identity) in cc.identities.iter().enumerate() {
        let field = format!("containerCredentials.identities[{i}]");
        non_empty(format_args!("{field}.namespace"), &identity.namespace)?;
        non_empty(
            format_args!("{field}.serviceAccount"),
            &identity.service_account,
        )?;
        if cc.identities[..i].contains(identity) {
            return Err(format!(
                "{field}: {}/{} is listed twice",
                identity.namespace, identity.service_account
            ));
        }
    }
    Ok(())
}

/// Leaves out the `null` fields of `value` (an object of the struct whose fields are `known`), and
/// of the nested structs' (`containerCredentials`, a mapping, an identity): serde then gives each
/// the default it gives an absent field. A `null` list item, mapping or unknown field stays, and is
/// serde's error.
fn drop_null_fields(value: &mut Value, known: &[&str]) {
    let Value::Object(map) = value else {
        return;
    };
    map.retain(|key, value| !(value.is_null() && known.contains(&key.as_str())));
    let top = known == SETTING_NAMES;
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("serviceAccountRoles", Value::Object(roles)) if top => roles
                .values_mut()
                .for_each(|mapping| drop_null_fields(mapping, ROLE_MAPPING_FIELDS)),
            ("containerCredentials", cc) if top => {
                drop_null_fields(cc, CONTAINER_CREDENTIALS_FIELDS)
            }
            ("identities", Value::Array(ids)) if known == CONTAINER_CREDENTIALS_FIELDS => ids
                .iter_mut()
                .for_each(|id| drop_null_fields(id, IDENTITY_FIELDS)),
            _ => {}
        }
    }
}

/// `serviceAccountRoles["a/b"].roleArn`, `containerCredentials.identities[1]`; `settings` for the
/// object itself.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut in_roles = false;
    for segment in path.iter() {
        let part = match segment {
            Segment::Seq { index } => format!("[{index}]"),
            Segment::Map { key } if in_roles => format!("[{key:?}]"),
            Segment::Map { key } if out.is_empty() => key.clone(),
            Segment::Map { key } => format!(".{key}"),
            Segment::Enum { variant } => format!(".{variant}"),
            Segment::Unknown => ".?".to_owned(),
        };
        in_roles = matches!(segment, Segment::Map { key } if key == "serviceAccountRoles");
        out += &part;
    }
    if out.is_empty() {
        "settings".to_owned()
    } else {
        out
    }
}
