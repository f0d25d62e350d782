//! Streaming verification of an audit log.
//!
//! Guarantees:
//! - Every line is checked on its exact bytes: the MAC over the line minus its
//!   top-level `hmac` member, the link to the previous line's `hmac`, `_seq`
//!   continuity, the field set and canonical form. Every break is reported with its
//!   1-based line number, entry id (when readable) and [`BreakKind`]; checking goes on
//!   after a break.
//! - Memory is bounded: lines are read one at a time into one reused buffer; a line
//!   longer than [`MAX_LINE`] is skipped (reported malformed) without being held, and
//!   only the first [`MAX_STORED_BREAKS`] breaks are kept (all are counted).
//! - A legacy signet log (no `_seq`) verifies; nothing in such a log, nor in any log
//!   without a checkpoint, can show that its last lines were cut off, and the report
//!   says so ([`Report::tail_truncation_detectable`]).

use std::io::{self, BufRead};

use crate::log::key::KeyRing;
use crate::log::line::LineView;

pub use crate::log::line::MAX_LINE;
/// Breaks kept in a report (the count covers all of them).
pub const MAX_STORED_BREAKS: usize = 10_000;

/// What is wrong with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakKind {
    /// The line's MAC does not match its content.
    SelfMismatch,
    /// `prev_hmac` is not the previous line's `hmac`.
    LinkMismatch,
    /// `_seq` skips numbers (or is missing after sequenced entries).
    SeqGap,
    /// `_seq` repeats or goes backwards.
    SeqDuplicate,
    /// Not a well-formed entry (JSON, field set, types, length).
    MalformedLine,
    /// `_signing_key_id` names a key the verifier was not given.
    UnknownKey,
    /// No `_signing_key_id` in metadata.
    MissingKeyId,
    /// Valid JSON whose bytes are not the canonical form.
    NonCanonical,
    /// The last line has no terminating newline (crash mid-write, or cut).
    TornTail,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::SelfMismatch => "self_mismatch",
            BreakKind::LinkMismatch => "link_mismatch",
            BreakKind::SeqGap => "seq_gap",
            BreakKind::SeqDuplicate => "seq_duplicate",
            BreakKind::MalformedLine => "malformed_line",
            BreakKind::UnknownKey => "unknown_key",
            BreakKind::MissingKeyId => "missing_key_id",
            BreakKind::NonCanonical => "non_canonical",
            BreakKind::TornTail => "torn_tail",
        }
    }
}

/// One integrity failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// 1-based line number.
    pub line: u64,
    pub entry_id: Option<String>,
    pub kind: BreakKind,
    pub detail: String,
}

/// Something odd that is not an integrity failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub line: u64,
    pub entry_id: Option<String>,
    /// e.g. `ts_non_monotonic`.
    pub kind: &'static str,
    pub detail: String,
}

/// The outcome of verifying one log.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Lines read (entries, including broken ones).
    pub lines: u64,
    /// Lines that parsed as entries.
    pub entries: u64,
    /// Entries without `_seq` (written by signet 0.1).
    pub legacy_entries: u64,
    pub breaks: Vec<Break>,
    pub break_count: u64,
    pub warnings: Vec<Warning>,
    /// Entries per `_signing_key_id` whose MAC was checked and matched.
    pub verified_by_key: std::collections::BTreeMap<String, u64>,
    pub last_seq: Option<u64>,
    /// `hmac` of the last line, when it was readable.
    pub last_hmac: Option<String>,
    /// False until checkpoints exist: a cut-off tail cannot be noticed.
    pub tail_truncation_detectable: bool,
}

impl Report {
    pub fn is_intact(&self) -> bool {
        self.break_count == 0
    }
    fn push(&mut self, line: u64, entry_id: Option<&str>, kind: BreakKind, detail: String) {
        self.break_count += 1;
        if self.breaks.len() < MAX_STORED_BREAKS {
            self.breaks.push(Break {
                line,
                entry_id: entry_id.map(str::to_owned),
                kind,
                detail,
            });
        }
    }
    fn warn(&mut self, line: u64, entry_id: &str, kind: &'static str, detail: String) {
        if self.warnings.len() < MAX_STORED_BREAKS {
            self.warnings.push(Warning {
                line,
                entry_id: Some(entry_id.to_owned()),
                kind,
                detail,
            });
        }
    }
}

