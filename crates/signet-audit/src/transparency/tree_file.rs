//! The `<log>.tree` file: the Merkle tree's stored hashes, beside the audit log.
//!
//! Format: raw 32-byte hashes, hash `i` at byte offset `32 * i`, in the stored-hash
//! layout of [`crate::transparency::merkle`] (so a file of `n` leaves is `32 * (2n - popcount(n))`
//! bytes). Nothing else: no header, no framing.
//!
//! Guarantees:
//! - Opened like the journal: created with mode 0600 (configurable), symlinks refused
//!   (`O_NOFOLLOW`), a new file and its directory fsync'd, an exclusive `flock` held by
//!   the one writer. A trailing partial append (bytes beyond the last whole leaf) is
//!   truncated on open: the file is derived data, recomputable from the log.
//! - [`HashFile::append_leaves`] writes a batch with one `write`; it is durable only
//!   after [`HashFile::sync`]. Any write or fsync error poisons the handle (every later
//!   append fails) so nothing is built on a possibly torn tail.
//! - The right edge of the tree stays in memory ([`CompactRange`]): appending and
//!   [`HashFile::root`] cost O(log n) hashing and no reads; proofs read O(log n)
//!   hashes with positional reads (`pread`).
//! - [`rebuild_from_log`] recomputes the file from the log's complete lines (leaf = the
//!   line without `\n`) and replaces it atomically; [`check_against_log`] compares
//!   every stored hash with the log.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::log::line::MAX_LINE;

use crate::durable::{self, DurableError, Lock, Step};
use crate::transparency::merkle::{
    CompactRange, Hash, HashReader, TreeError, leaves_for_stored_count, stored_hash_count,
};

mod recover;

pub use recover::{TreeCheck, check_against_log, rebuild_from_log};

/// Why the tree file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HashFileError {
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("tree file path is a symlink; refusing to follow it")]
    Symlink,
    #[error("tree file path is not a regular file")]
    NotRegular,
    #[error("tree file is locked by another writer")]
    Locked,
    #[error("tree file was opened read-only")]
    ReadOnly,
    #[error("tree file stopped after an earlier write failure")]
    Poisoned,
    #[error("stored hash {index} is beyond the {stored} hashes in the file")]
    OutOfRange { index: u64, stored: u64 },
    #[error("tree file is inconsistent: {0}")]
    Corrupt(String),
    #[error("audit log line {line} is longer than {MAX_LINE} bytes")]
    LineTooLong { line: u64 },
}

fn io(op: &'static str) -> impl Fn(std::io::Error) -> HashFileError {
    move |source| HashFileError::Io { op, source }
}

/// An open tree file with its in-memory right edge.
#[derive(Debug)]
pub struct HashFile {
    file: File,
    path: PathBuf,
    range: CompactRange,
    writable: bool,
    poisoned: bool,
    buf: Vec<Hash>,
}

/// Maps a failed open of the tree file to the tree file's own errors.
fn opening(e: DurableError) -> HashFileError {
    match e {
        DurableError::Symlink => HashFileError::Symlink,
        DurableError::NotRegular | DurableError::Exists => HashFileError::NotRegular,
        DurableError::Locked => HashFileError::Locked,
        DurableError::Io { step, source } => io(match step {
            Step::Stat => "stat tree file",
            Step::FsyncFile => "fsync tree file",
            Step::FsyncDir => "fsync directory",
            Step::Lock => "lock tree file",
            Step::Create | Step::Open | Step::Write => "open tree file",
        })(source),
    }
}

impl HashFile {
    /// Opens (or creates, mode 0600) the tree file for appending.
    pub fn open(path: &Path) -> Result<HashFile, HashFileError> {
        Self::open_with_mode(path, 0o600)
    }

    /// As [`HashFile::open`], with the permission bits for a new file.
    pub fn open_with_mode(path: &Path, mode: u32) -> Result<HashFile, HashFileError> {
        let file = durable::open_positional(path, mode, Lock::Exclusive)
            .map_err(opening)?
            .file;
        let len = file.metadata().map_err(io("stat tree file"))?.len();
        let (_, whole) = leaves_for_stored_count(len / 32);
        if whole * 32 != len {
            file.set_len(whole * 32)
                .map_err(io("truncate partial tree append"))?;
            file.sync_all().map_err(io("fsync tree file"))?;
        }
        Self::load(file, path, true)
    }

    /// Opens an existing tree file for reading proofs; takes no lock and ignores a
    /// partial trailing append.
    pub fn open_read_only(path: &Path) -> Result<HashFile, HashFileError> {
        let file = durable::open_read(path).map_err(opening)?;
        Self::load(file, path, false)
    }

