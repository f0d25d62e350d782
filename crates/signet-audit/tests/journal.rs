//! Journal behaviour on real files: creation, refusal, locking, torn tails, files
//! changed under the writer, multi-process appends, and (through the `fsync_hook` test
//! seam) acknowledgement only after `fdatasync` and fail-closed on an fsync error.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use signet_audit::journal::writer::{Completion, JournalWriter, WriterOptions};
use signet_audit::journal::{FsyncHook, Journal, JournalError, JournalOptions, Sharing};
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

/// Four journals in multi-process mode on one file. First they take turns, one entry
/// each (a token passed round), so their entries must interleave in exactly that
/// order, each writer chaining onto the others' lines; then they run freely together,
/// started behind a barrier. One intact chain holds every entry.
#[test]
fn multi_process_mode_interleaves_into_one_chain() {
    const WRITERS: usize = 4;
    const COUNT: usize = 50;
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let opts = || JournalOptions {
        sharing: Sharing::MultiProcess,
        ..JournalOptions::default()
    };
    let mut writer_of = std::collections::HashMap::new();

    // Round 0: turns. Writer t appends when the token says t.
    let token = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (p, token, opts) = (p.clone(), token.clone(), opts());
            std::thread::spawn(move || {
                let mut j = Journal::open(&p, key(), opts).expect("open");
                let mut ids = Vec::new();
                for i in 0..COUNT {
                    let (lock, turn) = &*token;
                    let mut next = lock.lock().expect("lock");
                    while *next % WRITERS != t {
                        next = turn.wait(next).expect("wait");
                    }
                    ids.push(
                        j.append(note(&format!("{t}-{i}")))
                            .expect("append")
                            .entry_id,
                    );
                    *next += 1;
                    turn.notify_all();
                }
                ids
            })
        })
        .collect();
    for (t, h) in threads.into_iter().enumerate() {
        for id in h.join().expect("join") {
            writer_of.insert(id, (0, t));
        }
    }
    let order = |writer_of: &std::collections::HashMap<String, (usize, usize)>,
                 round: usize|
     -> Vec<usize> {
        let text = std::fs::read_to_string(&p).expect("read");
        text.lines()
            .map(|l| {
                let v = signet_audit::line::LineView::parse(l.as_bytes()).expect("entry");
                writer_of[&v.entry_id]
            })
            .filter(|&(r, _)| r == round)
            .map(|(_, t)| t)
            .collect()
    };
    let turns = order(&writer_of, 0);
    assert_eq!(turns.len(), WRITERS * COUNT);
    for (i, t) in turns.iter().enumerate() {
        assert_eq!(
            *t,
            i % WRITERS,
            "entry {i} is not the writer whose turn it was"
        );
    }

    // Round 1: all together, as concurrent processes would.
    let start = Arc::new(std::sync::Barrier::new(WRITERS));
    let threads: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (p, start, opts) = (p.clone(), start.clone(), opts());
            std::thread::spawn(move || {
                let mut j = Journal::open(&p, key(), opts).expect("open");
                start.wait();
                (0..COUNT)
                    .map(|i| j.append(note(&format!("{t}-{i}"))).expect("append"))
                    .map(|c| c.entry_id)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for (t, h) in threads.into_iter().enumerate() {
        for id in h.join().expect("join") {
            writer_of.insert(id, (1, t));
        }
    }
    assert_eq!(order(&writer_of, 1).len(), WRITERS * COUNT);
    let rounds = 2;
    let n = rounds * WRITERS * COUNT;
    let r = check(&p);
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.last_seq), (n as u64, Some(n as u64 - 1)));
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

/// What the scripted `fdatasync` of [`scripted_sync`] does once the test lets it go.
#[derive(Clone, Copy, Debug)]
enum Sync {
    /// Calls the real `fdatasync`.
    Real,
    /// Fails as a disk would, with EIO, without syncing.
    Eio,
}

/// What the test sees, in the order it happened: a batch's sync was entered (and now
/// waits for the test), or a completion ran: (index, outcome, syncs returned by then).
#[derive(Debug)]
enum Event {
    SyncEntered,
    Done(usize, Result<u64, JournalError>, u64),
}

/// An `fsync_hook` that, for each batch, reports [`Event::SyncEntered`] and then waits
/// for the test to say how it ends; `returned` counts syncs that returned.
struct Scripted {
    events: mpsc::Receiver<Event>,
    tx: mpsc::Sender<Event>,
    go: mpsc::Sender<Sync>,
    returned: Arc<AtomicU64>,
    opts: JournalOptions,
}

