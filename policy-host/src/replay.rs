//! Replay sessions: the YAML files kwctl's `--replay-host-capabilities-interactions`
//! reads. Each exchange answers the next host call, which must match the
//! recorded request field for field.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

/// The guest's `kubernetes/get_resource` request, as the SDK serializes it and
/// as sessions record it (after the `!KubernetesGetResource` tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetResource {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub disable_cache: bool,
    #[serde(default)]
    pub field_masks: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum Response {
    Success { payload: String },
    Error { message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
enum Entry {
    Exchange { request: String, response: Response },
}

#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: GetResource,
    pub response: Response,
}

/// The exchanges not yet consumed, in order.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pending: VecDeque<Exchange>,
    /// Every exchange, for [`Session::rewind`].
    recorded: VecDeque<Exchange>,
}

impl Session {
    pub fn from_yaml(text: &str) -> Result<Session, String> {
        let entries: Option<Vec<Entry>> =
            serde_yaml::from_str(text).map_err(|e| format!("not a replay session: {e}"))?;
        let pending: VecDeque<Exchange> = entries
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, Entry::Exchange { request, response })| {
                parse_request(&request)
                    .map(|request| Exchange { request, response })
                    .map_err(|e| format!("exchange {}: {e}", i + 1))
            })
            .collect::<Result<_, _>>()?;
        Ok(Session {
            recorded: pending.clone(),
            pending,
        })
    }

    /// Answers one guest call: the recorded payload, or an error message (the
    /// recorded error, a mismatch showing both requests, or an exhausted session).
    pub fn answer(&mut self, request: &GetResource) -> Result<Vec<u8>, String> {
        let Some(next) = self.pending.front() else {
            return Err(format!(
                "replay session exhausted: no recorded exchange for\n{}",
                to_yaml(request)
            ));
        };
        if &next.request != request {
            return Err(format!(
                "replay session mismatch: the policy asked for\n{}but the session recorded\n{}",
                to_yaml(request),
                to_yaml(&next.request)
            ));
        }
        let exchange = self.pending.pop_front().map(|e| e.response);
        match exchange {
            Some(Response::Success { payload }) => Ok(payload.into_bytes()),
            Some(Response::Error { message }) => Err(message),
            None => Err("replay session exhausted".to_owned()),
        }
    }

    /// Starts the session over, so a benchmark can replay it for every evaluation.
    pub fn rewind(&mut self) {
        self.pending = self.recorded.clone();
    }

    pub fn remaining(&self) -> usize {
        self.pending.len()
    }
}

fn parse_request(text: &str) -> Result<GetResource, String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    match value {
        serde_yaml::Value::Tagged(tagged) if tagged.tag == "KubernetesGetResource" => {
            serde_yaml::from_value(tagged.value).map_err(|e| format!("!KubernetesGetResource: {e}"))
        }
        serde_yaml::Value::Tagged(tagged) => Err(format!(
            "host capability {} is not supported by policy-host (only !KubernetesGetResource)",
            tagged.tag
        )),
        _ => Err("the request must start with a tag such as !KubernetesGetResource".to_owned()),
    }
}

fn to_yaml(request: &GetResource) -> String {
    serde_yaml::to_string(request).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}