    fn load(file: File, path: &Path, writable: bool) -> Result<HashFile, HashFileError> {
        let len = file.metadata().map_err(io("stat tree file"))?.len();
        let (leaves, stored) = leaves_for_stored_count(len / 32);
        let range = CompactRange::from_reader(
            leaves,
            &Raw {
                file: &file,
                stored,
            },
        )
        .map_err(flatten)?;
        Ok(HashFile {
            file,
            path: path.to_path_buf(),
            range,
            writable,
            poisoned: false,
            buf: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// Current root, from memory.
    pub fn root(&self) -> Hash {
        self.range.root()
    }

    /// The in-memory right edge.
    pub fn compact_range(&self) -> &CompactRange {
        &self.range
    }

    /// Read-only handles: picks up leaves appended by the writer since open (O(log n)
    /// reads); returns the new size. Serve proofs only for sizes a checkpoint covers,
    /// which the writer has made durable.
    pub fn refresh(&mut self) -> Result<u64, HashFileError> {
        if !self.writable {
            let len = self.file.metadata().map_err(io("stat tree file"))?.len();
            let (leaves, stored) = leaves_for_stored_count(len / 32);
            if leaves > self.size() {
                let raw = Raw {
                    file: &self.file,
                    stored,
                };
                self.range = CompactRange::from_reader(leaves, &raw).map_err(flatten)?;
            }
        }
        Ok(self.size())
    }

    /// Appends leaves (by leaf hash) with one write. Not durable until [`Self::sync`].
    pub fn append_leaves(&mut self, leaves: &[Hash]) -> Result<(), HashFileError> {
        if !self.writable {
            return Err(HashFileError::ReadOnly);
        }
        if self.poisoned {
            return Err(HashFileError::Poisoned);
        }
        let mut range = self.range.clone();
        self.buf.clear();
        for l in leaves {
            range.append(*l, &mut self.buf);
        }
        let at = stored_hash_count(self.range.size()) * 32;
        if let Err(e) = self.file.write_all_at(self.buf.as_flattened(), at) {
            self.poisoned = true;
            return Err(io("append tree hashes")(e));
        }
        self.range = range;
        Ok(())
    }

    /// Makes every appended hash durable (`fdatasync`).
    pub fn sync(&mut self) -> Result<(), HashFileError> {
        if self.poisoned {
            return Err(HashFileError::Poisoned);
        }
        self.file.sync_data().map_err(|e| {
            self.poisoned = true;
            io("fsync tree file")(e)
        })
    }
}

/// Maps a tree computation over the file back to a file error.
fn flatten(e: TreeError<HashFileError>) -> HashFileError {
    match e {
        TreeError::Read(e) => e,
        other => HashFileError::Corrupt(other.to_string()),
    }
}

/// Positional reads of the first `stored` hashes of a tree file.
struct Raw<'a> {
    file: &'a File,
    stored: u64,
}

impl HashReader for Raw<'_> {
    type Error = HashFileError;
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashFileError> {
        let mut out = Vec::with_capacity(indexes.len());
        for &index in indexes {
            if index >= self.stored {
                return Err(HashFileError::OutOfRange {
                    index,
                    stored: self.stored,
                });
            }
            let mut h = [0u8; 32];
            self.file
                .read_exact_at(&mut h, index * 32)
                .map_err(io("read tree hash"))?;
            out.push(h);
        }
        Ok(out)
    }
}

impl HashReader for HashFile {
    type Error = HashFileError;
    /// Reads only hashes of the leaves this handle knows (never a partial append).
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashFileError> {
        Raw {
            file: &self.file,
            stored: stored_hash_count(self.range.size()),
        }
        .read_hashes(indexes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::merkle::{
        MemStore, consistency_proof, inclusion_proof, leaf_hash, tree_hash,
    };
    use std::fs::OpenOptions;
    use std::io::Write;

    fn lines(n: u64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{{\"seq\":{i}}}").into_bytes())
            .collect()
    }

    #[test]
    fn file_store_matches_memory_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a.tree");
        let ls = lines(45);
        let mut mem = MemStore::new();
        let mut f = HashFile::open(&p).expect("open");
        assert!(matches!(HashFile::open(&p), Err(HashFileError::Locked)));
        for chunk in ls.chunks(7) {
            let hs: Vec<Hash> = chunk.iter().map(|l| leaf_hash(l)).collect();
            hs.iter().for_each(|h| mem.append_leaf(*h).expect("mem"));
            f.append_leaves(&hs).expect("append");
            f.sync().expect("sync");
            assert_eq!(f.root(), tree_hash(mem.size(), &mem).expect("root"));
        }
        assert_eq!(
            std::fs::read(&p).expect("read"),
            mem.hashes().as_flattened()
        );
        drop(f);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&p).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        // A torn append is cut back to the last whole leaf on open.
        let mut raw = OpenOptions::new().append(true).open(&p).expect("raw");
        raw.write_all(&[7u8; 40]).expect("tear");
        drop(raw);
        let f = HashFile::open(&p).expect("reopen");
        assert_eq!(f.size(), 45);
        assert_eq!(f.root(), tree_hash(45, &mem).expect("root"));
        for (i, m) in [(0u64, 1u64), (17, 30), (44, 45)] {
            assert_eq!(
                inclusion_proof(i, m, &f).ok(),
                inclusion_proof(i, m, &mem).ok()
            );
            assert_eq!(
                consistency_proof(m, 45, &f).ok(),
                consistency_proof(m, 45, &mem).ok()
            );
        }
    }

    #[test]
    fn read_only_handle_refreshes() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.tree");
        let mut w = HashFile::open(&p).expect("writer");
        w.append_leaves(&[leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
            .expect("append");
        let mut r = HashFile::open_read_only(&p).expect("reader");
        w.append_leaves(&[leaf_hash(b"d")]).expect("append");
        assert_eq!(r.size(), 3);
        assert_eq!(r.refresh().expect("refresh"), 4);
        assert_eq!(r.root(), w.root());
        assert!(matches!(
            r.append_leaves(&[[0; 32]]),
            Err(HashFileError::ReadOnly)
        ));
    }
}
