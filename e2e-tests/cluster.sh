#!/usr/bin/env bash
# A throwaway cluster on 127.0.0.1 for e2e-tests/cluster.bats: etcd,
# kube-apiserver (ServiceAccount token signing, RBAC, the audit log at level
# Metadata for Pods) and policy-server over TLS running the annotated module,
# behind a MutatingWebhookConfiguration named as the Kubewarden controller
# names it (clusterwide-aws-pod-identity). No kubelet: Pods are admitted and
# stored, never run. Sourced, not run:
#   source e2e-tests/cluster.sh
#   cluster_up DIR POLICY SETTINGS_JSON   # every process started, ready
#   cluster_down                          # every process stopped (also on failure)
# Everything listens on free ports; every file lives under DIR.

WEBHOOK=clusterwide-aws-pod-identity
WEBHOOK_NAME=$WEBHOOK.kubewarden.admission

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for WHAT SECONDS COMMAND...: retries COMMAND every 0.2 s.
wait_for() {
  local what=$1 seconds=$2 tries
  shift 2
  tries=$((seconds * 5))
  until "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then
      echo "$what not ready after ${seconds}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# start NAME COMMAND...: runs COMMAND in the background, its output in
# DIR/NAME.log (appended: a restarted process keeps its history), its pid in
# DIR/NAME.pid. fd 3 is bats' own: a process holding it would hang the suite.
start() {
  local name=$1
  shift
  "$@" >>"$CLUSTER_DIR/$name.log" 2>&1 3>&- &
  echo $! >"$CLUSTER_DIR/$name.pid"
}

# stop NAME: stops what start NAME started, and waits until it is gone.
stop() {
  local file=$CLUSTER_DIR/$1.pid pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$file"
}

make_certs() {
  local d=$CLUSTER_DIR/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=cluster-test-ca \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 1 -out "$d/server.crt" \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n') 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

# kubeconfig FILE USER TOKEN [SERVER]
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: ${4:-https://127.0.0.1:$API_PORT}
      certificate-authority: $CLUSTER_DIR/pki/ca.crt
users:
  - name: $2
    user:
      token: $3
contexts:
  - name: test
    context: {cluster: test, user: $2}
current-context: test
EOF
}

start_etcd() {
  local client peer
  client=$(free_port)
  peer=$(free_port)
  ETCD_URL=http://127.0.0.1:$client
  start etcd etcd --name test --data-dir "$CLUSTER_DIR/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "test=http://127.0.0.1:$peer" --log-level error
  wait_for etcd 30 curl -sf "$ETCD_URL/health"
}

start_apiserver() {
  API_PORT=$(free_port)
  printf 'admin-token,admin,1,"system:masters"\npolicy-server-token,policy-server,2\n' \
    >"$CLUSTER_DIR/tokens.csv"
  cat >"$CLUSTER_DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources: [{group: "", resources: [pods]}]
  - level: None
EOF
  local p=$CLUSTER_DIR/pki
  start kube-apiserver kube-apiserver --etcd-servers "$ETCD_URL" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$p/server.crt" --tls-private-key-file "$p/server.key" \
    --token-auth-file "$CLUSTER_DIR/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --audit-policy-file "$CLUSTER_DIR/audit-policy.yaml" --audit-log-path "$CLUSTER_DIR/audit.log" \
    --audit-log-mode blocking
  kubeconfig "$CLUSTER_DIR/admin.kubeconfig" admin admin-token
  export KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig
  wait_for kube-apiserver 90 kubectl get --raw /readyz
  # The namespaces' own controller is not running: wait for the bootstrap ones.
  wait_for "namespace default" 30 kubectl get namespace default
}

# What policy-server may do: read ServiceAccounts, nothing else (README, Deployment).
grant_policy_server() {
  kubectl apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: aws-pod-identity-policy-read-serviceaccounts
rules:
  - apiGroups: [""]
    resources: ["serviceaccounts"]
    verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: aws-pod-identity-policy-read-serviceaccounts
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: aws-pod-identity-policy-read-serviceaccounts
subjects:
  - kind: User
    name: policy-server
    apiGroup: rbac.authorization.k8s.io
EOF
}

# policies_file SETTINGS_JSON [MORE_YAML]: policy-server's policies.yml. policy-server
# 1.36 grants host capabilities per policy: without hostCapabilities every
# ServiceAccount read is refused, whatever contextAwareResources says.
policies_file() {
  cat >"$CLUSTER_DIR/policies.yml" <<EOF
$WEBHOOK:
  module: file://$CLUSTER_POLICY
  allowedToMutate: true
  contextAwareResources:
    - apiVersion: v1
      kind: ServiceAccount
  hostCapabilities:
    - kubernetes/get_resource
  settings: $1
${2:-}
EOF
}

# start_policy_server [SERVER]: SERVER is the API server URL it is given
# (default: the API server itself; the fault cases put a proxy in between).
start_policy_server() {
  kubeconfig "$CLUSTER_DIR/policy-server.kubeconfig" policy-server policy-server-token "${1:-}"
  POLICY_SERVER_PORT=${POLICY_SERVER_PORT:-$(free_port)}
  READINESS_PORT=${READINESS_PORT:-$(free_port)}
  local p=$CLUSTER_DIR/pki
  KUBECONFIG=$CLUSTER_DIR/policy-server.kubeconfig start policy-server policy-server \
    --addr 127.0.0.1 --port "$POLICY_SERVER_PORT" --readiness-probe-port "$READINESS_PORT" \
    --cert-file "$p/server.crt" --key-file "$p/server.key" \
    --policies "$CLUSTER_DIR/policies.yml" --policies-download-dir "$CLUSTER_DIR/downloads" \
    --sigstore-cache-dir "$CLUSTER_DIR/sigstore" --log-level warn --log-no-color
  wait_for policy-server 60 curl -sf "http://127.0.0.1:$READINESS_PORT/readiness"
}

stop_policy_server() {
  stop policy-server
}

# webhook FAILURE_POLICY [TIMEOUT_SECONDS]: (re)writes the MutatingWebhookConfiguration.
webhook() {
  local ca
  ca=$(base64 -w0 <"$CLUSTER_DIR/pki/ca.crt")
  kubectl apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: $WEBHOOK
webhooks:
  - name: $WEBHOOK_NAME
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: $1
    timeoutSeconds: ${2:-10}
    matchPolicy: Equivalent
    clientConfig:
      url: https://127.0.0.1:$POLICY_SERVER_PORT/validate/$WEBHOOK
      caBundle: $ca
    rules:
      - apiGroups: [""]
        apiVersions: [v1]
        resources: [pods]
        operations: [CREATE]
    namespaceSelector:
      matchExpressions:
        - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kubewarden]}
    objectSelector:
      matchExpressions:
        - {key: eks.amazonaws.com/skip-pod-identity-webhook, operator: DoesNotExist}
EOF
}

