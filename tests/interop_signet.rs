//! Interop with the reference implementation: logs written by our journal must verify
//! under the Python signet 0.1.10.1 verifier, and a tampered copy must be rejected by
//! it too (so the check means something).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::process::Command;

use signet_audit::journal::{Journal, JournalOptions};
use signet_audit::json::Value;
use signet_audit::key::HmacKey;
use signet_audit::{Decision, EntryDraft, OwnerType};

fn secret() -> String {
    std::fs::read_to_string(support::fixture("hmac-secret.hex"))
        .expect("secret")
        .trim()
        .to_owned()
}

fn reference_verify(log: &std::path::Path) -> (Option<i32>, String) {
    let o = Command::new(support::reference_signet())
        .args(["audit", "verify", "--json"])
        .arg(log)
        .env("SIGNET_HMAC_SECRET", secret())
        .output()
        .expect("run reference signet");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn reference_signet_verifies_our_log_and_rejects_its_tampered_copy() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    let key = HmacKey::from_hex("k1", &secret()).expect("key");
    let mut j = Journal::open(&log, key, JournalOptions::default()).expect("open");
    for i in 0..20u64 {
        let mut d = EntryDraft::new(
            if i % 3 == 0 {
                "pipeline.admission"
            } else {
                "pipeline.complete"
            },
            if i % 3 == 0 {
                Decision::Block
            } else {
                Decision::Allow
            },
            "naïve \"quoted\" reason\twith tab \u{1F600}",
        );
        d.owner_type = OwnerType::Human;
        d.owner_id = format!("user{i}@example.com");
        d.approval_chain = vec![format!("human:user{i}@example.com")];
        d.request_fingerprint = format!("sha256:{}", "0f".repeat(32));
        d.metadata.insert("status".into(), Value::from(200u64 + i));
        d.metadata
            .insert("latency_us".into(), Value::from(1234u64 * i));
        d.metadata
            .insert("path".into(), "/v1/chat/completions".into());
        j.append(d).expect("append");
    }
    drop(j);
    let (code, out) = reference_verify(&log);
    assert_eq!(code, Some(0), "reference signet rejected our log: {out}");
    assert!(
        out.contains("\"ok\": true") && out.contains("\"total_entries\": 20"),
        "{out}"
    );

    let tampered = dir.path().join("tampered.jsonl");
    let text = std::fs::read_to_string(&log).expect("read");
    std::fs::write(
        &tampered,
        text.replacen("user4@example.com", "user5@example.com", 1),
    )
    .expect("write");
    let (code, out) = reference_verify(&tampered);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("self_mismatch"), "{out}");
}
