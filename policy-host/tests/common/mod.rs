//! Shared by the tests that run the compiled policy.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// `$POLICY` when set, else the module built from this workspace (built here,
/// so that a fresh `cargo test` needs nothing else).
pub fn policy_module() -> Vec<u8> {
    if let Some(path) = std::env::var_os("POLICY") {
        return std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read $POLICY {path:?}: {e}"));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args([
            "build",
            "--locked",
            "--release",
            "--target",
            "wasm32-wasip1",
            "-p",
            "aws-pod-identity-policy",
        ])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building policy.wasm failed");
    std::fs::read(root.join("target/wasm32-wasip1/release/aws_pod_identity_policy.wasm"))
        .expect("built module")
}
