"""Stand-ins for what cannot run here: AWS STS, the issuer's public HTTPS host,
the EKS Pod Identity agent (with EKS Auth behind it) and the node's EC2
instance metadata service (IMDSv2). Each is reached under
the real host names and addresses inside the suite's private network
namespace, and records what it saw so that a case can assert it. Each behaves
as AWS documents it:

* STS: the AssumeRoleWithWebIdentity and GetCallerIdentity API reference
  (awsQuery, field constraints, error codes), the IAM user guide on OIDC
  identity providers (provider by `iss`, client IDs, JWKS from the discovery
  document, 5 minutes of clock skew), AWS's recorded answers in the SDKs' test
  fixtures (smithy-rs `aws-config` test-data), and the messages AWS re:Post's
  knowledge center and users' reports quote;
* the agent: aws/eks-pod-identity-agent v0.1.37 (`Host` check, the raw
  `Authorization` token, its JSON answer and its error texts) and EKS Auth's
  AssumeRoleForPodIdentity model in botocore;
* the instance metadata service: the EC2 user guide's "Use the Instance
  Metadata Service to access instance metadata" (IMDSv2: `PUT
  /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` of 1 to
  21600, then `X-aws-ec2-metadata-token` on every `GET`; 401 without a valid
  token, as on a node that requires IMDSv2, the EKS AL2023 nodes' default),
  "Retrieve security credentials from instance metadata" (the role's name
  under `iam/security-credentials/`, then its JSON) and "Instance identity
  documents".

Token checks use PyJWT; request signatures are recomputed with botocore's own
SigV4 signer. Nothing here hand-writes crypto."""

from __future__ import annotations

import base64
import datetime
import fnmatch
import http.server
import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
# STS's own limits (its API model, as the SDKs ship it) and IAM's OIDC clock skew.
SESSION_NAME_PATTERN = re.compile(r"[\w+=,.@-]*", re.ASCII)
CLOCK_SKEW = 300
AGENT_HOSTS = ("169.254.170.23", "fd00:ec2::23")
IMDS_HOSTS = ("169.254.169.254", "fd00:ec2::254")
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"


@dataclass
class World:
    """AWS as the stand-ins see it: one account, its IAM OIDC providers and roles, the static
    keys of an IAM user, the Pod Identity associations, and the issuers' published files."""

    account: str = "111122223333"
    # IAM OIDC providers: URL without https:// -> client IDs.
    providers: dict[str, list[str]] = field(default_factory=dict)
    # Role ARN -> trust policy document (as `irsa-oidc trust-policy` wrote it).
    roles: dict[str, dict] = field(default_factory=dict)
    # Static keys of IAM users: access key ID -> (secret, user ARN).
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    # EKS Pod Identity associations: (namespace, ServiceAccount) -> role ARN.
    associations: dict[tuple[str, str], str] = field(default_factory=dict)
    # The keys EKS Auth verifies Pod Identity tokens with (the cluster's JWKS).
    cluster_jwks: dict = field(default_factory=dict)
    # What the issuers' hosts serve: host -> {path: bytes}.
    published: dict[str, dict[str, bytes]] = field(default_factory=dict)
    # The node the Pods run on: its instance profile's role and its region (instance metadata).
    node_role: str = "node"
    node_instance: str = "i-0a1b2c3d4e5f60718"
    node_region: str = "eu-west-1"


class AwsError(Exception):
    """An error answer. `token`: it is about the token itself (format, audience, key, signature,
    expiry), which `irsa-oidc check-token` judges too; not about IAM's configuration."""

    def __init__(self, status: int, code: str, message: str, token: bool = False):
        super().__init__(message)
        self.status, self.code, self.message, self.token = status, code, message, token


