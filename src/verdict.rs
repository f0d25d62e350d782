//! What a check concludes, shared by admission and inspection: a [`Refusal`] (what the
//! client is told through `respond`, and what the audit entry records) and the ordered
//! classification [`Level`]s that both stages compare.
//!
//! Guarantees: a refusal carries a fixed check name (`&'static str`), so the set of
//! names the metrics and the entries see is closed; its reason and metadata go to the
//! audit entry, never to the client in strict mode (see `respond`).

use signet_audit::Decision;
use signet_audit::json::Map;

/// Classification levels, ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Unclass,
    Cui,
    Secret,
    TopSecret,
    TsSci,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unclass => "UNCLASS",
            Level::Cui => "CUI",
            Level::Secret => "SECRET",
            Level::TopSecret => "TS",
            Level::TsSci => "TS/SCI",
        }
    }
}

/// A refusal: what the client is told (status, fixed body chosen by `respond`) and
/// what the audit entry records.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub status: u16,
    /// The check that refused, e.g. `owner_resolution`.
    pub check: &'static str,
    pub decision: Decision,
    /// Human-readable reason for the audit entry (and verbose error mode).
    pub reason: String,
    /// Seconds for a `Retry-After` header (rate limit).
    pub retry_after_s: Option<u64>,
    /// Extra facts for the audit entry.
    pub metadata: Map,
}

impl Refusal {
    pub fn new(status: u16, check: &'static str, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            check,
            decision: Decision::Block,
            reason: reason.into(),
            retry_after_s: None,
            metadata: Map::new(),
        }
    }
}
