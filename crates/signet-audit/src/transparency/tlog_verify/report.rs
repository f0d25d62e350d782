//! What [`super::verify_tlog`] reports: breaks by kind and place, and how far the
//! signed checkpoints cover the log.
//!
//! Guarantees: at most [`MAX_STORED_BREAKS`] breaks are kept, all are counted; kinds
//! have stable snake_case names for text and JSON reports.

use crate::transparency::merkle::Hash;

use super::AnchorSummary;

/// Breaks kept in a report (the count covers all of them).
pub const MAX_STORED_BREAKS: usize = crate::log::verify::MAX_STORED_BREAKS;

/// What is wrong with the log's transparency data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlogBreakKind {
    /// The log is shorter than a size the log key signed.
    Truncated,
    /// The log, or another checkpoint, contradicts a signed checkpoint.
    Fork,
    /// A checkpoint does not verify under the log key (or is not a checkpoint).
    CheckpointSignature,
    /// An RFC 3161 anchor does not verify for the checkpoint (or entry) it belongs to.
    AnchorInvalid,
    /// A checkpoint (or an entry that asked for one) has no anchor.
    AnchorMissing,
    /// Entries that a log key should cover and no valid checkpoint covers at all (the
    /// checkpoints removed or emptied, say after the log was cut).
    Uncovered,
}

impl TlogBreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TlogBreakKind::Truncated => "truncated",
            TlogBreakKind::Fork => "fork",
            TlogBreakKind::CheckpointSignature => "checkpoint_signature",
            TlogBreakKind::AnchorInvalid => "anchor_invalid",
            TlogBreakKind::AnchorMissing => "anchor_missing",
            TlogBreakKind::Uncovered => "uncovered",
        }
    }
}

/// One transparency failure; the `Option` fields say where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogBreak {
    pub kind: TlogBreakKind,
    pub detail: String,
    /// 1-based record number in the checkpoint file.
    pub checkpoint: Option<u64>,
    /// That checkpoint's tree size (as claimed, when its signature failed).
    pub size: Option<u64>,
    /// 1-based line number in the log (per-entry anchors).
    pub line: Option<u64>,
    /// 1-based line number in the anchors file.
    pub anchor_line: Option<u64>,
    pub entry_id: Option<String>,
}

impl TlogBreak {
    /// A break about checkpoint record `checkpoint` (1-based) of tree size `size`.
    pub fn at_checkpoint(
        kind: TlogBreakKind,
        checkpoint: u64,
        size: Option<u64>,
        detail: String,
    ) -> TlogBreak {
        TlogBreak {
            kind,
            detail,
            checkpoint: Some(checkpoint),
            size,
            line: None,
            anchor_line: None,
            entry_id: None,
        }
    }
}

/// The outcome of [`super::verify_tlog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogReport {
    /// Leaves: complete lines of the log.
    pub log_size: u64,
    /// The log ends in a line without `\n` (not counted as a leaf).
    pub torn_tail: bool,
    /// Root of the tree of all `log_size` leaves.
    pub log_root: Hash,
    /// Checkpoint records read.
    pub checkpoints: u64,
    /// Checkpoints whose signature and origin verified.
    pub valid_checkpoints: u64,
    /// The valid checkpoint with the largest size (the later record among equals):
    /// `(record number, size)`.
    pub latest: Option<(u64, u64)>,
    /// Largest size of a valid checkpoint whose root equals the log prefix's.
    pub covered_size: Option<u64>,
    /// Present when anchors were checked.
    pub anchors: Option<AnchorSummary>,
    pub breaks: Vec<TlogBreak>,
    pub break_count: u64,
}

impl TlogReport {
    pub fn is_intact(&self) -> bool {
        self.break_count == 0
    }

    /// Entries after the latest matching checkpoint that no checkpoint covers yet.
    pub fn uncovered_entries(&self) -> u64 {
        self.log_size - self.covered_size.unwrap_or(0).min(self.log_size)
    }

    /// Adds a break found by the caller (e.g. a damaged checkpoint file).
    pub fn add(&mut self, b: TlogBreak) {
        self.break_count += 1;
        if self.breaks.len() < MAX_STORED_BREAKS {
            self.breaks.push(b);
        }
    }
}
