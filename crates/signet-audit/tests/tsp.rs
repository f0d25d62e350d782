//! RFC 3161 against a real OpenSSL TSA: our request, `openssl ts -reply`, our
//! verification, cross-checked with `openssl ts -verify` (RSA and ECDSA P-256); a table
//! of tampered tokens, each failing with the named check. These tests fail, not skip,
//! when openssl is missing.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod tsp_support;

use std::process::Command;

use signet_audit::tsp::{
    PkiStatus, TrustRoots, TspError, parse_response, request, request_with_policy, verify_token,
};
use signet_audit::util::now_ns;
use tsp_support::{der_cert, digest_of, flip, offset_in, tsa, with_certs};

#[test]
fn our_request_openssl_reply_our_verify_and_openssl_agrees() {
    for kind in ["rsa", "ec"] {
        let t = tsa(kind);
        let digest = digest_of(format!("signed checkpoint {kind}").as_bytes());
        let (req, nonce) = request(&digest);
        let resp = t.reply(&req, "tsa.crt", None, None);
        let v =
            verify_token(&resp, &digest, Some(nonce.as_bytes()), &t.roots("ca.crt")).expect(kind);
        assert_eq!(v.tsa_subject, "O=Local Test, CN=Local Test TSA");
        assert_eq!(v.policy, "1.2.3.4.1");
        assert_eq!(v.nonce.as_deref(), Some(nonce.as_bytes()));
        assert!(
            v.gen_time_unix_ns.abs_diff(now_ns()) < 600_000_000_000,
            "{kind}: genTime {}",
            v.gen_time
        );
        // openssl accepts the same response, and our request (nonce included).
        assert!(
            t.openssl_accepts(&resp, &digest, false, "tsa.crt"),
            "{kind}: openssl ts -verify"
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let (q, r) = (tmp.path().join("q.tsq"), tmp.path().join("r.tsr"));
        std::fs::write(&q, &req).expect("q");
        std::fs::write(&r, &resp).expect("r");
        let status = Command::new("openssl")
            .args(["ts", "-verify", "-queryfile"])
            .arg(&q)
            .arg("-in")
            .arg(&r)
            .arg("-CAfile")
            .arg(t.path("ca.crt"))
            .output()
            .expect("openssl")
            .status;
        assert!(status.success(), "{kind}: openssl ts -verify -queryfile");
        // The token is kept as the TSA's bytes: the bare token verifies on both sides.
        let parsed = parse_response(&resp).expect("parse");
        assert_eq!(
            offset_in(&resp, parsed.token.der) + parsed.token.der.len(),
            resp.len()
        );
        assert!(
            t.openssl_accepts(parsed.token.der, &digest, true, "tsa.crt"),
            "{kind}: -token_in"
        );
        verify_token(
            parsed.token.der,
            &digest,
            Some(nonce.as_bytes()),
            &t.roots("ca.crt"),
        )
        .expect("bare token");
    }
}

#[test]
fn intermediates_policies_legacy_ess_and_pss() {
    for kind in ["rsa", "ec"] {
        let t = tsa(kind);
        let roots = t.roots("ca.crt");
        let digest = digest_of(kind.as_bytes());
        let (req, nonce) = request(&digest);
        let n = Some(nonce.as_bytes());
        let via_int = t.reply(&req, "tsa-int.crt", Some("int.crt"), None);
        verify_token(&via_int, &digest, n, &roots).expect("through the token's intermediate");
        assert!(t.openssl_accepts(&via_int, &digest, false, "tsa-int.crt"));
        let v1 = t.reply(&req, "tsa.crt", None, Some("tsa_ess_v1"));
        verify_token(&v1, &digest, n, &roots).expect("legacy SHA-1 ESSCertID");
        let (preq, pnonce) = request_with_policy(&digest, "1.2.3.4.5.6").expect("policy");
        let other_policy = t.reply(&preq, "tsa.crt", None, None);
        let v =
            verify_token(&other_policy, &digest, Some(pnonce.as_bytes()), &roots).expect("policy");
        assert_eq!(v.policy, "1.2.3.4.5.6");
        let twin = t.reply(&req, "tsa-twin.crt", None, None);
        verify_token(&twin, &digest, n, &roots).expect("twin certificate is a valid TSA cert too");
    }
    let t = tsa("rsa");
    let digest = digest_of(b"pss");
    let (req, nonce) = request(&digest);
    let pss_cert = t.reply(&req, "tsa-pss.crt", None, None);
    verify_token(
        &pss_cert,
        &digest,
        Some(nonce.as_bytes()),
        &t.roots("ca.crt"),
    )
    .expect("RSA-PSS certificate signature");
    let tst = parse_response(&pss_cert)
        .expect("parse")
        .token
        .tst_info_der
        .to_vec();
    let pss_token = t.cms(&tst, "tsa.crt", true);
    verify_token(
        &pss_token,
        &digest,
        Some(nonce.as_bytes()),
        &t.roots("ca.crt"),
    )
    .expect("RSA-PSS SignerInfo");
    // `openssl ts -verify` (PKCS7 code) cannot check a PSS SignerInfo; `openssl cms` can.
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join("p.tst");
    std::fs::write(&f, &pss_token).expect("write");
    let cms = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-purpose",
            "timestampsign",
            "-out",
            "/dev/null",
            "-in",
        ])
        .arg(&f)
        .arg("-CAfile")
        .arg(t.path("ca.crt"))
        .output()
        .expect("openssl");
    assert!(
        cms.status.success(),
        "openssl cms -verify: {}",
        String::from_utf8_lossy(&cms.stderr)
    );
}

