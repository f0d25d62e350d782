//! Commit: hands a finished entry to the journal's group-commit writer and returns the
//! receipt, only once the entry is durable.
//!
//! Guarantees:
//! - [`Committer::commit`] resolves `Ok` only after the entry was written and fsync'd;
//!   the receipt it returns is signed over that exact entry's MAC payload.
//! - Any journal failure marks the committer unhealthy for good: the pipeline then
//!   answers 503 and forwards nothing (fail closed); `/readyz` reports it.
//! - A full queue is refused at once (`Busy`), never waited on, so overload turns into
//!   503s instead of unbounded memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signet_audit::EntryDraft;
use signet_audit::journal::writer::{JournalHandle, SubmitError};
use signet_audit::journal::{Committed, JournalError};
use signet_audit::receipt::{Receipt, ReceiptSigner};

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
}

impl Committer {
    pub fn new(handle: JournalHandle, signer: Option<ReceiptSigner>) -> Arc<Self> {
        Arc::new(Committer {
            handle,
            signer,
            healthy: AtomicBool::new(true),
        })
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        let submitted = self.handle.try_submit(
            draft,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        match submitted {
            Ok(()) => {}
            Err(SubmitError::Full(_)) => return Err(CommitError::Busy),
            Err(SubmitError::Stopped(_)) => {
                self.healthy.store(false, Ordering::Release);
                return Err(CommitError::Stopped);
            }
        }
        let committed = match rx.await {
            Ok(Ok(c)) => c,
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
            Some(s) => Some(
                s.sign_sealed(&committed.entry_id, &committed.sealed)
                    .map_err(|e| CommitError::Receipt(e.to_string()))?,
            ),
        };
        Ok(CommitReceipt { committed, receipt })
    }
}
