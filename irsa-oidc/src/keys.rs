//! Signing keys: reading them from PEM files (public or private, RSA or EC
//! P-256) and describing their public part as the JWK kube-apiserver
//! publishes, with the same key ID it puts in the tokens it signs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use pkcs8::der::Decode;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spki::ObjectIdentifier;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// The public half of a service-account signing key.
#[derive(Debug, Clone, PartialEq)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::PublicKey),
}

/// One entry of a JWKS, in the field order kube-apiserver writes
/// (`use`, `kty`, `kid`, `crv`, `alg`, then the key's numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default)]
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// `{"keys": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl PublicKey {
    /// The JWS algorithm kube-apiserver signs with for this key.
    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "RS256",
            PublicKey::P256(_) => "ES256",
        }
    }

    /// The key's PKIX (SubjectPublicKeyInfo) DER encoding, as Go's
    /// `x509.MarshalPKIXPublicKey` writes it.
    pub fn pkix_der(&self) -> Result<Vec<u8>, String> {
        let document = match self {
            PublicKey::Rsa(key) => key.to_public_key_der(),
            PublicKey::P256(key) => key.to_public_key_der(),
        };
        document
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| format!("cannot encode the public key: {e}"))
    }

    /// kube-apiserver's key ID: base64url (no padding) of SHA-256 of the PKIX DER.
    pub fn key_id(&self) -> Result<String, String> {
        Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(self.pkix_der()?)))
    }

    pub fn to_jwk(&self) -> Result<Jwk, String> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = Jwk {
            use_: Some("sig".to_owned()),
            kty: String::new(),
            kid: Some(self.key_id()?),
            crv: None,
            alg: Some(self.algorithm().to_owned()),
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match self {
            PublicKey::Rsa(key) => {
                jwk.kty = "RSA".to_owned();
                jwk.n = Some(b64(&key.n().to_bytes_be()));
                jwk.e = Some(b64(&key.e().to_bytes_be()));
            }
            PublicKey::P256(key) => {
                let point = key.to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err("the EC key is the point at infinity".to_owned());
                };
                jwk.kty = "EC".to_owned();
                jwk.crv = Some("P-256".to_owned());
                jwk.x = Some(b64(x));
                jwk.y = Some(b64(y));
            }
        }
        Ok(jwk)
    }
}

/// Every key in a PEM file (kube-apiserver's key files may hold several).
pub fn read_pem(text: &str) -> Result<Vec<PublicKey>, String> {
    let blocks = pem_blocks(text);
    if blocks.is_empty() {
        return Err("not a PEM file (no -----BEGIN ...----- line)".to_owned());
    }
    blocks.into_iter().map(read_block).collect()
}

/// The `-----BEGIN` … `-----END …-----` sections of a text, in order.
fn pem_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from_begin = &rest[start..];
        let Some(end) = from_begin.find("-----END ") else {
            blocks.push(from_begin);
            break;
        };
        let after_end = &from_begin[end + "-----END ".len()..];
        let close = after_end.find("-----").map_or(after_end.len(), |i| i + 5);
        let length = end + "-----END ".len() + close;
        blocks.push(&from_begin[..length]);
        rest = &from_begin[length..];
    }
    blocks
}

fn read_block(block: &str) -> Result<PublicKey, String> {
    let (label, der) = pem_rfc7468::decode_vec(block.trim().as_bytes())
        .map_err(|e| format!("not a valid PEM block ({e})"))?;
    let parsed = match label {
        "PUBLIC KEY" => from_spki(&der),
        "RSA PUBLIC KEY" => rsa::RsaPublicKey::from_pkcs1_der(&der)
            .map(PublicKey::Rsa)
            .map_err(|e| e.to_string()),
        "PRIVATE KEY" => from_pkcs8(&der),
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(&der)
            .map(|key| PublicKey::Rsa(key.to_public_key()))
            .map_err(|e| e.to_string()),
        "EC PRIVATE KEY" => from_sec1(&der),
        other => {
            return Err(format!(
                "unsupported PEM block {other:?} (expected PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
            ));
        }
    };
    parsed.map_err(|e| {
        if e.starts_with("unsupported") {
            e
        } else {
            format!("cannot read the {label} block: {e}")
        }
    })
}