/// Chain position carried from line to line.
enum Prev {
    Start,
    Known(String),
    /// The previous line was unreadable: the next link cannot be checked.
    Unknown,
}

/// Verifies a whole log read from `r` against the keys in `ring`.
pub fn verify<R: BufRead>(mut r: R, ring: &KeyRing) -> io::Result<Report> {
    let mut rep = Report::default();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut prev = Prev::Start;
    let mut last_ts: Option<u64> = None;
    loop {
        let read = read_line(&mut r, &mut buf)?;
        let n = rep.lines + 1;
        let terminated = match read {
            LineRead::Eof => break,
            LineRead::TooLong => {
                rep.lines = n;
                rep.push(
                    n,
                    None,
                    BreakKind::MalformedLine,
                    format!("line longer than {MAX_LINE} bytes"),
                );
                unreadable(&mut rep, &mut prev);
                continue;
            }
            LineRead::Line { terminated } => terminated,
        };
        rep.lines = n;
        if !terminated {
            let id = LineView::parse(&buf).ok().map(|v| v.entry_id);
            rep.push(
                n,
                id.as_deref(),
                BreakKind::TornTail,
                format!(
                    "last line has no newline ({} bytes): incomplete write or cut",
                    buf.len()
                ),
            );
            break;
        }
        let body = &buf[..buf.len() - 1];
        let view = match LineView::parse(body) {
            Ok(v) => v,
            Err(e) => {
                let detail = if body.is_empty() {
                    "empty line".to_owned()
                } else {
                    e.to_string()
                };
                rep.push(n, None, BreakKind::MalformedLine, detail);
                unreadable(&mut rep, &mut prev);
                continue;
            }
        };
        rep.entries += 1;
        let id = Some(view.entry_id.as_str());
        if !view.canonical {
            rep.push(
                n,
                id,
                BreakKind::NonCanonical,
                "line is not in canonical JSON form".into(),
            );
        }
        match view.key_id.as_deref() {
            None => rep.push(
                n,
                id,
                BreakKind::MissingKeyId,
                "metadata has no _signing_key_id".into(),
            ),
            Some(kid) => match ring.get(kid) {
                None => rep.push(
                    n,
                    id,
                    BreakKind::UnknownKey,
                    format!("no key with id {kid:?} was given"),
                ),
                Some(key) => {
                    if key.mac(&view.payload_parts(body)).ct_eq_hex(&view.hmac) {
                        match rep.verified_by_key.get_mut(kid) {
                            Some(c) => *c += 1,
                            None => {
                                rep.verified_by_key.insert(kid.to_owned(), 1);
                            }
                        }
                    } else {
                        rep.push(
                            n,
                            id,
                            BreakKind::SelfMismatch,
                            format!("hmac does not match the entry under key {kid:?}"),
                        );
                    }
                }
            },
        }
        match &prev {
            Prev::Start if !view.prev_hmac.is_empty() => rep.push(
                n,
                id,
                BreakKind::LinkMismatch,
                "first entry links to a predecessor that is not in this log".into(),
            ),
            Prev::Known(h) if *h != view.prev_hmac => rep.push(
                n,
                id,
                BreakKind::LinkMismatch,
                "prev_hmac is not the previous entry's hmac".into(),
            ),
            _ => {}
        }
        match (view.seq, rep.last_seq) {
            (Some(s), last) => {
                let expected = last.map_or(n - 1, |l| l + 1);
                if s > expected {
                    rep.push(
                        n,
                        id,
                        BreakKind::SeqGap,
                        format!("_seq {s}, expected {expected}"),
                    );
                } else if s < expected {
                    rep.push(
                        n,
                        id,
                        BreakKind::SeqDuplicate,
                        format!("_seq {s}, expected {expected}"),
                    );
                }
                rep.last_seq = Some(last.map_or(s, |l| l.max(s)));
            }
            (None, Some(l)) => rep.push(
                n,
                id,
                BreakKind::SeqGap,
                format!(
                    "entry has no _seq after sequenced entries (expected {})",
                    l + 1
                ),
            ),
            (None, None) => rep.legacy_entries += 1,
        }
        if let Some(t) = last_ts
            && view.ts_ns < t
        {
            rep.warn(
                n,
                &view.entry_id,
                "ts_non_monotonic",
                format!("ts_ns {} is before the previous entry's {t}", view.ts_ns),
            );
        }
        last_ts = Some(view.ts_ns);
        prev = Prev::Known(view.hmac);
    }
    if let Prev::Known(h) = prev {
        rep.last_hmac = Some(h);
    }
    Ok(rep)
}

