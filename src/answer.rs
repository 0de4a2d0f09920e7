//! The answer: what the policy decided (a verdict, the audit trail, the insertions of a mutation)
//! and the one writer of the response the host reads. serde writes the fields; the mutated object
//! goes in front as its own bytes, so that the Pod is never parsed into a tree nor serialised
//! again.

use serde::{Serialize, Serializer};

use crate::inject::Insertion;

/// A response carries at most this many warnings (`kubectl` prints them all).
pub const MAX_WARNINGS: usize = 10;

/// Audit annotation values longer than this are cut, ending with `…`.
pub const MAX_AUDIT_VALUE: usize = 256;

/// What the policy answers, with a mutation as the object's new bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept {
        warnings: Vec<String>,
    },
    Mutate {
        object: String,
        warnings: Vec<String>,
    },
    Reject {
        code: u16,
        message: String,
        warnings: Vec<String>,
    },
}

/// A verdict, its audit trail (for a Pod CREATE the policy evaluated), and the insertions a
/// mutation made into the object's bytes (relative to its first byte).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub trail: Option<Trail>,
    pub insertions: Vec<Insertion>,
}

impl Decision {
    /// A decision that changes nothing in the object.
    pub fn of(verdict: Verdict, trail: Option<Trail>) -> Decision {
        Decision {
            verdict,
            trail,
            insertions: Vec::new(),
        }
    }
}

/// What the audit log should say about one Pod: which identity, from where, what the ServiceAccount
/// read gave, which containers got something. Written as the response's `audit_annotations`, in
/// this order, values capped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Trail {
    pub identity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "capped")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "capped")]
    pub role_source: Option<String>,
    #[serde(rename = "serviceaccount")]
    pub service_account: &'static str,
    #[serde(serialize_with = "joined")]
    pub containers: Vec<String>,
    /// Only with identity `none`: `skip-label`, `no-role` or `rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl Trail {
    pub fn none(reason: &'static str) -> Trail {
        Trail {
            identity: "none",
            role_arn: None,
            role_source: None,
            service_account: "not-read",
            containers: Vec::new(),
            reason: Some(reason),
        }
    }

    /// The policy refused the Pod: nothing was given to it.
    pub fn rejected(self) -> Trail {
        Trail {
            service_account: self.service_account,
            ..Trail::none("rejected")
        }
    }
}

fn capped<S: Serializer>(value: &Option<String>, out: S) -> Result<S::Ok, S::Error> {
    let value = value.as_deref().unwrap_or_default();
    if value.len() <= MAX_AUDIT_VALUE || value.chars().count() <= MAX_AUDIT_VALUE {
        return out.serialize_str(value);
    }
    let kept: String = value.chars().take(MAX_AUDIT_VALUE - 1).collect();
    out.serialize_str(&(kept + "…"))
}

fn joined<S: Serializer>(containers: &[String], out: S) -> Result<S::Ok, S::Error> {
    match containers.is_empty() {
        true => out.serialize_str("none"),
        false => capped(&Some(containers.join(",")), out),
    }
}

pub fn reject_verdict(message: String, warnings: Vec<String>) -> Verdict {
    Verdict::Reject {
        code: 400,
        message,
        warnings,
    }
}

/// The SDK's `ValidationResponse` fields, but the mutated object.
#[derive(Serialize)]
struct Fields<'a> {
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_annotations: Option<&'a Trail>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<&'a str>,
}

/// The response: `mutated_object` (the object's bytes as they are), then the other fields. Warnings
/// are deduplicated (first occurrence kept) and capped at [`MAX_WARNINGS`].
pub fn answer(decision: &Decision) -> Vec<u8> {
    let (object, message, code, warnings) = match &decision.verdict {
        Verdict::Accept { warnings } => (None, None, None, warnings),
        Verdict::Mutate { object, warnings } => (Some(object), None, None, warnings),
        Verdict::Reject {
            code,
            message,
            warnings,
        } => (None, Some(message.as_str()), Some(*code), warnings),
    };
    let mut unique: Vec<&str> = Vec::new();
    for warning in warnings {
        if unique.len() < MAX_WARNINGS && !unique.contains(&warning.as_str()) {
            unique.push(warning);
        }
    }
    let fields = Fields {
        accepted: code.is_none(),
        message,
        code,
        audit_annotations: decision.trail.as_ref(),
        warnings: unique,
    };
    let mut out = Vec::with_capacity(object.map_or(0, String::len) + 512);
    if let Some(object) = object {
        out.extend_from_slice(b"{\"mutated_object\":");
        out.extend_from_slice(object.as_bytes());
        out.push(b',');
    }
    let fields_at = out.len();
    // Strings and numbers into a Vec: serde_json cannot fail on them.
    let _ = serde_json::to_writer(&mut out, &fields);
    if object.is_some() {
        // The fields' own `{`: they go on after the object.
        out.remove(fields_at);
    }
    out
}
