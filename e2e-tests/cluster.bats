#!/usr/bin/env bats
# The policy in the real engine, behind a real API server: etcd,
# kube-apiserver and policy-server on 127.0.0.1 (e2e-tests/cluster.sh), the
# annotated module, Pods created with kubectl and read back as admitted.
#   make cluster-test
#   POLICY=annotated-policy.wasm IRSA_OIDC=target/debug/irsa-oidc bats e2e-tests/cluster.bats
# Needs etcd, kube-apiserver, kubectl, policy-server, openssl, curl, jq and python3.
# The fault cases print their figures (created / refused / without credentials).

bats_require_minimum_version 1.5.0

ROLE=arn:aws:iam::111122223333:role/app-reader

setup_file() {
  ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
  export ROOT
  export POLICY="${POLICY:-$ROOT/annotated-policy.wasm}"
  export CLUSTER_DIR="${CLUSTER_DIR:-$BATS_FILE_TMPDIR/cluster}"
  source "$BATS_TEST_DIRNAME/cluster.sh"
  cluster_up "$CLUSTER_DIR" "$POLICY" "$(cat "$BATS_TEST_DIRNAME/cluster_data/settings.json")" ||
    { cluster_down; return 1; }
  export KUBECONFIG API_PORT POLICY_SERVER_PORT READINESS_PORT PROXY_PORT
  kubectl create namespace team-a >/dev/null
}

teardown_file() {
  source "$BATS_TEST_DIRNAME/cluster.sh"
  cluster_down
  # Kept for a look after a failure: bats removes its tmpdir only on success.
}

setup() {
  source "$BATS_TEST_DIRNAME/cluster.sh"
  DATA="$BATS_TEST_DIRNAME/cluster_data"
}

# admitted NAMESPACE POD: the Pod as the API server stored it, without what
# changes on every run (uid, times, versions, the generated token volume's suffix).
admitted() {
  kubectl get pod -n "$1" "$2" -o json | jq -S '
    del(.metadata.uid, .metadata.creationTimestamp, .metadata.resourceVersion, .metadata.managedFields)
    | walk(if type == "string" and test("^kube-api-access-[a-z0-9]{5}$") then "kube-api-access" else . end)
    | (.spec.volumes[]? | select(.name == "eks-pod-identity-token") | .projected.sources[].serviceAccountToken.expirationSeconds)
      |= (if . >= 79200 and . <= 86400 then "spread over [79200, 86400]" else . end)'
}

# expect_admitted NAMESPACE POD EXPECTED: the stored Pod equals DATA/expected/EXPECTED.json.
# CLUSTER_RECORD=1 writes the file instead (then read every line of the diff).
expect_admitted() {
  local actual
  actual=$(admitted "$1" "$2")
  [ -z "${CLUSTER_RECORD:-}" ] || printf '%s\n' "$actual" >"$DATA/expected/$3.json"
  if ! diff <(jq -S . "$DATA/expected/$3.json") <(printf '%s\n' "$actual"); then
    echo "the admitted Pod $1/$2 differs from expected/$3.json (above: - expected, + admitted)"
    return 1
  fi
}

# has_credentials NAMESPACE POD: every container of the stored Pod has the role or the URI.
has_credentials() {
  kubectl get pod -n "$1" "$2" -o json | jq -e '
    [.spec.containers[] | any(.env[]?; .name == "AWS_ROLE_ARN" or .name == "AWS_CONTAINER_CREDENTIALS_FULL_URI")]
    | all' >/dev/null
}

@test "the README's example Pod is admitted with the role, the token file, the mount and the volume" {
  kubectl apply -f "$ROOT/examples/serviceaccount.yaml"
  kubectl apply -f "$ROOT/examples/pod.yaml"
  expect_admitted team-a app readme-example
}

