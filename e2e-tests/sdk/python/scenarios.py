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

SDKS = ("boto3", "aws-cli", "js", "rust", "go-v2", "go-v1", "java-v2", "java-v1")
SDK_TITLES = {"boto3": "boto3", "aws-cli": "AWS CLI v1", "js": "JavaScript v3", "rust": "Rust",
              "go-v2": "Go v2", "go-v1": "Go v1", "java-v2": "Java v2", "java-v1": "Java v1"}
# Probes that stand for an SDK in a build that differs from the column's (docs/sdks.md shows
# them in that column): Java v2 without the `sts` module on the classpath.
VARIANTS = {"java-v2-no-sts": "java-v2", "java-v1-no-sts": "java-v1"}
# The node's instance profile role, as GetCallerIdentity names the credentials the instance
# metadata service hands out (the EC2 user guide's "IAM roles for Amazon EC2").
NODE_INSTANCE = "i-0a1b2c3d4e5f60718"
NODE_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/node/{NODE_INSTANCE}"
# The session name each SDK makes up when AWS_ROLE_SESSION_NAME is not set (botocore
# `_generate_assume_role_name`, credential-provider-web-identity `fromWebToken`, aws-config `sts::util`).
DEFAULT_SESSION = {
    "boto3": r"botocore-session-\d{10}",
    "aws-cli": r"botocore-session-\d{10}",
    "js": r"aws-sdk-js-session-\d{13}",
    "rust": r"web-identity-token-\d{13}",
    # Go: the decimal UnixNano (stscreds web_identity_provider.go); Java: aws-sdk-java-<epoch ms>
    # (WebIdentityTokenFileCredentialsProvider, STSAssumeRoleWithWebIdentitySessionCredentialsProvider).
    "go-v2": r"\d{19}",
    "go-v1": r"\d{19}",
    "java-v2": r"aws-sdk-java-\d{13}",
    "java-v2-no-sts": r"aws-sdk-java-\d{13}",
    "java-v1": r"aws-sdk-java-\d{13}",
    "java-v1-no-sts": r"aws-sdk-java-\d{13}",
}


@dataclass(frozen=True)
class Fails:
    """The SDK failed with a message containing `message`; `code`: what STS answered at `host`
    (None: STS was never called). `agent`: the SDK had fetched credentials from the agent there.
    `imds`: what it read from the instance metadata service ("region", "credentials")."""

    message: str
    code: str | None = None
    host: str | None = None
    agent: str | None = None
    imds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ok:
    """The SDK printed an identity. `host`: the STS host GetCallerIdentity went to (and web
    identity, when it is `via` sts). `session`: the exact session name (None: the SDK's default).
    `via`: `sts` (web identity), `agent` (Pod Identity, at `agent` host), `static` (keys in the
    env: no AssumeRoleWithWebIdentity at all) or `imds` (the node's role, from the instance
    metadata service). `imds`: what else it read there ("region"). `after`: what failed first,
    before the SDK's chain went on to the next provider (Java's chains do)."""

    host: str
    session: str | None = None
    via: str = "sts"
    agent: str = AGENT_V4
    imds: tuple[str, ...] = ()
    after: Fails | None = None


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
    # Every case runs with the node's instance metadata service reachable; these SDKs' outcomes
    # when it is not (hop limit 1, or blocked), run too and shown as their own row.
    imds_off: dict | None = None


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
# No region in the env: the JavaScript, Rust and Java SDKs take the node's from its instance metadata.
NO_REGION = {
    "boto3": Ok(GLOBAL),
    "aws-cli": Ok(GLOBAL),
    "js": Ok(REGIONAL, imds=("region",)),
    "rust": Ok(REGIONAL, imds=("region",)),
    "go-v2": Fails("Missing Region"),
    "go-v1": Ok(GLOBAL),
    "java-v2": Ok(REGIONAL, imds=("region",)),
    "java-v1": Ok(GLOBAL, imds=("region",)),
}
JAVA_NO_REGION = "Unable to load region from any of the providers in the chain"
JAVA_V1_NO_REGION = "Unable to find a region via the region provider chain"
NO_REGION_IMDS_OFF = {
    "js": Fails("Region is missing"),
    "rust": Fails("Missing Region"),
    "java-v2": Fails(JAVA_NO_REGION),
    "java-v1": Fails(JAVA_V1_NO_REGION),
}
# Java's chains go on to the next provider after any error: with nothing else in the env, to
# the instance metadata service, the node's role (and without it, a chain error).
JAVA_NO_CREDENTIALS = "Unable to load credentials from any of the providers in the chain"
JAVA_V1_NO_CREDENTIALS = "Unable to load AWS credentials from any provider in the chain"
# Java v1 takes [fd00:ec2::23] only with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 (and the
# message says "withing").
JAVA_V1_IPV6 = ("The full URI (http://[fd00:ec2::23]/v1/credentials) contained withing environment variable "
                "AWS_CONTAINER_CREDENTIALS_FULL_URI has an invalid host")


