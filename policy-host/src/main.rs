//! The `policy-host` command line: `policy-host run` takes kwctl's flags and
//! prints kwctl's AdmissionResponse line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use policy_host::replay::Session;
use policy_host::response::AdmissionResponse;
use policy_host::{Evaluation, RunError, admission_request, run};

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
}

#[derive(Args)]
struct RunArgs {
    /// AdmissionRequest or AdmissionReview file (JSON); `-` reads stdin.
    #[arg(short = 'r', long = "request-path")]
    request_path: String,
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
    /// policy-host only (not a kwctl flag): after the response line, print the
    /// patch operations and the Pod after the patch, for humans.
    #[arg(long = "explain")]
    explain: bool,
    /// The policy module (.wasm).
    module: PathBuf,
}

fn main() -> ExitCode {
    let Command::Run(args) = Cli::parse().command;
    match run_command(args) {
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
    let settings = match (&args.settings_json, &args.settings_path) {
        (Some(json), _) => {
            serde_json::from_str(json).map_err(|e| format!("--settings-json: not JSON: {e}"))?
        }
        (None, Some(path)) => {
            let text = String::from_utf8_lossy(&read(path)?).into_owned();
            let settings: Option<Value> = serde_yaml::from_str(&text)
                .map_err(|e| format!("{}: not JSON or YAML: {e}", path.display()))?;
            settings.unwrap_or_else(|| Value::Object(Default::default()))
        }
        (None, None) => Value::Object(Default::default()),
    };
    let session = match &args.replay {
        Some(path) => {
            let text = String::from_utf8_lossy(&read(path)?).into_owned();
            Some(Session::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let original = request.get("object").cloned().unwrap_or_default();
    let evaluation = Evaluation {
        request,
        settings,
        allow_context_aware: args.allow_context_aware,
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

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
