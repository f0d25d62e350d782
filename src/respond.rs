//! The only place that decides what a client sees at the end of its request: a
//! refusal, a failure, a completed unary response, the head and tail of a stream, or
//! a stream cut short.
//!
//! Guarantees:
//! - Error bodies are fixed JSON shapes. With strict error redaction (the default) a
//!   refusal says only `{"error":"refused","correlation_id":…}`, and a stream cut by
//!   a check ends with `data: {"correlation_id":…,"reason":"refused","signet_abort":true}`
//!   then `data: [DONE]`: the check's name and reason reach the client only in
//!   verbose mode. Failures name their class (`upstream_unavailable`,
//!   `upstream_timeout`, `audit_unavailable`, `internal_error`). Details always go to
//!   the audit entry.
//! - Every response carries `X-Signet-Correlation-Id`, set here and nowhere else.
//! - A response whose entry was committed is built from that commit's receipt
//!   ([`committed`], [`refused`], [`stream_tail`] take it as an argument), so none
//!   leaves without it; when the entry could not be written the client gets 503
//!   `audit_unavailable` instead (a stream is cut with an error).
//! - The receipt goes in the configured header (unary), or as an HTTP trailer and a
//!   final SSE comment `: signet-receipt …` (streams), when receipts are on.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use hyper::body::Frame;
use signet_audit::json::{self, Map, Value};

use crate::body::{self, Body, BoxError};
use crate::commit::{CommitError, CommitReceipt};
use crate::config::Config;
use crate::verdict::Refusal;

pub const CORRELATION_HEADER: &str = "x-signet-correlation-id";

/// What went wrong, by origin.
#[derive(Clone, Debug)]
pub enum Failure<'a> {
    /// A check refused (4xx chosen by the check).
    Refused {
        status: u16,
        check: &'a str,
        reason: &'a str,
        retry_after_s: Option<u64>,
    },
    /// The upstream could not be reached or failed.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The journal cannot write: nothing was forwarded.
    AuditUnavailable,
    /// A bug in the gateway (a check panicked, …).
    Internal,
}

impl Failure<'_> {
    pub fn status(&self) -> u16 {
        match self {
            Failure::Refused { status, .. } => *status,
            Failure::UpstreamUnavailable => 502,
            Failure::UpstreamTimeout => 504,
            Failure::AuditUnavailable => 503,
            Failure::Internal => 500,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Failure::Refused { .. } => "refused",
            Failure::UpstreamUnavailable => "upstream_unavailable",
            Failure::UpstreamTimeout => "upstream_timeout",
            Failure::AuditUnavailable => "audit_unavailable",
            Failure::Internal => "internal_error",
        }
    }
}

/// A refusal or failure whose entry was committed (`Ok`, with its receipt) or could
/// not be (`Err`: 503 `audit_unavailable`).
pub fn refused(
    cfg: &Config,
    f: &Failure<'_>,
    entry_id: &str,
    committed: Result<&CommitReceipt, &CommitError>,
) -> Response<Body> {
    match committed {
        Ok(c) => {
            let mut r = failure(f, entry_id, !cfg.strict_error_redaction);
            put_receipt(cfg, r.headers_mut(), c);
            r
        }
        Err(_) => audit_unavailable(entry_id),
    }
}

/// 503 `audit_unavailable`: the journal cannot write, so nothing was forwarded (or,
/// after the upstream answered, nothing is released).
pub fn audit_unavailable(entry_id: &str) -> Response<Body> {
    failure(&Failure::AuditUnavailable, entry_id, false)
}

/// A completed unary response, released with the receipt of its durable entry.
pub fn committed(
    cfg: &Config,
    mut parts: http::response::Parts,
    body: Bytes,
    entry_id: &str,
    receipt: &CommitReceipt,
) -> Response<Body> {
    parts.headers.remove(http::header::CONTENT_LENGTH);
    correlate(&mut parts.headers, entry_id);
    put_receipt(cfg, &mut parts.headers, receipt);
    Response::from_parts(parts, body::full(body))
}

/// The head of a streamed response: announces the receipt trailer, names the entry.
pub fn stream_head(
    cfg: &Config,
    mut parts: http::response::Parts,
    entry_id: &str,
    body: Body,
) -> Response<Body> {
    parts.headers.remove(http::header::CONTENT_LENGTH);
    if cfg.emit_receipts
        && let Ok(v) = HeaderValue::from_str(cfg.receipt_header_name.as_str())
    {
        parts.headers.insert(http::header::TRAILER, v);
    }
    correlate(&mut parts.headers, entry_id);
    Response::from_parts(parts, body)
}

/// The last events of an SSE stream cut by a check: the abort event, then `[DONE]`.
pub fn stream_abort(cfg: &Config, entry_id: &str, r: &Refusal) -> Bytes {
    let reason = if cfg.strict_error_redaction {
        "refused"
    } else {
        r.reason.as_str()
    };
    abort_event(entry_id, reason, true)
}

