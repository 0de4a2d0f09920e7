//! BEHAVIOUR.md §8 and the container-list rules of §4/§7: the audit
//! annotations of every evaluated Pod CREATE (one case per value), the
//! container lists read as Go's `encoding/csv` reads them, and the
//! container-credentials fallback when the ServiceAccount cannot be read.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};

const MAPPED: &str = "arn:aws:iam::111122223333:role/mapped";
const POD_ROLE: &str = "arn:aws:iam::111122223333:role/pod";

fn audit(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn annotated(mut pod: Value, annotations: Value) -> Value {
    pod["metadata"]["annotations"] = annotations;
    pod
}

fn containers(names: &[&str]) -> Value {
    let list: Vec<Value> = names
        .iter()
        .map(|name| json!({"name": name, "image": "busybox"}))
        .collect();
    pod(json!({"containers": list}))
}

struct Case {
    rule: &'static str,
    settings: Value,
    request: Value,
    answers: Vec<Answer>,
    audit: Option<BTreeMap<String, String>>,
}

fn cases() -> Vec<Case> {
    let case = |rule, settings, request, answers, audit| Case {
        rule,
        settings,
        request,
        answers,
        audit,
    };
    let web = |source: &str, sa: &str, role: &str, containers: &str| {
        audit(&[
            ("identity", "web-identity"),
            ("role-arn", role),
            ("role-source", source),
            ("serviceaccount", sa),
            ("containers", containers),
        ])
    };
    let none = |reason: &str, sa: &str| {
        audit(&[
            ("identity", "none"),
            ("serviceaccount", sa),
            ("containers", "none"),
            ("reason", reason),
        ])
    };
    let mapping = |key: &str| json!({"serviceAccountRoles": {key: {"roleArn": MAPPED}}});
    let mut no_lookup = mapping("team-a/app");
    no_lookup["lookupServiceAccounts"] = json!(false);
    let mut update = create(pod(json!({})));
    update["operation"] = json!("UPDATE");
    let mut skipped = pod(json!({}));
    skipped["metadata"]["labels"] = json!({"eks.amazonaws.com/skip-pod-identity-webhook": "x"});
    let long_names: Vec<String> = (0..40).map(|i| format!("container-{i:02}")).collect();
    let long_refs: Vec<&str> = long_names.iter().map(String::as_str).collect();
    let cut: String = long_names.join(",").chars().take(255).collect::<String>() + "…";
    vec![
        case(
            "a role on the ServiceAccount names the role, its source and the containers",
            json!({}),
            create(containers(&["app", "side"])),
            vec![sa_with_role()],
            web("serviceaccount", "read", ROLE, "app,side"),
        ),
        case(
            "an exact mapping without lookups is mapping:<key> and not-read",
            no_lookup,
            create(pod(json!({}))),
            vec![],
            web("mapping:team-a/app", "not-read", MAPPED, "app"),
        ),
        case(
            "a wildcard mapping names the wildcard key",
            mapping("*/app"),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            web("mapping:*/app", "read", MAPPED, "app"),
        ),
        case(
            "an unreadable ServiceAccount is unreadable, the mapping still applies",
            mapping("team-a/app"),
            create(pod(json!({}))),
            vec![not_found(), not_found()],
            web("mapping:team-a/app", "unreadable", MAPPED, "app"),
        ),
        case(
            "an allowed Pod role is role-source pod",
            json!({"allowPodRoleArn": true}),
            create(annotated(
                pod(json!({})),
                json!({"eks.amazonaws.com/role-arn": POD_ROLE}),
            )),
            vec![sa_with_role()],
            web("pod", "read", POD_ROLE, "app"),
        ),
        case(
            "container credentials carry no role",
            json!({"containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}}),
            create(pod(json!({}))),
            vec![sa_with_role()],
            audit(&[
                ("identity", "container-credentials"),
                ("serviceaccount", "read"),
                ("containers", "app"),
            ]),
        ),
        case(
            "init containers come first, skipped containers are not named",
            json!({}),
            create(annotated(
                pod(json!({"initContainers": [{"name": "init", "image": "x"}],
                "containers": [{"name": "app", "image": "x"}, {"name": "side", "image": "x"}]})),
                json!({"eks.amazonaws.com/skip-containers": "side"}),
            )),
            vec![sa_with_role()],
            web("serviceaccount", "read", ROLE, "init,app"),
        ),
        case(
            "a Pod that already has everything names no container",
            json!({}),
            create(default_injected()),
            vec![sa_with_role()],
            web("serviceaccount", "read", ROLE, "none"),
        ),
        case(
            "the containers value is capped at 256 characters",
            json!({}),
            create(containers(&long_refs)),
            vec![sa_with_role()],
            web("serviceaccount", "read", ROLE, &cut),
        ),
        case(
            "no role is reason no-role",
            json!({}),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            none("no-role", "read"),
        ),
        case(
            "the skip label is reason skip-label, the ServiceAccount is not read",
            json!({}),
            create(skipped),
            vec![],
            none("skip-label", "not-read"),
        ),
        case(
            "a malformed Pod is rejected",
            json!({}),
            create(json!({"kind": "Pod", "metadata": {}})),
            vec![],
            none("rejected", "not-read"),
        ),
        case(
            "a role outside the allow-list is rejected",
            json!({"allowedRoleArns": ["arn:aws:iam::999999999999:role/*"]}),
            create(pod(json!({}))),
            vec![sa_with_role()],
            none("rejected", "read"),
        ),
        case(
            "a conflict under onConflict: reject is rejected",
            json!({"onConflict": "reject"}),
            create(pod(
                json!({"containers": [{"name": "app", "image": "x", "env": [env("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/other")]}]}),
            )),
            vec![sa_with_role()],
            none("rejected", "read"),
        ),
        case(
            "audit mode carries what mutate mode would give",
            json!({"mode": "audit"}),
            create(pod(json!({}))),
            vec![sa_with_role()],
            web("serviceaccount", "read", ROLE, "app"),
        ),
        case(
            "anything but a Pod CREATE has no audit annotations",
            json!({}),
            update,
            vec![],
            None,
        ),
    ]
}

#[test]
fn every_evaluated_pod_create_carries_its_audit_annotations() {
    for case in cases() {
        let run = evaluate(&case.settings, &case.request, &case.answers);
        assert_eq!(run.audit, case.audit, "{}: {:?}", case.rule, run.outcome);
    }
}

#[test]
fn audit_mode_rejects_and_mutate_mode_mutates_with_the_same_annotations() {
    let request = create(pod(json!({})));
    let audit_run = evaluate(&json!({"mode": "audit"}), &request, &[sa_with_role()]);
    let mutate_run = evaluate(&json!({}), &request, &[sa_with_role()]);
    assert!(matches!(
        audit_run.outcome,
        Outcome::Reject { code: 400, .. }
    ));
    assert!(matches!(mutate_run.outcome, Outcome::Mutate { .. }));
    assert_eq!(audit_run.audit, mutate_run.audit);
}

#[test]
fn the_response_carries_the_annotations() {
    let run = aws_pod_identity_policy::admission::decide(
        &serde_json::to_vec(&json!({"settings": {}, "request": create(pod(json!({})))})).unwrap(),
        &mut |_| Ok(serde_json::to_vec(&sa_with_role().unwrap()).unwrap()),
    );
    let response: kubewarden_policy_sdk::response::ValidationResponse =
        serde_json::from_slice(&aws_pod_identity_policy::answer(&run)).unwrap();
    let annotations = response.audit_annotations.unwrap();
    assert_eq!(annotations["identity"], "web-identity");
    assert_eq!(annotations["role-arn"], ROLE);
    assert!(
        annotations
            .keys()
            .all(|k| !k.contains('/') && k.len() <= 63)
    );
}

// --- container lists, read as Go's encoding/csv reads the first record ------

fn with_three(list_annotations: Value) -> Value {
    create(annotated(
        containers(&["app", "side", "proxy"]),
        list_annotations,
    ))
}

/// (containers that got the pair, warnings) for one Pod with containers app, side, proxy.
fn injected_and_warnings(annotations: Value) -> (Vec<String>, Vec<String>) {
    let run = evaluate(&json!({}), &with_three(annotations), &[sa_with_role()]);
    let Outcome::Mutate { object, warnings } = run.outcome else {
        panic!("expected a mutation, got {:?}", run.outcome);
    };
    let got = object["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("env").is_some())
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    (got, warnings)
}

#[test]
fn skip_and_include_containers_follow_go_encoding_csv() {
    let skip = |value: &str| json!({"eks.amazonaws.com/skip-containers": value});
    let include = |value: &str| json!({"eks.amazonaws.com/include-containers": value});
    let bad_skip = "annotation eks.amazonaws.com/skip-containers is not valid CSV (extraneous or missing \" in quoted field); no container is skipped";
    let bare_skip = "annotation eks.amazonaws.com/skip-containers is not valid CSV (bare \" in non-quoted field); no container is skipped";
    let bad_include = "annotation eks.amazonaws.com/include-containers is not valid CSV (extraneous or missing \" in quoted field); every container is processed";
    for (rule, annotations, injected, warnings) in [
        (
            "a quoted name is skipped without its quotes",
            skip("\"app\""),
            vec!["side", "proxy"],
            vec![],
        ),
        (
            "a doubled quote inside quotes is one quote",
            skip("\"si\"\"de\",app"),
            vec!["side", "proxy"],
            vec![
                "container \"si\\\"de\" named in annotation eks.amazonaws.com/skip-containers matches no container or init container",
            ],
        ),
        (
            "the record ends at the first newline",
            skip("app\nside"),
            vec!["side", "proxy"],
            vec![],
        ),
        (
            "CRLF ends the record too",
            skip("app\r\nside"),
            vec!["side", "proxy"],
            vec![],
        ),
        (
            "a quoted field may hold a comma and a newline",
            skip("\"a,b\nc\",side"),
            vec!["app", "proxy"],
            vec![
                "container \"a,b\\nc\" named in annotation eks.amazonaws.com/skip-containers matches no container or init container",
            ],
        ),
        (
            "spaces around names are trimmed",
            skip(" app , side "),
            vec!["proxy"],
            vec![],
        ),
        (
            "an unbalanced quote skips nothing, with a warning",
            skip("app,\"side"),
            vec!["app", "side", "proxy"],
            vec![bad_skip],
        ),
        (
            "a bare quote skips nothing, with a warning",
            skip("ap\"p"),
            vec!["app", "side", "proxy"],
            vec![bare_skip],
        ),
        (
            "an empty value skips nothing, without a warning",
            skip(""),
            vec!["app", "side", "proxy"],
            vec![],
        ),
        (
            "a blank value skips nothing, without a warning",
            skip("  \n"),
            vec!["app", "side", "proxy"],
            vec![],
        ),
        (
            "include reads the same way",
            include("\"proxy\",side\napp"),
            vec!["side", "proxy"],
            vec![],
        ),
        (
            "an include list that cannot be read processes every container",
            include("\"proxy"),
            vec!["app", "side", "proxy"],
            vec![bad_include],
        ),
    ] {
        let (got, got_warnings) = injected_and_warnings(annotations);
        assert_eq!(got, injected, "{rule}");
        assert_eq!(got_warnings, warnings, "{rule}");
    }
}

// --- container credentials when the ServiceAccount cannot be read ----------

#[test]
fn container_credentials_without_the_service_account_use_the_mapping_then_the_settings() {
    let listed = |extra: Value| {
        let mut settings = json!({"containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}});
        common::merge(&mut settings, extra);
        settings
    };
    let sts = env("AWS_STS_REGIONAL_ENDPOINTS", "regional");
    for (rule, settings, sts_injected, seconds) in [
        (
            "the settings' STS and expiration apply (the reference: off and 86400)",
            listed(json!({"stsRegionalEndpoints": true, "tokenExpiration": 3600})),
            true,
            3600,
        ),
        (
            "the exact mapping's values win over the settings",
            listed(
                json!({"stsRegionalEndpoints": true, "tokenExpiration": 3600,
                "serviceAccountRoles": {"team-a/app": {"roleArn": "r", "stsRegionalEndpoints": false, "tokenExpiration": 7200}}}),
            ),
            false,
            7200,
        ),
        (
            "a wildcard mapping is not used",
            listed(
                json!({"tokenExpiration": 3600, "serviceAccountRoles": {"*/app": {"roleArn": "r", "tokenExpiration": 7200}}}),
            ),
            false,
            3600,
        ),
    ] {
        let run = evaluate(
            &settings,
            &create(pod(json!({}))),
            &[not_found(), not_found()],
        );
        let Outcome::Mutate { object, warnings } = run.outcome else {
            panic!("{rule}: expected a mutation, got {:?}", run.outcome);
        };
        let env = object["spec"]["containers"][0]["env"].as_array().unwrap();
        assert_eq!(env.contains(&sts), sts_injected, "{rule}: {env:?}");
        assert_eq!(
            object["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            json!(seconds),
            "{rule}"
        );
        assert!(
            warnings[0].starts_with("could not read ServiceAccount team-a/app"),
            "{rule}: {warnings:?}"
        );
        assert_eq!(run.audit.unwrap()["serviceaccount"], "unreadable", "{rule}");
    }
}