class Recorder:
    """What the stand-ins saw, in order, since the last `take`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict] = []

    def add(self, event: dict) -> None:
        with self._lock:
            self._events.append(event)

    def take(self) -> list[dict]:
        with self._lock:
            events, self._events = self._events, []
        return events


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Issued:
    """Temporary credentials the stand-ins issued, for GetCallerIdentity to recognise."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # access key ID -> (secret, session token or None, ARN, user ID)
        self._issued: dict[str, tuple[str, str | None, str, str]] = {}

    def issue(self, arn: str, user_id: str) -> dict:
        access_key = "ASIA" + _random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        secret = _random("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
        token = base64.b64encode(secrets.token_bytes(96)).decode()
        with self._lock:
            self._issued[access_key] = (secret, token, arn, user_id)
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        return {"AccessKeyId": access_key, "SecretAccessKey": secret, "SessionToken": token,
                "Expiration": _iso(expires)}

    def find(self, access_key: str, world: World) -> tuple[str, str | None, str, str] | None:
        if access_key in world.users:
            secret, arn = world.users[access_key]
            return secret, None, arn, "AIDA" + access_key[4:]
        with self._lock:
            return self._issued.get(access_key)


def _audiences(claims: dict) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else list(aud or [])


def _matches(operator: str, actual: str, wanted) -> bool:
    wanted = wanted if isinstance(wanted, list) else [wanted]
    if operator == "StringEquals":
        return actual in wanted
    if operator == "StringLike":
        return any(fnmatch.fnmatchcase(actual, pattern) for pattern in wanted)
    return False


def trust_allows(policy: dict, provider_arn: str, provider: str, claims: dict) -> bool:
    """Whether a trust policy lets the token's subject assume the role: an Allow statement for
    `sts:AssumeRoleWithWebIdentity` by the provider whose every condition holds."""
    values = {f"{provider}:sub": [claims.get("sub", "")], f"{provider}:aud": _audiences(claims)}
    for statement in policy.get("Statement", []):
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in actions:
            continue
        if statement.get("Principal", {}).get("Federated") != provider_arn:
            continue
        conditions = statement.get("Condition", {})
        if all(any(_matches(op, actual, wanted) for actual in values.get(key, []))
               for op, keys in conditions.items() for key, wanted in keys.items()):
            return True
    return False


class Sts:
    """AWS STS's AssumeRoleWithWebIdentity (unsigned) and GetCallerIdentity (SigV4), awsQuery."""

    def __init__(self, world: World, recorder: Recorder, issued: Issued, fetch) -> None:
        self.world, self.recorder, self.issued, self.fetch = world, recorder, issued, fetch

    def handle(self, host: str, headers, body: bytes) -> tuple[int, str]:
        params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        action = params.get("Action", "")
        event = {"service": "sts", "host": host, "action": action,
                 "user_agent": headers.get("User-Agent", "")}
        try:
            if action == "AssumeRoleWithWebIdentity":
                result = self.assume_role_with_web_identity(params, event)
            elif action == "GetCallerIdentity":
                result = self.get_caller_identity(host, headers, body, event)
            else:
                raise AwsError(400, "InvalidAction", f"Could not find operation {action} for version 2011-06-15")
        except AwsError as error:
            event["error"] = error.code
            event["token_rejected"] = error.token
            self.recorder.add(event)
            kind = "Sender" if error.status < 500 else "Receiver"
            return error.status, (
                f'<ErrorResponse xmlns="{STS_XMLNS}"><Error><Type>{kind}</Type>'
                f"<Code>{error.code}</Code><Message>{escape(error.message)}</Message></Error>"
                f"<RequestId>{_request_id()}</RequestId></ErrorResponse>")
        self.recorder.add(event)
        return 200, result

    def assume_role_with_web_identity(self, params: dict, event: dict) -> str:
        role_arn = params.get("RoleArn", "")
        session = params.get("RoleSessionName", "")
        token = params.get("WebIdentityToken", "")
        event.update(role=role_arn, session=session)
        _validate([("roleArn", role_arn, 20, 2048, None),
                   ("roleSessionName", session, 2, 64, SESSION_NAME_PATTERN),
                   ("webIdentityToken", token, 4, 20000, None)])
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AwsError(400, "InvalidIdentityToken", f"Token is not a valid JWT: {error}", True) from None
        event["claims"] = claims
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
        issuer = str(claims.get("iss", ""))
        provider = issuer.removeprefix("https://")
        if account != self.world.account or provider not in self.world.providers:
            raise AwsError(400, "InvalidIdentityToken",
                           f"No OpenIDConnect provider found in your account for {issuer}")
        if not set(_audiences(claims)) & set(self.world.providers[provider]):
            raise AwsError(400, "InvalidIdentityToken", "Incorrect token audience", True)
        self.verify_signature(token, header, issuer)
        now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
        expiry = claims.get("exp")
        if not isinstance(expiry, int) or now > expiry + CLOCK_SKEW:
            raise AwsError(400, "ExpiredTokenException",
                           f"Token expired: current date/time {now} must be before the expiration date/time {expiry}", True)
        provider_arn = f"arn:aws:iam::{account}:oidc-provider/{provider}"
        policy = self.world.roles.get(role_arn)
        if policy is None or not trust_allows(policy, provider_arn, provider, claims):
            raise AwsError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        duration = params.get("DurationSeconds", "3600")
        if not duration.isdigit() or not 900 <= int(duration) <= 3600:
            raise AwsError(400, "ValidationError",
                           "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        role_name = role_arn.rsplit("/", 1)[-1]
        arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}"
        user_id = "AROA" + _random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17) + ":" + session
        credentials = self.issued.issue(arn, user_id)
        event["assumed"] = arn
        audience = _audiences(claims)[0]
        return (f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_XMLNS}"><AssumeRoleWithWebIdentityResult>'
                f"<Credentials>{''.join(f'<{k}>{escape(v)}</{k}>' for k, v in credentials.items())}</Credentials>"
                f"<SubjectFromWebIdentityToken>{escape(claims.get('sub', ''))}</SubjectFromWebIdentityToken>"
                f"<AssumedRoleUser><AssumedRoleId>{escape(user_id)}</AssumedRoleId><Arn>{escape(arn)}</Arn></AssumedRoleUser>"
                f"<Provider>{escape(provider_arn)}</Provider><Audience>{escape(audience)}</Audience>"
                f"</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>{_request_id()}</RequestId>"
                f"</ResponseMetadata></AssumeRoleWithWebIdentityResponse>")

    def verify_signature(self, token: str, header: dict, issuer: str) -> None:
        """The key from the JWKS the issuer's discovery document names, found by `kid`."""
        no_key = AwsError(400, "InvalidIdentityToken",
                          "Couldn't retrieve verification key from your identity provider,  please reference "
                          "AssumeRoleWithWebIdentity documentation for requirements", True)
        try:
            discovery = json.loads(self.fetch(issuer + "/.well-known/openid-configuration"))
            jwks = json.loads(self.fetch(discovery["jwks_uri"]))
        except (OSError, ValueError, KeyError):
            raise no_key from None
        keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
        if not keys:
            raise no_key
        try:
            key = jwt.PyJWK(keys[0]).key
            jwt.decode(token, key, algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"],
                       options={"verify_exp": False, "verify_aud": False, "verify_iat": False,
                                "verify_nbf": False})
        except jwt.PyJWTError:
            raise AwsError(400, "InvalidIdentityToken", "The web identity token's signature is not valid",
                           True) from None

    def get_caller_identity(self, host: str, headers, body: bytes, event: dict) -> str:
        found = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/sts/aws4_request, "
                         r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", headers.get("Authorization", ""))
        if not found:
            raise AwsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        access_key, _date, region, signed, signature = found.groups()
        event["region"] = region
        known = self.issued.find(access_key, self.world)
        if known is None:
            raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        secret, token, arn, user_id = known
        expected_region = "us-east-1" if host == "sts.amazonaws.com" else host.split(".")[1]
        if region != expected_region:
            raise AwsError(403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region.")
        if token is not None and headers.get("X-Amz-Security-Token") != token:
            raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        if signature != _sigv4(headers, signed, host, body, Credentials(access_key, secret, token), region):
            raise AwsError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method. Consult the service "
                           "documentation for details.")
        event["identity"] = arn
        return (f'<GetCallerIdentityResponse xmlns="{STS_XMLNS}"><GetCallerIdentityResult>'
                f"<Arn>{escape(arn)}</Arn><UserId>{escape(user_id)}</UserId><Account>{self.world.account}</Account>"
                f"</GetCallerIdentityResult><ResponseMetadata><RequestId>{_request_id()}</RequestId>"
                f"</ResponseMetadata></GetCallerIdentityResponse>")


