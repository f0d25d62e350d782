//! Anchoring to an `https://` TSA, end to end: a real local OpenSSL TSA behind a TLS
//! front (tokio-rustls, certificate from a private rcgen CA), the gateway trusting that
//! CA through `SIGNET_TSA_CA` or `SSL_CERT_FILE`. A verified token lands in
//! `<log>.anchors` and `signet audit verify` accepts it; with a certificate the gateway
//! does not trust, anchoring fails (and is counted) while requests are still served.
//! Everything runs on 127.0.0.1 with OS-picked ports, every wait bounded.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use signet_audit::keyfile;
use signet_audit::note::{open_checkpoint, parse_vkey};
use signet_audit::tlog_verify::AnchorRecord;
use signet_audit::tsp::{TrustRoots, verify_token};
use support::gateway::{self as gwt, ALICE, Gateway, Reply, SECRET};
use support::tls::{TestCa, write};
use support::tsa::{self, TlsFront, Tsa};

const OK_BODY: &str = r#"{"choices":[{"message":{"content":"fine"},"finish_reason":"stop"}]}"#;
/// Requests sent, so the latest checkpoint covers this many entries.
const N: u64 = 3;

/// A TSA behind TLS with a certificate for 127.0.0.1 issued by `ca`.
async fn https_tsa(ca: &TestCa) -> (Tsa, TlsFront) {
    let tsa = tsa::start();
    let front = tsa::tls_front(&ca.leaf(&["127.0.0.1"]), tsa.addr()).await;
    (tsa, front)
}

/// Starts the gateway anchoring every checkpoint at `front`, plus `extra` variables,
/// and sends [`N`] requests, each answered at once. The upstream is returned to be kept
/// alive.
async fn gateway(
    dir: &Path,
    tsa: &Tsa,
    front: &TlsFront,
    extra: &[(&str, &str)],
) -> (Gateway, gwt::Upstream) {
    let log_key = dir.join("log.pem");
    keyfile::generate_ed25519_files(&log_key, None, false).unwrap();
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let url = front.url();
    let mut env = vec![
        ("SIGNET_LOG_KEY", log_key.to_str().unwrap()),
        ("SIGNET_ORIGIN", "gw.test/signet-audit"),
        ("SIGNET_CHECKPOINT_EVERY", "1"),
        ("SIGNET_CHECKPOINT_INTERVAL_MS", "50"),
        ("SIGNET_TSA_URL", url.as_str()),
        ("SIGNET_TSA_ROOT", tsa.root.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    let g = gwt::start(&up.url(), &env, None);
    for _ in 0..N {
        let started = Instant::now();
        let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a request waited on the TSA"
        );
    }
    (g, up)
}

/// The anchor record of the checkpoint of size [`N`], waiting up to 20 s for it.
async fn anchored(g: &Gateway) -> AnchorRecord {
    let anchors = g.log.with_file_name("audit.jsonl.anchors");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let text = std::fs::read(&anchors).unwrap_or_default();
        let found = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| AnchorRecord::parse(l).expect("anchor record"))
            .find(|r| r.checkpoint_size == N);
        if let Some(r) = found {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no anchor of size {N}: {}", g.stderr.lock().unwrap());
}

/// The token verifies over the served checkpoint of size [`N`], and `signet audit
/// verify` accepts the log with its checkpoints and anchors.
async fn assert_verified(g: &Gateway, tsa: &Tsa, front: &TlsFront, rec: &AnchorRecord) {
    assert_eq!(rec.tsa_url, front.url());
    assert!(front.handshakes() > 0, "anchoring bypassed the TLS front");
    let roots = TrustRoots::from_pem(&std::fs::read(&tsa.root).unwrap()).unwrap();
    verify_token(&rec.token, &rec.note_sha256, None, &roots).expect("stored token verifies");
    let vkey = gwt::send("GET", &g.url("/signet/v1/log-key"), &[], b"")
        .await
        .text();
    let verifier = parse_vkey(vkey.trim()).unwrap();
    let note = gwt::send("GET", &g.url("/signet/v1/checkpoint"), &[], b"")
        .await
        .text();
    assert_eq!(open_checkpoint(&note, &verifier).unwrap().size, N);
    let digest: [u8; 32] = Sha256::digest(note.as_bytes()).into();
    assert_eq!(
        rec.note_sha256, digest,
        "the anchor is of the served checkpoint"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["audit", "verify", "--log-key", vkey.trim(), "--tsa-root"])
        .arg(&tsa.root)
        .arg(&g.log)
        .env("SIGNET_HMAC_SECRET", SECRET)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_tsa_trusted_through_the_tsa_ca_option_anchors() {
    let ca = TestCa::new("tsa tls ca");
    let (tsa, front) = https_tsa(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = write(dir.path(), "tsa-ca.pem", &ca.pem);
    let (g, _up) = gateway(
        dir.path(),
        &tsa,
        &front,
        &[("SIGNET_TSA_CA", ca_pem.to_str().unwrap())],
    )
    .await;
    let rec = anchored(&g).await;
    assert_verified(&g, &tsa, &front, &rec).await;
    assert_eq!(g.verify().0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn https_tsa_trusted_through_ssl_cert_file_anchors() {
    let ca = TestCa::new("system-ish tls ca");
    let (tsa, front) = https_tsa(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = write(dir.path(), "bundle.pem", &ca.pem);
    let (g, _up) = gateway(
        dir.path(),
        &tsa,
        &front,
        &[("SSL_CERT_FILE", bundle.to_str().unwrap())],
    )
    .await;
    let rec = anchored(&g).await;
    assert_verified(&g, &tsa, &front, &rec).await;
}

/// The TSA's certificate is from a CA the gateway was not told to trust: the handshake
/// is refused, nothing is stored, the failures are counted, and requests never wait.
#[tokio::test(flavor = "multi_thread")]
async fn untrusted_tsa_certificate_fails_anchoring_but_requests_are_served() {
    let ca = TestCa::new("tsa tls ca");
    let other = TestCa::new("another ca");
    let (tsa, front) = https_tsa(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let other_pem = write(dir.path(), "other.pem", &other.pem);
    let (g, _up) = gateway(
        dir.path(),
        &tsa,
        &front,
        &[("SIGNET_TSA_CA", other_pem.to_str().unwrap())],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut failures = 0u64;
    while Instant::now() < deadline {
        let m = gwt::send("GET", &g.url("/metrics"), &[], b"").await.text();
        failures = m
            .lines()
            .find_map(|l| l.strip_prefix("signet_anchor_failures_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if failures > 0 && front.failed_handshakes() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        failures > 0,
        "failures must be counted: {}",
        g.stderr.lock().unwrap()
    );
    assert!(
        front.failed_handshakes() > 0,
        "the gateway never tried the TSA"
    );
    assert_eq!(
        front.handshakes(),
        0,
        "an untrusted certificate was accepted"
    );
    let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}").await;
    assert_eq!(r.status, 200, "requests are served while anchoring fails");
    let stored = std::fs::read(g.log.with_file_name("audit.jsonl.anchors")).unwrap_or_default();
    assert!(
        stored.is_empty(),
        "a token was stored: {}",
        String::from_utf8_lossy(&stored)
    );
    assert_eq!(g.verify().0, Some(0));
}
