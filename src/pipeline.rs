//! The one place that runs the stages, in order, for every proxied request:
//! **admission → upstream → inspection → commit → respond**.
//!
//! Guarantees:
//! - Exactly one terminal audit entry per request, on every path: each refusal, body
//!   too large, malformed body, upstream failure, inspection abort, client disconnect,
//!   a panic inside a check (caught where [`handle`] polls the request). A request
//!   whose client goes away runs on to its terminal entry on its own task.
//! - A refused request never reaches the upstream: the body is held (bounded by the
//!   body cap) until admission has passed.
//! - Fail closed: while the journal cannot write, nothing is forwarded (503); a unary
//!   response is released only after its entry is durable, and carries its receipt.
//! - Streamed responses (SSE, or anything when no inspector runs) go out as they are
//!   inspected; their entry is committed at the end ([`crate::stream`]).

use std::future::Future;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use signet_audit::json::{Map, Value};
use signet_audit::util::{new_uuid_v4, prefixed_hex};
use signet_audit::{Decision, EntryDraft, OwnerType};

use crate::admission::{self, AdmissionState, Owner, Refusal};
use crate::body::{self, Body};
use crate::commit::{CommitReceipt, Committer};
use crate::config::Config;
use crate::inspection::{InspectCtx, ResponseInspectors};
use crate::metrics::Metrics;
use crate::respond::{self, Failure};
use crate::upstream;

/// Everything a request needs, shared by all requests.
pub struct Gateway {
    pub cfg: Config,
    /// The policy in force; each request takes one snapshot (SIGHUP swaps it).
    pub policy: crate::reload::PolicyCell,
    pub committer: Arc<Committer>,
    pub client: upstream::Client,
    pub metrics: Metrics,
    /// Transparency endpoints' state, when checkpoints are on.
    pub tlog: Option<crate::tlog::TlogState>,
}

/// The peer of a connection: its address, and that address as text (formatted once
/// per connection for every request's entry and forwarding headers).
#[derive(Clone, Debug)]
pub struct ClientAddr {
    pub ip: IpAddr,
    pub text: Arc<str>,
}

impl ClientAddr {
    pub fn new(ip: IpAddr) -> Self {
        ClientAddr {
            ip,
            text: ip.to_string().into(),
        }
    }
}

/// Facts gathered along the pipeline for the request's entry.
#[derive(Clone)]
pub struct Facts {
    pub entry_id: String,
    pub method: String,
    pub path: String,
    pub client: ClientAddr,
    pub request_fingerprint: String,
    pub owner: Option<Owner>,
    pub meta: Map,
    pub started: Instant,
}

impl Facts {
    /// An entry for this request.
    pub fn draft(
        &self,
        check_name: &str,
        decision: Decision,
        reason: &str,
        status: u16,
        extra: Map,
    ) -> EntryDraft {
        self.draft_with_meta(
            self.meta.clone(),
            check_name,
            decision,
            reason,
            status,
            extra,
        )
    }

    /// [`Facts::draft`] with the request's metadata given by value (the terminal
    /// entry takes it instead of copying it).
    pub fn draft_with_meta(
        &self,
        meta: Map,
        check_name: &str,
        decision: Decision,
        reason: &str,
        status: u16,
        extra: Map,
    ) -> EntryDraft {
        let mut d = EntryDraft::with_id(self.entry_id.clone(), check_name, decision, reason);
        d.request_fingerprint = self.request_fingerprint.clone();
        if let Some(o) = &self.owner {
            d.owner_type = o.kind;
            d.owner_id = o.id.clone();
            d.approval_chain = o.approval_chain.clone();
        } else {
            d.owner_type = OwnerType::Unresolved;
        }
        d.metadata = meta;
        d.metadata
            .insert("method".into(), self.method.as_str().into());
        d.metadata.insert("path".into(), self.path.as_str().into());
        d.metadata
            .insert("status".into(), Value::from(u64::from(status)));
        d.metadata
            .insert("client_ip".into(), self.client.text.as_ref().into());
        if let Some(o) = &self.owner {
            d.metadata.insert("owner_auth".into(), o.method.into());
        }
        for (k, v) in extra {
            d.metadata.insert(k, v);
        }
        d
    }
}

