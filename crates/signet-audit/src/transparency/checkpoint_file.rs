//! The append-only `<log>.checkpoints` store of signed checkpoint notes.
//!
//! Framing, byte for byte: the file is a sequence of records
//!
//! ```text
//! "checkpoint " LEN "\n" NOTE "end " LEN "\n"
//! ```
//!
//! where `NOTE` is the signed checkpoint note exactly as signed (UTF-8, ending in
//! `\n`) and `LEN` its length in bytes, in decimal without leading zeros, between 1
//! and [`crate::transparency::note::MAX_NOTE_LEN`]. The length before the note lets a reader walk
//! forward; the same length after it lets [`CheckpointFile::open`] find the latest
//! record from the end of the file in O(1) reads. `cat` still shows the notes.
//!
//! Guarantees:
//! - Opened like the journal: mode 0600, symlinks refused, a new file and its
//!   directory fsync'd, an exclusive `flock` for the one writer.
//! - [`CheckpointFile::append`] stores a note only if it verifies under the log key,
//!   its origin is the log key's name and that of the latest stored checkpoint, its
//!   size is not smaller, and the caller's consistency proof from the latest checkpoint
//!   verifies: two inconsistent checkpoints are never stored. The record is written
//!   with one `write` and fsync'd before `append` returns; any error poisons the handle.
//! - An incomplete last record (a crash mid-append) is moved to `<file>.torn-<ts_ns>`,
//!   made durable there, then cut off; a damaged complete record is an error, never
//!   silently dropped.
//!
//! Assumes the latest stored record is the store's own: its size and root are read
//! back without re-checking its signature (so the log key may rotate);
//! [`read_all`] plus [`crate::transparency::note::open_checkpoint`] is the verifier's path.

mod disk;
mod framing;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::transparency::merkle::{Hash, ProofError, empty_root, verify_consistency};
use crate::transparency::note::{Checkpoint, NoteError, Verifier, open_checkpoint, parse_note};
use disk::{move_aside, open_locked};
use framing::{Record, Scan, last_record_start, record_at, scan};

pub use framing::{encode_record, read_all};

/// Why the checkpoint store refused to open or append.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFileError {
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint file path is a symlink; refusing to follow it")]
    Symlink,
    #[error("checkpoint file path is not a regular file")]
    NotRegular,
    #[error("checkpoint file is locked by another writer")]
    Locked,
    #[error("checkpoint file stopped after an earlier write failure")]
    Poisoned,
    #[error("damaged checkpoint record at byte {offset}: {what}")]
    Framing { offset: u64, what: &'static str },
    #[error("checkpoint refused: {0}")]
    Note(#[from] NoteError),
    #[error("checkpoint origin {new:?} differs from the stored origin {old:?}")]
    OriginChanged { old: String, new: String },
    #[error("checkpoint size {new} is smaller than the stored size {old}")]
    Shrinks { old: u64, new: u64 },
    #[error(
        "checkpoint of size {new} is not consistent with the stored one of size {old}: {source}"
    )]
    Inconsistent {
        old: u64,
        new: u64,
        #[source]
        source: ProofError,
    },
}

pub(crate) fn io(op: &'static str) -> impl Fn(std::io::Error) -> CheckpointFileError {
    move |source| CheckpointFileError::Io { op, source }
}

/// A stored checkpoint: the note as signed, and its parsed text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub note: String,
    pub checkpoint: Checkpoint,
}

/// What [`CheckpointFile::append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written and fsync'd.
    Stored,
    /// Same size and root as the latest stored checkpoint: nothing written.
    Unchanged,
}

fn parse_stored(note: String, offset: u64) -> Result<StoredCheckpoint, CheckpointFileError> {
    let damaged = |_| CheckpointFileError::Framing {
        offset,
        what: "stored note is not a checkpoint",
    };
    let checkpoint = parse_note(&note)
        .and_then(|p| Checkpoint::parse(p.text))
        .map_err(damaged)?;
    Ok(StoredCheckpoint { note, checkpoint })
}

/// The open checkpoint store (single writer).
#[derive(Debug)]
pub struct CheckpointFile {
    file: File,
    path: PathBuf,
    log_key: Verifier,
    latest: Option<StoredCheckpoint>,
    poisoned: bool,
    recovered: Option<PathBuf>,
}

