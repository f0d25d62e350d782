//! Signed-note, checkpoint and tlog-proof parsers never panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signet_audit::note::parse_note(text);
        let _ = signet_audit::note::Checkpoint::parse(text);
        let _ = signet_audit::note::parse_tlog_proof(text);
    }
});