impl Facts {
    /// `redact` when admission rewrote the request, `allow` otherwise.
    pub fn completed_decision(&self) -> Decision {
        if self.meta.contains_key("redactions") {
            Decision::Redact
        } else {
            Decision::Allow
        }
    }
}

/// `sha256:<hex>` of `b`, or `""` when empty.
pub fn fingerprint(b: &[u8]) -> String {
    if b.is_empty() {
        String::new()
    } else {
        prefixed_hex("sha256:", &Sha256::digest(b))
    }
}

/// Runs the pipeline for one request. A panic anywhere inside becomes a 500 with its
/// own audit entry.
pub async fn handle(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
    client: ClientAddr,
) -> Response<Body> {
    let facts = Facts {
        entry_id: new_uuid_v4(),
        method: req.method().as_str().to_owned(),
        path: req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        client,
        request_fingerprint: String::new(),
        owner: None,
        meta: Map::new(),
        started: Instant::now(),
    };
    let task = Detached {
        fut: Some(Box::pin(run(gw.clone(), req, facts.clone()))),
    };
    let resp = match task.await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(entry_id = %facts.entry_id, panic = true, "request task failed");
            let mut extra = Map::new();
            extra.insert("finish_reason".into(), "internal_error".into());
            let d = facts.draft(
                "pipeline.internal",
                Decision::Block,
                "internal error in the gateway",
                500,
                extra,
            );
            finish_refusal(&gw, &facts, d, &Failure::Internal, "internal").await
        }
    };
    gw.metrics
        .request(resp.status().as_u16(), facts.started.elapsed());
    resp
}

/// One request's pipeline, polled in place by its connection's task (no task of its
/// own while the client is there). If the connection goes first (hyper drops the
/// service future), what is left of the request goes on as its own task, so it still
/// reaches its terminal entry. A panic while polling is caught and handed back, as a
/// task boundary would.
struct Detached {
    fut: Option<Pin<Box<dyn Future<Output = Response<Body>> + Send>>>,
}

impl Future for Detached {
    type Output = std::thread::Result<Response<Body>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(fut) = self.fut.as_mut() else {
            // Already finished: hyper does not poll a completed future again.
            return Poll::Pending;
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => {
                self.fut = None;
                Poll::Ready(Ok(r))
            }
            Err(panic) => {
                self.fut = None;
                Poll::Ready(Err(panic))
            }
        }
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        // Unfinished: the client went away. The request runs on by itself (outside a
        // runtime, only while shutting down, there is nothing left to run it).
        if let Some(fut) = self.fut.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = fut.await;
            });
        }
    }
}

/// Commits a refusal entry and builds the client's error response with its receipt.
pub async fn finish_refusal(
    gw: &Gateway,
    facts: &Facts,
    draft: EntryDraft,
    f: &Failure<'_>,
    check: &str,
) -> Response<Body> {
    let decision = draft.decision.as_str();
    match gw.committer.commit(draft).await {
        Ok(c) => {
            gw.metrics.decision(check, decision);
            let mut r = respond::failure(f, &facts.entry_id, !gw.cfg.strict_error_redaction);
            add_receipt(gw, &mut r, &c);
            r
        }
        Err(e) => {
            tracing::error!(entry_id = %facts.entry_id, error = %e, "audit entry could not be written");
            respond::failure(&Failure::AuditUnavailable, &facts.entry_id, false)
        }
    }
}

/// Puts the receipt header on a response.
pub fn add_receipt(gw: &Gateway, r: &mut Response<Body>, c: &CommitReceipt) {
    if let Some(rc) = &c.receipt
        && gw.cfg.emit_receipts
        && let Ok(v) = HeaderValue::from_str(&rc.to_header_value())
    {
        r.headers_mut()
            .insert(gw.cfg.receipt_header_name.clone(), v);
    }
}

fn refusal_failure(r: &Refusal) -> Failure<'_> {
    Failure::Refused {
        status: r.status,
        check: r.check,
        reason: &r.reason,
        retry_after_s: r.retry_after_s,
    }
}

/// Entry for a refusal at `stage`.
fn refusal_draft(facts: &Facts, stage: &str, r: &Refusal) -> EntryDraft {
    let mut extra = r.metadata.clone();
    extra.insert("_check_name".into(), r.check.into());
    extra.insert("_stage".into(), stage.into());
    let check_name = format!("pipeline.{stage}");
    facts.draft(&check_name, r.decision, &r.reason, r.status, extra)
}

