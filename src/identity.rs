//! Which identity a Pod gets and with which values: container credentials for
//! listed ServiceAccounts, else web identity from the SA annotation or the
//! static mappings; then audience, regional STS, expiration (with clamping)
//! and region, each from its source in precedence order. Pure: no host calls.

use std::borrow::Cow;

use crate::parse;
use crate::pod::{Annotations, PodFacts};
use crate::settings::{ContainerCredentials, RoleMapping, RoleSessionName, Settings};

/// The rules the settings give that the decision applies: the mappings'
/// precedence, the role allow-list and the expiration clamps.
trait Rules {
    fn mapping_for(&self, namespace: &str, service_account: &str) -> Option<(&str, &RoleMapping)>;
    fn exact_mapping(&self, namespace: &str, service_account: &str) -> Option<&RoleMapping>;
    fn allows_role(&self, role: &str) -> bool;
    fn clamp_expiration(&self, seconds: i64) -> i64;
}

impl Rules for Settings {
    /// The static mapping for a ServiceAccount, with the key that matched:
    /// the exact key, then `*/<sa>`.
    fn mapping_for(&self, namespace: &str, service_account: &str) -> Option<(&str, &RoleMapping)> {
        [
            format!("{namespace}/{service_account}"),
            format!("*/{service_account}"),
        ]
        .iter()
        .find_map(|key| self.service_account_roles.get_key_value(key))
        .map(|(key, mapping)| (key.as_str(), mapping))
    }

    fn exact_mapping(&self, namespace: &str, service_account: &str) -> Option<&RoleMapping> {
        self.service_account_roles
            .get(&format!("{namespace}/{service_account}"))
    }

    /// Whether `allowedRoleArns` lets `role` through (an empty list allows any role).
    fn allows_role(&self, role: &str) -> bool {
        self.allowed_role_arns.is_empty()
            || self
                .allowed_role_arns
                .iter()
                .any(|pattern| parse::glob_match(pattern, role))
    }

    /// Clamps an expiration to `[minTokenExpiration, maxTokenExpiration]`.
    fn clamp_expiration(&self, seconds: i64) -> i64 {
        let raised = seconds.max(self.min_token_expiration);
        self.max_token_expiration
            .map_or(raised, |max| raised.min(max))
    }
}

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

/// Everything the mutation needs, fully resolved; borrowed from the settings
/// and the annotations where it can be.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity<'a> {
    pub mode: Mode,
    /// The role ARN (web identity) or the credentials URI (container credentials).
    pub credential: Cow<'a, str>,
    /// The env value of the token file: mount path joined with the token path,
    /// in Windows form on Windows Pods.
    pub token_file: String,
    pub volume_name: Cow<'a, str>,
    pub mount_path: Cow<'a, str>,
    pub token_path: Cow<'a, str>,
    /// Empty: the volume carries no audience.
    pub audience: Cow<'a, str>,
    pub expiration_seconds: i64,
    pub regional_sts: bool,
    /// Empty: no region variables.
    pub region: Cow<'a, str>,
    /// Add `AWS_ROLE_SESSION_NAME` from the Pod's name (web identity, `roleSessionName: podName`).
    pub session_name: bool,
    /// Where the role came from (web identity): `serviceaccount`,
    /// `mapping:<key>` or `pod`; for the audit trail.
    pub role_source: Option<Cow<'a, str>>,
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

/// The annotations of one request, read in the precedence the contract gives.
struct Sources<'a> {
    settings: &'a Settings,
    pod: &'a PodFacts,
    sa: Option<&'a Annotations>,
}

