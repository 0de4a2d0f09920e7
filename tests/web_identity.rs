//! BEHAVIOUR.md §1, §3, §4 and §6 for web identity: one case per rule, each
//! with the exact resulting Pod, then every mutated Pod is re-evaluated to
//! prove idempotence.

mod common;

use common::*;
use serde_json::{Value, json};

enum Expect {
    Unchanged,
    Mutated(Value),
    Rejected(u16, &'static str),
}

struct Case {
    name: &'static str,
    settings: Value,
    request: Value,
    answers: Vec<Answer>,
    expect: Expect,
    warnings: &'static [&'static str],
}

fn case(name: &'static str, request: Value, answers: Vec<Answer>, expect: Expect) -> Case {
    Case {
        name,
        settings: json!({}),
        request,
        answers,
        expect,
        warnings: &[],
    }
}

impl Case {
    fn settings(mut self, settings: Value) -> Self {
        self.settings = settings;
        self
    }
    fn warns(mut self, warnings: &'static [&'static str]) -> Self {
        self.warnings = warnings;
        self
    }
}

fn with_annotations(mut pod: Value, annotations: Value) -> Value {
    pod["metadata"]["annotations"] = annotations;
    pod
}

fn with_labels(mut pod: Value, labels: Value) -> Value {
    pod["metadata"]["labels"] = labels;
    pod
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let mapping = |key: &str, entry: Value| json!({"serviceAccountRoles": {key: entry}});
    vec![
        // §1 What is evaluated
        case("a Pod whose SA has a role gets the pair, the mount and the volume", create(pod(json!({}))), vec![sa_with_role()], Mutated(default_injected())),
        case("other kinds are accepted unchanged", {
            let mut r = create(pod(json!({})));
            r["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
            r
        }, vec![sa_with_role()], Unchanged),
        case("UPDATE is accepted unchanged", {
            let mut r = create(pod(json!({})));
            r["operation"] = json!("UPDATE");
            r
        }, vec![sa_with_role()], Unchanged),
        case("a subresource is accepted unchanged", {
            let mut r = create(pod(json!({})));
            r["subResource"] = json!("ephemeralcontainers");
            r
        }, vec![sa_with_role()], Unchanged),
        case("the skip label leaves the Pod unchanged", create(with_labels(pod(json!({})), json!({"eks.amazonaws.com/skip-pod-identity-webhook": "true"}))), vec![sa_with_role()], Unchanged),
        case("the skip label wins over a malformed spec", create(json!({"metadata": {"labels": {"eks.amazonaws.com/skip-pod-identity-webhook": ""}}, "spec": 7})), vec![], Unchanged),
        case("an object that is not a JSON object is a 400", { let mut r = create(json!(null)); r["object"] = json!([1]); r }, vec![], Rejected(400, "object must be a JSON object")),
        case("an object of another kind is a 400 naming kind", create(json!({"kind": "Deployment", "spec": {}})), vec![], Rejected(400, "kind is \"Deployment\", not \"Pod\"")),
        case("a Pod without spec is a 400 naming spec", create(json!({"metadata": {"name": "x"}})), vec![], Rejected(400, "spec is missing")),
        case("a spec that is not an object is a 400 naming spec", create(json!({"spec": []})), vec![], Rejected(400, "spec must be an object")),
        case("labels that are not a map are a 400", create(with_labels(pod(json!({})), json!("x"))), vec![sa_with_role()], Rejected(400, "metadata.labels must be a map")),
        case("annotations that are not a map are a 400", create(with_annotations(pod(json!({})), json!([]))), vec![sa_with_role()], Rejected(400, "metadata.annotations must be a map")),
        case("a nodeSelector that is not a map is a 400", create(pod(json!({"nodeSelector": "linux"}))), vec![sa_with_role()], Rejected(400, "spec.nodeSelector must be a map")),
        case("containers that are not a list are a 400 when an identity applies", create(pod(json!({"containers": {"name": "app"}}))), vec![sa_with_role()], Rejected(400, "spec.containers must be a list")),
        case("an env that is not a list is a 400 naming the container", create(pod(json!({"containers": [{"name": "app", "env": "A=B"}]}))), vec![sa_with_role()], Rejected(400, "spec.containers[0].env must be a list")),
        case("volumeMounts that are not a list are a 400 naming the container", create(pod(json!({"initContainers": [{"name": "init", "volumeMounts": 3}]}))), vec![sa_with_role()], Rejected(400, "spec.initContainers[0].volumeMounts must be a list")),
        case("volumes that are not a list are a 400", create(pod(json!({"volumes": {}}))), vec![sa_with_role()], Rejected(400, "spec.volumes must be a list")),
        case("a container that is not an object is a 400", create(pod(json!({"containers": ["app"]}))), vec![sa_with_role()], Rejected(400, "spec.containers[0] must be an object")),
        case("a malformed list is not checked when no identity applies", create(pod(json!({"containers": "app"}))), vec![sa(json!({}))], Unchanged),
        case("null lists and maps read as empty", create(json!({"metadata": {"name": "app", "labels": null, "annotations": null},
            "spec": {"serviceAccountName": "app", "nodeSelector": null, "initContainers": null, "volumes": null,
                "containers": [{"name": "app", "env": null, "volumeMounts": null}]}})), vec![sa_with_role()],
            Mutated(json!({"metadata": {"name": "app", "labels": null, "annotations": null},
                "spec": {"serviceAccountName": "app", "nodeSelector": null, "initContainers": null, "volumes": [iam_volume()],
                    "containers": [{"name": "app", "env": web_pair(ROLE, TOKEN_FILE), "volumeMounts": [iam_mount()]}]}}))),
        // §3 Choosing what to inject
        case("an SA without a role leaves the Pod unchanged", create(pod(json!({}))), vec![sa(json!({"other": "x"}))], Unchanged),
        case("an empty role annotation counts as absent", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ""}))], Unchanged),
        case("an empty role annotation falls back to the mapping", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ""}))], Mutated(default_injected()))
            .settings(mapping("team-a/app", json!({"roleArn": ROLE}))),
        case("the exact mapping gives a role", create(pod(json!({}))), vec![sa(json!({}))], Mutated(default_injected()))
            .settings(mapping("team-a/app", json!({"roleArn": ROLE}))),
        case("the wildcard-namespace mapping gives a role", create(pod(json!({}))), vec![sa(json!({}))], Mutated(default_injected()))
            .settings(mapping("*/app", json!({"roleArn": ROLE}))),
        case("the exact mapping wins over the wildcard", create(pod(json!({}))), vec![sa(json!({}))], Mutated(default_injected()))
            .settings(json!({"serviceAccountRoles": {"*/app": {"roleArn": "arn:aws:iam::999999999999:role/other"}, "team-a/app": {"roleArn": ROLE}}})),
        case("the SA annotation wins over a mapping, whose values then do not apply", create(pod(json!({}))), vec![sa_with_role()], Mutated(default_injected()))
            .settings(mapping("team-a/app", json!({"roleArn": "arn:aws:iam::999999999999:role/other", "audience": "other", "stsRegionalEndpoints": true, "tokenExpiration": 3600}))),
        case("a mapping's audience, regional STS and expiration apply with its role", create(pod(json!({}))), vec![sa(json!({}))],
            Mutated(pod(json!({"containers": [injected("app", [vec![env("AWS_STS_REGIONAL_ENDPOINTS", "regional")], web_pair(ROLE, TOKEN_FILE)].concat())],
                "volumes": [token_volume("aws-iam-token", Some("mapped"), 3600, "token")]}))))
            .settings(mapping("team-a/app", json!({"roleArn": ROLE, "audience": "mapped", "stsRegionalEndpoints": true, "tokenExpiration": 3600}))),
        case("an unreadable SA still lets the mapping apply, with a warning", create(pod(json!({}))), vec![not_found(), not_found()], Mutated(default_injected()))
            .settings(mapping("team-a/app", json!({"roleArn": ROLE})))
            .warns(&["could not read ServiceAccount team-a/app: Cannot find v1/ServiceAccount named 'app' inside of namespace 'team-a'; continuing without its annotations"]),
        case("an SA unreadable on both calls is accepted with a warning", create(pod(json!({}))), vec![not_found(), not_found()], Unchanged)
            .warns(&["could not read ServiceAccount team-a/app: Cannot find v1/ServiceAccount named 'app' inside of namespace 'team-a'; continuing without its annotations"]),
        case("an SA found only by the uncached retry is used", create(pod(json!({}))), vec![not_found(), sa_with_role()], Mutated(default_injected())),
        case("an answer that is not a ServiceAccount is a warning", create(pod(json!({}))), vec![Ok(json!({"kind": "Secret"}))], Unchanged)
            .warns(&["could not read ServiceAccount team-a/app: the host answered with a Secret, not a ServiceAccount; continuing without its annotations"]),
        case("lookupServiceAccounts false uses only the mappings", create(pod(json!({}))), vec![], Mutated(default_injected()))
            .settings(json!({"lookupServiceAccounts": false, "serviceAccountRoles": {"team-a/app": {"roleArn": ROLE}}})),
        case("a role that does not look like an ARN is injected with a warning", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": "my-role"}))],
            Mutated(pod(json!({"containers": [injected("app", web_pair("my-role", TOKEN_FILE))], "volumes": [iam_volume()]}))))
            .warns(&["role ARN \"my-role\" for ServiceAccount team-a/app does not look like an IAM role ARN; it is injected as is"]),
        case("the SA audience annotation sets the audience", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/audience": "custom"}))],
            Mutated(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("custom"), 86400, "token")]})))),
        case("an empty audience is omitted from the volume", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/audience": ""}))],
            Mutated(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", None, 86400, "token")]})))),
        case("the tokenAudience setting is the default audience", create(pod(json!({}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.example.com"), 86400, "token")]}))))
            .settings(json!({"tokenAudience": "sts.example.com"})),
        case("the SA regional STS annotation accepts Go booleans", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/sts-regional-endpoints": "T"}))],
            Mutated(pod(json!({"containers": [injected("app", [vec![env("AWS_STS_REGIONAL_ENDPOINTS", "regional")], web_pair(ROLE, TOKEN_FILE)].concat())], "volumes": [iam_volume()]})))),
        case("an SA regional STS false overrides the setting", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/sts-regional-endpoints": "false"}))],
            Mutated(default_injected())).settings(json!({"stsRegionalEndpoints": true})),
        case("an unparseable regional STS annotation falls back to the setting", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/sts-regional-endpoints": "yes"}))],
            Mutated(pod(json!({"containers": [injected("app", [vec![env("AWS_STS_REGIONAL_ENDPOINTS", "regional")], web_pair(ROLE, TOKEN_FILE)].concat())], "volumes": [iam_volume()]}))))
            .settings(json!({"stsRegionalEndpoints": true})),
        case("the Pod expiration annotation wins over the SA's", create(with_annotations(pod(json!({})), json!({"eks.amazonaws.com/token-expiration": "7200"}))),
            vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "3600"}))],
            Mutated(with_annotations(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 7200, "token")]})), json!({"eks.amazonaws.com/token-expiration": "7200"})))),
        case("the SA expiration annotation wins over the setting", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "+3600"}))],
            Mutated(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 3600, "token")]}))))
            .settings(json!({"tokenExpiration": 43200})),
        case("a non-integer expiration annotation is ignored", create(with_annotations(pod(json!({})), json!({"eks.amazonaws.com/token-expiration": "1h"}))), vec![sa_with_role()],
            Mutated(with_annotations(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 43200, "token")]})), json!({"eks.amazonaws.com/token-expiration": "1h"}))))
            .settings(json!({"tokenExpiration": 43200})),
        case("an expiration below the minimum is raised, with a warning", create(with_annotations(pod(json!({})), json!({"eks.amazonaws.com/token-expiration": "60"}))), vec![sa_with_role()],
            Mutated(with_annotations(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 600, "token")]})), json!({"eks.amazonaws.com/token-expiration": "60"}))))
            .warns(&["annotation eks.amazonaws.com/token-expiration on the Pod asks for 60 seconds; raised to minTokenExpiration (600 seconds)"]),
        case("an expiration above the maximum is lowered, with a warning", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "90000"}))],
            Mutated(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 43200, "token")]}))))
            .settings(json!({"tokenExpiration": 3600, "maxTokenExpiration": 43200}))
            .warns(&["annotation eks.amazonaws.com/token-expiration on the ServiceAccount asks for 90000 seconds; lowered to maxTokenExpiration (43200 seconds)"]),
        case("an expiration at the bound is not a warning", create(with_annotations(pod(json!({})), json!({"eks.amazonaws.com/token-expiration": "600"}))), vec![sa_with_role()],
            Mutated(with_annotations(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 600, "token")]})), json!({"eks.amazonaws.com/token-expiration": "600"})))),
        case("a custom annotation prefix is used for every annotation", create(with_annotations(pod(json!({})), json!({"example.com/token-expiration": "1200"}))),
            vec![sa(json!({"example.com/role-arn": ROLE, "eks.amazonaws.com/audience": "ignored"}))],
            Mutated(with_annotations(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 1200, "token")]})), json!({"example.com/token-expiration": "1200"}))))
            .settings(json!({"annotationPrefix": "example.com"})),
        // §4 The mutation
        case("a region adds AWS_DEFAULT_REGION then AWS_REGION before the pair", create(pod(json!({}))), vec![sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/sts-regional-endpoints": "true"}))],
            Mutated(pod(json!({"containers": [injected("app", [vec![env("AWS_STS_REGIONAL_ENDPOINTS", "regional"), env("AWS_DEFAULT_REGION", "eu-west-1"), env("AWS_REGION", "eu-west-1")], web_pair(ROLE, TOKEN_FILE)].concat())], "volumes": [iam_volume()]}))))
            .settings(json!({"awsDefaultRegion": "eu-west-1"})),
        case("a container with one region variable gets neither", create(pod(json!({"containers": [{"name": "app", "image": "busybox", "env": [env("AWS_REGION", "us-east-1")]}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [injected("app", [vec![env("AWS_REGION", "us-east-1")], web_pair(ROLE, TOKEN_FILE)].concat())], "volumes": [iam_volume()]}))))
            .settings(json!({"awsDefaultRegion": "eu-west-1"})),
        case("a Windows nodeSelector gives a Windows token path", create(pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"}}))), vec![sa_with_role()],
            Mutated(pod(json!({"nodeSelector": {"kubernetes.io/os": "windows"}, "containers": [injected("app", web_pair(ROLE, r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token"))], "volumes": [iam_volume()]})))),
        case("the beta Windows nodeSelector gives a Windows token path", create(pod(json!({"nodeSelector": {"beta.kubernetes.io/os": "windows"}}))), vec![sa_with_role()],
            Mutated(pod(json!({"nodeSelector": {"beta.kubernetes.io/os": "windows"}, "containers": [injected("app", web_pair(ROLE, r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token"))], "volumes": [iam_volume()]})))),
        case("spec.os.name windows gives a Windows token path", create(pod(json!({"os": {"name": "windows"}}))), vec![sa_with_role()],
            Mutated(pod(json!({"os": {"name": "windows"}, "containers": [injected("app", web_pair(ROLE, r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token"))], "volumes": [iam_volume()]})))),
        case("a custom mount path is joined cleanly", create(pod(json!({}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [{"name": "app", "image": "busybox", "env": web_pair(ROLE, "/aws/token"), "volumeMounts": [{"name": "aws-iam-token", "readOnly": true, "mountPath": "/aws/"}]}], "volumes": [iam_volume()]}))))
            .settings(json!({"tokenMountPath": "/aws/"})),
        case("skip-containers names are trimmed and skipped", create(with_annotations(pod(json!({"containers": [{"name": "app", "image": "busybox"}, {"name": "sidecar", "image": "envoy"}, {"name": "other", "image": "x"}]})), json!({"eks.amazonaws.com/skip-containers": " sidecar , other"}))),
            vec![sa_with_role()],
            Mutated(with_annotations(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE)), {"name": "sidecar", "image": "envoy"}, {"name": "other", "image": "x"}], "volumes": [iam_volume()]})), json!({"eks.amazonaws.com/skip-containers": " sidecar , other"})))),
        case("skipping every container still adds the volume", create(with_annotations(pod(json!({})), json!({"eks.amazonaws.com/skip-containers": "app"}))), vec![sa_with_role()],
            Mutated(with_annotations(pod(json!({"volumes": [iam_volume()]})), json!({"eks.amazonaws.com/skip-containers": "app"})))),
        case("init containers are mutated and ephemeral containers are not", create(pod(json!({"initContainers": [{"name": "init", "image": "busybox"}], "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"initContainers": [injected("init", web_pair(ROLE, TOKEN_FILE))], "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
                "containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [iam_volume()]})))),
        case("a container that defines everything is left exactly as it is", create(pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", "x"), env("AWS_DEFAULT_REGION", "r"), env("AWS_STS_REGIONAL_ENDPOINTS", "legacy")]}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", "x"), env("AWS_DEFAULT_REGION", "r"), env("AWS_STS_REGIONAL_ENDPOINTS", "legacy")]}], "volumes": [iam_volume()]})))),
        case("one variable of the pair means the pair is not added, but the mount is", create(pod(json!({"containers": [{"name": "app", "env": [{"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [{"name": "app", "env": [{"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}], "volumeMounts": [iam_mount()]}], "volumes": [iam_volume()]})))),
        case("an existing mount and volume of the same name are kept, not duplicated", create(pod(json!({"containers": [{"name": "app", "volumeMounts": [{"name": "aws-iam-token", "mountPath": "/elsewhere"}, {"name": "odd"}]}], "volumes": [{"name": "data", "emptyDir": {}}, {"name": "aws-iam-token", "secret": {"secretName": "s"}}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [{"name": "app", "env": web_pair(ROLE, TOKEN_FILE), "volumeMounts": [{"name": "aws-iam-token", "mountPath": "/elsewhere"}, {"name": "odd"}]}], "volumes": [{"name": "data", "emptyDir": {}}, {"name": "aws-iam-token", "secret": {"secretName": "s"}}]}))))
            .warns(&["container app mounts volume aws-iam-token at \"/elsewhere\", not \"/var/run/secrets/eks.amazonaws.com/serviceaccount\"", "volume aws-iam-token is not a projected service-account token"]),
        case("the volume is prepended to existing volumes", create(pod(json!({"volumes": [{"name": "data", "emptyDir": {}}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [injected("app", web_pair(ROLE, TOKEN_FILE))], "volumes": [iam_volume(), {"name": "data", "emptyDir": {}}]})))),
        case("env is appended after existing entries, including valueFrom-only ones", create(pod(json!({"containers": [{"name": "app", "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "A"}]}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [{"name": "app", "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "A"}, env("AWS_ROLE_ARN", ROLE), env("AWS_WEB_IDENTITY_TOKEN_FILE", TOKEN_FILE)], "volumeMounts": [iam_mount()]}], "volumes": [iam_volume()]})))),
        case("unknown fields at every level survive", create(json!({"apiVersion": "v1", "kind": "Pod", "futurePodField": {"a": 1},
            "metadata": {"name": "app", "namespace": "team-a", "x-unknown": [1, 2]},
            "spec": {"serviceAccountName": "app", "futureSpecField": true, "volumes": [{"name": "v", "futureVolumeType": {"k": "v"}}],
                "containers": [{"name": "app", "futureContainerField": "kept", "env": [{"name": "E", "value": "1", "futureEnvField": 1}], "volumeMounts": [{"name": "v", "mountPath": "/v", "recursiveReadOnly": "Enabled", "futureMountField": 2}]}]},
            "status": {"phase": "Pending"}})), vec![sa_with_role()],
            Mutated(json!({"apiVersion": "v1", "kind": "Pod", "futurePodField": {"a": 1},
                "metadata": {"name": "app", "namespace": "team-a", "x-unknown": [1, 2]},
                "spec": {"serviceAccountName": "app", "futureSpecField": true, "volumes": [iam_volume(), {"name": "v", "futureVolumeType": {"k": "v"}}],
                    "containers": [{"name": "app", "futureContainerField": "kept", "env": [{"name": "E", "value": "1", "futureEnvField": 1}, env("AWS_ROLE_ARN", ROLE), env("AWS_WEB_IDENTITY_TOKEN_FILE", TOKEN_FILE)],
                        "volumeMounts": [{"name": "v", "mountPath": "/v", "recursiveReadOnly": "Enabled", "futureMountField": 2}, iam_mount()]}]},
                "status": {"phase": "Pending"}}))),
        case("a Pod that already has everything is accepted without a mutation", create(default_injected()), vec![sa_with_role()], Unchanged),
        case("disableInstanceMetadata adds AWS_EC2_METADATA_DISABLED=true after everything else", create(pod(json!({}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [injected("app", [vec![env("AWS_DEFAULT_REGION", "eu-west-1"), env("AWS_REGION", "eu-west-1")], web_pair(ROLE, TOKEN_FILE),
                vec![json!({"name": "AWS_ROLE_SESSION_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}), env("AWS_EC2_METADATA_DISABLED", "true")]].concat())], "volumes": [iam_volume()]}))))
            .settings(json!({"awsDefaultRegion": "eu-west-1", "roleSessionName": "podName", "disableInstanceMetadata": true})),
        case("disableInstanceMetadata leaves a container's own AWS_EC2_METADATA_DISABLED alone", create(pod(json!({"containers": [{"name": "app", "image": "busybox", "env": [env("AWS_EC2_METADATA_DISABLED", "false")]}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [injected("app", [vec![env("AWS_EC2_METADATA_DISABLED", "false")], web_pair(ROLE, TOKEN_FILE)].concat())], "volumes": [iam_volume()]}))))
            .settings(json!({"disableInstanceMetadata": true})),
        case("with disableInstanceMetadata a container that defines all but AWS_EC2_METADATA_DISABLED gets it and the mount", create(pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", ROLE), env("AWS_DEFAULT_REGION", "r"), env("AWS_STS_REGIONAL_ENDPOINTS", "legacy")]}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", ROLE), env("AWS_DEFAULT_REGION", "r"), env("AWS_STS_REGIONAL_ENDPOINTS", "legacy"), env("AWS_EC2_METADATA_DISABLED", "true")], "volumeMounts": [iam_mount()]}], "volumes": [iam_volume()]}))))
            .settings(json!({"disableInstanceMetadata": true})),
        case("with disableInstanceMetadata a container that defines everything and the variable is left exactly as it is", create(pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", ROLE), env("AWS_DEFAULT_REGION", "r"), env("AWS_STS_REGIONAL_ENDPOINTS", "legacy"), env("AWS_EC2_METADATA_DISABLED", "true")]}]}))), vec![sa_with_role()],
            Mutated(pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", ROLE), env("AWS_DEFAULT_REGION", "r"), env("AWS_STS_REGIONAL_ENDPOINTS", "legacy"), env("AWS_EC2_METADATA_DISABLED", "true")]}], "volumes": [iam_volume()]}))))
            .settings(json!({"disableInstanceMetadata": true})),
        // §6 Responses
        case("the same warning is given once", create(with_annotations(pod(json!({})), json!({"eks.amazonaws.com/token-expiration": "-1"}))), vec![sa(json!({"eks.amazonaws.com/role-arn": "bad"}))],
            Mutated(with_annotations(pod(json!({"containers": [injected("app", web_pair("bad", TOKEN_FILE))], "volumes": [token_volume("aws-iam-token", Some("sts.amazonaws.com"), 600, "token")]})), json!({"eks.amazonaws.com/token-expiration": "-1"}))))
            .warns(&["role ARN \"bad\" for ServiceAccount team-a/app does not look like an IAM role ARN; it is injected as is",
                "annotation eks.amazonaws.com/token-expiration on the Pod asks for -1 seconds; raised to minTokenExpiration (600 seconds)"]),
    ]
}

fn check(case: &Case) -> Outcome {
    let run = evaluate(&case.settings, &case.request, &case.answers);
    let warnings: Vec<String> = case.warnings.iter().map(|w| w.to_string()).collect();
    match (&case.expect, &run.outcome) {
        (Expect::Unchanged, Outcome::Accept { warnings: got }) => {
            assert_eq!(got, &warnings, "{}", case.name)
        }
        (
            Expect::Mutated(expected),
            Outcome::Mutate {
                object,
                warnings: got,
            },
        ) => {
            assert_eq!(object, expected, "{}", case.name);
            assert_eq!(got, &warnings, "{}", case.name);
        }
        (
            Expect::Rejected(code, message),
            Outcome::Reject {
                code: got,
                message: text,
                ..
            },
        ) => {
            assert_eq!(got, code, "{}", case.name);
            assert!(
                text.contains(message),
                "{}: {text:?} lacks {message:?}",
                case.name
            );
        }
        (_, other) => panic!("{}: unexpected outcome {other:?}", case.name),
    }
    run.outcome
}

#[test]
fn every_rule_gives_its_exact_result() {
    for case in cases() {
        check(&case);
    }
}

#[test]
fn every_mutated_pod_is_left_unchanged_by_a_second_evaluation() {
    for case in cases() {
        if let Outcome::Mutate { object, .. } = check(&case) {
            let mut request = case.request.clone();
            request["object"] = object;
            let again = evaluate(&case.settings, &request, &case.answers);
            assert!(
                matches!(again.outcome, Outcome::Accept { .. }),
                "{}: {:?}",
                case.name,
                again.outcome
            );
        }
    }
}
