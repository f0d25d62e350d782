//! Commit: hands a finished entry to the journal's group-commit writer and returns the
//! receipt, only once the entry is durable.
//!
//! Guarantees:
//! - [`Committer::commit`] resolves `Ok` only after the entry was written and fsync'd;
//!   the receipt it returns binds that exact entry: its `hmac` (HMAC receipts), or an
//!   Ed25519 signature over the Merkle root of the entry's group-commit batch plus the
//!   entry's inclusion path (`ed25519-batch`, see `signet_audit::receipt::batch`).
//! - Any journal failure marks the committer unhealthy: the pipeline then answers 503
//!   and forwards nothing (fail closed); `/readyz` reports it. At most once a second a
//!   request probes the journal by committing a `journal.recovery` entry (which counts
//!   the requests refused meanwhile) as the writer's recovery probe, the only
//!   submission that makes the writer reopen a failed log; once that entry is durable,
//!   traffic resumes.
//! - A full queue is refused at once (`Busy`), never waited on, so overload turns into
//!   503s instead of unbounded memory.
//! - The entry of a request that reached the upstream but could not be committed is
//!   kept ([`Committer::commit_forwarded`]) and written, marked `written_late`, right after
//!   the `journal.recovery` entry that ends the outage, in one submission with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use signet_audit::EntryDraft;
use signet_audit::journal::writer::{JournalHandle, SubmitError};
use signet_audit::journal::{Committed, JournalError};
use signet_audit::receipt::{Alg, Receipt, ReceiptSigner};

use crate::late::Late;

/// Why an entry could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("journal queue is full")]
    Busy,
    #[error("journal failed: {0}")]
    Journal(#[from] JournalError),
    #[error("journal writer stopped")]
    Stopped,
    /// Nothing was attempted: the journal was known to be unavailable.
    #[error("journal unavailable")]
    Unavailable,
    #[error("receipt signing failed: {0}")]
    Receipt(String),
}

/// A durable entry and its receipt.
pub struct CommitReceipt {
    pub committed: Committed,
    /// `None` when receipts are disabled.
    pub receipt: Option<Receipt>,
}

/// Shared by every request.
pub struct Committer {
    handle: JournalHandle,
    signer: Option<ReceiptSigner>,
    healthy: AtomicBool,
    /// Requests answered 503 because the journal was unavailable, since the last probe.
    refused: AtomicU64,
    /// Milliseconds since `epoch` of the last probe.
    last_probe_ms: AtomicU64,
    epoch: std::time::Instant,
    /// Entries of forwarded requests that wait for the journal to recover.
    late: Arc<Late>,
}

/// How an entry goes to the writer.
#[derive(Clone, Copy)]
enum Submit {
    Plain,
    /// A recovery probe: the writer reopens a failed journal for it.
    Probe,
    /// The draft comes back to the late queue if it does not become durable.
    KeepOnFailure,
}

impl Committer {
    pub fn new(handle: JournalHandle, signer: Option<ReceiptSigner>) -> Arc<Self> {
        Arc::new(Committer {
            handle,
            signer,
            healthy: AtomicBool::new(true),
            refused: AtomicU64::new(0),
            last_probe_ms: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
            late: Arc::new(Late::default()),
        })
    }

