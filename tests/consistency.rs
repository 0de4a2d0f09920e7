//! Release consistency: the files an operator installs from must agree with
//! each other and with the code. Versions, rules, `mutating` and
//! `contextAwareResources` match `metadata.yml` everywhere; every settings
//! block shown in the documentation or `examples/` is valid; every setting the
//! code accepts is documented in the README's table, and nothing else is; the
//! files of `src/` use only the files below them, as CONTRIBUTING.md's
//! Architecture table lists them. The documentation holds together: its
//! blocks parse, its links and anchors resolve, the README stays short and
//! every page of docs/ says who it is for.

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

/// Every YAML document in `examples/` and in the documentation's ```yaml blocks, with where it
/// came from.
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
    for (page, text) in pages() {
        for block in fenced_blocks(&text)
            .into_iter()
            .filter(|b| b.lang == "yaml")
        {
            for document in serde_yaml::Deserializer::from_str(&block.body) {
                let source = format!("{page}:{} (yaml block)", block.line);
                let value =
                    Value::deserialize(document).unwrap_or_else(|e| panic!("{source}: {e}"));
                documents.push((source, value));
            }
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
        seen >= 5,
        "expected the README's, docs/audit.md's and the three examples' policies, saw {seen}"
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
    let table = section(&readme, "## Settings");
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
    section(&readme, "## Settings")
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

/// The flow of one request, as lib.rs's module comment and CONTRIBUTING.md's Architecture table
/// give it: each file of `src/` may use only the files before it.
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
    // CONTRIBUTING.md's table lists the same files, in the same order.
    let contributing = text("CONTRIBUTING.md");
    let table = section(&contributing, "## Architecture");
    let rows: Vec<&str> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split_once(".rs`").map(|(f, _)| f))
        .collect();
    assert_eq!(rows, LAYERS, "CONTRIBUTING.md Architecture table");
}

// --- The documentation: README.md, CONTRIBUTING.md and docs/, held together

/// The pages of docs/, by path from the repository root.
fn docs_pages() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    names.sort();
    names
}

/// Every page of the documentation with its text: README.md, CONTRIBUTING.md and docs/.
fn pages() -> Vec<(String, String)> {
    ["README.md".to_owned(), "CONTRIBUTING.md".to_owned()]
        .into_iter()
        .chain(docs_pages())
        .map(|page| {
            let text = text(&page);
            (page, text)
        })
        .collect()
}

/// The text under a heading (a whole line, e.g. `## Settings`), up to the next heading of the
/// same or a higher level.
fn section<'a>(page: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = page
        .match_indices(heading)
        .map(|(at, _)| at)
        .find(|at| {
            (*at == 0 || page[..*at].ends_with('\n'))
                && page[at + heading.len()..].starts_with(['\n', '\r'])
        })
        .unwrap_or_else(|| panic!("no heading {heading:?}"))
        + heading.len();
    let mut end = page.len();
    let mut offset = start;
    let mut fenced = false;
    for line in page[start..].split_inclusive('\n') {
        fenced ^= line.trim_start().starts_with("```");
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !fenced && (1..=level).contains(&hashes) && line[hashes..].starts_with(' ') {
            end = offset;
            break;
        }
        offset += line.len();
    }
    &page[start..end]
}

/// A fenced code block: its language, its text and the line its fence opens on.
struct Block {
    lang: String,
    body: String,
    line: usize,
}

/// The fenced code blocks of a page (```lang … ```).
fn fenced_blocks(page: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in page.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        if let Some(block) = open.as_mut() {
            if fence.is_some_and(|rest| rest.trim().is_empty()) {
                blocks.extend(open.take());
            } else {
                block.body.push_str(line);
                block.body.push('\n');
            }
        } else if let Some(lang) = fence {
            open = Some(Block {
                lang: lang.trim().to_owned(),
                body: String::new(),
                line: i + 1,
            });
        }
    }
    if let Some(block) = open {
        panic!(
            "a ```{} block opened on line {} never closes",
            block.lang, block.line
        );
    }
    blocks
}