impl<'a> Sources<'a> {
    /// The full key, for messages.
    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.settings.annotation_prefix)
    }

    fn sa_annotation(&self, name: &str) -> Option<&'a str> {
        self.sa.and_then(|a| a.get(name))
    }

    fn regional_sts(&self, mapping: Option<bool>) -> bool {
        self.sa_annotation("sts-regional-endpoints")
            .and_then(parse::go_bool)
            .or(mapping)
            .unwrap_or(self.settings.sts_regional_endpoints)
    }

    /// Pod annotation, SA annotation (integers only), then `fallback`; clamped.
    fn expiration(&self, fallback: Option<i64>, warnings: &mut Vec<String>) -> i64 {
        let asked = [
            ("Pod", self.pod.annotations.get("token-expiration")),
            ("ServiceAccount", self.sa_annotation("token-expiration")),
        ]
        .into_iter()
        .find_map(|(on, value)| value.and_then(parse::go_int).map(|v| (on, v)));
        let Some((on, asked)) = asked else {
            let seconds = fallback.unwrap_or(self.settings.token_expiration);
            return self.settings.clamp_expiration(seconds);
        };
        let clamped = self.settings.clamp_expiration(asked);
        if clamped != asked {
            let bound = if clamped > asked {
                "raised to minTokenExpiration"
            } else {
                "lowered to maxTokenExpiration"
            };
            let key = self.key("token-expiration");
            warnings.push(format!(
                "annotation {key} on the {on} asks for {asked} seconds; {bound} ({clamped} seconds)"
            ));
        }
        clamped
    }

    /// A non-empty SA `<prefix>/region` replaces `awsDefaultRegion`.
    fn region(&self) -> Cow<'a, str> {
        let region = self.sa_annotation("region").filter(|r| !r.is_empty());
        Cow::Borrowed(region.unwrap_or(&self.settings.aws_default_region))
    }

    /// The Pod's own `<prefix>/role-arn`, honoured only with `allowPodRoleArn`.
    fn pod_role(&self, warnings: &mut Vec<String>) -> Option<&'a str> {
        let role = self
            .pod
            .annotations
            .get("role-arn")
            .filter(|r| !r.is_empty())?;
        if self.settings.allow_pod_role_arn {
            return Some(role);
        }
        let key = self.key("role-arn");
        warnings.push(format!(
            "annotation {key} on the Pod is ignored: the policy's allowPodRoleArn setting is false"
        ));
        None
    }

    fn token_file(&self, mount_path: &str, token_path: &str) -> String {
        let path = parse::join_path(mount_path, token_path);
        if self.pod.is_windows {
            parse::windows_path(&path)
        } else {
            path
        }
    }
}

/// Decides the identity of one Pod. `uid` is the admission request's uid (it
/// seeds the container-credentials expiration spread).
pub fn resolve<'a>(
    settings: &'a Settings,
    pod: &'a PodFacts,
    sa: &'a ServiceAccountLookup,
    uid: &str,
) -> Resolution<'a> {
    let mut warnings = Vec::new();
    let annotations = match sa {
        ServiceAccountLookup::Read(annotations) => Some(annotations),
        ServiceAccountLookup::Unreadable(error) => {
            warnings.push(format!(
                "could not read ServiceAccount {}/{}: {error}; continuing without its annotations",
                pod.namespace, pod.service_account
            ));
            None
        }
        ServiceAccountLookup::NotRead => None,
    };
    let sources = Sources {
        settings,
        pod,
        sa: annotations,
    };
    let pod_role = sources.pod_role(&mut warnings);
    let identity = match listed_container_credentials(settings, pod) {
        Some(cc) => Some(container_credentials(&sources, cc, uid, &mut warnings)),
        None => web_identity(&sources, pod_role, &mut warnings),
    };
    let denied = identity
        .as_ref()
        .filter(|id| id.mode == Mode::WebIdentity && !settings.allows_role(&id.credential))
        .map(|id| {
            format!(
                "role {:?} of ServiceAccount {}/{} is not allowed by the policy's allowedRoleArns",
                id.credential, pod.namespace, pod.service_account
            )
        });
    Resolution {
        identity,
        warnings,
        denied,
    }
}

fn listed_container_credentials<'a>(
    settings: &'a Settings,
    pod: &PodFacts,
) -> Option<&'a ContainerCredentials> {
    settings.container_credentials.as_ref().filter(|cc| {
        cc.identities
            .iter()
            .any(|id| id.namespace == pod.namespace && id.service_account == pod.service_account)
    })
}