impl CheckpointFile {
    /// Opens (or creates) the store; new notes must verify under `log_key`.
    pub fn open(path: &Path, log_key: Verifier) -> Result<CheckpointFile, CheckpointFileError> {
        let file = open_locked(path)?;
        let len = file.metadata().map_err(io("stat checkpoint file"))?.len();
        let mut latest = None;
        let mut recovered = None;
        if let Some(start) = last_record_start(&file, len)?
            && let Record::Complete { note, end } = record_at(&file, start, len)?
            && end == len
        {
            latest = Some(parse_stored(note, start)?);
        } else if len > 0 {
            let Scan {
                mut notes,
                end,
                torn,
            } = scan(&file, len)?;
            if torn {
                recovered = Some(move_aside(&file, path, end, len)?);
            }
            if let Some((at, note)) = notes.pop() {
                latest = Some(parse_stored(note, at)?);
            }
        }
        Ok(CheckpointFile {
            file,
            path: path.to_path_buf(),
            log_key,
            latest,
            poisoned: false,
            recovered,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The most recent stored checkpoint.
    pub fn latest(&self) -> Option<&StoredCheckpoint> {
        self.latest.as_ref()
    }

    /// Where an incomplete last record was moved on open, if one was.
    pub fn recovered(&self) -> Option<&Path> {
        self.recovered.as_deref()
    }

    /// Stores `note` after checking it against the latest checkpoint with `proof`, the
    /// consistency proof from the latest stored size to the note's size (empty when
    /// nothing is stored yet, the stored tree is empty, or the sizes are equal).
    pub fn append(&mut self, note: &str, proof: &[Hash]) -> Result<Appended, CheckpointFileError> {
        if self.poisoned {
            return Err(CheckpointFileError::Poisoned);
        }
        let cp = open_checkpoint(note, &self.log_key)?;
        let root_fits = |size: u64, root: &Hash| size != 0 || *root == empty_root();
        if !root_fits(cp.size, &cp.root) {
            return Err(CheckpointFileError::Inconsistent {
                old: 0,
                new: 0,
                source: ProofError::RootMismatch,
            });
        }
        if let Some(last) = &self.latest {
            let old = &last.checkpoint;
            if old.origin != cp.origin {
                return Err(CheckpointFileError::OriginChanged {
                    old: old.origin.clone(),
                    new: cp.origin,
                });
            }
            if cp.size < old.size {
                return Err(CheckpointFileError::Shrinks {
                    old: old.size,
                    new: cp.size,
                });
            }
            let checked = if old.size == 0 && cp.size > 0 {
                // Every tree extends the empty tree, whose root is fixed.
                match root_fits(old.size, &old.root) {
                    true => Ok(()),
                    false => Err(ProofError::RootMismatch),
                }
            } else {
                verify_consistency(proof, old.size, cp.size, &old.root, &cp.root)
            };
            checked.map_err(|source| CheckpointFileError::Inconsistent {
                old: old.size,
                new: cp.size,
                source,
            })?;
            if old.size == cp.size {
                return Ok(Appended::Unchanged);
            }
        }
        let write = (&self.file)
            .write_all(&encode_record(note))
            .map_err(io("append checkpoint"))
            .and_then(|()| self.file.sync_data().map_err(io("fsync checkpoint file")));
        if let Err(e) = write {
            self.poisoned = true;
            return Err(e);
        }
        self.latest = Some(StoredCheckpoint {
            note: note.to_owned(),
            checkpoint: cp,
        });
        Ok(Appended::Stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::merkle::{MemStore, consistency_proof, leaf_hash, tree_hash};
    use crate::transparency::note::sign_checkpoint;
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "test.example/log";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn store(n: u64, tag: &str) -> MemStore {
        let mut s = MemStore::new();
        for i in 0..n {
            s.append_leaf(leaf_hash(format!("{tag}{i}").as_bytes()))
                .expect("append");
        }
        s
    }

    fn note(s: &MemStore, n: u64, k: &SigningKey) -> String {
        let cp = Checkpoint::new(ORIGIN, n, tree_hash(n, s).expect("root"));
        sign_checkpoint(&cp, k).expect("sign")
    }

    fn verifier() -> Verifier {
        Verifier::new(ORIGIN, key().verifying_key()).expect("verifier")
    }

    #[test]
    fn appends_reopens_and_reads_all() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("audit.jsonl.checkpoints");
        let s = store(12, "e");
        let mut f = CheckpointFile::open(&p, verifier()).expect("open");
        assert!(matches!(
            CheckpointFile::open(&p, verifier()),
            Err(CheckpointFileError::Locked)
        ));
        let empty_tree = note(&s, 0, &key());
        assert_eq!(f.append(&empty_tree, &[]).expect("0"), Appended::Stored);
        assert_eq!(
            f.append(&note(&s, 3, &key()), &[])
                .expect("from the empty tree"),
            Appended::Stored
        );
        let p7 = consistency_proof(3, 7, &s).expect("proof");
        assert_eq!(
            f.append(&note(&s, 7, &key()), &p7).expect("7"),
            Appended::Stored
        );
        assert_eq!(
            f.append(&note(&s, 7, &key()), &[]).expect("same"),
            Appended::Unchanged
        );
        let p12 = consistency_proof(7, 12, &s).expect("proof");
        f.append(&note(&s, 12, &key()), &p12).expect("12");
        drop(f);
        let bytes = std::fs::read(&p).expect("read");
        let first = empty_tree;
        assert!(bytes.starts_with(
            format!("checkpoint {}\n{first}end {}\n", first.len(), first.len()).as_bytes()
        ));
        let f = CheckpointFile::open(&p, verifier()).expect("reopen");
        assert_eq!(f.latest().expect("latest").checkpoint.size, 12);
        assert_eq!(
            read_all(&p).expect("all"),
            [
                first,
                note(&s, 3, &key()),
                note(&s, 7, &key()),
                note(&s, 12, &key())
            ]
        );
    }

    #[test]
    fn refuses_forks_shrinking_and_foreign_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("c");
        let (s, fork) = (store(10, "e"), store(10, "forged"));
        let mut f = CheckpointFile::open(&p, verifier()).expect("open");
        f.append(&note(&s, 5, &key()), &[]).expect("5");
        let len = std::fs::metadata(&p).expect("stat").len();
        let fork_proof = consistency_proof(5, 9, &fork).expect("fork proof");
        let err = f.append(&note(&fork, 9, &key()), &fork_proof);
        assert!(matches!(
            err,
            Err(CheckpointFileError::Inconsistent { old: 5, new: 9, .. })
        ));
        let err = f.append(&note(&fork, 5, &key()), &[]);
        assert!(matches!(err, Err(CheckpointFileError::Inconsistent { .. })));
        let bogus_empty = Checkpoint::new(ORIGIN, 0, [1; 32]);
        let err = f.append(&sign_checkpoint(&bogus_empty, &key()).expect("sign"), &[]);
        assert!(matches!(err, Err(CheckpointFileError::Inconsistent { .. })));
        let err = f.append(&note(&s, 4, &key()), &[]);
        assert!(matches!(
            err,
            Err(CheckpointFileError::Shrinks { old: 5, new: 4 })
        ));
        let other = SigningKey::from_bytes(&[6; 32]);
        let err = f.append(
            &note(&s, 9, &other),
            &consistency_proof(5, 9, &s).expect("p"),
        );
        assert!(matches!(
            err,
            Err(CheckpointFileError::Note(NoteError::NoKnownSignature))
        ));
        assert_eq!(
            std::fs::metadata(&p).expect("stat").len(),
            len,
            "nothing was written"
        );
    }

    #[test]
    fn torn_record_is_moved_aside_and_damage_is_reported() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("c");
        let s = store(8, "e");
        let mut f = CheckpointFile::open(&p, verifier()).expect("open");
        f.append(&note(&s, 2, &key()), &[]).expect("2");
        drop(f);
        let good = std::fs::read(&p).expect("read");
        let torn = encode_record(&note(&s, 8, &key()));
        for cut in [3, 20, torn.len() - 1] {
            std::fs::write(&p, [&good[..], &torn[..cut]].concat()).expect("tear");
            assert!(read_all(&p).is_err(), "strict reader accepts a torn record");
            let f = CheckpointFile::open(&p, verifier()).expect("recover");
            assert_eq!(f.latest().expect("latest").checkpoint.size, 2);
            let side = f.recovered().expect("moved aside").to_path_buf();
            assert_eq!(std::fs::read(&side).expect("side"), &torn[..cut]);
            assert_eq!(std::fs::read(&p).expect("read"), good);
            drop(f);
            std::fs::remove_file(side).expect("rm");
        }
        // A flipped length in a complete record is damage, not a torn tail.
        let mut damaged = [&good[..], &torn[..]].concat();
        damaged[good.len() + 11] = b'9';
        std::fs::write(&p, &damaged).expect("damage");
        assert!(matches!(
            CheckpointFile::open(&p, verifier()),
            Err(CheckpointFileError::Framing { .. })
        ));
    }
}