/// One labelled corruption and the check that must catch it.
struct Case<'r> {
    label: &'static str,
    der: Vec<u8>,
    digest: [u8; 32],
    nonce: Option<Vec<u8>>,
    roots: &'r TrustRoots,
    expect: &'static str,
}

#[test]
fn tamper_table_each_fails_with_the_named_check() {
    for kind in ["rsa", "ec"] {
        let t = tsa(kind);
        let roots = t.roots("ca.crt");
        let other_roots = tsa(if kind == "rsa" { "ec" } else { "rsa" }).roots("ca.crt");
        let digest = digest_of(format!("tamper {kind}").as_bytes());
        let (req, nonce) = request(&digest);
        let good = t.reply(&req, "tsa.crt", None, None);
        let parsed = parse_response(&good).expect("parse");
        let (tok, si) = (&parsed.token, &parsed.token.signer_infos[0]);
        let tst = tok.tst_info_der.to_vec();
        let serial_at = offset_in(&good, tok.tst_info.serial);
        let sig_at = offset_in(&good, si.signature) + si.signature.len() / 2;
        let attrs = si.signed_attrs.expect("signed attributes").raw;
        let utc_time = attrs
            .windows(2)
            .position(|w| w == [0x17, 0x0d])
            .expect("signingTime");
        let time_at = offset_in(&good, attrs) + utc_time + 5;
        let (req2, nonce2) = request(&digest_of(b"another checkpoint"));
        let (rej_req, _) = request_with_policy(&digest, "1.2.3.9").expect("policy");
        let twin = der_cert(t, "tsa-twin.crt");
        let mut appended = good.clone();
        appended.push(0);

        let case = |label, der, expect| Case {
            label,
            der,
            digest,
            nonce: Some(nonce.as_bytes().to_vec()),
            roots: &roots,
            expect,
        };
        let reply = |signer, chain| t.reply(&req, signer, chain, None);
        let cases = vec![
            case("control: untouched", good.clone(), "ok"),
            case(
                "control: cms, good cert",
                t.cms(&tst, "tsa.crt", false),
                "ok",
            ),
            Case {
                digest: digest_of(b"other"),
                ..case("wrong digest", good.clone(), "imprint")
            },
            Case {
                nonce: Some(vec![1, 2, 3]),
                ..case("wrong nonce", good.clone(), "nonce")
            },
            case(
                "token of another request",
                t.reply(&req2, "tsa.crt", None, None),
                "imprint",
            ),
            Case {
                nonce: Some(nonce2.as_bytes().to_vec()),
                ..case("nonce of another request", good.clone(), "nonce")
            },
            case("flipped signature byte", flip(&good, sig_at), "signature"),
            case(
                "flipped signingTime byte",
                flip(&good, time_at),
                "signature",
            ),
            case(
                "flipped TSTInfo byte",
                flip(&good, serial_at),
                "message_digest",
            ),
            Case {
                roots: &other_roots,
                ..case("root of another CA", good.clone(), "chain")
            },
            case(
                "signer from a same-named CA",
                reply("tsa-other.crt", None),
                "chain",
            ),
            case(
                "intermediate not a CA",
                reply("tsa-int-noca.crt", Some("int-noca.crt")),
                "chain",
            ),
            case(
                "intermediate not supplied",
                reply("tsa-int.crt", None),
                "chain",
            ),
            case(
                "TSA cert expired at genTime",
                reply("tsa-expired.crt", None),
                "validity",
            ),
            case(
                "TSA cert not yet valid",
                reply("tsa-future.crt", None),
                "validity",
            ),
            case(
                "EKU not critical",
                t.cms(&tst, "tsa-eku-noncrit.crt", false),
                "eku",
            ),
            case("no EKU", t.cms(&tst, "tsa-no-eku.crt", false), "eku"),
            case(
                "ESSCertIDv2 names another cert",
                with_certs(&good, Some(&[&twin])),
                "ess_cert_id",
            ),
            case(
                "signer certificate removed",
                with_certs(&good, None),
                "signer",
            ),
            case(
                "status rejection",
                t.reply(&rej_req, "tsa.crt", None, None),
                "status",
            ),
            case("junk", b"this is not a TimeStampResp".to_vec(), "malformed"),
            case(
                "truncated by one byte",
                good[..good.len() - 1].to_vec(),
                "malformed",
            ),
            case(
                "truncated to half",
                good[..good.len() / 2].to_vec(),
                "malformed",
            ),
            case("trailing byte", appended, "malformed"),
            case("empty", Vec::new(), "malformed"),
        ];
        for c in cases {
            let got = match verify_token(&c.der, &c.digest, c.nonce.as_deref(), c.roots) {
                Ok(_) => "ok",
                Err(e) => {
                    eprintln!("{kind}: {}: {e}", c.label);
                    e.kind()
                }
            };
            assert_eq!(got, c.expect, "{kind}: {}", c.label);
        }
        // openssl agrees on the cases it can express.
        for (label, der, d) in [
            ("signature", flip(&good, sig_at), digest),
            ("tstinfo", flip(&good, serial_at), digest),
            ("digest", good.clone(), digest_of(b"other")),
        ] {
            assert!(
                !t.openssl_accepts(&der, &d, false, "tsa.crt"),
                "{kind}: openssl {label}"
            );
        }
    }
}

