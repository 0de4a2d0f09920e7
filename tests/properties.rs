//! Property tests over generated Pods, ServiceAccounts and settings: the policy
//! never panics, is idempotent, only adds, keeps a valid Pod valid, and never
//! duplicates what it adds. 10 000 cases by default; more with
//! `PROPERTY_CASES=100000 cargo test --test properties`.

mod common;

use aws_pod_identity_policy::admission;
use common::Outcome;
use common::{Answer, evaluate};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

const ADDED_ENV: &[&str] = &[
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
];
const OUR_VOLUMES: &[&str] = &["aws-iam-token", "eks-pod-identity-token"];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("app".to_owned()),
        Just("sidecar".to_owned()),
        Just("init".to_owned()),
        "[a-z]{1,6}",
    ]
}

fn annotation_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("3600".to_owned()),
        Just("-5".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("true".to_owned()),
        Just("arn:aws:iam::111122223333:role/app".to_owned()),
        Just("app, sidecar ,".to_owned()),
        ".{0,12}",
        "x{300}",
    ]
}

fn unknown_fields() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        "future[A-Z][a-z]{0,4}",
        any::<i32>().prop_map(|n| json!({"n": n})),
        0..2,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn env_entry() -> impl Strategy<Value = Value> {
    let env_name = prop_oneof![
        prop::sample::select(ADDED_ENV).prop_map(str::to_owned),
        "[A-Z_]{1,8}"
    ];
    (
        env_name,
        prop::option::of(".{0,10}"),
        any::<bool>(),
        unknown_fields(),
    )
        .prop_map(|(name, value, from, extra)| {
            let mut entry = json!({"name": name});
            match (value, from) {
                (Some(v), _) => entry["value"] = json!(v),
                (None, true) => {
                    entry["valueFrom"] = json!({"fieldRef": {"fieldPath": "metadata.name"}})
                }
                (None, false) => {}
            }
            entry.as_object_mut().unwrap().extend(extra);
            entry
        })
}

fn mount() -> impl Strategy<Value = Value> {
    let mount_name = prop_oneof![
        prop::sample::select(OUR_VOLUMES).prop_map(str::to_owned),
        name()
    ];
    (
        mount_name,
        prop::option::of("/[a-z/]{0,10}"),
        unknown_fields(),
    )
        .prop_map(|(name, path, extra)| {
            let mut mount = json!({"name": name});
            if let Some(path) = path {
                mount["mountPath"] = json!(path);
            }
            mount.as_object_mut().unwrap().extend(extra);
            mount
        })
}

fn container() -> impl Strategy<Value = Value> {
    (
        name(),
        prop::option::of(prop::collection::vec(env_entry(), 0..6)),
        prop::option::of(prop::collection::vec(mount(), 0..3)),
        unknown_fields(),
    )
        .prop_map(|(name, env, mounts, extra)| {
            let mut container = json!({"name": name, "image": "busybox"});
            if let Some(env) = env {
                container["env"] = json!(env);
            }
            if let Some(mounts) = mounts {
                container["volumeMounts"] = json!(mounts);
            }
            container.as_object_mut().unwrap().extend(extra);
            container
        })
}

fn volume() -> impl Strategy<Value = Value> {
    let volume_name = prop_oneof![
        prop::sample::select(OUR_VOLUMES).prop_map(str::to_owned),
        name()
    ];
    let kind = prop_oneof![
        Just(json!({"emptyDir": {}})),
        Just(json!({"secret": {"secretName": "s"}})),
        Just(
            json!({"projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}})
        ),
        Just(json!({"futureVolumeType": {"size": "1Gi"}})),
    ];
    (volume_name, kind).prop_map(|(name, mut volume)| {
        volume["name"] = json!(name);
        volume
    })
}

fn pod_annotations() -> impl Strategy<Value = Map<String, Value>> {
    let keys = prop::sample::select(
        &[
            "eks.amazonaws.com/token-expiration",
            "eks.amazonaws.com/skip-containers",
            "eks.amazonaws.com/include-containers",
            "eks.amazonaws.com/role-arn",
            "other/annotation",
        ][..],
    );
    prop::collection::btree_map(
        keys.prop_map(str::to_owned),
        annotation_value().prop_map(Value::String),
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn pod() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 0..4),
        prop::option::of(prop::collection::vec(container(), 0..3)),
        prop::option::of(prop::collection::vec(container(), 0..2)),
        prop::option::of(prop::collection::vec(volume(), 0..4)),
        pod_annotations(),
        any::<bool>(),
        (unknown_fields(), unknown_fields()),
    )
        .prop_map(|(containers, init, ephemeral, volumes, annotations, windows, (pod_extra, spec_extra))| {
            let mut spec = json!({"serviceAccountName": "app", "containers": containers});
            for (key, list) in [("initContainers", init), ("ephemeralContainers", ephemeral), ("volumes", volumes)] {
                if let Some(list) = list {
                    spec[key] = json!(list);
                }
            }
            if windows {
                spec["nodeSelector"] = json!({"kubernetes.io/os": "windows"});
            }
            spec.as_object_mut().unwrap().extend(spec_extra);
            let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "app", "namespace": "team-a", "annotations": annotations, "labels": {"app": "x"}},
                "spec": spec});
            pod.as_object_mut().unwrap().extend(pod_extra);
            pod
        })
}

