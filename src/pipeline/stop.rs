//! How a request's path can end: a [`Stop`] before any response byte left (a
//! refusal at a stage, an upstream failure, the journal unavailable, a bug), a
//! completed [`Unary`] response, or the [`StreamEnd`] of a streamed one.
//!
//! Guarantees: these are the only ways out of the stages; `commit::finish` turns
//! each of them into the request's one terminal entry and its response.

use bytes::Bytes;

use crate::verdict::Refusal;

/// The stage that refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Preflight,
    Admission,
    Inspection,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Preflight => "preflight",
            Stage::Admission => "admission",
            Stage::Inspection => "inspection",
        }
    }

    /// The entry's `check_name` for a refusal at this stage.
    pub fn check_name(self) -> &'static str {
        match self {
            Stage::Preflight => "pipeline.preflight",
            Stage::Admission => "pipeline.admission",
            Stage::Inspection => "pipeline.inspection",
        }
    }
}

/// Why a request stopped before its response began.
#[derive(Debug)]
pub enum Stop {
    /// A check refused (the status is the check's).
    Refused(Stage, Refusal),
    /// The upstream failed, or did not answer in time.
    Upstream { timeout: bool, reason: &'static str },
    /// The journal cannot write: nothing is forwarded, and no entry can be written.
    AuditUnavailable,
    /// A bug in the gateway (a check panicked, ...).
    Internal,
}

impl Stop {
    /// A plain block at `stage`.
    pub fn at(stage: Stage, status: u16, check: &'static str, reason: impl Into<String>) -> Stop {
        Stop::Refused(stage, Refusal::new(status, check, reason))
    }
}

/// A unary response, inspected whole and ready to be released once its entry is
/// durable.
pub struct Unary {
    pub parts: http::response::Parts,
    pub body: Bytes,
    pub finish_reason: String,
}

/// The end of a streamed response whose head has already been sent.
pub struct StreamEnd {
    /// The upstream's status (already sent to the client).
    pub status: u16,
    /// `stop`, `end`, `timeout`, `upstream_error`, `client_disconnect`, `<check>_abort`.
    pub finish_reason: String,
    /// The inspector's refusal that cut the stream, if one did.
    pub abort: Option<Refusal>,
    pub client_gone: bool,
    /// `sha256:<hex>` of exactly the bytes the client was sent, and their count.
    pub fingerprint: String,
    pub bytes: u64,
    /// Checks that would have refused (shadow mode).
    pub shadowed: Vec<&'static str>,
}

/// What the stages hand to the one exit of a request whose response is sent whole.
pub enum Outcome {
    Stop(Stop),
    Done(Unary),
}
