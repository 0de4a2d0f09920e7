//! Replays the committed fuzz corpus (`fuzz/corpus/`) through the fuzz
//! targets' bodies on stable, so CI catches a regression on any input the
//! fuzzers ever kept, without nightly or sanitizers.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        body(&std::fs::read(&path).unwrap());
        count += 1;
    }
    count
}

#[test]
fn every_input_of_the_validate_bytes_corpus_is_answered() {
    assert!(replay("validate_bytes", targets::validate_bytes) >= 10);
}

#[test]
fn every_input_of_the_pod_json_corpus_is_idempotent() {
    assert!(replay("pod_json", targets::pod_json) >= 2);
}