fn service_account() -> impl Strategy<Value = Answer> {
    let keys = prop::sample::select(
        &[
            "eks.amazonaws.com/role-arn",
            "eks.amazonaws.com/audience",
            "eks.amazonaws.com/sts-regional-endpoints",
            "eks.amazonaws.com/token-expiration",
            "eks.amazonaws.com/region",
        ][..],
    );
    let annotations =
        prop::collection::btree_map(keys.prop_map(str::to_owned), annotation_value(), 0..5);
    prop_oneof![
        4 => annotations.prop_map(|a| common::sa(json!(a))),
        1 => Just(common::not_found()),
    ]
}

fn settings() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(&["eu-west-1", ""][..])),
        any::<bool>(),
        prop::option::of(600i64..100_000),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(&["none", "podName"][..]),
        any::<bool>(),
    )
        .prop_map(|(region, sts, expiration, mapping, listed, session, lookup)| {
            let mut settings = json!({"stsRegionalEndpoints": sts, "roleSessionName": session, "lookupServiceAccounts": lookup});
            if let Some(region) = region {
                settings["awsDefaultRegion"] = json!(region);
            }
            if let Some(seconds) = expiration {
                settings["tokenExpiration"] = json!(seconds);
            }
            if mapping {
                settings["serviceAccountRoles"] = json!({"*/app": {"roleArn": "arn:aws:iam::111122223333:role/mapped"}});
            }
            if listed {
                settings["containerCredentials"] = json!({"identities": [{"namespace": "team-a", "serviceAccount": "app"}]});
            }
            settings
        })
}

/// Every value of `before` is in `after` at the same place; arrays may only
/// grow at the end, except `spec.volumes`, which may gain one entry in front.
fn is_additive(before: &Value, after: &Value, path: &str) -> Result<(), String> {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => b.iter().try_for_each(|(key, value)| {
            let inner = a
                .get(key)
                .ok_or_else(|| format!("{path}/{key} was removed"))?;
            is_additive(value, inner, &format!("{path}/{key}"))
        }),
        (Value::Array(b), Value::Array(a)) => {
            let shift =
                usize::from(path == "/spec/volumes" && a.len() > b.len() && b.first() != a.first());
            if a.len() < b.len() + shift {
                return Err(format!("{path} lost items"));
            }
            b.iter()
                .enumerate()
                .try_for_each(|(i, item)| is_additive(item, &a[i + shift], &format!("{path}/{i}")))
        }
        (b, a) if b == a => Ok(()),
        (b, a) => Err(format!("{path} changed from {b} to {a}")),
    }
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .filter_map(|key| pod["spec"][key].as_array())
        .flatten()
}

fn count(list: &Value, name: &str) -> usize {
    list.as_array().map_or(0, |items| {
        items.iter().filter(|i| i["name"] == name).count()
    })
}

fn no_duplicates_added(before: &Value, after: &Value) -> Result<(), String> {
    for (b, a) in containers(before).zip(containers(after)) {
        for env in ADDED_ENV {
            if count(&a["env"], env) > count(&b["env"], env).max(1) {
                return Err(format!("container {} got a second {env}", a["name"]));
            }
        }
        for volume in OUR_VOLUMES {
            if count(&a["volumeMounts"], volume) > count(&b["volumeMounts"], volume).max(1) {
                return Err(format!(
                    "container {} got a second mount of {volume}",
                    a["name"]
                ));
            }
        }
    }
    Ok(())
}

fn check(settings: &Value, pod: &Value, answer: &Answer) -> Result<(), String> {
    let answers = [answer.clone(), answer.clone()];
    let request = common::create(pod.clone());
    // (a) never panics: a panic fails the test with the generated input.
    let Outcome::Mutate { object, .. } = evaluate(settings, &request, &answers).outcome else {
        return Ok(());
    };
    // (b) idempotent
    let mut again = request.clone();
    again["object"] = object.clone();
    if let Outcome::Mutate { .. } = evaluate(settings, &again, &answers).outcome {
        return Err("a second evaluation changed the Pod again".to_owned());
    }
    // (c) additive
    is_additive(pod, &object, "")?;
    // (d) a valid Pod stays valid
    if serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(pod.clone()).is_ok() {
        serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(object.clone())
            .map_err(|e| format!("the output is no longer a Pod: {e}"))?;
    }
    // (e) nothing we add is duplicated
    no_duplicates_added(pod, &object)
}