/// Bounds a wait that should end at once; only reached if the property is broken.
const STUCK: Duration = Duration::from_secs(60);

impl Scripted {
    fn new() -> Scripted {
        let (tx, events) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<Sync>();
        let go_rx = Mutex::new(go_rx);
        let returned = Arc::new(AtomicU64::new(0));
        let count = returned.clone();
        let entered = tx.clone();
        let hook = FsyncHook(Arc::new(move |f: &std::fs::File| {
            entered.send(Event::SyncEntered).expect("test is listening");
            let how = go_rx.lock().expect("lock").recv().expect("test decides");
            let r = match how {
                Sync::Real => f.sync_data(),
                Sync::Eio => Err(std::io::Error::from_raw_os_error(5)),
            };
            count.fetch_add(1, Ordering::SeqCst);
            r
        }));
        Scripted {
            events,
            tx,
            go,
            returned,
            opts: JournalOptions {
                fsync_hook: Some(hook),
                ..JournalOptions::default()
            },
        }
    }

    /// A completion that reports [`Event::Done`] for draft `i`.
    fn report(&self, i: usize) -> Completion {
        let tx = self.tx.clone();
        let returned = self.returned.clone();
        Box::new(move |r| {
            let seen = returned.load(Ordering::SeqCst);
            let _ = tx.send(Event::Done(i, r.map(|c| c.seq), seen));
        })
    }

    fn next(&self) -> Event {
        self.events
            .recv_timeout(STUCK)
            .expect("the writer is stuck")
    }

    /// The next event must be a batch's sync starting (no completion before it).
    fn sync_entered(&self) {
        match self.next() {
            Event::SyncEntered => {}
            e => panic!("expected the batch's sync, got {e:?}"),
        }
    }

    /// The next event must be a completion.
    fn done(&self) -> (usize, Result<u64, JournalError>, u64) {
        match self.next() {
            Event::Done(i, r, seen) => (i, r, seen),
            Event::SyncEntered => panic!("a sync started where a completion was due"),
        }
    }

    /// Nothing happened that was not yet looked at.
    fn quiet(&self, what: &str) {
        if let Ok(e) = self.events.try_recv() {
            panic!("{what}: {e:?}");
        }
    }
}

/// No completion (the receipt's release) runs before its batch's `fdatasync` has
/// returned: with the sync held back, nothing of the batch completes; released, all
/// of it completes `Ok`, after the sync.
#[test]
fn no_completion_runs_before_its_batch_fdatasync_returns() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let s = Scripted::new();
    let j = Journal::open(&p, key(), s.opts.clone()).expect("open");
    let w = JournalWriter::spawn(j, WriterOptions::default()).expect("spawn");
    let h = w.handle();

    // Entry 0 alone in the first batch; its sync is held.
    h.submit(note("0"), s.report(0)).expect("submit");
    s.sync_entered();
    // 20 more queue up behind it: the next batch.
    for i in 1..=20 {
        h.submit(note(&i.to_string()), s.report(i)).expect("submit");
    }
    s.quiet("nothing is durable yet");
    s.go.send(Sync::Real).expect("release");
    assert_eq!(s.done(), (0, Ok(0), 1), "entry 0 completes after its sync");

    // The second batch holds all 20, and none completes while its sync is held.
    s.sync_entered();
    s.quiet("a completion ran while its fdatasync was blocked");
    assert_eq!(s.returned.load(Ordering::SeqCst), 1);
    s.go.send(Sync::Real).expect("release");
    let mut done: Vec<_> = (0..20).map(|_| s.done()).collect();
    done.sort_by_key(|o| o.0);
    for (k, (i, r, seen)) in done.into_iter().enumerate() {
        assert_eq!(i, k + 1);
        assert_eq!(r, Ok(i as u64), "entry {i}");
        assert_eq!(
            seen, 2,
            "entry {i} completed before its batch's sync returned"
        );
    }
    s.quiet("one sync for the 20");
    drop(h);
    drop(w.shutdown());
    let r = check(&p);
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!(r.entries, 21);
}

