//! The policy's settings: their types, their defaults and every validation
//! message. Reading is serde's: derived structs that reject unknown fields at
//! every level, where `null` reads as the default, and whose errors name the
//! field's path (`serviceAccountRoles["a/b"].roleArn: …`) through
//! `serde_path_to_error`. [`Settings::validate`] then checks the values.

mod read;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::parse;
pub use read::nullable;
use read::{
    field_names, field_path, null_is, optional, or_default, type_name, unknown_field_message,
};

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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    #[serde(deserialize_with = "null_is::prefix")]
    pub annotation_prefix: String,
    #[serde(deserialize_with = "null_is::audience")]
    pub token_audience: String,
    #[serde(deserialize_with = "null_is::expiration")]
    pub token_expiration: i64,
    #[serde(deserialize_with = "null_is::min_expiration")]
    pub min_token_expiration: i64,
    #[serde(deserialize_with = "optional")]
    pub max_token_expiration: Option<i64>,
    #[serde(deserialize_with = "null_is::mount_path")]
    pub token_mount_path: String,
    #[serde(deserialize_with = "or_default")]
    pub aws_default_region: String,
    #[serde(deserialize_with = "or_default")]
    pub sts_regional_endpoints: bool,
    #[serde(deserialize_with = "null_is::yes")]
    pub lookup_service_accounts: bool,
    #[serde(deserialize_with = "null_is::yes")]
    pub cache_service_accounts: bool,
    /// Keyed by `"<namespace>/<serviceaccount>"`; the namespace may be `*`.
    #[serde(deserialize_with = "or_default")]
    pub service_account_roles: BTreeMap<String, RoleMapping>,
    /// `None`: EKS Pod Identity mode is disabled.
    #[serde(deserialize_with = "optional")]
    pub container_credentials: Option<ContainerCredentials>,
    /// The Pod annotation `<prefix>/role-arn` overrides the ServiceAccount's role.
    #[serde(deserialize_with = "or_default")]
    pub allow_pod_role_arn: bool,
    /// Patterns (`*` = any run of characters) a resolved role must match; empty = any.
    #[serde(deserialize_with = "or_default")]
    pub allowed_role_arns: Vec<String>,
    #[serde(deserialize_with = "or_default")]
    pub role_session_name: RoleSessionName,
    #[serde(deserialize_with = "or_default")]
    pub on_conflict: OnConflict,
    #[serde(deserialize_with = "or_default")]
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
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RoleMapping {
    #[serde(deserialize_with = "or_default")]
    pub role_arn: String,
    #[serde(deserialize_with = "optional")]
    pub audience: Option<String>,
    #[serde(deserialize_with = "optional")]
    pub sts_regional_endpoints: Option<bool>,
    #[serde(deserialize_with = "optional")]
    pub token_expiration: Option<i64>,
}

/// EKS Pod Identity: which ServiceAccounts use it and where the token goes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerCredentials {
    #[serde(deserialize_with = "or_default")]
    pub identities: Vec<ServiceAccountRef>,
    #[serde(deserialize_with = "null_is::cc_uri")]
    pub full_uri: String,
    #[serde(deserialize_with = "null_is::cc_audience")]
    pub audience: String,
    #[serde(deserialize_with = "null_is::cc_mount_path")]
    pub mount_path: String,
    #[serde(deserialize_with = "null_is::cc_volume")]
    pub volume_name: String,
    #[serde(deserialize_with = "null_is::cc_token_path")]
    pub token_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceAccountRef {
    #[serde(deserialize_with = "or_default")]
    pub namespace: String,
    #[serde(deserialize_with = "or_default")]
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

/// Every setting the policy accepts, as serde reads them (for documentation checks).
pub fn setting_names() -> &'static [&'static str] {
    field_names::<Settings>()
}

/// The fields of `containerCredentials`, as serde reads them.
pub fn container_credentials_fields() -> &'static [&'static str] {
    field_names::<ContainerCredentials>()
}

/// The fields of a `serviceAccountRoles` entry, as serde reads them.
pub fn role_mapping_fields() -> &'static [&'static str] {
    field_names::<RoleMapping>()
}

/// The fields of a `containerCredentials.identities` item, as serde reads them.
pub fn identity_fields() -> &'static [&'static str] {
    field_names::<ServiceAccountRef>()
}

impl kubewarden_policy_sdk::settings::Validatable for Settings {
    fn validate(&self) -> Result<(), String> {
        Settings::validate(self)
    }
}

impl Settings {
    /// Reads the settings' types; [`Settings::validate`] checks their values.
    pub fn from_json(value: &Value) -> Result<Settings, String> {
        match value {
            Value::Null => Ok(Settings::default()),
            Value::Object(_) => serde_path_to_error::deserialize(value).map_err(|e| {
                let segments: Vec<_> = e.path().iter().collect();
                let message = e.inner().to_string();
                // serde's path of an unknown field ends with the field itself:
                // the message names it, the path names the object.
                match unknown_field_message(&message) {
                    Some(unknown) => format!(
                        "{}: {unknown}",
                        field_path(&segments[..segments.len().saturating_sub(1)])
                    ),
                    None => format!("{}: {message}", field_path(&segments)),
                }
            }),
            other => Err(format!(
                "settings: must be an object, got {}",
                type_name(other)
            )),
        }
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

    /// The static mapping for a ServiceAccount, with the key that matched:
    /// the exact key, then `*/<sa>`.
    pub fn mapping_for(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Option<(&str, &RoleMapping)> {
        [
            format!("{namespace}/{service_account}"),
            format!("*/{service_account}"),
        ]
        .iter()
        .find_map(|key| self.service_account_roles.get_key_value(key))
        .map(|(key, mapping)| (key.as_str(), mapping))
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
