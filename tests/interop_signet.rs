//! Interop with the reference implementation, both ways: logs written by our journal
//! must verify under the Python signet 0.1.10.1 verifier, and a log the reference
//! signet writes must verify under ours; in each direction a tampered copy must be
//! rejected too (so the check means something).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::process::Command;

use signet_audit::journal::{Journal, JournalOptions};
use signet_audit::json::Value;
use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::verify::verify;
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

/// Writes `n` entries with the reference signet's own chain writer (`HmacChain` over
/// `JsonlBackend`): every decision, nested metadata, Python floats, non-ASCII text.
const REFERENCE_WRITER: &str = r#"
import sys
from signet.audit.backend import JsonlBackend
from signet.audit.chain import HmacChain
from signet.audit.keyring import Key, KeyRing
from signet.core.audit import AuditEntry, Decision
from signet.core.owner import Owner

path, secret_hex, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
chain = HmacChain(JsonlBackend(path), KeyRing(active=Key("k1", bytes.fromhex(secret_hex))))
decisions = [Decision.ALLOW, Decision.BLOCK, Decision.REDACT, Decision.ESCALATE]
for i in range(n):
    chain.append(AuditEntry(
        owner=Owner.human(f"user{i}@example.com"),
        check_name="pipeline.complete" if i % 2 else "pipeline.admission",
        decision=decisions[i % 4],
        reason=f"naïve \"quoted\"\treason {i} \U0001F600",
        request_fingerprint="sha256:" + "0f" * 32,
        metadata={"status": 200 + i, "retry_after_seconds": 0.294 * i, "ratio": 1e-05,
                  "nested": {"b": [1, 2.5, None, True], "a": "é"}},
    ))
"#;

/// The other direction, live: a log the reference signet writes now verifies here,
/// entry for entry, and a copy with one field changed fails at that line.
#[test]
fn we_verify_a_log_the_reference_signet_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("signet.jsonl");
    let o = Command::new(support::python())
        .arg("-c")
        .arg(REFERENCE_WRITER)
        .arg(&log)
        .arg(secret())
        .arg("12")
        .output()
        .expect("run the reference signet");
    assert!(
        o.status.success(),
        "reference signet could not write: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (code, out) = reference_verify(&log);
    assert_eq!(code, Some(0), "signet rejects its own log: {out}");

    let mut ring = KeyRing::new();
    ring.add(HmacKey::from_hex("k1", &secret()).expect("key"))
        .expect("ring");
    let text = std::fs::read_to_string(&log).expect("read");
    assert!(
        text.contains(r#""ratio":1e-05"#) && text.contains("\u{1F600}"),
        "the log carries Python floats and non-ASCII text: {text}"
    );
    let r = verify(text.as_bytes(), &ring).expect("verify");
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.legacy_entries), (12, 12));
    assert_eq!(r.verified_by_key.get("k1"), Some(&12));

    // The first of the two copies of the owner on line 5 (entry 4) changed.
    let tampered = text.replacen("user4@example.com", "user5@example.com", 1);
    let r = verify(tampered.as_bytes(), &ring).expect("verify");
    let breaks: Vec<(u64, &str)> = r.breaks.iter().map(|b| (b.line, b.kind.as_str())).collect();
    assert_eq!(breaks, [(5, "self_mismatch")]);
}
