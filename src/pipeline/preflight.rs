//! The preflight stage: what is refused on the request's head, and the body, read
//! whole and bounded before anything else sees it.
//!
//! Guarantees:
//! - `CONNECT` is never proxied (405); a path with a dot segment that could climb out
//!   of the upstream's base path (`..`, `.`, also percent-encoded or with
//!   backslashes) is refused (400).
//! - The body is held whole, at most the body cap (413 when a declared or an actual
//!   length is larger), and must arrive before the request's deadline (408); a body
//!   that fails to arrive is refused (400). Its fingerprint goes to the facts.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::facts::{Facts, fingerprint};
use super::stop::{Stage, Stop};
use crate::gateway::Gateway;

/// The request's head, and its whole body.
pub async fn run(
    gw: &Gateway,
    req: Request<Incoming>,
    facts: &mut Facts,
) -> Result<(http::request::Parts, Bytes), Stop> {
    let (parts, incoming) = req.into_parts();
    if parts.method == http::Method::CONNECT {
        return Err(refuse(405, "request_method", "CONNECT is not proxied"));
    }
    if has_dot_segment(parts.uri.path()) {
        return Err(refuse(400, "request_path", "path contains a dot segment"));
    }
    let cap = gw.cfg.max_request_body_bytes;
    let too_large = || {
        Stop::Refused(
            Stage::Preflight,
            crate::admission::body_cap::refusal_too_large(cap),
        )
    };
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let read =
        tokio::time::timeout_at(facts.deadline.into(), Limited::new(incoming, cap).collect()).await;
    let body = match read {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large());
        }
        Ok(Err(_)) => {
            return Err(refuse(
                400,
                "request_body",
                "request body could not be read (client error or disconnect)",
            ));
        }
        Err(_) => {
            return Err(refuse(
                408,
                "request_body",
                "request body not received within the request timeout",
            ));
        }
    };
    facts.request_fingerprint = fingerprint(&body);
    Ok((parts, body))
}

fn refuse(status: u16, check: &'static str, reason: &str) -> Stop {
    Stop::at(Stage::Preflight, status, check, reason)
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

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_are_found_in_every_spelling() {
        for p in [
            "/v1/../admin",
            "/v1/./x",
            "/v1/%2e%2e/admin",
            "/v1/%2E%2e/admin",
            "/v1/..%2fadmin",
            "/v1/..%5Cadmin",
            "/v1\\..\\admin",
            "/..",
        ] {
            assert!(has_dot_segment(p), "{p}");
        }
        for p in ["/v1/chat/completions", "/v1/a.b/c", "/v1/...", "/v1/%41"] {
            assert!(!has_dot_segment(p), "{p}");
        }
    }
}
