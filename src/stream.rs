//! Streamed responses: SSE inspected event by event, or any body passed through when
//! no inspector runs; the entry is committed when the stream ends.
//!
//! Guarantees:
//! - An SSE event reaches the client only after every inspector has seen it and none
//!   is still deciding about its end (a marker whose verdict depends on the next
//!   characters holds the events until it is decided); an abort
//!   sends `data: {"signet_abort":true,"reason":…,"correlation_id":…}` and
//!   `data: [DONE]`, and nothing from the upstream after that.
//! - Exactly one entry per stream, whatever ends it: upstream end, abort, upstream
//!   error, timeout, or the client going away (`finish_reason` says which).
//! - The receipt follows the entry: as an HTTP trailer, and for SSE also as a final
//!   comment line `: signet-receipt …` (which SSE clients ignore).
//! - `response_fingerprint` is the SHA-256 of exactly the bytes sent to the client.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::BodyExt;
use hyper::body::Frame;
use sha2::{Digest, Sha256};
use signet_audit::json::{self, Map, Value};
use signet_audit::util::to_hex;
use signet_audit::{Decision, EntryDraft};

use crate::admission::Refusal;
use crate::body::{self, Body, FrameSender};
use crate::inspection::ResponseInspectors;
use crate::inspection::sse::{SseEvent, SseSplitter};
use crate::inspection::text::{Split, split_for_inspection};
use crate::pipeline::{Facts, Gateway};
use crate::respond;
use crate::upstream::UpstreamBody;

/// Largest single SSE event accepted from the upstream.
const MAX_EVENT: usize = 1 << 20;