@test "a ServiceAccount listed for container credentials gets the Pod Identity env, label and volume" {
  kubectl create serviceaccount -n team-a agent
  kubectl apply -f "$DATA/pods/agent.yaml"
  expect_admitted team-a agent container-credentials
}

@test "a Pod whose ServiceAccount has no role is admitted exactly as the API server alone would" {
  kubectl create serviceaccount -n team-a plain
  kubectl apply -f "$DATA/pods/plain.yaml"
  expect_admitted team-a plain no-role
}

@test "a Pod with the skip label is admitted unchanged although its ServiceAccount has a role" {
  kubectl apply -f "$ROOT/examples/serviceaccount.yaml"
  kubectl apply -f "$DATA/pods/skipped.yaml"
  expect_admitted team-a skipped skip-label
}

@test "the Pod's audit event carries the policy's annotations under the webhook's name" {
  kubectl apply -f "$ROOT/examples/serviceaccount.yaml"
  kubectl get pod -n team-a app >/dev/null 2>&1 || kubectl apply -f "$ROOT/examples/pod.yaml"
  local event annotations
  event=$(jq -c 'select(.verb == "create" and .objectRef.resource == "pods" and .objectRef.namespace == "team-a"
    and .objectRef.name == "app" and .stage == "ResponseComplete")' "$CLUSTER_DIR/audit.log" | tail -n 1)
  annotations=$(jq -cS '.annotations | with_entries(select(.key | startswith("clusterwide-")))' <<<"$event")
  echo "audit annotations: $annotations"
  [ -z "${CLUSTER_RECORD:-}" ] || printf '%s\n' "$annotations" | jq -S . >"$DATA/expected/audit-annotations.json"
  [ "$annotations" = "$(jq -cS . "$DATA/expected/audit-annotations.json")" ]
  # The patch the webhook applied is on the same event, under the webhook's configuration.
  jq -e '.annotations["mutation.webhook.admission.k8s.io/round_0_index_0"] | fromjson
    == {"configuration": "clusterwide-aws-pod-identity", "webhook": "clusterwide-aws-pod-identity.kubewarden.admission", "mutated": true}' \
    <<<"$event"
}

