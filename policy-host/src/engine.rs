//! The wasm side: compiling a policy module once and instantiating it with the
//! host capabilities policy-host offers, on the same crates Kubewarden's engine
//! uses (wapc + wasmtime-provider). Runaway guests are stopped by epoch
//! deadlines and a linear-memory cap, and come back as errors, never a crash.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use wapc::WapcHost;
use wasmtime_provider::wasmtime;
use wasmtime_provider::{
    EpochDeadlines, ResourceLimits, WasmtimeEngineProviderBuilder, WasmtimeEngineProviderPre,
};

use crate::replay::{GetResource, Session};

/// One epoch tick; deadlines below are counted in ticks.
const TICK: Duration = Duration::from_millis(100);
/// `wapc_init` may take 10 s, one evaluation 5 s (policy-server's own default is 2 s).
const DEADLINES: EpochDeadlines = EpochDeadlines {
    wapc_init: 100,
    wapc_func: 50,
};
/// A guest may grow its linear memory to 1 GiB; beyond that its allocation fails.
const MAX_MEMORY: usize = 1 << 30;

/// What the host offers the guest during one run.
#[derive(Debug, Default)]
pub struct HostCapabilities {
    pub allow_context_aware: bool,
    pub session: Option<Mutex<Session>>,
}

impl HostCapabilities {
    fn handle(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        match (binding, namespace, operation) {
            ("kubewarden", "tracing", "log") => {
                eprintln!("{}", String::from_utf8_lossy(payload));
                Ok(Vec::new())
            }
            ("kubewarden", "kubernetes", "get_resource") => self.get_resource(payload),
            _ => Err(format!(
                "host capability {binding}/{namespace}/{operation} is not supported by policy-host"
            )),
        }
    }

    fn get_resource(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        if !self.allow_context_aware {
            return Err(
                "the policy is not allowed to read Kubernetes resources: run it with --allow-context-aware"
                    .to_owned(),
            );
        }
        let request: GetResource = serde_json::from_slice(payload)
            .map_err(|e| format!("malformed kubernetes/get_resource request: {e}"))?;
        let Some(session) = &self.session else {
            return Err(
                "policy-host cannot reach a cluster: give a session with --replay-host-capabilities-interactions"
                    .to_owned(),
            );
        };
        let mut session = session
            .lock()
            .map_err(|_| "replay session poisoned".to_owned())?;
        session.answer(&request).inspect_err(|e| {
            if e.starts_with("replay session") {
                eprintln!("policy-host: {e}");
            }
        })
    }
}

/// A compiled module, ready to be instantiated many times.
pub struct Policy {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
    pre: WasmtimeEngineProviderPre,
}

/// A wasm page: linear memory grows in these.
pub const PAGE: usize = 64 * 1024;

impl Policy {
    pub fn compile(module: &[u8]) -> Result<Policy, String> {
        let mut config = wasmtime::Config::default();
        config.epoch_interruption(true);
        let engine = wasmtime::Engine::new(&config).map_err(|e| e.to_string())?;
        start_ticker(&engine);
        let module = wasmtime::Module::new(&engine, module)
            .map_err(|e| format!("cannot load the policy module: {e}"))?;
        Policy::prepare(engine, module, MAX_MEMORY)
    }

    fn prepare(
        engine: wasmtime::Engine,
        module: wasmtime::Module,
        max_memory: usize,
    ) -> Result<Policy, String> {
        let pre = WasmtimeEngineProviderBuilder::new()
            .engine(engine.clone())
            .module(module.clone())
            .enable_resource_limits(ResourceLimits {
                max_memory_size: Some(max_memory),
                max_table_elements: None,
            })
            .build_pre()
            .map_err(|e| format!("cannot load the policy module: {e}"))?;
        Ok(Policy {
            engine,
            module,
            pre,
        })
    }

    /// The same compiled module, with instances capped at `max_memory` bytes of linear memory.
    pub fn with_memory_limit(&self, max_memory: usize) -> Result<Policy, String> {
        Policy::prepare(self.engine.clone(), self.module.clone(), max_memory)
    }

    /// The smallest linear-memory cap (whole pages) under which `works` still
    /// succeeds: the guest's peak memory for that work, since wasm memory never
    /// shrinks. `None` when it fails even under the default cap.
    pub fn peak_memory(&self, works: impl Fn(&Policy) -> bool) -> Option<usize> {
        let fits = |pages: usize| {
            self.with_memory_limit(pages * PAGE)
                .is_ok_and(|p| works(&p))
        };
        let (mut low, mut high) = (1, MAX_MEMORY / PAGE);
        if !fits(high) {
            return None;
        }
        while low < high {
            let middle = (low + high) / 2;
            if fits(middle) {
                high = middle
            } else {
                low = middle + 1
            }
        }
        Some(high * PAGE)
    }

    /// A new instance (`wapc_init` already run) wired to `capabilities`.
    pub fn instantiate(&self, capabilities: Arc<HostCapabilities>) -> Result<Instance, String> {
        let provider = self
            .pre
            .rehydrate(Some(DEADLINES))
            .map_err(|e| format!("cannot instantiate the policy: {e}"))?;
        let callback =
            move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
                capabilities
                    .handle(binding, namespace, operation, payload)
                    .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
            };
        let host = WapcHost::new(Box::new(provider), Some(Box::new(callback)))
            .map_err(|e| format!("cannot initialise the policy: {e}"))?;
        Ok(Instance { host })
    }
}

/// Drives the epoch deadlines; stops when the engine is dropped.
fn start_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    thread::spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            thread::sleep(TICK);
        }
    });
}

pub struct Instance {
    host: WapcHost,
}

impl Instance {
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        self.host
            .call(operation, payload)
            .map_err(|e| e.to_string())
    }
}
