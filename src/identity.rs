//! Which identity a Pod gets and with which values: container credentials for listed
//! ServiceAccounts, else web identity from the SA annotation or the static mappings; then audience,
//! regional STS, expiration (with clamping) and region, each from its source in precedence order.
//! Pure: no host calls.

use std::fmt::Display;

use crate::parse;
use crate::pod::{Annotations, PodFacts};
use crate::settings::{
    ContainerCredentials, RoleMapping, RoleSessionName, ServiceAccountRef, Settings,
};

/// What the policy learnt about the Pod's ServiceAccount.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceAccountLookup {
    /// `lookupServiceAccounts: false`: no host call was made.
    NotRead,
    /// Its `metadata.annotations` under the prefix.
    Read(Annotations),
    /// Both reads failed; the first line of the last host error.
    Unreadable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// IRSA: `AssumeRoleWithWebIdentity` with a projected token.
    WebIdentity,
    /// EKS Pod Identity: the node agent serves credentials at a URI.
    ContainerCredentials,
}

impl Mode {
    /// The env pair that makes an AWS SDK pick this identity up.
    pub fn pair_names(self) -> [&'static str; 2] {
        match self {
            Mode::WebIdentity => ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"],
            Mode::ContainerCredentials => [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            ],
        }
    }
}

/// Everything the mutation needs, fully resolved, borrowed from the settings and the annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity<'a> {
    pub mode: Mode,
    /// The role ARN (web identity) or the credentials URI (container credentials).
    pub credential: &'a str,
    /// The env value of the token file: mount path joined with the token path, in Windows form on
    /// Windows Pods.
    pub token_file: String,
    pub volume_name: &'a str,
    pub mount_path: &'a str,
    pub token_path: &'a str,
    /// Empty: the volume carries no audience.
    pub audience: &'a str,
    pub expiration_seconds: i64,
    pub regional_sts: bool,
    /// Empty: no region variables.
    pub region: &'a str,
    /// Add `AWS_ROLE_SESSION_NAME` from the Pod's name (web identity, `roleSessionName: podName`).
    pub session_name: bool,
    /// Add `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6` (container credentials,
    /// `ipv6EndpointMode`).
    pub ipv6_endpoint_mode: bool,
    /// Add `AWS_EC2_METADATA_DISABLED=true` (`disableInstanceMetadata`, both modes).
    pub disable_instance_metadata: bool,
    /// Where the role came from (web identity): `serviceaccount`, `mapping:<key>` or `pod`; for the
    /// audit trail.
    pub role_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resolution<'a> {
    pub identity: Option<Identity<'a>>,
    pub warnings: Vec<String>,
    /// Why the Pod must be rejected with 403 (a role outside `allowedRoleArns`).
    pub denied: Option<String>,
}

pub const WEB_IDENTITY_VOLUME: &str = "aws-iam-token";
pub const WEB_IDENTITY_TOKEN_PATH: &str = "token";
/// The lifetime EKS Pod Identity spreads over [`SPREAD_MIN`, 86400].
const SPREAD_FROM: i64 = 86400;
const SPREAD_MIN: i64 = 79200;

/// Decides the identity of one Pod. `uid` is the admission request's uid (it seeds the
/// container-credentials expiration spread).
pub fn resolve<'a>(
    settings: &'a Settings,
    pod: &'a PodFacts,
    sa: &'a ServiceAccountLookup,
    uid: &str,
) -> Resolution<'a> {
    let mut warnings = Vec::new();
    // Only formatted into a message.
    let (namespace, name) = (&pod.namespace, &pod.service_account);
    let who = format_args!("ServiceAccount {namespace}/{name}");
    let sa = match sa {
        ServiceAccountLookup::Read(annotations) => Some(annotations),
        ServiceAccountLookup::Unreadable(error) => {
            warnings.push(format!(
                "could not read {who}: {error}; continuing without its annotations"
            ));
            None
        }
        ServiceAccountLookup::NotRead => None,
    };
    let mut sources = Sources {
        settings,
        pod,
        sa,
        warnings,
    };
    let pod_role = sources.pod_role();
    let is_pod = |id: &ServiceAccountRef| {
        id.namespace == pod.namespace && id.service_account == pod.service_account
    };
    let listed =
        (settings.container_credentials.as_ref()).filter(|cc| cc.identities.iter().any(is_pod));
    let identity = match listed {
        Some(cc) => {
            // Without the SA, the exact mapping stands in for its annotations (never `*/sa`).
            let mapping = sa.is_none().then(|| settings.mapping_for(pod, false));
            let mapping = mapping.flatten().map(|(_, mapping)| mapping);
            let identity = sources.identity(Some(cc), &cc.full_uri, mapping);
            Some(Identity {
                expiration_seconds: spread_expiration(identity.expiration_seconds, uid),
                ipv6_endpoint_mode: cc.ipv6_endpoint_mode,
                ..identity
            })
        }
        None => sources.web_identity(pod_role, &who),
    };
    let denied = identity
        .as_ref()
        .filter(|id| id.mode == Mode::WebIdentity && !settings.allows_role(id.credential))
        .map(|id| {
            let role = id.credential;
            format!("role {role:?} of {who} is not allowed by the policy's allowedRoleArns")
        });
    Resolution {
        identity,
        warnings: sources.warnings,
        denied,
    }
}

