//! webhook-migrate on real inputs (the webhook's own deploy/ files, kOps's addon, a Pod Identity
//! setup) against exact expected files, every refusal with its exact message, and the binary's
//! contract: exit codes, nothing written on error, the settings-only line.
//! `UPDATE_EXPECTED=1 cargo test -p webhook-migrate` rewrites testdata/expected/ (review the diff).

use std::path::{Path, PathBuf};
use std::process::Command;

use webhook_migrate::flags;
use webhook_migrate::render::{self, Target};
use webhook_migrate::{Conversion, Inputs, convert};

fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

fn file(path: &str) -> (String, String) {
    let text = std::fs::read_to_string(testdata(path)).unwrap();
    (path.to_owned(), text)
}

fn args(list: &[&str]) -> Option<(String, Vec<String>)> {
    let list = list.iter().map(|s| s.to_string()).collect();
    Some(("the flags after --".to_owned(), list))
}

fn cases() -> Vec<(&'static str, Inputs)> {
    let pod_identity_args = file("pod-identity/args.txt");
    vec![
        (
            "deploy",
            Inputs {
                manifests: ["auth", "deployment-base", "mutatingwebhook", "service"]
                    .iter()
                    .map(|name| file(&format!("deploy/{name}.yaml")))
                    .collect(),
                ..Inputs::default()
            },
        ),
        (
            "kops",
            Inputs {
                manifests: vec![file("kops/addon.yaml")],
                ..Inputs::default()
            },
        ),
        (
            "pod-identity",
            Inputs {
                manifests: vec![file("pod-identity/mutatingwebhook.yaml")],
                args: Some((
                    pod_identity_args.0.clone(),
                    webhook_migrate::manifests::args_file(
                        &pod_identity_args.0,
                        &pod_identity_args.1,
                    )
                    .unwrap(),
                )),
                identities: Some(file("pod-identity/identities.json")),
                ..Inputs::default()
            },
        ),
        ("no-input", Inputs::default()),
    ]
}

fn expect(name: &str, actual: &str) {
    let path = testdata(&format!("expected/{name}"));
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_EXPECTED=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{name}");
}

#[test]
fn real_inputs_give_the_expected_files() {
    for (name, inputs) in cases() {
        let conversion = convert(&inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let yaml = render::manifests(&conversion, &Target::default()).unwrap();
        expect(&format!("{name}.yaml"), &yaml);
        expect(
            &format!("{name}.settings.json"),
            &render::settings_json(&conversion).unwrap(),
        );
    }
}

#[test]
fn every_output_is_a_policy_the_policy_and_kubewarden_accept() {
    for (name, inputs) in cases() {
        let conversion = convert(&inputs).unwrap();
        let yaml = render::manifests(&conversion, &Target::default()).unwrap();
        let documents: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let kinds: Vec<&str> = documents
            .iter()
            .map(|d| d["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "ClusterAdmissionPolicy",
                "ClusterRole",
                "ClusterRoleBinding"
            ],
            "{name}"
        );
        let settings = serde_json::to_vec(&documents[0]["spec"]["settings"]).unwrap();
        let response = aws_pod_identity_policy::settings_response(&settings);
        assert!(response.valid, "{name}: {:?}", response.message);
    }
}

#[test]
fn the_default_module_is_the_release_metadata_yml_describes() {
    let metadata: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../metadata.yml"))
            .unwrap(),
    )
    .unwrap();
    let annotations = &metadata["annotations"];
    let module = format!(
        "registry://{}:v{}",
        annotations["io.kubewarden.policy.ociUrl"].as_str().unwrap(),
        annotations["io.kubewarden.policy.version"]
            .as_str()
            .unwrap()
    );
    assert_eq!(webhook_migrate::DEFAULT_MODULE, module);
}

