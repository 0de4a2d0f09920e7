//! The `irsa-oidc` command line: four subcommands, each one short function
//! over the library. Errors are one line on stderr and exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use irsa_oidc::token::{Claims, Expected, check_token, timestamp};
use irsa_oidc::trust::{TrustRequest, trust_policy};
use irsa_oidc::{issuer, keys, read_jwks, read_key_files, read_text};

const STS_AUDIENCE: &str = "sts.amazonaws.com";

#[derive(Parser)]
#[command(
    name = "irsa-oidc",
    version,
    about = "Publish a self-hosted cluster's service-account issuer for AWS IAM, and check a token the way STS will"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the JWKS ({"keys": [...]}) of the service-account signing keys.
    Jwks {
        /// PEM files: PUBLIC KEY, RSA PUBLIC KEY, PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<PathBuf>,
    },
    /// Write DIR/.well-known/openid-configuration and DIR/keys.json, ready to copy to the issuer's host.
    Discovery {
        /// The issuer URL, exactly as kube-apiserver's --service-account-issuer.
        #[arg(long, value_name = "URL")]
        issuer: String,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<PathBuf>,
    },
    /// Print the IAM trust policy that lets one ServiceAccount assume a role.
    TrustPolicy {
        /// The AWS account ID (12 digits) that owns the IAM OIDC provider.
        #[arg(long, value_name = "ID")]
        account: String,
        #[arg(long, value_name = "URL")]
        issuer: String,
        #[arg(long, value_name = "NS")]
        namespace: String,
        #[arg(long, value_name = "SA")]
        service_account: String,
        #[arg(long, value_name = "AUD", default_value = STS_AUDIENCE)]
        audience: String,
        /// aws, aws-cn or aws-us-gov.
        #[arg(long, default_value = "aws")]
        partition: String,
    },
    /// Check a token as STS will; print its claims, or the first check that fails.
    CheckToken {
        #[arg(long, value_name = "URL")]
        issuer: String,
        /// The published keys.json, or the output of `kubectl get --raw /openid/v1/jwks`.
        #[arg(long, value_name = "FILE")]
        jwks: PathBuf,
        #[arg(long, value_name = "AUD", default_value = STS_AUDIENCE)]
        audience: String,
        #[arg(value_name = "TOKEN_FILE")]
        token: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<String, String> {
    match command {
        Command::Jwks { keys } => issuer::to_json(&keys::jwks(&read_key_files(&keys)?)?),
        Command::Discovery { issuer, out, keys } => {
            let written = issuer::write_documents(&out, &issuer, &read_key_files(&keys)?)?;
            Ok(written
                .iter()
                .map(|path| format!("wrote {}\n", path.display()))
                .collect())
        }
        Command::TrustPolicy {
            account,
            issuer,
            namespace,
            service_account,
            audience,
            partition,
        } => issuer::to_json(&trust_policy(&TrustRequest {
            partition: &partition,
            account: &account,
            issuer: &issuer,
            namespace: &namespace,
            service_account: &service_account,
            audience: &audience,
        })?),
        Command::CheckToken {
            issuer,
            jwks,
            audience,
            token,
        } => {
            let key_set = read_jwks(&jwks)?;
            let text = read_text(&token)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let expected = Expected {
                issuer: &issuer,
                audience: &audience,
                now,
            };
            let claims = check_token(&text, &key_set, &expected).map_err(|failure| failure.0)?;
            Ok(describe(&claims, &audience, now))
        }
    }
}

fn describe(claims: &Claims, audience: &str, now: i64) -> String {
    let optional = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    let audiences = serde_json::to_string(&claims.audiences).unwrap_or_default();
    format!(
        "ok: STS would accept this token for audience {audience:?}\n\
         issuer:          {}\n\
         subject:         {}\n\
         audiences:       {audiences}\n\
         expires:         {} (in {} s)\n\
         namespace:       {}\n\
         serviceaccount:  {}\n\
         pod:             {}\n",
        claims.issuer,
        claims.subject,
        timestamp(claims.expiry),
        claims.expiry - now,
        optional(&claims.namespace),
        optional(&claims.service_account),
        optional(&claims.pod),
    )
}
