//! BEHAVIOUR.md §5: EKS Pod Identity (container credentials) for the
//! ServiceAccounts listed in `containerCredentials.identities`.

mod common;

use aws_pod_identity_policy::identity::spread_expiration;
use common::*;
use serde_json::{Value, json};

const URI: &str = "http://169.254.170.23/v1/credentials";
const CC_FILE: &str =
    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token";
const CC_MOUNT: &str = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount";

fn listed(extra: Value) -> Value {
    let mut cc = json!({"identities": [{"namespace": "team-a", "serviceAccount": "app"}]});
    common::merge(&mut cc, extra);
    json!({"containerCredentials": cc})
}

fn cc_pair(uri: &str, file: &str) -> Vec<Value> {
    vec![
        env("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri),
        env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file),
    ]
}

fn cc_container(name: &str, env: Vec<Value>) -> Value {
    json!({"name": name, "image": "busybox", "env": env,
        "volumeMounts": [{"name": "eks-pod-identity-token", "readOnly": true, "mountPath": CC_MOUNT}]})
}

fn cc_volume(seconds: i64) -> Value {
    token_volume(
        "eks-pod-identity-token",
        Some("pods.eks.amazonaws.com"),
        seconds,
        "eks-pod-identity-token",
    )
}

fn labelled(mut pod: Value, labels: Value) -> Value {
    pod["metadata"]["labels"] = labels;
    pod
}

fn enabled() -> Value {
    json!({"eks.amazonaws.com/pod-identity": "enabled"})
}

fn mutated(settings: &Value, request: &Value, answers: &[Answer]) -> (Value, Vec<String>) {
    match evaluate(settings, request, answers).outcome {
        Outcome::Mutate { object, warnings } => (object, warnings),
        other => panic!("expected a mutation, got {other:?}"),
    }
}

#[test]
fn the_spread_is_stable_in_range_and_differs_across_uids() {
    assert_eq!(spread_expiration(86400, UID), spread_expiration(86400, UID));
    let values: std::collections::BTreeSet<i64> = (0..2000)
        .map(|i| spread_expiration(86400, &format!("uid-{i}")))
        .collect();
    assert!(values.iter().all(|v| (79_200..=86_400).contains(v)));
    assert!(values.len() > 1000, "only {} distinct values", values.len());
    assert!(
        *values.first().unwrap() < 79_500 && *values.last().unwrap() > 86_100,
        "does not cover the range"
    );
    assert_eq!(spread_expiration(3600, UID), 3600);
    assert_eq!(spread_expiration(86401, UID), 86401);
}

