//! Admission: who is calling and may this request go upstream at all.
//!
//! Guarantees: checks run in a fixed order over a request whose body is already held
//! (bounded by the body cap), so a refused request never reaches the upstream. Each
//! check is a small [`AdmissionCheck`] in its own file; the first refusal wins. A check
//! sees only borrowed request parts and the [`AdmissionState`] built so far.

pub mod body_cap;
pub mod body_json;
pub mod classification;
pub mod headers;
pub mod owner;
pub mod rate_limit;
pub mod regex_content;
pub mod trust;

use std::net::IpAddr;

use bytes::Bytes;
use http::HeaderMap;
use signet_audit::json::Map;
use signet_audit::{Decision, OwnerType};

/// The parts of a request admission looks at.
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    pub client_ip: IpAddr,
    /// The whole request body (at most the body cap).
    pub body: &'a [u8],
}

/// Who a request is attributed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub kind: OwnerType,
    /// e.g. `alice@example.com`, `nightly-syncer`, `acme-default@v3`.
    pub id: String,
    /// e.g. `["human:alice@example.com"]`.
    pub approval_chain: Vec<String>,
    /// How the owner was established: `header` or `trusted_network`.
    pub method: &'static str,
}

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

/// What admission has established so far; the pipeline reads it afterwards.
#[derive(Clone, Debug, Default)]
pub struct AdmissionState {
    /// Owner from an owner header, or from a trusted network when no header was sent.
    pub owner: Option<Owner>,
    /// Owner a trusted network would supply (set by `trusted_networks`).
    pub network_owner: Option<Owner>,
    /// The request's `X-Classification` (UNCLASS when absent).
    pub classification: Option<Level>,
    /// `max_tokens` from a JSON request body, for the inspection length cap.
    pub max_tokens: Option<u64>,
    /// A rewritten body (redaction); forwarded instead of the original.
    pub body_rewrite: Option<Bytes>,
    /// Checks that redacted something, for the entry (`decision` becomes `redact`).
    pub redactions: Vec<String>,
    /// Extra facts for the audit entry (strings and integers only).
    pub metadata: Map,
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

/// One admission check.
pub trait AdmissionCheck: Send + Sync {
    fn name(&self) -> &'static str;
    /// Inspect the request; refuse, or update `state` and let it pass.
    fn check(&self, req: &Request<'_>, state: &mut AdmissionState) -> Result<(), Refusal>;
}