#[test]
fn every_single_bit_flip_is_caught() {
    for kind in ["ec", "rsa"] {
        let t = tsa(kind);
        let roots = t.roots("ca.crt");
        let digest = digest_of(b"bit flips");
        let (req, nonce) = request(&digest);
        let good = t.reply(&req, "tsa-int.crt", Some("int.crt"), None);
        let status_at = 8; // the unsigned PKIStatus: 0 -> 1 is grantedWithMods, still a grant
        assert_eq!(good[status_at - 2..=status_at], [0x02, 0x01, 0x00]);
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut der = good.clone();
                der[i] ^= 1 << bit;
                let verdict = verify_token(&der, &digest, Some(nonce.as_bytes()), &roots);
                let harmless = i == status_at && bit == 0;
                assert_eq!(
                    verdict.is_ok(),
                    harmless,
                    "{kind}: bit {bit} of byte {i}: {verdict:?}"
                );
            }
        }
    }
}

#[test]
fn rejection_reports_status_and_fail_info() {
    let t = tsa("ec");
    let (req, _) = request_with_policy(&[7; 32], "1.2.3.9").expect("policy");
    let resp = t.reply(&req, "tsa.crt", None, None);
    match parse_response(&resp) {
        Err(TspError::Status {
            status, fail_info, ..
        }) => {
            assert_eq!(status, PkiStatus::Rejection);
            assert_eq!(fail_info, ["unacceptedPolicy"]);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}