#[test]
fn container_credentials_rules_give_their_exact_result() {
    let spread = spread_expiration(86400, UID);
    let cases: Vec<(&str, Value, Value, Vec<Answer>, Value)> = vec![
        (
            "a listed identity gets the container-credentials pair, label, mount and volume",
            listed(json!({})),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "a listed identity wins over the SA's role",
            listed(json!({})),
            create(pod(json!({}))),
            vec![sa_with_role()],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "a listed identity wins over a mapping",
            json!({"serviceAccountRoles": {"team-a/app": {"roleArn": ROLE}}, "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}}),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "the label is added beside existing labels and overwrites its own key",
            listed(json!({})),
            create(labelled(
                pod(json!({})),
                json!({"app": "x", "eks.amazonaws.com/pod-identity": "disabled"}),
            )),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [cc_volume(spread)]}),
                ),
                json!({"app": "x", "eks.amazonaws.com/pod-identity": "enabled"}),
            ),
        ),
        (
            "custom volume, mount, token path and URI are used",
            listed(
                json!({"fullUri": "http://[fd00:ec2::23]/v1/credentials", "audience": "aud", "mountPath": "/pi/", "volumeName": "pi-token", "tokenPath": "t"}),
            ),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [{"name": "app", "image": "busybox", "env": cc_pair("http://[fd00:ec2::23]/v1/credentials", "/pi/t"), "volumeMounts": [{"name": "pi-token", "readOnly": true, "mountPath": "/pi/"}]}],
                "volumes": [token_volume("pi-token", Some("aud"), spread, "t")]}),
                ),
                enabled(),
            ),
        ),
        (
            "ipv6EndpointMode adds AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 after the pair",
            listed(
                json!({"fullUri": "http://[fd00:ec2::23]/v1/credentials", "ipv6EndpointMode": true}),
            ),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", [cc_pair("http://[fd00:ec2::23]/v1/credentials", CC_FILE), vec![env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")]].concat())], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "disableInstanceMetadata adds AWS_EC2_METADATA_DISABLED=true after the pair and the endpoint mode",
            {
                let mut settings = listed(
                    json!({"fullUri": "http://[fd00:ec2::23]/v1/credentials", "ipv6EndpointMode": true}),
                );
                settings["disableInstanceMetadata"] = json!(true);
                settings
            },
            create(pod(json!({}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", [cc_pair("http://[fd00:ec2::23]/v1/credentials", CC_FILE), vec![env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6"), env("AWS_EC2_METADATA_DISABLED", "true")]].concat())], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "ipv6EndpointMode leaves a container's own AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE alone",
            listed(
                json!({"fullUri": "http://[fd00:ec2::23]/v1/credentials", "ipv6EndpointMode": true}),
            ),
            create(pod(
                json!({"containers": [{"name": "app", "image": "busybox", "env": [env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4")]}]}),
            )),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", [vec![env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv4")], cc_pair("http://[fd00:ec2::23]/v1/credentials", CC_FILE)].concat())], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "regional STS and expiration come from the SA annotations when it was read",
            listed(json!({})),
            create(pod(json!({}))),
            vec![sa(
                json!({"eks.amazonaws.com/sts-regional-endpoints": "true", "eks.amazonaws.com/token-expiration": "7200"}),
            )],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", [vec![env("AWS_STS_REGIONAL_ENDPOINTS", "regional")], cc_pair(URI, CC_FILE)].concat())], "volumes": [cc_volume(7200)]}),
                ),
                enabled(),
            ),
        ),
        (
            "without the SA, the exact mapping gives regional STS and expiration",
            json!({"lookupServiceAccounts": false, "serviceAccountRoles": {"team-a/app": {"roleArn": ROLE, "stsRegionalEndpoints": true, "tokenExpiration": 3600}},
                "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}}),
            create(pod(json!({}))),
            vec![],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", [vec![env("AWS_STS_REGIONAL_ENDPOINTS", "regional")], cc_pair(URI, CC_FILE)].concat())], "volumes": [cc_volume(3600)]}),
                ),
                enabled(),
            ),
        ),
        (
            "without the SA, the wildcard mapping is not used",
            json!({"lookupServiceAccounts": false, "serviceAccountRoles": {"*/app": {"roleArn": ROLE, "stsRegionalEndpoints": true, "tokenExpiration": 3600}},
                "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}}),
            create(pod(json!({}))),
            vec![],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "when the SA was read, its missing annotations fall back to the settings, not the mapping",
            json!({"stsRegionalEndpoints": false, "tokenExpiration": 43200, "serviceAccountRoles": {"team-a/app": {"roleArn": ROLE, "stsRegionalEndpoints": true, "tokenExpiration": 3600}},
                "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}}),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [cc_volume(43200)]}),
                ),
                enabled(),
            ),
        ),
        (
            "the Pod expiration annotation still wins, and is clamped",
            listed(json!({})),
            create({
                let mut p = pod(json!({}));
                p["metadata"]["annotations"] = json!({"eks.amazonaws.com/token-expiration": "100"});
                p
            }),
            vec![sa(json!({"eks.amazonaws.com/token-expiration": "7200"}))],
            {
                let mut p = labelled(
                    pod(
                        json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [cc_volume(600)]}),
                    ),
                    enabled(),
                );
                p["metadata"]["annotations"] = json!({"eks.amazonaws.com/token-expiration": "100"});
                p
            },
        ),
        (
            "a container with the web-identity pair still gets the container-credentials pair",
            listed(json!({})),
            create(pod(
                json!({"containers": [{"name": "app", "image": "busybox", "env": web_pair(ROLE, TOKEN_FILE)}]}),
            )),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", [web_pair(ROLE, TOKEN_FILE), cc_pair(URI, CC_FILE)].concat())], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "a conflicting volume of the same name is kept and not duplicated",
            listed(json!({})),
            create(pod(
                json!({"volumes": [{"name": "eks-pod-identity-token", "emptyDir": {}}]}),
            )),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE))], "volumes": [{"name": "eks-pod-identity-token", "emptyDir": {}}]}),
                ),
                enabled(),
            ),
        ),
        (
            "skip-containers applies to container credentials",
            listed(json!({})),
            create({
                let mut p = pod(
                    json!({"containers": [{"name": "app", "image": "busybox"}, {"name": "proxy", "image": "busybox"}]}),
                );
                p["metadata"]["annotations"] =
                    json!({"eks.amazonaws.com/skip-containers": "proxy"});
                p
            }),
            vec![sa(json!({}))],
            {
                let mut p = labelled(
                    pod(
                        json!({"containers": [cc_container("app", cc_pair(URI, CC_FILE)), {"name": "proxy", "image": "busybox"}], "volumes": [cc_volume(spread)]}),
                    ),
                    enabled(),
                );
                p["metadata"]["annotations"] =
                    json!({"eks.amazonaws.com/skip-containers": "proxy"});
                p
            },
        ),
        (
            "a Windows Pod gets the Windows token path",
            listed(json!({})),
            create(pod(json!({"os": {"name": "windows"}}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"os": {"name": "windows"}, "containers": [cc_container("app", cc_pair(URI, r"C:\var\run\secrets\pods.eks.amazonaws.com\serviceaccount\eks-pod-identity-token"))], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
        (
            "a region is injected in this mode too",
            json!({"awsDefaultRegion": "eu-west-1", "containerCredentials": {"identities": [{"namespace": "team-a", "serviceAccount": "app"}]}}),
            create(pod(json!({}))),
            vec![sa(json!({}))],
            labelled(
                pod(
                    json!({"containers": [cc_container("app", [vec![env("AWS_DEFAULT_REGION", "eu-west-1"), env("AWS_REGION", "eu-west-1")], cc_pair(URI, CC_FILE)].concat())], "volumes": [cc_volume(spread)]}),
                ),
                enabled(),
            ),
        ),
    ];
    for (name, settings, request, answers, expected) in cases {
        let (object, warnings) = mutated(&settings, &request, &answers);
        assert_eq!(object, expected, "{name}");
        let expected_warnings: &[&str] = match name {
            n if n.contains("clamped") => &[
                "annotation eks.amazonaws.com/token-expiration on the Pod asks for 100 seconds; raised to minTokenExpiration (600 seconds)",
            ],
            n if n.contains("conflicting volume") => {
                &["volume eks-pod-identity-token is not a projected service-account token"]
            }
            _ => &[],
        };
        assert_eq!(warnings, expected_warnings, "{name}");
        let mut again = request.clone();
        again["object"] = object;
        let rerun = evaluate(&settings, &again, &answers).outcome;
        assert!(
            matches!(rerun, Outcome::Accept { .. }),
            "{name}: not idempotent: {rerun:?}"
        );
    }
}

#[test]
fn an_unlisted_identity_still_uses_web_identity() {
    let settings = json!({"containerCredentials": {"identities": [{"namespace": "team-b", "serviceAccount": "app"}]}});
    let (object, _) = mutated(&settings, &create(pod(json!({}))), &[sa_with_role()]);
    assert_eq!(object, default_injected());
}
