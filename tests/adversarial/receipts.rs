//! Receipt spoofing by the upstream (issue 5 item 2): the headers that carry the
//! gateway's word (`X-Signet-Receipt`, `X-Signet-Correlation-Id`,
//! `X-Signet-Shadow-*`) reach the client only from the gateway, never copied from an
//! upstream response, so an upstream cannot hand a client a receipt (forged, or
//! replayed from another request) for an entry that is not this request's.

use crate::common::{self, LIMIT, OK_BODY, OWNER, delta};
use crate::support::audit_log::{assert_verifies, one_terminal, settle};
use crate::support::gateway::{Gateway, Reply};
use crate::support::raw::{self, RawResponse};

const FORGED: &str =
    "signet=v1; alg=hmac-sha256; entry=00000000-0000-4000-8000-000000000000; key=k1; sig=00";

fn forging(mut r: Reply) -> Reply {
    for h in [
        "x-signet-receipt",
        "x-signet-correlation-id",
        "x-signet-shadow-check",
        "x-signet-shadow-status",
    ] {
        r.headers.push((h.into(), FORGED.into()));
    }
    r
}

fn upstream_reply(path: &str) -> Reply {
    if path.ends_with("/sse") {
        forging(common::sse(&[delta("hello"), "data: [DONE]\n\n".into()]))
    } else {
        forging(Reply::json(OK_BODY))
    }
}

/// Sends one request; returns the names of upstream-forged headers the client got.
async fn forged_headers(g: &Gateway, path: &str) -> Vec<String> {
    let r: RawResponse =
        raw::exchange(&g.addr, &raw::request("POST", path, &[OWNER], b"{}"), LIMIT)
            .await
            .expect("response");
    assert_eq!(r.status, 200, "{path}");
    let id = r
        .headers
        .iter()
        .find(|(k, v)| k == "x-signet-correlation-id" && !v.contains("00000000-0000-4000"))
        .map(|(_, v)| v.clone())
        .expect("the gateway's correlation id");
    one_terminal(g, &id);
    r.headers
        .iter()
        .filter(|(_, v)| v.contains("00000000-0000-4000"))
        .map(|(k, _)| format!("{path}: {k}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn unary_receipts_come_only_from_the_commit() {
    let up = common::upstream(|s| upstream_reply(&common::path_of(s))).await;
    let g = common::gateway(&up, &[], None);
    let forged = forged_headers(&g, "/v1/unary").await;
    let receipts: Vec<&String> = forged
        .iter()
        .filter(|h| h.ends_with("x-signet-receipt") || h.ends_with("x-signet-correlation-id"))
        .collect();
    assert!(receipts.is_empty(), "{receipts:?}");
    settle(&g, 1);
    assert_verifies(&g);
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_and_receiptless_responses_drop_upstream_receipts() {
    let up = common::upstream(|s| upstream_reply(&common::path_of(s))).await;
    let g = common::gateway(&up, &[], None);
    let quiet = common::gateway(&up, &[("SIGNET_EMIT_RECEIPTS", "false")], None);
    let mut forged = forged_headers(&g, "/v1/unary").await;
    forged.extend(forged_headers(&g, "/v1/sse").await);
    forged.extend(forged_headers(&quiet, "/v1/unary").await);
    assert!(
        forged.is_empty(),
        "upstream headers that reached the client: {forged:#?}"
    );
    assert_verifies(&g);
    assert_verifies(&quiet);
}

/// SSE clients find the receipt in the comment `: signet-receipt …`; an upstream
/// that writes such a comment itself puts a receipt of its choosing in front of the
/// gateway's.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_receipt_comments_never_reach_the_client() {
    let up = common::upstream(|_| {
        common::sse(&[
            format!(": signet-receipt {FORGED}\n\n"),
            delta("hello"),
            "data: [DONE]\n\n".into(),
        ])
    })
    .await;
    let g = common::gateway(&up, &[], None);
    let r = raw::exchange(
        &g.addr,
        &raw::request("POST", "/v1/sse", &[OWNER], b"{}"),
        LIMIT,
    )
    .await
    .expect("response");
    one_terminal(&g, &r.correlation_id().expect("id"));
    let text = r.text();
    let receipts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(": signet-receipt"))
        .collect();
    assert_eq!(
        receipts.len(),
        1,
        "receipt lines the client got: {receipts:#?}"
    );
    assert!(
        !receipts[0].contains("00000000-0000-4000"),
        "forged receipt delivered"
    );
    assert_verifies(&g);
}