/// The rules the settings give that only the decision applies: the mappings' precedence, the role
/// allow-list and the expiration clamps.
impl Settings {
    /// The static mapping for a ServiceAccount, with the key that matched: the exact key, then
    /// (with `wildcard`) `*/<sa>`.
    fn mapping_for(&self, pod: &PodFacts, wildcard: bool) -> Option<(&str, &RoleMapping)> {
        let sa = &pod.service_account;
        let keys = [format!("{}/{sa}", pod.namespace), format!("*/{sa}")];
        let keys = keys.get(..if wildcard { 2 } else { 1 }).unwrap_or_default();
        let (key, mapping) = keys
            .iter()
            .find_map(|key| self.service_account_roles.get_key_value(key))?;
        Some((key.as_str(), mapping))
    }

    /// Whether `allowedRoleArns` lets `role` through (an empty list allows any role).
    fn allows_role(&self, role: &str) -> bool {
        let patterns = &self.allowed_role_arns;
        patterns.is_empty() || patterns.iter().any(|p| parse::glob_match(p, role))
    }

    /// Clamps an expiration to `[minTokenExpiration, maxTokenExpiration]`.
    fn clamp_expiration(&self, seconds: i64) -> i64 {
        let raised = seconds.max(self.min_token_expiration);
        self.max_token_expiration
            .map_or(raised, |max| raised.min(max))
    }
}

/// The annotations of one request, read in the precedence the contract gives, and the warnings
/// reading them gave.
struct Sources<'a> {
    settings: &'a Settings,
    pod: &'a PodFacts,
    sa: Option<&'a Annotations>,
    warnings: Vec<String>,
}