async fn refuse(gw: &Gateway, facts: &Facts, stage: &str, r: &Refusal) -> Response<Body> {
    let d = refusal_draft(facts, stage, r);
    finish_refusal(gw, facts, d, &refusal_failure(r), r.check).await
}

/// Refuses before admission runs (stage `preflight`) with a plain block.
async fn refuse_preflight(
    gw: &Gateway,
    facts: &Facts,
    status: u16,
    check: &'static str,
    reason: &str,
) -> Response<Body> {
    refuse(gw, facts, "preflight", &Refusal::new(status, check, reason)).await
}

async fn run(gw: Arc<Gateway>, req: Request<Incoming>, mut facts: Facts) -> Response<Body> {
    if !gw.committer.probe().await {
        gw.committer.refused_unavailable();
        return respond::failure(&Failure::AuditUnavailable, &facts.entry_id, false);
    }
    // One policy snapshot for the whole request (a SIGHUP reload swaps the cell).
    let policy = gw.policy.current();
    let (parts, incoming) = req.into_parts();
    let cap = gw.cfg.max_request_body_bytes;

    // Preflight on the head: no tunnels, no dot segments that could climb out of the
    // upstream's base path (`..`, `%2e%2e`, ...).
    if parts.method == http::Method::CONNECT {
        return refuse_preflight(&gw, &facts, 405, "request_method", "CONNECT is not proxied")
            .await;
    }
    if has_dot_segment(parts.uri.path()) {
        return refuse_preflight(
            &gw,
            &facts,
            400,
            "request_path",
            "path contains a dot segment",
        )
        .await;
    }

    // Preflight: the body, held whole and bounded, before anything else sees it.
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return refuse(
            &gw,
            &facts,
            "preflight",
            &crate::admission::body_cap::refusal_too_large(cap),
        )
        .await;
    }
    let deadline = facts.started + gw.cfg.request_timeout;
    let read =
        tokio::time::timeout_at(deadline.into(), Limited::new(incoming, cap).collect()).await;
    let body: Bytes = match read {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return refuse(
                &gw,
                &facts,
                "preflight",
                &crate::admission::body_cap::refusal_too_large(cap),
            )
            .await;
        }
        Ok(Err(_)) => {
            return refuse_preflight(
                &gw,
                &facts,
                400,
                "request_body",
                "request body could not be read (client error or disconnect)",
            )
            .await;
        }
        Err(_) => {
            return refuse_preflight(
                &gw,
                &facts,
                408,
                "request_body",
                "request body not received within the request timeout",
            )
            .await;
        }
    };
    facts.request_fingerprint = fingerprint(&body);

    // Admission.
    let mut state = AdmissionState::default();
    let mut shadow: Vec<Refusal> = Vec::new();
    {
        let areq = admission::Request {
            headers: &parts.headers,
            client_ip: facts.client.ip,
            body: &body,
        };
        for check in &policy.admission {
            if let Err(r) = check.check(&areq, &mut state) {
                tracing::debug!(entry_id = %facts.entry_id, check = check.name(), status = r.status, "admission refused");
                if gw.cfg.shadow {
                    shadow.push(r);
                    continue;
                }
                facts.owner = state.owner.clone();
                facts.meta = state.metadata.clone();
                return refuse(&gw, &facts, "admission", &r).await;
            }
        }
    }
    facts.owner = state.owner.clone();
    facts.meta = state.metadata.clone();
    if !state.redactions.is_empty() {
        facts.meta.insert(
            "redactions".into(),
            Value::Array(
                state
                    .redactions
                    .iter()
                    .map(|s| Value::from(s.as_str()))
                    .collect(),
            ),
        );
    }
    record_shadow(&mut facts.meta, &shadow);

    if gw.cfg.two_phase {
        let mut extra = Map::new();
        extra.insert("phase".into(), "intent".into());
        extra.insert("terminal_entry_id".into(), facts.entry_id.as_str().into());
        let mut d = facts.draft(
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
            return respond::failure(&Failure::AuditUnavailable, &facts.entry_id, false);
        }
    }
    if !gw.committer.healthy() {
        return respond::failure(&Failure::AuditUnavailable, &facts.entry_id, false);
    }

    // Upstream.
    let forward = state.body_rewrite.clone().unwrap_or(body);
    let api_key = gw.cfg.upstream_api_key.as_ref().map(|k| k.as_str());
    let up_req =
        match upstream::build_request(&gw.cfg.upstream, &parts, forward, &facts.client, api_key) {
            Ok(r) => r,
            Err(_) => {
                return refuse_preflight(
                    &gw,
                    &facts,
                    400,
                    "request_headers",
                    "request cannot be forwarded (invalid header or path)",
                )
                .await;
            }
        };
    let sent = Instant::now();
    let resp = match tokio::time::timeout_at(deadline.into(), gw.client.request(up_req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(entry_id = %facts.entry_id, error = %e, "upstream request failed");
            return upstream_failure(
                &gw,
                &facts,
                Failure::UpstreamUnavailable,
                "upstream unreachable or failed",
            )
            .await;
        }
        Err(_) => {
            return upstream_failure(
                &gw,
                &facts,
                Failure::UpstreamTimeout,
                "upstream did not answer within the request timeout",
            )
            .await;
        }
    };
    let latency_us = sent.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
    facts
        .meta
        .insert("upstream_latency_us".into(), Value::from(latency_us));

    let ctx = InspectCtx {
        classification: state.classification.unwrap_or(admission::Level::Unclass),
        max_tokens: state.max_tokens,
    };
    let inspectors = ResponseInspectors::start(policy.clone(), &ctx);
    let (mut rparts, rbody) = resp.into_parts();
    upstream::strip_hop_by_hop(&mut rparts.headers);
    upstream::strip_gateway_owned(&mut rparts.headers, &gw.cfg.receipt_header_name);
    let encoded = rparts
        .headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    if encoded && !inspectors.is_empty() {
        let r = Refusal::new(
            502,
            "response_encoding",
            "upstream sent a compressed response that cannot be inspected",
        );
        return refuse(&gw, &facts, "inspection", &r).await;
    }
    for (i, r) in shadow.iter().enumerate().take(8) {
        add_shadow_headers(&mut rparts.headers, i, r);
    }
    let is_sse = rparts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    if is_sse || inspectors.is_empty() {
        return crate::stream::respond(gw, facts, rparts, rbody, inspectors, is_sse, deadline);
    }
    unary(&gw, facts, rparts, rbody, inspectors, deadline).await
}