fn web_identity<'a>(
    sources: &Sources<'a>,
    pod_role: Option<&'a str>,
    warnings: &mut Vec<String>,
) -> Option<Identity<'a>> {
    let (settings, pod) = (sources.settings, sources.pod);
    let annotated = pod_role.map(|role| (role, "pod")).or_else(|| {
        let role = sources
            .sa_annotation("role-arn")
            .filter(|r| !r.is_empty())?;
        Some((role, "serviceaccount"))
    });
    let (role_arn, mapping, source) = match annotated {
        Some((role, source)) => (Cow::Borrowed(role), None, Cow::Borrowed(source)),
        None => {
            let (key, mapping): (&str, &RoleMapping) =
                settings.mapping_for(&pod.namespace, &pod.service_account)?;
            (
                Cow::Borrowed(mapping.role_arn.as_str()),
                Some(mapping),
                Cow::Owned(format!("mapping:{key}")),
            )
        }
    };
    if !parse::looks_like_role_arn(&role_arn) {
        warnings.push(format!(
            "role ARN {role_arn:?} for ServiceAccount {}/{} does not look like an IAM role ARN; it is injected as is",
            pod.namespace, pod.service_account
        ));
    }
    let audience = sources
        .sa_annotation("audience")
        .or_else(|| mapping.and_then(|m| m.audience.as_deref()))
        .unwrap_or(&settings.token_audience);
    Some(Identity {
        mode: Mode::WebIdentity,
        token_file: sources.token_file(&settings.token_mount_path, WEB_IDENTITY_TOKEN_PATH),
        credential: role_arn,
        volume_name: Cow::Borrowed(WEB_IDENTITY_VOLUME),
        mount_path: Cow::Borrowed(&settings.token_mount_path),
        token_path: Cow::Borrowed(WEB_IDENTITY_TOKEN_PATH),
        audience: Cow::Borrowed(audience),
        expiration_seconds: sources.expiration(mapping.and_then(|m| m.token_expiration), warnings),
        regional_sts: sources.regional_sts(mapping.and_then(|m| m.sts_regional_endpoints)),
        region: sources.region(),
        session_name: settings.role_session_name == RoleSessionName::PodName,
        role_source: Some(source),
    })
}

fn container_credentials<'a>(
    sources: &Sources<'a>,
    cc: &'a ContainerCredentials,
    uid: &str,
    warnings: &mut Vec<String>,
) -> Identity<'a> {
    let pod = sources.pod;
    // Without the SA, the exact mapping stands in for its annotations (never `*/sa`).
    let mapping = match sources.sa {
        Some(_) => None,
        None => sources
            .settings
            .exact_mapping(&pod.namespace, &pod.service_account),
    };
    let expiration = sources.expiration(mapping.and_then(|m| m.token_expiration), warnings);
    Identity {
        mode: Mode::ContainerCredentials,
        credential: Cow::Borrowed(&cc.full_uri),
        token_file: sources.token_file(&cc.mount_path, &cc.token_path),
        volume_name: Cow::Borrowed(&cc.volume_name),
        mount_path: Cow::Borrowed(&cc.mount_path),
        token_path: Cow::Borrowed(&cc.token_path),
        audience: Cow::Borrowed(&cc.audience),
        expiration_seconds: spread_expiration(expiration, uid),
        regional_sts: sources.regional_sts(mapping.and_then(|m| m.sts_regional_endpoints)),
        region: sources.region(),
        session_name: false,
        role_source: None,
    }
}

/// EKS spreads one-day tokens over [22h, 24h] so the node agent's refreshes do
/// not all land at once. The reference draws a random number; we hash the
/// request uid so that the same request always gets the same answer.
pub fn spread_expiration(seconds: i64, uid: &str) -> i64 {
    if seconds != SPREAD_FROM {
        return seconds;
    }
    let width = (SPREAD_FROM - SPREAD_MIN + 1) as u64;
    SPREAD_MIN + (parse::stable_hash(uid) % width) as i64
}
