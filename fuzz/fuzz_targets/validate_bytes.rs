#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| aws_pod_identity_policy_fuzz::validate_bytes(data));
