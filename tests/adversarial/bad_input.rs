//! Bad input (issue 5 item 3): invalid JSON, deep nesting, non-UTF-8 streams, empty
//! bodies, bodies one byte over the cap, slowloris, clients that vanish. Each gets a
//! clear status and (once the gateway accepted the head) exactly one entry; none
//! crashes the gateway or stalls it for other clients.

use std::time::{Duration, Instant};

use crate::common::{self, CHAT, LIMIT, OK_BODY, OWNER, delta, hits};
use crate::support::audit_log::{assert_verifies, entries, one_terminal, settle};
use crate::support::gateway::{Gate, Gateway, Reply};
use crate::support::raw::{self, RawConn};

const OWNER_LINE: &str = "x-commit-owner: human:alice\r\n";

/// Reads from `c` until `text` has arrived (at most 5 s): the response is streaming.
async fn first_event(c: &mut RawConn, text: &str) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(text) {
        let n = tokio::time::timeout(LIMIT, c.s.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {text} within {LIMIT:?}"))
            .expect("read");
        assert!(
            n > 0,
            "closed before {text}: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

fn alive(g: &mut Gateway) {
    assert!(
        g.child.try_wait().expect("try_wait").is_none(),
        "the gateway exited: {}",
        g.stderr.lock().expect("lock")
    );
}

/// Upstream that answers invalid JSON with 400, as a real API would.
fn json_checking_upstream(seen: &crate::support::gateway::Seen) -> Reply {
    if seen.body.is_empty() || signet_audit::json::parse(&seen.body).is_ok() {
        Reply::json(OK_BODY)
    } else {
        let mut r = Reply::json(r#"{"error":"bad json"}"#);
        r.status = 400;
        r
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_and_empty_bodies_get_a_clear_status_and_one_entry() {
    let up = common::upstream(json_checking_upstream).await;
    let mut g = common::gateway(&up, &[], None);
    let cases: Vec<(&str, Vec<u8>, u16, bool)> = vec![
        ("invalid JSON", raw::request("POST", "/v1/chat", &[OWNER], b"{\"messages\":[}"), 400, true),
        ("truncated JSON", raw::request("POST", "/v1/chat", &[OWNER], b"{\"a\":"), 400, true),
        ("binary body", raw::request("POST", "/v1/chat", &[OWNER], b"\x00\xff\xfe\x01"), 400, true),
        ("empty body, Content-Length 0", raw::request("POST", "/v1/chat", &[OWNER], b""), 200, false),
        (
            "no Content-Length, no body",
            format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}connection: close\r\n\r\n").into_bytes(),
            200,
            false,
        ),
        (
            "empty chunked body",
            format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}transfer-encoding: chunked\r\nconnection: close\r\n\r\n0\r\n\r\n").into_bytes(),
            200,
            false,
        ),
        ("GET without body", raw::request("GET", "/v1/models", &[OWNER], b""), 200, false),
    ];
    for (label, req, status, has_body) in &cases {
        let r = raw::exchange(&g.addr, req, LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:?}"));
        assert_eq!(r.status, *status, "{label}: {}", r.text());
        let e = one_terminal(&g, &r.correlation_id().expect("id"));
        assert_eq!(e.check_name, "pipeline.complete", "{label}");
        assert_eq!(e.status(), Some(u64::from(*status)), "{label}");
        let fp = e.line.contains("\"request_fingerprint\":\"sha256:");
        assert_eq!(fp, *has_body, "{label}: request_fingerprint: {}", e.line);
    }
    assert_eq!(hits(&up), cases.len());
    settle(&g, cases.len());
    alive(&mut g);
    assert_verifies(&g);
}

const CONTENT_RULES: &str = r#"
[policy.owner_resolution]
[[policy.regex_content.rules]]
name = "jailbreak"
pattern = '(?i)ignore all previous instructions'
action = "block"
[policy.scope_drift]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn deeply_nested_json_never_crashes_the_gateway() {
    let deep_array = "[".repeat(1_000_000).into_bytes();
    let deep_object = "{\"a\":".repeat(200_000).into_bytes();
    let mut deep_chat =
        br#"{"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x":"#.to_vec();
    deep_chat.extend("[".repeat(100_000).bytes());
    // A response nested far past any parser's depth limit, unary and streamed.
    let deep_reply = "[".repeat(400_000);
    let up = common::upstream(move |s| {
        if common::path_of(s) == "/v1/deep-sse" {
            common::bytes_reply(
                "text/event-stream",
                vec![
                    format!("data: {}\n\n", "[".repeat(400_000)).into_bytes(),
                    b"data: [DONE]\n\n".to_vec(),
                ],
            )
        } else if common::path_of(s) == "/v1/deep" {
            Reply::json(&deep_reply)
        } else {
            Reply::json(OK_BODY)
        }
    })
    .await;
    let env = [("SIGNET_MAX_REQUEST_BODY_BYTES", "2000000")];
    let mut plain = common::gateway(&up, &env, None);
    let mut rules = common::gateway(&up, &env, Some(CONTENT_RULES));
    for (g, refuses) in [(&mut plain, false), (&mut rules, true)] {
        for (label, body) in [
            ("array", &deep_array),
            ("object", &deep_object),
            ("chat", &deep_chat),
        ] {
            let r = raw::exchange(
                &g.addr,
                &raw::request("POST", "/v1/chat", &[OWNER], body),
                LIMIT,
            )
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:?}"));
            let want = if refuses { 400 } else { 200 };
            assert_eq!(
                r.status,
                want,
                "{label} (content rules: {refuses}): {}",
                r.text()
            );
            one_terminal(g, &r.correlation_id().expect("id"));
        }
        for path in ["/v1/deep", "/v1/deep-sse"] {
            let r = raw::exchange(
                &g.addr,
                &raw::request("POST", path, &[OWNER], CHAT.as_bytes()),
                LIMIT,
            )
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"));
            // Nesting deeper than the strict parser takes cannot be inspected reliably:
            // refused (fail closed) rather than passed uninspected.
            if path == "/v1/deep" {
                assert_eq!(r.status, 502, "{path}");
            } else {
                assert_eq!(r.status, 200, "{path}");
                assert!(r.text().contains("signet_abort"), "{path}: {}", r.text());
            }
            one_terminal(g, &r.correlation_id().expect("id"));
        }
        common::still_serves(g).await;
        alive(g);
        settle(g, 6);
        assert_verifies(g);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_streams_abort_with_one_entry() {
    let up = common::upstream(|s| match common::path_of(s).as_str() {
        "/v1/not-utf8" => common::bytes_reply(
            "text/event-stream",
            vec![
                delta("fine ").into_bytes(),
                b"data: {\"x\":\"\xc3\x28\"}\n\n".to_vec(),
            ],
        ),
        "/v1/split-utf8" => {
            // A valid multi-byte character split over two TCP chunks is fine.
            let ev = delta("caf\u{e9} ok").into_bytes();
            let cut = ev.iter().position(|&b| b == 0xc3).expect("é") + 1;
            common::bytes_reply(
                "text/event-stream",
                vec![ev[..cut].to_vec(), ev[cut..].to_vec()],
            )
        }
        "/v1/huge-event" => common::bytes_reply(
            "text/event-stream",
            vec![
                format!("data: {}", "a".repeat(1_100_000)).into_bytes(),
                b"\n\n".to_vec(),
            ],
        ),
        "/v1/empty-sse" => common::bytes_reply("text/event-stream", vec![]),
        "/v1/no-blank-line" => common::bytes_reply(
            "text/event-stream",
            vec![b"data: {\"a\":\"tail\"}".to_vec()],
        ),
        "/v1/empty-unary" => common::bytes_reply("application/json", vec![]),
        "/v1/not-utf8-unary" => {
            common::bytes_reply("application/json", vec![b"\xff\xfe\x00 ok".to_vec()])
        }
        _ => Reply::json(OK_BODY),
    })
    .await;
    let mut g = common::gateway(&up, &[], None);
    // path, status, check_name, abort check or finish reason
    let cases: &[(&str, u16, &str, &str)] = &[
        ("/v1/not-utf8", 200, "pipeline.inspection", "sse_format"),
        ("/v1/split-utf8", 200, "pipeline.complete", "end"),
        ("/v1/huge-event", 200, "pipeline.inspection", "sse_format"),
        ("/v1/empty-sse", 200, "pipeline.complete", "end"),
        ("/v1/no-blank-line", 200, "pipeline.complete", "end"),
        ("/v1/empty-unary", 200, "pipeline.complete", "end"),
        // Declared JSON that is not JSON cannot be inspected reliably: refused.
        (
            "/v1/not-utf8-unary",
            502,
            "pipeline.inspection",
            "response_format",
        ),
    ];
    for (path, status, stage, why) in cases {
        let r = raw::exchange(
            &g.addr,
            &raw::request("POST", path, &[OWNER], CHAT.as_bytes()),
            LIMIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert_eq!(r.status, *status, "{path}");
        let e = one_terminal(&g, &r.correlation_id().expect("id"));
        assert_eq!(e.check_name, *stage, "{path}: {}", e.line);
        assert_eq!(
            e.check().or(e.finish_reason()),
            Some(*why),
            "{path}: {}",
            e.line
        );
        if *stage == "pipeline.inspection" && *status == 200 {
            assert!(r.text().contains("signet_abort"), "{path}: {}", r.text());
            assert!(
                !r.body.windows(2).any(|w| w == b"\xc3\x28"),
                "{path}: bad bytes forwarded"
            );
        }
    }
    settle(&g, cases.len());
    common::still_serves(&g).await;
    alive(&mut g);
    assert_verifies(&g);
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_one_byte_over_the_cap_are_refused_either_way() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[("SIGNET_MAX_REQUEST_BODY_BYTES", "1000")], None);
    let chunked = |total: usize| {
        let mut out = format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}transfer-encoding: chunked\r\nconnection: close\r\n\r\n").into_bytes();
        let body = vec![b'x'; total];
        for piece in body.chunks(333) {
            out.extend(format!("{:x}\r\n", piece.len()).bytes());
            out.extend_from_slice(piece);
            out.extend(b"\r\n");
        }
        out.extend(b"0\r\n\r\n");
        out
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("Content-Length at the cap", raw::request("POST", "/v1/chat", &[OWNER], &[b'x'; 1000]), 200),
        ("Content-Length one over", raw::request("POST", "/v1/chat", &[OWNER], &[b'x'; 1001]), 413),
        ("chunked at the cap", chunked(1000), 200),
        ("chunked one over", chunked(1001), 413),
        (
            "declared over, body never sent",
            format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}content-length: 1001\r\n\r\n").into_bytes(),
            413,
        ),
        (
            "Expect: 100-continue over the cap",
            format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}expect: 100-continue\r\ncontent-length: 5000000\r\n\r\n").into_bytes(),
            413,
        ),
        (
            "declared length near u64::MAX",
            format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}content-length: 18446744073709551615\r\n\r\n").into_bytes(),
            413,
        ),
    ];
    let mut forwarded = 0;
    for (label, req, status) in &cases {
        let started = Instant::now();
        let r = raw::exchange(&g.addr, req, LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:?}"));
        // Hyper refuses a length it cannot represent itself (4xx, no entry).
        if r.correlation_id().is_none() {
            assert!(
                (400..500).contains(&r.status) && *status == 413,
                "{label}: {}",
                r.status
            );
            continue;
        }
        assert_eq!(r.status, *status, "{label}: {}", r.text());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{label}: slow refusal"
        );
        let e = one_terminal(&g, &r.correlation_id().expect("id"));
        if *status == 413 {
            assert_eq!(e.check(), Some("body_cap"), "{label}");
            assert_eq!(e.meta_u64("max_request_body_bytes"), Some(1000), "{label}");
        } else {
            forwarded += 1;
            assert_eq!(
                common::seen(&up).last().map(|s| s.body.len()),
                Some(1000),
                "{label}: the upstream got the whole body"
            );
        }
        assert_eq!(
            hits(&up),
            forwarded,
            "{label}: a refused body reached the upstream"
        );
    }
    common::still_serves(&g).await;
    assert_verifies(&g);
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_headers_are_cut_off_and_others_still_served() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[("SIGNET_HEADER_READ_TIMEOUT_S", "1")], None);
    let head =
        format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}content-length: 2\r\n\r\n{{}}");
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let addr = g.addr.clone();
        let head = head.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = RawConn::connect(&addr).await;
            let started = Instant::now();
            let feed = async {
                for b in head.as_bytes().chunks(1) {
                    if c.send(b).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(4), feed).await;
            let closed = c.closed_within(Duration::from_millis(1500)).await;
            (closed, started.elapsed())
        }));
    }
    // While the trickling clients hold their connections, a normal client is served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::still_serves(&g).await;
    for t in tasks {
        let (closed, took) = t.await.expect("task");
        assert!(closed, "a trickling client was not cut off");
        assert!(took < Duration::from_secs(5), "cut off only after {took:?}");
    }
    // An idle keep-alive connection (a request done, no next one) is cut off too.
    let mut idle = RawConn::connect(&g.addr).await;
    idle.send(&raw::keep_alive("GET", "/v1/models", &[OWNER], b""))
        .await
        .expect("send");
    let r = idle.response(LIMIT).await.expect("response");
    assert_eq!(r.status, 200);
    assert!(
        idle.closed_within(Duration::from_secs(3)).await,
        "idle keep-alive held open"
    );
    assert_eq!(hits(&up), 1);
    settle(&g, 2);
    assert_verifies(&g);
}

