//! The journal keeps the Merkle tree and signs checkpoints over durable entries; on
//! reopen it refuses a log that contradicts its own checkpoints.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use signet_audit::checkpoint_file::read_all;
use signet_audit::durable::SideFile;
use signet_audit::journal::writer::{JournalWriter, WriterOptions};
use signet_audit::journal::{Journal, JournalError, JournalOptions};
use signet_audit::key::HmacKey;
use signet_audit::merkle::{MemStore, leaf_hash, tree_hash};
use signet_audit::note::{Verifier, open_checkpoint};
use signet_audit::transparency::TransparencyOptions;
use signet_audit::{Decision, EntryDraft};

const ORIGIN: &str = "test.example/signet-audit";

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn opts(every: u64, interval_ms: u64) -> JournalOptions {
    JournalOptions {
        transparency: Some(TransparencyOptions {
            log_key: log_key(),
            origin: ORIGIN.into(),
            every,
            interval: Duration::from_millis(interval_ms),
        }),
        ..JournalOptions::default()
    }
}

fn key() -> HmacKey {
    HmacKey::from_hex("k1", &"5e".repeat(32)).unwrap()
}

fn roots_of_prefixes(log: &Path) -> MemStore {
    let mut m = MemStore::new();
    for line in std::fs::read_to_string(log).unwrap().lines() {
        m.append_leaf(leaf_hash(line.as_bytes())).unwrap();
    }
    m
}

#[test]
fn checkpoints_cover_durable_entries_and_match_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let j = Journal::open(&log, key(), opts(256, 60_000)).unwrap();
    let shared = j.transparency().expect("transparency on");
    let w = JournalWriter::spawn(j, WriterOptions::default()).unwrap();
    let h = w.handle();
    for i in 0..600u64 {
        h.append(EntryDraft::new("t", Decision::Allow, &format!("{i}")))
            .unwrap();
    }
    drop(h);
    drop(w.shutdown());
    let notes = read_all(&SideFile::Checkpoints.of(&log)).unwrap();
    let verifier = Verifier::new(ORIGIN, log_key().verifying_key()).unwrap();
    let sizes: Vec<u64> = notes
        .iter()
        .map(|n| open_checkpoint(n, &verifier).unwrap().size)
        .collect();
    assert_eq!(
        sizes,
        vec![256, 512, 600],
        "every 256 entries, and a final one at shutdown"
    );
    let store = roots_of_prefixes(&log);
    for n in &notes {
        let cp = open_checkpoint(n, &verifier).unwrap();
        assert_eq!(
            cp.root,
            tree_hash(cp.size, &store).unwrap(),
            "root of size {}",
            cp.size
        );
    }
    assert_eq!(shared.latest().unwrap().size, 600);
}

#[test]
fn interval_signs_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let j = Journal::open(&log, key(), opts(1000, 30)).unwrap();
    let shared = j.transparency().unwrap();
    let w = JournalWriter::spawn(j, WriterOptions::default()).unwrap();
    let h = w.handle();
    for _ in 0..3 {
        h.append(EntryDraft::new("t", Decision::Allow, "x"))
            .unwrap();
    }
    for _ in 0..100 {
        if shared.latest().is_some_and(|p| p.size == 3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        shared.latest().map(|p| p.size),
        Some(3),
        "idle interval must sign"
    );
}

#[test]
fn reopening_refuses_truncated_or_rewritten_logs_and_catches_up_a_lagging_tree() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let mut j = Journal::open(&log, key(), opts(4, 60_000)).unwrap();
    for i in 0..10 {
        j.append(EntryDraft::new("t", Decision::Allow, &format!("entry {i}")))
            .unwrap();
    }
    j.flush_checkpoint();
    drop(j);
    let original = std::fs::read_to_string(&log).unwrap();

    // A lagging tree file (crash before the tree write) is caught up.
    std::fs::remove_file(SideFile::Tree.of(&log)).unwrap();
    let j = Journal::open(&log, key(), opts(4, 60_000)).unwrap();
    assert_eq!(j.transparency().unwrap().latest().unwrap().size, 10);
    drop(j);

    // Cut the last two lines: shorter than the checkpoint.
    let lines: Vec<&str> = original.lines().collect();
    std::fs::write(&log, format!("{}\n", lines[..8].join("\n"))).unwrap();
    match Journal::open(&log, key(), opts(4, 60_000)) {
        Err(JournalError::Transparency(m)) => assert!(m.contains("cut from the log"), "{m}"),
        other => panic!("expected truncation refusal, got {other:?}"),
    }

    // Rewrite entry 3 and re-MAC the whole chain with the secret: the HMAC chain is
    // valid again, the checkpoint still catches it.
    let mut prev = String::new();
    let mut rewritten = String::new();
    for (i, _) in lines.iter().enumerate() {
        let mut d = EntryDraft::new(
            "t",
            Decision::Allow,
            &if i == 3 {
                "forged".to_owned()
            } else {
                format!("entry {i}")
            },
        );
        d.ts_ns = 1;
        let s = signet_audit::seal(&d, i as u64, &prev, &key()).unwrap();
        prev = s.hmac.to_hex();
        rewritten.push_str(std::str::from_utf8(&s.line).unwrap());
    }
    std::fs::write(&log, rewritten).unwrap();
    match Journal::open(&log, key(), opts(4, 60_000)) {
        Err(JournalError::Transparency(m)) => assert!(m.contains("rewritten"), "{m}"),
        other => panic!("expected fork refusal, got {other:?}"),
    }
}
