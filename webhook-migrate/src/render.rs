//! The conversion written out: the multi-document YAML to apply (the notes as comments on top,
//! the ClusterAdmissionPolicy, the ClusterRole and its binding), the settings alone as one line of
//! JSON for scripts, and the notes as stderr lines.

use serde_yaml::{Mapping, Value};

use crate::Conversion;

/// Where the policy goes and whom the RBAC is for.
#[derive(Debug, Clone)]
pub struct Target {
    pub module: String,
    pub policy_name: String,
    pub policy_server_namespace: String,
    pub policy_server_service_account: String,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            module: crate::DEFAULT_MODULE.to_owned(),
            policy_name: "aws-pod-identity".to_owned(),
            policy_server_namespace: "kubewarden".to_owned(),
            policy_server_service_account: "policy-server".to_owned(),
        }
    }
}

const ROLE: &str = "aws-pod-identity-policy-read-serviceaccounts";

/// The YAML to apply.
pub fn manifests(conversion: &Conversion, target: &Target) -> Result<String, String> {
    let documents = [
        policy(conversion, target)?,
        cluster_role()?,
        binding(target)?,
    ];
    let mut out = header(conversion);
    for (i, document) in documents.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml::to_string(document).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn header(conversion: &Conversion) -> String {
    let mut out = String::from(
        "# Converted from the EKS pod-identity-webhook by webhook-migrate (docs/migration.md).\n",
    );
    if conversion.notes.is_empty() {
        out.push_str("# Everything given was carried over.\n");
        return out;
    }
    out.push_str("# Not carried over as given (why, and what the policy does instead):\n");
    for note in &conversion.notes {
        out.push_str(&format!(
            "# - {}: {}\n",
            one_line(&note.subject),
            one_line(&note.reason)
        ));
    }
    out
}

/// A note that cannot break out of its comment line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The notes as stderr lines.
pub fn notes(conversion: &Conversion) -> String {
    conversion
        .notes
        .iter()
        .map(|n| {
            format!(
                "webhook-migrate: not carried: {}: {}\n",
                one_line(&n.subject),
                one_line(&n.reason)
            )
        })
        .collect()
}

/// The settings as one line of JSON, keys in the order written (the oracle's interface).
pub fn settings_json(conversion: &Conversion) -> Result<String, String> {
    serde_json::to_string(&conversion.settings)
        .map(|json| json + "\n")
        .map_err(|e| e.to_string())
}

fn parse(text: &str) -> Result<Value, String> {
    serde_yaml::from_str(text).map_err(|e| format!("internal template: {e}"))
}

fn policy(conversion: &Conversion, target: &Target) -> Result<Value, String> {
    let mut policy = parse(
        "apiVersion: policies.kubewarden.io/v1\nkind: ClusterAdmissionPolicy\nmetadata: {}\nspec: {}\n",
    )?;
    policy["metadata"]["name"] = Value::String(target.policy_name.clone());
    let fixed = parse(concat!(
        "mode: protect\nmutating: true\nbackgroundAudit: false\n",
        "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\n",
        "contextAwareResources:\n- apiVersion: v1\n  kind: ServiceAccount\n",
    ))?;
    let mut spec = Mapping::new();
    spec.insert("module".into(), Value::String(target.module.clone()));
    if let Value::Mapping(fixed) = fixed {
        spec.extend(fixed);
    }
    spec.extend(conversion.spec.clone());
    spec.insert(
        "settings".into(),
        Value::Mapping(conversion.settings.clone()),
    );
    policy["spec"] = Value::Mapping(spec);
    Ok(policy)
}

fn cluster_role() -> Result<Value, String> {
    let mut role = parse(concat!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {}\n",
        "rules:\n- apiGroups: ['']\n  resources: [serviceaccounts]\n  verbs: [get, list, watch]\n",
    ))?;
    role["metadata"]["name"] = ROLE.into();
    Ok(role)
}

fn binding(target: &Target) -> Result<Value, String> {
    let mut binding = parse(concat!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {}\n",
        "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: x\n",
        "subjects:\n- kind: ServiceAccount\n  name: x\n  namespace: x\n",
    ))?;
    binding["metadata"]["name"] = ROLE.into();
    binding["roleRef"]["name"] = ROLE.into();
    binding["subjects"][0]["name"] = target.policy_server_service_account.clone().into();
    binding["subjects"][0]["namespace"] = target.policy_server_namespace.clone().into();
    Ok(binding)
}
