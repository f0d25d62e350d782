//! The only place that decides what a refused or failed client sees.
//!
//! Guarantees: bodies are fixed JSON shapes; with strict error redaction (the default)
//! a refusal says only `{"error":"refused","correlation_id":…}` and failures name their
//! class (`upstream_unavailable`, `upstream_timeout`, `audit_unavailable`, …); check
//! names and reasons reach the client only in verbose mode. Details always go to the
//! audit entry. Every response carries `X-Signet-Correlation-Id`.

use http::{HeaderValue, Response, StatusCode};
use signet_audit::json::{self, Map, Value};

use crate::body::{self, Body};

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

/// Builds the client-facing error response.
pub fn failure(f: &Failure<'_>, correlation_id: &str, verbose: bool) -> Response<Body> {
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
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        h.insert(CORRELATION_HEADER, v);
    }
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
}
