//! Verification of a log's transparency data with public keys only: the signed
//! checkpoints in `<log>.checkpoints` against the log's own bytes, and the RFC 3161
//! anchors in `<log>.anchors` against the checkpoints. No HMAC secret is involved.
//!
//! Guarantees:
//! - The log is read once, as a stream: each complete line (ending in `\n`) is one
//!   RFC 6962 leaf, hashed without its `\n` while it is read, so neither memory nor
//!   time depends on line length; the tree is kept as a [`CompactRange`] (O(log n)
//!   hashes). A last line without `\n` is not a leaf ([`TlogReport::torn_tail`]), as
//!   for the journal.
//! - Every checkpoint note is opened with the log key ([`open_checkpoint`]: signature,
//!   origin = key name); one that fails is a [`TlogBreakKind::CheckpointSignature`]
//!   and is not used for anything else. Every valid checkpoint's root is compared with
//!   the root of the log prefix of its size ([`TlogBreakKind::Fork`] when different).
//!   Valid checkpoints beyond the end of the log make one
//!   [`TlogBreakKind::Truncated`] (the log is shorter than a size the log key signed);
//!   among those, two of the same size with different roots are a `Fork`, and so is a
//!   checkpoint whose size is below an earlier one in the file (a rolled-back log or a
//!   reordered file). Checkpoints matched against the same log prefix are consistent
//!   with each other by construction.
//! - Anchors, when given with trust roots (see [`anchors`]): each record's token is
//!   verified in full ([`crate::tsp::verify_token`], no nonce) against SHA-256 of the
//!   bytes of the checkpoint note it names, never against a digest taken from the
//!   record; a record that fails, names no stored checkpoint or gives another size is
//!   [`TlogBreakKind::AnchorInvalid`]; each valid checkpoint with no anchor record at all
//!   is [`TlogBreakKind::AnchorMissing`]. The anchors file is streamed too.
//! - At most [`MAX_STORED_BREAKS`] breaks are kept; all are counted.
//!
//! Assumes the caller read the checkpoint notes with
//! [`crate::transparency::checkpoint_file::read_all`] (file order) and got the log key from a source
//! it trusts; memory grows with the number of checkpoints, not with the log.

pub mod anchors;
pub mod report;

use std::collections::HashMap;
use std::io::{self, BufRead};

use sha2::{Digest, Sha256};

use crate::transparency::merkle::{CompactRange, Hash};
use crate::transparency::note::{Checkpoint, Verifier, open_checkpoint, parse_note};
use crate::tsp::TrustRoots;

pub use anchors::{
    AnchorRecord, AnchorSummary, AnchoredCheckpoint, EntryAnchorReport, verify_entry_anchors,
};
pub use report::{MAX_STORED_BREAKS, TlogBreak, TlogBreakKind, TlogReport};

/// The anchors to check: the `<log>.anchors` records and the TSA trust roots.
pub struct AnchorInput<'a> {
    pub records: &'a mut dyn BufRead,
    pub roots: &'a TrustRoots,
}

