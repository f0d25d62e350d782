//! Group commit: one writer thread owns the [`Journal`]; callers hand it drafts through
//! a bounded queue and are told the outcome once their entry is durable.
//!
//! Guarantees:
//! - Every submitted draft gets exactly one completion: `Ok(Committed)` only after the
//!   batch holding it was written and fsync'd, otherwise an error.
//! - Entries that arrive while a batch is being written share the next fsync, so under
//!   load the number of fsyncs per entry falls towards `1 / max_batch`.
//! - With [`WriterOptions::batch_trees`], the entries of one batch that committed get
//!   a shared RFC 6962 tree over their lines ([`crate::log::batch`]), built after
//!   the fsync and before any completion runs; a batch then holds at most
//!   [`crate::log::batch::MAX_BATCH`] entries.
//! - `ts_ns` is stamped here, when the writer takes the draft, so it increases with
//!   `_seq` unless the wall clock itself steps back.
//! - The queue is bounded: when it is full, [`JournalHandle::submit`] blocks and
//!   [`JournalHandle::try_submit`] refuses, so back-pressure reaches callers.
//! - No runtime is assumed: completions are plain callbacks, run on the writer thread;
//!   they must be short and must not block (send on a channel, wake a future).
//! - After a write or fsync failure (disk full, I/O error, file removed) the journal is
//!   poisoned and every ordinary draft fails with [`JournalError::Poisoned`]: the writer
//!   never reopens on its own. Only a recovery probe ([`JournalHandle::recover`],
//!   [`JournalHandle::try_submit_recovery`]) makes it retry [`Journal::open`], which
//!   recovers a torn tail and records it in the chain; the probe's own draft is then the
//!   first entry written after the failure. Ordinary drafts that share the probe's batch
//!   still fail. Callers limit how often they probe. A log file that was removed is never
//!   silently recreated.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use super::{Committed, Journal, JournalError};
use crate::log::entry::EntryDraft;

/// Called once with the outcome of one draft.
pub type Completion = Box<dyn FnOnce(Result<Committed, JournalError>) + Send + 'static>;

/// Takes back a draft that did not become durable (see
/// [`JournalHandle::try_submit_keeping`]).
pub type Keep = Box<dyn FnOnce(EntryDraft) + Send + 'static>;

struct Job {
    draft: EntryDraft,
    done: Completion,
    /// Gets the draft back if it fails to become durable, before `done` runs.
    keep: Option<Keep>,
    /// A recovery probe: may reopen a failed journal.
    probe: bool,
}

/// Sizing of the writer.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// Drafts waiting at most (the bound of the queue).
    pub queue: usize,
    /// Most entries written under one fsync.
    pub max_batch: usize,
    /// Give each batch's committed entries a Merkle tree over their lines
    /// ([`super::Committed::batch`]), for one receipt signature per batch.
    pub batch_trees: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue: 4096,
            max_batch: 512,
            batch_trees: false,
        }
    }
}

/// A draft handed back unsubmitted, with its completion not yet called.
pub struct Returned {
    pub draft: EntryDraft,
    pub done: Completion,
}

/// Why a draft was not accepted.
pub enum SubmitError {
    /// The queue is full (only from `try_submit`).
    Full(Box<Returned>),
    /// The writer thread has stopped.
    Stopped(Box<Returned>),
}

impl std::fmt::Debug for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Full(r) => write!(f, "Full({})", r.draft.entry_id),
            SubmitError::Stopped(r) => write!(f, "Stopped({})", r.draft.entry_id),
        }
    }
}

fn returned(j: Job) -> Box<Returned> {
    Box::new(Returned {
        draft: j.draft,
        done: j.done,
    })
}

/// Upper bounds of the batch-size histogram buckets (the last bucket is open).
pub const BATCH_BUCKETS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// Counters kept by the writer thread, readable from any thread.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Batches written (one write + one fsync each).
    pub batches: AtomicU64,
    /// Entries made durable.
    pub entries: AtomicU64,
    /// Entries that failed.
    pub failed: AtomicU64,
    /// Batches by size: `buckets[i]` counts batches of size <= `BATCH_BUCKETS[i]`
    /// (not cumulative); the last slot counts larger ones.
    pub buckets: [AtomicU64; 11],
}

