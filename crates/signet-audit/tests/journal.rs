//! Journal behaviour on real files: creation, refusal, locking, torn tails, files
//! changed under the writer, multi-process appends.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use signet_audit::journal::{Journal, JournalError, JournalOptions, Sharing};
use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::verify::{Report, verify};
use signet_audit::{Decision, EntryDraft};

fn key() -> HmacKey {
    HmacKey::from_hex("k1", &"3c".repeat(32)).expect("key")
}

fn note(r: &str) -> EntryDraft {
    EntryDraft::new("test.note", Decision::Allow, r)
}

fn check(path: &Path) -> Report {
    let mut ring = KeyRing::new();
    ring.add(key()).expect("ring");
    verify(&std::fs::read(path).expect("read")[..], &ring).expect("verify")
}

fn open(path: &Path) -> Result<Journal, JournalError> {
    Journal::open(path, key(), JournalOptions::default())
}

#[test]
fn creates_0600_and_honours_configured_mode() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    open(&p).expect("open");
    assert_eq!(
        std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let q = dir.path().join("b.jsonl");
    let opts = JournalOptions {
        mode: 0o640,
        ..JournalOptions::default()
    };
    Journal::open(&q, key(), opts).expect("open");
    assert_eq!(
        std::fs::metadata(&q).expect("meta").permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn refuses_symlinks_and_directories() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("target.jsonl");
    std::fs::write(&target, b"").expect("write");
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    assert_eq!(open(&link).err(), Some(JournalError::Symlink));
    let dangling = dir.path().join("dangling.jsonl");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
    assert_eq!(open(&dangling).err(), Some(JournalError::Symlink));
    assert!(
        !dir.path().join("nowhere").exists(),
        "must not create through a symlink"
    );
    assert_eq!(open(dir.path()).err(), Some(JournalError::NotRegular));
}

#[test]
fn single_writer_holds_the_lock() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let j = open(&p).expect("open");
    assert_eq!(open(&p).err(), Some(JournalError::Locked));
    let multi = JournalOptions {
        sharing: Sharing::MultiProcess,
        lock_timeout: std::time::Duration::from_millis(200),
        ..JournalOptions::default()
    };
    assert_eq!(
        Journal::open(&p, key(), multi.clone()).err(),
        Some(JournalError::Locked)
    );
    drop(j);
    let mut m = Journal::open(&p, key(), multi).expect("open multi after release");
    m.append(note("after")).expect("append");
}

#[test]
fn torn_tail_is_moved_aside_and_recorded() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let mut j = open(&p).expect("open");
    for i in 0..3 {
        j.append(note(&format!("n{i}"))).expect("append");
    }
    drop(j);
    let torn = b"{\"approval_chain\":[],\"check_name\":\"half";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .expect("open")
        .write_all(torn)
        .expect("write");
    assert_eq!(
        check(&p).breaks.last().map(|b| b.kind.as_str()),
        Some("torn_tail")
    );

    let mut j = open(&p).expect("reopen");
    let rec = j.recovered().to_vec();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].bytes, torn.len() as u64);
    assert_eq!(std::fs::read(&rec[0].saved_to).expect("side file"), torn);
    let c = j.append(note("after")).expect("append");
    assert_eq!(c.seq, 4, "recovery entry took _seq 3");
    drop(j);

    let r = check(&p);
    assert!(r.is_intact(), "{:?}", r.breaks);
    let text = std::fs::read_to_string(&p).expect("read");
    let rec_line = text.lines().nth(3).expect("line 4");
    assert!(
        rec_line.contains("\"check_name\":\"journal.recovery\""),
        "{rec_line}"
    );
    assert!(
        rec_line.contains(&format!("\"torn_bytes\":{}", torn.len())),
        "{rec_line}"
    );
}

#[test]
fn removed_or_foreign_grown_file_fails_closed() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let mut j = open(&p).expect("open");
    j.append(note("one")).expect("append");
    std::fs::remove_file(&p).expect("rm");
    assert_eq!(j.append(note("two")).err(), Some(JournalError::Removed));
    assert_eq!(j.append(note("three")).err(), Some(JournalError::Poisoned));

    let q = dir.path().join("b.jsonl");
    let mut j = open(&q).expect("open");
    j.append(note("one")).expect("append");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&q)
        .expect("open")
        .write_all(b"x\n")
        .expect("w");
    assert_eq!(j.append(note("two")).err(), Some(JournalError::Diverged));
}

#[test]
fn refuses_to_chain_onto_a_forged_or_broken_tail() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let mut j = open(&p).expect("open");
    j.append(note("one")).expect("append");
    drop(j);
    // Forge: rewrite the reason of the only line, keeping its MAC.
    let text = std::fs::read_to_string(&p)
        .expect("read")
        .replace("\"one\"", "\"two\"");
    std::fs::write(&p, text).expect("write");
    assert_eq!(open(&p).err(), Some(JournalError::TailMacMismatch));

    std::fs::write(&p, b"{\"not\":\"an entry\"}\n").expect("write");
    assert!(matches!(
        open(&p).err(),
        Some(JournalError::TailUnreadable(_))
    ));
}

#[test]
fn multi_process_mode_interleaves_into_one_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                let opts = JournalOptions {
                    sharing: Sharing::MultiProcess,
                    ..JournalOptions::default()
                };
                let mut j = Journal::open(&p, key(), opts).expect("open");
                for i in 0..50 {
                    j.append(note(&format!("{t}-{i}"))).expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    let r = check(&p);
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.last_seq), (200, Some(199)));
}

#[test]
fn clock_going_backwards_keeps_seq_contiguous_and_is_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let mut j = open(&p).expect("open");
    for ts in [3_000u64, 2_000, 1_000, 4_000] {
        let mut d = note("clock");
        d.ts_ns = ts;
        j.append(d).expect("append");
    }
    drop(j);
    let r = check(&p);
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!(r.last_seq, Some(3));
    let warned: Vec<u64> = r
        .warnings
        .iter()
        .filter(|w| w.kind == "ts_non_monotonic")
        .map(|w| w.line)
        .collect();
    assert_eq!(warned, vec![2, 3]);
}
