#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| aws_pod_identity_policy_fuzz::pod_json(data));
