//! The transparency half: what lets anyone holding only public keys check the log.
//!
//! - [`merkle`]: the RFC 6962 tree (hashes, compact ranges, proofs); [`tree_file`]:
//!   its stored hashes in `<log>.tree`, recoverable from the log.
//! - [`note`]: signed notes and checkpoints (C2SP `signed-note`, `tlog-checkpoint`);
//!   [`checkpoint_file`]: the append-only `<log>.checkpoints` store.
//! - [`state`]: the journal's tree and checkpoint keeper ([`Transparency`]) and what it
//!   shares with readers ([`Shared`]); re-exported here.
//! - [`tlog_verify`]: checkpoints and RFC 3161 anchors (`<log>.anchors`) checked
//!   against the log's own bytes; [`dsse`]: standalone DSSE receipts. RFC 3161
//!   timestamps themselves are [`crate::tsp`].
//!
//! This half reads the log (its lines, [`crate::log::line::MAX_LINE`]) but never writes it.

pub mod checkpoint_file;
pub mod dsse;
pub mod merkle;
pub mod note;
pub mod state;
pub mod tlog_verify;
pub mod tree_file;
pub mod tsp;

pub use state::{Published, Shared, Transparency, TransparencyError, TransparencyOptions};
