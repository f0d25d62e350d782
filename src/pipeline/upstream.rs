//! The upstream stage: forwards the admitted request and takes the response head.
//!
//! Guarantees:
//! - The request sent is the admitted one (the rewritten body when a check redacted
//!   it), with forwarding headers naming the client, hop-by-hop headers removed and
//!   the configured upstream key; a request that cannot be expressed is refused (400)
//!   and not sent.
//! - The upstream must answer before the request's deadline (else 504); a failure is
//!   502. The upstream's latency goes to the facts.
//! - The response head loses its hop-by-hop headers and any header the gateway owns
//!   (the receipt header, the correlation header), so an upstream cannot forge them.

use std::time::Instant;

use bytes::Bytes;
use signet_audit::json::Value;

use super::facts::Facts;
use super::stop::{Stage, Stop};
use crate::gateway::Gateway;
use crate::upstream::{self, ForwardedFor, UpstreamBody};

/// Sends the request; returns the upstream's response head and body.
pub async fn forward(
    gw: &Gateway,
    parts: &http::request::Parts,
    body: Bytes,
    facts: &mut Facts,
) -> Result<(http::response::Parts, UpstreamBody), Stop> {
    let api_key = gw.cfg.upstream_api_key.as_ref().map(|k| k.as_str());
    let client = ForwardedFor {
        ip: facts.client.ip,
        text: &facts.client.text,
        tls: facts.tls,
    };
    let up_req =
        upstream::build_request(&gw.cfg.upstream, parts, body, &client, api_key).map_err(|_| {
            Stop::at(
                Stage::Preflight,
                400,
                "request_headers",
                "request cannot be forwarded (invalid header or path)",
            )
        })?;
    let sent = Instant::now();
    facts.forwarded = true;
    let resp = match tokio::time::timeout_at(facts.deadline.into(), gw.client.request(up_req)).await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(entry_id = %facts.entry_id, error = %e, "upstream request failed");
            return Err(Stop::Upstream {
                timeout: false,
                reason: "upstream unreachable or failed",
            });
        }
        Err(_) => {
            return Err(Stop::Upstream {
                timeout: true,
                reason: "upstream did not answer within the request timeout",
            });
        }
    };
    let latency_us = sent.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
    facts
        .meta
        .insert("upstream_latency_us".into(), Value::from(latency_us));
    let (mut rparts, rbody) = resp.into_parts();
    upstream::strip_hop_by_hop(&mut rparts.headers);
    upstream::strip_gateway_owned(&mut rparts.headers, &gw.cfg.receipt_header_name);
    Ok((rparts, rbody))
}
