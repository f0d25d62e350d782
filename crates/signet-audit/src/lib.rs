//! The pure audit core of signet-gateway: no async runtime, no network.
//!
//! A regulator's verifier can depend on this crate alone. It reads as two halves over
//! one shared layer:
//!
//! - **The audit log** ([`log`]): the line format ([`json`], [`entry`], [`line`](mod@line)), the
//!   HMAC chain and key ring ([`key`]), the durable journal with group commit and
//!   torn-tail recovery ([`journal`]), streaming verification ([`verify`]), receipts
//!   ([`receipt`], with the group-commit batch tree in [`batch`]) and key files
//!   ([`keyfile`]).
//! - **Transparency** ([`transparency`]): the RFC 6962 Merkle tree ([`merkle`]) and its
//!   `<log>.tree` file ([`tree_file`]), signed notes and checkpoints ([`note`]), the
//!   `<log>.checkpoints` store ([`checkpoint_file`]), the journal's tree-and-checkpoint
//!   keeper ([`transparency::Transparency`]), public-key verification of checkpoints
//!   and anchors ([`tlog_verify`]), standalone DSSE receipts ([`dsse`]) and RFC 3161
//!   timestamps ([`tsp`]).
//! - **Shared**: [`durable`] (every create, open, lock and fsync of the log and its
//!   side files, and the side-file names) and [`util`] (hex, time, random).
//!
//! The modules of each half are also re-exported at the crate root
//! (`signet_audit::journal`, `signet_audit::merkle`, …), the paths callers use.
//!
//! # The format (normative text: `docs/audit-format.md`)
//!
//! One canonical JSON object per line, `\n`-terminated, UTF-8: keys sorted by code
//! point, no whitespace, non-ASCII raw, only `"`, `\\` and control characters escaped
//! (`\b \f \n \r \t`, others `\u00xx`), no floats written by us (floats from signet
//! 0.1 are accepted as Python's `repr` writes them). Exactly the signet 0.1 fields:
//! `approval_chain`, `check_name`, `decision`, `entry_id`, `hmac`, `metadata`,
//! `owner_id`, `owner_type`, `prev_hmac`, `reason`, `request_fingerprint`, `ts_ns`.
//! `metadata` carries `_seq` (0-based, contiguous), `_signing_key_id` and `_anchor`.
//!
//! `hmac` is HMAC-SHA256 over the line's exact bytes with the `"hmac":"…"` member (and
//! its leading comma) cut out; `prev_hmac` is the previous line's `hmac` (`""` first).
//! This line verifies under key
//! `d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b` (id `k1`):
//!
//! ```
//! use signet_audit::{HmacKey, LineView};
//! let line = br#"{"approval_chain":["human:alice@example.com"],"check_name":"pipeline.complete","decision":"allow","entry_id":"3f0c6a52-8d4e-4b7a-9c21-5e8f0a1b2c3d","hmac":"b9d8b2989c6e7262b24820c9e1d8547d48b8dae643e00d2460357c5f8d84828f","metadata":{"_anchor":{"backend":"none"},"_seq":0,"_signing_key_id":"k1","finish_reason":"stop","method":"POST","path":"/v1/chat/completions","response_fingerprint":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","status":200,"upstream_latency_us":48211},"owner_id":"alice@example.com","owner_type":"human","prev_hmac":"","reason":"request completed","request_fingerprint":"sha256:2b0e41b0b88bcdb6961aabe178a3a013e9636b5593e9e8a9ee7afd34e3c7dfff","ts_ns":1795294946570563090}"#;
//! let key = HmacKey::from_hex(
//!     "k1",
//!     "d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b",
//! )?;
//! let view = LineView::parse(line)?;
//! assert!(view.canonical);
//! assert_eq!(view.seq, Some(0));
//! assert!(key.mac(&view.payload_parts(line)).ct_eq_hex(&view.hmac));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Writing goes through [`journal::Journal`] (or its group-commit
//! [`journal::writer::JournalWriter`]); checking through [`verify::verify`].
#![forbid(unsafe_code)]

pub mod durable;
pub mod log;
pub mod transparency;
pub mod util;

pub use log::{batch, entry, journal, json, key, keyfile, line, receipt, verify};
pub use transparency::{checkpoint_file, dsse, merkle, note, tlog_verify, tree_file, tsp};

pub use entry::{Decision, EntryDraft, OwnerType, SealedLine, seal};
pub use key::{HmacKey, KeyRing, MacTag};
pub use line::LineView;