# policy-server reaches the API server through a proxy the fault cases can
# pause (slow API server) or stop (unreachable API server).
start_proxy() {
  PROXY_PORT=${PROXY_PORT:-$(free_port)}
  start proxy python3 "$(dirname "${BASH_SOURCE[0]}")/cluster_data/proxy.py" "$PROXY_PORT" "$API_PORT"
  wait_for proxy 10 curl -sf --cacert "$CLUSTER_DIR/pki/ca.crt" "https://127.0.0.1:$PROXY_PORT/livez"
}

pause_proxy() { kill -STOP "$(cat "$CLUSTER_DIR/proxy.pid")"; }
resume_proxy() { kill -CONT "$(cat "$CLUSTER_DIR/proxy.pid")"; }

# cluster_up DIR POLICY SETTINGS_JSON: the policy under the webhook's name, and
# the same policy in audit mode beside it (policy-server's
# /validate/$WEBHOOK-audit), which the fault cases ask about admitted Pods.
cluster_up() {
  CLUSTER_DIR=$1
  CLUSTER_POLICY=$2
  mkdir -p "$CLUSTER_DIR"
  make_certs
  start_etcd
  start_apiserver
  grant_policy_server
  start_proxy
  local audit
  audit=$(jq -c '. + {mode: "audit"}' <<<"$3")
  policies_file "$3" "$WEBHOOK-audit:
  module: file://$CLUSTER_POLICY
  contextAwareResources:
    - apiVersion: v1
      kind: ServiceAccount
  hostCapabilities:
    - kubernetes/get_resource
  settings: $audit"
  start_policy_server "https://127.0.0.1:$PROXY_PORT"
  webhook Fail
}

# audit_verdict < POD_JSON: what the policy in audit mode says of a stored Pod,
# as policy-server answers a CREATE of it: "allowed" or its message.
audit_verdict() {
  jq -c '{apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: {
      uid: "audit", kind: {group: "", version: "v1", kind: "Pod"}, resource: {group: "", version: "v1", resource: "pods"},
      operation: "CREATE", namespace: .metadata.namespace, name: .metadata.name, userInfo: {username: "cluster-test"}, object: .}}' |
    curl -sf --cacert "$CLUSTER_DIR/pki/ca.crt" -H 'Content-Type: application/json' --data-binary @- \
      "https://127.0.0.1:$POLICY_SERVER_PORT/validate/$WEBHOOK-audit" |
    jq -r 'if .response.allowed then "allowed" else .response.status.message end'
}

cluster_down() {
  local name
  [ -n "${CLUSTER_DIR:-}" ] || return 0
  for name in proxy policy-server kube-apiserver etcd; do
    stop "$name"
  done
}
