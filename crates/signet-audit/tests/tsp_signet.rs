//! The signet 0.1 anchored log (`tests/fixtures/signet-0.1/audit-anchored.jsonl`):
//! each entry's `_anchor` is checked against its tentative HMAC, at genTime (the
//! fixture TSA certificate may have expired by the wall clock), and `openssl ts
//! -verify` agrees on the valid one.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod tsp_support;

use std::process::Command;

use signet_audit::HmacKey;
use signet_audit::tsp::{TrustRoots, tentative_hmac, verify_signet_anchor};
use signet_audit::util::to_hex;
use tsp_support::{repo, tsa};

#[test]
fn signet_anchored_log() {
    let fixture = |name: &str| repo(&format!("tests/fixtures/signet-0.1/{name}"));
    let key = HmacKey::from_file("k1", &fixture("hmac-secret.hex")).expect("key");
    let roots =
        TrustRoots::from_pem(&std::fs::read(fixture("tsa-ca.crt")).expect("ca")).expect("roots");
    let log = std::fs::read(fixture("audit-anchored.jsonl")).expect("log");
    let lines: Vec<&[u8]> = log
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 4);

    // 1: a real token over the tentative HMAC; checked at genTime, whatever the clock.
    let a = verify_signet_anchor(lines[0], &key, &roots).expect("entry 1 verifies");
    assert_eq!(a.timestamp.tsa_subject, "CN=Local Test TSA");
    assert_eq!(a.timestamp.gen_time.to_string(), "2026-11-21T21:03:15Z");
    assert_eq!(
        to_hex(&a.tentative_hmac),
        "f3670189b7419118e177d1afed03e53f8b988df5ae9002b8239414b9be85c78a"
    );
    assert_eq!(a.anchored_at_ns, Some(1_795_294_995_233_012_963));
    let tmp = tempfile::tempdir().expect("tmp");
    let resp = tmp.path().join("r.tsr");
    let receipt = std::str::from_utf8(lines[0])
        .expect("utf8")
        .split("\"receipt\":\"")
        .nth(1)
        .expect("receipt");
    let der =
        signet_audit::tsp::pem::base64_decode(receipt.split('"').next().expect("end").as_bytes())
            .expect("b64");
    std::fs::write(&resp, der).expect("write");
    let at = (a.timestamp.gen_time_unix_ns / 1_000_000_000).to_string();
    let ok = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-digest",
            &to_hex(&a.tentative_hmac),
            "-attime",
            &at,
            "-in",
        ])
        .arg(&resp)
        .arg("-CAfile")
        .arg(fixture("tsa-ca.crt"))
        .arg("-untrusted")
        .arg(fixture("tsa.crt"))
        .output()
        .expect("openssl");
    assert!(
        ok.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong_roots = tsa("rsa").roots("ca.crt");
    let e = verify_signet_anchor(lines[0], &key, &wrong_roots).expect_err("other root");
    assert_eq!(
        (e.kind(), e.token_kind()),
        ("anchor_invalid", Some("chain"))
    );

    // 2: signet stored a junk "receipt" and called it a success.
    let e = verify_signet_anchor(lines[1], &key, &roots).expect_err("entry 2");
    assert_eq!(
        (e.kind(), e.token_kind()),
        ("anchor_invalid", Some("malformed")),
        "{e}"
    );
    // 3: the TSA request failed when the entry was written.
    let e = verify_signet_anchor(lines[2], &key, &roots).expect_err("entry 3");
    assert_eq!(e.kind(), "anchor_missing");
    assert!(e.to_string().contains("TSA request failed"), "{e}");
    // 4: receipt "b2s=" is base64 of "ok": two bytes, not DER.
    let e = verify_signet_anchor(lines[3], &key, &roots).expect_err("entry 4");
    assert_eq!(
        (e.kind(), e.token_kind()),
        ("anchor_invalid", Some("malformed")),
        "{e}"
    );
    // The tentative HMAC of entry 4 is still well defined (the token is what is wrong).
    assert!(tentative_hmac(lines[3], &key).is_ok());
}