/// True when a path segment is `.` or `..`, also when dots or separators are
/// percent-encoded (`%2e`, `%2f`, `%5c`) or backslashes are used, as some upstreams
/// decode them.
fn has_dot_segment(path: &str) -> bool {
    // Without a dot, a `%` or a backslash no segment can decode to `.` or `..`.
    if !path.bytes().any(|b| matches!(b, b'.' | b'%' | b'\\')) {
        return false;
    }
    let decoded = path
        .replace("%2e", ".")
        .replace("%2E", ".")
        .replace("%2f", "/")
        .replace("%2F", "/")
        .replace("%5c", "/")
        .replace("%5C", "/")
        .replace('\\', "/");
    decoded.split('/').any(|seg| seg == "." || seg == "..")
}

async fn upstream_failure(
    gw: &Gateway,
    facts: &Facts,
    f: Failure<'_>,
    reason: &str,
) -> Response<Body> {
    let mut extra = Map::new();
    let kind = if matches!(f, Failure::UpstreamTimeout) {
        "upstream_timeout"
    } else {
        "upstream_error"
    };
    extra.insert("finish_reason".into(), kind.into());
    let d = facts.draft(
        "pipeline.upstream",
        Decision::Block,
        reason,
        f.status(),
        extra,
    );
    finish_refusal(gw, facts, d, &f, "upstream").await
}

fn record_shadow(meta: &mut Map, shadow: &[Refusal]) {
    if shadow.is_empty() {
        return;
    }
    let items = shadow
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("check".into(), r.check.into());
            m.insert("reason".into(), r.reason.as_str().into());
            m.insert("status".into(), Value::from(u64::from(r.status)));
            Value::Object(m)
        })
        .collect();
    meta.insert("shadow_refusals".into(), Value::Array(items));
}