/// 10 000 cases, or `PROPERTY_CASES`; failures are not persisted to files.
fn runner() -> TestRunner {
    let cases = std::env::var("PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn generated_pods_are_mutated_safely_idempotently_and_additively() {
    let mut runner = runner();
    let strategy = (settings(), pod(), service_account());
    runner
        .run(&strategy, |(settings, pod, answer)| {
            check(&settings, &pod, &answer).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn the_additivity_check_can_fail() {
    let before = json!({"spec": {"volumes": [{"name": "a"}], "containers": [{"env": [1, 2]}]}});
    assert!(is_additive(&before, &json!({"spec": {"volumes": [{"name": "x"}, {"name": "a"}], "containers": [{"env": [1, 2, 3]}]}}), "").is_ok());
    assert!(
        is_additive(
            &before,
            &json!({"spec": {"volumes": [{"name": "a"}], "containers": [{"env": [2, 1]}]}}),
            ""
        )
        .is_err()
    );
    assert!(
        is_additive(
            &before,
            &json!({"spec": {"volumes": [], "containers": [{"env": [1, 2]}]}}),
            ""
        )
        .is_err()
    );
    assert!(
        is_additive(
            &before,
            &json!({"spec": {"containers": [{"env": [1, 2]}]}}),
            ""
        )
        .is_err()
    );
}

/// Rewrites a Pod's JSON text into odd but equivalent forms: pretty with CRLF
/// and tabs between tokens, `\u` escapes inside keys, `null` and empty lists
/// and objects where the policy reads them.
fn odd_text(pod: &Value, form: u8) -> String {
    let mut pod = pod.clone();
    if form & 4 != 0 {
        for (i, container) in pod["spec"]["containers"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if container.get("env").is_none() {
                container["env"] = if i % 2 == 0 { Value::Null } else { json!([]) };
            }
            if container.get("volumeMounts").is_none() {
                container["volumeMounts"] = Value::Null;
            }
        }
        if pod["spec"].get("volumes").is_none() {
            pod["spec"]["volumes"] = Value::Null;
        }
        pod["metadata"]["labels"] = Value::Null;
    }
    match form & 3 {
        0 => serde_json::to_string(&pod).unwrap(),
        1 => serde_json::to_string_pretty(&pod).unwrap(),
        2 => serde_json::to_string_pretty(&pod)
            .unwrap()
            .replace('\n', "\r\n\t "),
        _ => serde_json::to_string(&pod)
            .unwrap()
            .replace("\"name\"", "\"na\\u006de\"")
            .replace("\"env\"", "\"\\u0065nv\""),
    }
}

/// The mutated object is the original with insertions only: cutting each
/// inserted text out of it gives the original bytes back exactly.
fn only_inserts(settings: &Value, pod_text: &str, answer: &Answer) -> Result<(), String> {
    let request = common::create(json!("OBJECT"));
    let payload = serde_json::to_string(&json!({"settings": settings, "request": request}))
        .unwrap()
        .replace("\"OBJECT\"", pod_text);
    let answers = [answer.clone(), answer.clone()];
    let mut calls = 0;
    let mut read = |_: &_| {
        calls += 1;
        match answers.get(calls - 1) {
            Some(Ok(value)) => Ok(serde_json::to_vec(value).unwrap()),
            Some(Err(message)) => Err(message.clone()),
            None => Err("no more answers".to_owned()),
        }
    };
    let decision = admission::decide(payload.as_bytes(), &mut read);
    let admission::Verdict::Mutate { object, .. } = decision.verdict else {
        return Ok(());
    };
    let mut insertions = decision.insertions.clone();
    insertions.sort_by_key(|i| i.at);
    let mut restored = String::new();
    let mut at_in_mutated = 0;
    let mut copied_original = 0;
    for insertion in &insertions {
        let gap = insertion.at - copied_original;
        restored.push_str(&object[at_in_mutated..at_in_mutated + gap]);
        at_in_mutated += gap;
        let inserted = &object[at_in_mutated..at_in_mutated + insertion.text.len()];
        if inserted != insertion.text {
            return Err(format!(
                "{inserted:?} is not the insertion {:?}",
                insertion.text
            ));
        }
        at_in_mutated += insertion.text.len();
        copied_original = insertion.at;
    }
    restored.push_str(&object[at_in_mutated..]);
    if restored != pod_text {
        return Err(format!(
            "cutting the insertions out does not give the input back:\n{restored}\n{pod_text}"
        ));
    }
    serde_json::from_str::<Value>(&object).map_err(|e| format!("the output is not JSON: {e}"))?;
    Ok(())
}

#[test]
fn the_mutated_object_is_the_original_with_insertions_only() {
    let mut runner = runner();
    let strategy = (settings(), pod(), service_account(), 0u8..8);
    runner
        .run(&strategy, |(settings, pod, answer, form)| {
            only_inserts(&settings, &odd_text(&pod, form), &answer).map_err(TestCaseError::fail)
        })
        .unwrap();
}
