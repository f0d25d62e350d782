//! Every way out of the request path goes through the one exit and writes exactly one
//! terminal entry: each refusal stage, upstream failure and timeout, inspection abort
//! (unary and streamed), completion (unary and streamed) and a client that goes away,
//! also when the gateway is stopped (SIGTERM, SIGINT) while such a client's request is
//! still at a slow upstream, with and without two-phase mode. (A panic inside a check
//! is the unit test `pipeline::tests::a_panicking_check_gives_500_and_one_entry`.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use support::gateway::{self as gwt, ALICE, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const OK_BODY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}]}"#;
const DRIFT_BODY: &str =
    r#"{"choices":[{"message":{"content":"the plan is TOP SECRET//SCI"},"finish_reason":"stop"}]}"#;

fn event(text: &str) -> String {
    format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
    )
}

/// One upstream for every case, routed by the request path.
async fn upstream() -> gwt::Upstream {
    gwt::upstream(|seen| {
        let path = seen.head.split_whitespace().nth(1).unwrap_or("").to_owned();
        match path.as_str() {
            "/v1/drift" => Reply::json(DRIFT_BODY),
            "/v1/not-json" => Reply::json("{\"choices\":[oops"),
            "/v1/hang-up" => Reply {
                hang_up: true,
                ..Reply::json(OK_BODY)
            },
            "/v1/slow" => Reply {
                delay: Duration::from_millis(2500),
                ..Reply::json(OK_BODY)
            },
            "/v1/sse" => Reply::sse(&[&event("hello "), &event("world"), "data: [DONE]\n\n"]),
            "/v1/sse-drift" => Reply::sse(&[&event("the word is TOP SE"), &event("CRET ok")]),
            "/v1/sse-long" => {
                let events: Vec<String> = (0..60).map(|i| event(&format!("part{i} "))).collect();
                let refs: Vec<&str> = events.iter().map(String::as_str).collect();
                Reply {
                    pause: Duration::from_millis(50),
                    ..Reply::sse(&refs)
                }
            }
            _ => Reply::json(OK_BODY),
        }
    })
    .await
}

/// A field of a canonical log line, as its raw JSON text (`"…"` for strings).
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    let rest = &line[at..];
    let end = if let Some(inner) = rest.strip_prefix('"') {
        inner.find('"').map_or(rest.len(), |i| i + 2)
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    &rest[..end]
}

/// Sends a request on a raw connection and leaves once the response head is there
/// (a streamed response) or after `wait_hits` requests reached the upstream.
async fn send_and_leave(addr: &str, path: &str, up: &gwt::Upstream, wait_hits: Option<usize>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nx-commit-owner: human:alice@example.com\r\ncontent-length: {}\r\n\r\n{CHAT}",
        CHAT.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    match wait_hits {
        Some(n) => {
            for _ in 0..500 {
                if up.hits() >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(up.hits() >= n, "the request reached the upstream");
        }
        None => {
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }
    drop(s);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_exit_writes_exactly_one_terminal_entry() {
    let up = upstream().await;
    let g = gwt::start(
        &up.url(),
        &[
            ("SIGNET_REQUEST_TIMEOUT_S", "1"),
            ("SIGNET_MAX_REQUEST_BODY_BYTES", "4096"),
        ],
        None,
    );
    let big = vec![b'x'; 8192];
    // (label, path, headers, body, expected status, check_name, _check_name or finish_reason)
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        &'a [u8],
        u16,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "completed",
            "/v1/ok",
            vec![ALICE],
            CHAT.as_bytes(),
            200,
            "pipeline.complete",
            "stop",
        ),
        (
            "dot segment",
            "/v1/%2e%2e/admin",
            vec![ALICE],
            CHAT.as_bytes(),
            400,
            "pipeline.preflight",
            "request_path",
        ),
        (
            "body too large",
            "/v1/ok",
            vec![ALICE],
            &big,
            413,
            "pipeline.preflight",
            "body_cap",
        ),
        (
            "no owner",
            "/v1/ok",
            vec![],
            CHAT.as_bytes(),
            0,
            "pipeline.admission",
            "owner_resolution",
        ),
        (
            "upstream fails",
            "/v1/hang-up",
            vec![ALICE],
            CHAT.as_bytes(),
            502,
            "pipeline.upstream",
            "upstream_error",
        ),
        (
            "upstream too slow",
            "/v1/slow",
            vec![ALICE],
            CHAT.as_bytes(),
            504,
            "pipeline.upstream",
            "upstream_timeout",
        ),
        (
            "unary drift",
            "/v1/drift",
            vec![ALICE],
            CHAT.as_bytes(),
            0,
            "pipeline.inspection",
            "scope_drift",
        ),
        (
            "unary not json",
            "/v1/not-json",
            vec![ALICE],
            CHAT.as_bytes(),
            502,
            "pipeline.inspection",
            "response_format",
        ),
        (
            "stream completed",
            "/v1/sse",
            vec![ALICE],
            CHAT.as_bytes(),
            200,
            "pipeline.complete",
            "end",
        ),
        (
            "stream drift",
            "/v1/sse-drift",
            vec![ALICE],
            CHAT.as_bytes(),
            200,
            "pipeline.inspection",
            "scope_drift",
        ),
    ];
    let mut ids = Vec::new();
    for (label, path, headers, body, status, check_name, detail) in &cases {
        let r = gwt::send("POST", &g.url(path), headers, body).await;
        if *status != 0 {
            assert_eq!(r.status, *status, "{label}: {}", r.text());
        } else {
            assert!(r.status >= 400, "{label}: refused, got {}", r.status);
        }
        let id = r
            .header("x-signet-correlation-id")
            .unwrap_or_else(|| panic!("{label}: no correlation id"));
        ids.push((label.to_string(), id, *check_name, *detail, r.status));
    }
    send_and_leave(&g.addr, "/v1/sse-long", &up, None).await;
    let want = cases.len() + 1;
    let mut lines = g.wait_lines(want);
    for _ in 0..100 {
        if lines.len() >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        lines = g.lines();
    }
    assert_eq!(lines.len(), want, "one entry per request: {lines:#?}");
    let mut by_id: HashMap<&str, Vec<&String>> = HashMap::new();
    for l in &lines {
        by_id
            .entry(field(l, "entry_id").trim_matches('"'))
            .or_default()
            .push(l);
    }
    for (label, id, check_name, detail, status) in &ids {
        let found = by_id.get(id.as_str()).map_or(0, Vec::len);
        assert_eq!(found, 1, "{label}: exactly one entry for {id}");
        let line = by_id[id.as_str()][0];
        assert_eq!(
            field(line, "check_name"),
            format!("\"{check_name}\""),
            "{label}: {line}"
        );
        let named = line.contains(&format!("\"_check_name\":\"{detail}\""))
            || line.contains(&format!("\"finish_reason\":\"{detail}\""));
        assert!(named, "{label}: {detail} in {line}");
        // The entry records the status the client got (for a stream cut by a check:
        // the upstream's, already sent).
        assert_eq!(field(line, "status"), status.to_string(), "{label}: {line}");
    }
    let gone: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"finish_reason\":\"client_disconnect\""))
        .collect();
    assert_eq!(gone.len(), 1, "the abandoned stream's entry: {lines:#?}");
    let (code, out) = g.verify();
    assert_eq!(code, Some(0), "{out}");
}

