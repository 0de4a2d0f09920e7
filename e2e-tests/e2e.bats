#!/usr/bin/env bats
# End-to-end tests of the compiled policy, run the way kwctl runs it.
#   make e2e-tests                                   # with the project's policy-host
#   KWCTL=kwctl POLICY=annotated-policy.wasm bats e2e-tests/e2e.bats   # with the real kwctl
# Only kwctl's flags are used; assertions are on the printed AdmissionResponse.

bats_require_minimum_version 1.5.0

setup() {
  ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
  KWCTL="${KWCTL:-$ROOT/target/debug/policy-host}"
  POLICY="${POLICY:-$ROOT/policy.wasm}"
  DATA="$BATS_TEST_DIRNAME/test_data"
  ROLE="arn:aws:iam::111122223333:role/app-reader"
  TOKEN_FILE="/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
}

# evaluate REQUEST SESSION [extra kwctl flags...]: runs the policy; the response is in $response.
# REQUEST names a fixture in test_data/requests, or is a path.
evaluate() {
  local request="$DATA/requests/$1.json" session="$2"
  [[ "$1" == */* ]] && request="$1"
  shift 2
  run --separate-stderr "$KWCTL" run -r "$request" \
    --allow-context-aware --replay-host-capabilities-interactions "$DATA/sessions/$session.yml" \
    "$@" "$POLICY"
  [ "$status" -eq 0 ] || { echo "exit $status: $stderr"; return 1; }
  response="$(printf '%s\n' "$output" | tail -n 1)"
  echo "response: $response"
}

# The decoded JSON patch (an array of operations).
patch_ops() {
  printf '%s' "$response" | jq -r '.patch' | base64 -d
}

# expect JQ: the jq expression must be true of the response.
expect() {
  printf '%s' "$response" | jq -e "$1" >/dev/null || { echo "not true of the response: $1"; return 1; }
}

# expect_patch JQ: the jq expression must be true of the decoded patch.
expect_patch() {
  patch_ops | jq -e "$1" >/dev/null || { echo "not true of the patch: $1"; patch_ops | jq -c '.[]'; return 1; }
}

# The request's Pod after the patch: patched_pod REQUEST
patched_pod() {
  jq --argjson ops "$(patch_ops)" -L "$BATS_TEST_DIRNAME" 'include "patch"; .request.object | apply_patch($ops)' "$DATA/requests/$1.json"
}

iam_volume() { # AUDIENCE SECONDS
  printf '{"name":"aws-iam-token","projected":{"sources":[{"serviceAccountToken":{"audience":"%s","expirationSeconds":%s,"path":"token"}}]}}' "$1" "$2"
}

@test "an SA with a role gets the env pair, the mount and the volume (default settings)" {
  evaluate pod sa-with-role
  expect '.allowed == true and .patchType == "JSONPatch" and (.warnings == null)'
  expect_patch 'length == 4'
  expect_patch ".[0] == {op: \"add\", path: \"/spec/containers/0/env/1\", value: {name: \"AWS_ROLE_ARN\", value: \"$ROLE\"}}"
  expect_patch ".[1] == {op: \"add\", path: \"/spec/containers/0/env/2\", value: {name: \"AWS_WEB_IDENTITY_TOKEN_FILE\", value: \"$TOKEN_FILE\"}}"
  expect_patch '.[2] == {op: "add", path: "/spec/containers/0/volumeMounts", value: [{name: "aws-iam-token", readOnly: true, mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount"}]}'
  expect_patch ".[3] == {op: \"add\", path: \"/spec/volumes\", value: [$(iam_volume sts.amazonaws.com 86400)]}"
}

@test "region and regional STS come before the pair, in the reference's order" {
  evaluate pod sa-with-role -s "$DATA/settings/region-sts.yaml"
  expect_patch '[.[] | select(.path | startswith("/spec/containers/0/env/")) | .value.name] == ["AWS_STS_REGIONAL_ENDPOINTS", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]'
  expect_patch '.[0].value.value == "regional" and .[1].value.value == "eu-west-1" and .[2].value.value == "eu-west-1"'
}

@test "the SA's sts-regional-endpoints annotation turns regional STS on" {
  evaluate pod sa-with-role-sts
  expect_patch '.[0] == {op: "add", path: "/spec/containers/0/env/1", value: {name: "AWS_STS_REGIONAL_ENDPOINTS", value: "regional"}}'
}

@test "the Pod token-expiration annotation sets the token lifetime" {
  evaluate pod-token-expiration sa-with-role
  expect_patch ".[] | select(.path == \"/spec/volumes\") | .value == [$(iam_volume sts.amazonaws.com 3600)]"
}

@test "skip-containers (trimmed) leaves the named container alone; init containers are mutated" {
  evaluate pod-skip-containers sa-with-role
  expect_patch '[.[].path] == ["/spec/containers/0/env", "/spec/containers/0/volumeMounts", "/spec/initContainers/0/env", "/spec/initContainers/0/volumeMounts", "/spec/volumes"]'
  expect_patch 'all(.[]; (.path | startswith("/spec/containers/1")) | not)'
}

@test "a Windows Pod gets a Windows token path and a Unix mount path" {
  evaluate pod-windows sa-with-role
  expect_patch '.[1].value == {name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: "C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount\\token"}'
  expect_patch '.[2].value[0].mountPath == "/var/run/secrets/eks.amazonaws.com/serviceaccount"'
}

@test "an SA without a role gets no patch" {
  evaluate pod sa-without-role
  expect '.allowed == true and .patch == null and .patchType == null and .warnings == null'
}

@test "an SA missing on the cached and the live read: allowed, one warning, no patch" {
  evaluate pod sa-not-found
  expect '.allowed == true and .patch == null'
  expect '.warnings | length == 1'
  expect '.warnings[0] | contains("could not read ServiceAccount team-a/app") and contains("Cannot find v1/ServiceAccount")'
}

@test "an SA missing from the cache but found live is used" {
  evaluate pod sa-found-on-retry
  expect '.allowed == true and .warnings == null'
  expect_patch ".[0].value == {name: \"AWS_ROLE_ARN\", value: \"$ROLE\"}"
}

@test "cacheServiceAccounts false reads the SA live, once" {
  evaluate pod sa-live-read -s "$DATA/settings/no-cache.json"
  expect_patch ".[0].value == {name: \"AWS_ROLE_ARN\", value: \"$ROLE\"}"
}

@test "lookupServiceAccounts false with a mapping makes no host call at all" {
  evaluate pod empty -s "$DATA/settings/mapping-no-lookup.yaml"
  expect '.allowed == true and .warnings == null'
  expect_patch '.[0].value == {name: "AWS_ROLE_ARN", value: "arn:aws:iam::111122223333:role/mapped"}'
  expect_patch ".[3].value == [$(iam_volume sts.amazonaws.com 7200)]"
}

@test "settings given as JSON on the command line are used" {
  evaluate pod sa-with-role --settings-json '{"tokenAudience":"sts.example.com","tokenExpiration":3600}'
  expect_patch ".[3].value == [$(iam_volume sts.example.com 3600)]"
}

@test "invalid settings: non-zero exit and a message naming the field" {
  run --separate-stderr "$KWCTL" run -r "$DATA/requests/pod.json" -s "$DATA/settings/invalid-expiration.yaml" "$POLICY"
  [ "$status" -ne 0 ]
  [[ "$stderr$output" == *"Provided settings are not valid"*"tokenExpiration"* ]]
}

@test "unknown settings fields are refused" {
  run --separate-stderr "$KWCTL" run -r "$DATA/requests/pod.json" -s "$DATA/settings/invalid-unknown-field.yaml" "$POLICY"
  [ "$status" -ne 0 ]
  [[ "$stderr$output" == *"Provided settings are not valid"*"tokenAudiences"* ]]
}

@test "a non-Pod kind is accepted unchanged without a host call" {
  evaluate deployment empty
  expect '.allowed == true and .patch == null and .warnings == null'
}

@test "a malformed Pod is rejected with 400 naming the field" {
  evaluate malformed empty
  expect '.allowed == false and .status.code == 400'
  expect '.status.message | contains("spec must be an object")'
}

@test "a malformed container list is rejected with 400 when an identity applies" {
  evaluate malformed-containers sa-with-role
  expect '.allowed == false and .status.code == 400 and (.status.message | contains("spec.containers must be a list"))'
}

@test "unknown fields and odd shapes survive the patch" {
  evaluate pod-unknown-fields sa-with-role
  pod="$(patched_pod pod-unknown-fields)"
  jq -e '.futurePodField == {x: 1} and .spec.futureSpecField == true' <<<"$pod"
  jq -e '.spec.containers[0].futureContainerField == "kept" and .spec.containers[0].volumeMounts[0] == {name: "cache"}' <<<"$pod"
  jq -e '.spec.containers[0].env[0] == {name: "POD_NAME", valueFrom: {fieldRef: {fieldPath: "metadata.name"}}}' <<<"$pod"
  jq -e '[.spec.volumes[].name] == ["aws-iam-token", "cache"] and .spec.volumes[1].futureVolumeType == {size: "1Gi"}' <<<"$pod"
  diff <(jq -S . <<<"$pod") <(jq -S . "$DATA/expected/pod-unknown-fields.json")
}

@test "a listed identity gets container credentials and the pod-identity label" {
  evaluate pod-listed sa-with-role -s "$DATA/settings/container-credentials.yaml"
  expect '.allowed == true'
  expect_patch '.[0] == {op: "add", path: "/metadata/labels/eks.amazonaws.com~1pod-identity", value: "enabled"}'
  expect_patch '.[1].value == {name: "AWS_CONTAINER_CREDENTIALS_FULL_URI", value: "http://169.254.170.23/v1/credentials"}'
  expect_patch '.[2].value == {name: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", value: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"}'
  expect_patch '.[3].value == [{name: "eks-pod-identity-token", readOnly: true, mountPath: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"}]'
  expect_patch '.[4].path == "/spec/volumes" and (.[4].value[0].projected.sources[0].serviceAccountToken | .audience == "pods.eks.amazonaws.com" and .path == "eks-pod-identity-token" and .expirationSeconds >= 79200 and .expirationSeconds <= 86400)'
  expect_patch 'all(.[]; .value.name? != "AWS_ROLE_ARN")'
}

@test "the container-credentials spread is the same for the same request" {
  evaluate pod-listed sa-with-role -s "$DATA/settings/container-credentials.yaml"
  first="$(patch_ops | jq '.[4].value[0].projected.sources[0].serviceAccountToken.expirationSeconds')"
  evaluate pod-listed sa-with-role -s "$DATA/settings/container-credentials.yaml"
  [ "$(patch_ops | jq '.[4].value[0].projected.sources[0].serviceAccountToken.expirationSeconds')" = "$first" ]
}

@test "custom container-credentials volume, mount, token path and IPv6 URI are used" {
  evaluate pod-listed sa-without-role -s "$DATA/settings/container-credentials-custom.yaml"
  expect_patch '.[1].value.value == "http://[fd00:ec2::23]/v1/credentials"'
  expect_patch '.[2].value.value == "/var/run/secrets/pod-identity/token"'
  expect_patch '.[3].value == [{name: "pod-identity-token", readOnly: true, mountPath: "/var/run/secrets/pod-identity"}]'
  expect_patch '.[4].value[0] | .name == "pod-identity-token" and .projected.sources[0].serviceAccountToken.audience == "pods.example.com"'
}

@test "container credentials without a host call" {
  evaluate pod-listed empty -s "$DATA/settings/container-credentials-no-lookup.yaml"
  expect_patch '.[1].value.name == "AWS_CONTAINER_CREDENTIALS_FULL_URI"'
}

@test "a conflicting volume of the same name is kept and not duplicated" {
  evaluate pod-with-volume sa-with-role -s "$DATA/settings/container-credentials.yaml"
  expect_patch 'all(.[]; (.path | startswith("/spec/volumes")) | not)'
  expect_patch '.[3].value[0].name == "eks-pod-identity-token"'
}

@test "skip-containers applies to container credentials" {
  evaluate pod-skip-containers sa-with-role -s "$DATA/settings/container-credentials.yaml"
  expect_patch 'all(.[]; (.path | startswith("/spec/containers/1")) | not)'
  expect_patch '[.[] | select(.path == "/spec/containers/0/env") | .value[].name] == ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]'
}

@test "without --allow-context-aware the SA cannot be read: allowed with a warning" {
  run --separate-stderr "$KWCTL" run -r "$DATA/requests/pod.json" "$POLICY"
  [ "$status" -eq 0 ]
  response="$(printf '%s\n' "$output" | tail -n 1)"
  expect '.allowed == true and .patch == null and (.warnings | length == 1)'
}

@test "a request read from stdin as a bare AdmissionRequest" {
  run --separate-stderr bash -c "jq .request '$DATA/requests/pod.json' | '$KWCTL' run -r - --allow-context-aware --replay-host-capabilities-interactions '$DATA/sessions/sa-with-role.yml' '$POLICY'"
  [ "$status" -eq 0 ]
  response="$(printf '%s\n' "$output" | tail -n 1)"
  expect '.uid == "7d1bfa0e-5c3f-4c5e-8e0c-2a9f0b7a1c01" and .allowed == true and .patchType == "JSONPatch"'
}

# Beyond the EKS webhook

@test "include-containers processes only the named containers and warns about unknown names" {
  evaluate pod-include-containers sa-with-role
  expect_patch 'all(.[]; (.path | startswith("/spec/containers/1")) | not)'
  expect_patch '[.[] | select(.path | startswith("/spec/containers/0/env/")) | .value.name] == ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]'
  expect '.warnings == ["container \"ghost\" named in annotation eks.amazonaws.com/include-containers matches no container or init container"]'
}

@test "allowPodRoleArn: the Pod's role-arn annotation overrides the ServiceAccount's" {
  evaluate pod-role-annotation sa-with-role -s "$DATA/settings/allow-pod-role.yaml"
  expect_patch '.[0].value == {name: "AWS_ROLE_ARN", value: "arn:aws:iam::111122223333:role/pod-own"}'
}

@test "without allowPodRoleArn the Pod's role-arn annotation is ignored with a warning" {
  evaluate pod-role-annotation sa-with-role
  expect_patch ".[0].value == {name: \"AWS_ROLE_ARN\", value: \"$ROLE\"}"
  expect '.warnings[0] | contains("eks.amazonaws.com/role-arn on the Pod is ignored")'
}

@test "allowedRoleArns rejects a role outside the list with 403" {
  evaluate pod sa-with-role -s "$DATA/settings/allowed-roles.yaml"
  expect '.allowed == false and .status.code == 403 and .patch == null'
  expect ".status.message | contains(\"$ROLE\") and contains(\"team-a/app\")"
}

@test "roleSessionName podName adds AWS_ROLE_SESSION_NAME from the downward API" {
  evaluate pod sa-with-role -s "$DATA/settings/session-name.yaml"
  expect_patch '.[2] == {op: "add", path: "/spec/containers/0/env/3", value: {name: "AWS_ROLE_SESSION_NAME", valueFrom: {fieldRef: {fieldPath: "metadata.name"}}}}'
}

@test "a conflicting AWS_ROLE_ARN is a warning by default" {
  evaluate pod-role-conflict sa-with-role
  expect '.allowed == true'
  expect '.warnings == ["container app sets AWS_ROLE_ARN to \"arn:aws:iam::111122223333:role/hardcoded\", not \"arn:aws:iam::111122223333:role/app-reader\""]'
}

@test "onConflict reject turns the conflict into a 400 with the same sentence" {
  evaluate pod-role-conflict sa-with-role -s "$DATA/settings/conflict-reject.yaml"
  expect '.allowed == false and .status.code == 400'
  expect '.status.message == "container app sets AWS_ROLE_ARN to \"arn:aws:iam::111122223333:role/hardcoded\", not \"arn:aws:iam::111122223333:role/app-reader\""'
}

@test "static keys in a container's env: the webhook's patch, and a warning that the SDKs will use the keys" {
  evaluate pod-static-keys sa-with-role
  expect '.allowed == true and .patchType == "JSONPatch"'
  expect '.warnings == ["container app sets AWS_ACCESS_KEY_ID: AWS SDKs use these static keys before the injected credentials, so the Pod does not act as its role"]'
  expect_patch 'length == 4'
}

@test "static keys in a container's env with onConflict reject: refused with the same sentence" {
  evaluate pod-static-keys sa-with-role -s "$DATA/settings/conflict-reject.yaml"
  expect '.allowed == false and .status.code == 400'
  expect '.status.message == "container app sets AWS_ACCESS_KEY_ID: AWS SDKs use these static keys before the injected credentials, so the Pod does not act as its role"'
}

@test "audit mode rejects a Pod that lacks its credentials, listing what is missing, without a patch" {
  evaluate pod sa-with-role -s "$DATA/settings/audit.yaml"
  expect '.allowed == false and .status.code == 400 and .patch == null'
  expect '.status.message == "the Pod lacks its AWS credentials: container app: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, mount aws-iam-token; volume aws-iam-token"'
}

@test "audit mode accepts a Pod that already has its credentials" {
  evaluate pod-already-injected sa-with-role -s "$DATA/settings/audit.yaml"
  expect '.allowed == true and .patch == null and .warnings == null'
}

@test "audit mode rejects a Pod whose AWS_ROLE_ARN is not the ServiceAccount's current role" {
  evaluate pod-already-injected sa-role-changed -s "$DATA/settings/audit.yaml"
  expect '.allowed == false and .status.code == 400'
  expect '.status.message | contains("role/app-writer")'
}

@test "the ServiceAccount's region annotation replaces awsDefaultRegion" {
  evaluate pod sa-with-region -s "$DATA/settings/region.yaml"
  expect_patch '.[0].value == {name: "AWS_DEFAULT_REGION", value: "ap-southeast-2"} and .[1].value == {name: "AWS_REGION", value: "ap-southeast-2"}'
}

# The audit trail: kwctl prints the policy's audit annotations as auditAnnotations.

@test "audit: web identity names the role, its source, the ServiceAccount read and the containers" {
  evaluate pod sa-with-role
  expect ".auditAnnotations == {identity: \"web-identity\", \"role-arn\": \"$ROLE\", \"role-source\": \"serviceaccount\", serviceaccount: \"read\", containers: \"app\"}"
}

@test "audit: a mapping used without lookups is mapping:<key>, not-read" {
  evaluate pod empty -s "$DATA/settings/mapping-no-lookup.yaml"
  expect '.auditAnnotations == {identity: "web-identity", "role-arn": "arn:aws:iam::111122223333:role/mapped", "role-source": "mapping:team-a/app", serviceaccount: "not-read", containers: "app"}'
}

@test "audit: an SA without a role is identity none, reason no-role" {
  evaluate pod sa-without-role
  expect '.auditAnnotations == {identity: "none", serviceaccount: "read", containers: "none", reason: "no-role"}'
}

@test "audit: an SA that cannot be read is unreadable" {
  evaluate pod sa-not-found
  expect '.auditAnnotations.serviceaccount == "unreadable" and .auditAnnotations.reason == "no-role"'
}

@test "audit: container credentials carry no role" {
  evaluate pod-listed sa-with-role -s "$DATA/settings/container-credentials.yaml"
  expect '.auditAnnotations == {identity: "container-credentials", serviceaccount: "read", containers: "app"}'
}

@test "audit: init containers come first and skipped ones are not named" {
  evaluate pod-skip-containers sa-with-role
  expect '.auditAnnotations.containers == "init,app"'
}

@test "audit: a rejected Pod is identity none, reason rejected" {
  evaluate pod sa-with-role -s "$DATA/settings/allowed-roles.yaml"
  expect '.allowed == false and .auditAnnotations == {identity: "none", serviceaccount: "read", containers: "none", reason: "rejected"}'
}

@test "audit: audit mode carries what mutate mode would give" {
  evaluate pod sa-with-role -s "$DATA/settings/audit.yaml"
  expect ".allowed == false and .auditAnnotations.identity == \"web-identity\" and .auditAnnotations.containers == \"app\""
}

@test "audit: the skip label is reason skip-label without a host call" {
  jq '.request.object.metadata.labels = {"eks.amazonaws.com/skip-pod-identity-webhook": "true"}' "$DATA/requests/pod.json" > "$BATS_TEST_TMPDIR/skipped.json"
  evaluate "$BATS_TEST_TMPDIR/skipped.json" empty
  expect '.patch == null and .auditAnnotations == {identity: "none", serviceaccount: "not-read", containers: "none", reason: "skip-label"}'
}

@test "audit: a non-Pod kind has no audit annotations" {
  evaluate deployment empty
  expect '.auditAnnotations == null'
}

# skip-containers read as Go's encoding/csv reads one record.

# with_skip VALUE: pod-skip-containers.json with its skip-containers annotation set to VALUE.
with_skip() {
  jq --arg v "$1" '.request.object.metadata.annotations["eks.amazonaws.com/skip-containers"] = $v' \
    "$DATA/requests/pod-skip-containers.json" > "$BATS_TEST_TMPDIR/skip.json"
  evaluate "$BATS_TEST_TMPDIR/skip.json" sa-with-role
}

@test "csv: a quoted skip-containers name is skipped without its quotes" {
  with_skip '"envoy"'
  expect '.auditAnnotations.containers == "init,app" and .warnings == null'
}

@test "csv: the skip-containers record ends at the first newline" {
  with_skip $'envoy\napp'
  expect '.auditAnnotations.containers == "init,app" and .warnings == null'
}

@test "csv: a skip-containers value that is not valid CSV skips nothing, with a warning" {
  with_skip 'envoy,"app'
  expect '.auditAnnotations.containers == "init,app,envoy"'
  expect '.warnings == ["annotation eks.amazonaws.com/skip-containers is not valid CSV (extraneous or missing \" in quoted field); no container is skipped"]'
}

# Hostile inputs: the documented answer, never a trap or a 500.

# hostile NAME JQ-FILTER: writes a request derived from pod.json into $BATS_TEST_TMPDIR.
hostile() {
  jq "$2" "$DATA/requests/pod.json" > "$BATS_TEST_TMPDIR/$1.json"
}

@test "hostile: object null is a 400" {
  hostile null '.request.object = null'
  evaluate "$BATS_TEST_TMPDIR/null.json" empty
  expect '.allowed == false and .status.code == 400 and (.status.message | contains("object must be a JSON object"))'
}

@test "hostile: an object of another kind is a 400" {
  hostile deployment '.request.object.kind = "Deployment"'
  evaluate "$BATS_TEST_TMPDIR/deployment.json" empty
  expect '.allowed == false and .status.code == 400 and (.status.message | contains("Deployment"))'
}

@test "hostile: a 5 MB Pod is mutated" {
  hostile big '.request.object.metadata.annotations.blob = ("x" * 5242880)'
  evaluate "$BATS_TEST_TMPDIR/big.json" sa-with-role
  expect '.allowed == true and .patchType == "JSONPatch"'
}

@test "hostile: 10 000 containers are all mutated" {
  hostile many '.request.object.spec.containers = [range(10000) | {name: "c\(.)", image: "busybox"}]'
  evaluate "$BATS_TEST_TMPDIR/many.json" sa-with-role
  expect_patch '[.[] | select(.path | endswith("/env"))] | length == 10000'
}

@test "hostile: annotation values that are numbers or null are ignored" {
  hostile odd '.request.object.metadata.annotations = {"eks.amazonaws.com/token-expiration": 60, "eks.amazonaws.com/skip-containers": null}'
  evaluate "$BATS_TEST_TMPDIR/odd.json" sa-with-role
  expect '.allowed == true and .warnings == null'
  expect_patch '.[3].value[0].projected.sources[0].serviceAccountToken.expirationSeconds == 86400'
}

# with_sa_payload PAYLOAD: evaluates pod.json with the ServiceAccount answer replaced by PAYLOAD.
with_sa_payload() {
  sed "s|payload: .*|payload: '$1'|" "$DATA/sessions/sa-with-role.yml" > "$BATS_TEST_TMPDIR/sa.yml"
  run --separate-stderr "$KWCTL" run -r "$DATA/requests/pod.json" --allow-context-aware \
    --replay-host-capabilities-interactions "$BATS_TEST_TMPDIR/sa.yml" "$POLICY"
  response="$(printf '%s\n' "$output" | tail -n 1)"
}

@test "hostile: a ServiceAccount answer that is not JSON is a warning" {
  with_sa_payload 'not json'
  expect '.allowed == true and .patch == null and (.warnings[0] | contains("not a ServiceAccount"))'
}

@test "hostile: a ServiceAccount answer of another kind is a warning" {
  with_sa_payload '{"kind":"Secret"}'
  expect '.allowed == true and .patch == null and (.warnings[0] | contains("Secret"))'
}

@test "hostile: settings of the wrong type are refused" {
  run --separate-stderr "$KWCTL" run -r "$DATA/requests/pod.json" --settings-json '{"lookupServiceAccounts":"no"}' "$POLICY"
  [ "$status" -ne 0 ]
  [[ "$stderr$output" == *"lookupServiceAccounts: invalid type: string \"no\", expected a boolean"* ]]
}
