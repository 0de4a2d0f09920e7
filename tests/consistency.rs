//! Release consistency: the files an operator installs from must agree with
//! each other and with the code. Versions, rules, `mutating` and
//! `contextAwareResources` match `metadata.yml` everywhere; every settings
//! block shown in the README or `examples/` is valid; every setting the code
//! accepts is documented in the README's table, and nothing else is; the files of `src/` use only
//! the files below them, as the README's Architecture table lists them.

use std::path::{Path, PathBuf};

use aws_pod_identity_policy::settings::{
    CONTAINER_CREDENTIALS_FIELDS, IDENTITY_FIELDS, ROLE_MAPPING_FIELDS, SETTING_NAMES, Settings,
};
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
    for field in CONTAINER_CREDENTIALS_FIELDS {
        assert!(
            documented.contains(&format!("containerCredentials.{field}")),
            "README lacks containerCredentials.{field}"
        );
    }
}

// --- questions-ui.yml and artifacthub-pkg.yml, as Kubewarden's tooling reads them

fn questions() -> Vec<Value> {
    match &yaml("questions-ui.yml")["questions"] {
        Value::Sequence(questions) => questions.clone(),
        other => panic!("questions-ui.yml: questions must be a list, got {other:?}"),
    }
}

fn variable(question: &Value) -> String {
    question["variable"]
        .as_str()
        .unwrap_or_else(|| panic!("question without a variable: {question:?}"))
        .to_owned()
}

fn to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

/// What a question's default does to the settings: nothing, if it is the code's default.
fn sets_the_default(path: &[&str], default: &Value) -> Result<(), String> {
    let wrap = |leaf: Option<serde_json::Value>| {
        let mut value = serde_json::json!({});
        let mut slot = &mut value;
        for (i, key) in path.iter().enumerate() {
            if i + 1 == path.len() {
                if let Some(leaf) = leaf.clone() {
                    slot[*key] = leaf;
                }
            } else {
                slot[*key] = serde_json::json!({});
                slot = &mut slot[*key];
            }
        }
        value
    };
    let with = Settings::from_json(&wrap(Some(to_json(default))))?;
    let without = Settings::from_json(&wrap(None))?;
    if with == without {
        Ok(())
    } else {
        Err(format!(
            "questions-ui.yml: the default of {} ({default:?}) is not the code's default",
            path.join(".")
        ))
    }
}

/// `name -> default` of the README's settings table (the first `code` of the default column).
fn readme_defaults() -> Vec<(String, Value)> {
    let readme = text("README.md");
    let table = readme.split("## Settings").nth(1).unwrap();
    let table = table.split("\n## ").next().unwrap();
    table
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let default = cells[3].split('`').nth(1).unwrap_or_default();
            let value: Value = serde_yaml::from_str(default).unwrap();
            (name, value)
        })
        .collect()
}

fn sorted(names: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().map(Into::into).collect();
    names.sort();
    names
}

fn subquestions(question: &Value, key: &str) -> Vec<Value> {
    question[key].as_sequence().cloned().unwrap_or_default()
}

#[test]
fn every_setting_has_exactly_one_question_and_no_question_lacks_a_setting() {
    let questions = questions();
    assert_eq!(
        sorted(questions.iter().map(variable)),
        sorted(SETTING_NAMES.iter().copied()),
        "questions-ui.yml top-level variables vs the settings the code accepts"
    );
    let find = |name: &str| {
        questions
            .iter()
            .find(|q| variable(q) == name)
            .unwrap()
            .clone()
    };
    let cc = find("containerCredentials");
    assert_eq!(
        sorted(subquestions(&cc, "subquestions").iter().map(variable)),
        sorted(
            CONTAINER_CREDENTIALS_FIELDS
                .iter()
                .map(|f| format!("containerCredentials.{f}"))
        ),
        "containerCredentials subquestions"
    );
    let identities = subquestions(&cc, "subquestions")
        .into_iter()
        .find(|q| variable(q) == "containerCredentials.identities")
        .unwrap();
    assert_eq!(
        sorted(
            subquestions(&identities, "sequence_questions")
                .iter()
                .map(variable)
        ),
        sorted(IDENTITY_FIELDS.iter().copied()),
        "containerCredentials.identities sequence_questions"
    );
    assert_eq!(
        sorted(
            subquestions(&find("serviceAccountRoles"), "subquestions")
                .iter()
                .map(variable)
        ),
        sorted(ROLE_MAPPING_FIELDS.iter().copied()),
        "serviceAccountRoles subquestions"
    );
}