/// Starts streaming `rbody` to the client; returns the response head at once.
#[allow(clippy::too_many_arguments)]
pub fn respond(
    gw: Arc<Gateway>,
    facts: Facts,
    mut rparts: http::response::Parts,
    rbody: UpstreamBody,
    inspectors: ResponseInspectors,
    is_sse: bool,
    deadline: Instant,
) -> Response<Body> {
    rparts.headers.remove(http::header::CONTENT_LENGTH);
    if gw.cfg.emit_receipts {
        let name = gw.cfg.receipt_header_name.as_str();
        if let Ok(v) = HeaderValue::from_str(name) {
            rparts.headers.insert(http::header::TRAILER, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&facts.entry_id) {
        rparts.headers.insert(respond::CORRELATION_HEADER, v);
    }
    let status = rparts.status.as_u16();
    let (tx, body) = body::channel(16);
    tokio::spawn(pump(
        gw, facts, status, rbody, inspectors, is_sse, deadline, tx,
    ));
    Response::from_parts(rparts, body)
}

/// What ended the stream.
struct End {
    finish_reason: String,
    abort: Option<Refusal>,
    client_gone: bool,
}

struct Out {
    tx: FrameSender,
    hasher: Sha256,
    bytes: u64,
    gone: bool,
}

impl Out {
    /// Sends and clears `held`, in order; false when the client is gone.
    async fn send_all(&mut self, held: &mut Vec<Bytes>) -> bool {
        for b in held.drain(..) {
            if !self.send(b).await {
                return false;
            }
        }
        true
    }

    async fn send(&mut self, b: Bytes) -> bool {
        if self.gone {
            return false;
        }
        let n = b.len() as u64;
        let h = b.clone();
        if self.tx.send(Ok(Frame::data(b))).await.is_err() {
            self.gone = true;
            return false;
        }
        self.hasher.update(&h);
        self.bytes += n;
        true
    }
}

/// An SSE event split for inspection: `content` (generated text, which continues
/// from event to event) and `rest` (event name, id, retry, comments, keys and every
/// other string of the data). Every forwarded byte is covered: a line that is not a
/// comment nor an SSE field makes the stream invalid, so content cannot hide in lines
/// that parsers ignore; data that looks like JSON but is not valid JSON is refused; an
/// upstream comment posing as the gateway's receipt is refused.
fn event_parts(ev: &SseEvent) -> Result<Split, Refusal> {
    let invalid = |why: &str| {
        Refusal::new(
            502,
            "sse_format",
            format!("upstream stream is not valid SSE: {why}"),
        )
    };
    let mut rest = String::new();
    for line in ev.raw.split(|&b| b == b'\n' || b == b'\r') {
        // `data` lines are inspected through `ev.data`; only the others are decoded.
        let field_end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        if line.is_empty() || (field_end > 0 && &line[..field_end] == b"data") {
            continue;
        }
        let line = String::from_utf8_lossy(line);
        let line = line.as_ref();
        if let Some(comment) = line.strip_prefix(':') {
            if comment.trim_start().starts_with("signet-receipt") {
                return Err(Refusal::new(
                    502,
                    "sse_forged_receipt",
                    "upstream sent a comment posing as a gateway receipt",
                ));
            }
            rest.push_str(comment);
            rest.push('\n');
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        match field {
            "data" => {}
            "event" | "id" | "retry" => {
                rest.push_str(value);
                rest.push('\n');
            }
            _ => return Err(invalid("a line that is not an SSE field or comment")),
        }
    }
    if ev.data.trim() == "[DONE]" {
        return Ok(Split {
            rest,
            ..Split::default()
        });
    }
    let mut split = split_for_inspection(ev.data.as_bytes()).map_err(invalid)?;
    rest.push_str(&split.rest);
    split.rest = rest;
    Ok(split)
}

/// Inspects one event: its generated text (per choice, continuing from event to
/// event, with the length cap) and everything else (framing, ids, names, comments,
/// other fields; see [`ResponseInspectors`]). Returns the event's `finish_reason`.
fn inspect_event(
    inspectors: &mut ResponseInspectors,
    ev: &SseEvent,
    shadow: bool,
    shadowed: &mut Vec<Refusal>,
) -> Result<Option<String>, Refusal> {
    let split = event_parts(ev)?;
    inspectors.feed(&split, shadow, shadowed)?;
    Ok(split.finish_reason)
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    gw: Arc<Gateway>,
    mut facts: Facts,
    status: u16,
    mut rbody: UpstreamBody,
    mut inspectors: ResponseInspectors,
    is_sse: bool,
    deadline: Instant,
    tx: FrameSender,
) {
    let mut out = Out {
        tx,
        hasher: Sha256::new(),
        bytes: 0,
        gone: false,
    };
    let mut splitter = SseSplitter::new(MAX_EVENT);
    // Inspected events not yet released because an inspector is still deciding.
    let mut held: Vec<Bytes> = Vec::new();
    let mut shadowed = Vec::new();
    let mut last_reason = String::from("end");
    let shadow = gw.cfg.shadow;
    let end = 'read: loop {
        let frame = match tokio::time::timeout_at(deadline.into(), rbody.frame()).await {
            Err(_) => {
                break End {
                    finish_reason: "timeout".into(),
                    abort: None,
                    client_gone: false,
                };
            }
            Ok(None) => {
                break End {
                    finish_reason: String::new(),
                    abort: None,
                    client_gone: false,
                };
            }
            Ok(Some(Err(_))) => {
                break End {
                    finish_reason: "upstream_error".into(),
                    abort: None,
                    client_gone: false,
                };
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if !is_sse {
            if let Err(r) =
                inspectors.feed_content(&String::from_utf8_lossy(&data), shadow, &mut shadowed)
            {
                break End {
                    finish_reason: format!("{}_abort", r.check),
                    abort: Some(r),
                    client_gone: false,
                };
            }
            if !out.send(data).await {
                break End {
                    finish_reason: "client_disconnect".into(),
                    abort: None,
                    client_gone: true,
                };
            }
            continue;
        }
        let events = match splitter.push(&data) {
            Ok(evs) => evs,
            Err(e) => {
                let r = Refusal::new(
                    502,
                    "sse_format",
                    format!("upstream stream is not valid SSE: {e}"),
                );
                break End {
                    finish_reason: "sse_format_abort".into(),
                    abort: Some(r),
                    client_gone: false,
                };
            }
        };
        for ev in events {
            match inspect_event(&mut inspectors, &ev, shadow, &mut shadowed) {
                Err(r) => {
                    break 'read End {
                        finish_reason: format!("{}_abort", r.check),
                        abort: Some(r),
                        client_gone: false,
                    };
                }
                Ok(Some(fr)) => last_reason = fr,
                Ok(None) => {}
            }
            held.push(ev.raw);
            let deciding = inspectors.holding();
            if !deciding && !out.send_all(&mut held).await {
                break 'read End {
                    finish_reason: "client_disconnect".into(),
                    abort: None,
                    client_gone: true,
                };
            }
        }
    };
    let mut end = end;
    if end.abort.is_none() && !end.client_gone && end.finish_reason.is_empty() {
        // Upstream finished: flush a trailing event without its blank line, then let
        // every inspector conclude.
        if is_sse && let Ok(Some(ev)) = splitter.finish() {
            match inspect_event(&mut inspectors, &ev, shadow, &mut shadowed) {
                Err(r) => {
                    end = End {
                        finish_reason: format!("{}_abort", r.check),
                        abort: Some(r),
                        client_gone: false,
                    }
                }
                Ok(fr) => {
                    if let Some(fr) = fr {
                        last_reason = fr;
                    }
                    held.push(ev.raw);
                }
            }
        }
        if end.abort.is_none()
            && !end.client_gone
            && let Err(r) = inspectors.finish(shadow, &mut shadowed)
        {
            end = End {
                finish_reason: format!("{}_abort", r.check),
                abort: Some(r),
                client_gone: false,
            };
        }
        // Everything is decided now: release what was held, unless it was refused.
        if end.abort.is_none() && !end.client_gone && !out.send_all(&mut held).await {
            end = End {
                finish_reason: "client_disconnect".into(),
                abort: None,
                client_gone: true,
            };
        }
        if end.finish_reason.is_empty() {
            end.finish_reason = last_reason;
        }
    }
    if let Some(r) = &end.abort {
        let reason = if gw.cfg.strict_error_redaction {
            r.check.to_owned()
        } else {
            r.reason.clone()
        };
        let mut m = Map::new();
        m.insert("correlation_id".into(), facts.entry_id.as_str().into());
        m.insert("reason".into(), reason.into());
        m.insert("signet_abort".into(), true.into());
        let mut line = b"data: ".to_vec();
        json::write_canonical(&Value::Object(m), &mut line);
        line.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        if is_sse {
            out.send(Bytes::from(line)).await;
        }
    }
    if !shadowed.is_empty() {
        facts.meta.insert(
            "shadow_refusals".into(),
            Value::Array(shadowed.iter().map(|r| Value::from(r.check)).collect()),
        );
    }
    let draft = entry_for(&facts, status, &end, &out);
    let check = end.abort.as_ref().map_or("pipeline.complete", |r| r.check);
    let decision = draft.decision.as_str();
    match gw.committer.commit(draft).await {
        Ok(c) => {
            gw.metrics.decision(check, decision);
            if let Some(rc) = c.receipt.filter(|_| gw.cfg.emit_receipts) {
                let value = rc.to_header_value();
                if is_sse {
                    out.send(Bytes::from(format!(": signet-receipt {value}\n\n")))
                        .await;
                }
                if let Ok(v) = HeaderValue::from_str(&value) {
                    let mut t = HeaderMap::new();
                    t.insert(gw.cfg.receipt_header_name.clone(), v);
                    let _ = out.tx.send(Ok(Frame::trailers(t))).await;
                }
            }
        }
        Err(e) => {
            tracing::error!(entry_id = %facts.entry_id, error = %e, "audit entry for a stream could not be written");
            if is_sse && !out.gone {
                let line = format!(
                    "data: {{\"correlation_id\":\"{}\",\"reason\":\"audit_unavailable\",\"signet_abort\":true}}\n\n",
                    facts.entry_id
                );
                out.send(Bytes::from(line)).await;
            }
            let _ = out
                .tx
                .send(Err("audit entry could not be written".into()))
                .await;
        }
    }
}

fn entry_for(facts: &Facts, status: u16, end: &End, out: &Out) -> EntryDraft {
    let mut extra = Map::new();
    extra.insert("finish_reason".into(), end.finish_reason.as_str().into());
    extra.insert(
        "response_fingerprint".into(),
        format!("sha256:{}", to_hex(&out.hasher.clone().finalize())).into(),
    );
    extra.insert("response_bytes".into(), Value::from(out.bytes));
    extra.insert("streamed".into(), true.into());
    match &end.abort {
        Some(r) => {
            for (k, v) in &r.metadata {
                extra.insert(k.clone(), v.clone());
            }
            extra.insert("_check_name".into(), r.check.into());
            extra.insert("_stage".into(), "inspection".into());
            extra.insert("upstream_status".into(), Value::from(u64::from(status)));
            facts.draft("pipeline.inspection", r.decision, &r.reason, status, extra)
        }
        None if end.client_gone => facts.draft(
            "pipeline.complete",
            Decision::Allow,
            "client disconnected mid-stream",
            status,
            extra,
        ),
        None if end.finish_reason == "timeout" || end.finish_reason == "upstream_error" => facts
            .draft(
                "pipeline.upstream",
                Decision::Block,
                "upstream stream ended abnormally",
                status,
                extra,
            ),
        None => facts.draft(
            "pipeline.complete",
            facts.completed_decision(),
            "request completed",
            status,
            extra,
        ),
    }
}
