"""The kubelet stand-in: what a node does with an admitted Pod before its
containers run, for the parts an AWS SDK depends on.

* It mints each projected service-account token exactly as kube-apiserver's
  TokenRequest does for the volume source: audience (the API server's own when
  the source names none), `expirationSeconds`, claims `aud`, `exp`, `iat`,
  `iss`, `jti`, `kubernetes.io` (namespace, node, Pod, ServiceAccount), `nbf`,
  `sub`; RS256 with `kid` as `irsa-oidc` computes it.
* It resolves a container's env as the kubelet does: literal values with
  `$(VAR)` expansion, `valueFrom.fieldRef` from the Pod.
* It runs a process in a private mount namespace where every projected token
  volume the container mounts is a tmpfs holding its token, so the absolute
  paths in the env are real for that process only."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass

import jwt


@dataclass
class Issuer:
    """A service-account issuer: its URL, its signing key (PEM) and that key's `kid`."""

    url: str
    key_pem: bytes
    kid: str
    # Audiences of a token whose volume source names none (kube-apiserver's --api-audiences).
    api_audiences: tuple[str, ...] = ()


def mint(issuer: Issuer, pod: dict, sa_uid: str, source: dict, node: str, now: int | None = None) -> str:
    """The token TokenRequest returns for one `serviceAccountToken` volume source."""
    now = int(time.time()) if now is None else now
    meta = pod["metadata"]
    namespace, sa = meta["namespace"], service_account(pod)
    audience = source.get("audience") or None
    claims = {
        "aud": [audience] if audience else list(issuer.api_audiences or (issuer.url,)),
        "exp": now + int(source.get("expirationSeconds", 3600)),
        "iat": now,
        "iss": issuer.url,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": namespace,
            "node": {"name": node, "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, node))},
            "pod": {"name": meta["name"], "uid": meta["uid"]},
            "serviceaccount": {"name": sa, "uid": sa_uid},
        },
        "nbf": now,
        "sub": f"system:serviceaccount:{namespace}:{sa}",
    }
    # kube-apiserver's header carries alg and kid only.
    return jwt.encode(claims, issuer.key_pem, algorithm="RS256", headers={"kid": issuer.kid, "typ": None})


def service_account(pod: dict) -> str:
    spec = pod.get("spec", {})
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


def token_sources(pod: dict) -> dict[str, list[dict]]:
    """Projected volumes' service-account token sources, by volume name."""
    volumes = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        sources = (volume.get("projected") or {}).get("sources") or []
        tokens = [s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s]
        if tokens:
            volumes[volume["name"]] = tokens
    return volumes


def field_ref(pod: dict, path: str) -> str:
    """The downward API's `fieldRef` values the kubelet resolves."""
    meta, spec = pod["metadata"], pod.get("spec", {})
    labels = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if labels:
        return (meta.get(labels.group(1)) or {}).get(labels.group(2), "")
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "spec.nodeName": spec.get("nodeName", ""),
    }
    if path not in values:
        raise ValueError(f"fieldRef {path} is not resolved by this kubelet stand-in")
    return values[path]


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`, an unknown reference stays as is."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, value)


def container_env(pod: dict, container: dict) -> dict[str, str]:
    """The env a container's process gets: `env` in order, later entries winning."""
    env: dict[str, str] = {}
    for entry in container.get("env") or []:
        if "valueFrom" in entry:
            ref = entry["valueFrom"].get("fieldRef")
            if ref is None:
                raise ValueError(f"env {entry['name']}: only fieldRef is resolved by this kubelet stand-in")
            env[entry["name"]] = field_ref(pod, ref["fieldPath"])
        else:
            env[entry["name"]] = expand(entry.get("value", ""), env)
    return env


def token_files(pod: dict, container: dict, tokens: dict[str, str]) -> dict[str, str]:
    """Where each token the container mounts lives: absolute path -> token (`tokens` by volume)."""
    sources = token_sources(pod)
    files = {}
    # Only the volumes a token was minted for: the API server's own kube-api-access volume is
    # not what the AWS SDKs read.
    for mount in (m for m in container.get("volumeMounts") or [] if m["name"] in tokens):
        for source in sources.get(mount["name"], []):
            path = os.path.join(mount["mountPath"], source.get("path", ""))
            files[os.path.normpath(path)] = tokens[mount["name"]]
    return files


# Inside a new mount namespace: a tmpfs over /run (so /var/run/secrets/... is private to this
# process and nothing is written on the host), each token written, then the program exec'd with
# exactly the env it was given. Paths are absolute: the container's env has no PATH.
_EXEC = r"""
set -e
/bin/mount -t tmpfs -o mode=0755 tmpfs /run
while [ "$1" != "--" ]; do
  /bin/mkdir -p "$(/usr/bin/dirname "$1")"
  /bin/cp "$2" "$1"
  shift 2
done
shift
exec "$@"
"""


def run(files: dict[str, str], env: dict[str, str], argv: list[str], workdir: str,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `argv` with exactly `env`, the token `files` in place, in a private mount namespace."""
    pairs = []
    for index, (path, token) in enumerate(sorted(files.items())):
        if not (path.startswith("/run/") or path.startswith("/var/run/")):
            raise ValueError(f"token path {path}: this stand-in mounts tokens under /run only")
        staged = os.path.join(workdir, f"token-{index}")
        with open(staged, "w") as out:
            out.write(token)  # as the kubelet writes it: no trailing newline
        pairs += [path, staged]
    command = ["/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _EXEC,
               "kubelet", *pairs, "--", *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