class _Verifier(SigV4Auth):
    """botocore's SigV4 signer, signing exactly the headers the client listed in SignedHeaders:
    botocore leaves User-Agent and Expect out of its own requests, the Java SDK v1 signs them."""

    def headers_to_sign(self, request):
        return request.headers


def _sigv4(headers, signed: str, host: str, body: bytes, credentials, region: str) -> str:
    """The signature botocore's SigV4 signer computes for the request's signed headers."""
    names = signed.split(";")
    request = AWSRequest(method="POST", url=f"https://{host}/", data=body,
                         headers={name: headers.get(name, "") for name in names})
    request.context["timestamp"] = headers.get("X-Amz-Date", "")
    signer = _Verifier(credentials, "sts", region)
    canonical = signer.canonical_request(request)
    expected = signer.string_to_sign(request, canonical)
    return signer.signature(expected, request)


def _validate(fields) -> None:
    """STS's model constraints, as its framework reports the first failure."""
    for name, value, low, high, pattern in fields:
        problem = None
        if len(value) < low:
            problem = f"Member must have length greater than or equal to {low}"
        elif len(value) > high:
            problem = f"Member must have length less than or equal to {high}"
        elif pattern is not None and not pattern.fullmatch(value):
            problem = f"Member must satisfy regular expression pattern: {pattern.pattern}"
        if problem:
            shown = value if name != "webIdentityToken" else "***"
            raise AwsError(400, "ValidationError",
                           f"1 validation error detected: Value '{shown}' at '{name}' failed to satisfy constraint: {problem}")


