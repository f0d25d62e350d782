//! The audit log half: what one line is, how lines are chained, written, verified
//! and vouched for.
//!
//! Layers, each using only those above it:
//! - [`json`]: canonical JSON (parse, scan, write); [`key`]: HMAC keys and key rings.
//! - [`entry`]: building and sealing a line; [`line`](mod@line): reading one line on its exact
//!   bytes (and [`line::MAX_LINE`], the longest line any reader accepts).
//! - [`journal`]: durable, chained appends with group commit and torn-tail recovery;
//!   [`batch`]: the Merkle tree over one group-commit batch.
//! - [`verify`]: streaming verification of a whole log; [`receipt`]: per-entry and
//!   batch receipts; [`keyfile`]: key files on disk.
//!
//! Nothing here signs checkpoints or keeps the log's Merkle tree: that is
//! [`crate::transparency`], which the journal drives through its commit hook.

pub mod batch;
pub mod entry;
pub mod journal;
pub mod json;
pub mod key;
pub mod keyfile;
pub mod line;
pub mod receipt;
pub mod verify;
