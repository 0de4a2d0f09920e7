"""The credential-chain scenarios: for each, the settings, the ServiceAccount,
the Pod as submitted, what AWS looks like, and what each SDK must print (and
the stand-ins must have seen) for every container the policy processed.

The table in docs/sdks.md is written from these expectations (`suite.py
--write-docs`), and the suite checks that it is."""

from __future__ import annotations

from dataclasses import dataclass, field

ACCOUNT = "111122223333"
ISSUER = "https://my-cluster-irsa.s3.eu-west-1.amazonaws.com"
REGION = "eu-west-1"
GLOBAL = "sts.amazonaws.com"
REGIONAL = f"sts.{REGION}.amazonaws.com"
AGENT_V4 = "169.254.170.23"
AGENT_V6 = "[fd00:ec2::23]"


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


# Roles and whom their trust policy (irsa-oidc trust-policy) names.
ROLES = {
    role("app-reader"): ("team-a", "app"),
    role("reporter"): ("batch", "reporter"),
    role("external-dns"): ("kube-system", "external-dns"),
    role("team-b-reader"): ("team-b", "app"),
}
# EKS Pod Identity associations.
ASSOCIATIONS = {("team-a", "agent"): role("pod-identity-app")}
# An IAM user's static keys, as a container might carry them.
USER_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/ci-deployer"

SDKS = ("boto3", "aws-cli", "js", "rust")
SDK_TITLES = {"boto3": "boto3", "aws-cli": "AWS CLI v1", "js": "JavaScript v3", "rust": "Rust"}
# The session name each SDK makes up when AWS_ROLE_SESSION_NAME is not set (botocore
# `_generate_assume_role_name`, credential-provider-web-identity `fromWebToken`, aws-config `sts::util`).
DEFAULT_SESSION = {
    "boto3": r"botocore-session-\d{10}",
    "aws-cli": r"botocore-session-\d{10}",
    "js": r"aws-sdk-js-session-\d{13}",
    "rust": r"web-identity-token-\d{13}",
}


@dataclass(frozen=True)
class Ok:
    """The SDK printed an identity. `host`: the STS host every call went to. `session`: the exact
    session name (None: the SDK's default). `via`: `sts` (web identity), `agent` (Pod Identity,
    at `agent` host) or `static` (keys in the env: no AssumeRoleWithWebIdentity at all)."""

    host: str
    session: str | None = None
    via: str = "sts"
    agent: str = AGENT_V4


@dataclass(frozen=True)
class Fails:
    """The SDK failed with a message containing `message`; `code`: what STS answered at `host`
    (None: STS was never called). `agent`: the SDK had fetched credentials from the agent there."""

    message: str
    code: str | None = None
    host: str | None = None
    agent: str | None = None


def every(outcome) -> dict:
    return {sdk: outcome for sdk in SDKS}


@dataclass
class Case:
    name: str
    settings: dict
    pod: dict
    expect: dict
    # Annotations of the Pod's ServiceAccount (None: no ServiceAccount answer recorded).
    sa_annotations: dict | None = field(default_factory=lambda: {"eks.amazonaws.com/role-arn": role("app-reader")})
    warnings: list[str] = field(default_factory=list)
    # Not every case is its own row in docs/sdks.md: the row it belongs to.
    row: str | None = None
    # What differs in the world: "other-jwks" (the issuer publishes another key), "no-provider"
    # (IAM has no OIDC provider for the issuer), "expired" (the kubelet stand-in mints a token that
    # expired a day ago).
    world: str | None = None
    # A rejection message: the policy refuses the Pod, no SDK runs.
    rejected: str | None = None


def container(name: str, env: dict | None = None, **extra) -> dict:
    entries = [{"name": key, "value": value} for key, value in (env or {}).items()]
    return {"name": name, "image": "app:1", **({"env": entries} if entries else {}), **extra}


def pod(name: str, sa: str = "app", namespace: str = "team-a", containers=None, init=None,
        generate_name: str | None = None) -> dict:
    metadata = {"namespace": namespace}
    if generate_name:
        metadata["generateName"] = generate_name
    else:
        metadata["name"] = name
    spec = {"serviceAccountName": sa, "containers": containers or [container("app", {"LOG_LEVEL": "info"})]}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


REGIONAL_SETTINGS = {"awsDefaultRegion": REGION, "stsRegionalEndpoints": True}
NO_REGION = {
    "boto3": Ok(GLOBAL),
    "aws-cli": Ok(GLOBAL),
    "js": Fails("Region is missing"),
    "rust": Fails("Missing Region"),
}
LONG_NAME = "reports-" + "x" * 56  # 64 characters: the longest session name STS takes
TOO_LONG = LONG_NAME + "y"  # 65
STATIC_KEYS = {"AWS_ACCESS_KEY_ID": USER_KEY[0], "AWS_SECRET_ACCESS_KEY": USER_KEY[1]}
STATIC_WARNING = ("container app sets AWS_ACCESS_KEY_ID: AWS SDKs use these static keys before the "
                  "injected credentials, so the Pod does not act as its role")


def session_warning(name: str) -> str:
    return (f'Pod name "{name}" cannot be an STS role session name (2 to 64 characters of letters, digits '
            "and _+=,.@-); AWS_ROLE_SESSION_NAME is not added")


