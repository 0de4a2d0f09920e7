//! The `webhook-migrate` command line: `convert` reads the webhook's files and writes the policy's.
//! Exit codes: 0 converted, 1 an input the converter refuses (one line on stderr, nothing
//! written), 2 a usage error (clap's).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use webhook_migrate::render::{self, Target};
use webhook_migrate::{Inputs, convert, manifests};

#[derive(Parser)]
#[command(
    name = "webhook-migrate",
    version,
    about = "Move a cluster from the EKS pod-identity-webhook to the aws-pod-identity policy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert the webhook's Deployment (or flags), ConfigMap, MutatingWebhookConfiguration and
    /// identities file into a ClusterAdmissionPolicy and the RBAC policy-server needs.
    Convert(Convert),
}

#[derive(clap::Args)]
struct Convert {
    /// Kubernetes manifests (YAML or JSON, several documents, `kind: List`): the webhook's
    /// Deployment, ConfigMap pod-identity-webhook, MutatingWebhookConfiguration.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The webhook's flags, as a YAML list or one a line, instead of a Deployment.
    #[arg(long, value_name = "FILE")]
    args_file: Option<PathBuf>,
    /// The container-credentials identities file (--watch-container-credentials-config).
    #[arg(long, value_name = "FILE")]
    identities: Option<PathBuf>,
    /// The Deployment's container that runs the webhook, when it has several.
    #[arg(long, value_name = "NAME")]
    container: Option<String>,
    /// The policy module.
    #[arg(long, value_name = "URL", default_value = webhook_migrate::DEFAULT_MODULE)]
    module: String,
    /// The ClusterAdmissionPolicy's name.
    #[arg(long, value_name = "NAME", default_value = "aws-pod-identity")]
    name: String,
    /// The ServiceAccount policy-server runs as, for the RBAC binding.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        default_value = "kubewarden/policy-server"
    )]
    policy_server: String,
    /// Write here (all or nothing) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print only the settings, as one line of JSON.
    #[arg(long)]
    settings_only: bool,
    /// The webhook's flags on the command line, after `--`, instead of a Deployment.
    #[arg(last = true, value_name = "WEBHOOK-FLAGS")]
    webhook_flags: Vec<String>,
}

fn main() -> ExitCode {
    let Command::Convert(args) = Cli::parse().command;
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webhook-migrate: error: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Convert) -> Result<(), String> {
    let inputs = inputs(args)?;
    let target = target(args)?;
    let conversion = convert(&inputs)?;
    let text = if args.settings_only {
        render::settings_json(&conversion)?
    } else {
        render::manifests(&conversion, &target)?
    };
    write(args.output.as_deref(), &text)?;
    eprint!("{}", render::notes(&conversion));
    Ok(())
}

fn read(path: &Path) -> Result<(String, String), String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    Ok((name, text))
}

fn inputs(args: &Convert) -> Result<Inputs, String> {
    let manifests = args
        .files
        .iter()
        .map(|p| read(p))
        .collect::<Result<_, _>>()?;
    let from_file = match &args.args_file {
        Some(path) => {
            let (name, text) = read(path)?;
            Some((name.clone(), manifests::args_file(&name, &text)?))
        }
        None => None,
    };
    let from_command_line = (!args.webhook_flags.is_empty())
        .then(|| ("the flags after --".to_owned(), args.webhook_flags.clone()));
    let args_given = match (from_file, from_command_line) {
        (Some(_), Some(_)) => {
            return Err(
                "--args-file and flags after -- both give the webhook's flags: give one".to_owned(),
            );
        }
        (file, line) => file.or(line),
    };
    Ok(Inputs {
        manifests,
        args: args_given,
        identities: args.identities.as_deref().map(read).transpose()?,
        container: args.container.clone(),
    })
}

fn target(args: &Convert) -> Result<Target, String> {
    let (namespace, name) = args
        .policy_server
        .split_once('/')
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'))
        .ok_or_else(|| {
            format!(
                "--policy-server {:?}: expected NAMESPACE/NAME",
                args.policy_server
            )
        })?;
    Ok(Target {
        module: args.module.clone(),
        policy_name: args.name.clone(),
        policy_server_namespace: namespace.to_owned(),
        policy_server_service_account: name.to_owned(),
    })
}

/// stdout, or a file replaced at once: a temporary file next to it, then a rename.
fn write(output: Option<&Path>, text: &str) -> Result<(), String> {
    let Some(path) = output else {
        return std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| format!("stdout: {e}"));
    };
    let name = path.display();
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".webhook-migrate.tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text).map_err(|e| format!("{}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        format!("{name}: {e}")
    })
}
