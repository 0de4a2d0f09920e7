"""The credential-chain suite: real AWS SDKs on what the policy injects.

For each scenario (scenarios.py) the policy admits the Pod in the project's
engine (policy-host, or the real kwctl), the kubelet stand-in mints the tokens
and resolves each processed container's env, and boto3, the AWS CLI v1, the
AWS SDKs for JavaScript v3, Rust, Go v2, Go v1, Java v2 and Java v1 each run
their default credential chain and sts:GetCallerIdentity with exactly that env
(plus their runtime's CA-trust setting and an empty HOME), against the STS,
issuer, Pod Identity agent and instance metadata stand-ins reached under their
real names and addresses in a private network namespace. A case passes when
the identity each SDK printed, and what the stand-ins saw, are exactly what the
scenario says. Every case runs with the node's instance metadata service
reachable, so that an SDK that falls back to the node's role shows it; a case
may run again with it unreachable.

    sudo python3 suite.py --engine policy-host --policy policy.wasm \
        --irsa-oidc irsa-oidc --python venv/bin/python --aws venv/bin/aws \
        --node node --js-probe js/probe.mjs --rust-probe sdk-probe-rust \
        --go-probes DIR --java java --java-probes DIR [--only TEXT]

`--pod FILE --token VOLUME=FILE ...` runs the SDKs on a Pod a real API server
stored, with tokens from its TokenRequest API (the cluster suite does this)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)

import jsonpatch  # noqa: E402
import yaml  # noqa: E402

import kubelet  # noqa: E402
import standins  # noqa: E402
import tls  # noqa: E402
from scenarios import (ACCOUNT, ASSOCIATIONS, CASES, DEFAULT_SESSION, ISSUER, NODE_ARN, NODE_INSTANCE,  # noqa: E402
                       REGION, ROLES, SDKS, USER_ARN, USER_KEY, VARIANTS, Case, Fails, Ok)

NODE_NAME = "node-1"
STS_REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3",
               "eu-central-1", "eu-north-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1"]
GENERATED = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet
IMDS_ADDRESSES = ((["ip"], "169.254.169.254/32", []), (["ip", "-6"], "fd00:ec2::254/128", ["nodad"]))
TRUST_PASSWORD = "credential-chain-suite"


def main() -> int:
    args = parse_args()
    if os.environ.get("SDK_SUITE_INSIDE") != "1":
        if os.geteuid() != 0:
            print("the credential-chain suite needs root (private mount and network namespaces): "
                  "run it with sudo, or as root in CI", file=sys.stderr)
            return 2
        env = {**os.environ, "SDK_SUITE_INSIDE": "1"}
        return subprocess.call(["unshare", "--mount", "--net", "--propagation", "private", "--",
                                sys.executable, *sys.argv], env=env)
    return Suite(args).run()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("irsa-oidc", "python", "aws", "node", "js-probe", "rust-probe", "go-probes", "java",
                 "java-probes"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--engine", help="policy-host or kwctl (not with --pod)")
    parser.add_argument("--policy", help="the policy module the engine runs (not with --pod)")
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    parser.add_argument("--docs", default=os.path.join(ROOT, "docs", "sdks.md"))
    parser.add_argument("--write-docs", action="store_true", help="rewrite the table in --docs")
    parser.add_argument("--pod", help="a Pod as an API server stored it (JSON): run the SDKs on it")
    parser.add_argument("--token", action="append", default=[], help="VOLUME=FILE: that volume's token")
    parser.add_argument("--issuer", default=ISSUER, help="with --pod: the tokens' issuer")
    parser.add_argument("--signing-key", help="with --pod: the issuer's public key (PEM)")
    parser.add_argument("--case", help="with --pod: the scenario whose expectations apply")
    return parser.parse_args()


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = tempfile.mkdtemp(prefix="sdk-suite-")
        self.passed = self.failed = 0
        self.recorder = standins.Recorder()

    # --- the private network: addresses, names, TLS, stand-ins ---------------------------------

    def network(self, issuers: list[str]) -> None:
        for command in (["ip", "link", "set", "lo", "up"],
                        ["ip", "addr", "add", "169.254.170.23/32", "dev", "lo"],
                        ["ip", "-6", "addr", "add", "fd00:ec2::23/128", "dev", "lo", "nodad"]):
            subprocess.run(command, check=True)
        self.imds(True)
        names = ["sts.amazonaws.com", *(f"sts.{r}.amazonaws.com" for r in STS_REGIONS), *issuers]
        self.ca, cert, key = tls.make(self.work, names)
        # The JVM trusts what its trust store holds (javax.net.ssl.trustStore): the test CA, PKCS12.
        self.truststore = os.path.join(self.work, "ca.p12")
        subprocess.run([os.path.join(os.path.dirname(os.path.realpath(self.args.java)), "keytool"),
                        "-importcert", "-noprompt", "-alias", "suite-ca", "-file", self.ca, "-keystore",
                        self.truststore, "-storetype", "PKCS12", "-storepass", TRUST_PASSWORD],
                       check=True, capture_output=True)
        hosts = os.path.join(self.work, "hosts")
        with open(hosts, "w") as out:
            out.write("127.0.0.1 localhost\n::1 localhost\n")
            out.writelines(f"127.0.0.1 {name}\n" for name in names)
        subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
        self.world = standins.World(account=ACCOUNT, node_instance=NODE_INSTANCE, node_region=REGION)
        standins.serve(self.world, self.recorder, cert, key, self.ca)

    def imds(self, on: bool) -> None:
        """The instance metadata service's addresses on or off: off, an SDK's connection fails at
        once (no route), as when IMDS cannot be reached from a Pod."""
        for ip, address, flags in IMDS_ADDRESSES:
            subprocess.run([*ip, "addr", "add" if on else "del", address, "dev", "lo", *(flags if on else [])],
                           check=True)

    def publish(self, issuer: str, public_key: str, into: str) -> dict:
        """The issuer's discovery document and JWKS as `irsa-oidc discovery` writes them."""
        subprocess.run([self.args.irsa_oidc, "discovery", "--issuer", issuer, "--out", into, public_key],
                       check=True, capture_output=True)
        host_path = issuer.removeprefix("https://")
        host, _, path = host_path.partition("/")
        prefix = "/" + path if path else ""
        files = {}
        for name in (".well-known/openid-configuration", "keys.json"):
            with open(os.path.join(into, name), "rb") as data:
                files[f"{prefix}/{name}"] = data.read()
        self.world.published[host] = files
        # irsa-oidc check-token judges tokens against what is published now.
        self.jwks_file = os.path.join(into, "keys.json")
        return json.loads(files[f"{prefix}/keys.json"])

    def aws(self, issuer: str) -> None:
        """IAM as the scenarios need it: the issuer's OIDC provider, the roles with the trust
        policies irsa-oidc writes, an IAM user's keys, the Pod Identity associations."""
        self.world.providers = {issuer.removeprefix("https://"): ["sts.amazonaws.com"]}
        for role, (namespace, sa) in ROLES.items():
            policy = subprocess.run([self.args.irsa_oidc, "trust-policy", "--account", ACCOUNT, "--issuer",
                                     issuer, "--namespace", namespace, "--service-account", sa],
                                    check=True, capture_output=True, text=True).stdout
            self.world.roles[role] = json.loads(policy)
        self.world.users = {USER_KEY[0]: (USER_KEY[1], USER_ARN)}
        self.world.associations = dict(ASSOCIATIONS)

    # --- the policy ------------------------------------------------------------------------

    def admit(self, case: Case, pod: dict, sa_annotations: dict | None) -> tuple[dict, dict]:
        """The AdmissionResponse of the engine, and the Pod as the API server stores it."""
        namespace, name = pod["metadata"]["namespace"], pod["metadata"].get("name", "")
        request = {"uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                   "resource": {"group": "", "version": "v1", "resource": "pods"},
                   "name": name, "namespace": namespace, "operation": "CREATE",
                   "userInfo": {"username": "kubernetes-admin"}, "object": pod}
        paths = {kind: os.path.join(self.work, f"{kind}.json") for kind in ("request", "session")}
        with open(paths["request"], "w") as out:
            json.dump({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}, out)
        sa = kubelet.service_account(pod)
        answer = {"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": sa, "namespace": namespace, "annotations": sa_annotations or {}}}
        exchange = {"type": "Exchange",
                    "request": yaml.safe_dump({"api_version": "v1", "kind": "ServiceAccount", "name": sa,
                                               "namespace": namespace, "disable_cache": False}),
                    "response": {"type": "Success", "payload": json.dumps(answer)}}
        exchange["request"] = "!KubernetesGetResource\n" + exchange["request"]
        with open(paths["session"], "w") as out:
            yaml.safe_dump([exchange], out)
        engine = subprocess.run([self.args.engine, "run", "--request-path", paths["request"],
                                 "--settings-json", json.dumps(case.settings), "--allow-context-aware",
                                 "--replay-host-capabilities-interactions", paths["session"], self.args.policy],
                                capture_output=True, text=True)
        lines = engine.stdout.strip().splitlines()
        if engine.returncode != 0 or not lines:
            raise RuntimeError(f"the engine failed: {engine.stderr.strip()}")
        response = json.loads(lines[-1])
        admitted = pod
        if response.get("patch"):
            patch = json.loads(base64.b64decode(response["patch"]))
            admitted = jsonpatch.apply_patch(pod, patch)
        return response, self.store(admitted)

    @staticmethod
    def store(pod: dict) -> dict:
        """What the API server adds after admission: a generated name, a uid, the node."""
        pod = json.loads(json.dumps(pod))
        meta = pod["metadata"]
        if not meta.get("name"):
            meta["name"] = meta["generateName"][:58] + "".join(secrets.choice(GENERATED) for _ in range(5))
        meta["uid"] = str(uuid.uuid4())
        pod["spec"]["nodeName"] = NODE_NAME
        return pod

    # --- one SDK in one container ------------------------------------------------------------

    def command(self, sdk: str) -> tuple[list[str], dict[str, str]]:
        """The program that plays the application, and the CA-trust variable its SDK reads."""
        ca = self.ca
        return {
            "boto3": ([self.args.python, os.path.join(HERE, "probe.py")], {"AWS_CA_BUNDLE": ca}),
            "aws-cli": ([self.args.aws, "sts", "get-caller-identity", "--query", "Arn", "--output", "text"],
                        {"AWS_CA_BUNDLE": ca}),
            "js": ([self.args.node, self.args.js_probe], {"NODE_EXTRA_CA_CERTS": ca}),
            "rust": ([self.args.rust_probe], {"SSL_CERT_FILE": ca}),
            # Go's crypto/x509 reads SSL_CERT_FILE on Linux (src/crypto/x509/root_unix.go).
            "go-v2": ([os.path.join(self.args.go_probes, "go-probe-v2")], {"SSL_CERT_FILE": ca}),
            "go-v1": ([os.path.join(self.args.go_probes, "go-probe-v1")], {"SSL_CERT_FILE": ca}),
            "java-v2": self.java("v2", "v2", "StsProbe"),
            "java-v2-no-sts": self.java("v2", "v2-no-sts", "NoStsProbe"),
            "java-v1": self.java("v1", "v1", "Probe"),
            "java-v1-no-sts": self.java("v1", "v1-no-sts", "NoStsProbe"),
        }[sdk]

    def java(self, classes: str, classpath: str, main: str) -> tuple[list[str], dict[str, str]]:
        """A Java probe on its Maven classpath. The JVM takes the trust store from system properties
        that JAVA_TOOL_OPTIONS carries (the JVM's own variable: no code change). C1 only and the
        class-data archive start it faster; they change no behaviour."""
        with open(os.path.join(self.args.java_probes, f"{classpath}.classpath")) as data:
            jars = data.read().strip()
        options = (f"-Djavax.net.ssl.trustStore={self.truststore} -Djavax.net.ssl.trustStoreType=PKCS12 "
                   f"-Djavax.net.ssl.trustStorePassword={TRUST_PASSWORD} -XX:TieredStopAtLevel=1 -Xshare:auto")
        return ([self.args.java, "-cp", os.path.join(self.args.java_probes, classes) + ":" + jars, main],
                {"JAVA_TOOL_OPTIONS": options})

    def run_sdk(self, sdk: str, pod: dict, container: dict, tokens: dict[str, str]) -> tuple[bool, str, list]:
        argv, trust = self.command(sdk)
        home = tempfile.mkdtemp(dir=self.work, prefix="home-")
        env = {**kubelet.container_env(pod, container), **trust, "HOME": home}
        files = kubelet.token_files(pod, container, tokens)
        self.recorder.take()
        try:
            done = kubelet.run(files, env, argv, self.work)
        except subprocess.TimeoutExpired as timeout:
            return False, f"timed out after {timeout.timeout} s", self.recorder.take()
        # What the application printed; the AWS CLI writes its errors to stderr, where Node also
        # writes the SDK's deprecation notices and the JVM says it picked up JAVA_TOOL_OPTIONS.
        output = " ".join((done.stdout.strip() or done.stderr).split())
        return done.returncode == 0, output, self.recorder.take()

    # --- checks ------------------------------------------------------------------------------

    def expected_identity(self, case: Case, pod: dict, sdk: str, outcome: Ok, role: str) -> str:
        if outcome.via == "static":
            return re.escape(USER_ARN)
        if outcome.via == "imds":
            return re.escape(NODE_ARN)
        name = pod["metadata"]["name"]
        if outcome.via == "agent":
            return re.escape(f"arn:aws:sts::{ACCOUNT}:assumed-role/pod-identity-app/eks-cluster-{name}-") + "[0-9a-f]{8}"
        session = outcome.session
        session = re.escape(name) if session == "generated" else (
            DEFAULT_SESSION[sdk] if session is None else re.escape(session))
        return re.escape(f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[-1]}/") + session

    @staticmethod
    def failed_calls(outcome: Fails) -> list[tuple]:
        """The calls a failed attempt made: to STS (answering `code`) or to the agent."""
        if outcome.agent:
            return [("agent", "/v1/credentials", outcome.agent)]
        return [] if outcome.code is None else [("sts", "AssumeRoleWithWebIdentity", outcome.host)]

    def check(self, case: Case, pod: dict, sdk: str, ok: bool, output: str, events: list, role: str,
              outcome: Ok | Fails) -> list[str]:
        """What differs from the scenario: the SDK's answer, then what the stand-ins saw."""
        problems = []
        sa = kubelet.service_account(pod)
        namespace = pod["metadata"]["namespace"]
        metadata = [e for e in events if e["service"] == "imds"]
        events = [e for e in events if e["service"] != "imds"]
        # Retries (botocore's, Go's and Java's of InvalidIdentityToken) count once.
        calls = list(dict.fromkeys((e["service"], e.get("action", e.get("path")), e["host"]) for e in events))
        wanted_imds = set(outcome.imds) | ({"credentials"} if isinstance(outcome, Ok) and outcome.via == "imds" else set())
        seen_imds = {imds_use(e) for e in metadata if e["method"] == "GET"}
        if seen_imds != wanted_imds or any(e["status"] in (400, 401, 403, 405) for e in metadata):
            problems.append(f"the instance metadata service should have been read for {sorted(wanted_imds)} "
                            f"(IMDSv2); saw {imds_summary(metadata)}")
        if isinstance(outcome, Fails):
            if ok or outcome.message not in output:
                problems.append(f"expected a failure saying {outcome.message!r}, got: {output}")
            wanted = self.failed_calls(outcome)
            if calls != wanted or any(e.get("error") != outcome.code for e in events if e["service"] == "sts"):
                problems.append(f"the stand-ins should have seen {wanted} (STS answering {outcome.code}); "
                                f"saw {summary(events)}")
            return problems
        identity = self.expected_identity(case, pod, sdk, outcome, role)
        if not ok or not re.fullmatch(identity, output):
            problems.append(f"expected the identity /{identity}/, got: {output}")
        before = self.failed_calls(outcome.after) if outcome.after else []
        last = ("sts", "GetCallerIdentity", outcome.host)
        first = {"sts": ("sts", "AssumeRoleWithWebIdentity", outcome.host),
                 "agent": ("agent", "/v1/credentials", outcome.agent), "static": None, "imds": None}[outcome.via]
        wanted = before + [c for c in (first, last) if c]
        failed = [e for e in events if "error" in e or e.get("status", 200) != 200]
        if outcome.after is None:
            fine = not failed
        else:
            # The failed attempt came first, answered as the scenario says, and only it failed.
            fine = bool(failed) and failed == events[:len(failed)] and all(
                e["service"] == "agent" if outcome.after.agent else e.get("error") == outcome.after.code
                for e in failed)
        if calls != wanted or not fine:
            problems.append(f"the stand-ins should have seen {wanted}"
                            + (f" (the first answering {outcome.after.code})" if outcome.after else "")
                            + f"; saw {summary(events)}")
            return problems
        if outcome.via in ("static", "imds"):
            return problems
        claims = events[0].get("claims", {})
        audience = "pods.eks.amazonaws.com" if outcome.via == "agent" else "sts.amazonaws.com"
        seen = (claims.get("sub"), claims.get("aud"), claims.get("kubernetes.io", {}).get("pod", {}).get("name"))
        if seen != (f"system:serviceaccount:{namespace}:{sa}", [audience], pod["metadata"]["name"]):
            problems.append(f"the token's sub, aud and Pod were {seen}")
        if outcome.via == "sts" and events[0].get("role") != role:
            problems.append(f"STS was asked for role {events[0].get('role')}, not {role}")
        return problems

    def agree(self, token: str, events: list) -> list[str]:
        """irsa-oidc check-token must judge the token as STS did (trust policy aside)."""
        sts = [e for e in events if e.get("action") == "AssumeRoleWithWebIdentity"]
        if not sts:
            return []
        path = os.path.join(self.work, "token")
        with open(path, "w") as out:
            out.write(token)
        checked = subprocess.run([self.args.irsa_oidc, "check-token", "--issuer", self.issuer, "--jwks", self.jwks_file,
                                  path], capture_output=True, text=True)
        rejected = sts[0].get("token_rejected", False)
        if (checked.returncode == 0) == rejected:
            verdict = "passes" if checked.returncode == 0 else f"fails ({checked.stderr.strip()})"
            return [f"irsa-oidc check-token {verdict}, but STS answered {sts[0].get('error', 'success')}"]
        return []

    # --- the scenarios -----------------------------------------------------------------------

    def run(self) -> int:
        if self.args.pod:
            return self.run_stored()
        if not (self.args.engine and self.args.policy):
            print("--engine and --policy are needed to admit the scenarios' Pods", file=sys.stderr)
            return 2
        self.issuer = ISSUER
        self.network([ISSUER.removeprefix("https://")])
        key = os.path.join(self.work, "sa-signer.key")
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
        jwks = self.publish(ISSUER, key, os.path.join(self.work, "oidc"))
        other = os.path.join(self.work, "other.key")
        subprocess.run(["openssl", "genrsa", "-out", other, "2048"], check=True, capture_output=True)
        self.aws(ISSUER)
        self.world.cluster_jwks = jwks
        with open(key, "rb") as pem:
            self.signer = kubelet.Issuer(ISSUER, pem.read(), jwks["keys"][0]["kid"])
        self.other_key = other
        started = time.monotonic()
        for case in CASES:
            if self.args.only and self.args.only not in case.name:
                continue
            try:
                self.run_case(case)
            except (RuntimeError, OSError, ValueError, KeyError) as error:
                self.report(case.name, "suite", [f"the case could not run: {error!r}"], "")
        if not self.args.only or self.args.write_docs:
            self.docs()
        print(f"\ncredential-chain suite: {time.monotonic() - started:.0f} s")
        print(f"{self.passed} passed, {self.failed} failed")
        shutil.rmtree(self.work, ignore_errors=True)
        return 1 if self.failed else 0

    def case_pod(self, case: Case) -> tuple[dict, dict | None]:
        if case.pod != "README":
            return case.pod, case.sa_annotations
        with open(os.path.join(ROOT, "examples", "request.json")) as data:
            pod = json.load(data)["request"]["object"]
        with open(os.path.join(ROOT, "examples", "serviceaccount.yaml")) as data:
            sa = yaml.safe_load(data)
        return pod, sa["metadata"]["annotations"]

    def run_case(self, case: Case) -> None:
        pod, sa_annotations = self.case_pod(case)
        response, stored = self.admit(case, pod, sa_annotations)
        problems = []
        if case.rejected is not None:
            message = response.get("status", {}).get("message", "")
            if response.get("allowed") or case.rejected not in message:
                problems.append(f"expected a rejection naming {case.rejected!r}, got {json.dumps(response)}")
            self.report(case.name, "policy", problems, f"rejected: {message}")
            return
        warnings = response.get("warnings") or []
        if warnings != case.warnings:
            problems.append(f"warnings {warnings}, expected {case.warnings}")
        self.report(case.name, "policy", problems, f"admitted, warnings {warnings}")
        processed = (response.get("auditAnnotations") or {}).get("containers", "none").split(",")
        role = (response.get("auditAnnotations") or {}).get("role-arn", "")
        providers = self.world.providers
        if case.world == "other-jwks":
            self.publish(ISSUER, self.other_key, os.path.join(self.work, "oidc-other"))
        if case.world == "no-provider":
            self.world.providers = {}
        containers = [c for c in [*stored["spec"].get("initContainers", []), *stored["spec"]["containers"]]
                      if c["name"] in processed]
        try:
            for container in containers:
                for sdk in (p for p in (*SDKS, *VARIANTS) if p in case.expect):
                    self.run_container(case, stored, container, sdk, role, case.expect[sdk], "")
            if case.imds_off:
                self.imds(False)
                for container in containers:
                    for sdk in (p for p in (*SDKS, *VARIANTS) if p in case.imds_off):
                        self.run_container(case, stored, container, sdk, role, case.imds_off[sdk], " (IMDS off)")
        finally:
            if case.imds_off:
                self.imds(True)
            self.world.providers = providers
            if case.world == "other-jwks":
                self.publish(ISSUER, os.path.join(self.work, "sa-signer.key"), os.path.join(self.work, "oidc"))

    def run_container(self, case: Case, pod: dict, container: dict, sdk: str, role: str, outcome: Ok | Fails,
                      variant: str) -> None:
        now = int(time.time()) - (2 * 86400 if case.world == "expired" else 0)
        tokens = {volume: kubelet.mint(self.signer, pod, str(uuid.uuid5(uuid.NAMESPACE_URL, volume)), sources[0],
                                       NODE_NAME, now)
                  for volume, sources in kubelet.token_sources(pod).items()}
        self.run_and_check(case, pod, container, sdk, tokens, role, f"{case.name}{variant} [{container['name']}]",
                           outcome)

    def run_and_check(self, case: Case, pod: dict, container: dict, sdk: str, tokens: dict[str, str],
                      role: str, name: str, outcome: Ok | Fails) -> None:
        """One SDK in one container, checked against the scenario and irsa-oidc, reported."""
        ok, output, events = self.run_sdk(sdk, pod, container, tokens)
        problems = self.check(case, pod, sdk, ok, output, events, role, outcome)
        if "aws-iam-token" in tokens:
            problems += self.agree(tokens["aws-iam-token"], events)
        self.report(name, sdk, problems, output)

    def run_stored(self) -> int:
        """The SDKs on a Pod a real API server stored, with its TokenRequest tokens."""
        self.issuer = self.args.issuer
        self.network([self.issuer.removeprefix("https://").partition("/")[0]])
        jwks = self.publish(self.issuer, self.args.signing_key, os.path.join(self.work, "oidc"))
        self.aws(self.issuer)
        self.world.cluster_jwks = jwks
        with open(self.args.pod) as data:
            pod = json.load(data)
        tokens = {}
        for pair in self.args.token:
            volume, _, path = pair.partition("=")
            with open(path) as data:
                tokens[volume] = data.read().strip()
        case = next((c for c in CASES if c.name == self.args.case), None)
        if case is None:
            print(f"--case {self.args.case!r} is not a scenario of scenarios.py", file=sys.stderr)
            return 2
        for container in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
            env = {e["name"]: e.get("value") for e in container.get("env") or []}
            if not env.keys() & {"AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"}:
                continue
            role = env.get("AWS_ROLE_ARN") or ""
            for sdk in SDKS:
                name = f"stored Pod {pod['metadata']['name']} [{container['name']}]"
                self.run_and_check(case, pod, container, sdk, tokens, role, name, case.expect[sdk])
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0

    def report(self, name: str, sdk: str, problems: list[str], output: str) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name} / {sdk}")
            for problem in problems:
                print(f"       {problem}")
        else:
            self.passed += 1
            print(f"ok   {name} / {sdk}: {output}")
        sys.stdout.flush()

    # --- docs/sdks.md --------------------------------------------------------------------------

    def docs(self) -> None:
        """The scenario table in docs/sdks.md must be the one these expectations give."""
        import docs_table

        table = docs_table.render(CASES)
        problems = docs_table.check_or_write(self.args.docs, table, self.args.write_docs)
        self.report("docs/sdks.md holds the table of these scenarios", "docs", problems, "up to date")


def imds_use(event: dict) -> str:
    """What an SDK read from the instance metadata service: the node's credentials or region
    (" over IPv6" when it asked at [fd00:ec2::254])."""
    path = event["path"]
    use = path
    if path.startswith("/latest/meta-data/iam/"):
        use = "credentials"
    elif path.startswith("/latest/meta-data/placement/") or path == "/latest/dynamic/instance-identity/document":
        use = "region"
    return use + (" over IPv6" if event["host"].startswith("[") else "")


def imds_summary(events: list) -> str:
    return ", ".join(f"{e['method']} {e['path']} at {e['host']} -> {e['status']}" for e in events) or "nothing"


def summary(events: list) -> str:
    return ", ".join(f"{e['service']} {e.get('action', e.get('path'))} at {e['host']}"
                     + (f" -> {e['error']}" if "error" in e else "") for e in events) or "nothing"


if __name__ == "__main__":
    sys.exit(main())