impl<'a> Sources<'a> {
    fn sa_annotation(&self, name: &str) -> Option<&'a str> {
        self.sa.and_then(|a| a.get(name))
    }

    /// The Pod's own `<prefix>/role-arn`, honoured only with `allowPodRoleArn`.
    fn pod_role(&mut self) -> Option<&'a str> {
        let role = self.pod.annotations.get("role-arn");
        let role = role.filter(|r| !r.is_empty())?;
        if self.settings.allow_pod_role_arn {
            return Some(role);
        }
        let prefix = &self.settings.annotation_prefix;
        self.warnings.push(format!(
            "annotation {prefix}/role-arn on the Pod is ignored: the policy's allowPodRoleArn setting is false"
        ));
        None
    }

    /// The Pod's role, else the SA's annotation, else a static mapping.
    fn web_identity(
        &mut self,
        pod_role: Option<&'a str>,
        who: &dyn Display,
    ) -> Option<Identity<'a>> {
        let settings = self.settings;
        let sa_role = self.sa_annotation("role-arn").filter(|r| !r.is_empty());
        let (role_arn, mapping, source) = match (pod_role, sa_role) {
            (Some(role), _) => (role, None, "pod".to_owned()),
            (None, Some(role)) => (role, None, "serviceaccount".to_owned()),
            (None, None) => {
                let (key, mapping) = settings.mapping_for(self.pod, true)?;
                (&*mapping.role_arn, Some(mapping), format!("mapping:{key}"))
            }
        };
        if !parse::looks_like_role_arn(role_arn) {
            self.warnings.push(format!(
                "role ARN {role_arn:?} for {who} does not look like an IAM role ARN; it is injected as is"
            ));
        }
        let audience = self
            .sa_annotation("audience")
            .or_else(|| mapping.and_then(|m| m.audience.as_deref()))
            .unwrap_or(&settings.token_audience);
        let identity = self.identity(None, role_arn, mapping);
        let session_name = settings.role_session_name == RoleSessionName::PodName;
        Some(Identity {
            audience,
            session_name: session_name && self.pod_name_is_session_name(),
            role_source: Some(source),
            ..identity
        })
    }

    /// Whether the Pod's name can be the role session name. STS refuses the whole
    /// `AssumeRoleWithWebIdentity` call for a bad one, so the SDK would get no credentials at all;
    /// without the variable it makes up a session name of its own. An empty name is generated by
    /// the API server after admission (`generateName`: at most 58 + 5 characters), so it fits.
    fn pod_name_is_session_name(&mut self) -> bool {
        let name = &self.pod.name;
        if name.is_empty() || parse::is_role_session_name(name) {
            return true;
        }
        self.warnings.push(format!(
            "Pod name {name:?} cannot be an STS role session name (2 to 64 characters of letters, digits and _+=,.@-); AWS_ROLE_SESSION_NAME is not added"
        ));
        false
    }

    /// The identity of `credential`, with container credentials' paths and audience when `cc` is
    /// given, and the values both modes read alike: regional STS, expiration and region (a
    /// mapping's, where the SA has none).
    fn identity(
        &mut self,
        cc: Option<&'a ContainerCredentials>,
        credential: &'a str,
        mapping: Option<&RoleMapping>,
    ) -> Identity<'a> {
        let settings = self.settings;
        let (mode, volume_name, mount_path, token_path, audience) = match cc {
            Some(cc) => (
                Mode::ContainerCredentials,
                &*cc.volume_name,
                &*cc.mount_path,
                &*cc.token_path,
                &*cc.audience,
            ),
            None => (
                Mode::WebIdentity,
                WEB_IDENTITY_VOLUME,
                &*settings.token_mount_path,
                WEB_IDENTITY_TOKEN_PATH,
                &*settings.token_audience,
            ),
        };
        let region = self.sa_annotation("region").filter(|r| !r.is_empty());
        let regional_sts = self
            .sa_annotation("sts-regional-endpoints")
            .and_then(parse::go_bool)
            .or(mapping.and_then(|m| m.sts_regional_endpoints))
            .unwrap_or(settings.sts_regional_endpoints);
        Identity {
            mode,
            credential,
            token_file: self.token_file(mount_path, token_path),
            volume_name,
            mount_path,
            token_path,
            audience,
            expiration_seconds: self.expiration(mapping.and_then(|m| m.token_expiration)),
            regional_sts,
            // A non-empty SA `<prefix>/region` replaces `awsDefaultRegion`.
            region: region.unwrap_or(&settings.aws_default_region),
            session_name: false,
            ipv6_endpoint_mode: false,
            disable_instance_metadata: settings.disable_instance_metadata,
            role_source: None,
        }
    }

    /// Pod annotation, SA annotation (integers only), then `fallback`; clamped.
    fn expiration(&mut self, fallback: Option<i64>) -> i64 {
        let settings = self.settings;
        let asked = [
            ("Pod", self.pod.annotations.get("token-expiration")),
            ("ServiceAccount", self.sa_annotation("token-expiration")),
        ]
        .into_iter()
        .find_map(|(on, value)| value.and_then(parse::go_int).map(|v| (on, v)));
        let Some((on, asked)) = asked else {
            return settings.clamp_expiration(fallback.unwrap_or(settings.token_expiration));
        };
        let clamped = settings.clamp_expiration(asked);
        if clamped != asked {
            let bound = match clamped > asked {
                true => "raised to minTokenExpiration",
                false => "lowered to maxTokenExpiration",
            };
            let prefix = &settings.annotation_prefix;
            self.warnings.push(format!(
                "annotation {prefix}/token-expiration on the {on} asks for {asked} seconds; {bound} ({clamped} seconds)"
            ));
        }
        clamped
    }

    fn token_file(&self, mount_path: &str, token_path: &str) -> String {
        let path = parse::join_path(mount_path, token_path);
        match self.pod.is_windows {
            true => parse::windows_path(&path),
            false => path,
        }
    }
}

/// EKS spreads one-day tokens over [22h, 24h] so the node agent's refreshes do not all land at
/// once. The reference draws a random number; we hash the request uid so that the same request
/// always gets the same answer.
pub fn spread_expiration(seconds: i64, uid: &str) -> i64 {
    if seconds != SPREAD_FROM {
        return seconds;
    }
    let width = (SPREAD_FROM - SPREAD_MIN + 1) as u64;
    SPREAD_MIN + (parse::stable_hash(uid) % width) as i64
}