impl WriterStats {
    fn record(&self, size: usize, ok: u64, failed: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(ok, Ordering::Relaxed);
        self.failed.fetch_add(failed, Ordering::Relaxed);
        let i = BATCH_BUCKETS
            .iter()
            .position(|&b| size as u64 <= b)
            .unwrap_or(BATCH_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// A cloneable handle for submitting drafts to the writer.
#[derive(Clone)]
pub struct JournalHandle {
    tx: SyncSender<Job>,
    stats: Arc<WriterStats>,
}

/// The writer thread; dropping every handle and calling [`JournalWriter::shutdown`]
/// drains the queue and stops it.
pub struct JournalWriter {
    handle: JournalHandle,
    thread: Option<JoinHandle<Option<Journal>>>,
}

impl JournalWriter {
    /// Starts the writer thread for `journal`.
    pub fn spawn(journal: Journal, opts: WriterOptions) -> std::io::Result<JournalWriter> {
        let (tx, rx) = mpsc::sync_channel(opts.queue.max(1));
        let mut max_batch = opts.max_batch.max(1);
        if opts.batch_trees {
            max_batch = max_batch.min(crate::log::batch::MAX_BATCH);
        }
        let trees = opts.batch_trees;
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("signet-journal".into())
            .spawn(move || run(journal, rx, max_batch, trees, &thread_stats))?;
        Ok(JournalWriter {
            handle: JournalHandle { tx, stats },
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> JournalHandle {
        self.handle.clone()
    }

    /// Stops accepting work from this handle, waits for queued drafts to be written
    /// (other clones of the handle keep the thread alive until dropped) and returns the
    /// journal.
    pub fn shutdown(mut self) -> Option<Journal> {
        let thread = self.thread.take()?;
        drop(self);
        thread.join().ok().flatten()
    }
}

impl JournalHandle {
    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Queues a draft, blocking while the queue is full.
    pub fn submit(&self, draft: EntryDraft, done: Completion) -> Result<(), SubmitError> {
        self.send(Job {
            draft,
            done,
            keep: None,
            probe: false,
        })
    }

    /// Queues a draft if there is room.
    pub fn try_submit(&self, draft: EntryDraft, done: Completion) -> Result<(), SubmitError> {
        self.try_send(Job {
            draft,
            done,
            keep: None,
            probe: false,
        })
    }

    /// [`JournalHandle::try_submit`] that gets the draft back when it does not become
    /// durable (a failed write or fsync, a failed journal, the writer stopping): `keep`
    /// runs with it just before `done` gets the error. On a full queue the draft comes
    /// back in the [`SubmitError`] as usual. Costs nothing more than the call.
    pub fn try_submit_keeping(
        &self,
        draft: EntryDraft,
        done: Completion,
        keep: Keep,
    ) -> Result<(), SubmitError> {
        self.try_send(Job {
            draft,
            done,
            keep: Some(keep),
            probe: false,
        })
    }

    /// Queues a recovery probe if there is room: if the journal failed, the writer
    /// first reopens it ([`Journal::open`], which moves a torn tail aside and records
    /// it), then commits `draft`; on a healthy journal it is an ordinary draft.
    pub fn try_submit_recovery(
        &self,
        draft: EntryDraft,
        done: Completion,
    ) -> Result<(), SubmitError> {
        self.try_send(Job {
            draft,
            done,
            keep: None,
            probe: true,
        })
    }

    /// Submits a draft and waits until it is durable (or failed).
    pub fn append(&self, draft: EntryDraft) -> Result<Committed, JournalError> {
        self.wait(draft, false)
    }

    /// Submits a recovery probe (see [`JournalHandle::try_submit_recovery`]), blocking
    /// while the queue is full, and waits until it is durable (or failed).
    pub fn recover(&self, draft: EntryDraft) -> Result<Committed, JournalError> {
        self.wait(draft, true)
    }

    fn wait(&self, draft: EntryDraft, probe: bool) -> Result<Committed, JournalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let done: Completion = Box::new(move |r| {
            let _ = tx.send(r);
        });
        if self
            .send(Job {
                draft,
                done,
                keep: None,
                probe,
            })
            .is_err()
        {
            return Err(JournalError::Stopped);
        }
        rx.recv().unwrap_or(Err(JournalError::Stopped))
    }

    fn send(&self, job: Job) -> Result<(), SubmitError> {
        self.tx
            .send(job)
            .map_err(|e| SubmitError::Stopped(returned(e.0)))
    }

    fn try_send(&self, job: Job) -> Result<(), SubmitError> {
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(j) => SubmitError::Full(returned(j)),
            TrySendError::Disconnected(j) => SubmitError::Stopped(returned(j)),
        })
    }
}

fn run(
    journal: Journal,
    rx: Receiver<Job>,
    max_batch: usize,
    trees: bool,
    stats: &WriterStats,
) -> Option<Journal> {
    let (path, key, opts) = journal.reopen_params();
    let tick = journal.tick_interval();
    let mut journal = Some(journal);
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        let first = match tick {
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
            Some(every) => match rx.recv_timeout(every) {
                Ok(j) => j,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(j) = journal.as_mut() {
                        j.tick();
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
        };
        jobs.push(first);
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let failed = journal.as_ref().is_none_or(Journal::is_poisoned);
        let mut refused = Vec::new();
        if failed {
            // Fail closed: while the journal is failed only recovery probes are
            // written, and only after the log was opened again.
            let (probes, rest): (Vec<Job>, Vec<Job>) = jobs.drain(..).partition(|j| j.probe);
            refused = rest;
            jobs = probes;
            if !jobs.is_empty() {
                // Close the failed handle first: it holds the log's lock. A log that no
                // longer exists is not recreated: that needs an operator's restart.
                drop(journal.take());
                if path.exists() {
                    journal = Journal::open(&path, key.clone(), opts.clone()).ok();
                }
            }
        }
        let mut batch = Vec::with_capacity(jobs.len());
        let mut dones: Vec<(Completion, Option<Keep>)> = Vec::with_capacity(jobs.len());
        for j in jobs.drain(..) {
            batch.push(j.draft);
            dones.push((j.done, j.keep));
        }
        // The entry's time is when the sequencer seals it, so `ts_ns` follows `_seq`
        // (callers build drafts concurrently and reach the queue in another order);
        // only a clock that really goes back shows as non-monotonic.
        for d in &mut batch {
            d.ts_ns = crate::util::now_ns();
        }
        let mut results = match journal.as_mut() {
            Some(j) if !batch.is_empty() => j.append_batch_in_place(&mut batch),
            _ => vec![Err(JournalError::Poisoned); batch.len()],
        };
        if trees {
            attach_batch_tree(&mut results);
        }
        let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
        let size = results.len() + refused.len();
        stats.record(size, ok, size as u64 - ok);
        for (((done, keep), r), d) in dones.into_iter().zip(results).zip(batch) {
            if r.is_err()
                && let Some(keep) = keep
            {
                keep(d);
            }
            done(r);
        }
        for j in refused {
            if let Some(keep) = j.keep {
                keep(j.draft);
            }
            (j.done)(Err(JournalError::Poisoned));
        }
    }
    // Every handle is gone: cover the last entries with a final checkpoint.
    if let Some(j) = journal.as_mut() {
        j.flush_checkpoint();
    }
    journal
}

/// Gives the committed entries of one batch (contiguous `_seq`s, in order) their
/// shared tree.
fn attach_batch_tree(results: &mut [Result<Committed, JournalError>]) {
    let lines: Vec<&[u8]> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|c| c.sealed.line.strip_suffix(b"\n").unwrap_or(&c.sealed.line))
        .collect();
    let Some(first) = results.iter().find_map(|r| r.as_ref().ok().map(|c| c.seq)) else {
        return;
    };
    let Some(batch) = crate::log::batch::Batch::build(first, &lines) else {
        return;
    };
    for (i, c) in results
        .iter_mut()
        .filter_map(|r| r.as_mut().ok())
        .enumerate()
    {
        c.batch = Some(crate::log::batch::BatchSlot {
            batch: batch.clone(),
            index: i as u64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::entry::Decision;
    use crate::log::journal::JournalOptions;
    use crate::log::key::HmacKey;

    fn key() -> HmacKey {
        HmacKey::from_hex("k1", &"cd".repeat(32)).expect("key")
    }

    #[test]
    fn concurrent_submitters_get_contiguous_durable_entries() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        let j = Journal::open(&path, key(), JournalOptions::default()).expect("open");
        let w = JournalWriter::spawn(j, WriterOptions::default()).expect("spawn");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let h = w.handle();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            let d = EntryDraft::new("test", Decision::Allow, &format!("{t}-{i}"));
                            h.append(d).expect("append").seq
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("join"))
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..400).collect::<Vec<_>>());
        let stats = w.handle().stats().entries.load(Ordering::Relaxed);
        assert_eq!(stats, 400);
        drop(w.shutdown());
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 400);
    }

    /// Drafts built concurrently reach the queue in another order than they were
    /// made; the writer stamps `ts_ns` as it seals, so time follows `_seq` (the
    /// verifier would otherwise warn `ts_non_monotonic` under ordinary load).
    #[test]
    fn ts_ns_follows_seq_whatever_order_drafts_were_made_in() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        let j = Journal::open(&path, key(), JournalOptions::default()).expect("open");
        let w = JournalWriter::spawn(j, WriterOptions::default()).expect("spawn");
        let h = w.handle();
        // Made newest first: without stamping at seal time every entry would go back.
        let drafts: Vec<EntryDraft> = (0..20)
            .map(|i| {
                let mut d = EntryDraft::new("test", Decision::Allow, "order");
                d.ts_ns = 2_000_000_000_000_000_000 - i;
                d
            })
            .collect();
        for d in drafts {
            h.append(d).expect("append");
        }
        drop(h);
        drop(w.shutdown());
        let text = std::fs::read_to_string(&path).expect("read");
        let ts: Vec<u64> = text
            .lines()
            .map(|l| {
                let v = crate::log::line::LineView::parse(l.as_bytes()).expect("line");
                v.ts_ns
            })
            .collect();
        assert_eq!(ts.len(), 20);
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
        assert!(
            ts[0] < 2_000_000_000_000_000_000 - 20,
            "stamped by the writer"
        );
    }

