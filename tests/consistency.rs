//! Release consistency: the files an operator installs from must agree with
//! each other and with the code. Versions, rules, `mutating` and
//! `contextAwareResources` match `metadata.yml` everywhere; every settings
//! block shown in the README or `examples/` is valid; every setting the code
//! accepts is documented in the README's table, and nothing else is.

use std::path::{Path, PathBuf};

use aws_pod_identity_policy::settings::{CC_FIELDS, SETTING_NAMES};
use aws_pod_identity_policy::settings_response;
use serde::Deserialize;
use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &str) -> Value {
    serde_yaml::from_str(&text(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn metadata() -> Value {
    yaml("metadata.yml")
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Every YAML document in `examples/` and in the README's ```yaml blocks, with where it came from.
fn shown_documents() -> Vec<(String, Value)> {
    let mut documents = Vec::new();
    let mut examples: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    for path in examples
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "session.yml" {
            continue;
        }
        for document in serde_yaml::Deserializer::from_str(&text(&path)) {
            documents.push((
                format!("examples/{name}"),
                Value::deserialize(document).unwrap(),
            ));
        }
    }
    let readme = text("README.md");
    for (i, block) in readme.split("```yaml\n").skip(1).enumerate() {
        let body = block.split("```").next().unwrap();
        for document in serde_yaml::Deserializer::from_str(body) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("README yaml block {i}: {e}"));
            documents.push((format!("README.md yaml block {i}"), value));
        }
    }
    documents
}

#[test]
fn the_version_is_the_same_in_cargo_metadata_and_artifacthub() {
    let v = version();
    let metadata = metadata();
    assert_eq!(
        metadata["annotations"]["io.kubewarden.policy.version"].as_str(),
        Some(v.as_str()),
        "metadata.yml version"
    );
    let artifacthub = yaml("artifacthub-pkg.yml");
    assert_eq!(
        artifacthub["version"].as_str(),
        Some(v.as_str()),
        "artifacthub-pkg.yml version"
    );
    let oci = metadata["annotations"]["io.kubewarden.policy.ociUrl"]
        .as_str()
        .unwrap();
    assert_eq!(
        artifacthub["containersImages"][0]["image"].as_str(),
        Some(format!("{oci}:v{v}").as_str()),
        "artifacthub image"
    );
    assert!(
        artifacthub["install"]
            .as_str()
            .unwrap()
            .contains(&format!("{oci}:v{v}")),
        "artifacthub install text"
    );
    for (source, document) in shown_documents() {
        if let Some(module) = document["spec"]["module"].as_str() {
            assert_eq!(module, format!("registry://{oci}:v{v}"), "{source}: module");
        }
    }
}

#[test]
fn every_cluster_admission_policy_shown_matches_metadata() {
    let metadata = metadata();
    let mut seen = 0;
    for (source, document) in shown_documents() {
        if document["kind"].as_str() != Some("ClusterAdmissionPolicy") {
            continue;
        }
        seen += 1;
        let spec = &document["spec"];
        assert_eq!(spec["rules"], metadata["rules"], "{source}: rules");
        // The audit deployment is the one deliberate exception: a validator
        // that never mutates, run by the audit scanner.
        let audit = spec["settings"]["mode"].as_str() == Some("audit");
        let (mutating, background) = if audit {
            (Value::Bool(false), Value::Bool(true))
        } else {
            (
                metadata["mutating"].clone(),
                metadata["backgroundAudit"].clone(),
            )
        };
        assert_eq!(spec["mutating"], mutating, "{source}: mutating");
        assert_eq!(
            spec["backgroundAudit"], background,
            "{source}: backgroundAudit"
        );
        assert_eq!(
            spec["contextAwareResources"], metadata["contextAwareResources"],
            "{source}: contextAwareResources"
        );
    }
    assert!(
        seen >= 3,
        "expected the README's and the examples' policies, saw {seen}"
    );
}

#[test]
fn artifacthub_annotations_match_metadata() {
    let metadata = metadata();
    let annotations = &yaml("artifacthub-pkg.yml")["annotations"];
    let embedded =
        |key: &str| -> Value { serde_yaml::from_str(annotations[key].as_str().unwrap()).unwrap() };
    assert_eq!(embedded("kubewarden/rules"), metadata["rules"]);
    assert_eq!(
        embedded("kubewarden/contextAwareResources"),
        metadata["contextAwareResources"]
    );
    assert_eq!(
        annotations["kubewarden/mutation"].as_str(),
        Some(metadata["mutating"].as_bool().unwrap().to_string().as_str())
    );
    assert_eq!(
        annotations["kubewarden/resources"].as_str(),
        metadata["annotations"]["io.artifacthub.resources"].as_str()
    );
}

#[test]
fn every_settings_block_shown_is_accepted() {
    let mut checked = 0;
    for (source, document) in shown_documents() {
        let settings = match (&document["spec"]["settings"], &document["settings"]) {
            (Value::Null, Value::Null) => continue,
            (Value::Null, settings) | (settings, _) => settings,
        };
        let json = serde_json::to_vec(settings).unwrap();
        let response = settings_response(&json);
        assert!(response.valid, "{source}: {:?}", response.message);
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} settings blocks found");
}

#[test]
fn the_readme_settings_table_lists_exactly_the_accepted_settings() {
    let readme = text("README.md");
    let table = readme
        .split("## Settings")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let documented: Vec<String> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split('`').next())
        .map(str::to_owned)
        .collect();
    let top_level: Vec<&str> = documented
        .iter()
        .filter(|s| !s.contains('.'))
        .map(String::as_str)
        .collect();
    assert_eq!(
        top_level, SETTING_NAMES,
        "README settings table vs the code"
    );
    for nested in documented.iter().filter(|s| s.contains('.')) {
        let (parent, field) = nested.split_once('.').unwrap();
        let probe = serde_json::json!({ parent: { field: null } });
        let response = settings_response(&serde_json::to_vec(&probe).unwrap());
        assert!(
            response.valid,
            "README documents {nested}, which the code refuses: {:?}",
            response.message
        );
    }
    let probe_unknown = serde_json::json!({"containerCredentials": {"notDocumented": null}});
    assert!(!settings_response(&serde_json::to_vec(&probe_unknown).unwrap()).valid);
    for field in CC_FIELDS {
        assert!(
            documented.contains(&format!("containerCredentials.{field}")),
            "README lacks containerCredentials.{field}"
        );
    }
}