#[test]
fn every_question_has_the_codes_and_the_readmes_default() {
    let readme = readme_defaults();
    let mut checked = 0;
    for question in questions() {
        let name = variable(&question);
        let default = &question["default"];
        sets_the_default(&[&name], default).unwrap();
        let documented = readme.iter().find(|(n, _)| *n == name);
        assert_eq!(
            documented.map(|(_, d)| d),
            Some(default),
            "README vs questions-ui.yml default of {name}"
        );
        for key in ["label", "description", "type", "group"] {
            let text = question[key].as_str().unwrap_or_default();
            assert!(
                !text.is_empty() && !text.contains('\n'),
                "{name}: {key} must be one line"
            );
        }
        checked += 1;
        for sub in subquestions(&question, "subquestions") {
            let sub_name = variable(&sub);
            let field = sub_name.rsplit('.').next().unwrap();
            if name == "serviceAccountRoles" {
                sets_the_default(&[&name, "a/b", field], &sub["default"]).unwrap();
                continue;
            }
            sets_the_default(&[&name, field], &sub["default"]).unwrap();
            let documented = readme.iter().find(|(n, _)| *n == sub_name);
            assert_eq!(
                documented.map(|(_, d)| d),
                Some(&sub["default"]),
                "README vs questions-ui.yml default of {sub_name}"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        SETTING_NAMES.len() + CONTAINER_CREDENTIALS_FIELDS.len()
    );
}

/// `name <email>` items, comma-separated: what kwctl turns into `maintainers`.
fn maintainers_from_author(author: &str) -> Result<Vec<(String, String)>, String> {
    author
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let malformed = || format!("author item {item:?} is not \"name <email>\"");
            let (name, rest) = item.split_once('<').ok_or_else(malformed)?;
            let email = rest.strip_suffix('>').ok_or_else(malformed)?;
            let (local, domain) = email.split_once('@').ok_or_else(malformed)?;
            let valid = !name.trim().is_empty()
                && !local.is_empty()
                && domain.contains('.')
                && !email.contains(|c: char| c.is_whitespace() || "<>,".contains(c));
            valid
                .then(|| (name.trim().to_owned(), email.to_owned()))
                .ok_or_else(malformed)
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|found| {
            if found.is_empty() {
                Err("the author annotation names nobody".to_owned())
            } else {
                Ok(found)
            }
        })
}

#[test]
fn the_author_annotation_is_what_kwctl_accepts() {
    let author = metadata()["annotations"]["io.kubewarden.policy.author"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        maintainers_from_author(&author),
        Ok(vec![(
            "Kubewarden developers".to_owned(),
            "cncf-kubewarden-maintainers@lists.cncf.io".to_owned()
        )])
    );
    for (bad, why) in [
        ("aws-pod-identity-policy developers", "no email"),
        ("Foo foo@example.com", "email not in <>"),
        ("Bar <not-an-email>", "no @"),
        ("", "nobody"),
    ] {
        assert!(maintainers_from_author(bad).is_err(), "{why}: {bad:?}");
    }
}

#[test]
fn artifacthub_pkg_carries_what_metadata_and_questions_say() {
    let metadata = metadata();
    let a = &metadata["annotations"];
    let annotation = |key: &str| a[key].as_str().unwrap().to_owned();
    let (version, oci, source) = (
        annotation("io.kubewarden.policy.version"),
        annotation("io.kubewarden.policy.ociUrl"),
        annotation("io.kubewarden.policy.source"),
    );
    let maintainers: Vec<serde_json::Value> =
        maintainers_from_author(&annotation("io.kubewarden.policy.author"))
            .unwrap()
            .into_iter()
            .map(|(name, email)| serde_json::json!({"name": name, "email": email}))
            .collect();
    let keywords: Vec<String> = annotation("io.artifacthub.keywords")
        .split(',')
        .map(|k| k.trim().to_owned())
        .collect();
    let expected = serde_json::json!({
        "version": version,
        "name": annotation("io.kubewarden.policy.title"),
        "displayName": annotation("io.artifacthub.displayName"),
        "description": annotation("io.kubewarden.policy.description"),
        "license": annotation("io.kubewarden.policy.license"),
        "homeURL": annotation("io.kubewarden.policy.url"),
        "containersImages": [{"name": "policy", "image": format!("{oci}:v{version}")}],
        "keywords": keywords,
        "links": [
            {"name": "policy", "url": format!("{source}/releases/download/v{version}/policy.wasm")},
            {"name": "source", "url": source},
        ],
        "maintainers": maintainers,
        "provider": {"name": "kubewarden"},
        "recommendations": [{"url": "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller"}],
    });
    let mut actual = to_json(&yaml("artifacthub-pkg.yml"));
    let created = actual.as_object_mut().unwrap().remove("createdAt").unwrap();
    assert!(
        created.as_str().is_some_and(|c| c.contains('T')),
        "createdAt must be an RFC 3339 time, got {created}"
    );
    let annotations = actual
        .as_object_mut()
        .unwrap()
        .remove("annotations")
        .unwrap();
    // The install text's wording is kwctl's (compared verbatim when kwctl is
    // installed); what it must tell a user to run is ours.
    let install = actual.as_object_mut().unwrap().remove("install").unwrap();
    let install = install.as_str().unwrap_or_default();
    for command in [
        format!("kwctl pull {oci}:v{version}"),
        format!("kwctl scaffold manifest -t ClusterAdmissionPolicy registry://{oci}:v{version}"),
    ] {
        assert!(install.contains(&command), "install text lacks `{command}`");
    }
    assert_eq!(actual, expected);
    let embedded =
        |key: &str| -> Value { serde_yaml::from_str(annotations[key].as_str().unwrap()).unwrap() };
    assert_eq!(
        sorted(annotations.as_object().unwrap().keys().cloned()),
        sorted([
            "kubewarden/mutation",
            "kubewarden/contextAwareResources",
            "kubewarden/rules",
            "kubewarden/resources",
            "kubewarden/questions-ui",
        ])
    );
    assert_eq!(
        annotations["kubewarden/mutation"],
        metadata["mutating"].as_bool().unwrap().to_string()
    );
    assert_eq!(embedded("kubewarden/rules"), metadata["rules"]);
    assert_eq!(
        embedded("kubewarden/contextAwareResources"),
        metadata["contextAwareResources"]
    );
    assert_eq!(
        annotations["kubewarden/resources"],
        annotation("io.artifacthub.resources")
    );
    assert!(
        annotations["kubewarden/questions-ui"].as_str() == Some(text("questions-ui.yml").as_str()),
        "the kubewarden/questions-ui annotation must be questions-ui.yml, verbatim"
    );
}

/// `artifacthub-pkg.yml` with its `createdAt` line, the one line kwctl
/// writes differently on every run, taken out.
fn without_created_at(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("createdAt:"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn artifacthub_pkg_is_byte_for_byte_what_the_installed_kwctl_writes() {
    let run = std::process::Command::new("kwctl")
        .args(["scaffold", "artifacthub", "-m", "metadata.yml"])
        .args(["-q", "questions-ui.yml"])
        .current_dir(root())
        .output();
    let written = match run {
        Ok(run) if run.status.success() => String::from_utf8(run.stdout).unwrap(),
        Ok(run) => panic!(
            "kwctl scaffold artifacthub failed: {}",
            String::from_utf8_lossy(&run.stderr)
        ),
        Err(error) => {
            eprintln!("kwctl is not installed ({error}): artifacthub-pkg.yml not compared with it");
            return;
        }
    };
    assert_eq!(
        without_created_at(&text("artifacthub-pkg.yml")),
        without_created_at(&written),
        "regenerate it: kwctl scaffold artifacthub -m metadata.yml -q questions-ui.yml -o artifacthub-pkg.yml"
    );
}

/// The flow of one request, as lib.rs's module comment and the README's Architecture table give
/// it: each file of `src/` may use only the files before it.
const LAYERS: &[&str] = &[
    "scan",
    "parse",
    "settings",
    "pod",
    "request",
    "identity",
    "inject",
    "answer",
    "admission",
    "lib",
];

#[test]
fn every_file_in_src_uses_only_the_files_below_it() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("src"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let listed = sorted(LAYERS.iter().map(|layer| format!("{layer}.rs")));
    assert_eq!(
        files, listed,
        "src/ holds exactly the layers, one file each"
    );
    for (rank, layer) in LAYERS.iter().enumerate() {
        let source = text(format!("src/{layer}.rs"));
        for used in source.split("crate::").skip(1) {
            let module: String = used
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            assert!(
                LAYERS[..rank].contains(&module.as_str()),
                "src/{layer}.rs uses crate::{module}, which is not below it in {LAYERS:?}"
            );
        }
    }
    // The README's table lists the same files, in the same order.
    let readme = text("README.md");
    let section = readme.split("\n## Architecture\n").nth(1).unwrap();
    let table = section.split("\n## ").next().unwrap();
    let rows: Vec<&str> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split_once(".rs`").map(|(f, _)| f))
        .collect();
    assert_eq!(rows, LAYERS, "README Architecture table");
}
