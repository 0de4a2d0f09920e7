//! What AWS STS checks in a projected service-account token before it hands
//! out credentials, in the order it fails: the JWT's form, the signing key,
//! the signature, the issuer, the audience, then the token's lifetime.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::keys::{Jwk, Jwks};

/// Clock skew STS tolerates on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;

/// A token that passed every check: the claims a user wants to see.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub expiry: i64,
    pub namespace: Option<String>,
    pub service_account: Option<String>,
    pub pod: Option<String>,
}

/// The first check that fails, as one line: `<check>: <what is wrong>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

fn fail<T>(check: &str, message: impl std::fmt::Display) -> Result<T, Failure> {
    Err(Failure(format!("{check}: {message}")))
}

/// What the token must be for: the issuer URL and the audience.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

pub fn check_token(token: &str, jwks: &Jwks, expected: &Expected) -> Result<Claims, Failure> {
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return fail(
            "format",
            format!(
                "the token is not a JWT (expected three base64url parts separated by dots, got {})",
                parts.len()
            ),
        );
    };
    let header = json_part("header", header)?;
    let claims = json_part("payload", payload)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .or_else(|_| fail("format", "the token's signature is not base64url"))?;
    let key = signing_key(&header, jwks)?;
    let signed = &token[..header_and_payload_len(token)];
    verify_signature(&header, key, signed.as_bytes(), &signature)?;
    let issuer = check_issuer(&claims, expected.issuer)?;
    let audiences = check_audience(&claims, expected.audience)?;
    let expiry = check_lifetime(&claims, expected.now)?;
    let k8s = claims.get("kubernetes.io");
    let text = |pointer: &str| {
        k8s.and_then(|v| v.pointer(pointer))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(Claims {
        issuer,
        subject: string_claim(&claims, "sub").unwrap_or_default(),
        audiences,
        expiry,
        namespace: text("/namespace"),
        service_account: text("/serviceaccount/name"),
        pod: text("/pod/name"),
    })
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn json_part(part: &str, encoded: &str) -> Result<Map<String, Value>, Failure> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .or_else(|_| fail("format", format!("the token's {part} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => fail("format", format!("the token's {part} is not a JSON object")),
        Err(e) => fail("format", format!("the token's {part} is not JSON ({e})")),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn signing_key<'a>(header: &Map<String, Value>, jwks: &'a Jwks) -> Result<&'a Jwk, Failure> {
    let Some(kid) = header.get("kid").and_then(Value::as_str) else {
        return fail(
            "kid",
            "the token's header has no kid, so STS cannot pick a key",
        );
    };
    match jwks.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
        Some(key) => Ok(key),
        None => {
            let listed: Vec<&str> = jwks.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
            fail(
                "kid",
                format!(
                    "the token was signed with key {kid:?}, which the JWKS does not list (it lists {listed:?})"
                ),
            )
        }
    }
}

fn verify_signature(
    header: &Map<String, Value>,
    key: &Jwk,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), Failure> {
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let kid = key.kid.as_deref().unwrap_or_default();
    let verified = match (alg, key.kty.as_str()) {
        ("RS256", "RSA") => verify_rs256(key, signed, signature),
        ("ES256", "EC") => verify_es256(key, signed, signature),
        ("RS256" | "ES256", kty) => {
            return fail(
                "signature",
                format!("the token is {alg} but key {kid:?} is a {kty} key"),
            );
        }
        _ => {
            return fail(
                "signature",
                format!("the token's algorithm {alg:?} is not RS256 or ES256"),
            );
        }
    };
    match verified {
        Ok(true) => Ok(()),
        Ok(false) => fail(
            "signature",
            format!("the token's {alg} signature does not verify with key {kid:?}"),
        ),
        Err(problem) => fail("signature", format!("key {kid:?} is unusable: {problem}")),
    }
}

fn key_bytes(value: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let encoded = value.as_deref().ok_or(format!("it has no {name:?}"))?;
    URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| format!("its {name:?} is not base64url"))
}

fn verify_rs256(key: &Jwk, signed: &[u8], signature: &[u8]) -> Result<bool, String> {
    use rsa::signature::Verifier;
    let n = rsa::BigUint::from_bytes_be(&key_bytes(&key.n, "n")?);
    let e = rsa::BigUint::from_bytes_be(&key_bytes(&key.e, "e")?);
    let public = rsa::RsaPublicKey::new(n, e).map_err(|e| e.to_string())?;
    let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
        return Ok(false);
    };
    Ok(verifier.verify(signed, &signature).is_ok())
}

fn verify_es256(key: &Jwk, signed: &[u8], signature: &[u8]) -> Result<bool, String> {
    use p256::ecdsa::signature::Verifier;
    if key.crv.as_deref() != Some("P-256") {
        return Err(format!("its curve is {:?}, not \"P-256\"", key.crv));
    }
    let mut point = vec![0x04];
    point.extend(key_bytes(&key.x, "x")?);
    point.extend(key_bytes(&key.y, "y")?);
    let public = p256::PublicKey::from_sec1_bytes(&point)
        .map_err(|_| "its x and y are not a P-256 point".to_owned())?;
    let verifier = p256::ecdsa::VerifyingKey::from(&public);
    let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
        return Ok(false);
    };
    Ok(verifier.verify(signed, &signature).is_ok())
}

fn check_issuer(claims: &Map<String, Value>, expected: &str) -> Result<String, Failure> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected => Ok(iss.clone()),
        Some(Value::String(iss)) => fail(
            "issuer",
            format!("the token is from {iss:?}, not {expected:?}"),
        ),
        _ => fail(
            "issuer",
            format!("the token has no iss claim, not {expected:?}"),
        ),
    }
}

fn check_audience(claims: &Map<String, Value>, expected: &str) -> Result<Vec<String>, Failure> {
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if audiences.iter().any(|a| a == expected) {
        return Ok(audiences);
    }
    let listed = serde_json::to_string(&audiences).unwrap_or_default();
    fail(
        "audience",
        format!("the token is for {listed}, not {expected:?}"),
    )
}

fn number_claim(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let value = claims.get(name)?;
    value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
}

fn check_lifetime(claims: &Map<String, Value>, now: i64) -> Result<i64, Failure> {
    let Some(expiry) = number_claim(claims, "exp") else {
        return fail("expiry", "the token has no exp claim");
    };
    if now > expiry.saturating_add(LEEWAY_SECONDS) {
        return fail(
            "expiry",
            format!(
                "the token expired at {} ({} s ago)",
                timestamp(expiry),
                now - expiry
            ),
        );
    }
    for (claim, check, what) in [
        ("nbf", "not-before", "is not valid before"),
        ("iat", "issued-at", "was issued at"),
    ] {
        if let Some(at) = number_claim(claims, claim)
            && at > now.saturating_add(LEEWAY_SECONDS)
        {
            return fail(
                check,
                format!(
                    "the token {what} {}, {} s in the future (is a clock wrong?)",
                    timestamp(at),
                    at - now
                ),
            );
        }
    }
    Ok(expiry)
}

/// RFC 3339 in UTC, or the raw number when it is outside what a clock shows.
pub fn timestamp(seconds: i64) -> String {
    u64::try_from(seconds)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .filter(|_| seconds < 253_402_300_800)
        .map(|time| humantime::format_rfc3339_seconds(time).to_string())
        .unwrap_or_else(|| format!("{seconds} (seconds since 1970)"))
}
