//! irsa-oidc: what a self-hosted cluster needs so that AWS STS accepts its
//! projected service-account tokens. It reads the API server's signing keys,
//! writes the issuer's discovery document and JWKS, prints the trust policy
//! of one ServiceAccount, and checks a token the way STS will. No cluster
//! access and no network: every input is a file or a flag.

pub mod issuer;
pub mod keys;
pub mod token;
pub mod trust;

use std::path::Path;

/// Every key of every file, in the order given; errors name the file.
pub fn read_key_files(paths: &[impl AsRef<Path>]) -> Result<Vec<keys::PublicKey>, String> {
    let mut all = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let text = read_text(path)?;
        let found = keys::read_pem(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        all.extend(found);
    }
    Ok(all)
}

pub fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: is not a text file", path.display()))
}

/// A JWKS file, such as `keys.json` or the API server's `/openid/v1/jwks`.
pub fn read_jwks(path: &Path) -> Result<keys::Jwks, String> {
    let text = read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: is not JSON ({e})", path.display()))?;
    serde_json::from_value(value).map_err(|e| {
        format!(
            "{}: is not a JWKS (expected {{\"keys\": [...]}}: {e})",
            path.display()
        )
    })
}
