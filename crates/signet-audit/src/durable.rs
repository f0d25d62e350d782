//! Durable files: the one place that opens, creates, locks and fsyncs the audit log and
//! every file kept beside it (tree, checkpoints, anchors, torn tails, key files).
//!
//! Guarantees:
//! - [`fsync_dir`] fsyncs the directory holding a path (`.` for a bare file name), so a
//!   name just created, renamed or removed there survives a crash.
//! - [`open_append`] and [`open_positional`] create-or-open a file for writing: never
//!   through a symlink (checked before and refused by the open itself, `O_NOFOLLOW`),
//!   only a regular file, a new file created `O_EXCL` with the given mode and fsync'd
//!   together with its directory before it is returned, and, when asked, an exclusive
//!   advisory lock (`flock` via [`File::try_lock`]) taken without waiting.
//!   [`open_read`] opens an existing file read-only with the same symlink and
//!   regular-file checks, creating and locking nothing.
//! - [`create_new`] creates a file that did not exist (`O_CREAT|O_EXCL|O_NOFOLLOW`) and
//!   sets exactly the given mode (whatever the umask); [`write_new`] also writes its
//!   contents, fsyncs it and its directory, and removes it again if any step fails.
//!   Neither ever overwrites or follows anything.
//! - [`side_path`] is the one function that names a file beside another:
//!   `<log><suffix>`, in the log's directory. [`SideFile`] holds the suffixes of the
//!   side files of an audit log (`.tree`, `.checkpoints`, `.anchors`); [`torn_path`]
//!   names where torn bytes are moved (`<file>.torn-<ts_ns>`).
//!
//! Assumes: a Unix file system (modes, `O_NOFOLLOW`, `flock`).

use std::fs::{File, OpenOptions, Permissions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The step of a durable operation that failed, so callers can name it in their own
/// error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Creating a new file.
    Create,
    /// Opening an existing file.
    Open,
    /// Reading the opened file's metadata.
    Stat,
    /// Writing the contents of a new file.
    Write,
    /// fsync of the file itself.
    FsyncFile,
    /// fsync of the directory holding it.
    FsyncDir,
    /// Taking the exclusive lock.
    Lock,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Create => "create file",
            Step::Open => "open file",
            Step::Stat => "stat file",
            Step::Write => "write file",
            Step::FsyncFile => "fsync file",
            Step::FsyncDir => "fsync directory",
            Step::Lock => "lock file",
        })
    }
}

/// Why a durable open or write failed.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error("path is a symlink; refusing to follow it")]
    Symlink,
    #[error("path is not a regular file")]
    NotRegular,
    #[error("file is locked by another writer")]
    Locked,
    #[error("file already exists; refusing to overwrite it")]
    Exists,
    #[error("{step}: {source}")]
    Io {
        step: Step,
        #[source]
        source: io::Error,
    },
}

impl From<DurableError> for io::Error {
    fn from(e: DurableError) -> io::Error {
        match e {
            DurableError::Io { source, .. } => source,
            DurableError::Exists => io::Error::new(io::ErrorKind::AlreadyExists, e.to_string()),
            DurableError::Locked => io::Error::new(io::ErrorKind::WouldBlock, e.to_string()),
            other => io::Error::other(other.to_string()),
        }
    }
}

fn at(step: Step) -> impl Fn(io::Error) -> DurableError {
    move |source| DurableError::Io { step, source }
}

/// Maps an open's error: `ELOOP` means the last component was a symlink.
fn opening(step: Step) -> impl Fn(io::Error) -> DurableError {
    move |e| match e.raw_os_error() {
        Some(libc::ELOOP) => DurableError::Symlink,
        _ => at(step)(e),
    }
}

/// Whether [`open_append`] / [`open_positional`] take the exclusive lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Hold an exclusive advisory lock for the handle's lifetime; fail with
    /// [`DurableError::Locked`] if another holder has it.
    Exclusive,
    /// Take no lock (the caller locks per operation, or several writers append).
    None,
}

/// A file opened by [`open_append`] or [`open_positional`].
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    /// The file did not exist and was created (and fsync'd with its directory).
    pub created: bool,
}

