//! Opening and repairing the checkpoint file with the journal's care.
//!
//! Guarantees: the file is created with mode 0600 and `O_EXCL`, never through a
//! symlink (`O_NOFOLLOW`), fsync'd with its directory when new, and held under an
//! exclusive `flock`. Bytes cut from a torn tail are first copied to a durable side
//! file, so no byte of evidence is erased.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::framing::read_at;
use super::{CheckpointFileError, io};

pub(super) fn open_locked(path: &Path) -> Result<File, CheckpointFileError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(CheckpointFileError::Symlink),
        Ok(m) if !m.file_type().is_file() => return Err(CheckpointFileError::NotRegular),
        _ => {}
    }
    let mut o = OpenOptions::new();
    o.read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    let (file, created) = match o.clone().create_new(true).mode(0o600).open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => (o.open(path), false),
        r => (r, true),
    };
    let file = file.map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => CheckpointFileError::Symlink,
        _ => io("open checkpoint file")(e),
    })?;
    if !file
        .metadata()
        .map_err(io("stat checkpoint file"))?
        .is_file()
    {
        return Err(CheckpointFileError::NotRegular);
    }
    if created {
        file.sync_all().map_err(io("fsync checkpoint file"))?;
        fsync_dir(path)?;
    }
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(CheckpointFileError::Locked),
        Err(TryLockError::Error(e)) => Err(io("lock checkpoint file")(e)),
    }
}

pub(super) fn fsync_dir(path: &Path) -> Result<(), CheckpointFileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory"))
}

/// Copies bytes `[from, len)` to a durable side file, then truncates them away.
pub(super) fn move_aside(
    file: &File,
    path: &Path,
    from: u64,
    len: u64,
) -> Result<PathBuf, CheckpointFileError> {
    let torn = read_at(file, from, len - from)?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".torn-{}", crate::util::now_ns()));
    let side = path.with_file_name(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&side)
        .map_err(io("create torn-record file"))?;
    f.write_all(&torn).map_err(io("write torn-record file"))?;
    f.sync_all().map_err(io("fsync torn-record file"))?;
    fsync_dir(path)?;
    file.set_len(from).map_err(io("truncate torn record"))?;
    file.sync_all().map_err(io("fsync checkpoint file"))?;
    Ok(side)
}

#[cfg(test)]
mod tests {
    use super::*;

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
