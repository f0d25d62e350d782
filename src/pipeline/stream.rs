//! The streamed half of inspection: SSE inspected event by event, or any body passed
//! through when no inspector runs; the stream's end goes to the one exit.
//!
//! Guarantees:
//! - An SSE event reaches the client only after every inspector has seen it and none
//!   is still deciding about its end (a marker whose verdict depends on the next
//!   characters holds the events until it is decided); an abort sends the abort
//!   event `respond` builds, and nothing from the upstream after that.
//! - Exactly one entry per stream, whatever ends it: upstream end, abort, upstream
//!   error, timeout, or the client going away (`finish_reason` says which); it is
//!   written by `commit::finish`, and what follows it (the receipt as a trailer and a
//!   final `: signet-receipt` comment) is built by `respond`.
//! - `response_fingerprint` is the SHA-256 of exactly the bytes sent to the client.
//! - The pump runs as a task tracked by the gateway, so a shutdown waits for it.

use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::BodyExt;
use hyper::body::Frame;
use sha2::{Digest, Sha256};
use signet_audit::util::prefixed_hex;

use super::commit::{Streamed, finish};
use super::facts::Facts;
use super::stop::StreamEnd;
use crate::body::{self, Body, FrameSender};
use crate::gateway::Gateway;
use crate::inspection::ResponseInspectors;
use crate::inspection::sse::{SseEvent, SseSplitter};
use crate::inspection::text::{Split, split_for_inspection};
use crate::respond;
use crate::upstream::UpstreamBody;
use crate::verdict::Refusal;

/// Largest single SSE event accepted from the upstream.
const MAX_EVENT: usize = 1 << 20;

/// A response to stream: its head, the upstream's body, and the inspectors.
pub struct Start {
    pub parts: http::response::Parts,
    pub body: UpstreamBody,
    pub inspectors: ResponseInspectors,
    pub is_sse: bool,
}

/// Starts streaming to the client; returns the response head at once.
pub fn start(gw: Arc<Gateway>, facts: Facts, s: Start) -> Response<Body> {
    let status = s.parts.status.as_u16();
    let (tx, body) = body::channel(16);
    let head = respond::stream_head(&gw.cfg, s.parts, &facts.entry_id, body);
    let tracker = gw.inflight.clone();
    tracker.spawn(pump(gw, facts, status, s.body, s.inspectors, s.is_sse, tx));
    head
}

/// What ended the stream.
struct Ending {
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

async fn pump(
    gw: Arc<Gateway>,
    facts: Facts,
    status: u16,
    mut rbody: UpstreamBody,
    mut inspectors: ResponseInspectors,
    is_sse: bool,
    tx: FrameSender,
) {
    let deadline = facts.deadline;
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
                break Ending {
                    finish_reason: "timeout".into(),
                    abort: None,
                    client_gone: false,
                };
            }
            Ok(None) => {
                break Ending {
                    finish_reason: String::new(),
                    abort: None,
                    client_gone: false,
                };
            }
            Ok(Some(Err(_))) => {
                break Ending {
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
                break Ending {
                    finish_reason: format!("{}_abort", r.check),
                    abort: Some(r),
                    client_gone: false,
                };
            }
            if !out.send(data).await {
                break Ending {
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
                break Ending {
                    finish_reason: "sse_format_abort".into(),
                    abort: Some(r),
                    client_gone: false,
                };
            }
        };
        for ev in events {
            match inspect_event(&mut inspectors, &ev, shadow, &mut shadowed) {
                Err(r) => {
                    break 'read Ending {
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
                break 'read Ending {
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
                    end = Ending {
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
            end = Ending {
                finish_reason: format!("{}_abort", r.check),
                abort: Some(r),
                client_gone: false,
            };
        }
        // Everything is decided now: release what was held, unless it was refused.
        if end.abort.is_none() && !end.client_gone && !out.send_all(&mut held).await {
            end = Ending {
                finish_reason: "client_disconnect".into(),
                abort: None,
                client_gone: true,
            };
        }
        if end.finish_reason.is_empty() {
            end.finish_reason = last_reason;
        }
    }
    if let Some(r) = &end.abort
        && is_sse
    {
        out.send(respond::stream_abort(&gw.cfg, &facts.entry_id, r))
            .await;
    }
    let end = StreamEnd {
        status,
        finish_reason: end.finish_reason,
        abort: end.abort,
        client_gone: end.client_gone,
        fingerprint: prefixed_hex("sha256:", &out.hasher.clone().finalize()),
        bytes: out.bytes,
        shadowed: shadowed.iter().map(|r| r.check).collect(),
    };
    // What follows the entry; a client that is gone has closed the channel.
    for frame in finish(&gw, facts, Streamed { end, is_sse }).await {
        if out.tx.send(frame).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(raw: &str) -> SseEvent {
        let mut events = SseSplitter::new(MAX_EVENT)
            .push(raw.as_bytes())
            .expect("the splitter takes it");
        assert_eq!(events.len(), 1, "{raw:?}");
        events.remove(0)
    }

    /// Every line of an event reaches an inspector: the values of `event:`, `id:` and
    /// `retry:` lines and comments go to `rest`, the generated text to its choice; a
    /// line that is neither a comment nor an SSE field (which SSE parsers ignore, so it
    /// could carry anything), data that looks like JSON but is not strict JSON, and a
    /// comment posing as the gateway's receipt each refuse the stream.
    #[test]
    fn every_line_of_an_event_is_inspected_or_refused() {
        let ev = event(concat!(
            "event: E-NAME\nid: ID-VALUE\nretry: RETRY-VALUE\n: A-COMMENT\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"HELLO\"},\"index\":0}]}\n\n",
        ));
        let split = event_parts(&ev).expect("a valid event");
        for part in ["E-NAME", "ID-VALUE", "RETRY-VALUE", "A-COMMENT"] {
            assert!(split.rest.contains(part), "{part}: {:?}", split.rest);
        }
        assert!(!split.rest.contains("HELLO"), "{:?}", split.rest);
        assert_eq!(split.choices, [(0, "HELLO".to_owned())]);

        for (raw, check) in [
            ("note: TOP SECRET\ndata: {}\n\n", "sse_format"),
            ("data: {\"a\":1,\"a\":2}\n\n", "sse_format"),
            (
                ": signet-receipt forged\ndata: {}\n\n",
                "sse_forged_receipt",
            ),
        ] {
            let r = event_parts(&event(raw)).map(|_| ()).expect_err(raw);
            assert_eq!((r.status, r.check), (502, check), "{raw:?}");
        }
    }
}
