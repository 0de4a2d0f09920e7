//! The `policy-host` command line: `policy-host run` takes kwctl's flags and
//! prints kwctl's AdmissionResponse line.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use policy_host::bench::{self, HostMode, Input, Stats, Subject};
use policy_host::engine::Policy;
use policy_host::replay::Session;
use policy_host::response::AdmissionResponse;
use policy_host::{Evaluation, RunError, admission_request, run, run_compiled};

#[derive(Parser)]
#[command(version, about = "Runs a Kubewarden policy module the way kwctl does")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one admission request and print the AdmissionResponse as one JSON line.
    Run(RunArgs),
    /// Time evaluations, warm and fresh, optionally against a baseline module.
    Bench(BenchArgs),
    /// policy-host only (not a kwctl command): many `run`s on one compiled module. Each stdin
    /// line is `{"request", "settings", "session"}` (the request file's JSON, the settings, the
    /// replay session's YAML text or null); each gets one stdout line, the AdmissionResponse
    /// `run` prints, or `{"error": …}` where `run` would exit non-zero.
    Batch(BatchArgs),
}

#[derive(Args)]
struct BatchArgs {
    /// Let the policy read Kubernetes resources (answered from each line's session).
    #[arg(long = "allow-context-aware")]
    allow_context_aware: bool,
    /// The policy module (.wasm).
    module: PathBuf,
}

/// What the policy runs with: kwctl's settings and host-capability flags.
#[derive(Args)]
struct PolicyArgs {
    /// Settings as a JSON string.
    #[arg(long = "settings-json", conflicts_with = "settings_path")]
    settings_json: Option<String>,
    /// Settings file, JSON or YAML.
    #[arg(short = 's', long = "settings-path")]
    settings_path: Option<PathBuf>,
    /// Let the policy read Kubernetes resources (answered from the replay session).
    #[arg(long = "allow-context-aware")]
    allow_context_aware: bool,
    /// kwctl replay session (YAML) answering the policy's host calls in order.
    #[arg(long = "replay-host-capabilities-interactions")]
    replay: Option<PathBuf>,
}

impl PolicyArgs {
    fn settings(&self) -> Result<Value, String> {
        load_settings(self.settings_json.as_deref(), self.settings_path.as_deref())
    }

    fn session(&self) -> Result<Option<Session>, String> {
        load_session(self.replay.as_deref())
    }
}

#[derive(Args)]
struct BenchArgs {
    /// AdmissionRequest or AdmissionReview files; one table row per file and host mode.
    #[arg(short = 'r', long = "request-path", required = true)]
    request_paths: Vec<PathBuf>,
    /// The replay session is rewound before every evaluation.
    #[command(flatten)]
    policy: PolicyArgs,
    /// Timed evaluations per module, pod and host mode.
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
    /// Untimed evaluations before timing.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Host modes to run: `warm`, `fresh` or both (repeatable; default both).
    #[arg(long = "mode", value_parser = ["warm", "fresh"])]
    modes: Vec<String>,
    /// Modules to run side by side on the same inputs, as LABEL=PATH (or
    /// PATH, labelled by its file name); repeatable.
    #[arg(long)]
    baseline: Vec<String>,
    /// The policy module (.wasm).
    module: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    /// AdmissionRequest or AdmissionReview file (JSON); `-` reads stdin.
    #[arg(short = 'r', long = "request-path")]
    request_path: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// policy-host only (not a kwctl flag): after the response line, print the
    /// patch operations and the Pod after the patch, for humans.
    #[arg(long = "explain")]
    explain: bool,
    /// The policy module (.wasm).
    module: PathBuf,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => run_command(args),
        Command::Bench(args) => bench_command(args),
        Command::Batch(args) => batch_command(args).map(|()| String::new()),
    };
    match result {
        Ok(line) if line.is_empty() => ExitCode::SUCCESS,
        Ok(line) => {
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(args: RunArgs) -> Result<String, String> {
    let module = read(&args.module)?;
    let request_text = if args.request_path == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("cannot read stdin: {e}"))?
    } else {
        String::from_utf8_lossy(&read(Path::new(&args.request_path))?).into_owned()
    };
    let document: Value = serde_json::from_str(&request_text)
        .map_err(|e| format!("{}: not JSON: {e}", args.request_path))?;
    let request = admission_request(document)?;
    let settings = args.policy.settings()?;
    let session = args.policy.session()?;
    let original = request.get("object").cloned().unwrap_or_default();
    let evaluation = Evaluation {
        request,
        settings,
        allow_context_aware: args.policy.allow_context_aware,
        session,
    };
    let response = run(&module, evaluation).map_err(|e| match e {
        RunError::InvalidSettings(_) => e.to_string(),
        RunError::Module(m) => format!("policy-host: {m}"),
    })?;
    let line = serde_json::to_string(&response).map_err(|e| e.to_string())?;
    if args.explain {
        return Ok(format!("{line}\n{}", explain(&response, original)?));
    }
    Ok(line)
}