/// What follows a stream's last byte once its entry is settled: the receipt (final
/// SSE comment and trailer), or, when the entry could not be written, an
/// `audit_unavailable` abort event (SSE, client still there) and an error that cuts
/// the body.
pub fn stream_tail(
    cfg: &Config,
    entry_id: &str,
    is_sse: bool,
    client_gone: bool,
    committed: Result<&CommitReceipt, &CommitError>,
) -> Vec<Result<Frame<Bytes>, BoxError>> {
    let mut out = Vec::new();
    match committed {
        Ok(c) => {
            if let Some(rc) = c.receipt.as_ref().filter(|_| cfg.emit_receipts) {
                let value = rc.to_header_value();
                if is_sse {
                    out.push(Ok(Frame::data(Bytes::from(format!(
                        ": signet-receipt {value}\n\n"
                    )))));
                }
                if let Ok(v) = HeaderValue::from_str(&value) {
                    let mut t = HeaderMap::new();
                    t.insert(cfg.receipt_header_name.clone(), v);
                    out.push(Ok(Frame::trailers(t)));
                }
            }
        }
        Err(_) => {
            if is_sse && !client_gone {
                out.push(Ok(Frame::data(abort_event(
                    entry_id,
                    "audit_unavailable",
                    false,
                ))));
            }
            out.push(Err("audit entry could not be written".into()));
        }
    }
    out
}

/// `data: {"correlation_id":…,"reason":…,"signet_abort":true}`, and `data: [DONE]`
/// when `done`.
fn abort_event(entry_id: &str, reason: &str, done: bool) -> Bytes {
    let mut m = Map::new();
    m.insert("correlation_id".into(), entry_id.into());
    m.insert("reason".into(), reason.into());
    m.insert("signet_abort".into(), true.into());
    let mut line = b"data: ".to_vec();
    json::write_canonical(&Value::Object(m), &mut line);
    line.extend_from_slice(b"\n\n");
    if done {
        line.extend_from_slice(b"data: [DONE]\n\n");
    }
    Bytes::from(line)
}

fn correlate(h: &mut HeaderMap, entry_id: &str) {
    if let Ok(v) = HeaderValue::from_str(entry_id) {
        h.insert(CORRELATION_HEADER, v);
    }
}

fn put_receipt(cfg: &Config, h: &mut HeaderMap, c: &CommitReceipt) {
    if let Some(rc) = &c.receipt
        && cfg.emit_receipts
        && let Ok(v) = HeaderValue::from_str(&rc.to_header_value())
    {
        h.insert(cfg.receipt_header_name.clone(), v);
    }
}

/// The client-facing error response.
fn failure(f: &Failure<'_>, correlation_id: &str, verbose: bool) -> Response<Body> {
    let mut m = Map::new();
    m.insert("error".into(), f.code().into());
    m.insert("correlation_id".into(), correlation_id.into());
    if verbose && let Failure::Refused { check, reason, .. } = f {
        m.insert("check".into(), (*check).into());
        m.insert("reason".into(), (*reason).into());
    }
    let mut out = Vec::with_capacity(96);
    json::write_canonical(&Value::Object(m), &mut out);
    out.push(b'\n');
    let status = StatusCode::from_u16(f.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::new(body::full(out));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    correlate(h, correlation_id);
    if let Failure::Refused {
        retry_after_s: Some(s),
        ..
    } = f
    {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from(*s));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(r: Response<Body>) -> String {
        let b = r.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8(b.to_vec()).expect("utf8")
    }

    #[tokio::test]
    async fn strict_hides_reason_verbose_shows_it() {
        let f = Failure::Refused {
            status: 429,
            check: "rate_limit",
            reason: "owner over budget",
            retry_after_s: Some(3),
        };
        let r = failure(&f, "abc", false);
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "3");
        assert_eq!(r.headers()[CORRELATION_HEADER], "abc");
        assert_eq!(
            text(r).await,
            "{\"correlation_id\":\"abc\",\"error\":\"refused\"}\n"
        );
        let v = text(failure(&f, "abc", true)).await;
        assert!(
            v.contains("\"check\":\"rate_limit\"") && v.contains("owner over budget"),
            "{v}"
        );
        assert_eq!(failure(&Failure::AuditUnavailable, "x", true).status(), 503);
        assert!(
            text(failure(&Failure::UpstreamTimeout, "x", true))
                .await
                .contains("upstream_timeout")
        );
    }

    fn config(strict: bool) -> Config {
        let env: std::collections::HashMap<String, String> = [
            ("SIGNET_UPSTREAM_URL", "http://127.0.0.1:9".to_owned()),
            ("SIGNET_HMAC_SECRET", "ab".repeat(32)),
            ("SIGNET_AUDIT_LOG_PATH", "/tmp/unused.jsonl".to_owned()),
            ("SIGNET_STRICT_ERROR_REDACTION", strict.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        crate::config::load(&crate::config::ServeArgs::default(), &env)
            .expect("config")
            .0
    }

    /// A stream cut by a check says as much as a unary refusal: in strict mode only
    /// `refused`, never the check's name or reason.
    #[test]
    fn stream_abort_follows_the_same_redaction_as_refusals() {
        let mut r = Refusal::new(403, "scope_drift", "marker TOP SECRET in the response");
        r.metadata.insert("marker".into(), "TOP SECRET".into());
        let strict =
            String::from_utf8(stream_abort(&config(true), "id1", &r).to_vec()).expect("utf8");
        assert_eq!(
            strict,
            "data: {\"correlation_id\":\"id1\",\"reason\":\"refused\",\"signet_abort\":true}\n\ndata: [DONE]\n\n"
        );
        assert!(!strict.contains("scope_drift") && !strict.contains("TOP"));
        let verbose =
            String::from_utf8(stream_abort(&config(false), "id1", &r).to_vec()).expect("utf8");
        assert!(
            verbose.contains("marker TOP SECRET in the response"),
            "{verbose}"
        );
    }
}