# sdks_on_stored_pod POD VOLUME AUDIENCE CASE: real AWS SDKs (e2e-tests/sdk/) run with each
# processed container's env of the Pod as the API server stored it, the token minted by the
# API server's TokenRequest API for that volume and bound to the Pod, against the STS and Pod
# Identity agent stand-ins; CASE names the scenario of e2e-tests/sdk/python/scenarios.py whose
# expectations (identity, STS host, what the stand-ins saw) apply.
sdks_on_stored_pod() {
  [ -n "${SDK_SUITE:-}" ] || skip "SDK_SUITE is not set (make cluster-test sets it)"
  [ "$(id -u)" = 0 ] || skip "the credential-chain suite needs root (private namespaces)"
  local pod="$BATS_TEST_TMPDIR/pod.json" token="$BATS_TEST_TMPDIR/token" uid seconds
  kubectl get pod -n team-a "$1" -o json >"$pod"
  uid=$(jq -r .metadata.uid "$pod")
  seconds=$(jq -r --arg v "$2" '.spec.volumes[] | select(.name == $v) | .projected.sources[0].serviceAccountToken.expirationSeconds' "$pod")
  kubectl create token -n team-a "$(jq -r .spec.serviceAccountName "$pod")" --audience "$3" \
    --duration "${seconds}s" --bound-object-kind Pod --bound-object-name "$1" --bound-object-uid "$uid" >"$token"
  # shellcheck disable=SC2086 # SDK_SUITE is a command line
  run $SDK_SUITE --pod "$pod" --token "$2=$token" --issuer https://kubernetes.default.svc.cluster.local \
    --signing-key "$CLUSTER_DIR/pki/sa.pub" --case "$4"
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "real AWS SDKs on the README's example Pod as stored, with a TokenRequest token: boto3 and the CLI get the role" {
  kubectl apply -f "$ROOT/examples/serviceaccount.yaml"
  kubectl get pod -n team-a app >/dev/null 2>&1 || kubectl apply -f "$ROOT/examples/pod.yaml"
  sdks_on_stored_pod app aws-iam-token sts.amazonaws.com "the README's example (default settings: no region)"
}

@test "real AWS SDKs on the container-credentials Pod as stored, with a TokenRequest token, through the agent stand-in" {
  kubectl get serviceaccount -n team-a agent >/dev/null 2>&1 || kubectl create serviceaccount -n team-a agent
  kubectl get pod -n team-a agent >/dev/null 2>&1 || kubectl apply -f "$DATA/pods/agent.yaml"
  sdks_on_stored_pod agent eks-pod-identity-token pods.eks.amazonaws.com "container credentials, default settings (no region)"
}

@test "irsa-oidc jwks of the API server's signing key is the API server's own JWKS" {
  [ -n "${IRSA_OIDC:-}" ] || skip "IRSA_OIDC is not set"
  kubectl get --raw /openid/v1/jwks | jq -S . >"$BATS_TEST_TMPDIR/apiserver.json"
  "$IRSA_OIDC" jwks "$CLUSTER_DIR/pki/sa.pub" | jq -S . >"$BATS_TEST_TMPDIR/ours.json"
  diff "$BATS_TEST_TMPDIR/apiserver.json" "$BATS_TEST_TMPDIR/ours.json"
}

@test "a token from kubectl create token passes irsa-oidc check-token for its audience and fails for another" {
  [ -n "${IRSA_OIDC:-}" ] || skip "IRSA_OIDC is not set"
  local issuer=https://kubernetes.default.svc.cluster.local
  kubectl apply -f "$ROOT/examples/serviceaccount.yaml"
  kubectl get --raw /openid/v1/jwks >"$BATS_TEST_TMPDIR/jwks.json"
  kubectl create token -n team-a app --audience sts.amazonaws.com >"$BATS_TEST_TMPDIR/token"
  run "$IRSA_OIDC" check-token --issuer "$issuer" --jwks "$BATS_TEST_TMPDIR/jwks.json" "$BATS_TEST_TMPDIR/token"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"system:serviceaccount:team-a:app"* ]]
  run "$IRSA_OIDC" check-token --issuer "$issuer" --jwks "$BATS_TEST_TMPDIR/jwks.json" \
    --audience other.example.com "$BATS_TEST_TMPDIR/token"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"other.example.com"* ]]
}

@test "a ServiceAccount annotated after it was read gives its role to the next Pod after the cache window" {
  kubectl create serviceaccount -n team-a late
  kubectl apply -f "$DATA/pods/late-1.yaml"
  ! has_credentials team-a late-1
  kubectl annotate serviceaccount -n team-a late "eks.amazonaws.com/role-arn=$ROLE"
  # docs/differences.md: answers may be up to 5 s old.
  sleep 6
  kubectl apply -f "$DATA/pods/late-2.yaml"
  has_credentials team-a late-2
  expect_admitted team-a late-2 late-annotated
}

# --- Faults: what happens to Pods when policy-server or the API server fails.

# service_account NAME: a ServiceAccount in team-a with the role.
service_account() {
  kubectl create serviceaccount -n team-a "$1" >/dev/null
  kubectl annotate serviceaccount -n team-a "$1" "eks.amazonaws.com/role-arn=$ROLE" >/dev/null
}

pod_json() { # NAME SA LABEL
  printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"team-a","labels":{"fault":"%s"}},"spec":{"serviceAccountName":"%s","containers":[{"name":"app","image":"busybox"}]}}' "$1" "$3" "$2"
}