/// Compiling once is what makes a few hundred evaluations fit in seconds (a debug-built host
/// takes about a second to compile the module); every line still gets a fresh instance.
fn batch_command(args: BatchArgs) -> Result<(), String> {
    let policy = Policy::compile(&read(&args.module)?)?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("cannot read stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = batch_line(&policy, args.allow_context_aware, &line)
            .unwrap_or_else(|error| serde_json::json!({ "error": error }).to_string());
        writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write stdout: {e}"))?;
    }
    Ok(())
}

fn batch_line(policy: &Policy, allow_context_aware: bool, line: &str) -> Result<String, String> {
    let mut input: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let request = admission_request(input["request"].take())?;
    let settings = match input["settings"].take() {
        Value::Null => Value::Object(Default::default()),
        settings => settings,
    };
    let session = match input["session"].as_str() {
        Some(text) => Some(Session::from_yaml(text)?),
        None => None,
    };
    let evaluation = Evaluation {
        request,
        settings,
        allow_context_aware,
        session,
    };
    let response = run_compiled(policy, evaluation).map_err(|e| match e {
        RunError::InvalidSettings(_) => e.to_string(),
        RunError::Module(m) => format!("policy-host: {m}"),
    })?;
    serde_json::to_string(&response).map_err(|e| e.to_string())
}

/// The response in readable form: decision, warnings, each patch operation, the patched Pod.
fn explain(response: &AdmissionResponse, mut pod: Value) -> Result<String, String> {
    let mut text = format!("\n# allowed: {}\n", response.allowed);
    if let Some(status) = &response.status {
        text += &format!(
            "# status: {} {}\n",
            status.code.unwrap_or_default(),
            status.message.as_deref().unwrap_or_default()
        );
    }
    for warning in response.warnings.iter().flatten() {
        text += &format!("# warning: {warning}\n");
    }
    let Some(patch) = response.decoded_patch()? else {
        return Ok(text + "# no patch: the Pod is admitted unchanged\n");
    };
    text += "# patch:\n";
    for operation in &patch.0 {
        text += &format!(
            "#   {}\n",
            serde_json::to_string(operation).map_err(|e| e.to_string())?
        );
    }
    json_patch::patch(&mut pod, &patch).map_err(|e| format!("the patch does not apply: {e}"))?;
    text += "# the Pod after the patch:\n";
    text += &serde_json::to_string_pretty(&pod).map_err(|e| e.to_string())?;
    Ok(text)
}

fn load_settings(json: Option<&str>, path: Option<&Path>) -> Result<Value, String> {
    match (json, path) {
        (Some(json), _) => {
            serde_json::from_str(json).map_err(|e| format!("--settings-json: not JSON: {e}"))
        }
        (None, Some(path)) => {
            let text = String::from_utf8_lossy(&read(path)?).into_owned();
            let settings: Option<Value> = serde_yaml::from_str(&text)
                .map_err(|e| format!("{}: not JSON or YAML: {e}", path.display()))?;
            Ok(settings.unwrap_or_else(|| Value::Object(Default::default())))
        }
        (None, None) => Ok(Value::Object(Default::default())),
    }
}

