//! The journal: durable, chained appends to one JSONL audit log.
//!
//! Guarantees:
//! - An entry is reported committed only after its whole line was written and the file
//!   was fsync'd (`fdatasync`); a newly created log also has its directory fsync'd.
//! - Lines of one batch are written with one `write` and one fsync (group commit, see
//!   [`writer`]); `_seq` is contiguous and every line links to the previous `hmac`.
//! - Any write or fsync error poisons the journal: every later append fails, so nothing
//!   is ever chained past a possibly torn tail. Only [`Journal::open`] recovers (the
//!   group-commit writer reopens only for a recovery probe, see [`writer`]).
//! - [`JournalOptions::fsync_hook`] is a test seam that replaces the per-batch
//!   `fdatasync` (to block it or fail it); unset, the batch calls `File::sync_data`
//!   directly, and the seam costs one `Option` check per batch.
//! - On open, and under the lock before every append in multi-process mode, a torn last
//!   line is moved aside (never silently deleted) and recorded as a `journal.recovery`
//!   entry in the chain.
//! - The log is created with mode 0600 unless configured; symlinks are refused
//!   (`O_NOFOLLOW`); a single-writer journal holds an exclusive `flock` for its lifetime,
//!   and notices if its file is removed or grown by someone else.
//! - Multi-process mode takes the `flock` per batch and reads only the last line of the
//!   file under it, so the cost of an append does not grow with the log.

pub mod tail;
pub mod writer;

use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::durable::{self, DurableError, Lock, Step};
use crate::log::entry::{self, Decision, EntryDraft, EntryError, SealedLine};
use crate::log::json::Value;
use crate::log::key::HmacKey;
use crate::transparency::state::{Shared, Transparency, TransparencyOptions};
pub use tail::{ChainState, TornTail};

/// How the journal shares its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// One writer for the file's lifetime; an exclusive lock is held while open.
    SingleWriter,
    /// Several processes append, each batch under an exclusive advisory lock.
    MultiProcess,
}

/// Options for [`Journal::open`].
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// Permission bits for a newly created log.
    pub mode: u32,
    pub sharing: Sharing,
    /// Multi-process mode: how long to wait for the lock before failing with `Locked`.
    pub lock_timeout: std::time::Duration,
    /// Merkle tree and signed checkpoints beside the log (single-writer mode only).
    pub transparency: Option<TransparencyOptions>,
    /// Test seam, never set in production: called with the log file in place of each
    /// batch's `fdatasync`, so tests can hold a sync back or make it fail.
    #[doc(hidden)]
    pub fsync_hook: Option<FsyncHook>,
}

/// Replaces a batch's `fdatasync` ([`JournalOptions::fsync_hook`], a test seam): gets
/// the log file, returns what the sync returned. A hook that wants the data durable
/// calls `file.sync_data()` itself.
#[doc(hidden)]
#[derive(Clone)]
pub struct FsyncHook(pub Arc<SyncFn>);

/// The function behind an [`FsyncHook`].
#[doc(hidden)]
pub type SyncFn = dyn Fn(&File) -> std::io::Result<()> + Send + Sync;

impl std::fmt::Debug for FsyncHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FsyncHook")
    }
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            mode: 0o600,
            sharing: Sharing::SingleWriter,
            lock_timeout: std::time::Duration::from_secs(10),
            transparency: None,
            fsync_hook: None,
        }
    }
}

/// Why the journal could not do what was asked. Cloneable so one failure can be told
/// to every caller of a batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("{op}: {message}")]
    Io {
        op: &'static str,
        kind: std::io::ErrorKind,
        message: String,
    },
    #[error("audit log path is a symlink; refusing to follow it")]
    Symlink,
    #[error("audit log path is not a regular file")]
    NotRegular,
    #[error("audit log is locked by another writer")]
    Locked,
    #[error("cannot continue the chain: {0}")]
    TailUnreadable(String),
    #[error("last entry's MAC does not verify under the configured key; refusing to chain onto it")]
    TailMacMismatch,
    #[error("audit log was removed or replaced while open")]
    Removed,
    #[error("audit log was changed by another writer")]
    Diverged,
    #[error("journal stopped after an earlier write failure")]
    Poisoned,
    #[error("journal writer has stopped")]
    Stopped,
    #[error("entry refused: {0}")]
    Entry(#[from] EntryError),
    #[error("transparency: {0}")]
    Transparency(String),
}

impl JournalError {
    fn io(op: &'static str) -> impl Fn(std::io::Error) -> JournalError {
        move |e| JournalError::Io {
            op,
            kind: e.kind(),
            message: e.to_string(),
        }
    }