CASES = [
    Case("the README's example (default settings: no region)", {}, "README", NO_REGION),
    Case("default settings: no region", {}, pod("app"), NO_REGION),
    Case("awsDefaultRegion + regional STS", REGIONAL_SETTINGS, pod("app"), every(Ok(REGIONAL))),
    Case("the container sets only AWS_REGION", {},
         pod("app", containers=[container("app", {"AWS_REGION": REGION})]),
         {"boto3": Ok(GLOBAL), "aws-cli": Ok(GLOBAL), "js": Ok(REGIONAL), "rust": Ok(REGIONAL)}),
    Case("roleSessionName: podName", {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod("app"), every(Ok(REGIONAL, session="app"))),
    Case("roleSessionName: podName, a 64-character name", {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod(LONG_NAME), every(Ok(REGIONAL, session=LONG_NAME)), row="roleSessionName: podName"),
    Case("roleSessionName: podName, a 2-character name", {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod("ab"), every(Ok(REGIONAL, session="ab")), row="roleSessionName: podName"),
    Case("roleSessionName: podName, a name with dots", {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod("api.v2-0"), every(Ok(REGIONAL, session="api.v2-0")), row="roleSessionName: podName"),
    Case("roleSessionName: podName, a StatefulSet's Pod", {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod("db-0"), every(Ok(REGIONAL, session="db-0")), row="roleSessionName: podName"),
    Case("roleSessionName: podName, a ReplicaSet's Pod (generateName)",
         {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod("", generate_name="web-7d4b9c8f5-"), every(Ok(REGIONAL, session="generated")),
         row="roleSessionName: podName"),
    Case("roleSessionName: podName, a 65-character name", {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod(TOO_LONG), every(Ok(REGIONAL)), warnings=[session_warning(TOO_LONG)]),
    Case("roleSessionName: podName, a 1-character name", {**REGIONAL_SETTINGS, "roleSessionName": "podName"},
         pod("a"), every(Ok(REGIONAL)), warnings=[session_warning("a")],
         row="roleSessionName: podName, a 65-character name"),
    Case("static mapping batch/reporter",
         {**REGIONAL_SETTINGS, "serviceAccountRoles": {"batch/reporter": {"roleArn": role("reporter")}}},
         pod("report", sa="reporter", namespace="batch"), every(Ok(REGIONAL)), sa_annotations={}),
    Case("static mapping */external-dns",
         {**REGIONAL_SETTINGS, "serviceAccountRoles": {"*/external-dns": {"roleArn": role("external-dns")}}},
         pod("dns", sa="external-dns", namespace="kube-system"), every(Ok(REGIONAL)), sa_annotations={}),
    Case("container credentials, default settings (no region)",
         {"containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"),
         {"boto3": Ok(GLOBAL, via="agent"), "aws-cli": Ok(GLOBAL, via="agent"),
          "js": Fails("Region is missing"), "rust": Fails("Missing Region", agent=AGENT_V4)}, sa_annotations={}),
    Case("container credentials (IPv4 agent)",
         {**REGIONAL_SETTINGS, "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"), every(Ok(REGIONAL, via="agent")), sa_annotations={}),
    Case("container credentials (IPv6 agent, fullUri)",
         {**REGIONAL_SETTINGS, "containerCredentials": {
             "fullUri": "http://[fd00:ec2::23]/v1/credentials",
             "identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"), every(Ok(REGIONAL, via="agent", agent=AGENT_V6)), sa_annotations={}),
    Case("an init container and a native sidecar", REGIONAL_SETTINGS,
         pod("app", init=[container("migrate"), container("proxy", restartPolicy="Always")]),
         every(Ok(REGIONAL))),
    Case("the trust policy names another ServiceAccount", REGIONAL_SETTINGS, pod("app"),
         {sdk: Fails("Not authorized to perform sts:AssumeRoleWithWebIdentity", "AccessDenied", REGIONAL)
          for sdk in SDKS},
         sa_annotations={"eks.amazonaws.com/role-arn": role("team-b-reader")}),
    Case("the token's audience is not the provider's client ID", REGIONAL_SETTINGS, pod("app"),
         {sdk: Fails("Incorrect token audience", "InvalidIdentityToken", REGIONAL) for sdk in SDKS},
         sa_annotations={"eks.amazonaws.com/role-arn": role("app-reader"), "eks.amazonaws.com/audience": "my-app"}),
    Case("no IAM OIDC provider for the issuer", REGIONAL_SETTINGS, pod("app"),
         {sdk: Fails(f"No OpenIDConnect provider found in your account for {ISSUER}", "InvalidIdentityToken",
                     REGIONAL) for sdk in SDKS},
         world="no-provider"),
    Case("the published JWKS lacks the signing key", REGIONAL_SETTINGS, pod("app"),
         {sdk: Fails("Couldn't retrieve verification key from your identity provider", "InvalidIdentityToken",
                     REGIONAL) for sdk in SDKS},
         world="other-jwks"),
    Case("an expired token", REGIONAL_SETTINGS, pod("app"),
         {sdk: Fails("Token expired: current date/time", "ExpiredTokenException", REGIONAL) for sdk in SDKS},
         world="expired"),
    Case("the container sets a session name STS refuses", REGIONAL_SETTINGS,
         pod("app", containers=[container("app", {"AWS_ROLE_SESSION_NAME": "nightly report"})]),
         {sdk: Fails("at 'roleSessionName' failed to satisfy constraint", "ValidationError", REGIONAL) for sdk in SDKS},
         warnings=['container app sets AWS_ROLE_SESSION_NAME to "nightly report", which STS refuses as a role '
                   "session name (2 to 64 characters of letters, digits and _+=,.@-)"]),
    Case("static keys in the container's env", REGIONAL_SETTINGS,
         pod("app", containers=[container("app", STATIC_KEYS)]), every(Ok(REGIONAL, via="static")),
         warnings=[STATIC_WARNING]),
    Case("static keys in the container's env, onConflict: reject", {**REGIONAL_SETTINGS, "onConflict": "reject"},
         pod("app", containers=[container("app", STATIC_KEYS)]), {},
         rejected=STATIC_WARNING),
]
