//! `body_cap`: request bodies larger than the cap never reach the upstream.
//!
//! The runtime enforces the cap while reading the body (chunked uploads included) and
//! answers 413 with [`refusal_too_large`] before admission runs. This check adds what
//! can be decided from the head and the held body:
//!
//! Guarantees:
//! - `Content-Length` must be digits only (a comma list of identical values, as RFC
//!   9110 allows, is accepted); a malformed value, copies that disagree, or
//!   `Content-Length` together with `Transfer-Encoding` (a smuggling vector) in the
//!   head this check is given is 400. Through the server that head never holds both:
//!   over HTTP/1.1 hyper applies RFC 9112 section 6.3 first (Transfer-Encoding wins,
//!   `Content-Length` is dropped, the connection is closed after the response), and
//!   HTTP/2 forbids `Transfer-Encoding`. So a client sending both is not refused: its
//!   request is framed by the chunks (accepted risk, asserted by
//!   `adversarial::smuggling::content_length_with_transfer_encoding_is_framed_by_the_chunks_and_closes`);
//!   the refusal here is defence in depth for any other way a head reaches admission.
//! - A declared length or a held body above the cap is 413 (check `body_cap`, reason
//!   as signet: "request body exceeds N bytes").
//! - It also records the request's declared output budget (`max_tokens`, see
//!   [`body_json::max_tokens`]) in `state.max_tokens`: this is the one check every
//!   policy runs, and the `scope_drift` length cap needs it.

use signet_audit::json::Value;

use super::body_json;
use super::headers::{HeaderFault, single_header};
use super::{AdmissionCheck, AdmissionState, Refusal, Request};

pub const CHECK: &str = "body_cap";

/// The refusal for a body over `cap` bytes (also used by the runtime while reading).
pub fn refusal_too_large(cap: usize) -> Refusal {
    let mut r = Refusal::new(413, CHECK, format!("request body exceeds {cap} bytes"));
    r.metadata
        .insert("max_request_body_bytes".into(), Value::from(cap as u64));
    r
}

/// Parses one `Content-Length` field value (possibly a list of identical values).
fn content_length(v: &str) -> Result<u64, ()> {
    let mut value = None;
    for part in v.split(',') {
        let p = part.trim_matches([' ', '\t']);
        if p.is_empty() || p.len() > 19 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        let n: u64 = p.parse().map_err(|_| ())?;
        if value.is_some_and(|prev| prev != n) {
            return Err(());
        }
        value = Some(n);
    }
    value.ok_or(())
}

/// The `body_cap` check.
pub struct BodyCap {
    pub cap: usize,
}

impl AdmissionCheck for BodyCap {
    fn name(&self) -> &'static str {
        CHECK
    }

    fn check(&self, req: &Request<'_>, state: &mut AdmissionState) -> Result<(), Refusal> {
        let declared =
            single_header(req.headers, "content-length", content_length).map_err(|f| {
                Refusal::new(
                    400,
                    CHECK,
                    match f {
                        HeaderFault::Ambiguous => "conflicting Content-Length headers",
                        HeaderFault::NotUtf8 | HeaderFault::Invalid(()) => {
                            "malformed Content-Length header"
                        }
                    },
                )
            })?;
        if declared.is_some() && req.headers.contains_key(http::header::TRANSFER_ENCODING) {
            return Err(Refusal::new(
                400,
                CHECK,
                "both Content-Length and Transfer-Encoding sent",
            ));
        }
        if declared.is_some_and(|n| n > self.cap as u64) || req.body.len() > self.cap {
            return Err(refusal_too_large(self.cap));
        }
        state.max_tokens = body_json::max_tokens(req.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::headers::test_support::{request, run};

    fn cap(headers: &[(&str, &[u8])], body: &[u8]) -> Result<AdmissionState, Refusal> {
        let mut state = AdmissionState::default();
        run(&BodyCap { cap: 100 }, &request(headers, body), &mut state)?;
        Ok(state)
    }

    fn status(headers: &[(&str, &[u8])]) -> u16 {
        cap(headers, b"").err().map_or(200, |r| r.status)
    }

    #[test]
    fn allows_within_cap_and_reads_max_tokens() {
        assert_eq!(status(&[]), 200);
        assert_eq!(status(&[("content-length", b"100")]), 200);
        assert_eq!(status(&[("content-length", b"0")]), 200);
        assert_eq!(status(&[("content-length", b"42, 42")]), 200);
        assert_eq!(
            status(&[("content-length", b"42"), ("content-length", b"42")]),
            200
        );
        let s = cap(&[], br#"{"max_tokens":64}"#).unwrap();
        assert_eq!(s.max_tokens, Some(64));
        assert_eq!(cap(&[], b"not json").unwrap().max_tokens, None);
    }

    #[test]
    fn refuses_too_large() {
        let r = cap(&[("content-length", b"101")], b"").unwrap_err();
        assert_eq!((r.status, r.check), (413, CHECK));
        assert_eq!(r.reason, "request body exceeds 100 bytes");
        assert_eq!(cap(&[], &[b'a'; 101]).unwrap_err().status, 413);
        assert_eq!(status(&[("content-length", b"99999999999999999")]), 413);
        let r = refusal_too_large(4_194_304);
        assert_eq!(r.reason, "request body exceeds 4194304 bytes");
        assert_eq!(
            r.metadata.get("max_request_body_bytes"),
            Some(&Value::from(4_194_304u64))
        );
    }

    #[test]
    fn refuses_malformed_and_conflicting() {
        for bad in [
            &b"-1"[..],
            b"+5",
            b"5 5",
            b"0x10",
            b"",
            b" ",
            b"1,",
            b"42, 43",
            b"99999999999999999999",
            b"\xff",
        ] {
            assert_eq!(
                status(&[("content-length", bad)]),
                400,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let r = cap(&[("content-length", b"10"), ("content-length", b"20")], b"").unwrap_err();
        assert_eq!(
            (r.status, r.reason.as_str()),
            (400, "conflicting Content-Length headers")
        );
        assert_eq!(
            status(&[("content-length", b"5"), ("transfer-encoding", b"chunked")]),
            400
        );
        assert_eq!(status(&[("transfer-encoding", b"chunked")]), 200);
    }
}
