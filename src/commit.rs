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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use signet_audit::EntryDraft;
use signet_audit::journal::writer::{JournalHandle, SubmitError};
use signet_audit::journal::{Committed, JournalError};
use signet_audit::receipt::{Alg, Receipt, ReceiptSigner};

/// Why an entry could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("journal queue is full")]
    Busy,
    #[error("journal failed: {0}")]
    Journal(#[from] JournalError),
    #[error("journal writer stopped")]
    Stopped,
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
        })
    }

    /// Counts a request refused because the journal is unavailable.
    pub fn refused_unavailable(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// When unhealthy, tries (at most once a second, one caller at a time) to write a
    /// `journal.recovery` entry; returns whether the journal is healthy now.
    pub async fn probe(&self) -> bool {
        if self.healthy() {
            return true;
        }
        let now = self.epoch.elapsed().as_millis() as u64 + 1000;
        let last = self.last_probe_ms.load(Ordering::Acquire);
        if now < last + 1000
            || self
                .last_probe_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return false;
        }
        let refused = self.refused.swap(0, Ordering::Relaxed);
        let mut d = EntryDraft::new(
            "journal.recovery",
            signet_audit::Decision::Escalate,
            "audit journal writable again after a failure; requests meanwhile were refused with 503",
        );
        d.metadata
            .insert("event".into(), "journal_available".into());
        d.metadata
            .insert("refused_while_unavailable".into(), refused.into());
        match self.submit(d, true).await {
            Ok(_) => {
                tracing::warn!(refused, "audit journal is writable again; resuming");
                true
            }
            Err(_) => {
                self.refused.fetch_add(refused, Ordering::Relaxed);
                false
            }
        }
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
        self.submit(draft, false).await
    }

    /// [`Committer::commit`]; a `probe` may make the writer reopen a failed journal.
    async fn submit(&self, draft: EntryDraft, probe: bool) -> Result<CommitReceipt, CommitError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done: signet_audit::journal::writer::Completion = Box::new(move |r| {
            let _ = tx.send(r);
        });
        let submitted = if probe {
            self.handle.try_submit_recovery(draft, done)
        } else {
            self.handle.try_submit(draft, done)
        };
        match submitted {
            Ok(()) => {}
            Err(SubmitError::Full(_)) => return Err(CommitError::Busy),
            Err(SubmitError::Stopped(_)) => {
                self.healthy.store(false, Ordering::Release);
                return Err(CommitError::Stopped);
            }
        }
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