def _request_id() -> str:
    hexes = secrets.token_hex(16)
    return f"{hexes[:8]}-{hexes[8:12]}-{hexes[12:16]}-{hexes[16:20]}-{hexes[20:]}"


class Agent:
    """The EKS Pod Identity agent (v0.1.37) with EKS Auth's AssumeRoleForPodIdentity behind it."""

    def __init__(self, world: World, recorder: Recorder, issued: Issued) -> None:
        self.world, self.recorder, self.issued = world, recorder, issued

    def handle(self, path: str, headers) -> tuple[int, str, str]:
        host = headers.get("Host", "")
        event = {"service": "agent", "host": host, "path": path}
        status, content_type, body = self._answer(path, host, headers.get("Authorization", ""), event)
        event["status"] = status
        self.recorder.add(event)
        return status, content_type, body

    def _answer(self, path: str, host: str, authorization: str, event: dict) -> tuple[int, str, str]:
        text = "text/plain; charset=utf-8"
        if path != "/v1/credentials":
            return 404, text, "404 page not found\n"
        bare = re.sub(r":\d+$", "", host).strip("[]")
        if bare not in AGENT_HOSTS:
            return 403, text, ("Access Denied. Called agent through invalid address, please use either "
                               f"[{' '.join(AGENT_HOSTS)}] address not {bare}\n")
        if not authorization:
            return 400, text, "Service account token cannot be empty\n"
        try:
            claims = jwt.decode(authorization, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            return 400, text, f"Service account token cannot be parsed: {error}\n"
        event["claims"] = claims
        now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
        if isinstance(claims.get("exp"), int) and now > claims["exp"]:
            return 400, text, "Service account token failed basic claim validations: token has invalid claims: token is expired\n"
        try:
            self._eks_auth_verify(authorization)
        except jwt.PyJWTError:
            return 400, text, _eks_auth_error("InvalidTokenException", "The token included in the request is invalid")
        kube = claims.get("kubernetes.io", {})
        subject = (kube.get("namespace", ""), kube.get("serviceaccount", {}).get("name", ""))
        role = self.world.associations.get(subject)
        if role is None:
            return 404, text, _eks_auth_error(
                "ResourceNotFoundException",
                f"No Pod Identity Association found for service account {subject[1]} in namespace {subject[0]}")
        session = f"eks-cluster-{kube.get('pod', {}).get('name', '')}-{secrets.token_hex(4)}"[:64]
        arn = f"arn:aws:sts::{self.world.account}:assumed-role/{role.rsplit('/', 1)[-1]}/{session}"
        credentials = self.issued.issue(arn, "AROA" + _random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17) + ":" + session)
        event["assumed"] = arn
        return 200, "application/json", json.dumps({
            "AccessKeyId": credentials["AccessKeyId"], "SecretAccessKey": credentials["SecretAccessKey"],
            "Token": credentials["SessionToken"], "AccountId": self.world.account,
            "Expiration": credentials["Expiration"]})

    def _eks_auth_verify(self, token: str) -> None:
        """EKS Auth checks the signature with the cluster's keys and the audience."""
        kid = jwt.get_unverified_header(token).get("kid")
        keys = [k for k in self.world.cluster_jwks.get("keys", []) if k.get("kid") == kid]
        if not keys:
            raise jwt.InvalidKeyError("no key")
        jwt.decode(token, jwt.PyJWK(keys[0]).key, algorithms=["RS256", "ES256"],
                   audience=POD_IDENTITY_AUDIENCE, options={"verify_exp": False})


