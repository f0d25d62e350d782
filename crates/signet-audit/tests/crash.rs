//! Crash test: a writer process is SIGKILLed mid-append, many times. Every entry it
//! acknowledged (reported durable) must be in the log afterwards, and the log must
//! verify after the journal reopens it.
//!
//! The child is this test binary re-executed with `SIGNET_CRASH_CHILD` set, running
//! `crash_child`, which appends from several threads through the group-commit writer
//! and prints `ACK <entry_id>` only from the completion callback.
//!
//! What this does not prove: that an entry is acknowledged only after its `fdatasync`.
//! A killed process leaves its written pages in the OS cache, so an entry acknowledged
//! after `write` but before the sync would survive here too. That property is
//! `journal::no_completion_runs_before_its_batch_fdatasync_returns`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use signet_audit::journal::writer::{JournalWriter, WriterOptions};
use signet_audit::journal::{Journal, JournalOptions};
use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::verify::verify;
use signet_audit::{Decision, EntryDraft};

const CHILD_ENV: &str = "SIGNET_CRASH_CHILD";

fn key() -> HmacKey {
    HmacKey::from_hex("k1", &"9e".repeat(32)).expect("key")
}

/// Runs only inside the re-executed child; a no-op in a normal test run.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let j = Journal::open(Path::new(&path), key(), JournalOptions::default()).expect("child open");
    let w = JournalWriter::spawn(j, WriterOptions::default()).expect("spawn");
    let (tx, rx) = mpsc::channel::<String>();
    let deadline = Instant::now() + Duration::from_secs(20);
    for t in 0..4 {
        let h = w.handle();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let mut d = EntryDraft::new("crash.test", Decision::Allow, "x");
                d.metadata.insert("writer".into(), (t as u64).into());
                d.metadata.insert("i".into(), i.into());
                let tx = tx.clone();
                let id = d.entry_id.clone();
                h.submit(
                    d,
                    Box::new(move |r| {
                        if r.is_ok() {
                            let _ = tx.send(id);
                        }
                    }),
                )
                .expect("submit");
                i += 1;
                if i.is_multiple_of(8) {
                    std::thread::yield_now();
                }
            }
        });
    }
    drop(tx);
    let out = std::io::stdout();
    for id in rx {
        let mut o = out.lock();
        let _ = writeln!(o, "ACK {id}");
        let _ = o.flush();
    }
}

fn run_and_kill(path: &Path, after: Duration) -> Vec<String> {
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ACK ").map(str::to_owned))
            .collect::<Vec<_>>()
    });
    std::thread::sleep(after);
    child.kill().expect("SIGKILL"); // std's kill() sends SIGKILL on Unix
    child.wait().expect("wait");
    reader.join().expect("reader")
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tmp");
    let path: PathBuf = dir.path().join("audit.jsonl");
    let mut acked: Vec<String> = Vec::new();
    let mut kills = 0;
    for round in 0..12u64 {
        let pause = Duration::from_millis(60 + (round * 37) % 140);
        acked.extend(run_and_kill(&path, pause));
        kills += 1;
        // Reopening recovers any torn tail; it must succeed every time.
        drop(Journal::open(&path, key(), JournalOptions::default()).expect("reopen after kill"));
    }
    assert!(
        acked.len() > 100,
        "children acknowledged too little to mean anything: {}",
        acked.len()
    );
    let text = std::fs::read_to_string(&path).expect("read");
    let present: HashSet<&str> = text
        .lines()
        .filter_map(|l| l.split("\"entry_id\":\"").nth(1))
        .filter_map(|r| r.split('"').next())
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged entries lost after {kills} kills",
        lost.len(),
        acked.len()
    );
    let mut ring = KeyRing::new();
    ring.add(key()).expect("ring");
    let r = verify(text.as_bytes(), &ring).expect("verify");
    assert!(r.is_intact(), "{:?}", r.breaks);
    eprintln!(
        "crash test: {kills} SIGKILLs, {} acknowledged, {} in log, 0 lost",
        acked.len(),
        r.entries
    );
}