/// A connection that sends nothing, or only a prefix of the HTTP/2 preface (even the
/// single byte `P`), sits in hyper-util's protocol sniffing (`auto::Builder`) before
/// hyper's header-read timer exists; a whole preface with no SETTINGS sits in the
/// HTTP/2 handshake, which has no timer either. Nothing ever closes these sockets, so
/// an attacker can hold them until the gateway runs out of file descriptors.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[("SIGNET_HEADER_READ_TIMEOUT_S", "1")], None);
    let mut silent = RawConn::connect(&g.addr).await;
    let mut one_byte = RawConn::connect(&g.addr).await;
    one_byte.send(b"P").await.expect("send");
    let mut partial = RawConn::connect(&g.addr).await;
    partial.send(b"PRI * HTTP/2.0\r\n").await.expect("send");
    let mut bare = RawConn::connect(&g.addr).await;
    bare.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("send");
    let wait = Duration::from_secs(3);
    let got = tokio::join!(
        silent.closed_within(wait),
        one_byte.closed_within(wait),
        partial.closed_within(wait),
        bare.closed_within(wait),
    );
    assert_eq!(
        got,
        (true, true, true, true),
        "(silent, `P`, partial preface, preface without SETTINGS) closed within 3 s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trickled_bodies_time_out_with_an_entry_and_never_block_others() {
    let up = common::upstream(|_| Reply::json(OK_BODY)).await;
    let g = common::gateway(&up, &[("SIGNET_REQUEST_TIMEOUT_S", "1.5")], None);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let addr = g.addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = RawConn::connect(&addr).await;
            c.send(format!("POST /v1/chat HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}content-length: 50\r\nconnection: close\r\n\r\n").as_bytes())
                .await
                .expect("head");
            let feed = async {
                for _ in 0..49 {
                    if c.send(b"x").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(2500), feed).await;
            c.response(LIMIT).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::still_serves(&g).await;
    for t in tasks {
        let r = t.await.expect("task").expect("408 response");
        assert_eq!(r.status, 408, "{}", r.text());
        let e = one_terminal(&g, &r.correlation_id().expect("id"));
        assert_eq!(e.check(), Some("request_body"));
    }
    assert_eq!(hits(&up), 0);
    settle(&g, 11);
    assert_verifies(&g);
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_that_vanish_leave_exactly_one_entry() {
    // The slow answer and the held stream's late event wait for the test: each client
    // is gone before its upstream goes on.
    let (slow_gate, held_gate) = (Gate::new(), Gate::new());
    let (slow_g, held_g) = (slow_gate.clone(), held_gate.clone());
    let up = common::upstream(move |s| match common::path_of(s).as_str() {
        "/v1/slow" => Reply::json(OK_BODY).held(&slow_g),
        "/v1/endless" => {
            let events: Vec<String> = (0..5000).map(|i| delta(&format!("tok{i} "))).collect();
            let mut r = common::sse(&events);
            r.pause = Duration::from_millis(5);
            r
        }
        "/v1/held" => {
            // The first event ends in a word that may be a marker: the gateway holds
            // it until the next event, which comes late.
            common::sse(&[
                delta("call the SECRET"),
                delta("ARY now"),
                "data: [DONE]\n\n".into(),
            ])
            .held_after(1, &held_g)
        }
        _ => Reply::json(OK_BODY),
    })
    .await;
    let mut g = common::gateway(&up, &[("SIGNET_REQUEST_TIMEOUT_S", "4")], None);
    let head = |path: &str, len: usize| {
        format!("POST {path} HTTP/1.1\r\nhost: gw\r\n{OWNER_LINE}content-length: {len}\r\n\r\n")
            .into_bytes()
    };
    // 1. Gone after the head, before any body byte. (The head and the end of the
    // stream arrive in that order whenever the gateway reads them: no wait needed.)
    let mut c = RawConn::connect(&g.addr).await;
    c.send(&head("/v1/chat", 50)).await.expect("send");
    drop(c);
    // 2. Gone after a whole request, while the upstream holds its unary answer.
    let mut c = RawConn::connect(&g.addr).await;
    let mut req = head("/v1/slow", 2);
    req.extend(b"{}");
    c.send(&req).await.expect("send");
    slow_gate.wait_arrived(1).await;
    drop(c);
    slow_gate.open();
    // 3. Gone in the middle of an endless stream, once its events flow.
    let mut c = RawConn::connect(&g.addr).await;
    let mut req = head("/v1/endless", 2);
    req.extend(b"{}");
    c.send(&req).await.expect("send");
    first_event(&mut c, "tok0").await;
    drop(c);
    // 4. Gone while an event is held: the gateway has the first event, whose last word
    // may start a marker, and the upstream holds the next.
    let mut c = RawConn::connect(&g.addr).await;
    let mut req = head("/v1/held", 2);
    req.extend(b"{}");
    c.send(&req).await.expect("send");
    held_gate.wait_arrived(1).await;
    drop(c);
    held_gate.open();
    // 5. Twenty clients vanish from endless streams at once, each mid-stream.
    let mut many = Vec::new();
    for _ in 0..20 {
        let mut c = RawConn::connect(&g.addr).await;
        let mut req = head("/v1/endless", 2);
        req.extend(b"{}");
        c.send(&req).await.expect("send");
        many.push(c);
    }
    for c in &mut many {
        first_event(c, "tok0").await;
    }
    drop(many);
    common::still_serves(&g).await;
    let started = Instant::now();
    let all = settle(&g, 25);
    assert!(started.elapsed() < Duration::from_secs(4));
    let by_path = |p: &str| {
        all.iter()
            .filter(|e| e.path() == Some(p))
            .cloned()
            .collect::<Vec<_>>()
    };
    let chat = by_path("/v1/chat");
    assert_eq!(chat.len(), 1);
    assert_eq!(chat[0].check(), Some("request_body"), "{}", chat[0].line);
    let slow = by_path("/v1/slow");
    assert_eq!(slow.len(), 1);
    assert!(slow[0].is_terminal(), "{}", slow[0].line);
    let endless = by_path("/v1/endless");
    assert_eq!(endless.len(), 21);
    for e in &endless {
        assert_eq!(e.finish_reason(), Some("client_disconnect"), "{}", e.line);
    }
    let held = by_path("/v1/held");
    assert_eq!(held.len(), 1);
    assert!(held[0].is_terminal());
    assert_eq!(entries(&g).len(), 25);
    // The chat request never had its body: it must not have been forwarded.
    assert!(
        common::seen(&up)
            .iter()
            .all(|s| common::path_of(s) != "/v1/chat")
    );
    alive(&mut g);
    assert_verifies(&g);
}
