//! The RFC 3161 parsers never panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = signet_audit::tsp::parse_response(data);
    let _ = signet_audit::tsp::parse_token_or_response(data);
});
