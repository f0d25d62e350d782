//! What the audit log says about each way a request ends: the one mapping from an
//! end ([`Outcome`], [`StreamEnd`]) to its terminal entry.
//!
//! Guarantees: every end but [`Stop::AuditUnavailable`] (when nothing can be written)
//! has exactly one entry, drafted here from the request's [`Facts`]: its
//! `check_name`, `decision`, `reason`, `status` and `finish_reason`, and the name the
//! decision metrics count it under.

use signet_audit::json::{Map, Value};
use signet_audit::{Decision, EntryDraft};

use super::facts::{Facts, fingerprint};
use super::stop::{Outcome, Stage, Stop, StreamEnd};
use crate::verdict::Refusal;

/// The terminal entry of a request whose response is sent whole, and the check it is
/// counted under; `None` when the journal is unavailable.
pub fn whole(facts: &mut Facts, end: &Outcome) -> Option<(EntryDraft, &'static str)> {
    let meta = std::mem::take(&mut facts.meta);
    let entry = match end {
        Outcome::Stop(Stop::AuditUnavailable) => return None,
        Outcome::Stop(Stop::Refused(stage, r)) => {
            (refusal(facts, meta, *stage, r, r.status), r.check)
        }
        Outcome::Stop(Stop::Upstream { timeout, reason }) => {
            let (kind, status) = if *timeout {
                ("upstream_timeout", 504)
            } else {
                ("upstream_error", 502)
            };
            let mut extra = Map::new();
            extra.insert("finish_reason".into(), kind.into());
            let d = facts.draft(
                meta,
                "pipeline.upstream",
                Decision::Block,
                reason,
                status,
                extra,
            );
            (d, "upstream")
        }
        Outcome::Stop(Stop::Internal) => {
            let mut extra = Map::new();
            extra.insert("finish_reason".into(), "internal_error".into());
            let d = facts.draft(
                meta,
                "pipeline.internal",
                Decision::Block,
                "internal error in the gateway",
                500,
                extra,
            );
            (d, "internal")
        }
        Outcome::Done(u) => {
            let mut extra = Map::new();
            extra.insert("response_fingerprint".into(), fingerprint(&u.body).into());
            extra.insert("response_bytes".into(), Value::from(u.body.len() as u64));
            extra.insert("finish_reason".into(), u.finish_reason.as_str().into());
            completed(facts, meta, u.parts.status.as_u16(), extra)
        }
    };
    Some(entry)
}

/// The terminal entry of a streamed response, and the check it is counted under.
pub fn streamed(facts: &mut Facts, end: &StreamEnd) -> (EntryDraft, &'static str) {
    let mut meta = std::mem::take(&mut facts.meta);
    if !end.shadowed.is_empty() {
        meta.insert(
            "shadow_refusals".into(),
            Value::Array(end.shadowed.iter().map(|c| Value::from(*c)).collect()),
        );
    }
    let mut extra = Map::new();
    extra.insert("finish_reason".into(), end.finish_reason.as_str().into());
    extra.insert(
        "response_fingerprint".into(),
        end.fingerprint.as_str().into(),
    );
    extra.insert("response_bytes".into(), Value::from(end.bytes));
    extra.insert("streamed".into(), true.into());
    let status = end.status;
    match &end.abort {
        Some(r) => {
            let mut extra = extra;
            extra.insert("upstream_status".into(), Value::from(u64::from(status)));
            for (k, v) in extra {
                meta.insert(k, v);
            }
            (refusal(facts, meta, Stage::Inspection, r, status), r.check)
        }
        None if end.client_gone => {
            let d = facts.draft(
                meta,
                "pipeline.complete",
                Decision::Allow,
                "client disconnected mid-stream",
                status,
                extra,
            );
            (d, "pipeline.complete")
        }
        None if end.finish_reason == "timeout" || end.finish_reason == "upstream_error" => {
            let d = facts.draft(
                meta,
                "pipeline.upstream",
                Decision::Block,
                "upstream stream ended abnormally",
                status,
                extra,
            );
            (d, "pipeline.complete")
        }
        None => completed(facts, meta, status, extra),
    }
}

/// A refusal's entry at `stage`: the check's own metadata, `_check_name`, `_stage`.
fn refusal(facts: &Facts, meta: Map, stage: Stage, r: &Refusal, status: u16) -> EntryDraft {
    let mut extra = r.metadata.clone();
    extra.insert("_check_name".into(), r.check.into());
    extra.insert("_stage".into(), stage.as_str().into());
    facts.draft(
        meta,
        stage.check_name(),
        r.decision,
        &r.reason,
        status,
        extra,
    )
}

/// A completed request's entry: `redact` when admission rewrote the request, `allow`
/// otherwise.
fn completed(facts: &Facts, meta: Map, status: u16, extra: Map) -> (EntryDraft, &'static str) {
    let decision = if meta.contains_key("redactions") {
        Decision::Redact
    } else {
        Decision::Allow
    };
    let d = facts.draft(
        meta,
        "pipeline.complete",
        decision,
        "request completed",
        status,
        extra,
    );
    (d, "pipeline.complete")
}
