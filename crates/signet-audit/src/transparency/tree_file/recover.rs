//! Recovery of the `<log>.tree` file from the audit log itself.
//!
//! Guarantees: only complete lines (ending in `\n`) are leaves, each hashed without
//! its `\n`; a torn last line is not a leaf. A line longer than [`MAX_LINE`] is an
//! error, so memory stays bounded. [`rebuild_from_log`] writes a fresh file (mode
//! 0600, `O_EXCL`), fsyncs it, renames it over the old one and fsyncs the directory,
//! so a crash leaves either the old file or the complete new one.
//! [`HashFile::catch_up_from_log`] hashes only the lines the file lacks (after a crash
//! between the log's fsync and the tree's). All read the log once, sequentially: they
//! are for start-up and audits, not for the request path.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use super::{HashFile, HashFileError, io, opening};
use crate::durable::{self, DurableError};
use crate::log::line::MAX_LINE;
use crate::transparency::merkle::{CompactRange, Hash, leaf_hash, leaves_for_stored_count};

/// Calls `f` with every complete line of the log (without `\n`), in order.
fn for_each_line(
    log: &Path,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), HashFileError>,
) -> Result<u64, HashFileError> {
    let file = File::open(log).map_err(io("open audit log"))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io("read audit log"))?;
        match line.last() {
            Some(b'\n') => {}
            _ if line.len() > MAX_LINE => {
                return Err(HashFileError::LineTooLong { line: n });
            }
            // End of file, or a torn tail that is not (yet) an entry.
            _ => return Ok(n),
        }
        f(n, &line[..line.len() - 1])?;
        n += 1;
    }
}

impl HashFile {
    /// Appends and syncs the leaves of the log lines this file does not hold yet;
    /// returns how many. Trusts the stored prefix ([`check_against_log`] checks it); a
    /// log with fewer lines than the file has leaves is `Corrupt`: rebuild the file.
    pub fn catch_up_from_log(&mut self, log_path: &Path) -> Result<u64, HashFileError> {
        let have = self.size();
        let mut pending = Vec::new();
        let lines = for_each_line(log_path, |i, line| {
            if i >= have {
                pending.push(leaf_hash(line));
                if pending.len() >= 1024 {
                    self.append_leaves(&pending)?;
                    pending.clear();
                }
            }
            Ok(())
        })?;
        if lines < have {
            return Err(HashFileError::Corrupt(format!(
                "{have} leaves stored but the log has only {lines} complete lines"
            )));
        }
        self.append_leaves(&pending)?;
        self.sync()?;
        Ok(lines - have)
    }
}

/// Recomputes the tree file from the log and atomically replaces `tree_path` with it.
/// Returns the number of leaves and the root. Run it while no writer has the file open.
pub fn rebuild_from_log(log_path: &Path, tree_path: &Path) -> Result<(u64, Hash), HashFileError> {
    let tmp = durable::side_path(tree_path, &format!(".rebuild-{}", crate::util::now_ns()));
    let mut file = durable::create_new(&tmp, 0o600).map_err(|e| match e {
        DurableError::Io { source, .. } => io("create tree file")(source),
        other => io("create tree file")(other.into()),
    })?;
    let mut range = CompactRange::new();
    let mut buf = Vec::new();
    let result = for_each_line(log_path, |_, line| {
        range.append(leaf_hash(line), &mut buf);
        if buf.len() >= 4096 {
            file.write_all(buf.as_flattened())
                .map_err(io("write tree file"))?;
            buf.clear();
        }
        Ok(())
    })
    .and_then(|_| {
        file.write_all(buf.as_flattened())
            .map_err(io("write tree file"))
    })
    .and_then(|()| file.sync_all().map_err(io("fsync tree file")))
    .and_then(|()| std::fs::rename(&tmp, tree_path).map_err(io("replace tree file")));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    durable::fsync_dir(tree_path).map_err(io("fsync directory"))?;
    Ok((range.size(), range.root()))
}

