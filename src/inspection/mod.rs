//! Inspection: what comes back from the upstream, unary or streamed (SSE).
//!
//! Guarantees: every response, unary and streamed, goes through the same inspectors.
//! Text is fed incrementally; an inspector keeps only a bounded window of what it has
//! seen, so inspection cost is linear in the response size. The first refusal aborts
//! the response.

pub mod regex_output;
pub mod scope_drift;
pub mod sse;
pub mod text;

use crate::admission::{Level, Refusal};

/// What an inspector knows about the request it inspects the response of.
#[derive(Clone, Debug)]
pub struct InspectCtx {
    /// The request's classification (UNCLASS when absent).
    pub classification: Level,
    /// `max_tokens` from the request, if any.
    pub max_tokens: Option<u64>,
}

/// Inspects one response. `feed` gets the response's text in order (for JSON and SSE
/// bodies: the decoded string values; otherwise the body as UTF-8, lossy).
pub trait Inspector: Send {
    fn feed(&mut self, text: &str) -> Result<(), Refusal>;
    /// Called once at the end of the response.
    fn finish(&mut self) -> Result<(), Refusal>;
    /// True while the text fed so far ends in something not yet decided (a marker
    /// whose verdict depends on what follows): the stream then holds what it has
    /// until the inspector decides.
    fn holding(&self) -> bool {
        false
    }
}

/// One inspection check: makes an [`Inspector`] per response.
pub trait InspectionCheck: Send + Sync {
    fn name(&self) -> &'static str;
    fn start(&self, ctx: &InspectCtx) -> Box<dyn Inspector>;
}

/// Named inspectors of one response.
pub type Inspectors = Vec<(&'static str, Box<dyn Inspector>)>;

/// All inspectors of one response, started together from one policy snapshot: the
/// generated text goes to `content` (with the request's length cap), everything else
/// (keys, ids, envelope fields, SSE framing) to `framing` (no length cap), so framing
/// between two halves of a marker never hides it and markers in the framing are found.
pub struct ResponseInspectors {
    pub content: Inspectors,
    pub framing: Inspectors,
}

impl ResponseInspectors {
    pub fn start(checks: &[Box<dyn InspectionCheck>], ctx: &InspectCtx) -> Self {
        let framing_ctx = InspectCtx {
            max_tokens: None,
            ..ctx.clone()
        };
        ResponseInspectors {
            content: checks.iter().map(|c| (c.name(), c.start(ctx))).collect(),
            framing: checks
                .iter()
                .map(|c| (c.name(), c.start(&framing_ctx)))
                .collect(),
        }
    }

    /// True when the policy inspects nothing.
    pub fn is_empty(&self) -> bool {
        self.content.is_empty() && self.framing.is_empty()
    }
}
