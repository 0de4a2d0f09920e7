//! The features beyond the EKS webhook (BEHAVIOUR.md §7): include-containers,
//! Pod-level role, role allow-list, session name, loud conflicts, audit mode
//! and per-SA region. Each defaults to the reference behaviour.

mod common;

use common::*;
use serde_json::{Value, json};

const OTHER_ROLE: &str = "arn:aws:iam::111122223333:role/other";

fn annotated(mut pod: Value, annotations: Value) -> Value {
    pod["metadata"]["annotations"] = annotations;
    pod
}

fn mutated(outcome: Outcome) -> (Value, Vec<String>) {
    match outcome {
        Outcome::Mutate { object, warnings } => (object, warnings),
        other => panic!("expected a mutation, got {other:?}"),
    }
}

fn rejected(outcome: Outcome) -> (u16, String) {
    match outcome {
        Outcome::Reject { code, message, .. } => (code, message),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn accepted(outcome: Outcome) -> Vec<String> {
    match outcome {
        Outcome::Accept { warnings } => warnings,
        other => panic!("expected an acceptance, got {other:?}"),
    }
}

fn three_containers() -> Value {
    json!({"initContainers": [{"name": "init", "image": "busybox"}],
        "containers": [{"name": "app", "image": "busybox"}, {"name": "proxy", "image": "busybox"}]})
}

#[test]
fn include_containers_processes_only_the_named_ones_and_skip_still_applies() {
    let cases = [
        (
            "only the named regular container",
            json!({"eks.amazonaws.com/include-containers": "proxy"}),
            [false, false, true],
        ),
        (
            "an init container can be named",
            json!({"eks.amazonaws.com/include-containers": " init ,app"}),
            [true, true, false],
        ),
        (
            "skip applies on top of include",
            json!({"eks.amazonaws.com/include-containers": "init,app", "eks.amazonaws.com/skip-containers": "app"}),
            [true, false, false],
        ),
        (
            "an empty include list processes none",
            json!({"eks.amazonaws.com/include-containers": ""}),
            [false, false, false],
        ),
        (
            "without the annotation every container is processed",
            json!({}),
            [true, true, true],
        ),
    ];
    for (name, annotations, expected) in cases {
        let request = create(annotated(pod(three_containers()), annotations.clone()));
        let (object, warnings) = mutated(evaluate(&json!({}), &request, &[sa_with_role()]).outcome);
        let got = [
            &object["spec"]["initContainers"][0],
            &object["spec"]["containers"][0],
            &object["spec"]["containers"][1],
        ]
        .map(|c| c.get("env").is_some());
        assert_eq!(got, expected, "{name}");
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        assert_eq!(object["spec"]["volumes"], json!([iam_volume()]), "{name}");
    }
}

#[test]
fn a_listed_name_that_matches_no_container_gives_one_warning() {
    let request = create(annotated(
        pod(three_containers()),
        json!({"eks.amazonaws.com/include-containers": "app,ghost,ghost", "eks.amazonaws.com/skip-containers": "phantom"}),
    ));
    // The answer gives each warning once.
    let warnings = match evaluate(&json!({}), &request, &[sa_with_role()]).outcome {
        Outcome::Mutate { warnings, .. } => warnings,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        warnings,
        vec![
            "container \"ghost\" named in annotation eks.amazonaws.com/include-containers matches no container or init container",
            "container \"phantom\" named in annotation eks.amazonaws.com/skip-containers matches no container or init container",
        ]
    );
    let no_identity = accepted(evaluate(&json!({}), &request, &[sa(json!({}))]).outcome);
    assert!(
        no_identity.is_empty(),
        "only when an identity applies: {no_identity:?}"
    );
}

#[test]
fn the_pod_role_annotation_overrides_the_sa_only_when_allowed() {
    let request = create(annotated(
        pod(json!({})),
        json!({"eks.amazonaws.com/role-arn": OTHER_ROLE}),
    ));
    let expected = |role: &str| {
        annotated(
            pod(
                json!({"containers": [injected("app", web_pair(role, TOKEN_FILE))], "volumes": [iam_volume()]}),
            ),
            json!({"eks.amazonaws.com/role-arn": OTHER_ROLE}),
        )
    };
    let allowed = json!({"allowPodRoleArn": true});
    let (object, warnings) = mutated(evaluate(&allowed, &request, &[sa_with_role()]).outcome);
    assert_eq!(
        (object, warnings.len()),
        (expected(OTHER_ROLE), 0),
        "allowed: the Pod's role wins"
    );
    let (object, _) = mutated(evaluate(&allowed, &request, &[sa(json!({}))]).outcome);
    assert_eq!(
        object,
        expected(OTHER_ROLE),
        "allowed: injects without any SA role"
    );
    let (object, warnings) = mutated(evaluate(&json!({}), &request, &[sa_with_role()]).outcome);
    assert_eq!(object, expected(ROLE), "not allowed: the SA's role");
    assert_eq!(
        warnings,
        vec![
            "annotation eks.amazonaws.com/role-arn on the Pod is ignored: the policy's allowPodRoleArn setting is false"
        ]
    );
    let warnings = accepted(evaluate(&json!({}), &request, &[sa(json!({}))]).outcome);
    assert_eq!(
        warnings.len(),
        1,
        "the warning is given even when nothing is injected"
    );
    let (_, message) =
        rejected(evaluate(&json!({"mode": "audit"}), &request, &[sa_with_role()]).outcome);
    assert!(message.contains("AWS_ROLE_ARN"), "{message}");
}

#[test]
fn a_role_outside_the_allow_list_is_rejected_with_403() {
    let request = create(pod(json!({})));
    let settings = json!({"allowedRoleArns": ["arn:aws:iam::111122223333:role/team-a-*", "arn:aws:iam::111122223333:role/app"]});
    let (object, _) = mutated(evaluate(&settings, &request, &[sa_with_role()]).outcome);
    assert_eq!(object, default_injected());
    let foreign = sa(json!({"eks.amazonaws.com/role-arn": "arn:aws:iam::999999999999:role/admin"}));
    let (code, message) =
        rejected(evaluate(&settings, &request, std::slice::from_ref(&foreign)).outcome);
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "role \"arn:aws:iam::999999999999:role/admin\" of ServiceAccount team-a/app is not allowed by the policy's allowedRoleArns"
    );
    let conflicting = create(pod(
        json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", OTHER_ROLE)]}]}),
    ));
    let strict =
        json!({"allowedRoleArns": ["arn:aws:iam::111122223333:*"], "onConflict": "reject"});
    let (code, _) = rejected(evaluate(&strict, &conflicting, &[foreign]).outcome);
    assert_eq!(code, 403, "the allow-list is checked before conflicts");
    let cc = json!({"allowedRoleArns": ["nothing"], "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}});
    assert!(
        matches!(
            evaluate(&cc, &request, &[sa_with_role()]).outcome,
            Outcome::Mutate { .. }
        ),
        "container credentials have no role to check"
    );
}

#[test]
fn role_session_name_comes_from_the_pod_name_after_the_pair() {
    let settings = json!({"roleSessionName": "podName"});
    let session = json!({"name": "AWS_ROLE_SESSION_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}});
    let cases = [
        (
            "right after the pair",
            json!([]),
            [web_pair(ROLE, TOKEN_FILE), vec![session.clone()]].concat(),
        ),
        (
            "at the end when the pair existed",
            json!([env("AWS_ROLE_ARN", ROLE), env("X", "1")]),
            vec![env("AWS_ROLE_ARN", ROLE), env("X", "1"), session.clone()],
        ),
        (
            "never overwriting an existing one",
            json!([env("AWS_ROLE_SESSION_NAME", "mine")]),
            [
                vec![env("AWS_ROLE_SESSION_NAME", "mine")],
                web_pair(ROLE, TOKEN_FILE),
            ]
            .concat(),
        ),
    ];
    for (name, env_in, env_out) in cases {
        let request = create(pod(json!({"containers": [{"name": "app", "env": env_in}]})));
        let (object, _) = mutated(evaluate(&settings, &request, &[sa_with_role()]).outcome);
        assert_eq!(
            object["spec"]["containers"][0]["env"],
            json!(env_out),
            "{name}"
        );
        let mut again = request.clone();
        again["object"] = object;
        assert!(
            matches!(
                evaluate(&settings, &again, &[sa_with_role()]).outcome,
                Outcome::Accept { .. }
            ),
            "{name}: idempotent"
        );
    }
    let cc = json!({"roleSessionName": "podName", "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}});
    let (object, _) = mutated(evaluate(&cc, &create(pod(json!({}))), &[sa(json!({}))]).outcome);
    assert!(
        object["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["name"] != "AWS_ROLE_SESSION_NAME"),
        "web identity only"
    );
}

#[test]
fn role_session_name_is_left_out_with_a_warning_when_sts_would_refuse_the_pod_name() {
    let settings = json!({"roleSessionName": "podName"});
    let longest = format!("reports-{}", "x".repeat(56));
    let too_long = format!("{longest}y");
    let refused = |name: &str| {
        format!(
            "Pod name {name:?} cannot be an STS role session name (2 to 64 characters of letters, digits and _+=,.@-); AWS_ROLE_SESSION_NAME is not added"
        )
    };
    let cases = [
        (
            "a 64-character name is the longest STS takes",
            json!(longest),
            true,
            None,
        ),
        (
            "a 65-character name is refused by STS",
            json!(too_long),
            false,
            Some(refused(&too_long)),
        ),
        (
            "a 1-character name is refused by STS",
            json!("a"),
            false,
            Some(refused("a")),
        ),
        ("a StatefulSet's Pod name fits", json!("db-0"), true, None),
        (
            "no name yet: the API server generates at most 63 characters",
            Value::Null,
            true,
            None,
        ),
    ];
    for (name, pod_name, added, warning) in cases {
        let mut request = create(pod(json!({})));
        match &pod_name {
            Value::Null => {
                let metadata = request["object"]["metadata"].as_object_mut().unwrap();
                metadata.remove("name");
                metadata.insert("generateName".into(), json!("web-7d4b9c8f5-"));
            }
            _ => request["object"]["metadata"]["name"] = pod_name.clone(),
        }
        let (object, warnings) = mutated(evaluate(&settings, &request, &[sa_with_role()]).outcome);
        let env = object["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .clone();
        let has_session = env.iter().any(|e| e["name"] == "AWS_ROLE_SESSION_NAME");
        assert_eq!(has_session, added, "{name}");
        assert_eq!(warnings, warning.into_iter().collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn conflicts_are_warnings_by_default_and_rejections_on_request() {
    let role_conflict =
        pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", OTHER_ROLE)]}]}));
    let mount_conflict = pod(
        json!({"containers": [{"name": "app", "volumeMounts": [{"name": "aws-iam-token", "mountPath": "/elsewhere"}]}]}),
    );
    let volume_conflict = pod(json!({"volumes": [{"name": "aws-iam-token", "emptyDir": {}}]}));
    let skipped = annotated(
        pod(
            json!({"containers": [{"name": "app"}, {"name": "legacy", "env": [env("AWS_ROLE_ARN", OTHER_ROLE)]}]}),
        ),
        json!({"eks.amazonaws.com/skip-containers": "legacy"}),
    );
    let complete = pod(
        json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_ARN", OTHER_ROLE), env("AWS_REGION", "r"), env("AWS_STS_REGIONAL_ENDPOINTS", "regional")]}]}),
    );
    let static_keys = |key: Value| {
        pod(
            json!({"containers": [{"name": "app", "env": [key, env("AWS_SECRET_ACCESS_KEY", "secret")]}]}),
        )
    };
    let from_secret = json!({"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "legacy", "key": "id"}}});
    let session = |value: &str| {
        pod(json!({"containers": [{"name": "app", "env": [env("AWS_ROLE_SESSION_NAME", value)]}]}))
    };
    let cases: [(&str, Value, Option<&str>); 10] = [
        (
            "a session name STS refuses names the container: STS would refuse the whole call",
            session("nightly report"),
            Some(
                "container app sets AWS_ROLE_SESSION_NAME to \"nightly report\", which STS refuses as a role session name (2 to 64 characters of letters, digits and _+=,.@-)",
            ),
        ),
        (
            "a session name STS takes is no conflict",
            session("nightly-report@team-a"),
            None,
        ),
        (
            "static keys in the env name the container: every SDK uses them before the role",
            static_keys(env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")),
            Some(
                "container app sets AWS_ACCESS_KEY_ID: AWS SDKs use these static keys before the injected credentials, so the Pod does not act as its role",
            ),
        ),
        (
            "static keys from a Secret count too",
            static_keys(from_secret),
            Some(
                "container app sets AWS_ACCESS_KEY_ID: AWS SDKs use these static keys before the injected credentials, so the Pod does not act as its role",
            ),
        ),
        (
            "an empty AWS_ACCESS_KEY_ID is not a key: the SDKs skip it",
            static_keys(env("AWS_ACCESS_KEY_ID", "")),
            None,
        ),
        (
            "a different AWS_ROLE_ARN names the container",
            role_conflict,
            Some(
                "container app sets AWS_ROLE_ARN to \"arn:aws:iam::111122223333:role/other\", not \"arn:aws:iam::111122223333:role/app\"",
            ),
        ),
        (
            "a mount of our volume elsewhere names the container",
            mount_conflict,
            Some(
                "container app mounts volume aws-iam-token at \"/elsewhere\", not \"/var/run/secrets/eks.amazonaws.com/serviceaccount\"",
            ),
        ),
        (
            "a volume of our name that is not a token names the volume",
            volume_conflict,
            Some("volume aws-iam-token is not a projected service-account token"),
        ),
        ("skipped containers are not checked", skipped, None),
        (
            "containers left alone by the early-exit rule are not checked",
            complete,
            None,
        ),
    ];
    for (name, pod, conflict) in cases {
        let request = create(pod);
        let warnings = match evaluate(&json!({}), &request, &[sa_with_role()]).outcome {
            Outcome::Mutate { warnings, .. } | Outcome::Accept { warnings } => warnings,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(
            warnings,
            conflict.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "{name}: warn"
        );
        let strict = evaluate(
            &json!({"onConflict": "reject"}),
            &request,
            &[sa_with_role()],
        )
        .outcome;
        match conflict {
            Some(sentence) => assert_eq!(
                rejected(strict),
                (400, sentence.to_owned()),
                "{name}: reject"
            ),
            None => assert!(
                !matches!(strict, Outcome::Reject { .. }),
                "{name}: {strict:?}"
            ),
        }
    }
    let cc = json!({"onConflict": "reject", "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}});
    let uri_conflict = create(pod(
        json!({"containers": [{"name": "app", "env": [env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x")]}]}),
    ));
    let (_, message) = rejected(evaluate(&cc, &uri_conflict, &[sa(json!({}))]).outcome);
    assert_eq!(
        message,
        "container app sets AWS_CONTAINER_CREDENTIALS_FULL_URI to \"http://127.0.0.1/x\", not \"http://169.254.170.23/v1/credentials\""
    );
}

#[test]
fn audit_mode_rejects_exactly_what_mutate_mode_would_change_and_never_mutates() {
    let audit = json!({"mode": "audit"});
    let (code, message) =
        rejected(evaluate(&audit, &create(pod(three_containers())), &[sa_with_role()]).outcome);
    assert_eq!(code, 400);
    assert_eq!(
        message,
        "the Pod lacks its AWS credentials: container init: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, mount aws-iam-token; container app: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, mount aws-iam-token; container proxy: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, mount aws-iam-token; volume aws-iam-token"
    );
    assert!(
        accepted(evaluate(&audit, &create(default_injected()), &[sa_with_role()]).outcome)
            .is_empty(),
        "a complete Pod passes"
    );
    assert!(
        accepted(evaluate(&audit, &create(pod(json!({}))), &[sa(json!({}))]).outcome).is_empty(),
        "no identity passes"
    );
    let changed_role = sa(json!({"eks.amazonaws.com/role-arn": OTHER_ROLE}));
    let (code, message) =
        rejected(evaluate(&audit, &create(default_injected()), &[changed_role]).outcome);
    assert_eq!(code, 400);
    assert!(message.contains("container app sets AWS_ROLE_ARN to \"arn:aws:iam::111122223333:role/app\", not \"arn:aws:iam::111122223333:role/other\""), "{message}");
}

#[test]
fn the_sa_region_annotation_replaces_the_region_setting() {
    let region_env = |r: &str| {
        [
            vec![env("AWS_DEFAULT_REGION", r), env("AWS_REGION", r)],
            web_pair(ROLE, TOKEN_FILE),
        ]
        .concat()
    };
    let cases = [
        (
            "overrides awsDefaultRegion",
            json!({"awsDefaultRegion": "eu-west-1"}),
            json!({"eks.amazonaws.com/region": "us-east-2"}),
            region_env("us-east-2"),
        ),
        (
            "applies when awsDefaultRegion is empty",
            json!({}),
            json!({"eks.amazonaws.com/region": "us-east-2"}),
            region_env("us-east-2"),
        ),
        (
            "an empty value counts as absent",
            json!({"awsDefaultRegion": "eu-west-1"}),
            json!({"eks.amazonaws.com/region": ""}),
            region_env("eu-west-1"),
        ),
    ];
    for (name, settings, extra, env) in cases {
        let mut annotations = extra;
        annotations["eks.amazonaws.com/role-arn"] = json!(ROLE);
        let (object, _) =
            mutated(evaluate(&settings, &create(pod(json!({}))), &[sa(annotations)]).outcome);
        assert_eq!(object["spec"]["containers"][0]["env"], json!(env), "{name}");
    }
}

#[test]
fn the_new_settings_are_validated() {
    for (settings, message) in [
        (
            json!({"mode": "dry-run"}),
            "mode: unknown variant `dry-run`, expected `mutate` or `audit`",
        ),
        (
            json!({"onConflict": "fail"}),
            "onConflict: unknown variant `fail`, expected `warn` or `reject`",
        ),
        (
            json!({"roleSessionName": "pod"}),
            "roleSessionName: unknown variant `pod`, expected `none` or `podName`",
        ),
        (
            json!({"allowPodRoleArn": "yes"}),
            "allowPodRoleArn: invalid type: string \"yes\", expected a boolean",
        ),
        (
            json!({"allowedRoleArns": "arn"}),
            "allowedRoleArns: invalid type: string \"arn\", expected a sequence",
        ),
        (
            json!({"allowedRoleArns": [1]}),
            "allowedRoleArns[0]: invalid type: integer `1`, expected a string",
        ),
        (
            json!({"allowedRoleArns": [""]}),
            "allowedRoleArns[0]: must not be empty",
        ),
    ] {
        let response =
            aws_pod_identity_policy::settings_response(&serde_json::to_vec(&settings).unwrap());
        assert!(!response.valid, "{settings}");
        let text = response.message.unwrap();
        assert!(text.contains(message), "{text:?} lacks {message:?}");
    }
}