/// An `fdatasync` that fails (EIO) fails every entry of its batch and poisons the
/// writer: later drafts fail without touching the file, until a recovery probe
/// reopens the log; the probe is then the next entry of one intact chain.
#[test]
fn fsync_error_fails_the_batch_and_poisons_until_a_recovery_probe() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let s = Scripted::new();
    let j = Journal::open(&p, key(), s.opts.clone()).expect("open");
    let w = JournalWriter::spawn(j, WriterOptions::default()).expect("spawn");
    let h = w.handle();

    h.submit(note("0"), s.report(0)).expect("submit");
    s.sync_entered();
    for i in 1..=10 {
        h.submit(note(&i.to_string()), s.report(i)).expect("submit");
    }
    s.go.send(Sync::Real).expect("release");
    assert_eq!(s.done().1, Ok(0));

    // The batch of 10: its fdatasync fails.
    s.sync_entered();
    s.go.send(Sync::Eio).expect("fail it");
    for _ in 1..=10 {
        match s.done() {
            (i, Err(JournalError::Io { op, message, .. }), _) => {
                assert_eq!(op, "fsync audit log", "entry {i}");
                assert!(message.contains("os error 5"), "entry {i}: {message}");
            }
            other => panic!("an entry of the failed batch: {other:?}"),
        }
    }
    let len = std::fs::metadata(&p).expect("meta").len();

    // Poisoned: ordinary drafts fail, and nothing reaches the file or its sync.
    for i in 11..16 {
        h.submit(note(&format!("later {i}")), s.report(i))
            .expect("submit");
        assert_eq!(s.done(), (i, Err(JournalError::Poisoned), 2), "draft {i}");
    }
    s.quiet("nothing happens while poisoned");
    assert_eq!(std::fs::metadata(&p).expect("meta").len(), len);

    // The one way back: a recovery probe reopens the log and is its next entry.
    let probe = EntryDraft::new("journal.recovery", Decision::Escalate, "probe");
    h.try_submit_recovery(probe, s.report(99))
        .expect("submit probe");
    s.sync_entered();
    s.go.send(Sync::Real).expect("release");
    // The failed batch's lines were written before their sync failed: they are in the
    // file (never acknowledged), and the chain continues after them.
    assert_eq!(s.done(), (99, Ok(11), 3));
    h.submit(note("after"), s.report(100)).expect("submit");
    s.sync_entered();
    s.go.send(Sync::Real).expect("release");
    assert_eq!(s.done(), (100, Ok(12), 4), "healthy again");
    drop(h);
    drop(w.shutdown());
    let r = check(&p);
    assert!(r.is_intact(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.last_seq), (13, Some(12)));
}

/// A draft submitted with `try_submit_keeping` comes back, unchanged, when its batch's
/// fdatasync fails or the journal is already failed, before its completion runs; one
/// that became durable does not come back, and sealing left its metadata as it was.
#[test]
fn drafts_that_do_not_become_durable_come_back_unchanged() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("a.jsonl");
    let s = Scripted::new();
    let j = Journal::open(&p, key(), s.opts.clone()).expect("open");
    let w = JournalWriter::spawn(j, WriterOptions::default()).expect("spawn");
    let h = w.handle();
    let back: Arc<Mutex<Vec<EntryDraft>>> = Arc::default();
    let keep = || {
        let back = back.clone();
        Box::new(move |d: EntryDraft| back.lock().expect("lock").push(d))
            as signet_audit::journal::writer::Keep
    };
    let draft = |i: u64| {
        let mut d = note(&format!("kept {i}"));
        d.metadata.insert("n".into(), i.into());
        d
    };

    // Durable: nothing comes back.
    h.try_submit_keeping(draft(0), s.report(0), keep())
        .expect("submit");
    s.sync_entered();
    s.go.send(Sync::Real).expect("release");
    assert_eq!(s.done().1, Ok(0));
    assert!(back.lock().expect("lock").is_empty());

    // Its fdatasync fails: the draft comes back as it was submitted.
    let want = draft(1);
    h.try_submit_keeping(want.clone(), s.report(1), keep())
        .expect("submit");
    s.sync_entered();
    s.go.send(Sync::Eio).expect("fail it");
    assert!(s.done().1.is_err());
    // The journal is failed now: the next one comes back without touching the file.
    h.try_submit_keeping(draft(2), s.report(2), keep())
        .expect("submit");
    assert_eq!(s.done().1, Err(JournalError::Poisoned));
    let got = back.lock().expect("lock").clone();
    assert_eq!(got.len(), 2, "both failed drafts came back");
    assert_eq!(got[0].entry_id, want.entry_id);
    assert_eq!(
        got[0].metadata, want.metadata,
        "sealing left the metadata as it was"
    );
    assert_eq!(got[0].reason, want.reason);
    assert_eq!(got[1].metadata["n"], 2u64.into());
    drop(h);
    drop(w);
}