def refused(message: str, code: str, host: str = REGIONAL) -> dict:
    """STS refuses web identity: every SDK fails with STS's message but Java's, which go on to
    the node's role (with the instance metadata service on) or fail with their chain's error."""
    fails = Fails(message, code, host)
    return {**{sdk: fails for sdk in SDKS},
            "java-v2": Ok(host, via="imds", after=fails), "java-v1": Ok(host, via="imds", after=fails)}


def refused_imds_off(code: str, host: str = REGIONAL) -> dict:
    return {"java-v2": Fails(JAVA_NO_CREDENTIALS, code, host), "java-v1": Fails(JAVA_V1_NO_CREDENTIALS, code, host)}

LONG_NAME = "reports-" + "x" * 56  # 64 characters: the longest session name STS takes
TOO_LONG = LONG_NAME + "y"  # 65
STATIC_KEYS = {"AWS_ACCESS_KEY_ID": USER_KEY[0], "AWS_SECRET_ACCESS_KEY": USER_KEY[1]}
STATIC_WARNING = ("container app sets AWS_ACCESS_KEY_ID: AWS SDKs use these static keys before the "
                  "injected credentials, so the Pod does not act as its role")


def session_warning(name: str) -> str:
    return (f'Pod name "{name}" cannot be an STS role session name (2 to 64 characters of letters, digits '
            "and _+=,.@-); AWS_ROLE_SESSION_NAME is not added")


