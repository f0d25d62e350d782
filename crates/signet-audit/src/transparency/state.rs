//! The journal's transparency side: the Merkle tree over the log lines (`<log>.tree`)
//! and signed checkpoints (`<log>.checkpoints`), kept by the journal writer.
//!
//! Guarantees:
//! - Leaf `i` of the tree is line `i` of the log (`_seq`), hashed as RFC 6962 leaves;
//!   appending costs O(log n) hashing; nothing is rescanned. A tree file that is behind
//!   the log (crash between the log's fsync and the tree's write) is caught up from the
//!   log at open; one that is ahead is rebuilt from the log.
//! - A checkpoint is signed only over entries the journal has already made durable
//!   (the hook runs after the log's fsync), after the tree file is fsync'd, every
//!   `every` entries or `interval` (whichever first), and stored only when it is
//!   consistent with the previous one (checked with a consistency proof).
//! - Opening refuses to extend a log that contradicts its own signed checkpoints: a log
//!   shorter than the latest checkpoint (`Truncated`) or whose prefix hashes to another
//!   root (`Fork`), and a changed origin.
//! - A failure here never loses or blocks audit entries: it is counted, published, and
//!   checkpointing stops until restart (the verifier then reports the gap).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use crate::durable::SideFile;
use crate::transparency::checkpoint_file::{CheckpointFile, CheckpointFileError};
use crate::transparency::merkle::{self, Hash};
use crate::transparency::note::{self, Checkpoint, NoteError, Verifier};
use crate::transparency::tree_file::{self, HashFile, HashFileError};

/// How checkpoints are made.
#[derive(Clone)]
pub struct TransparencyOptions {
    /// The Ed25519 log key.
    pub log_key: SigningKey,
    /// Origin line of checkpoints and the signed-note key name.
    pub origin: String,
    /// Sign after this many new entries...
    pub every: u64,
    /// ...or this long after the last checkpoint, when entries are waiting.
    pub interval: Duration,
}

impl std::fmt::Debug for TransparencyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyOptions")
            .field("origin", &self.origin)
            .field("every", &self.every)
            .field("interval", &self.interval)
            .field("log_key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransparencyError {
    #[error("tree file: {0}")]
    Tree(#[from] HashFileError),
    #[error("checkpoint file: {0}")]
    Checkpoints(#[from] CheckpointFileError),
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    #[error(
        "the log has {log} entries but a signed checkpoint covers {checkpoint}: entries were cut from the log"
    )]
    Truncated { log: u64, checkpoint: u64 },
    #[error(
        "the log's first {size} entries do not hash to the signed checkpoint's root: the log was rewritten"
    )]
    Fork { size: u64 },
    #[error(
        "configured origin {configured:?} differs from the stored checkpoints' origin {stored:?}"
    )]
    Origin { configured: String, stored: String },
    #[error("merkle: {0}")]
    Merkle(String),
}

/// The latest signed checkpoint, shared with readers (endpoints, anchoring).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub note: String,
    pub size: u64,
    pub root: Hash,
}

/// State readable from other threads.
#[derive(Debug, Default)]
pub struct Shared {
    latest: Mutex<Option<Published>>,
    /// Checkpointing failures (checkpointing stops at the first).
    pub failures: AtomicU64,
    /// Checkpoints signed by this process.
    pub signed: AtomicU64,
    error: Mutex<Option<String>>,
}

impl Shared {
    pub fn latest(&self) -> Option<Published> {
        self.latest.lock().ok().and_then(|g| g.clone())
    }
    /// Why checkpointing stopped, once it has.
    pub fn failure(&self) -> Option<String> {
        self.error.lock().ok().and_then(|g| g.clone())
    }
    fn publish(&self, p: Published) {
        if let Ok(mut g) = self.latest.lock() {
            *g = Some(p);
        }
    }
}

/// The tree and checkpoint signer of one journal.
pub struct Transparency {
    tree: HashFile,
    checkpoints: CheckpointFile,
    opts: TransparencyOptions,
    since: u64,
    last_at: Instant,
    failed: bool,
    shared: Arc<Shared>,
}

fn merkle_err<E: std::fmt::Debug>(e: merkle::TreeError<E>) -> TransparencyError {
    TransparencyError::Merkle(format!("{e:?}"))
}