/// Outcome of [`check_against_log`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeCheck {
    /// Complete lines in the log.
    pub log_leaves: u64,
    /// Whole leaves in the tree file.
    pub tree_leaves: u64,
    /// First leaf whose stored hashes differ from the log's, if any.
    pub first_mismatch: Option<u64>,
    /// Root of the log's tree.
    pub log_root: Hash,
}

impl TreeCheck {
    /// The file holds exactly the log's tree.
    pub fn is_ok(&self) -> bool {
        self.first_mismatch.is_none() && self.log_leaves == self.tree_leaves
    }
}

/// Compares every stored hash of the tree file with the hashes of the log's lines.
pub fn check_against_log(log_path: &Path, tree_path: &Path) -> Result<TreeCheck, HashFileError> {
    let file = durable::open_read(tree_path).map_err(opening)?;
    let len = file.metadata().map_err(io("stat tree file"))?.len();
    let (tree_leaves, _) = leaves_for_stored_count(len / 32);
    let mut tree = BufReader::with_capacity(1 << 16, file);
    let mut range = CompactRange::new();
    let (mut want, mut got) = (Vec::new(), [0u8; 32]);
    let mut first_mismatch = None;
    let log_leaves = for_each_line(log_path, |i, line| {
        want.clear();
        range.append(leaf_hash(line), &mut want);
        if i < tree_leaves && first_mismatch.is_none() {
            for w in &want {
                tree.read_exact(&mut got).map_err(io("read tree file"))?;
                if &got != w {
                    first_mismatch = Some(i);
                    break;
                }
            }
        }
        Ok(())
    })?;
    if first_mismatch.is_none() && tree_leaves > log_leaves {
        first_mismatch = Some(log_leaves);
    }
    Ok(TreeCheck {
        log_leaves,
        tree_leaves,
        first_mismatch,
        log_root: range.root(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::HashFile;
    use super::*;

    fn lines(n: u64) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{{\"seq\":{i}}}").into_bytes())
            .collect()
    }

    #[test]
    fn rebuild_and_check_against_log() {
        let dir = tempfile::tempdir().expect("tmp");
        let (log, tree) = (
            dir.path().join("audit.jsonl"),
            dir.path().join("audit.jsonl.tree"),
        );
        let mut text: Vec<u8> = lines(20).join(&b"\n"[..]);
        text.extend_from_slice(b"\n{\"torn");
        std::fs::write(&log, &text).expect("log");
        let (n, root) = rebuild_from_log(&log, &tree).expect("rebuild");
        assert_eq!(n, 20);
        let f = HashFile::open_read_only(&tree).expect("open");
        assert_eq!((f.size(), f.root()), (20, root));
        let check = check_against_log(&log, &tree).expect("check");
        assert!(check.is_ok(), "{check:?}");
        // A tree 6 leaves behind the log catches up; a log shorter than it is refused.
        let (log14, tree14) = (dir.path().join("l14"), dir.path().join("t14"));
        let text14 = [&lines(14).join(&b"\n"[..])[..], b"\n"].concat();
        std::fs::write(&log14, text14).expect("log14");
        rebuild_from_log(&log14, &tree14).expect("rebuild 14");
        let mut f14 = HashFile::open(&tree14).expect("open");
        assert_eq!(f14.catch_up_from_log(&log).expect("catch up"), 6);
        assert_eq!(f14.root(), root);
        let short = dir.path().join("short");
        std::fs::write(&short, b"{}\n").expect("short");
        assert!(f14.catch_up_from_log(&short).is_err());
        // Rewrite line 9: the check names the first differing leaf.
        let forged = String::from_utf8(text)
            .expect("utf8")
            .replace("\"seq\":9}", "\"seq\":99}");
        std::fs::write(&log, forged).expect("forge");
        let check = check_against_log(&log, &tree).expect("check");
        assert_eq!(check.first_mismatch, Some(9));
        std::os::unix::fs::symlink(&tree, dir.path().join("link")).expect("symlink");
        assert!(matches!(
            HashFile::open(&dir.path().join("link")),
            Err(HashFileError::Symlink)
        ));
    }
}
