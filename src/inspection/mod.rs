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

use crate::verdict::{Level, Refusal};

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

/// The inspection checks of one policy, shared by every response it inspects.
pub type Checks = std::sync::Arc<[Box<dyn InspectionCheck>]>;

/// Named inspectors of one response.
pub type Inspectors = Vec<(&'static str, Box<dyn Inspector>)>;

/// Most choices (`n`) one response may carry; more is refused (each choice holds its
/// own inspectors).
pub const MAX_CHOICES: usize = 128;

/// All inspectors of one response, from one policy snapshot. The generated text goes
/// to `content` (with the request's length cap), except the text of each element of
/// a top-level `choices` array, which goes to that choice's own set (started when the
/// choice first appears): with `n > 1` choices stream interleaved, and another
/// choice's delta between two halves of a marker must not hide it. Everything else
/// (keys, ids, envelope fields, SSE framing) goes to `framing` (no length cap), so
/// framing between two halves of a marker never hides it and markers in the framing
/// are found.
pub struct ResponseInspectors {
    checks: Checks,
    ctx: InspectCtx,
    pub content: Inspectors,
    pub choices: Vec<(u64, Inspectors)>,
    pub framing: Inspectors,
}

fn start_all(checks: &[Box<dyn InspectionCheck>], ctx: &InspectCtx) -> Inspectors {
    checks.iter().map(|c| (c.name(), c.start(ctx))).collect()
}

/// Feeds `text` to every inspector of `set`; in shadow mode refusals are collected
/// and inspection goes on, otherwise the first one is returned.
pub fn feed_all(
    set: &mut Inspectors,
    text: &str,
    shadow: bool,
    shadowed: &mut Vec<Refusal>,
) -> Result<(), Refusal> {
    for (_, ins) in set.iter_mut() {
        if let Err(r) = ins.feed(text) {
            if shadow {
                shadowed.push(r);
            } else {
                return Err(r);
            }
        }
    }
    Ok(())
}

impl ResponseInspectors {
    pub fn start(checks: Checks, ctx: &InspectCtx) -> Self {
        let framing_ctx = InspectCtx {
            max_tokens: None,
            ..ctx.clone()
        };
        ResponseInspectors {
            content: start_all(&checks, ctx),
            choices: Vec::new(),
            framing: start_all(&checks, &framing_ctx),
            checks,
            ctx: ctx.clone(),
        }
    }

    /// True when the policy inspects nothing.
    pub fn is_empty(&self) -> bool {
        self.framing.is_empty()
    }

    /// Feeds one split payload: content, each choice's text, the rest.
    pub fn feed(
        &mut self,
        split: &text::Split,
        shadow: bool,
        shadowed: &mut Vec<Refusal>,
    ) -> Result<(), Refusal> {
        if !split.content.is_empty() {
            feed_all(&mut self.content, &split.content, shadow, shadowed)?;
        }
        for (index, text) in &split.choices {
            let pos = match self.choices.iter().position(|(i, _)| i == index) {
                Some(p) => p,
                None if self.choices.len() >= MAX_CHOICES => {
                    return Err(Refusal::new(
                        502,
                        "response_format",
                        format!("response carries more than {MAX_CHOICES} choices"),
                    ));
                }
                None => {
                    let set = start_all(&self.checks, &self.ctx);
                    self.choices.push((*index, set));
                    self.choices.len() - 1
                }
            };
            feed_all(&mut self.choices[pos].1, text, shadow, shadowed)?;
        }
        if !split.rest.is_empty() {
            feed_all(&mut self.framing, &split.rest, shadow, shadowed)?;
        }
        Ok(())
    }

    /// Feeds text that is all generated content (a streamed body that is not SSE).
    pub fn feed_content(
        &mut self,
        text: &str,
        shadow: bool,
        shadowed: &mut Vec<Refusal>,
    ) -> Result<(), Refusal> {
        feed_all(&mut self.content, text, shadow, shadowed)
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut (&'static str, Box<dyn Inspector>)> {
        self.content
            .iter_mut()
            .chain(self.choices.iter_mut().flat_map(|(_, s)| s.iter_mut()))
            .chain(self.framing.iter_mut())
    }

    /// True while any inspector is deciding (see [`Inspector::holding`]).
    pub fn holding(&self) -> bool {
        self.content
            .iter()
            .chain(self.choices.iter().flat_map(|(_, s)| s.iter()))
            .chain(self.framing.iter())
            .any(|(_, i)| i.holding())
    }

    /// Ends the response for every inspector; shadow mode as in [`feed_all`].
    pub fn finish(&mut self, shadow: bool, shadowed: &mut Vec<Refusal>) -> Result<(), Refusal> {
        for (_, ins) in self.all_mut() {
            if let Err(r) = ins.finish() {
                if shadow {
                    shadowed.push(r);
                } else {
                    return Err(r);
                }
            }
        }
        Ok(())
    }
}
