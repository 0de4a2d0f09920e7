//! Golden cases from `e2e-tests/test_data/golden.yaml`, run through the
//! compiled policy so that `cargo test` alone catches a broken module: the
//! patch is applied to the request's Pod and compared with the expected Pod.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use policy_host::replay::Session;
use policy_host::{Evaluation, admission_request, run};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Golden {
    name: String,
    request: String,
    settings: Option<String>,
    session: Option<String>,
    /// The Pod after the patch; absent means "no patch".
    expected: Option<String>,
    #[serde(default)]
    warnings: usize,
    /// The response's audit annotations (kwctl's `auditAnnotations`).
    audit: BTreeMap<String, String>,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e-tests/test_data")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn golden_cases_give_the_expected_pods_through_the_compiled_module() {
    let dir = data_dir();
    let module = common::policy_module();
    let cases: Vec<Golden> =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("golden.yaml")).unwrap()).unwrap();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    assert!(cases.len() >= 10, "golden.yaml lost its cases");
    for case in cases {
        let request = admission_request(read_json(&dir.join(&case.request))).unwrap();
        let settings = case
            .settings
            .as_ref()
            .map_or(Value::Object(Default::default()), |s| {
                read_json(&dir.join(s))
            });
        let session = case
            .session
            .as_ref()
            .map(|s| Session::from_yaml(&std::fs::read_to_string(dir.join(s)).unwrap()).unwrap());
        let evaluation = Evaluation {
            request: request.clone(),
            settings,
            allow_context_aware: true,
            session,
        };
        let response = run(&module, evaluation).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(response.allowed, "{}: {response:?}", case.name);
        assert_eq!(
            response.warnings.as_ref().map_or(0, Vec::len),
            case.warnings,
            "{}: {:?}",
            case.name,
            response.warnings
        );
        let audit: BTreeMap<String, String> = response
            .audit_annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        assert_eq!(audit, case.audit, "{}: audit annotations", case.name);
        let patch = response.decoded_patch().unwrap();
        let Some(expected) = &case.expected else {
            assert!(patch.is_none(), "{}: unexpected patch {patch:?}", case.name);
            continue;
        };
        let mut pod = request["object"].clone();
        json_patch::patch(
            &mut pod,
            &patch.unwrap_or_else(|| panic!("{}: no patch", case.name)),
        )
        .unwrap();
        let expected_path = dir.join(expected);
        if update {
            std::fs::write(
                &expected_path,
                serde_json::to_string_pretty(&pod).unwrap() + "\n",
            )
            .unwrap();
        }
        assert_eq!(pod, read_json(&expected_path), "{}", case.name);
    }
}