#[test]
fn the_command_line_is_read_as_pflag_reads_it() {
    for (argv, name, value) in [
        (&["--v=4"][..], "v", "4"),
        (&["-v4"], "v", "4"),
        (&["-v=4"], "v", "4"),
        (&["-v", "4"], "v", "4"),
        (&["--token-audience", "--x"], "token-audience", "--x"),
        (&["--token-expiration=0x258"], "token-expiration", "0x258"),
        (&["--token-expiration=1_200"], "token-expiration", "1_200"),
        (&["--watch-config-map"], "watch-config-map", "true"),
        (&["--watch-config-map=F"], "watch-config-map", "F"),
        (&["--logtostderr"], "logtostderr", "true"),
        (
            &["--aws-default-region=a", "--aws-default-region=b"],
            "aws-default-region",
            "b",
        ),
        (&["--resync-period=1m30.5s"], "resync-period", "1m30.5s"),
        (&["--stderrthreshold=warning"], "stderrthreshold", "warning"),
        (
            &["--vmodule=cache=5,handler=2"],
            "vmodule",
            "cache=5,handler=2",
        ),
    ] {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let parsed = flags::parse(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        assert_eq!(parsed.get(name), Some(value), "{argv:?}");
    }
    // A boolean never takes the next argument: `false` is positional, the flag is true.
    let argv = ["--sts-regional-endpoint", "false", "--", "--port=1"].map(String::from);
    let parsed = flags::parse(&argv).unwrap();
    assert!(parsed.flag("sts-regional-endpoint"));
    assert_eq!(parsed.positional, ["false", "--port=1"]);
    assert_eq!(flags::parse_int("0755"), Some(0o755));
    assert_eq!(flags::parse_int("08"), None);
    assert_eq!(flags::parse_int("1__0"), None);
    assert_eq!(flags::parse_int("-9223372036854775808"), Some(i64::MIN));
    assert_eq!(flags::parse_int("9223372036854775808"), None);
}

const PREFIX: &str = "the flags after --: ";
const WOULD_NOT_START: &str =
    "(amazon-eks-pod-identity-webhook v0.6.17 has no such flag and would not start)";

#[test]
fn every_flag_the_webhook_refuses_is_an_error_naming_it() {
    for (argv, message) in [
        (&["--foo=1"][..], format!("unknown flag: --foo {WOULD_NOT_START}")),
        (&["-logtostderr"], format!("unknown flag: 'l' in -logtostderr {WOULD_NOT_START}")),
        (&["--token-audience"], "flag needs an argument: --token-audience".to_owned()),
        (&["-v"], "flag needs an argument: 'v' in -v".to_owned()),
        (&["---x"], "bad flag syntax: ---x".to_owned()),
        (&["--help"], "--help makes the webhook print its usage and exit: remove it".to_owned()),
        (&["-h"], "'h' in -h makes the webhook print its usage and exit: remove it".to_owned()),
        (
            &["--token-expiration=1h"],
            "invalid argument \"1h\" for \"--token-expiration\" flag: the webhook would not start (expected a Go integer such as 600 or 0x258)".to_owned(),
        ),
        (
            &["--watch-config-map=yes"],
            "invalid argument \"yes\" for \"--watch-config-map\" flag: the webhook would not start (expected one of 1 t T TRUE true True 0 f F FALSE false False)".to_owned(),
        ),
        (
            &["--resync-period=60"],
            "invalid argument \"60\" for \"--resync-period\" flag: the webhook would not start (expected a Go duration such as 1m30s)".to_owned(),
        ),
        (
            &["--annotation-prefix=EKS.amazonaws.com"],
            "the policy refuses the converted settings: annotationPrefix: \"EKS.amazonaws.com\" is not a valid annotation-key prefix (a lowercase DNS subdomain such as \"eks.amazonaws.com\")".to_owned(),
        ),
        (
            &["--token-mount-path=var/run"],
            "the policy refuses the converted settings: tokenMountPath: must be an absolute path, got \"var/run\"".to_owned(),
        ),
    ] {
        let inputs = Inputs { args: args(argv), ..Inputs::default() };
        assert_eq!(convert(&inputs), Err(format!("{PREFIX}{message}")), "{argv:?}");
    }
}

fn config_map(config: &str) -> (String, String) {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: pod-identity-webhook, namespace: eks}}\ndata:\n  config: '{config}'\n"
    );
    ("cm.yaml".to_owned(), text)
}