CASES = [
    Case("the README's example (default settings: no region)", {}, "README", NO_REGION,
         imds_off=NO_REGION_IMDS_OFF),
    Case("default settings: no region", {}, pod("app"), NO_REGION, imds_off=NO_REGION_IMDS_OFF),
    Case("awsDefaultRegion + regional STS", REGIONAL_SETTINGS, pod("app"), every(Ok(REGIONAL))),
    Case("the container sets only AWS_REGION", {},
         pod("app", containers=[container("app", {"AWS_REGION": REGION})]),
         {"boto3": Ok(GLOBAL), "aws-cli": Ok(GLOBAL), "js": Ok(REGIONAL), "rust": Ok(REGIONAL),
          "go-v2": Ok(REGIONAL), "go-v1": Ok(GLOBAL), "java-v2": Ok(REGIONAL), "java-v1": Ok(GLOBAL)}),
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
          "js": Ok(REGIONAL, via="agent", imds=("region",)), "rust": Ok(REGIONAL, via="agent", imds=("region",)),
          "go-v2": Fails("Missing Region", agent=AGENT_V4), "go-v1": Ok(GLOBAL, via="agent"),
          "java-v2": Ok(REGIONAL, via="agent", imds=("region",)), "java-v1": Ok(GLOBAL, via="agent", imds=("region",))},
         sa_annotations={},
         imds_off={"js": Fails("Region is missing"), "rust": Fails("Missing Region", agent=AGENT_V4),
                   "java-v2": Fails(JAVA_NO_REGION), "java-v1": Fails(JAVA_V1_NO_REGION)}),
    Case("container credentials (IPv4 agent)",
         {**REGIONAL_SETTINGS, "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"), every(Ok(REGIONAL, via="agent")), sa_annotations={}),
    Case("container credentials (IPv6 agent, fullUri)",
         {**REGIONAL_SETTINGS, "containerCredentials": {
             "fullUri": "http://[fd00:ec2::23]/v1/credentials",
             "identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"),
         {**every(Ok(REGIONAL, via="agent", agent=AGENT_V6)), "java-v1": Fails(JAVA_V1_IPV6)},
         sa_annotations={}),
    Case("an init container and a native sidecar", REGIONAL_SETTINGS,
         pod("app", init=[container("migrate"), container("proxy", restartPolicy="Always")]),
         every(Ok(REGIONAL))),
    Case("the trust policy names another ServiceAccount", REGIONAL_SETTINGS, pod("app"),
         refused("Not authorized to perform sts:AssumeRoleWithWebIdentity", "AccessDenied"),
         sa_annotations={"eks.amazonaws.com/role-arn": role("team-b-reader")},
         imds_off=refused_imds_off("AccessDenied")),
    Case("the token's audience is not the provider's client ID", REGIONAL_SETTINGS, pod("app"),
         refused("Incorrect token audience", "InvalidIdentityToken"),
         sa_annotations={"eks.amazonaws.com/role-arn": role("app-reader"), "eks.amazonaws.com/audience": "my-app"},
         imds_off=refused_imds_off("InvalidIdentityToken")),
    Case("no IAM OIDC provider for the issuer", REGIONAL_SETTINGS, pod("app"),
         refused(f"No OpenIDConnect provider found in your account for {ISSUER}", "InvalidIdentityToken"),
         world="no-provider", imds_off=refused_imds_off("InvalidIdentityToken")),
    Case("the published JWKS lacks the signing key", REGIONAL_SETTINGS, pod("app"),
         refused("Couldn't retrieve verification key from your identity provider", "InvalidIdentityToken"),
         world="other-jwks", imds_off=refused_imds_off("InvalidIdentityToken")),
    Case("an expired token", REGIONAL_SETTINGS, pod("app"),
         refused("Token expired: current date/time", "ExpiredTokenException"),
         world="expired", imds_off=refused_imds_off("ExpiredTokenException")),
    Case("the container sets a session name STS refuses", REGIONAL_SETTINGS,
         pod("app", containers=[container("app", {"AWS_ROLE_SESSION_NAME": "nightly report"})]),
         refused("at 'roleSessionName' failed to satisfy constraint", "ValidationError"),
         imds_off=refused_imds_off("ValidationError"),
         warnings=['container app sets AWS_ROLE_SESSION_NAME to "nightly report", which STS refuses as a role '
                   "session name (2 to 64 characters of letters, digits and _+=,.@-)"]),
    Case("static keys in the container's env", REGIONAL_SETTINGS,
         pod("app", containers=[container("app", STATIC_KEYS)]), every(Ok(REGIONAL, via="static")),
         warnings=[STATIC_WARNING]),
    Case("static keys in the container's env, onConflict: reject", {**REGIONAL_SETTINGS, "onConflict": "reject"},
         pod("app", containers=[container("app", STATIC_KEYS)]), {},
         rejected=STATIC_WARNING),
    # Go and Java (issue 28): the STS host without the regional flag, the flag without a region.
    Case("awsDefaultRegion, regional STS off", {"awsDefaultRegion": REGION}, pod("app"),
         {**every(Ok(REGIONAL)), "go-v1": Ok(GLOBAL), "java-v1": Ok(GLOBAL)}),
    Case("regional STS without a region", {"stsRegionalEndpoints": True}, pod("app"),
         {**NO_REGION, "java-v1": Ok(REGIONAL, imds=("region",))}, imds_off=NO_REGION_IMDS_OFF),
    # An application built without the sts module (AWS's guide says web identity needs it).
    Case("Java without the sts module", REGIONAL_SETTINGS, pod("app"),
         {"java-v2-no-sts": Ok(REGIONAL, via="imds"), "java-v1-no-sts": Ok(REGIONAL, via="imds")},
         imds_off={"java-v2-no-sts": Fails("To use web identity tokens, the 'sts' service module must be on the class path"),
                   "java-v1-no-sts": Fails("To use assume role profiles the aws-java-sdk-sts module must be on the class path")}),
    Case("Java without the sts module, container credentials",
         {**REGIONAL_SETTINGS, "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"),
         {"java-v2-no-sts": Ok(REGIONAL, via="agent"), "java-v1-no-sts": Ok(REGIONAL, via="agent")}, sa_annotations={}),
    # What Java v1 needs for the IPv6 agent, and what AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6
    # costs the others: their instance metadata client moves to [fd00:ec2::254].
    Case("container credentials (IPv6 agent, ipv6EndpointMode)",
         {**REGIONAL_SETTINGS, "containerCredentials": {
             "fullUri": "http://[fd00:ec2::23]/v1/credentials", "ipv6EndpointMode": True,
             "identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"), every(Ok(REGIONAL, via="agent", agent=AGENT_V6)), sa_annotations={}),
    Case("container credentials (IPv6 agent, ipv6EndpointMode, no region)",
         {"containerCredentials": {
             "fullUri": "http://[fd00:ec2::23]/v1/credentials", "ipv6EndpointMode": True,
             "identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"),
         {"boto3": Ok(GLOBAL, via="agent", agent=AGENT_V6), "aws-cli": Ok(GLOBAL, via="agent", agent=AGENT_V6),
          "js": Ok(REGIONAL, via="agent", agent=AGENT_V6, imds=("region over IPv6",)),
          "rust": Ok(REGIONAL, via="agent", agent=AGENT_V6, imds=("region over IPv6",)),
          "go-v2": Fails("Missing Region", agent=AGENT_V6), "go-v1": Ok(GLOBAL, via="agent", agent=AGENT_V6),
          "java-v2": Ok(REGIONAL, via="agent", agent=AGENT_V6, imds=("region over IPv6",)),
          # Java v1's region lookup does not follow the variable: it asks at 169.254.169.254.
          "java-v1": Ok(GLOBAL, via="agent", agent=AGENT_V6, imds=("region",))},
         sa_annotations={}),
    # disableInstanceMetadata (issue 28 item 4): AWS_EC2_METADATA_DISABLED=true keeps every SDK off the
    # instance metadata service, so Java's chains end in an error instead of the node's role.
    Case("disableInstanceMetadata", {**REGIONAL_SETTINGS, "disableInstanceMetadata": True}, pod("app"),
         every(Ok(REGIONAL))),
    Case("disableInstanceMetadata, container credentials",
         {**REGIONAL_SETTINGS, "disableInstanceMetadata": True,
          "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "agent"}]}},
         pod("agent", sa="agent"), every(Ok(REGIONAL, via="agent")), sa_annotations={}),
    Case("disableInstanceMetadata, Java without the sts module",
         {**REGIONAL_SETTINGS, "disableInstanceMetadata": True}, pod("app"),
         {"java-v2-no-sts": Fails("To use web identity tokens, the 'sts' service module must be on the class path"),
          "java-v1-no-sts": Fails("To use assume role profiles the aws-java-sdk-sts module must be on the class path")}),
    Case("disableInstanceMetadata, the trust policy names another ServiceAccount",
         {**REGIONAL_SETTINGS, "disableInstanceMetadata": True}, pod("app"),
         every(Fails("Not authorized to perform sts:AssumeRoleWithWebIdentity", "AccessDenied", REGIONAL)),
         sa_annotations={"eks.amazonaws.com/role-arn": role("team-b-reader")}),
    # Its cost: without a region in the env, the SDKs that took the node's no longer find one.
    Case("disableInstanceMetadata, no region", {"disableInstanceMetadata": True}, pod("app"),
         {**NO_REGION, **NO_REGION_IMDS_OFF}),
]
