//! The answer: what the policy decided (a verdict, the audit trail, the
//! insertions of a mutation) and the one writer of the response the host
//! reads, by hand around the mutated object's own bytes.

use std::borrow::Cow;

use crate::inject::Insertion;
use crate::scan::push_quoted;

/// A response carries at most this many warnings (`kubectl` prints them all).
pub const MAX_WARNINGS: usize = 10;

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

/// A verdict, its audit trail (for a Pod CREATE the policy evaluated), and
/// the insertions a mutation made into the object's bytes (relative to its
/// first byte).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub trail: Option<Trail>,
    pub insertions: Vec<Insertion>,
}

/// What the audit log should say about one Pod: which identity, from where,
/// what the ServiceAccount read gave, which containers got something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    pub identity: &'static str,
    pub role_arn: Option<String>,
    pub role_source: Option<String>,
    pub service_account: &'static str,
    pub containers: Vec<String>,
    /// Only with identity `none`: `skip-label`, `no-role` or `rejected`.
    pub reason: Option<&'static str>,
}

/// Audit annotation values longer than this are cut, ending with `…`.
pub const MAX_AUDIT_VALUE: usize = 256;

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

    /// The annotations, in a fixed order, values capped.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, Cow<'_, str>)> {
        let containers = match self.containers.is_empty() {
            true => Cow::Borrowed("none"),
            false => Cow::Owned(self.containers.join(",")),
        };
        [
            ("identity", Some(Cow::Borrowed(self.identity))),
            ("role-arn", self.role_arn.as_deref().map(Cow::Borrowed)),
            (
                "role-source",
                self.role_source.as_deref().map(Cow::Borrowed),
            ),
            ("serviceaccount", Some(Cow::Borrowed(self.service_account))),
            ("containers", Some(containers)),
            ("reason", self.reason.map(Cow::Borrowed)),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some((key, capped(value?))))
    }
}

fn capped(value: Cow<'_, str>) -> Cow<'_, str> {
    if value.len() <= MAX_AUDIT_VALUE || value.chars().count() <= MAX_AUDIT_VALUE {
        return value;
    }
    let kept: String = value.chars().take(MAX_AUDIT_VALUE - 1).collect();
    Cow::Owned(kept + "…")
}

pub fn reject_verdict(message: String, warnings: Vec<String>) -> Verdict {
    Verdict::Reject {
        code: 400,
        message,
        warnings,
    }
}

/// The response (the SDK's `ValidationResponse` fields), written by hand
/// around the mutated object's bytes so that the Pod is never parsed into a
/// tree nor serialised again. Warnings are deduplicated (first occurrence
/// kept) and capped at [`MAX_WARNINGS`]; the audit trail is the response's
/// `audit_annotations`.
pub fn answer(decision: &Decision) -> Vec<u8> {
    let (accepted, message, code, object, warnings) = match &decision.verdict {
        Verdict::Accept { warnings } => (true, None, None, None, warnings),
        Verdict::Mutate { object, warnings } => (true, None, None, Some(object), warnings),
        Verdict::Reject {
            code,
            message,
            warnings,
        } => (false, Some(message), Some(code), None, warnings),
    };
    let size = object.map_or(0, |o| o.len()) + 512;
    let mut out = String::with_capacity(size);
    out.push('{');
    if let Some(object) = object {
        out.push_str("\"mutated_object\":");
        out.push_str(object);
        out.push(',');
    }
    out.push_str(match accepted {
        true => "\"accepted\":true",
        false => "\"accepted\":false",
    });
    if let Some(message) = message {
        out.push_str(",\"message\":");
        push_quoted(&mut out, message);
    }
    if let Some(code) = code {
        out.push_str(",\"code\":");
        out.push_str(&code.to_string());
    }
    if let Some(trail) = &decision.trail {
        out.push_str(",\"audit_annotations\":{");
        for (i, (key, value)) in trail.entries().enumerate() {
            out.push_str(if i == 0 { "\"" } else { ",\"" });
            out.push_str(key);
            out.push_str("\":");
            push_quoted(&mut out, &value);
        }
        out.push('}');
    }
    let warnings = unique_warnings(warnings);
    for (i, warning) in warnings.iter().enumerate() {
        out.push_str(if i == 0 { ",\"warnings\":[" } else { "," });
        push_quoted(&mut out, warning);
    }
    if !warnings.is_empty() {
        out.push(']');
    }
    out.push('}');
    out.into_bytes()
}

fn unique_warnings(warnings: &[String]) -> Vec<&str> {
    let mut unique: Vec<&str> = Vec::new();
    for warning in warnings {
        if unique.len() < MAX_WARNINGS && !unique.contains(&warning.as_str()) {
            unique.push(warning);
        }
    }
    unique
}