    /// Names a failed open of the audit log as the journal always has.
    fn from_durable(e: DurableError) -> JournalError {
        match e {
            DurableError::Symlink => JournalError::Symlink,
            DurableError::NotRegular | DurableError::Exists => JournalError::NotRegular,
            DurableError::Locked => JournalError::Locked,
            DurableError::Io { step, source } => JournalError::io(match step {
                Step::Create => "create audit log",
                Step::Open | Step::Write => "open audit log",
                Step::Stat => "stat log",
                Step::FsyncFile => "fsync log",
                Step::FsyncDir => "fsync directory",
                Step::Lock => "lock log",
            })(source),
        }
    }
}

/// One durable entry.
#[derive(Clone, Debug)]
pub struct Committed {
    pub seq: u64,
    pub entry_id: String,
    pub sealed: SealedLine,
    /// The entry's place in its group-commit batch tree, when the writer keeps them
    /// ([`writer::WriterOptions::batch_trees`], for `ed25519-batch` receipts).
    pub batch: Option<crate::log::batch::BatchSlot>,
}

/// An open audit log with its chain state.
pub struct Journal {
    file: File,
    path: PathBuf,
    key: HmacKey,
    opts: JournalOptions,
    /// Cached state (single-writer mode only; multi-process re-reads it per batch).
    state: Option<ChainState>,
    poisoned: bool,
    recovered: Vec<TornTail>,
    transparency: Option<Transparency>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("key_id", &self.key.id())
            .field("sharing", &self.opts.sharing)
            .finish()
    }
}

impl Journal {
    /// Opens (or creates) the log at `path`, recovers a torn tail and loads the chain.
    pub fn open(path: &Path, key: HmacKey, opts: JournalOptions) -> Result<Journal, JournalError> {
        let lock = match opts.sharing {
            Sharing::SingleWriter => Lock::Exclusive,
            Sharing::MultiProcess => Lock::None,
        };
        let file = durable::open_append(path, opts.mode, lock)
            .map_err(JournalError::from_durable)?
            .file;
        let mut j = Journal {
            file,
            path: path.to_path_buf(),
            key,
            opts,
            state: None,
            poisoned: false,
            recovered: Vec::new(),
            transparency: None,
        };
        // Recover now in both modes, so a torn tail is moved aside and recorded at start.
        j.commit(&mut [])?;
        if let Some(t) = j.opts.transparency.clone() {
            if j.opts.sharing != Sharing::SingleWriter {
                return Err(JournalError::Transparency(
                    "checkpoints need single-writer mode".into(),
                ));
            }
            let entries = j.chain_state()?.next_seq;
            let tr = Transparency::open(path, entries, t)
                .map_err(|e| JournalError::Transparency(e.to_string()))?;
            j.transparency = Some(tr);
        }
        Ok(j)
    }

    /// The transparency state shared with readers, when checkpoints are on.
    pub fn transparency(&self) -> Option<Arc<Shared>> {
        self.transparency.as_ref().map(Transparency::shared)
    }

    /// How often [`Journal::tick`] should run when idle (checkpoint interval).
    pub fn tick_interval(&self) -> Option<std::time::Duration> {
        self.opts.transparency.as_ref().map(|t| t.interval)
    }

    /// Signs a checkpoint covering every entry so far, if any is uncovered.
    pub fn flush_checkpoint(&mut self) {
        if let Some(t) = &mut self.transparency {
            t.flush();
        }
    }

