//! One audit line: `LineView::parse` and `json::parse` never panic, the MAC payload can be
//! cut from any line that parses, and bytes reported canonical re-serialise to themselves.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signet_audit::{LineView, json};

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = LineView::parse(data) {
        let _ = view.payload_parts(data);
        assert!(
            !view.canonical || matches!(json::parse(data), Ok((_, true))),
            "line canonical, json not"
        );
    }
    if let Ok((value, true)) = json::parse(data) {
        let mut out = Vec::new();
        json::write_canonical(&value, &mut out);
        assert_eq!(out, data, "canonical input does not re-serialise to itself");
    }
});
