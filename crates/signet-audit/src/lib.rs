//! The pure audit core of signet-gateway: no async runtime, no network.
//!
//! FORMAT-DOC
#![forbid(unsafe_code)]

pub mod entry;
pub mod journal;
pub mod json;
pub mod key;
pub mod keyfile;
pub mod line;
pub mod receipt;
pub mod util;
pub mod verify;

pub use entry::{Decision, EntryDraft, OwnerType, SealedLine, seal};
pub use key::{HmacKey, KeyRing, MacTag};
pub use line::LineView;
