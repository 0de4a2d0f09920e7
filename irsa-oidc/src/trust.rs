//! The IAM trust policy that lets exactly one ServiceAccount assume a role
//! with a token from the cluster's issuer.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::issuer::{check_issuer, host_path};

pub const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov"];

/// What `irsa-oidc trust-policy` is asked for.
pub struct TrustRequest<'a> {
    pub partition: &'a str,
    pub account: &'a str,
    pub issuer: &'a str,
    pub namespace: &'a str,
    pub service_account: &'a str,
    pub audience: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrustPolicy {
    version: &'static str,
    statement: Vec<Statement>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    effect: &'static str,
    principal: Principal,
    action: &'static str,
    condition: Condition,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Principal {
    federated: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Condition {
    string_equals: Pairs,
}

/// A JSON object whose keys keep the order they were given in (`sub`, then `aud`).
struct Pairs(Vec<(String, String)>);

impl Serialize for Pairs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

pub fn trust_policy(request: &TrustRequest) -> Result<TrustPolicy, String> {
    if !PARTITIONS.contains(&request.partition) {
        return Err(format!(
            "--partition: must be one of {}, got {:?}",
            PARTITIONS.join(", "),
            request.partition
        ));
    }
    let account = request.account;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "--account: must be a 12-digit AWS account ID, got {account:?}"
        ));
    }
    check_issuer(request.issuer)?;
    for (flag, value) in [
        ("--namespace", request.namespace),
        ("--service-account", request.service_account),
        ("--audience", request.audience),
    ] {
        if value.is_empty() {
            return Err(format!("{flag}: must not be empty"));
        }
    }
    let provider = host_path(request.issuer);
    let subject = format!(
        "system:serviceaccount:{}:{}",
        request.namespace, request.service_account
    );
    Ok(TrustPolicy {
        version: "2012-10-17",
        statement: vec![Statement {
            effect: "Allow",
            principal: Principal {
                federated: format!(
                    "arn:{}:iam::{account}:oidc-provider/{provider}",
                    request.partition
                ),
            },
            action: "sts:AssumeRoleWithWebIdentity",
            condition: Condition {
                string_equals: Pairs(vec![
                    (format!("{provider}:sub"), subject),
                    (format!("{provider}:aud"), request.audience.to_owned()),
                ]),
            },
        }],
    })
}
