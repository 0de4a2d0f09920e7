//! `policy-host batch` answers each line exactly as `policy-host run` answers the same request,
//! and a bad line is an `{"error"}` line, not the end of the batch.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

#[test]
fn batch_lines_are_run_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("policy-host-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let module = dir.join("policy.wasm");
    std::fs::write(&module, common::policy_module()).expect("module written");
    let request = root.join("examples/request.json");
    let session = root.join("examples/session.yml");
    let host = env!("CARGO_BIN_EXE_policy-host");
    let run = Command::new(host)
        .arg("run")
        .arg("--request-path")
        .arg(&request)
        .args([
            "--allow-context-aware",
            "--replay-host-capabilities-interactions",
        ])
        .arg(&session)
        .arg(&module)
        .output()
        .expect("policy-host run");
    assert!(run.status.success());
    // Compared as values: the audit annotations are a map, in no particular order.
    let parse = |line: &str| serde_json::from_str::<Value>(line).expect("a JSON line");
    let expected = parse(String::from_utf8_lossy(&run.stdout).trim());

    let request: Value =
        serde_json::from_slice(&std::fs::read(&request).expect("request")).expect("JSON");
    let session = std::fs::read_to_string(&session).expect("session");
    let line = json!({"request": request, "settings": {}, "session": session}).to_string();
    let refused =
        json!({"request": request, "settings": {"tokenExpiration": 1}, "session": session});
    let input = format!("{line}\n{refused}\nnot json\n{line}\n");
    let mut batch = Command::new(host)
        .arg("batch")
        .arg("--allow-context-aware")
        .arg(&module)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("policy-host batch");
    batch
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("lines written");
    let out = batch.wait_with_output().expect("batch ends");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(parse(lines[0]), expected);
    assert_eq!(
        parse(lines[3]),
        expected,
        "every line gets a fresh instance and session"
    );
    let error = |line: &str| parse(line)["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error(lines[1]).starts_with("Provided settings are not valid: tokenExpiration"),
        "{}",
        lines[1]
    );
    assert!(error(lines[2]).starts_with("not JSON"), "{}", lines[2]);
    let _ = std::fs::remove_dir_all(&dir);
}