impl Transparency {
    /// Opens the tree and checkpoints beside `log`, which holds `entries` lines.
    pub fn open(
        log: &Path,
        entries: u64,
        opts: TransparencyOptions,
    ) -> Result<Transparency, TransparencyError> {
        let tree_path = SideFile::Tree.of(log);
        let mut tree = HashFile::open(&tree_path)?;
        if tree.size() > entries {
            drop(tree);
            tree_file::rebuild_from_log(log, &tree_path)?;
            tree = HashFile::open(&tree_path)?;
        } else if tree.size() < entries {
            tree.catch_up_from_log(log)?;
        }
        let verifier = Verifier::new(&opts.origin, opts.log_key.verifying_key())?;
        let checkpoints = CheckpointFile::open(&SideFile::Checkpoints.of(log), verifier)?;
        let shared = Arc::new(Shared::default());
        let mut covered = 0;
        if let Some(latest) = checkpoints.latest() {
            let cp = &latest.checkpoint;
            if cp.origin != opts.origin {
                return Err(TransparencyError::Origin {
                    configured: opts.origin.clone(),
                    stored: cp.origin.clone(),
                });
            }
            if cp.size > tree.size() {
                return Err(TransparencyError::Truncated {
                    log: tree.size(),
                    checkpoint: cp.size,
                });
            }
            let mut root = prefix_root(&tree, cp.size)?;
            if root != cp.root {
                // The tree file may be stale or damaged; the log decides.
                drop(tree);
                tree_file::rebuild_from_log(log, &tree_path)?;
                tree = HashFile::open(&tree_path)?;
                root = prefix_root(&tree, cp.size)?;
                if root != cp.root {
                    return Err(TransparencyError::Fork { size: cp.size });
                }
            }
            covered = cp.size;
            shared.publish(Published {
                note: latest.note.clone(),
                size: cp.size,
                root: cp.root,
            });
        }
        let since = tree.size() - covered;
        Ok(Transparency {
            tree,
            checkpoints,
            opts,
            since,
            last_at: Instant::now(),
            failed: false,
            shared,
        })
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Adds durable log lines (each without `\n`) and signs a checkpoint when due.
    pub fn after_append(&mut self, lines: &[&[u8]]) {
        if self.failed || lines.is_empty() {
            return;
        }
        let leaves: Vec<Hash> = lines.iter().map(|l| merkle::leaf_hash(l)).collect();
        if let Err(e) = self.tree.append_leaves(&leaves) {
            self.fail(&e);
            return;
        }
        self.since += leaves.len() as u64;
        self.tick();
    }

    /// Signs a checkpoint if one is due (entries waiting and count or time reached).
    pub fn tick(&mut self) {
        if self.failed || self.since == 0 {
            return;
        }
        let due = self.since >= self.opts.every || self.last_at.elapsed() >= self.opts.interval;
        if due && let Err(e) = self.sign() {
            self.fail(&e);
        }
    }

    /// Signs a checkpoint now if any entry is not yet covered (used at shutdown).
    pub fn flush(&mut self) {
        if !self.failed
            && self.since > 0
            && let Err(e) = self.sign()
        {
            self.fail(&e);
        }
    }

    /// True once checkpointing has stopped after an error.
    pub fn failed(&self) -> bool {
        self.failed
    }

    fn fail(&mut self, e: &dyn std::fmt::Display) {
        if let Ok(mut g) = self.shared.error.lock() {
            *g = Some(e.to_string());
        }
        self.failed = true;
        self.shared.failures.fetch_add(1, Ordering::Relaxed);
    }

    fn sign(&mut self) -> Result<(), TransparencyError> {
        let size = self.tree.size();
        let root = self.tree.root();
        let proof = match self.checkpoints.latest() {
            Some(l) if l.checkpoint.size > 0 && l.checkpoint.size < size => {
                merkle::consistency_proof(l.checkpoint.size, size, &self.tree)
                    .map_err(merkle_err)?
            }
            _ => Vec::new(),
        };
        let cp = Checkpoint::new(&self.opts.origin, size, root);
        let signed = note::sign_checkpoint(&cp, &self.opts.log_key)?;
        self.tree.sync()?;
        self.checkpoints.append(&signed, &proof)?;
        self.shared.publish(Published {
            note: signed,
            size,
            root,
        });
        self.shared.signed.fetch_add(1, Ordering::Relaxed);
        self.since = 0;
        self.last_at = Instant::now();
        Ok(())
    }
}

fn prefix_root(tree: &HashFile, size: u64) -> Result<Hash, TransparencyError> {
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    merkle::tree_hash(size, tree).map_err(merkle_err)
}
