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
use signet_audit::OwnerType;
use signet_audit::json::Map;

pub use crate::verdict::{Level, Refusal};

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

/// One admission check.
pub trait AdmissionCheck: Send + Sync {
    fn name(&self) -> &'static str;
    /// Inspect the request; refuse, or update `state` and let it pass.
    fn check(&self, req: &Request<'_>, state: &mut AdmissionState) -> Result<(), Refusal>;
}