/// fsyncs the directory holding `path`.
pub fn fsync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all())
}

/// Refuses a symlink or a non-regular file at `path`; a missing path is fine.
fn check_path(path: &Path) -> Result<(), DurableError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(DurableError::Symlink),
        Ok(m) if !m.file_type().is_file() => Err(DurableError::NotRegular),
        _ => Ok(()),
    }
}

fn check_regular(file: &File) -> Result<(), DurableError> {
    if file.metadata().map_err(at(Step::Stat))?.is_file() {
        Ok(())
    } else {
        Err(DurableError::NotRegular)
    }
}

fn base_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    o
}

fn open_or_create(
    path: &Path,
    mode: u32,
    append: bool,
    lock: Lock,
) -> Result<Opened, DurableError> {
    check_path(path)?;
    let mut o = base_options();
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    let (file, created) = match o.clone().create_new(true).mode(mode).open(path) {
        Ok(f) => (f, true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            (o.open(path).map_err(opening(Step::Open))?, false)
        }
        Err(e) => return Err(opening(Step::Create)(e)),
    };
    check_regular(&file)?;
    if created {
        file.sync_all().map_err(at(Step::FsyncFile))?;
        fsync_dir(path).map_err(at(Step::FsyncDir))?;
    }
    if lock == Lock::Exclusive {
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(DurableError::Locked),
            Err(TryLockError::Error(e)) => return Err(at(Step::Lock)(e)),
        }
    }
    Ok(Opened { file, created })
}

/// Creates (mode `mode`) or opens `path` for reading and appending (`O_APPEND`).
pub fn open_append(path: &Path, mode: u32, lock: Lock) -> Result<Opened, DurableError> {
    open_or_create(path, mode, true, lock)
}

/// Creates (mode `mode`) or opens `path` for reading and positional writes (no
/// `O_APPEND`, so `pwrite` lands where asked).
pub fn open_positional(path: &Path, mode: u32, lock: Lock) -> Result<Opened, DurableError> {
    open_or_create(path, mode, false, lock)
}

/// Opens an existing regular file read-only, never through a symlink. Takes no lock.
pub fn open_read(path: &Path) -> Result<File, DurableError> {
    check_path(path)?;
    let file = base_options().open(path).map_err(opening(Step::Open))?;
    check_regular(&file)?;
    Ok(file)
}

/// Creates `path`, which must not exist, for writing with exactly `mode`. Nothing is
/// fsync'd yet: [`write_new`] is the durable form.
pub fn create_new(path: &Path, mode: u32) -> Result<File, DurableError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => DurableError::Exists,
            _ => opening(Step::Create)(e),
        })?;
    if let Err(e) = file.set_permissions(Permissions::from_mode(mode)) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(at(Step::Create)(e));
    }
    Ok(file)
}

/// Writes `contents` to the new file `path` (see [`create_new`]) and fsyncs it and its
/// directory. On failure the new file is removed again.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), DurableError> {
    let mut file = create_new(path, mode)?;
    let written = file
        .write_all(contents)
        .map_err(at(Step::Write))
        .and_then(|()| file.sync_all().map_err(at(Step::FsyncFile)));
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    fsync_dir(path).map_err(at(Step::FsyncDir))
}

/// The side files kept beside an audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideFile {
    /// The Merkle tree's stored hashes.
    Tree,
    /// The signed checkpoint notes.
    Checkpoints,
    /// The RFC 3161 anchors of checkpoints.
    Anchors,
}

impl SideFile {
    /// The suffix appended to the log's file name.
    pub const fn suffix(self) -> &'static str {
        match self {
            SideFile::Tree => ".tree",
            SideFile::Checkpoints => ".checkpoints",
            SideFile::Anchors => ".anchors",
        }
    }

    /// This side file of `log`.
    pub fn of(self, log: &Path) -> PathBuf {
        side_path(log, self.suffix())
    }
}