/// `X-Signet-Shadow-Check[-N]` and `X-Signet-Shadow-Status[-N]` for would-be refusals.
pub fn add_shadow_headers(h: &mut http::HeaderMap, i: usize, r: &Refusal) {
    let suffix = if i == 0 {
        String::new()
    } else {
        format!("-{}", i + 1)
    };
    if let (Ok(n1), Ok(n2)) = (
        http::HeaderName::from_bytes(format!("x-signet-shadow-check{suffix}").as_bytes()),
        http::HeaderName::from_bytes(format!("x-signet-shadow-status{suffix}").as_bytes()),
    ) {
        h.insert(n1, HeaderValue::from_static(r.check));
        h.insert(n2, HeaderValue::from(r.status));
    }
}

/// Unary response: held (bounded), inspected whole, committed, then released.
async fn unary(
    gw: &Gateway,
    mut facts: Facts,
    mut rparts: http::response::Parts,
    rbody: upstream::UpstreamBody,
    mut inspectors: ResponseInspectors,
    deadline: Instant,
) -> Response<Body> {
    let limit = gw.cfg.max_inspect_bytes;
    let read = tokio::time::timeout_at(deadline.into(), Limited::new(rbody, limit).collect()).await;
    let bytes = match read {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            let r = Refusal::new(
                502,
                "response_size",
                format!("response larger than {limit} bytes cannot be inspected"),
            );
            return refuse(gw, &facts, "inspection", &r).await;
        }
        Ok(Err(_)) => {
            return upstream_failure(
                gw,
                &facts,
                Failure::UpstreamUnavailable,
                "upstream response body failed",
            )
            .await;
        }
        Err(_) => {
            return upstream_failure(
                gw,
                &facts,
                Failure::UpstreamTimeout,
                "upstream response not complete within the request timeout",
            )
            .await;
        }
    };
    let declared_json = rparts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let split = crate::inspection::text::split_for_inspection(&bytes);
    // The split is the one parse of the body: it says whether the body was JSON.
    if declared_json && !bytes.is_empty() && !split.as_ref().is_ok_and(|s| s.json) {
        let r = Refusal::new(
            502,
            "response_format",
            "response says JSON but is not valid JSON",
        );
        return refuse(gw, &facts, "inspection", &r).await;
    }
    let split = match split {
        Ok(s) => s,
        Err(why) => {
            let r = Refusal::new(502, "response_format", why);
            return refuse(gw, &facts, "inspection", &r).await;
        }
    };
    // Generated text (per choice) with the length cap; everything else (keys, ids,
    // envelope fields) through the framing set.
    let mut shadowed = Vec::new();
    let shadow = gw.cfg.shadow;
    let verdict = inspectors
        .feed(&split, shadow, &mut shadowed)
        .and_then(|()| inspectors.finish(shadow, &mut shadowed));
    if let Err(mut r) = verdict {
        r.metadata.insert(
            "upstream_status".into(),
            Value::from(u64::from(rparts.status.as_u16())),
        );
        r.metadata
            .insert("finish_reason".into(), format!("{}_abort", r.check).into());
        return refuse(gw, &facts, "inspection", &r).await;
    }
    for (i, r) in shadowed.iter().enumerate().take(8) {
        add_shadow_headers(&mut rparts.headers, i + 8, r);
    }
    record_shadow(&mut facts.meta, &shadowed);
    let status = rparts.status.as_u16();
    let mut extra = Map::new();
    extra.insert("response_fingerprint".into(), fingerprint(&bytes).into());
    extra.insert("response_bytes".into(), Value::from(bytes.len() as u64));
    extra.insert(
        "finish_reason".into(),
        split.finish_reason.as_deref().unwrap_or("end").into(),
    );
    let decision = facts.completed_decision();
    let meta = std::mem::take(&mut facts.meta);
    let d = facts.draft_with_meta(
        meta,
        "pipeline.complete",
        decision,
        "request completed",
        status,
        extra,
    );
    let d_decision = d.decision.as_str();
    match gw.committer.commit(d).await {
        Ok(c) => {
            tracing::debug!(entry_id = %facts.entry_id, seq = c.committed.seq, "request committed");
            gw.metrics.decision("pipeline.complete", d_decision);
            rparts.headers.remove(http::header::CONTENT_LENGTH);
            let mut r = Response::from_parts(rparts, body::full(bytes));
            if let Ok(v) = HeaderValue::from_str(&facts.entry_id) {
                r.headers_mut().insert(respond::CORRELATION_HEADER, v);
            }
            add_receipt(gw, &mut r, &c);
            r
        }
        Err(e) => {
            tracing::error!(entry_id = %facts.entry_id, error = %e, "audit entry could not be written; response withheld");
            respond::failure(&Failure::AuditUnavailable, &facts.entry_id, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use http_body_util::{BodyExt, Full};
    use signet_audit::journal::writer::{JournalWriter, WriterOptions};
    use signet_audit::journal::{Journal, JournalOptions};
    use signet_audit::receipt::ReceiptSigner;

    use super::*;
    use crate::admission::{AdmissionCheck, AdmissionState, Request as AdmissionRequest};

    /// A request whose connection goes away mid-flight still runs to its end, on its
    /// own task; until then it ran in place.
    #[tokio::test]
    async fn a_dropped_request_runs_on_to_its_end() {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let mut d = Box::pin(Detached {
            fut: Some(Box::pin(async move {
                let _ = started_tx.send(());
                let _ = go_rx.await;
                let _ = done_tx.send(());
                Response::new(body::full(Bytes::new()))
            })),
        });
        let polled = std::future::poll_fn(|cx| Poll::Ready(d.as_mut().poll(cx).is_pending())).await;
        assert!(polled, "waiting for go");
        started_rx.await.expect("it started in place");
        drop(d);
        go_tx.send(()).expect("the detached request still listens");
        tokio::time::timeout(std::time::Duration::from_secs(5), done_rx)
            .await
            .expect("ran on within 5 s")
            .expect("and reached its end");
    }

    /// A panic inside the request is caught where it is polled and handed back.
    #[tokio::test]
    async fn a_panic_while_polling_is_handed_back() {
        let d = Detached {
            fut: Some(Box::pin(async {
                if std::hint::black_box(true) {
                    panic!("inside the pipeline");
                }
                Response::new(body::full(Bytes::new()))
            })),
        };
        assert!(d.await.is_err());
    }

    struct Boom;

    impl AdmissionCheck for Boom {
        fn name(&self) -> &'static str {
            "boom"
        }
        fn check(&self, _: &AdmissionRequest<'_>, _: &mut AdmissionState) -> Result<(), Refusal> {
            panic!("a check panicked");
        }
    }

    /// A panic inside a check becomes a 500 with exactly one audit entry, and the
    /// gateway keeps serving.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_panicking_check_gives_500_and_one_entry() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("audit.jsonl");
        let env: HashMap<String, String> = [
            ("SIGNET_UPSTREAM_URL", "http://127.0.0.1:9".to_owned()),
            ("SIGNET_HMAC_SECRET", "ab".repeat(32)),
            ("SIGNET_AUDIT_LOG_PATH", log.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let (cfg, _) =
            crate::config::load(&crate::config::ServeArgs::default(), &env).expect("config");
        let journal =
            Journal::open(&log, cfg.hmac_key.clone(), JournalOptions::default()).expect("journal");
        let writer = JournalWriter::spawn(journal, WriterOptions::default()).expect("writer");
        let committer = Committer::new(
            writer.handle(),
            Some(ReceiptSigner::Hmac(cfg.hmac_key.clone())),
        );
        let client = crate::upstream::client(&cfg).expect("client");
        let policy = crate::policy::Policy {
            admission: vec![Box::new(Boom)],
            inspection: Vec::new(),
        };
        let gw = Arc::new(Gateway {
            cfg,
            policy: crate::reload::PolicyCell::new(policy),
            committer,
            client,
            metrics: Metrics::default(),
            tlog: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(crate::server::serve_threads(
            gw,
            listener,
            None,
            2,
            std::future::pending(),
        ));
        let c = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Full<Bytes>>();
        for n in 1..=2 {
            let req = http::Request::post(format!("http://{addr}/v1/x"))
                .body(Full::new(Bytes::from_static(b"{}")))
                .expect("req");
            let resp = c.request(req).await.expect("response");
            assert_eq!(resp.status(), 500);
            assert!(resp.headers().contains_key("x-signet-receipt"));
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            assert!(String::from_utf8_lossy(&body).contains("internal_error"));
            let text = std::fs::read_to_string(&log).expect("log");
            assert_eq!(text.lines().count(), n, "one entry per request: {text}");
            assert!(
                text.lines()
                    .last()
                    .is_some_and(|l| l.contains("\"check_name\":\"pipeline.internal\""))
            );
        }
    }
}