/// Stops the gateway with `signal` while a request whose client already left waits at
/// a slow upstream: the drain waits for it, its terminal entry is in the log, and (with
/// a log key) the last checkpoint covers it.
async fn stop_with_a_detached_request(signal: &str, two_phase: bool) {
    let up = upstream().await;
    let keys = tempfile::tempdir().unwrap();
    let log_key = keys.path().join("log.pem");
    signet_audit::keyfile::generate_ed25519_files(&log_key, None, false).unwrap();
    let mut env = vec![
        ("SIGNET_LOG_KEY", log_key.to_str().unwrap()),
        ("SIGNET_CHECKPOINT_EVERY", "1000"),
        ("SIGNET_CHECKPOINT_INTERVAL_MS", "60000"),
    ];
    if two_phase {
        env.push(("SIGNET_TWO_PHASE", "1"));
    }
    let mut g = gwt::start(&up.url(), &env, None);
    send_and_leave(&g.addr, "/v1/slow", &up, Some(1)).await;
    let pid = g.child.id().to_string();
    let signal = signal.to_owned();
    let (code, g) = tokio::task::spawn_blocking(move || {
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        let mut code = None;
        for _ in 0..1000 {
            if let Ok(Some(s)) = g.child.try_wait() {
                code = s.code();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (code, g)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{}", g.stderr.lock().unwrap());
    let lines = g.lines();
    let terminal: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"check_name\":\"pipeline.complete\""))
        .collect();
    assert_eq!(
        terminal.len(),
        1,
        "the detached request's entry: {lines:#?}"
    );
    assert!(terminal[0].contains("\"status\":200"), "{}", terminal[0]);
    if two_phase {
        assert_eq!(lines.len(), 2, "{lines:#?}");
        let id = field(terminal[0], "entry_id");
        assert!(
            lines[0].contains("pipeline.intent")
                && lines[0].contains(&format!("\"terminal_entry_id\":{id}")),
            "{lines:#?}"
        );
    } else {
        assert_eq!(lines.len(), 1, "{lines:#?}");
    }
    let cps =
        signet_audit::checkpoint_file::read_all(&g.log.with_file_name("audit.jsonl.checkpoints"))
            .expect("checkpoints");
    let last = cps.last().expect("a final checkpoint");
    let size = last
        .lines()
        .nth(1)
        .and_then(|s| s.parse::<usize>().ok())
        .expect("checkpoint size");
    assert_eq!(size, lines.len(), "the final checkpoint covers every entry");
    let (code, out) = g.verify();
    assert_eq!(code, Some(0), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_waits_for_a_request_whose_client_left() {
    stop_with_a_detached_request("TERM", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_waits_for_a_request_whose_client_left() {
    stop_with_a_detached_request("INT", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_two_phase_writes_the_terminal_entry_after_the_intent() {
    stop_with_a_detached_request("TERM", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_two_phase_writes_the_terminal_entry_after_the_intent() {
    stop_with_a_detached_request("INT", true).await;
}