    /// Signs a checkpoint if one is due by time.
    pub fn tick(&mut self) {
        if let Some(t) = &mut self.transparency {
            t.tick();
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True after a write or fsync failure (or the file vanished): every append fails;
    /// only a new [`Journal::open`] of the log recovers.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// What [`Journal::open`] needs to open this log again.
    pub fn reopen_params(&self) -> (PathBuf, HmacKey, JournalOptions) {
        (self.path.clone(), self.key.clone(), self.opts.clone())
    }

    pub fn key_id(&self) -> &str {
        self.key.id()
    }

    /// Torn tails moved aside by this journal so far (each also recorded as an entry).
    pub fn recovered(&self) -> &[TornTail] {
        &self.recovered
    }

    /// The next `_seq` and last `hmac` (single-writer mode: cached; multi-process: read).
    pub fn chain_state(&mut self) -> Result<ChainState, JournalError> {
        match (&self.state, self.opts.sharing) {
            (Some(s), Sharing::SingleWriter) => Ok(s.clone()),
            _ => {
                let f = &self.file;
                tail::chain_state(f, &self.key)
            }
        }
    }

    /// Appends one entry durably.
    pub fn append(&mut self, draft: EntryDraft) -> Result<Committed, JournalError> {
        self.append_batch(vec![draft])
            .pop()
            .unwrap_or(Err(JournalError::Stopped))
    }

    /// Appends entries durably with one write and one fsync; one result per draft, in
    /// order. A draft that cannot be sealed fails alone; an I/O failure fails them all.
    pub fn append_batch(
        &mut self,
        mut drafts: Vec<EntryDraft>,
    ) -> Vec<Result<Committed, JournalError>> {
        self.append_batch_in_place(&mut drafts)
    }

    /// [`Journal::append_batch`] that leaves the drafts with their caller, unchanged,
    /// so that those which failed can be handed back.
    pub fn append_batch_in_place(
        &mut self,
        drafts: &mut [EntryDraft],
    ) -> Vec<Result<Committed, JournalError>> {
        let n = drafts.len();
        match self.commit(drafts) {
            Ok(r) => r,
            Err(e) => vec![Err(e); n],
        }
    }

    fn commit(
        &mut self,
        drafts: &mut [EntryDraft],
    ) -> Result<Vec<Result<Committed, JournalError>>, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let multi = self.opts.sharing == Sharing::MultiProcess;
        if multi {
            self.lock_with_timeout()?;
        }
        let result = self.commit_locked(drafts);
        if multi {
            // Unlocking cannot lose data: the batch is already durable or failed.
            let _ = self.file.unlock();
        }
        result
    }

    fn lock_with_timeout(&self) -> Result<(), JournalError> {
        let deadline = std::time::Instant::now() + self.opts.lock_timeout;
        let mut pause = std::time::Duration::from_micros(200);
        loop {
            match self.file.try_lock() {
                Ok(()) => return Ok(()),
                Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => return Err(JournalError::Locked),
                Err(TryLockError::Error(e)) => return Err(JournalError::io("lock log")(e)),
            }
        }
    }

    fn load(&mut self) -> Result<(ChainState, Option<TornTail>), JournalError> {
        if let (Some(s), Sharing::SingleWriter) = (&self.state, self.opts.sharing) {
            let m = self.file.metadata().map_err(JournalError::io("stat log"))?;
            let on_disk = std::fs::symlink_metadata(&self.path).ok();
            let same = on_disk.is_some_and(|d| d.ino() == m.ino() && d.dev() == m.dev());
            if m.nlink() == 0 || !same {
                self.poisoned = true;
                return Err(JournalError::Removed);
            }
            if m.len() != s.len {
                self.poisoned = true;
                return Err(JournalError::Diverged);
            }
            return Ok((s.clone(), None));
        }
        let torn = tail::cut_torn_tail(&self.file, &self.path)?;
        let state = tail::chain_state(&self.file, &self.key)?;
        Ok((state, torn))
    }

    fn commit_locked(
        &mut self,
        drafts: &mut [EntryDraft],
    ) -> Result<Vec<Result<Committed, JournalError>>, JournalError> {
        let (mut state, torn) = self.load()?;
        let mut buf = Vec::new();
        let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
        let mut out = Vec::with_capacity(drafts.len());
        if let Some(t) = &torn {
            let sealed = entry::seal(
                &recovery_draft(t),
                state.next_seq,
                &state.last_hmac,
                &self.key,
            )?;
            state.next_seq += 1;
            state.last_hmac = sealed.hmac.to_hex();
            spans.push(buf.len()..buf.len() + sealed.line.len() - 1);
            buf.extend_from_slice(&sealed.line);
        }
        for d in drafts.iter_mut() {
            match entry::seal_in_place(d, state.next_seq, &state.last_hmac, &self.key) {
                Ok(sealed) => {
                    spans.push(buf.len()..buf.len() + sealed.line.len() - 1);
                    buf.extend_from_slice(&sealed.line);
                    state.last_hmac = sealed.hmac.to_hex();
                    out.push(Ok(Committed {
                        seq: state.next_seq,
                        entry_id: d.entry_id.clone(),
                        sealed,
                        batch: None,
                    }));
                    state.next_seq += 1;
                }
                Err(e) => out.push(Err(e.into())),
            }
        }
        if !buf.is_empty() {
            let written = self
                .file
                .write_all(&buf)
                .map_err(JournalError::io("write audit log"))
                .and_then(|()| {
                    match &self.opts.fsync_hook {
                        None => self.file.sync_data(),
                        Some(h) => (h.0)(&self.file),
                    }
                    .map_err(JournalError::io("fsync audit log"))
                });
            if let Err(e) = written {
                self.poisoned = true;
                self.state = None;
                return Err(e);
            }
            state.len += buf.len() as u64;
            if let Some(t) = &mut self.transparency {
                let lines: Vec<&[u8]> = spans.iter().map(|r| &buf[r.clone()]).collect();
                t.after_append(&lines);
            }
        }
        if let Some(t) = torn {
            self.recovered.push(t);
        }
        self.state = Some(state);
        Ok(out)
    }
}

/// The chain entry that records a torn tail moved aside.
fn recovery_draft(t: &TornTail) -> EntryDraft {
    let mut d = EntryDraft::new(
        "journal.recovery",
        Decision::Escalate,
        "torn last line (crash mid-write) moved aside before appending",
    );
    d.metadata.insert("event".into(), "torn_tail".into());
    d.metadata.insert("torn_bytes".into(), Value::from(t.bytes));
    d.metadata
        .insert("torn_sha256".into(), t.sha256.clone().into());
    let name = t
        .saved_to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    d.metadata.insert("saved_to".into(), name.into());
    d
}
