//! Opening and repairing the checkpoint file with the journal's care.
//!
//! Guarantees: the file is created with mode 0600 and `O_EXCL`, never through a
//! symlink (`O_NOFOLLOW`), fsync'd with its directory when new, and held under an
//! exclusive `flock`. Bytes cut from a torn tail are first copied to a durable side
//! file, so no byte of evidence is erased.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::framing::read_at;
use super::{CheckpointFileError, io};
use crate::durable::{self, DurableError, Lock, Step};

pub(super) fn open_locked(path: &Path) -> Result<File, CheckpointFileError> {
    durable::open_append(path, 0o600, Lock::Exclusive)
        .map(|o| o.file)
        .map_err(|e| match e {
            DurableError::Symlink => CheckpointFileError::Symlink,
            DurableError::NotRegular | DurableError::Exists => CheckpointFileError::NotRegular,
            DurableError::Locked => CheckpointFileError::Locked,
            DurableError::Io { step, source } => io(match step {
                Step::Stat => "stat checkpoint file",
                Step::FsyncFile => "fsync checkpoint file",
                Step::FsyncDir => "fsync directory",
                Step::Lock => "lock checkpoint file",
                Step::Create | Step::Open | Step::Write => "open checkpoint file",
            })(source),
        })
}

/// Copies bytes `[from, len)` to a durable side file, then truncates them away.
pub(super) fn move_aside(
    file: &File,
    path: &Path,
    from: u64,
    len: u64,
) -> Result<PathBuf, CheckpointFileError> {
    let torn = read_at(file, from, len - from)?;
    let side = durable::torn_path(path);
    durable::write_new(&side, &torn, 0o600).map_err(|e| match e {
        DurableError::Io { step, source } => io(match step {
            Step::Write => "write torn-record file",
            Step::FsyncFile => "fsync torn-record file",
            Step::FsyncDir => "fsync directory",
            _ => "create torn-record file",
        })(source),
        other => io("create torn-record file")(other.into()),
    })?;
    file.set_len(from).map_err(io("truncate torn record"))?;
    file.sync_all().map_err(io("fsync checkpoint file"))?;
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn symlinks_refused_and_torn_bytes_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("c");
        let f = open_locked(&p).expect("create");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&p).expect("stat").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        (&f).write_all(b"keep|torn").expect("write");
        let side = move_aside(&f, &p, 4, 9).expect("move aside");
        assert_eq!(std::fs::read(&side).expect("side"), b"|torn");
        assert_eq!(std::fs::read(&p).expect("file"), b"keep");
        std::os::unix::fs::symlink(&p, dir.path().join("l")).expect("symlink");
        assert!(matches!(
            open_locked(&dir.path().join("l")),
            Err(CheckpointFileError::Symlink)
        ));
    }
}