fn load_session(path: Option<&Path>) -> Result<Option<Session>, String> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&read(path)?).into_owned();
    Session::from_yaml(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn bench_command(args: BenchArgs) -> Result<String, String> {
    let settings = args.policy.settings()?;
    let session = args.policy.session()?;
    let mut modules = vec![("ours".to_owned(), args.module.clone())];
    modules.extend(
        args.baseline
            .iter()
            .map(|given| match given.split_once('=') {
                Some((label, path)) => (label.to_owned(), PathBuf::from(path)),
                None => {
                    let path = PathBuf::from(given);
                    let label = path
                        .file_stem()
                        .map_or("baseline".into(), |s| s.to_string_lossy().into_owned());
                    (label, path)
                }
            }),
    );
    let subjects = modules
        .iter()
        .map(|(label, path)| {
            let subject = Subject::load(
                label,
                &read(path)?,
                args.policy.allow_context_aware,
                session.clone(),
            )?;
            subject.check_settings(&settings)?;
            Ok(subject)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let inputs = args
        .request_paths
        .iter()
        .map(|path| bench_input(path, &settings))
        .collect::<Result<Vec<_>, String>>()?;
    let mut out = format!(
        "policy-host bench: {} timed evaluations after {} warm-up, per module, pod and host mode; times in µs\n\n",
        args.iterations, args.warmup
    );
    out += "module  size (bytes)  compile (ms)  instantiate + wapc_init (µs)\n";
    for s in &subjects {
        out += &format!(
            "{:<7} {:>12}  {:>12.1}  {:>28.0}\n",
            s.label,
            s.size,
            s.compile.as_secs_f64() * 1e3,
            s.instantiate.as_secs_f64() * 1e6
        );
    }
    out += "\npod        pod bytes  mode   module      min   median      p99     mean   evals/s  guest memory\n";
    let mut summary = Vec::new();
    eprintln!(
        "bench: probing guest memory (a probe that starves the guest makes it print an allocation failure)"
    );
    for input in &inputs {
        let memory: Vec<String> = subjects
            .iter()
            .map(|s| {
                s.memory(&input.payload)
                    .map_or("-".to_owned(), bench::pages)
            })
            .collect();
        let modes = [HostMode::Warm, HostMode::Fresh]
            .into_iter()
            .filter(|mode| args.modes.is_empty() || args.modes.iter().any(|m| m == mode.name()));
        for mode in modes {
            eprintln!("bench: {} {} ...", input.name, mode.name());
            let samples = bench::measure(&subjects, input, mode, args.warmup, args.iterations)?;
            let stats: Vec<Stats> = samples.iter().map(|s| Stats::of(s)).collect();
            for ((subject, stat), memory) in subjects.iter().zip(&stats).zip(&memory) {
                out += &format!(
                    "{:<10} {:>9}  {:<6} {:<7} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.0}  {}\n",
                    input.name,
                    input.pod_bytes,
                    mode.name(),
                    subject.label,
                    stat.min,
                    stat.median,
                    stat.p99,
                    stat.mean,
                    stat.per_second,
                    memory
                );
            }
            summary.push((input.name.clone(), mode, stats));
        }
    }
    if subjects.len() > 1 {
        out += &ratio_table(&subjects, &summary);
        out += &linearity(&inputs, &summary);
    }
    Ok(out)
}

/// Medians side by side and ours/baseline for every baseline, in one table.
fn ratio_table(subjects: &[Subject], summary: &[(String, HostMode, Vec<Stats>)]) -> String {
    let others = &subjects[1..];
    let mut out = "\n| pod | mode | ours median µs |".to_owned();
    for s in others {
        out += &format!(" {} median µs |", s.label);
    }
    for s in others {
        out += &format!(" ours/{} |", s.label);
    }
    out += &format!("\n|{}\n", "---|".repeat(3 + 2 * others.len()));
    for (pod, mode, stats) in summary {
        out += &format!("| {pod} | {} | {:.1} |", mode.name(), stats[0].median);
        for stat in &stats[1..] {
            out += &format!(" {:.1} |", stat.median);
        }
        for stat in &stats[1..] {
            out += &format!(" {:.2} |", stats[0].median / stat.median);
        }
        out += "\n";
    }
    out += "\nmodule sizes:";
    for s in subjects {
        out += &format!(
            " {} {} bytes (compile {:.1} ms);",
            s.label,
            s.size,
            s.compile.as_secs_f64() * 1e3
        );
    }
    out + "\n"
}

/// Warm time ratio of the largest to the second-largest Pod, against their byte ratio.
fn linearity(inputs: &[Input], summary: &[(String, HostMode, Vec<Stats>)]) -> String {
    let mut by_size: Vec<&Input> = inputs.iter().collect();
    by_size.sort_by_key(|i| i.pod_bytes);
    let [.., smaller, larger] = by_size[..] else {
        return String::new();
    };
    let warm = |name: &str| {
        summary
            .iter()
            .find(|(pod, mode, _)| pod == name && *mode == HostMode::Warm)
            .map(|(_, _, stats)| stats[0].median)
    };
    let (Some(small_time), Some(large_time)) = (warm(&smaller.name), warm(&larger.name)) else {
        return String::new();
    };
    format!(
        "{}/{}: ours takes {:.1}x the time for {:.1}x the bytes (warm medians)\n",
        larger.name,
        smaller.name,
        large_time / small_time,
        larger.pod_bytes as f64 / smaller.pod_bytes as f64
    )
}

fn bench_input(path: &Path, settings: &Value) -> Result<Input, String> {
    let document: Value = serde_json::from_slice(&read(path)?)
        .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let request = admission_request(document)?;
    let pod_bytes = serde_json::to_vec(&request["object"])
        .map_err(|e| e.to_string())?
        .len();
    let payload =
        serde_json::to_vec(&serde_json::json!({"settings": settings, "request": request}))
            .map_err(|e| e.to_string())?;
    let name = path
        .file_stem()
        .map_or("?".into(), |s| s.to_string_lossy().into_owned());
    Ok(Input {
        name,
        payload,
        pod_bytes,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
