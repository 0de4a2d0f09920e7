//! The issuer URL and what is published under it: the OpenID discovery
//! document and the JWKS, laid out as AWS IAM fetches them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::keys::{Jwks, PublicKey, jwks};

/// An issuer AWS IAM can fetch from: `https://` with a host, no query or fragment.
pub fn check_issuer(url: &str) -> Result<(), String> {
    let problem = match url.strip_prefix("https://") {
        None => Some("must start with https:// (AWS IAM fetches the issuer over HTTPS)"),
        Some(_) if url.chars().any(char::is_whitespace) => Some("must not contain spaces"),
        Some(_) if url.contains(['?', '#']) => Some("must not have a query or a fragment"),
        Some(rest) if rest.split('/').next().is_none_or(str::is_empty) => Some("must name a host"),
        Some(_) => None,
    };
    match problem {
        Some(problem) => Err(format!("--issuer: {problem}, got {url:?}")),
        None => Ok(()),
    }
}

/// The issuer without its scheme and trailing `/`: what IAM calls the
/// provider's URL in ARNs and condition keys.
pub fn host_path(issuer: &str) -> &str {
    let rest = issuer.strip_prefix("https://").unwrap_or(issuer);
    rest.strip_suffix('/').unwrap_or(rest)
}

/// `URL/keys.json`, without doubling a trailing `/` of the issuer.
pub fn jwks_uri(issuer: &str) -> String {
    format!("{}/keys.json", issuer.strip_suffix('/').unwrap_or(issuer))
}

/// The discovery document, in the field order of the EKS webhook's self-hosted guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub authorization_endpoint: String,
    pub response_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub claims_supported: Vec<String>,
}

pub fn discovery(issuer: &str, keys: &[PublicKey]) -> Result<Discovery, String> {
    check_issuer(issuer)?;
    let mut algorithms: Vec<String> = Vec::new();
    for key in keys {
        let algorithm = key.algorithm().to_owned();
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    Ok(Discovery {
        issuer: issuer.to_owned(),
        jwks_uri: jwks_uri(issuer),
        authorization_endpoint: "urn:kubernetes:programmatic_authorization".to_owned(),
        response_types_supported: strings(&["id_token"]),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: algorithms,
        claims_supported: strings(&["sub", "iss"]),
    })
}

/// Writes `DIR/.well-known/openid-configuration` and `DIR/keys.json`; returns their paths.
pub fn write_documents(
    out: &Path,
    issuer: &str,
    keys: &[PublicKey],
) -> Result<[PathBuf; 2], String> {
    let document = discovery(issuer, keys)?;
    let key_set: Jwks = jwks(keys)?;
    let well_known = out.join(".well-known");
    std::fs::create_dir_all(&well_known)
        .map_err(|e| format!("{}: cannot create: {e}", well_known.display()))?;
    let config_path = well_known.join("openid-configuration");
    let keys_path = out.join("keys.json");
    write_json(&config_path, &document)?;
    write_json(&keys_path, &key_set)?;
    Ok([config_path, keys_path])
}

pub fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|e| format!("cannot write JSON: {e}"))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    std::fs::write(path, to_json(value)?)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}
