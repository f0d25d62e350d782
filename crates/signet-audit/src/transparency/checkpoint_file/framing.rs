//! Record framing of the `<log>.checkpoints` file, byte for byte:
//!
//! ```text
//! record = "checkpoint " LEN "\n" NOTE "end " LEN "\n"
//! ```
//!
//! `NOTE` is the signed checkpoint note exactly as signed (UTF-8, ending in `\n`);
//! `LEN` is its length in bytes, decimal, no leading zeros, 1 to [`MAX_NOTE_LEN`].
//! The length before the note lets a reader walk forward; the same length after it
//! finds the last record from the end of the file in O(1) reads.
//!
//! Guarantees: a record is complete only if header, note and trailer agree; the file
//! ending inside a record is *incomplete* (a torn append), anything else that does
//! not parse is *damaged* and never skipped.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{CheckpointFileError, io};
use crate::transparency::note::MAX_NOTE_LEN;

/// The record bytes for `note`.
pub fn encode_record(note: &str) -> Vec<u8> {
    format!("checkpoint {len}\n{note}end {len}\n", len = note.len()).into_bytes()
}

pub(super) enum Record {
    Complete {
        note: String,
        end: u64,
    },
    /// The file ends inside this record.
    Incomplete,
    Damaged(&'static str),
}

pub(super) fn read_at(file: &File, at: u64, len: u64) -> Result<Vec<u8>, CheckpointFileError> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, at)
        .map_err(io("read checkpoint file"))?;
    Ok(buf)
}

/// Parses the record starting at `at` in a file of `file_len` bytes.
pub(super) fn record_at(
    file: &File,
    at: u64,
    file_len: u64,
) -> Result<Record, CheckpointFileError> {
    const TAG: &[u8] = b"checkpoint ";
    let head = read_at(file, at, (file_len - at).min(32))?;
    let Some(nl) = head.iter().position(|&b| b == b'\n') else {
        let n = head.len().min(TAG.len());
        let prefix_ok = head[..n] == TAG[..n] && head[n..].iter().all(u8::is_ascii_digit);
        return Ok(match prefix_ok && head.len() < 32 {
            true => Record::Incomplete,
            false => Record::Damaged("bad record header"),
        });
    };
    let Some(len) = head[..nl]
        .strip_prefix(TAG)
        .and_then(|d| std::str::from_utf8(d).ok())
        .filter(|d| !d.starts_with('0'))
        .and_then(|d| d.parse::<u64>().ok())
        .filter(|&l| (1..=MAX_NOTE_LEN as u64).contains(&l))
    else {
        return Ok(Record::Damaged("bad record header"));
    };
    let trailer = format!("end {len}\n");
    let start = at + nl as u64 + 1;
    let end = start + len + trailer.len() as u64;
    if end > file_len {
        return Ok(Record::Incomplete);
    }
    let mut body = read_at(file, start, len + trailer.len() as u64)?;
    if body[len as usize..] != *trailer.as_bytes() {
        return Ok(Record::Damaged("record trailer does not match its header"));
    }
    body.truncate(len as usize);
    match String::from_utf8(body) {
        Ok(note) if note.ends_with('\n') => Ok(Record::Complete { note, end }),
        _ => Ok(Record::Damaged(
            "note is not UTF-8 text ending in a newline",
        )),
    }
}

/// Start of the last record, located from its trailer, if the file ends with one.
pub(super) fn last_record_start(file: &File, len: u64) -> Result<Option<u64>, CheckpointFileError> {
    let tail = read_at(file, len - len.min(32), len.min(32))?;
    let Some(body) = tail.strip_suffix(b"\n") else {
        return Ok(None);
    };
    let line = &body[body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)..];
    let note_len = line
        .strip_prefix(b"end ")
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u64>().ok());
    Ok(note_len.and_then(|n| {
        let framing = format!("checkpoint {n}\nend {n}\n").len() as u64;
        len.checked_sub(n + framing)
    }))
}

/// The records of a file, as far as they are complete.
pub(super) struct Scan {
    /// `(offset, note)` of every complete record, in order.
    pub(super) notes: Vec<(u64, String)>,
    /// Where the complete records end.
    pub(super) end: u64,
    /// Whether an incomplete record follows.
    pub(super) torn: bool,
}

/// Walks every record from the start of the file.
pub(super) fn scan(file: &File, len: u64) -> Result<Scan, CheckpointFileError> {
    let (mut at, mut notes) = (0u64, Vec::new());
    while at < len {
        match record_at(file, at, len)? {
            Record::Complete { note, end } => {
                notes.push((at, note));
                at = end;
            }
            // A trailer at the file's end that frames a record starting here means
            // the record is whole and its header damaged, not torn.
            Record::Incomplete if last_record_start(file, len)? == Some(at) => {
                return Err(CheckpointFileError::Framing {
                    offset: at,
                    what: "record header does not match its trailer",
                });
            }
            Record::Incomplete => {
                return Ok(Scan {
                    notes,
                    end: at,
                    torn: true,
                });
            }
            Record::Damaged(what) => return Err(CheckpointFileError::Framing { offset: at, what }),
        }
    }
    Ok(Scan {
        notes,
        end: at,
        torn: false,
    })
}

/// Every stored note, in order. Strict: an incomplete last record is an error here.
/// Nothing is verified: check each with [`crate::transparency::note::open_checkpoint`].
pub fn read_all(path: &Path) -> Result<Vec<String>, CheckpointFileError> {
    let file = File::open(path).map_err(io("open checkpoint file"))?;
    let len = file.metadata().map_err(io("stat checkpoint file"))?.len();
    let Scan { notes, end, torn } = scan(&file, len)?;
    if torn {
        return Err(CheckpointFileError::Framing {
            offset: end,
            what: "incomplete last record",
        });
    }
    Ok(notes.into_iter().map(|(_, n)| n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("c");
        std::fs::write(&p, bytes).expect("write");
        let f = File::open(&p).expect("open");
        (dir, f)
    }

    #[test]
    fn records_are_found_from_either_end() {
        let (a, b) = (
            "o\n1\nAA==\n\n\u{2014} o AAAAAAA=\n",
            "o\n2\nAQ==\n\n\u{2014} o AAAAAAA=\n",
        );
        let bytes = [encode_record(a), encode_record(b)].concat();
        assert!(
            bytes.starts_with(format!("checkpoint {}\n{a}end {}\n", a.len(), a.len()).as_bytes())
        );
        let (_d, f) = file_with(&bytes);
        let len = bytes.len() as u64;
        let second = encode_record(a).len() as u64;
        assert_eq!(last_record_start(&f, len).expect("tail"), Some(second));
        let s = scan(&f, len).expect("scan");
        assert_eq!((s.notes.len(), s.end, s.torn), (2, len, false));
        assert!(matches!(
            record_at(&f, second, len - 1),
            Ok(Record::Incomplete)
        ));
        assert!(matches!(record_at(&f, 1, len), Ok(Record::Damaged(_))));
    }

    #[test]
    fn bad_headers_are_damage() {
        for bad in [
            &b"checkpoint 0\n\nend 0\n"[..],
            b"checkpoint 01\nx\nend 01\n",
            b"chekpoint 1\n\n",
        ] {
            let (_d, f) = file_with(bad);
            assert!(matches!(
                scan(&f, bad.len() as u64),
                Err(CheckpointFileError::Framing { .. })
            ));
        }
    }
}
