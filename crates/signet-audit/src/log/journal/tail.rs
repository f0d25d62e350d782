//! Reading the end of a log without reading the whole file, and moving a torn last
//! line aside.
//!
//! Guarantees:
//! - Finding the chain state (next `_seq`, last `hmac`) reads only the last line, unless
//!   the log is a legacy signet log without `_seq`, which is counted once.
//! - A torn tail (bytes after the last `\n`) is copied to `<log>.torn-<ts_ns>` and made
//!   durable there *before* the log is truncated back to its last complete line, so no
//!   byte of evidence is erased; the caller records the event in the chain.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::JournalError;
use crate::durable::{self, DurableError, Step};
use crate::log::key::HmacKey;
use crate::log::line::{LineView, MAX_LINE};

/// Where the chain stands at the end of the file.
#[derive(Clone, Debug)]
pub struct ChainState {
    pub next_seq: u64,
    pub last_hmac: String,
    pub len: u64,
}

/// A torn last line that was moved aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub bytes: u64,
    /// `sha256:<hex>` of the torn bytes.
    pub sha256: String,
    pub saved_to: PathBuf,
}

/// Offset just after the last `\n` at or before `end`, or 0.
fn line_start_before(file: &File, end: u64) -> Result<u64, JournalError> {
    let mut pos = end;
    let mut buf = vec![0u8; 8192];
    while pos > 0 {
        if end - pos > MAX_LINE as u64 {
            return Err(JournalError::TailUnreadable("last line is too long".into()));
        }
        let n = pos.min(buf.len() as u64) as usize;
        let at = pos - n as u64;
        file.read_exact_at(&mut buf[..n], at)
            .map_err(JournalError::io("read tail"))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        pos = at;
    }
    Ok(0)
}

/// Moves bytes after the last `\n` to a side file and truncates the log to it.
pub fn cut_torn_tail(file: &File, path: &Path) -> Result<Option<TornTail>, JournalError> {
    let len = file.metadata().map_err(JournalError::io("stat log"))?.len();
    if len == 0 {
        return Ok(None);
    }
    let start = line_start_before(file, len)?;
    if start == len {
        return Ok(None);
    }
    let mut torn = vec![0u8; (len - start) as usize];
    file.read_exact_at(&mut torn, start)
        .map_err(JournalError::io("read torn tail"))?;
    let saved_to = durable::torn_path(path);
    durable::write_new(&saved_to, &torn, 0o600).map_err(|e| match e {
        DurableError::Io { step, source } => JournalError::io(match step {
            Step::Write => "write torn-tail file",
            Step::FsyncFile => "fsync torn-tail file",
            Step::FsyncDir => "fsync directory",
            _ => "create torn-tail file",
        })(source),
        other => JournalError::io("create torn-tail file")(other.into()),
    })?;
    file.set_len(start)
        .map_err(JournalError::io("truncate torn tail"))?;
    file.sync_all().map_err(JournalError::io("fsync log"))?;
    Ok(Some(TornTail {
        bytes: torn.len() as u64,
        sha256: format!("sha256:{}", crate::util::to_hex(&Sha256::digest(&torn))),
        saved_to,
    }))
}

/// Reads the chain state from the last complete line. The file must end with `\n`
/// (call [`cut_torn_tail`] first). The last line's MAC is checked when `key` made it.
pub fn chain_state(file: &File, key: &HmacKey) -> Result<ChainState, JournalError> {
    let len = file.metadata().map_err(JournalError::io("stat log"))?.len();
    if len == 0 {
        return Ok(ChainState {
            next_seq: 0,
            last_hmac: String::new(),
            len,
        });
    }
    let start = line_start_before(file, len - 1)?;
    let mut body = vec![0u8; (len - 1 - start) as usize];
    file.read_exact_at(&mut body, start)
        .map_err(JournalError::io("read last line"))?;
    let view = LineView::parse(&body)
        .map_err(|e| JournalError::TailUnreadable(format!("last line is malformed: {e}")))?;
    if view.key_id.as_deref() == Some(key.id())
        && !key.mac(&view.payload_parts(&body)).ct_eq_hex(&view.hmac)
    {
        return Err(JournalError::TailMacMismatch);
    }
    let next_seq = match view.seq {
        Some(s) => s
            .checked_add(1)
            .ok_or_else(|| JournalError::TailUnreadable("_seq overflow".into()))?,
        None => count_lines(file)?,
    };
    Ok(ChainState {
        next_seq,
        last_hmac: view.hmac,
        len,
    })
}

/// Counts lines of a legacy log (no `_seq`): its entries are numbered by position.
fn count_lines(file: &File) -> Result<u64, JournalError> {
    let mut f = file
        .try_clone()
        .map_err(JournalError::io("clone log handle"))?;
    f.seek(SeekFrom::Start(0))
        .map_err(JournalError::io("seek log"))?;
    let mut r = BufReader::with_capacity(1 << 16, f);
    let mut n = 0u64;
    loop {
        let buf = r.fill_buf().map_err(JournalError::io("read log"))?;
        if buf.is_empty() {
            return Ok(n);
        }
        n += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        let l = buf.len();
        r.consume(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    #[test]
    fn finds_line_starts_across_chunks() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("f");
        let mut content = vec![b'a'; 20000];
        content.push(b'\n');
        content.extend(vec![b'b'; 9000]);
        std::fs::write(&p, &content).expect("write");
        let f = File::open(&p).expect("open");
        assert_eq!(
            line_start_before(&f, content.len() as u64).expect("scan"),
            20001
        );
        assert_eq!(line_start_before(&f, 20000).expect("scan"), 0);
    }

    #[test]
    fn torn_tail_is_saved_then_cut() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("log");
        std::fs::write(&p, b"one\ntwo\nthr").expect("write");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .expect("open");
        let t = cut_torn_tail(&f, &p).expect("cut").expect("torn");
        assert_eq!(t.bytes, 3);
        assert_eq!(std::fs::read(&t.saved_to).expect("side"), b"thr");
        assert_eq!(std::fs::read(&p).expect("log"), b"one\ntwo\n");
        assert_eq!(cut_torn_tail(&f, &p).expect("cut"), None);
    }
}
