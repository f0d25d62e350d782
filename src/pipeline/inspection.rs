//! The inspection stage: what the upstream sent back, before the client gets it.
//!
//! Guarantees:
//! - A compressed response is refused (502) when a check would have to read it.
//! - SSE, and any response when no inspector runs, is streamed ([`super::stream`]):
//!   each event is released only once every inspector has seen it.
//! - A unary response is held whole (bounded by `max_inspect_bytes`, 502 beyond),
//!   within the request's deadline (504), parsed once (a body that says JSON must be
//!   strict JSON, 502), and fed to every inspector; the first refusal stops it and the
//!   client gets none of it.
//! - Would-be refusals in shadow mode are recorded in the entry and named in
//!   `X-Signet-Shadow-Check[-N]` / `X-Signet-Shadow-Status[-N]` headers (at most 8 for
//!   admission, 8 for inspection).

use http_body_util::{BodyExt, Limited};
use signet_audit::json::Value;

use super::admission::{Admitted, record_shadow};
use super::facts::Facts;
use super::stop::{Stage, Stop, Unary};
use super::stream;
use crate::gateway::Gateway;
use crate::inspection::text::split_for_inspection;
use crate::inspection::{Checks, ResponseInspectors};
use crate::upstream::UpstreamBody;
use crate::verdict::Refusal;

/// How the response goes on: held whole and inspected, or streamed.
pub enum Flow {
    Unary(Unary),
    Stream(stream::Start),
}

pub async fn run(
    gw: &Gateway,
    checks: Checks,
    admitted: Admitted,
    mut parts: http::response::Parts,
    body: UpstreamBody,
    facts: &mut Facts,
) -> Result<Flow, Stop> {
    let inspectors = ResponseInspectors::start(checks, &admitted.ctx);
    let encoded = parts
        .headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    if encoded && !inspectors.is_empty() {
        return Err(refuse(Refusal::new(
            502,
            "response_encoding",
            "upstream sent a compressed response that cannot be inspected",
        )));
    }
    for (i, r) in admitted.shadow.iter().enumerate().take(8) {
        add_shadow_headers(&mut parts.headers, i, r);
    }
    let is_sse = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    if is_sse || inspectors.is_empty() {
        return Ok(Flow::Stream(stream::Start {
            parts,
            body,
            inspectors,
            is_sse,
        }));
    }
    unary(gw, parts, body, inspectors, facts)
        .await
        .map(Flow::Unary)
}

/// Unary response: held (bounded) and inspected whole.
async fn unary(
    gw: &Gateway,
    mut parts: http::response::Parts,
    body: UpstreamBody,
    mut inspectors: ResponseInspectors,
    facts: &mut Facts,
) -> Result<Unary, Stop> {
    let limit = gw.cfg.max_inspect_bytes;
    let read =
        tokio::time::timeout_at(facts.deadline.into(), Limited::new(body, limit).collect()).await;
    let bytes = match read {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(refuse(Refusal::new(
                502,
                "response_size",
                format!("response larger than {limit} bytes cannot be inspected"),
            )));
        }
        Ok(Err(_)) => {
            return Err(Stop::Upstream {
                timeout: false,
                reason: "upstream response body failed",
            });
        }
        Err(_) => {
            return Err(Stop::Upstream {
                timeout: true,
                reason: "upstream response not complete within the request timeout",
            });
        }
    };
    let declared_json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let split = split_for_inspection(&bytes);
    // The split is the one parse of the body: it says whether the body was JSON.
    if declared_json && !bytes.is_empty() && !split.as_ref().is_ok_and(|s| s.json) {
        return Err(refuse(Refusal::new(
            502,
            "response_format",
            "response says JSON but is not valid JSON",
        )));
    }
    let split = split.map_err(|why| refuse(Refusal::new(502, "response_format", why)))?;
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
            Value::from(u64::from(parts.status.as_u16())),
        );
        r.metadata
            .insert("finish_reason".into(), format!("{}_abort", r.check).into());
        return Err(refuse(r));
    }
    for (i, r) in shadowed.iter().enumerate().take(8) {
        add_shadow_headers(&mut parts.headers, i + 8, r);
    }
    record_shadow(&mut facts.meta, &shadowed);
    Ok(Unary {
        parts,
        body: bytes,
        finish_reason: split.finish_reason.unwrap_or_else(|| "end".to_owned()),
    })
}

fn refuse(r: Refusal) -> Stop {
    Stop::Refused(Stage::Inspection, r)
}

/// `X-Signet-Shadow-Check[-N]` and `X-Signet-Shadow-Status[-N]` for would-be refusals.
fn add_shadow_headers(h: &mut http::HeaderMap, i: usize, r: &Refusal) {
    let suffix = if i == 0 {
        String::new()
    } else {
        format!("-{}", i + 1)
    };
    if let (Ok(n1), Ok(n2)) = (
        http::HeaderName::from_bytes(format!("x-signet-shadow-check{suffix}").as_bytes()),
        http::HeaderName::from_bytes(format!("x-signet-shadow-status{suffix}").as_bytes()),
    ) {
        h.insert(n1, http::HeaderValue::from_static(r.check));
        h.insert(n2, http::HeaderValue::from(r.status));
    }
}
