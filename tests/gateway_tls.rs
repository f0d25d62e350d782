//! End-to-end TLS tests of `signet serve`: `https://` upstreams verified against a
//! private CA made with rcgen (trusted, untrusted, wrong host name), bad TLS material
//! refused at start (exit 64), and the TLS listener with HTTP/2 and HTTP/1.1 via ALPN.
//! Everything runs on 127.0.0.1 with OS-picked ports.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::time::Duration;

use support::gateway::{self as gwt, ALICE, Reply};
use support::tls::{self as tlst, TestCa};
use tokio::io::AsyncReadExt;

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const OK_BODY: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}]}"#;

fn assert_log_ok(g: &gwt::Gateway) {
    let (code, out) = g.verify();
    assert_eq!(code, Some(0), "log must verify: {out}");
}

fn stderr(g: &gwt::Gateway) -> String {
    g.stderr.lock().unwrap().clone()
}

/// Waits for a log line in the gateway's stderr (it is read on another thread).
fn wait_stderr(g: &gwt::Gateway, needle: &str) -> String {
    for _ in 0..200 {
        let s = stderr(g);
        if s.contains(needle) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stderr(g)
}

/// The gateway refused the request at the upstream stage: 502, one audit entry that
/// says so, a log that verifies.
async fn assert_upstream_refused(g: &gwt::Gateway) {
    let r = gwt::send(
        "POST",
        &g.url("/v1/chat/completions"),
        &[ALICE],
        CHAT.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("upstream_unavailable"), "{}", r.text());
    let lines = g.wait_lines(1);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("\"check_name\":\"pipeline.upstream\""),
        "{}",
        lines[0]
    );
    let id = r.header("x-signet-correlation-id").expect("correlation id");
    assert!(lines[0].contains(&id));
    assert_log_ok(g);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstream_with_private_ca_is_verified_and_pooled() {
    let ca = TestCa::new("signet test CA");
    let up = tlst::https_upstream(&ca.leaf(&["127.0.0.1"]), OK_BODY).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = tlst::write(dir.path(), "ca.pem", &ca.pem);
    let g = gwt::start(
        &format!("{}/v1", up.url()),
        // One serving thread: upstream connections are pooled per thread, and each of
        // the three requests below comes on a connection of its own.
        &[
            ("SIGNET_UPSTREAM_CA", ca_file.to_str().unwrap()),
            ("SIGNET_WORKERS", "1"),
        ],
        None,
    );
    for i in 1..=3 {
        let r = gwt::send(
            "POST",
            &g.url("/chat/completions"),
            &[ALICE],
            CHAT.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}: {}", r.text(), stderr(&g));
        assert_eq!(r.text(), OK_BODY);
        assert!(r.header("x-signet-receipt").is_some());
        assert_eq!(up.requests(), i);
    }
    // Keep-alive: three requests, one TLS session.
    assert_eq!(up.handshakes(), 1, "upstream TLS connection was not reused");
    assert_eq!(up.hosts.lock().unwrap()[0], up.addr.to_string());
    let lines = g.wait_lines(3);
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l.contains("\"check_name\":\"pipeline.complete\""))
    );
    assert_log_ok(&g);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstream_not_signed_by_a_trusted_root_gets_502() {
    let ca = TestCa::new("private CA nobody trusts");
    let up = tlst::https_upstream(&ca.leaf(&["127.0.0.1"]), OK_BODY).await;
    // No --upstream-ca: the system roots are used. Point them (SSL_CERT_FILE, honoured
    // by rustls-native-certs) at an unrelated CA so the test does not depend on the
    // machine's store.
    let dir = tempfile::tempdir().unwrap();
    let system = tlst::write(dir.path(), "system.pem", &TestCa::new("some public CA").pem);
    let g = gwt::start(
        &up.url(),
        &[("SSL_CERT_FILE", system.to_str().unwrap())],
        None,
    );
    assert_upstream_refused(&g).await;
    assert_eq!(
        up.requests(),
        0,
        "the upstream must never see a request in clear"
    );
    assert_eq!(up.handshakes(), 0);
    assert!(up.failed_handshakes() >= 1);
    let log = wait_stderr(&g, "UnknownIssuer");
    assert!(log.contains("upstream connection failed"), "{log}");
    assert!(log.contains("UnknownIssuer"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn https_upstream_with_wrong_host_name_gets_502() {
    let ca = TestCa::new("signet test CA");
    // Trusted CA, but the certificate is for another name than the 127.0.0.1 we dial.
    let up = tlst::https_upstream(&ca.leaf(&["other.example"]), OK_BODY).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = tlst::write(dir.path(), "ca.pem", &ca.pem);
    let g = gwt::start(
        &up.url(),
        &[("SIGNET_UPSTREAM_CA", ca_file.to_str().unwrap())],
        None,
    );
    assert_upstream_refused(&g).await;
    assert_eq!(up.requests(), 0);
    let log = wait_stderr(&g, "not valid for name");
    assert!(log.contains("not valid for name"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_tls_material_is_a_usage_error() {
    let ca = TestCa::new("signet test CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let not_pem = tlst::write(d, "not.pem", "this is not a certificate\n");
    let torn = tlst::write(d, "torn.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
    let empty = tlst::write(d, "empty.pem", "");
    let cert = tlst::write(d, "cert.pem", &leaf.cert_pem);
    let other_key = tlst::write(d, "other.key", &ca.leaf(&["x"]).key_pem);
    let p = |x: &std::path::Path| x.to_str().unwrap().to_owned();

    // (upstream URL, extra environment, expected words in the error)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "https://127.0.0.1:9",
            vec![("SIGNET_UPSTREAM_CA", p(&not_pem))],
            "no certificate",
        ),
        (
            "https://127.0.0.1:9",
            vec![("SIGNET_UPSTREAM_CA", p(&torn))],
            "not valid PEM",
        ),
        (
            "https://127.0.0.1:9",
            vec![
                ("SSL_CERT_FILE", p(&empty)),
                ("SSL_CERT_DIR", p(&d.join("none"))),
            ],
            "no system root certificates",
        ),
        (
            "http://127.0.0.1:9",
            vec![("SIGNET_TLS_CERT", p(&cert)), ("SIGNET_TLS_KEY", p(&cert))],
            "no private key",
        ),
        (
            "http://127.0.0.1:9",
            vec![
                ("SIGNET_TLS_CERT", p(&cert)),
                ("SIGNET_TLS_KEY", p(&other_key)),
            ],
            "TLS certificate and key",
        ),
    ];
    for (url, env, want) in cases {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, err) = tlst::start_fails(url, &env);
        assert_eq!(code, Some(64), "{env:?}: {err}");
        assert!(err.contains(want), "{env:?}: expected {want:?} in {err}");
        assert!(
            !err.contains("PRIVATE KEY-----"),
            "key material in an error: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_listener_speaks_h2_and_http11_via_alpn() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let ca = TestCa::new("listener CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let cert = tlst::write(dir.path(), "cert.pem", &leaf.cert_pem);
    let key = tlst::write(dir.path(), "key.pem", &leaf.key_pem);
    let (g, scheme) = tlst::start(
        &up.url(),
        &[
            ("SIGNET_TLS_CERT", cert.to_str().unwrap()),
            ("SIGNET_TLS_KEY", key.to_str().unwrap()),
        ],
    );
    assert_eq!(scheme, "https", "announce line must say https://");

    let send = |alpn: &'static [&'static [u8]]| {
        tlst::https_request(
            &g.addr,
            ca.roots(),
            alpn,
            "POST",
            "/v1/chat/completions",
            &[ALICE],
            CHAT.as_bytes(),
        )
    };
    let h2 = send(&[b"h2", b"http/1.1"]).await;
    assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(h2.version, http::Version::HTTP_2);
    assert_eq!(h2.status, 200, "{}", String::from_utf8_lossy(&h2.body));
    assert_eq!(h2.body, OK_BODY.as_bytes());

    let h1 = send(&[b"http/1.1"]).await;
    assert_eq!(h1.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(h1.version, http::Version::HTTP_11);
    assert_eq!(h1.status, 200);
    assert_eq!(h1.body, OK_BODY.as_bytes());

    // No ALPN at all: HTTP/1.1.
    let plain = send(&[]).await;
    assert_eq!(plain.alpn, None);
    assert_eq!(plain.version, http::Version::HTTP_11);
    assert_eq!(plain.status, 200);

    assert_eq!(up.hits(), 3);
    let lines = g.wait_lines(3);
    assert_eq!(lines.len(), 3);
    assert_log_ok(&g);
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_listener_drops_failed_and_stalled_handshakes() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let ca = TestCa::new("listener CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let cert = tlst::write(dir.path(), "cert.pem", &leaf.cert_pem);
    let key = tlst::write(dir.path(), "key.pem", &leaf.key_pem);
    let (g, _) = tlst::start(
        &up.url(),
        &[
            ("SIGNET_TLS_CERT", cert.to_str().unwrap()),
            ("SIGNET_TLS_KEY", key.to_str().unwrap()),
            ("SIGNET_HEADER_READ_TIMEOUT_S", "1"),
        ],
    );

    // Plain HTTP to the TLS port: not a handshake; the connection is dropped.
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        plain_get(&format!("http://{}/v1/x", g.addr)),
    )
    .await
    .expect("plain request must end, not hang");
    assert!(r.is_err(), "plain HTTP must not be served on the TLS port");

    // A client that connects and never starts the handshake is cut off by the
    // header-read timeout (1 s), not kept forever.
    let mut idle = tokio::net::TcpStream::connect(&g.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("stalled handshake must be dropped within the header-read timeout");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");

    // The listener still serves real clients afterwards.
    let ok = tlst::https_request(
        &g.addr,
        ca.roots(),
        &[b"h2"],
        "POST",
        "/v1/x",
        &[ALICE],
        CHAT.as_bytes(),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(up.hits(), 1);
    // Neither dropped connection reached the pipeline, so one entry only.
    assert_eq!(g.wait_lines(1).len(), 1);
    assert_log_ok(&g);
}

/// A plain-HTTP GET with the harness client; `Err` when the connection fails.
async fn plain_get(url: &str) -> Result<u16, String> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    client
        .get(url.parse().map_err(|e| format!("{e}"))?)
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}
