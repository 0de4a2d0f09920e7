//! The fuzz targets' bodies, free of libFuzzer so that `tests/fuzz_corpus.rs`
//! replays the committed corpus with plain `cargo test` on stable.

use aws_pod_identity_policy::admission::{Verdict, decide};
use aws_pod_identity_policy::{answer, settings_response};
use serde_json::{Map, Value, json};

const SERVICE_ACCOUNT: &str = r#"{"kind":"ServiceAccount","metadata":{"annotations":{"eks.amazonaws.com/role-arn":"arn:aws:iam::111122223333:role/app","eks.amazonaws.com/sts-regional-endpoints":"true"}}}"#;

/// The whole `validate` entry point (and `validate_settings`) on arbitrary
/// bytes: must answer, never panic.
pub fn validate_bytes(data: &[u8]) {
    let _ = settings_response(data);
    let mut read = |_: &_| -> Result<Vec<u8>, String> { Ok(SERVICE_ACCOUNT.as_bytes().to_vec()) };
    let answer = answer(&decide(data, &mut read));
    assert!(
        serde_json::from_slice::<Value>(&answer).is_ok(),
        "the answer is not JSON"
    );
}

/// Structure-aware: the bytes drive a generator of Pod-shaped JSON built from
/// the field names the policy reads; the result must be idempotent.
pub fn pod_json(data: &[u8]) {
    let mut input = Bytes(data);
    let flags = input.byte();
    let settings = settings(flags);
    let sa_annotations = input.object(2);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": input.object(3), "spec": input.object(4)});
    let answer =
        json!({"kind": "ServiceAccount", "metadata": {"annotations": sa_annotations}}).to_string();
    let run = |object: &Value| {
        let payload = json!({"settings": settings, "request": {"uid": "u", "operation": "CREATE",
            "kind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "team-a", "object": object}});
        let mut read = |_: &_| -> Result<Vec<u8>, String> { Ok(answer.as_bytes().to_vec()) };
        decide(payload.to_string().as_bytes(), &mut read).verdict
    };
    if let Verdict::Mutate { object, .. } = run(&pod) {
        let object: Value = serde_json::from_str(&object).expect("the mutated object is JSON");
        assert!(object.is_object(), "the mutated object is not an object");
        assert!(
            !matches!(run(&object), Verdict::Mutate { .. }),
            "not idempotent: {pod} -> {object}"
        );
    }
}

fn settings(flags: u8) -> Value {
    let bit = |n: u8| flags & (1 << n) != 0;
    let mut settings = json!({"stsRegionalEndpoints": bit(0), "roleSessionName": if bit(1) { "podName" } else { "none" }});
    if bit(2) {
        settings["awsDefaultRegion"] = json!("eu-west-1");
    }
    if bit(3) {
        settings["containerCredentials"] =
            json!({"identities": [{"namespace": "team-a", "serviceAccount": "app"}]});
    }
    if bit(4) {
        settings["serviceAccountRoles"] =
            json!({"*/default": {"roleArn": "arn:aws:iam::111122223333:role/d"}});
    }
    if bit(5) {
        settings["allowPodRoleArn"] = json!(true);
    }
    settings
}

const KEYS: &[&str] = &[
    "name",
    "value",
    "valueFrom",
    "env",
    "volumeMounts",
    "mountPath",
    "containers",
    "initContainers",
    "ephemeralContainers",
    "volumes",
    "projected",
    "sources",
    "serviceAccountToken",
    "labels",
    "annotations",
    "namespace",
    "nodeSelector",
    "os",
    "serviceAccountName",
    "serviceAccount",
    "eks.amazonaws.com/role-arn",
    "eks.amazonaws.com/skip-containers",
    "eks.amazonaws.com/include-containers",
    "eks.amazonaws.com/token-expiration",
    "eks.amazonaws.com/audience",
    "eks.amazonaws.com/region",
    "eks.amazonaws.com/sts-regional-endpoints",
    "eks.amazonaws.com/skip-pod-identity-webhook",
    "eks.amazonaws.com/pod-identity",
    "kubernetes.io/os",
    "futureField",
];
const STRINGS: &[&str] = &[
    "app",
    "sidecar",
    "windows",
    "aws-iam-token",
    "eks-pod-identity-token",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ROLE_SESSION_NAME",
    "3600",
    "-1",
    "true",
    "",
    "arn:aws:iam::111122223333:role/x",
    "app, sidecar",
    "/var/run/secrets/eks.amazonaws.com/serviceaccount",
];

/// A cursor over the fuzzer's bytes; running out reads zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[usize::from(self.byte()) % from.len()]
    }

    fn object(&mut self, depth: u8) -> Value {
        let len = self.byte() % 5;
        let map: Map<String, Value> = (0..len)
            .map(|_| (self.pick(KEYS).to_owned(), self.value(depth)))
            .collect();
        Value::Object(map)
    }

    fn value(&mut self, depth: u8) -> Value {
        let kind = if depth == 0 {
            self.byte() % 4
        } else {
            self.byte() % 7
        };
        match kind {
            0 => Value::Null,
            1 => json!(self.byte().is_multiple_of(2)),
            2 => json!(i64::from(self.byte()) * 100 - 600),
            3 => json!(self.pick(STRINGS)),
            4 | 5 => {
                let len = self.byte() % 4;
                Value::Array((0..len).map(|_| self.value(depth - 1)).collect())
            }
            _ => self.object(depth - 1),
        }
    }
}