def _eks_auth_error(code: str, message: str) -> str:
    return f"[{_request_id()}]: ({code}): {message}, fault: client\n"


class Imds:
    """An EC2 node's instance metadata service, IMDSv2 required, with an instance profile whose
    role is `world.node_role`: every call is recorded, so a case sees an SDK reading the node's
    region or credentials."""

    def __init__(self, world: World, recorder: Recorder, issued: Issued) -> None:
        self.world, self.recorder, self.issued = world, recorder, issued
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}

    def handle(self, method: str, path: str, headers) -> tuple[int, str, str, dict]:
        event = {"service": "imds", "host": headers.get("Host", ""), "method": method, "path": path}
        status, content_type, body, extra = self._answer(method, path, headers)
        event["status"] = status
        self.recorder.add(event)
        return status, content_type, body, extra

    def _answer(self, method: str, path: str, headers) -> tuple[int, str, str, dict]:
        text = "text/plain"
        if path == "/latest/api/token":
            if method != "PUT":
                return 405, text, "", {}
            ttl = headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if headers.get("X-Forwarded-For") is not None:
                return 403, text, "", {}
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return 400, text, "", {}
            token = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()
            with self._lock:
                self._tokens[token] = time.monotonic() + int(ttl)
            return 200, text, token, {"X-aws-ec2-metadata-token-ttl-seconds": ttl}
        if method != "GET":
            return 405, text, "", {}
        token = headers.get("X-aws-ec2-metadata-token", "")
        with self._lock:
            valid = self._tokens.get(token, 0) > time.monotonic()
        if not valid:
            return 401, text, "", {}
        world = self.world
        zone = world.node_region + "a"
        now = datetime.datetime.now(datetime.timezone.utc)
        credentials = "/latest/meta-data/iam/security-credentials/"
        if path == credentials:
            return 200, text, world.node_role, {}
        if path == credentials + world.node_role:
            issued = self.issued.issue(
                f"arn:aws:sts::{world.account}:assumed-role/{world.node_role}/{world.node_instance}",
                "AROA" + _random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17) + ":" + world.node_instance)
            return 200, text, json.dumps({
                "Code": "Success", "LastUpdated": _iso(now), "Type": "AWS-HMAC",
                "AccessKeyId": issued["AccessKeyId"], "SecretAccessKey": issued["SecretAccessKey"],
                "Token": issued["SessionToken"], "Expiration": issued["Expiration"]}, indent=2), {}
        answers = {
            "/latest/meta-data/placement/region": world.node_region,
            "/latest/meta-data/placement/availability-zone": zone,
            "/latest/meta-data/instance-id": world.node_instance,
            "/latest/meta-data/iam/info": json.dumps({
                "Code": "Success", "LastUpdated": _iso(now),
                "InstanceProfileArn": f"arn:aws:iam::{world.account}:instance-profile/{world.node_role}",
                "InstanceProfileId": "AIPA" + "ABCDEFGHIJKLMNOP"}, indent=2),
            "/latest/dynamic/instance-identity/document": json.dumps({
                "accountId": world.account, "architecture": "x86_64", "availabilityZone": zone,
                "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
                "imageId": "ami-0abcdef1234567890", "instanceId": world.node_instance,
                "instanceType": "m5.large", "kernelId": None, "pendingTime": _iso(now),
                "privateIp": "10.0.1.23", "ramdiskId": None, "region": world.node_region,
                "version": "2017-09-30"}, indent=2),
        }
        if path in answers:
            return 200, text, answers[path], {}
        return 404, "text/html", ("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html><head><title>404 - Not Found"
                                  "</title></head><body><h1>404 - Not Found</h1></body></html>\n"), {}


