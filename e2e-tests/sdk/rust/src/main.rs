//! What an application using the AWS SDK for Rust does with the env it was given: load the
//! default configuration (region and credential chain), call `sts:GetCallerIdentity`, print the
//! identity's ARN. On failure it prints the error and its causes on one line and exits 1, so the
//! credential-chain suite can compare the message a user would see.

use std::error::Error;

use aws_config::BehaviorVersion;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let client = aws_sdk_sts::Client::new(&config);
    match client.get_caller_identity().send().await {
        Ok(identity) => {
            println!("{}", identity.arn().unwrap_or_default());
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            // The chain of causes, as `anyhow`'s `{:#}` prints it in most Rust applications.
            let mut message = error.to_string();
            let mut cause = error.source();
            while let Some(inner) = cause {
                message = format!("{message}: {inner}");
                cause = inner.source();
            }
            println!("{message}");
            std::process::ExitCode::FAILURE
        }
    }
}