const CM: &str = "cm.yaml: ConfigMap eks/pod-identity-webhook: data.config";

#[test]
fn every_configmap_the_webhook_cannot_use_is_an_error_naming_the_entry() {
    let rejects = "(the webhook rejects the whole file)";
    for (config, message) in [
        (
            "{",
            format!("{CM}: not valid JSON: EOF while parsing an object at line 1 column 1"),
        ),
        (
            "[]",
            format!("{CM}: cannot unmarshal array into Go type map[string]*cache.Entry {rejects}"),
        ),
        (
            r#"{"a/b": null}"#,
            format!("{CM}: \"a/b\": the entry is null, which makes the webhook panic"),
        ),
        (
            r#"{"a/b": {"RoleARN": 1}}"#,
            format!(
                "{CM}: \"a/b\".RoleARN: cannot unmarshal number 1 into Go type string {rejects}"
            ),
        ),
        (
            r#"{"a/b": {"RoleARN": "r", "UseRegionalSTS": "true"}}"#,
            format!(
                "{CM}: \"a/b\".UseRegionalSTS: cannot unmarshal string into Go type bool {rejects}"
            ),
        ),
        (
            r#"{"a/b": {"RoleARN": "r", "TokenExpiration": 3600.5}}"#,
            format!(
                "{CM}: \"a/b\".TokenExpiration: cannot unmarshal number 3600.5 into Go type int64 {rejects}"
            ),
        ),
        (
            r#"{"ab": {"RoleARN": "r"}}"#,
            format!(
                "{CM} \"ab\": the key has no \"/\", which makes the webhook panic; write \"<namespace>/<serviceaccount>\""
            ),
        ),
        (
            r#"{"a/b/c": {"RoleARN": "r"}}"#,
            format!(
                "{CM} \"a/b/c\": the webhook reads this key as \"a/b\" (it ignores what follows a second \"/\"); write that key"
            ),
        ),
        (
            r#"{"a/b": {"RoleARN": "r", "TokenExpiration": 300}}"#,
            format!(
                "{CM} \"a/b\".TokenExpiration: 300 is below 600: the webhook uses it unclamped and the API server refuses those Pods; set 600 or more, or 0 for --token-expiration"
            ),
        ),
        (
            r#"{"*/b": {"RoleARN": "r"}, "a/b": {"Audience": "x"}}"#,
            format!(
                "{CM} \"a/b\": its RoleARN is empty, which hides \"*/b\" from this namespace in the webhook; the policy cannot express that: remove one of the two entries"
            ),
        ),
    ] {
        let inputs = Inputs {
            manifests: vec![config_map(config)],
            args: args(&["--watch-config-map"]),
            ..Inputs::default()
        };
        assert_eq!(convert(&inputs), Err(message), "{config}");
    }
    let missing = Inputs {
        manifests: vec![(
            "cm.yaml".to_owned(),
            "kind: ConfigMap\nmetadata: {name: pod-identity-webhook}\n".to_owned(),
        )],
        args: args(&["--watch-config-map"]),
        ..Inputs::default()
    };
    assert_eq!(
        convert(&missing),
        Err("cm.yaml: ConfigMap pod-identity-webhook: data.config is missing (the webhook reads its mappings from it)".to_owned())
    );
}