    /// With batch trees, concurrent entries share batches whose trees hold exactly
    /// their lines, at their `_seq`s.
    #[test]
    fn batch_trees_cover_each_batch_in_log_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        let j = Journal::open(&path, key(), JournalOptions::default()).expect("open");
        let opts = WriterOptions {
            batch_trees: true,
            ..WriterOptions::default()
        };
        let w = JournalWriter::spawn(j, opts).expect("spawn");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let h = w.handle();
                std::thread::spawn(move || {
                    (0..40)
                        .map(|i| {
                            let d = EntryDraft::new("test", Decision::Allow, &format!("{t}-{i}"));
                            h.append(d).expect("append")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let all: Vec<Committed> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("join"))
            .collect();
        for c in &all {
            let slot = c.batch.as_ref().expect("every entry has a batch");
            let b = &slot.batch;
            assert_eq!(b.seq() + slot.index, c.seq);
            assert!(slot.index < b.size());
            let line = &c.sealed.line[..c.sealed.line.len() - 1];
            let path = b.path(slot.index).expect("path");
            crate::transparency::merkle::verify_inclusion(
                &path,
                slot.index,
                b.size(),
                &crate::transparency::merkle::leaf_hash(line),
                b.root(),
            )
            .expect("the entry's line is its leaf");
        }
        drop(w.shutdown());
    }

    #[test]
    fn float_draft_fails_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        let j = Journal::open(&path, key(), JournalOptions::default()).expect("open");
        let w = JournalWriter::spawn(j, WriterOptions::default()).expect("spawn");
        let h = w.handle();
        let mut bad = EntryDraft::new("test", Decision::Allow, "x");
        let (v, _) = crate::log::json::parse(b"1.5").expect("json");
        bad.metadata.insert("f".into(), v);
        assert!(matches!(h.append(bad), Err(JournalError::Entry(_))));
        let ok = h
            .append(EntryDraft::new("test", Decision::Allow, "y"))
            .expect("ok");
        assert_eq!(ok.seq, 0);
    }
}