    /// Counts a request refused because the journal is unavailable.
    pub fn refused_unavailable(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// When unhealthy, tries (at most once a second, one caller at a time) to write a
    /// `journal.recovery` entry and the entries waiting to be written late; returns
    /// whether the journal is healthy now. When healthy, entries kept meanwhile (the
    /// writer's queue was full) are written at the same pace.
    pub async fn probe(&self) -> bool {
        if self.healthy() {
            // Entries kept while the journal was healthy (its queue was full) are
            // written by the next request that may probe.
            if self.late.waiting() > 0 && self.may_probe() {
                self.write_waiting().await;
            }
            return true;
        }
        self.may_probe() && self.recover().await
    }

    /// Writes the entries waiting to be written late; those that fail wait again.
    async fn write_waiting(&self) {
        let (late, _) = self.late.take();
        if let Err(back) = self.write_in_order(None, late).await {
            self.late.put_back(back);
        }
    }

    /// Ends an outage: the `journal.recovery` entry (which counts the requests refused
    /// meanwhile), then the entries waiting to be written late, in one submission.
    async fn recover(&self) -> bool {
        let refused = self.refused.swap(0, Ordering::Relaxed);
        let (late, outage) = self.late.take();
        let mut d = EntryDraft::new(
            "journal.recovery",
            signet_audit::Decision::Escalate,
            "audit journal writable again after a failure; requests meanwhile were refused with 503",
        );
        d.metadata
            .insert("event".into(), "journal_available".into());
        d.metadata
            .insert("refused_while_unavailable".into(), refused.into());
        d.metadata
            .insert("written_late".into(), (late.len() as u64).into());
        if let Some(o) = outage {
            d.metadata.insert("outage_id".into(), o.into());
        }
        // The recovery entry and the entries written late go to the writer together,
        // in this order, before any of them is awaited: nothing else can come between.
        let n = late.len();
        match self.write_in_order(Some(d), late).await {
            Ok(()) => {
                self.late.end_outage();
                tracing::warn!(
                    refused,
                    written_late = n,
                    "audit journal is writable again; resuming"
                );
                true
            }
            Err(back) => {
                self.refused.fetch_add(refused, Ordering::Relaxed);
                // The recovery entry is made anew next time; the late ones that did
                // not become durable wait again.
                self.late.put_back(back);
                false
            }
        }
    }

    /// True for at most one caller a second.
    fn may_probe(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64 + 1000;
        let last = self.last_probe_ms.load(Ordering::Acquire);
        now >= last + 1000
            && self
                .last_probe_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Commits `head` (a recovery entry), then `late`, in this order, all submitted
    /// before any is awaited and all as recovery probes (after a failure the writer
    /// reopens the log for them and writes them before any ordinary entry). On any
    /// failure returns, in order, the late drafts that did not become durable.
    async fn write_in_order(
        &self,
        head: Option<EntryDraft>,
        late: Vec<EntryDraft>,
    ) -> Result<(), Vec<EntryDraft>> {
        let head = head.map(|d| self.submit(d, Submit::Probe));
        // The late drafts are copied: the ones that fail must wait again. This runs
        // once per outage, never per request.
        let mut waiting = Vec::with_capacity(late.len());
        for d in &late {
            match self.submit(d.clone(), Submit::Probe) {
                Ok(rx) => waiting.push(rx),
                Err(_) => break,
            }
        }
        let mut ok = match head {
            None => true,
            Some(Ok(rx)) => self.settle(rx).await.is_ok(),
            Some(Err(_)) => false,
        };
        let mut durable = Vec::with_capacity(late.len());
        for rx in waiting {
            durable.push(self.settle(rx).await.is_ok());
        }
        durable.resize(late.len(), false);
        ok &= durable.iter().all(|d| *d);
        if ok {
            return Ok(());
        }
        Err(late
            .into_iter()
            .zip(durable)
            .filter_map(|(d, ok)| (!ok).then_some(d))
            .collect())
    }

    /// Prometheus text for the late entries (see [`crate::late::metrics`]).
    pub fn late_metrics(&self) -> String {
        let (kept, lost) = self.late.counts();
        crate::late::metrics(self.late.waiting(), kept, lost)
    }

    /// Writes entries saved by an earlier run (`<log>.pending`) before serving: a
    /// `journal.recovery` entry that says so, then them, in order.
    pub async fn write_saved(&self, drafts: Vec<EntryDraft>) -> Result<(), CommitError> {
        let mut d = EntryDraft::new(
            "journal.recovery",
            signet_audit::Decision::Escalate,
            "entries of forwarded requests saved at the last stop, written late before serving",
        );
        d.metadata.insert("event".into(), "pending_appended".into());
        d.metadata
            .insert("written_late".into(), (drafts.len() as u64).into());
        match self.write_in_order(Some(d), drafts).await {
            Ok(()) => Ok(()),
            Err(_) => Err(CommitError::Stopped),
        }
    }

    /// At shutdown: writes the late entries if the journal takes them now (one last
    /// attempt, whatever the probe's pace); returns those it would not take.
    pub async fn flush_late(&self) -> Vec<EntryDraft> {
        if self.late.waiting() == 0 {
            return Vec::new();
        }
        if self.healthy() {
            self.write_waiting().await;
        } else {
            self.recover().await;
        }
        self.late.take().0
    }

    /// False once any entry failed to commit: the gateway must stop forwarding.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub fn handle(&self) -> &JournalHandle {
        &self.handle
    }

    /// Writes `draft` durably and signs its receipt.
    pub async fn commit(&self, draft: EntryDraft) -> Result<CommitReceipt, CommitError> {
        let rx = self.submit(draft, Submit::Plain)?;
        self.settle(rx).await
    }

    /// [`Committer::commit`] for the entry of a request that reached the upstream: if
    /// it does not become durable, the writer hands the draft back and it is kept for
    /// the write that ends the outage (see [`crate::late`]). Nothing is copied.
    pub async fn commit_forwarded(&self, draft: EntryDraft) -> Result<CommitReceipt, CommitError> {
        let rx = self.submit(draft, Submit::KeepOnFailure)?;
        self.settle(rx).await
    }

    /// Hands `draft` to the writer's queue (never waits).
    fn submit(
        &self,
        draft: EntryDraft,
        how: Submit,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Committed, JournalError>>, CommitError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done: signet_audit::journal::writer::Completion = Box::new(move |r| {
            let _ = tx.send(r);
        });
        let submitted = match how {
            Submit::Plain => self.handle.try_submit(draft, done),
            Submit::Probe => self.handle.try_submit_recovery(draft, done),
            Submit::KeepOnFailure => {
                let late = self.late.clone();
                self.handle
                    .try_submit_keeping(draft, done, Box::new(move |d| late.keep(d)))
            }
        };
        match submitted {
            Ok(()) => Ok(rx),
            Err(SubmitError::Full(back)) => {
                if matches!(how, Submit::KeepOnFailure) {
                    self.late.keep(back.draft);
                }
                Err(CommitError::Busy)
            }
            Err(SubmitError::Stopped(back)) => {
                if matches!(how, Submit::KeepOnFailure) {
                    self.late.keep(back.draft);
                }
                self.healthy.store(false, Ordering::Release);
                Err(CommitError::Stopped)
            }
        }
    }

    /// Waits for a submitted entry to be durable, then signs its receipt.
    async fn settle(
        &self,
        rx: tokio::sync::oneshot::Receiver<Result<Committed, JournalError>>,
    ) -> Result<CommitReceipt, CommitError> {
        let committed = match rx.await {
            Ok(Ok(c)) => {
                self.healthy.store(true, Ordering::Release);
                c
            }
            Ok(Err(JournalError::Entry(e))) => return Err(JournalError::Entry(e).into()),
            Ok(Err(e)) => {
                self.healthy.store(false, Ordering::Release);
                return Err(e.into());
            }
            Err(_) => {
                self.healthy.store(false, Ordering::Release);
                return Err(CommitError::Stopped);
            }
        };
        let receipt = match &self.signer {
            None => None,
            // The HMAC receipt key is the chain key (see `run::receipt_signer`): the
            // receipt's signature is the entry's `hmac`, already computed by the journal.
            Some(ReceiptSigner::Hmac(k)) => Some(
                Receipt::new(
                    Alg::HmacSha256,
                    &committed.entry_id,
                    k.id(),
                    committed.sealed.hmac.as_bytes().to_vec(),
                )
                .map_err(|e| CommitError::Receipt(e.to_string()))?,
            ),
            // Ed25519: one signature per group-commit batch (the writer keeps batch
            // trees when the receipt key is Ed25519, see `run::build`), made by the
            // first of the batch's requests to get here; each receipt carries its
            // entry's inclusion path to the signed root.
            Some(s) => Some(
                s.sign_committed(&committed)
                    .map_err(|e| CommitError::Receipt(e.to_string()))?,
            ),
        };
        Ok(CommitReceipt { committed, receipt })
    }
}