# client RESULTS LABEL SA FIRST STEP COUNT: creates Pods LABEL-FIRST, LABEL-(FIRST+STEP), …
# below COUNT, or until $STOP exists; one line per Pod in RESULTS:
# "NAME created" or "NAME refused MESSAGE".
client() {
  local i=$4 out
  while [ "$i" -lt "$6" ] && [ ! -f "$STOP" ]; do
    if out=$(pod_json "$2-$i" "$3" "$2" | kubectl create -f - 2>&1); then
      echo "$2-$i created" >>"$1"
    else
      echo "$2-$i refused ${out//$'\n'/ }" >>"$1"
    fi
    i=$((i + $5))
  done
}

attempts() { cat "$RESULTS"/* 2>/dev/null | wc -l; }

# wait_attempts N: until N Pods were tried (at most 120 s).
wait_attempts() {
  local tries=600
  while [ "$(attempts)" -lt "$1" ] && [ "$tries" -gt 0 ]; do sleep 0.2; tries=$((tries - 1)); done
  [ "$(attempts)" -ge "$1" ]
}

# clients LABEL SA N COUNT: N clients in the background creating COUNT Pods between them.
clients() {
  RESULTS=$BATS_TEST_TMPDIR/results-$1
  STOP=$BATS_TEST_TMPDIR/stop-$1
  mkdir -p "$RESULTS"
  CLIENTS=()
  local c
  for ((c = 0; c < $3; c++)); do
    client "$RESULTS/$c" "$1" "$2" "$c" "$3" "$4" 3>&- &
    CLIENTS+=($!)
  done
}

wait_clients() { wait "${CLIENTS[@]}"; }

restart_policy_server() {
  stop_policy_server
  start_policy_server "https://127.0.0.1:$PROXY_PORT"
}

# outage LABEL SA: four clients create Pods; policy-server is stopped after the
# first 8, kept down for 8 more attempts, started again, and the clients stop
# 8 attempts after it is ready.
outage() {
  clients "$1" "$2" 4 1000000
  wait_attempts 8
  stop_policy_server
  wait_attempts $(($(attempts) + 8))
  start_policy_server "https://127.0.0.1:$PROXY_PORT"
  wait_attempts $(($(attempts) + 8))
  touch "$STOP"
  wait_clients
}

# tally LABEL: counts the attempts of $RESULTS into attempted, refused, with
# (created with credentials) and without (created without them); prints them.
tally() {
  attempted=$(attempts)
  refused=$(grep -c ' refused ' "$RESULTS"/* | awk -F: '{n += $2} END {print n + 0}')
  local stored
  stored=$(kubectl get pods -n team-a -l "fault=$1" -o json)
  with=$(jq '[.items[] | select(all(.spec.containers[]; any(.env[]?; .name == "AWS_ROLE_ARN")))] | length' <<<"$stored")
  without=$(jq '[.items[] | select(all(.spec.containers[]; any(.env[]?; .name == "AWS_ROLE_ARN")) | not)] | length' <<<"$stored")
  WITHOUT_NAMES=$(jq -r '.items[] | select(all(.spec.containers[]; any(.env[]?; .name == "AWS_ROLE_ARN")) | not) | .metadata.name' <<<"$stored" | sort)
  local line="$1: $attempted Pods tried: $with created with credentials, $without created without, $refused refused"
  echo "$line"
  echo "# $line" >&3
  echo "$line" >>"$CLUSTER_DIR/figures.txt"
}

@test "fault: policy-server down and back up under failurePolicy Fail: every Pod is created with credentials or refused" {
  service_account outage-fail
  webhook Fail 10
  outage outage-fail outage-fail
  tally outage-fail
  [ "$without" -eq 0 ]
  [ "$refused" -gt 0 ]
  [ "$with" -gt 0 ]
  [ $((with + refused)) -eq "$attempted" ]
  # Every refusal is the API server's, naming the webhook it could not call.
  ! grep ' refused ' "$RESULTS"/* | grep -v "failed calling webhook \"$WEBHOOK_NAME\""
}

@test "fault: policy-server down and back up under failurePolicy Ignore: the Pods without credentials are exactly those audit mode reports" {
  service_account outage-ignore
  webhook Ignore 10
  outage outage-ignore outage-ignore
  tally outage-ignore
  [ "$without" -gt 0 ]
  [ "$refused" -eq 0 ]
  local pod reported=()
  while read -r pod; do
    [ "$(audit_verdict <<<"$pod")" = allowed ] || reported+=("$(jq -r .metadata.name <<<"$pod")")
  done < <(kubectl get pods -n team-a -l fault=outage-ignore -o json | jq -c '.items[]')
  echo "audit mode reports ${#reported[@]} Pods"
  diff <(printf '%s\n' "${reported[@]}" | sort) <(printf '%s\n' "$WITHOUT_NAMES")
  webhook Fail 10
}

# timed_create NAME SA LABEL: creates one Pod; $created is yes or no, $message
# kubectl's output, $seconds how long the API server took to answer.
timed_create() {
  local start end
  start=$(date +%s.%N)
  if message=$(pod_json "$1" "$2" "$3" | kubectl create -f - 2>&1); then created=yes; else created=no; fi
  end=$(date +%s.%N)
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
  echo "$1: created=$created after ${seconds}s: $message"
}

figure() {
  echo "# $1" >&3
  echo "$1" >>"$CLUSTER_DIR/figures.txt"
}

# last_event POD: the audit event of the Pod's creation.
last_event() {
  jq -c -s --arg name "$1" 'map(select(.verb == "create" and .objectRef.resource == "pods"
    and .objectRef.name == $name and .stage == "ResponseComplete")) | last' "$CLUSTER_DIR/audit.log"
}

@test "fault: a ServiceAccount read that hangs past the webhook's timeout: the Pod follows the failurePolicy" {
  service_account slow-fail
  service_account slow-ignore
  webhook Fail 3
  pause_proxy
  timed_create slow-fail slow-fail slow
  resume_proxy
  figure "hanging API server, failurePolicy Fail, timeoutSeconds 3: created=$created after ${seconds}s"
  [ "$created" = no ]
  [[ "$message" == *"failed calling webhook \"$WEBHOOK_NAME\""* ]]
  webhook Ignore 3
  pause_proxy
  timed_create slow-ignore slow-ignore slow
  resume_proxy
  figure "hanging API server, failurePolicy Ignore, timeoutSeconds 3: created=$created after ${seconds}s"
  [ "$created" = yes ]
  ! has_credentials team-a slow-ignore
  # The API server records that it went on without the webhook.
  last_event slow-ignore | jq -e '.annotations | has("failed-open.mutation.webhook.admission.k8s.io/round_0_index_0")'
  webhook Fail 10
}

@test "fault: an unreachable API server: both reads fail fast, the Pod is admitted in time with a warning and marked unreadable" {
  service_account unreachable
  webhook Fail 10
  stop proxy
  timed_create unreachable unreachable unreachable
  start_proxy
  figure "unreachable API server (connection refused), failurePolicy Fail: created=$created after ${seconds}s"
  [ "$created" = yes ]
  [[ "$message" == *"could not read ServiceAccount team-a/unreachable"* ]]
  ! has_credentials team-a unreachable
  last_event unreachable |
    jq -e '.annotations["clusterwide-aws-pod-identity.kubewarden.admission/serviceaccount"] == "unreadable"'
}

@test "fault: 500 Pods from 16 clients with policy-server restarted once in the middle (failurePolicy Fail)" {
  service_account load
  webhook Fail 10
  local start
  start=$(date +%s)
  clients load load 16 500
  wait_attempts 250
  restart_policy_server
  wait_clients
  tally load
  figure "load: 500 Pods from 16 clients in $(($(date +%s) - start))s with one policy-server restart"
  [ "$attempted" -eq 500 ]
  [ "$without" -eq 0 ]
  [ $((with + refused)) -eq 500 ]
}