fn from_spki(der: &[u8]) -> Result<PublicKey, String> {
    let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| e.to_string())?;
    match key_kind(&info.algorithm)? {
        KeyKind::Rsa => rsa::RsaPublicKey::from_public_key_der(der)
            .map(PublicKey::Rsa)
            .map_err(|e| e.to_string()),
        KeyKind::P256 => p256::PublicKey::from_public_key_der(der)
            .map(PublicKey::P256)
            .map_err(|e| e.to_string()),
    }
}

fn from_pkcs8(der: &[u8]) -> Result<PublicKey, String> {
    let info = pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| e.to_string())?;
    match key_kind(&info.algorithm)? {
        KeyKind::Rsa => rsa::RsaPrivateKey::from_pkcs8_der(der)
            .map(|key| PublicKey::Rsa(key.to_public_key()))
            .map_err(|e| e.to_string()),
        KeyKind::P256 => p256::SecretKey::from_pkcs8_der(der)
            .map(|key| PublicKey::P256(key.public_key()))
            .map_err(|e| e.to_string()),
    }
}

fn from_sec1(der: &[u8]) -> Result<PublicKey, String> {
    let key = sec1::EcPrivateKey::from_der(der).map_err(|e| e.to_string())?;
    // A key that names no curve (as some tools write them) is read as P-256,
    // the only curve supported; a P-256 parse of another curve's key fails.
    if let Some(curve) = key.parameters.and_then(|p| p.named_curve())
        && curve != PRIME256V1
    {
        return Err(unsupported_curve(curve));
    }
    p256::SecretKey::from_sec1_der(der)
        .map(|key| PublicKey::P256(key.public_key()))
        .map_err(|e| e.to_string())
}

enum KeyKind {
    Rsa,
    P256,
}

fn key_kind(algorithm: &spki::AlgorithmIdentifierRef) -> Result<KeyKind, String> {
    if algorithm.oid == RSA_ENCRYPTION {
        return Ok(KeyKind::Rsa);
    }
    if algorithm.oid != EC_PUBLIC_KEY {
        return Err(format!(
            "unsupported key type {} (only RSA and EC P-256 keys sign service-account tokens STS accepts)",
            algorithm_name(algorithm.oid)
        ));
    }
    match algorithm.parameters_oid() {
        Ok(curve) if curve == PRIME256V1 => Ok(KeyKind::P256),
        Ok(curve) => Err(unsupported_curve(curve)),
        Err(_) => Err("unsupported key type: the EC key names no curve".to_owned()),
    }
}

fn unsupported_curve(curve: ObjectIdentifier) -> String {
    let name = match curve.to_string().as_str() {
        "1.3.132.0.34" => "P-384".to_owned(),
        "1.3.132.0.35" => "P-521".to_owned(),
        other => format!("OID {other}"),
    };
    format!("unsupported key type: EC curve {name} (only P-256 is supported)")
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.101.112" => "Ed25519".to_owned(),
        "1.3.101.113" => "Ed448".to_owned(),
        "1.2.840.10040.4.1" => "DSA".to_owned(),
        other => format!("with OID {other}"),
    }
}

/// The JWKS of several key files' keys, in the order given, each key once.
pub fn jwks(keys: &[PublicKey]) -> Result<Jwks, String> {
    let mut out: Vec<Jwk> = Vec::new();
    for key in keys {
        let jwk = key.to_jwk()?;
        if !out.iter().any(|seen| seen.kid == jwk.kid) {
            out.push(jwk);
        }
    }
    Ok(Jwks { keys: out })
}
