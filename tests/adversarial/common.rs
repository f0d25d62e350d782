//! Shared pieces of the adversarial suite: bodies, upstreams that also answer the
//! probe route, and "does the gateway still serve a normal client quickly".
#![allow(dead_code)]

use std::time::{Duration, Instant};

use crate::support::audit_log;
use crate::support::gateway::{self as gwt, Gateway, Reply, Seen, Upstream};
use crate::support::raw;

pub const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
pub const OK_BODY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}]}"#;
pub const OWNER: (&str, &str) = ("x-commit-owner", "human:alice@example.com");

/// Path of the requests [`still_serves`] sends; [`upstream`] answers it with `OK_BODY`.
pub const PROBE: &str = "/probe";

/// Extra request headers, as name and value.
pub type Headers<'a> = &'a [(&'a str, &'a str)];

/// Bound on any single exchange in this suite.
pub const LIMIT: Duration = Duration::from_secs(5);

/// Request path (with query) of a request the upstream saw.
pub fn path_of(seen: &Seen) -> String {
    seen.head.split_whitespace().nth(1).unwrap_or("").to_owned()
}

/// A scripted upstream that answers [`PROBE`] with `OK_BODY` and everything else
/// with `reply`.
pub async fn upstream(reply: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Upstream {
    gwt::upstream(move |seen| {
        if path_of(seen).starts_with(PROBE) {
            Reply::json(OK_BODY)
        } else {
            reply(seen)
        }
    })
    .await
}

/// Requests the upstream got, probes left out.
pub fn hits(up: &Upstream) -> usize {
    seen(up).len()
}

/// What the upstream got, probes left out.
pub fn seen(up: &Upstream) -> Vec<Seen> {
    up.seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| !path_of(s).starts_with(PROBE))
        .cloned()
        .collect()
}

/// A normal, allowed request on a fresh connection must complete with 200 within
/// 3 s: an attack in progress never stalls other clients. Returns its correlation id
/// (the probe has its own entry, checked here).
pub async fn still_serves(g: &Gateway) -> String {
    let started = Instant::now();
    let req = raw::request("POST", PROBE, &[OWNER], CHAT.as_bytes());
    let r = raw::exchange(&g.addr, &req, Duration::from_secs(3))
        .await
        .unwrap_or_else(|e| panic!("a normal client was not served: {e:?}"));
    assert_eq!(r.status, 200, "probe: {}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "probe took {:?}",
        started.elapsed()
    );
    let id = r.correlation_id().expect("probe correlation id");
    let e = audit_log::one_terminal(g, &id);
    assert_eq!(e.check_name, "pipeline.complete", "{}", e.line);
    id
}

/// One SSE event carrying `text` as a chat delta.
pub fn delta(text: &str) -> String {
    format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
    )
}

/// A unary chat completion whose message content is the JSON string body `content`
/// (already escaped as needed).
pub fn completion(content: &str) -> String {
    format!(
        "{{\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{content}\"}},\"finish_reason\":\"stop\"}}]}}"
    )
}

/// An SSE reply of `events`, each written as its own TCP chunk.
pub fn sse(events: &[String]) -> Reply {
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    Reply::sse(&refs)
}

/// A reply with raw body chunks and the given content type.
pub fn bytes_reply(content_type: &str, chunks: Vec<Vec<u8>>) -> Reply {
    Reply {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        chunks,
        pause: Duration::from_millis(5),
        hang_up: false,
        delay: Duration::ZERO,
        hold: None,
    }
}

/// Starts a gateway with short timeouts suited to this suite, plus `env`.
pub fn gateway(up: &Upstream, env: &[(&str, &str)], config: Option<&str>) -> Gateway {
    let mut all: Vec<(&str, &str)> = vec![
        ("SIGNET_REQUEST_TIMEOUT_S", "3"),
        ("SIGNET_HEADER_READ_TIMEOUT_S", "1"),
        ("SIGNET_UPSTREAM_CONNECT_TIMEOUT_S", "1"),
    ];
    all.extend_from_slice(env);
    gwt::start(&up.url(), &all, config)
}
