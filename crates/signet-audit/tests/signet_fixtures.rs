//! Logs written by the real Python signet 0.1.10 must verify, floats included, and each
//! tampered copy must fail at the right line with the right kind.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::PathBuf;

use signet_audit::journal::{Journal, JournalOptions};
use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::verify::{Report, verify};
use signet_audit::{Decision, EntryDraft};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/signet-0.1")
        .join(name)
}

fn key() -> HmacKey {
    HmacKey::from_file("k1", &fixture("hmac-secret.hex")).expect("fixture key")
}

fn check(name: &str) -> Report {
    let mut ring = KeyRing::new();
    ring.add(key()).expect("ring");
    let data = std::fs::read(fixture(name)).expect("fixture");
    verify(&data[..], &ring).expect("verify")
}

fn breaks(r: &Report) -> Vec<(u64, &'static str)> {
    r.breaks.iter().map(|b| (b.line, b.kind.as_str())).collect()
}

#[test]
fn real_signet_logs_verify() {
    let r = check("audit.jsonl");
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!(r.entries, 110);
    assert_eq!(r.legacy_entries, 110);
    assert_eq!(r.verified_by_key.get("k1"), Some(&110));
    let text = std::fs::read_to_string(fixture("audit.jsonl")).expect("read");
    assert!(
        text.contains("\"retry_after_seconds\":0.294"),
        "fixture has floats"
    );

    let r = check("audit-anchored.jsonl");
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!(r.entries, 4);
}

#[test]
fn tampered_copies_fail_where_signet_says() {
    let cases: &[(&str, &[(u64, &str)])] = &[
        ("tampered/modify.jsonl", &[(4, "self_mismatch")]),
        ("tampered/delete_mid.jsonl", &[(6, "link_mismatch")]),
        ("tampered/delete_first.jsonl", &[(1, "link_mismatch")]),
        (
            "tampered/insert.jsonl",
            &[(4, "self_mismatch"), (4, "link_mismatch")],
        ),
        (
            "tampered/reorder.jsonl",
            &[
                (5, "link_mismatch"),
                (6, "link_mismatch"),
                (7, "link_mismatch"),
            ],
        ),
    ];
    for (name, want) in cases {
        assert_eq!(breaks(&check(name)), want.to_vec(), "{name}");
    }
}

#[test]
fn truncated_tail_is_not_detectable_and_says_so() {
    let r = check("tampered/truncate_tail.jsonl");
    assert!(r.is_intact());
    assert!(!r.tail_truncation_detectable);
}

#[test]
fn our_writer_continues_a_signet_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("audit.jsonl");
    std::fs::copy(fixture("audit.jsonl"), &path).expect("copy");
    let mut j = Journal::open(&path, key(), JournalOptions::default()).expect("open");
    let c = j
        .append(EntryDraft::new(
            "operator.note",
            Decision::Escalate,
            "continued by signet-gateway",
        ))
        .expect("append");
    assert_eq!(c.seq, 110, "legacy entries are numbered by position");
    drop(j);
    let mut ring = KeyRing::new();
    ring.add(key()).expect("ring");
    let r = verify(&std::fs::read(&path).expect("read")[..], &ring).expect("verify");
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!(
        (r.entries, r.legacy_entries, r.last_seq),
        (111, 110, Some(110))
    );
}