/// `<path><suffix>`, in the same directory as `path`.
pub fn side_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// `<path>.torn-<ts_ns>`: where bytes cut from a torn tail of `path` are kept.
pub fn torn_path(path: &Path) -> PathBuf {
    side_path(path, &format!(".torn-{}", crate::util::now_ns()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn open_append_creates_with_mode_and_appends() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("log");
        let o = open_append(&p, 0o600, Lock::None).expect("create");
        assert!(o.created);
        assert_eq!(mode(&p), 0o600);
        (&o.file).write_all(b"a").expect("write");
        let again = open_append(&p, 0o644, Lock::None).expect("open");
        assert!(!again.created);
        assert_eq!(mode(&p), 0o600, "an existing file keeps its mode");
        (&again.file).write_all(b"b").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"ab");
    }

    #[test]
    fn symlinks_and_directories_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let target = dir.path().join("target");
        std::fs::write(&target, b"x").expect("write");
        let link = dir.path().join("link");
        symlink(&target, &link).expect("symlink");
        assert!(matches!(
            open_append(&link, 0o600, Lock::None),
            Err(DurableError::Symlink)
        ));
        assert!(matches!(
            open_positional(&link, 0o600, Lock::None),
            Err(DurableError::Symlink)
        ));
        assert!(matches!(open_read(&link), Err(DurableError::Symlink)));
        assert!(matches!(
            write_new(&link, b"y", 0o600),
            Err(DurableError::Exists)
        ));
        // A dangling link is refused too, and nothing is created through it.
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
        assert!(matches!(
            open_append(&dangling, 0o600, Lock::None),
            Err(DurableError::Symlink)
        ));
        assert!(!dir.path().join("nowhere").exists());
        assert_eq!(std::fs::read(&target).expect("read"), b"x");
        assert!(matches!(
            open_append(dir.path(), 0o600, Lock::None),
            Err(DurableError::NotRegular)
        ));
    }

    #[test]
    fn a_second_exclusive_lock_fails_clearly() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("tree");
        let first = open_positional(&p, 0o600, Lock::Exclusive).expect("first");
        let second = open_positional(&p, 0o600, Lock::Exclusive);
        assert!(matches!(second, Err(DurableError::Locked)));
        assert_eq!(
            DurableError::Locked.to_string(),
            "file is locked by another writer"
        );
        // Unlocked opens still work while it is held.
        open_append(&p, 0o600, Lock::None).expect("unlocked");
        drop(first);
        open_positional(&p, 0o600, Lock::Exclusive).expect("after release");
    }

    #[test]
    fn open_read_needs_an_existing_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("missing");
        assert!(matches!(
            open_read(&p),
            Err(DurableError::Io {
                step: Step::Open,
                ..
            })
        ));
        assert!(!p.exists());
    }

    #[test]
    fn write_new_refuses_to_overwrite_and_sets_the_exact_mode() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("side");
        write_new(&p, b"first", 0o644).expect("write");
        assert_eq!(mode(&p), 0o644);
        assert!(matches!(
            write_new(&p, b"second", 0o600),
            Err(DurableError::Exists)
        ));
        assert_eq!(std::fs::read(&p).expect("read"), b"first");
        let q = dir.path().join("secret");
        write_new(&q, b"k", 0o600).expect("write");
        assert_eq!(mode(&q), 0o600);
    }

    #[test]
    fn side_paths_sit_beside_the_log() {
        let log = Path::new("/var/log/signet/audit.jsonl");
        assert_eq!(
            SideFile::Tree.of(log),
            Path::new("/var/log/signet/audit.jsonl.tree")
        );
        assert_eq!(
            SideFile::Checkpoints.of(log),
            Path::new("/var/log/signet/audit.jsonl.checkpoints")
        );
        assert_eq!(
            SideFile::Anchors.of(log),
            Path::new("/var/log/signet/audit.jsonl.anchors")
        );
        assert_eq!(
            side_path(Path::new("audit.jsonl"), ".tree"),
            Path::new("audit.jsonl.tree")
        );
        let torn = torn_path(log);
        let name = torn
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("audit.jsonl.torn-"), "{name}");
        assert!(
            name["audit.jsonl.torn-".len()..]
                .bytes()
                .all(|b| b.is_ascii_digit())
        );
        assert_eq!(torn.parent(), log.parent());
    }

    #[test]
    fn fsync_dir_accepts_a_bare_name() {
        fsync_dir(Path::new("file-in-cwd")).expect("fsync .");
    }
}