/// After an unreadable line: its link is unknown, and it is taken to occupy one `_seq`.
fn unreadable(rep: &mut Report, prev: &mut Prev) {
    *prev = Prev::Unknown;
    rep.last_seq = rep.last_seq.map(|l| l + 1);
}

/// What [`read_line`] found.
pub enum LineRead {
    Eof,
    Line { terminated: bool },
    TooLong,
}

/// Reads one line into `buf` (with its `\n` if present), never holding more than
/// [`MAX_LINE`] bytes; an over-long line is consumed and dropped.
pub fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(match (too_long, buf.is_empty()) {
                (true, _) => LineRead::TooLong,
                (false, true) => LineRead::Eof,
                (false, false) => LineRead::Line { terminated: false },
            });
        }
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..=i], true),
            None => (avail, false),
        };
        let used = chunk.len();
        if !too_long && buf.len() + used <= MAX_LINE + 1 {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf.clear();
        }
        r.consume(used);
        if done {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line { terminated: true }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::entry::{Decision, EntryDraft, seal};
    use crate::log::key::HmacKey;

    fn key() -> HmacKey {
        HmacKey::from_hex("k1", &"11".repeat(32)).expect("key")
    }

    fn log(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = String::new();
        for i in 0..n {
            let mut d = EntryDraft::new("t", Decision::Allow, "r");
            d.ts_ns = 1000 + i;
            let s = seal(&d, i, &prev, &key()).expect("seal");
            prev = s.hmac.to_hex();
            out.extend_from_slice(&s.line);
        }
        out
    }

    fn ring() -> KeyRing {
        let mut r = KeyRing::new();
        r.add(key()).expect("add");
        r
    }

    fn kinds(data: &[u8]) -> Vec<(u64, &'static str)> {
        let rep = verify(data, &ring()).expect("verify");
        rep.breaks
            .iter()
            .map(|b| (b.line, b.kind.as_str()))
            .collect()
    }

    #[test]
    fn intact_log_verifies() {
        let rep = verify(&log(5)[..], &ring()).expect("verify");
        assert!(rep.is_intact(), "{:?}", rep.breaks);
        assert_eq!(rep.entries, 5);
        assert_eq!(rep.last_seq, Some(4));
        assert_eq!(rep.verified_by_key.get("k1"), Some(&5));
        assert!(!rep.tail_truncation_detectable);
    }

    #[test]
    fn empty_log_is_intact() {
        let rep = verify(&b""[..], &ring()).expect("verify");
        assert!(rep.is_intact());
        assert_eq!(rep.entries, 0);
    }

    #[test]
    fn torn_tail_and_empty_line() {
        let mut l = log(3);
        l.truncate(l.len() - 10);
        assert_eq!(kinds(&l), vec![(3, "torn_tail")]);
        let mut l = log(2);
        l.extend_from_slice(b"\n");
        assert_eq!(kinds(&l), vec![(3, "malformed_line")]);
    }

    #[test]
    fn unknown_key_reported() {
        let rep = verify(&log(2)[..], &KeyRing::new()).expect("verify");
        let k: Vec<_> = rep.breaks.iter().map(|b| b.kind).collect();
        assert_eq!(k, vec![BreakKind::UnknownKey, BreakKind::UnknownKey]);
    }

    #[test]
    fn over_long_line_is_dropped_not_held() {
        let mut data = log(1);
        data.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        data.push(b'\n');
        data.extend_from_slice(&log(1));
        // Line 3 repeats _seq 0 (line 2 took _seq 1); its link cannot be judged after an
        // unreadable line.
        assert_eq!(
            kinds(&data),
            vec![(2, "malformed_line"), (3, "seq_duplicate")]
        );
    }
}