#[test]
fn configmap_entries_are_written_as_the_webhook_reads_them() {
    // Go matches field names case-insensitively, lets the last duplicate win, leaves a field
    // alone on null and fills only a zero TokenExpiration from the flag.
    let config = r#"{"a/b": {"rolearn": "r1", "ROLEARN": "r2", "audience": null, "Extra": 1}, "*/c": {"RoleARN": "r3", "UseRegionalSTS": true}, "a/d": {"Audience": "x"}}"#;
    let inputs = Inputs {
        manifests: vec![config_map(config)],
        args: args(&[
            "--watch-config-map",
            "--token-expiration=7200",
            "--sts-regional-endpoint",
        ]),
        ..Inputs::default()
    };
    let conversion = convert(&inputs).unwrap();
    assert_eq!(
        render::settings_json(&conversion).unwrap(),
        concat!(
            r#"{"tokenExpiration":7200,"stsRegionalEndpoints":true,"serviceAccountRoles":{"#,
            r#""*/c":{"roleArn":"r3","audience":"","stsRegionalEndpoints":true,"tokenExpiration":7200},"#,
            r#""a/b":{"roleArn":"r2","audience":"","stsRegionalEndpoints":false,"tokenExpiration":7200}}}"#,
            "\n"
        )
    );
    assert_eq!(
        note_subjects(&conversion),
        [
            "--watch-config-map",
            "cm.yaml: ConfigMap eks/pod-identity-webhook: data.config \"a/b\".Extra",
            "cm.yaml: ConfigMap eks/pod-identity-webhook: data.config \"a/d\"",
            "no MutatingWebhookConfiguration given",
        ]
    );
}

#[test]
fn every_malformed_file_is_an_error_naming_it() {
    let two_webhooks = "kind: MutatingWebhookConfiguration\nmetadata: {name: m}\nwebhooks: [{name: a}, {name: b}]\n";
    let bad_policy = "kind: MutatingWebhookConfiguration\nmetadata: {name: m}\nwebhooks: [{name: a, failurePolicy: Maybe}]\n";
    let deployment = "kind: Deployment\nmetadata: {name: d, namespace: n}\nspec: {template: {spec: {containers: [{name: a, args: [--port=1]}, {name: b}]}}}\n";
    let expanded = "kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: w, command: [/webhook, '--aws-default-region=$(REGION)']}]}}}\n";
    for (files, args_given, identities, message) in [
        (
            vec![("a.yaml", "a: [")],
            None,
            None,
            "a.yaml: document 1: not valid YAML: did not find expected node content at line 2 column 1, while parsing a flow node",
        ),
        (
            vec![("a.yaml", "---\nkind: Service\n---\nname: x\n")],
            None,
            None,
            "a.yaml: document 2: not a Kubernetes object (no kind)",
        ),
        (
            vec![("m.yaml", two_webhooks)],
            None,
            None,
            "m.yaml: MutatingWebhookConfiguration m: has 2 webhooks: give a configuration with the pod-identity webhook only",
        ),
        (
            vec![("m.yaml", bad_policy)],
            None,
            None,
            "m.yaml: MutatingWebhookConfiguration m: webhooks[0].failurePolicy: String(\"Maybe\") is neither Ignore nor Fail",
        ),
        (
            vec![("d.yaml", deployment)],
            None,
            None,
            "d.yaml: Deployment n/d: cannot tell which of its 2 containers is the webhook: name it with --container",
        ),
        (
            vec![("d.yaml", deployment)],
            args(&["--port=1"]),
            None,
            "d.yaml: Deployment n/d and the flags after -- both give the webhook's flags: give one",
        ),
        (
            vec![("d.yaml", expanded)],
            None,
            None,
            "d.yaml: Deployment d, container w: \"--aws-default-region=$(REGION)\" uses $(VAR) expansion, which the converter does not resolve: give the expanded flags with --args-file or after --",
        ),
        (
            vec![],
            args(&["--watch-container-credentials-config=/f"]),
            Some("{\"identities\": {}}"),
            "i.json: identities: cannot unmarshal object into Go type []Identity (the webhook rejects the whole file)",
        ),
        (
            vec![],
            args(&["--watch-container-credentials-config=/f"]),
            Some("{\"identities\": [{\"namespace\": 1}]}"),
            "i.json: identities[0].namespace: cannot unmarshal number 1 into Go type string (the webhook rejects the whole file)",
        ),
        (
            vec![],
            args(&["--watch-container-credentials-config=/f"]),
            Some(" "),
            "i.json: not valid JSON: EOF while parsing a value at line 1 column 1",
        ),
        (
            vec![],
            args(&[
                "--watch-container-credentials-config=/f",
                "--container-credentials-full-uri=ftp://x",
            ]),
            Some(""),
            "the flags after --: the policy refuses the converted settings: containerCredentials.fullUri: must be an http:// or https:// URL with a host, got \"ftp://x\"",
        ),
    ] {
        let inputs = Inputs {
            manifests: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
            args: args_given,
            identities: identities.map(|t| ("i.json".to_owned(), t.to_owned())),
            ..Inputs::default()
        };
        assert_eq!(convert(&inputs), Err(message.to_owned()), "{message}");
    }
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_webhook-migrate"))
}