/// The page with every fenced block's lines (fences included) left empty, so that
/// line numbers stay those of the page.
fn outside_fences(page: &str) -> String {
    let mut inside = false;
    page.lines()
        .map(|line| {
            let fence = line.trim_start().starts_with("```");
            let prose = !inside && !fence;
            if fence {
                inside = !inside;
            }
            if prose { line } else { "" }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text with its inline code spans blanked out (newlines kept), and the spans' contents
/// with the line each starts on.
fn split_code_spans(text: &str) -> (String, Vec<(usize, String)>) {
    let chars: Vec<char> = text.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let (mut prose, mut spans, mut line) = (String::new(), Vec::new(), 1);
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            line += usize::from(chars[i] == '\n');
            prose.push(chars[i]);
            i += 1;
            continue;
        }
        let run = run_at(i);
        let mut j = i + run;
        while j < chars.len() && !(chars[j] == '`' && run_at(j) == run) {
            j += if chars[j] == '`' { run_at(j) } else { 1 };
        }
        if j >= chars.len() {
            // No closing run: the backticks are text.
            prose.extend(&chars[i..i + run]);
            i += run;
            continue;
        }
        let content: String = chars[i + run..j].iter().collect();
        spans.push((line, content.trim().to_owned()));
        for c in &chars[i..j + run] {
            line += usize::from(*c == '\n');
            prose.push(if *c == '\n' { '\n' } else { ' ' });
        }
        i = j + run;
    }
    (prose, spans)
}

/// The anchor GitHub gives a heading: lowercase, punctuation removed except `-` and `_`,
/// spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings, in order; a repeated one gets `-1`, `-2`, ….
fn anchors(page: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in outside_fences(page).lines() {
        let level = line.chars().take_while(|c| *c == '#').count();
        let Some(heading) = line[level..].strip_prefix(' ').filter(|_| level > 0) else {
            continue;
        };
        let base = anchor(heading.trim().trim_end_matches('#').trim());
        let mut slug = base.clone();
        let mut n = 0;
        while seen.contains(&slug) {
            n += 1;
            slug = format!("{base}-{n}");
        }
        seen.push(slug);
    }
    seen
}

/// The destinations of a page's links (`[text](destination)`), with their lines; links in
/// code are not links.
fn links(page: &str) -> Vec<(usize, String)> {
    let (prose, _) = split_code_spans(&outside_fences(page));
    let mut found = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let line = prose[..prose.len() - rest.len() + at].matches('\n').count() + 1;
        let destination = &rest[at + 2..];
        let end = destination.find(')').unwrap_or(destination.len());
        // A title after the destination ("…" or '…') is not part of it.
        let destination = destination[..end]
            .split_whitespace()
            .next()
            .unwrap_or_default();
        found.push((line, destination.to_owned()));
        rest = &rest[at + 2..];
    }
    found
}

/// What a path of the repository is, for a link.
enum Target {
    Missing,
    /// A directory, or a file that is not Markdown.
    Other,
    Markdown(String),
}

/// `dir/../x/./y` as `x/y`; `None` when it leaves the repository.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// Every relative link of the pages whose file or anchor does not exist, as
/// `page:line: destination: why`. Links to the web are not followed.
fn broken_links(pages: &[(String, String)], target: &dyn Fn(&str) -> Target) -> Vec<String> {
    let mut broken = Vec::new();
    for (page, text) in pages {
        for (line, destination) in links(text) {
            if ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| destination.starts_with(scheme))
            {
                continue;
            }
            let mut report =
                |why: &str| broken.push(format!("{page}:{line}: {destination}: {why}"));
            let (path, fragment) = match destination.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (destination.as_str(), None),
            };
            if path.starts_with('/') {
                report("absolute; links between pages must be relative");
                continue;
            }
            let anchored_text = if path.is_empty() {
                Some(text.clone())
            } else {
                let directory = page.rsplit_once('/').map_or("", |(dir, _)| dir);
                let Some(resolved) = normalize(&format!("{directory}/{path}")) else {
                    report("leaves the repository");
                    continue;
                };
                match target(&resolved) {
                    Target::Missing => {
                        report(&format!("{resolved} does not exist"));
                        continue;
                    }
                    Target::Other => None,
                    Target::Markdown(text) => Some(text),
                }
            };
            let Some(fragment) = fragment else { continue };
            match anchored_text {
                None => report("an anchor into a file that is not Markdown"),
                Some(text) if !anchors(&text).iter().any(|a| a == fragment) => {
                    report("no heading has this anchor")
                }
                Some(_) => {}
            }
        }
    }
    broken
}

