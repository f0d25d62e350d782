//! The commit stage, and the one exit of every request.
//!
//! Guarantees:
//! - [`ready`] fails closed: while the journal cannot write (and a probe does not
//!   find it writable again), the request stops before anything is read or forwarded.
//! - [`intent`] (two-phase mode) makes an intent entry durable before the request is
//!   forwarded, so a crash mid-request still leaves a trace.
//! - [`finish`] is the only function that writes a request's terminal entry and
//!   builds what its client gets: every stop, refusal, failure, completion and stream
//!   end (unary or streamed, also a panic caught in [`super::handle`]) goes through
//!   it, so there is exactly one terminal entry per request. The response is built by
//!   `respond` from the commit's result: released with its receipt only once the
//!   entry is durable.

use signet_audit::json::Map;
use signet_audit::util::new_uuid_v4;
use signet_audit::{Decision, EntryDraft};

use super::entry;
use super::facts::Facts;
use super::stop::{Outcome, Stop, StreamEnd};
use crate::body::{Body, BoxError};
use crate::commit::{CommitError, CommitReceipt};
use crate::gateway::Gateway;
use crate::respond::{self, Failure};

/// Fails closed while the journal cannot write.
pub async fn ready(gw: &Gateway) -> Result<(), Stop> {
    if gw.committer.probe().await {
        Ok(())
    } else {
        Err(Stop::AuditUnavailable)
    }
}

/// Two-phase mode: the intent entry, durable before the request is forwarded. Also
/// the last look at the journal's health before the upstream is called.
pub async fn intent(gw: &Gateway, facts: &Facts) -> Result<(), Stop> {
    if gw.cfg.two_phase {
        let mut extra = Map::new();
        extra.insert("phase".into(), "intent".into());
        extra.insert("terminal_entry_id".into(), facts.entry_id.as_str().into());
        let mut d = facts.draft(
            facts.meta.clone(),
            "pipeline.intent",
            Decision::Allow,
            "admitted; forwarding to upstream",
            0,
            extra,
        );
        // The intent has its own id; the terminal entry keeps the client-visible one.
        d.entry_id = new_uuid_v4();
        if let Err(e) = gw.committer.commit(d).await {
            tracing::error!(entry_id = %facts.entry_id, error = %e, "intent entry could not be written");
            return Err(Stop::AuditUnavailable);
        }
    }
    if gw.committer.healthy() {
        Ok(())
    } else {
        Err(Stop::AuditUnavailable)
    }
}

/// One way a request ends: its terminal entry, and what its client gets once that
/// entry is settled.
pub trait End {
    /// What the client gets: a whole response, or the tail of a stream.
    type Exit;
    /// The terminal entry and the check it is counted under; `None` when the journal
    /// is unavailable and nothing can be written.
    fn entry(&self, facts: &mut Facts) -> Option<(EntryDraft, &'static str)>;
    /// Built by `respond` from the commit's result (`CommitError::Unavailable` when no
    /// entry was possible).
    fn exit(
        self,
        gw: &Gateway,
        entry_id: &str,
        committed: Result<CommitReceipt, CommitError>,
    ) -> Self::Exit;
}

/// THE exit: writes the terminal entry of `end` (once), counts its decision, and
/// returns what the client gets.
pub async fn finish<E: End>(gw: &Gateway, mut facts: Facts, end: E) -> E::Exit {
    let committed = match end.entry(&mut facts) {
        None => {
            gw.committer.refused_unavailable();
            Err(CommitError::Unavailable)
        }
        Some((draft, check)) => {
            let decision = draft.decision.as_str();
            // A forwarded request's entry must survive a failed commit: the writer
            // hands it back to be written late (nothing is copied on the way).
            let r = if facts.forwarded {
                gw.committer.commit_forwarded(draft).await
            } else {
                gw.committer.commit(draft).await
            };
            match &r {
                Ok(c) => {
                    tracing::debug!(entry_id = %facts.entry_id, seq = c.committed.seq, "request committed");
                    gw.metrics.decision(check, decision);
                }
                Err(e) => {
                    tracing::error!(entry_id = %facts.entry_id, error = %e, "audit entry could not be written; response withheld");
                }
            }
            r
        }
    };
    end.exit(gw, &facts.entry_id, committed)
}

impl End for Outcome {
    type Exit = http::Response<Body>;

    fn entry(&self, facts: &mut Facts) -> Option<(EntryDraft, &'static str)> {
        entry::whole(facts, self)
    }

    fn exit(
        self,
        gw: &Gateway,
        entry_id: &str,
        committed: Result<CommitReceipt, CommitError>,
    ) -> Self::Exit {
        match self {
            Outcome::Done(u) => match &committed {
                Ok(c) => respond::committed(&gw.cfg, u.parts, u.body, entry_id, c),
                Err(_) => respond::audit_unavailable(entry_id),
            },
            Outcome::Stop(stop) => {
                let f = match &stop {
                    Stop::Refused(_, r) => Failure::Refused {
                        status: r.status,
                        check: r.check,
                        reason: &r.reason,
                        retry_after_s: r.retry_after_s,
                    },
                    Stop::Upstream { timeout: true, .. } => Failure::UpstreamTimeout,
                    Stop::Upstream { timeout: false, .. } => Failure::UpstreamUnavailable,
                    Stop::AuditUnavailable => Failure::AuditUnavailable,
                    Stop::Internal => Failure::Internal,
                };
                respond::refused(&gw.cfg, &f, entry_id, committed.as_ref())
            }
        }
    }
}

/// A stream's end, with whether it was an SSE stream.
pub struct Streamed {
    pub end: StreamEnd,
    pub is_sse: bool,
}

impl End for Streamed {
    type Exit = Vec<Result<hyper::body::Frame<bytes::Bytes>, BoxError>>;

    fn entry(&self, facts: &mut Facts) -> Option<(EntryDraft, &'static str)> {
        Some(entry::streamed(facts, &self.end))
    }

    fn exit(
        self,
        gw: &Gateway,
        entry_id: &str,
        committed: Result<CommitReceipt, CommitError>,
    ) -> Self::Exit {
        respond::stream_tail(
            &gw.cfg,
            entry_id,
            self.is_sse,
            self.end.client_gone,
            committed.as_ref(),
        )
    }
}