/// Which input failed to read.
#[derive(Debug, thiserror::Error)]
pub enum TlogReadError {
    #[error("reading the log: {0}")]
    Log(#[source] io::Error),
    #[error("reading the anchors: {0}")]
    Anchors(#[source] io::Error),
}

/// A checkpoint record as verification sees it.
pub(crate) struct StoredCp {
    /// 1-based record number.
    pub index: u64,
    /// SHA-256 of the note bytes (what its anchor timestamps).
    pub note_digest: [u8; 32],
    /// Parsed and verified, or `None` when the note failed [`open_checkpoint`].
    pub valid: Option<Checkpoint>,
    /// The size in the note's text, verified or not.
    pub claimed_size: Option<u64>,
}

/// Verifies checkpoints (and anchors, when given) against the log read from `log`.
pub fn verify_tlog<R: BufRead>(
    log: R,
    checkpoints: &[String],
    log_key: &Verifier,
    anchors: Option<AnchorInput<'_>>,
) -> Result<TlogReport, TlogReadError> {
    let mut rep = TlogReport {
        log_size: 0,
        torn_tail: false,
        log_root: crate::transparency::merkle::empty_root(),
        checkpoints: checkpoints.len() as u64,
        valid_checkpoints: 0,
        latest: None,
        covered_size: None,
        anchors: None,
        breaks: Vec::new(),
        break_count: 0,
    };
    let cps = open_all(checkpoints, log_key, &mut rep);
    check_log(log, &cps, &mut rep).map_err(TlogReadError::Log)?;
    if let Some(a) = anchors {
        let summary = anchors::check_anchors(a.records, a.roots, &cps, &mut rep)
            .map_err(TlogReadError::Anchors)?;
        rep.anchors = Some(summary);
    }
    Ok(rep)
}

/// Opens every note; reports bad signatures and sizes that go backwards.
fn open_all(notes: &[String], log_key: &Verifier, rep: &mut TlogReport) -> Vec<StoredCp> {
    let mut out = Vec::with_capacity(notes.len());
    let mut max_seen: Option<(u64, u64)> = None;
    for (i, note) in notes.iter().enumerate() {
        let index = i as u64 + 1;
        let claimed_size = parse_note(note)
            .ok()
            .and_then(|p| Checkpoint::parse(p.text).ok())
            .map(|c| c.size);
        let valid = match open_checkpoint(note, log_key) {
            Ok(cp) => Some(cp),
            Err(e) => {
                let claim = claimed_size.map_or(String::new(), |s| format!(" (claims size {s})"));
                rep.add(TlogBreak::at_checkpoint(
                    TlogBreakKind::CheckpointSignature,
                    index,
                    claimed_size,
                    format!(
                        "not a checkpoint signed by the log key {}: {e}{claim}",
                        log_key.name()
                    ),
                ));
                None
            }
        };
        if let Some(cp) = &valid {
            rep.valid_checkpoints += 1;
            match max_seen {
                Some((at, size)) if cp.size < size => rep.add(TlogBreak::at_checkpoint(
                    TlogBreakKind::Fork,
                    index,
                    Some(cp.size),
                    format!(
                        "checkpoint size goes back from {size} (checkpoint {at}) to {}: the log was rolled back or the checkpoint file reordered",
                        cp.size
                    ),
                )),
                _ => max_seen = Some((index, cp.size)),
            }
            if rep.latest.is_none_or(|(_, s)| cp.size >= s) {
                rep.latest = Some((index, cp.size));
            }
        }
        out.push(StoredCp {
            index,
            note_digest: Sha256::digest(note.as_bytes()).into(),
            valid,
            claimed_size,
        });
    }
    out
}

/// Streams the log's leaves and compares each valid checkpoint with its prefix.
fn check_log<R: BufRead>(mut log: R, cps: &[StoredCp], rep: &mut TlogReport) -> io::Result<()> {
    let mut targets: Vec<(u64, usize)> = cps
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.valid.as_ref().map(|cp| (cp.size, i)))
        .collect();
    targets.sort_unstable();
    let mut next = 0;
    let mut range = CompactRange::new();
    let mut scratch = Vec::with_capacity(65);
    loop {
        while let Some(&(size, i)) = targets.get(next)
            && size == range.size()
        {
            compare_root(&cps[i], &range.root(), rep);
            next += 1;
        }
        match next_leaf(&mut log)? {
            Leaf::Eof => break,
            Leaf::Torn => {
                rep.torn_tail = true;
                break;
            }
            Leaf::Hash(h) => {
                scratch.clear();
                range.append(h, &mut scratch);
            }
        }
    }
    rep.log_size = range.size();
    rep.log_root = range.root();
    let beyond = &targets[next..];
    if let (Some(&(_, first)), Some(&(last_size, last))) = (beyond.first(), beyond.last()) {
        let n = beyond.len();
        rep.add(TlogBreak::at_checkpoint(
            TlogBreakKind::Truncated,
            cps[last].index,
            Some(last_size),
            format!(
                "the log has {} entries but the log key signed a checkpoint of size {last_size}: at least {} entries are missing from its end ({n} checkpoint{} beyond the end, the first being checkpoint {})",
                rep.log_size,
                last_size - rep.log_size,
                if n == 1 { "" } else { "s" },
                cps[first].index
            ),
        ));
    }
    // Beyond the end there is no prefix to compare with, but equal sizes must agree.
    let mut by_size: HashMap<u64, (u64, Hash)> = HashMap::new();
    for &(size, i) in beyond {
        let (index, root) = (cps[i].index, cps[i].valid.as_ref().map(|c| c.root));
        let Some(root) = root else { continue };
        match by_size.get(&size) {
            Some((first, r)) if *r != root => rep.add(TlogBreak::at_checkpoint(
                TlogBreakKind::Fork,
                index,
                Some(size),
                format!("checkpoints {first} and {index} both have size {size} but different roots: the log key signed two versions of the log"),
            )),
            Some(_) => {}
            None => {
                by_size.insert(size, (index, root));
            }
        }
    }
    Ok(())
}

fn compare_root(cp: &StoredCp, prefix_root: &Hash, rep: &mut TlogReport) {
    let Some(c) = &cp.valid else { return };
    if c.root == *prefix_root {
        if rep.covered_size.is_none_or(|s| c.size > s) {
            rep.covered_size = Some(c.size);
        }
    } else {
        rep.add(TlogBreak::at_checkpoint(
            TlogBreakKind::Fork,
            cp.index,
            Some(c.size),
            format!(
                "the first {} entries of the log do not hash to the signed root: they were changed after the checkpoint",
                c.size
            ),
        ));
    }
}

enum Leaf {
    Eof,
    /// Bytes without a final `\n`.
    Torn,
    Hash(Hash),
}

/// Hashes the next line as an RFC 6962 leaf while reading it (no line is held).
fn next_leaf<R: BufRead>(r: &mut R) -> io::Result<Leaf> {
    let mut h = Sha256::new();
    h.update([0u8]);
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if any { Leaf::Torn } else { Leaf::Eof });
        }
        any = true;
        match avail.iter().position(|&b| b == b'\n') {
            Some(i) => {
                h.update(&avail[..i]);
                r.consume(i + 1);
                return Ok(Leaf::Hash(h.finalize().into()));
            }
            None => {
                let n = avail.len();
                h.update(avail);
                r.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::merkle::{leaf_hash, node_hash};
    use crate::transparency::note::sign_checkpoint;
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "unit.example/log";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[9; 32])
    }

    fn verifier() -> Verifier {
        Verifier::new(ORIGIN, key().verifying_key()).expect("verifier")
    }

    fn note(size: u64, root: Hash) -> String {
        sign_checkpoint(&Checkpoint::new(ORIGIN, size, root), &key()).expect("sign")
    }

    fn kinds(rep: &TlogReport) -> Vec<(&'static str, Option<u64>)> {
        rep.breaks
            .iter()
            .map(|b| (b.kind.as_str(), b.checkpoint))
            .collect()
    }

    #[test]
    fn leaves_are_streamed_and_roots_compared() {
        let log = b"a\nbb\nccc\n";
        let (a, b, c) = (leaf_hash(b"a"), leaf_hash(b"bb"), leaf_hash(b"ccc"));
        let r2 = node_hash(&a, &b);
        let r3 = node_hash(&r2, &c);
        let notes = [
            note(0, crate::transparency::merkle::empty_root()),
            note(2, r2),
            note(3, r3),
        ];
        let rep = verify_tlog(&log[..], &notes, &verifier(), None).expect("verify");
        assert!(rep.is_intact(), "{:?}", rep.breaks);
        assert_eq!(
            (rep.log_size, rep.log_root, rep.covered_size),
            (3, r3, Some(3))
        );
        assert_eq!((rep.latest, rep.uncovered_entries()), (Some((3, 3)), 0));

        let rep = verify_tlog(&b"a\nbb\nccc\nd"[..], &notes[..2], &verifier(), None).expect("v");
        assert!(rep.torn_tail && rep.is_intact());
        assert_eq!((rep.log_size, rep.uncovered_entries()), (3, 1));

        let rep = verify_tlog(&b"a\nbX\nccc\n"[..], &notes, &verifier(), None).expect("v");
        assert_eq!(kinds(&rep), [("fork", Some(2)), ("fork", Some(3))]);
        assert_eq!(rep.covered_size, Some(0));

        let rep = verify_tlog(&b"a\n"[..], &notes, &verifier(), None).expect("v");
        assert_eq!(kinds(&rep), [("truncated", Some(3))]);
        assert!(
            rep.breaks[0].detail.contains("at least 2 entries"),
            "{:?}",
            rep.breaks
        );
    }

    #[test]
    fn bad_signatures_disorder_and_disagreeing_heads() {
        let r1 = leaf_hash(b"a");
        let other = SigningKey::from_bytes(&[10; 32]);
        let foreign = sign_checkpoint(&Checkpoint::new(ORIGIN, 1, r1), &other).expect("sign");
        let notes = [
            note(1, r1),
            foreign,
            note(5, [1; 32]),
            note(5, [2; 32]),
            note(1, r1),
        ];
        let rep = verify_tlog(&b"a\n"[..], &notes, &verifier(), None).expect("v");
        assert_eq!(
            kinds(&rep),
            [
                ("checkpoint_signature", Some(2)),
                ("fork", Some(5)),
                ("truncated", Some(4)),
                ("fork", Some(4)),
            ]
        );
        assert_eq!(rep.breaks[0].size, Some(1), "claimed size is reported");
        assert_eq!(rep.valid_checkpoints, 4);
    }
}