/// The repository's files, as links see them.
fn repository_target(path: &str) -> Target {
    let full = root().join(path);
    if !full.exists() {
        Target::Missing
    } else if full.is_file() && path.ends_with(".md") {
        Target::Markdown(text(path))
    } else {
        Target::Other
    }
}

#[test]
fn every_relative_link_between_the_pages_and_to_the_repository_resolves() {
    let pages = pages();
    let checked: usize = pages.iter().map(|(_, text)| links(text).len()).sum();
    assert!(checked >= 40, "only {checked} links found");
    let broken = broken_links(&pages, &repository_target);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_are_computed_the_way_github_computes_them() {
    for (heading, expected) in [
        (
            "What it does, before and after",
            "what-it-does-before-and-after",
        ),
        (
            "EKS Pod Identity (container credentials)",
            "eks-pod-identity-container-credentials",
        ),
        ("Choosing `failurePolicy`", "choosing-failurepolicy"),
        (
            "6. Check a token the way STS will, before any Pod runs",
            "6-check-a-token-the-way-sts-will-before-any-pod-runs",
        ),
        ("Does it work with my SDK?", "does-it-work-with-my-sdk"),
        ("policy-host and kwctl", "policy-host-and-kwctl"),
        ("snake_case stays", "snake_case-stays"),
        ("Kubernetes ≥ 1.21", "kubernetes--121"),
    ] {
        assert_eq!(anchor(heading), expected, "{heading:?}");
    }
    assert_eq!(
        anchors("# A\n\n## A\n\n```yaml\n# not a heading\n```\n\n### A\n#not a heading either\n"),
        ["a", "a-1", "a-2"]
    );
}

#[test]
fn the_link_check_reports_exactly_the_broken_links() {
    let readme = "# Title\n\n## Deploy it\n\n## Deploy it\n\n```yaml\n# not a heading\n```\n";
    let target = |path: &str| match path {
        "README.md" => Target::Markdown(readme.to_owned()),
        "src/lib.rs" | "examples" | "docs" => Target::Other,
        _ => Target::Missing,
    };
    for (page, broken) in [
        ("[a](../README.md)", false),
        ("[a](../README.md#deploy-it)", false),
        ("[a](../README.md#deploy-it-1)", false),
        ("[a](../README.md#deploy-it-2)", true),
        ("[a](../README.md#not-a-heading)", true),
        ("[a](../README.md#Deploy-it)", true),
        ("[a](README.md)", true),
        ("[a](../src/lib.rs)", false),
        ("[a](../src/lib.rs#L1)", true),
        ("[a](../examples/)", false),
        ("[a](../src/missing.rs)", true),
        ("[a](../../outside.md)", true),
        ("[a](/README.md)", true),
        ("## Here\n\n[a](#here)", false),
        ("## Here\n\n[a](#there)", true),
        ("[a](../README.md \"a title\")", false),
        ("`[a](missing.md)`", false),
        ("``[a](missing.md) ` ``", false),
        ("```console\n[a](missing.md)\n```", false),
        ("[a](https://example.com/missing.md)", false),
    ] {
        let pages = [("docs/page.md".to_owned(), page.to_owned())];
        let found = broken_links(&pages, &target);
        assert_eq!(!found.is_empty(), broken, "{page:?}: {found:?}");
        assert!(found.len() <= 1, "{page:?}: {found:?}");
    }
}

/// A page of docs/ (or CONTRIBUTING.md) starts with its title, then says who it is for and
/// when to read it.
fn says_who_it_is_for(page: &str) -> Result<(), String> {
    let mut lines = page.lines().filter(|line| !line.trim().is_empty());
    if !lines.next().is_some_and(|title| title.starts_with("# ")) {
        return Err("the first line must be the title, `# …`".to_owned());
    }
    for prefix in ["**For:**", "**Read it when:**"] {
        let said = lines
            .next()
            .and_then(|line| line.strip_prefix(prefix))
            .is_some_and(|rest| !rest.trim().is_empty());
        if !said {
            return Err(format!(
                "after the title: a line `**For:** …`, then a line `**Read it when:** …`; no `{prefix} …` where expected"
            ));
        }
    }
    Ok(())
}

#[test]
fn every_page_of_docs_and_contributing_says_who_it_is_for() {
    let mut checked = 0;
    for page in docs_pages()
        .into_iter()
        .chain(["CONTRIBUTING.md".to_owned()])
    {
        says_who_it_is_for(&text(&page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} pages");
    for (page, valid) in [
        (
            "# T\n\n**For:** operators.\n\n**Read it when:** always.\n\nText.",
            true,
        ),
        (
            "# T\n**For:** operators.\n**Read it when:** always.\n",
            true,
        ),
        ("**For:** operators.\n\n**Read it when:** always.\n", false),
        (
            "# T\n\nText.\n\n**For:** operators.\n\n**Read it when:** always.\n",
            false,
        ),
        (
            "# T\n\n**Read it when:** always.\n\n**For:** operators.\n",
            false,
        ),
        ("# T\n\n**For:**\n\n**Read it when:** always.\n", false),
        ("# T\n\n**For:** operators.\n\nText.\n", false),
    ] {
        assert_eq!(says_who_it_is_for(page).is_ok(), valid, "{page:?}");
    }
}

#[test]
fn the_readme_is_at_most_300_lines() {
    let lines = text("README.md").lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; move the depth to docs/"
    );
}

#[test]
fn the_readmes_map_lists_every_page_of_docs_once_one_line_each() {
    let readme = text("README.md");
    let map = section(&readme, "## Documentation");
    let mut listed = Vec::new();
    for line in map.lines().filter(|line| !line.trim().is_empty()) {
        assert!(
            line.starts_with("* ["),
            "the map is one `* [page](page): what it answers` line per page, not {line:?}"
        );
        let (_, destination) = links(line)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no link in {line:?}"));
        if destination.starts_with("docs/") {
            listed.push(destination);
        }
    }
    listed.sort();
    assert_eq!(
        listed,
        docs_pages(),
        "README.md's map vs the pages of docs/"
    );
}

#[test]
fn every_json_block_shown_parses() {
    let mut checked = 0;
    for (page, text) in pages() {
        for block in fenced_blocks(&text)
            .into_iter()
            .filter(|b| b.lang == "json")
        {
            serde_json::from_str::<serde_json::Value>(&block.body)
                .unwrap_or_else(|e| panic!("{page}:{} (json block): {e}", block.line));
            checked += 1;
        }
    }
    assert!(checked >= 1, "no json block found");
}

#[test]
fn every_code_block_names_its_language() {
    for (page, text) in pages() {
        for block in fenced_blocks(&text) {
            assert!(
                !block.lang.is_empty(),
                "{page}:{}: a block without a language is neither checked nor highlighted",
                block.line
            );
        }
    }
}

#[test]
fn every_repository_path_the_documentation_names_exists() {
    let top_level: Vec<String> = std::fs::read_dir(root())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && name != "target")
        .collect();
    let mut checked = 0;
    for (page, text) in pages() {
        let (_, spans) = split_code_spans(&outside_fences(&text));
        for (line, span) in spans {
            let is_path = span
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
            let first = span.split('/').next().unwrap_or_default();
            if !is_path || !span.contains('/') || !top_level.iter().any(|dir| dir == first) {
                continue;
            }
            assert!(
                root().join(&span).exists(),
                "{page}:{line}: `{span}` does not exist"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} paths found");
}

#[test]
fn every_make_target_the_documentation_names_is_in_the_makefile() {
    let makefile = text("Makefile");
    let targets: Vec<&str> = makefile
        .lines()
        .filter(|line| !line.starts_with(['\t', '#', '.']))
        .filter_map(|line| line.split_once(':'))
        .filter(|(_, rest)| !rest.starts_with('='))
        .flat_map(|(names, _)| names.split_whitespace())
        .collect();
    let mut checked = 0;
    for (page, text) in pages() {
        let (_, spans) = split_code_spans(&outside_fences(&text));
        let blocks = fenced_blocks(&text)
            .into_iter()
            .filter(|block| block.lang == "console")
            .flat_map(|block| {
                let first = block.line;
                block
                    .body
                    .lines()
                    .enumerate()
                    .map(move |(i, line)| (first + 1 + i, line.to_owned()))
                    .collect::<Vec<_>>()
            });
        for (line, code) in spans.into_iter().chain(blocks) {
            let code = code.split('#').next().unwrap_or_default();
            for command in code.split("make ").skip(1) {
                let target = command.split_whitespace().next().unwrap_or_default();
                if target.is_empty() || target.contains('=') {
                    continue;
                }
                assert!(
                    targets.contains(&target),
                    "{page}:{line}: `make {target}` is not a target of the Makefile"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} make commands found");
}
