//! `policy-host bench`: evaluations per second of a module, warm (one
//! instance reused, as `kwctl bench` does) and fresh (a new instance per
//! evaluation from the pre-instantiated module, as a strict host does),
//! optionally side by side with a baseline module on the same inputs,
//! interleaved so that machine noise hits both alike.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::{HostCapabilities, Instance, PAGE, Policy};
use crate::replay::Session;
use crate::response::ValidationResponse;

/// One input: the `validate` payload, built once.
pub struct Input {
    pub name: String,
    pub payload: Vec<u8>,
    /// Size of the Pod (`request.object`) in bytes.
    pub pod_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostMode {
    Warm,
    Fresh,
}

impl HostMode {
    pub fn name(self) -> &'static str {
        match self {
            HostMode::Warm => "warm",
            HostMode::Fresh => "fresh",
        }
    }
}

/// A module ready to be benchmarked, with its one-time costs.
pub struct Subject {
    pub label: String,
    pub size: usize,
    pub compile: Duration,
    pub instantiate: Duration,
    policy: Policy,
    capabilities: Arc<HostCapabilities>,
    warm: Instance,
}

impl Subject {
    pub fn load(
        label: &str,
        module: &[u8],
        allow_context_aware: bool,
        session: Option<Session>,
    ) -> Result<Subject, String> {
        let started = Instant::now();
        let policy = Policy::compile(module)?;
        let compile = started.elapsed();
        let capabilities = Arc::new(HostCapabilities {
            allow_context_aware,
            session: session.map(Mutex::new),
        });
        let warm = policy.instantiate(capabilities.clone())?;
        // The first instance of a process pays one-time setup: time the next ones.
        let mut instantiations = (0..11)
            .map(|_| {
                let started = Instant::now();
                policy
                    .instantiate(capabilities.clone())
                    .map(|_| started.elapsed())
            })
            .collect::<Result<Vec<_>, _>>()?;
        instantiations.sort();
        let instantiate = instantiations[instantiations.len() / 2];
        Ok(Subject {
            label: label.to_owned(),
            size: module.len(),
            compile,
            instantiate,
            policy,
            capabilities,
            warm,
        })
    }

    pub fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::check_settings(&self.warm, settings).map_err(|e| e.to_string())
    }

    /// One timed evaluation.
    fn evaluate(&self, mode: HostMode, payload: &[u8]) -> Result<Duration, String> {
        if let Some(session) = &self.capabilities.session {
            session.lock().map_err(|_| "session poisoned")?.rewind();
        }
        let started = Instant::now();
        let fresh;
        let instance = match mode {
            HostMode::Warm => &self.warm,
            HostMode::Fresh => {
                fresh = self.policy.instantiate(self.capabilities.clone())?;
                &fresh
            }
        };
        let raw = instance.call("validate", payload)?;
        let response: ValidationResponse = serde_json::from_slice(&raw)
            .map_err(|e| format!("{}: unreadable response: {e}", self.label))?;
        let elapsed = started.elapsed();
        if !response.accepted {
            return Err(format!(
                "{}: the request was rejected: {:?}",
                self.label, response.message
            ));
        }
        Ok(elapsed)
    }

    /// The guest's linear memory after one evaluation (wasm memory never shrinks).
    pub fn memory(&self, payload: &[u8]) -> Option<usize> {
        self.policy.peak_memory(|limited| {
            let Ok(instance) = limited.instantiate(self.capabilities.clone()) else {
                return false;
            };
            if let Some(session) = &self.capabilities.session
                && let Ok(mut session) = session.lock()
            {
                session.rewind();
            }
            instance.call("validate", payload).is_ok()
        })
    }
}

/// Per-evaluation figures, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub mean: f64,
    pub per_second: f64,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Stats {
        let mut micros: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
        let mean = micros.iter().sum::<f64>() / micros.len() as f64;
        Stats {
            min: micros[0],
            median: at(0.5),
            p99: at(0.99),
            mean,
            per_second: 1e6 / mean,
        }
    }
}

/// Runs `warmup` then `iterations` evaluations of `input` per subject, in ten
/// interleaved rounds; returns each subject's samples.
pub fn measure(
    subjects: &[Subject],
    input: &Input,
    mode: HostMode,
    warmup: usize,
    iterations: usize,
) -> Result<Vec<Vec<Duration>>, String> {
    for subject in subjects {
        for _ in 0..warmup {
            subject.evaluate(mode, &input.payload)?;
        }
    }
    let rounds = 10.min(iterations.max(1));
    let mut samples = vec![Vec::with_capacity(iterations); subjects.len()];
    for round in 0..rounds {
        let count = iterations / rounds + usize::from(round < iterations % rounds);
        for (subject, samples) in subjects.iter().zip(&mut samples) {
            for _ in 0..count {
                samples.push(subject.evaluate(mode, &input.payload)?);
            }
        }
    }
    Ok(samples)
}

pub fn pages(bytes: usize) -> String {
    format!("{} pages ({} KiB)", bytes / PAGE, bytes / 1024)
}