#[test]
fn the_binary_writes_all_or_nothing_and_says_why_by_its_exit_code() {
    let dir = std::env::temp_dir().join(format!("webhook-migrate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("policy.yaml");
    let refused = binary()
        .args(["convert", "-o"])
        .arg(&output)
        .args(["--", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        format!(
            "webhook-migrate: error: the flags after --: unknown flag: --no-such-flag {WOULD_NOT_START}\n"
        )
    );
    assert!(!output.exists(), "nothing is written on error");
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "no temporary file left"
    );

    let usage = binary()
        .args(["convert", "--no-such-option"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));

    let written = binary()
        .current_dir(testdata(""))
        .args(["convert", "-o"])
        .arg(&output)
        .args(["kops/addon.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        written.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        std::fs::read_to_string(testdata("expected/kops.yaml")).unwrap()
    );
    assert!(
        String::from_utf8_lossy(&written.stderr)
            .starts_with("webhook-migrate: not carried: --in-cluster=false: ")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_only_prints_one_line_of_json() {
    let run = binary()
        .current_dir(testdata(""))
        .args([
            "convert",
            "--settings-only",
            "--identities",
            "pod-identity/identities.json",
        ])
        .args(["--args-file", "pod-identity/args.txt"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(run.stdout).unwrap(),
        std::fs::read_to_string(testdata("expected/pod-identity.settings.json")).unwrap()
    );
}

#[test]
fn docs_migration_shows_the_kops_conversion_as_it_is() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/migration.md"))
            .unwrap();
    let expected = std::fs::read_to_string(testdata("expected/kops.yaml")).unwrap();
    let policy = expected.split("---\n").next().unwrap();
    assert!(
        page.contains(&format!("```yaml\n{policy}```\n")),
        "docs/migration.md's kOps block differs from testdata/expected/kops.yaml's policy: copy it"
    );
}

#[test]
fn what_the_webhook_would_not_read_is_listed_as_ignored() {
    let other_namespace = config_map(r#"{"a/b": {"RoleARN": "r"}}"#);
    let cases: [(Inputs, &[&str]); 3] = [
        (
            Inputs {
                manifests: vec![other_namespace.clone()],
                args: args(&["--watch-config-map", "--namespace=kube-system"]),
                ..Inputs::default()
            },
            &[
                "--namespace=kube-system",
                "cm.yaml: ConfigMap eks/pod-identity-webhook (ignored)",
                "--watch-config-map",
            ],
        ),
        (
            Inputs {
                manifests: vec![other_namespace],
                identities: Some(("i.json".to_owned(), "{}".to_owned())),
                args: args(&["--container-credentials-audience=x"]),
                ..Inputs::default()
            },
            &[
                "cm.yaml: ConfigMap eks/pod-identity-webhook (ignored)",
                "--container-credentials-audience=x",
                "i.json (ignored)",
            ],
        ),
        (
            Inputs {
                identities: Some((
                    "i.json".to_owned(),
                    r#"{"Identities": [{"NAMESPACE": "a", "serviceaccount": "b", "x": 1}, null], "y": 2}"#.to_owned(),
                )),
                args: args(&["--watch-container-credentials-config=/f"]),
                ..Inputs::default()
            },
            &[
                "--watch-container-credentials-config",
                "i.json: Identities[0].x",
                "i.json: y",
                "i.json: identities[1]",
            ],
        ),
    ];
    for (inputs, expected) in cases {
        let conversion = convert(&inputs).unwrap();
        let subjects: Vec<&str> = conversion
            .notes
            .iter()
            .map(|n| n.subject.as_str())
            .filter(|s| *s != "no MutatingWebhookConfiguration given")
            .collect();
        assert_eq!(subjects, expected);
    }
}

#[test]
fn an_args_file_is_a_yaml_list_or_one_flag_a_line() {
    let list = webhook_migrate::manifests::args_file("f", "- --port=1\n- '--v=2'\n").unwrap();
    let lines = webhook_migrate::manifests::args_file("f", "--port=1\r\n\n  --v=2\n").unwrap();
    assert_eq!(list, ["--port=1", "--v=2"]);
    assert_eq!(lines, list);
}

#[test]
fn from_a_dump_of_every_deployment_and_configuration_the_webhooks_are_picked() {
    let dump = concat!(
        "kind: List\nitems:\n",
        "- kind: Deployment\n  metadata: {name: coredns, namespace: kube-system}\n",
        "  spec: {template: {spec: {containers: [{name: coredns, image: coredns:1.11}]}}}\n",
        "- kind: Deployment\n  metadata: {name: pod-identity-webhook, namespace: kube-system}\n",
        "  spec: {template: {spec: {containers: [{name: w, image: 'amazon/amazon-eks-pod-identity-webhook:v0.6.17', command: [/webhook, --aws-default-region=eu-west-1]}]}}}\n",
        "- kind: ConfigMap\n  metadata: {name: coredns, namespace: kube-system}\n",
        "- kind: MutatingWebhookConfiguration\n  metadata: {name: cert-manager-webhook}\n",
        "  webhooks: [{name: a, clientConfig: {service: {name: cert-manager-webhook}}}]\n",
        "- kind: MutatingWebhookConfiguration\n  metadata: {name: pod-identity-webhook}\n",
        "  webhooks: [{name: b, failurePolicy: Ignore, clientConfig: {service: {name: pod-identity-webhook}}, rules: [{operations: [CREATE], apiGroups: [''], apiVersions: [v1], resources: [pods]}], objectSelector: {matchExpressions: [{key: eks.amazonaws.com/skip-pod-identity-webhook, operator: DoesNotExist}]}}]\n",
    );
    let inputs = Inputs {
        manifests: vec![("dump.yaml".to_owned(), dump.to_owned())],
        ..Inputs::default()
    };
    let conversion = convert(&inputs).unwrap();
    assert_eq!(
        render::settings_json(&conversion).unwrap(),
        "{\"awsDefaultRegion\":\"eu-west-1\"}\n"
    );
    assert_eq!(
        note_subjects(&conversion),
        [
            "dump.yaml: Deployment kube-system/coredns (ignored)",
            "1 other ConfigMap(s) (ignored)",
            "dump.yaml: MutatingWebhookConfiguration cert-manager-webhook (ignored)",
            "dump.yaml: MutatingWebhookConfiguration pod-identity-webhook: webhooks[0].name, clientConfig",
        ]
    );
    let two = Inputs {
        manifests: vec![(
            "d.yaml".to_owned(),
            "kind: Deployment\nmetadata: {name: a}\n---\nkind: Deployment\nmetadata: {name: b}\n"
                .to_owned(),
        )],
        ..Inputs::default()
    };
    assert_eq!(
        convert(&two),
        Err("2 Deployments given (d.yaml: Deployment a, d.yaml: Deployment b): cannot tell which is the webhook's; give it alone".to_owned())
    );
}

/// What each note of a conversion is about, in order.
fn note_subjects(conversion: &Conversion) -> Vec<&str> {
    conversion
        .notes
        .iter()
        .map(|n| n.subject.as_str())
        .collect()
}