def _handler(sts: Sts, agent: Agent, world: World, imds: Imds):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # the suite prints what matters
            pass

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            self._route(b"")

        def do_POST(self) -> None:
            self._route(self._body())

        def do_PUT(self) -> None:
            self._route(self._body())

        def _route(self, body: bytes) -> None:
            host = re.sub(r":\d+$", "", self.headers.get("Host", ""))
            if self.server.server_address[0] in IMDS_HOSTS:
                status, content_type, text, extra = imds.handle(self.command, self.path, self.headers)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif not isinstance(self.connection, ssl.SSLSocket):
                self._send(*agent.handle(self.path, self.headers))
            elif host in world.published:
                content = world.published[host].get(self.path)
                if content is None:
                    self._send(404, "text/plain", "not found")
                else:
                    self._send(200, "application/json", content.decode())
            elif re.fullmatch(r"sts(\.[a-z0-9-]+)?\.amazonaws\.com", host):
                status, xml = sts.handle(host, self.headers, body)
                self._send(status, "text/xml", xml)
            else:
                self._send(404, "text/plain", f"no such host {host}")

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, family) -> None:
        self.address_family = family
        super().__init__(address, handler)


def serve(world: World, recorder: Recorder, cert: str, key: str, ca: str) -> list[_Server]:
    """STS and the issuers' hosts on 127.0.0.1:443 (TLS), the agent and the instance metadata
    service on their two addresses each (:80)."""
    import socket

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=ca)

    def fetch(url: str) -> bytes:
        with urllib.request.urlopen(url, context=client, timeout=5) as answer:
            return answer.read()

    issued = Issued()
    handler = _handler(Sts(world, recorder, issued, fetch), Agent(world, recorder, issued), world,
                       Imds(world, recorder, issued))
    servers = []
    tls = _Server(("127.0.0.1", 443), handler, socket.AF_INET)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    servers.append(tls)
    servers.append(_Server((AGENT_HOSTS[0], 80), handler, socket.AF_INET))
    servers.append(_Server((AGENT_HOSTS[1], 80), handler, socket.AF_INET6))
    servers.append(_Server((IMDS_HOSTS[0], 80), handler, socket.AF_INET))
    servers.append(_Server((IMDS_HOSTS[1], 80), handler, socket.AF_INET6))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers
