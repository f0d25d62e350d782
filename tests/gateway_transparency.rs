//! The gateway with checkpoints, RFC 3161 anchoring (a real local OpenSSL TSA) and
//! standalone receipts: everything it serves verifies with public material only.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};
use signet_audit::dsse::{Envelope, open_receipt};
use signet_audit::keyfile;
use signet_audit::merkle::{leaf_hash, verify_consistency};
use signet_audit::note::{open_checkpoint, parse_tlog_proof, parse_vkey};
use signet_audit::tsp::{TrustRoots, verify_token};
use support::gateway::{self as gwt, ALICE, Reply};
use support::tsa::{script, start as start_tsa};

const OK_BODY: &str = r#"{"choices":[{"message":{"content":"fine"},"finish_reason":"stop"}]}"#;

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    keyfile::generate_ed25519_files(&p, None, false).unwrap();
    p
}

fn get(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Handle::current();
    let g = tokio::task::block_in_place(|| rt.block_on(gwt::send("GET", url, &[], b"")));
    (g.status, g.text())
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_proofs_anchors_and_dsse_receipts_verify_offline() {
    let tsa = start_tsa();
    let keys = tempfile::tempdir().unwrap();
    let log_key = keygen(keys.path(), "log.pem");
    let receipt_key = keygen(keys.path(), "receipt.pem");
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let env = [
        ("SIGNET_LOG_KEY", log_key.to_str().unwrap()),
        ("SIGNET_RECEIPT_KEY", receipt_key.to_str().unwrap()),
        ("SIGNET_ORIGIN", "gw.test/signet-audit"),
        ("SIGNET_CHECKPOINT_EVERY", "3"),
        ("SIGNET_CHECKPOINT_INTERVAL_MS", "100"),
        ("SIGNET_TSA_URL", tsa.url.as_str()),
        ("SIGNET_TSA_ROOT", tsa.root.to_str().unwrap()),
    ];
    let g = gwt::start(&up.url(), &env, None);
    let mut ids = Vec::new();
    for i in 0..5 {
        let owner = if i == 2 { vec![] } else { vec![ALICE] };
        let r = gwt::send("POST", &g.url("/v1/x"), &owner, b"{}").await;
        ids.push(r.header("x-signet-correlation-id").unwrap());
    }

    // The log key, as a signed-note verifier key.
    let (status, vkey) = get(&g.url("/signet/v1/log-key"));
    assert_eq!(status, 200);
    let verifier = parse_vkey(vkey.trim()).unwrap_or_else(|e| panic!("vkey {vkey:?}: {e}"));
    assert_eq!(verifier.name(), "gw.test/signet-audit");

    // Wait until a checkpoint covers all 5 entries and it is anchored.
    let anchors = g.log.with_file_name("audit.jsonl.anchors");
    let mut note = String::new();
    for _ in 0..100 {
        let (s, n) = get(&g.url("/signet/v1/checkpoint"));
        if s == 200 && open_checkpoint(&n, &verifier).unwrap().size == 5 && anchors.exists() {
            let a = std::fs::read_to_string(&anchors).unwrap();
            if a.contains("\"checkpoint_size\":5") {
                note = n;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !note.is_empty(),
        "no anchored checkpoint of size 5: {}",
        g.stderr.lock().unwrap()
    );
    let cp = open_checkpoint(&note, &verifier).unwrap();

    // Inclusion proof for entry 1 against it.
    let lines = g.lines();
    let (s, proof_text) = get(&g.url("/signet/v1/proof/inclusion?index=1&size=5"));
    assert_eq!(s, 200, "{proof_text}");
    let proof = parse_tlog_proof(&proof_text).unwrap();
    let checked = proof
        .verify(&leaf_hash(lines[1].as_bytes()), &verifier)
        .expect("inclusion verifies");
    assert_eq!(checked.root, cp.root);
    assert!(
        proof
            .verify(&leaf_hash(lines[2].as_bytes()), &verifier)
            .is_err(),
        "proof must not fit another leaf"
    );

    // Consistency from an earlier stored checkpoint to 5. Usually the one at 3 (every
    // 3 entries), but under load the 100 ms timer can sign at 1 or 2 first, after
    // which the count starts again: take the largest one below 5.
    let notes =
        signet_audit::checkpoint_file::read_all(&g.log.with_file_name("audit.jsonl.checkpoints"))
            .unwrap();
    let old = notes
        .iter()
        .map(|n| open_checkpoint(n, &verifier).unwrap())
        .filter(|c| c.size > 0 && c.size < 5)
        .max_by_key(|c| c.size)
        .expect("a checkpoint before the one at 5");
    let (s, body) = get(&g.url(&format!(
        "/signet/v1/proof/consistency?old={}&size=5",
        old.size
    )));
    assert_eq!(s, 200);
    let hashes: Vec<[u8; 32]> = body
        .lines()
        .map(|l| {
            base64::engine::general_purpose::STANDARD
                .decode(l)
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect();
    verify_consistency(&hashes, old.size, 5, &old.root, &cp.root).expect("consistency verifies");

    // The anchor: a verified RFC 3161 token over SHA-256 of the signed note.
    let roots = TrustRoots::from_pem(&std::fs::read(&tsa.root).unwrap()).unwrap();
    let anchor_line = std::fs::read_to_string(&anchors).unwrap();
    let last = anchor_line.lines().last().unwrap();
    let token_b64 = last
        .split("\"token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let token = base64::engine::general_purpose::STANDARD
        .decode(token_b64)
        .unwrap();
    let digest = Sha256::digest(note.as_bytes());
    verify_token(&token, &digest, None, &roots).expect("anchor token verifies");
    // OpenSSL, which we did not write, accepts the stored bytes too.
    let tmp = tempfile::tempdir().unwrap();
    let tsr = tmp.path().join("anchor.tsr");
    std::fs::write(&tsr, &token).unwrap();
    let o = Command::new("openssl")
        .args(["ts", "-verify", "-digest"])
        .arg(signet_audit::util::to_hex(&digest))
        .arg("-in")
        .arg(&tsr)
        .arg("-CAfile")
        .arg(&tsa.root)
        .output()
        .expect("openssl is required");
    assert!(
        o.status.success(),
        "openssl ts -verify: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The standalone receipt for entry 4: DSSE signed by the receipt key, carrying the
    // line, its proof, the checkpoint and the token.
    let (s, env_json) = get(&g.url(&format!("/signet/v1/receipts/{}", ids[4])));
    assert_eq!(s, 200, "{env_json}");
    let env = Envelope::from_json(env_json.as_bytes()).unwrap();
    let rk = keyfile::load_ed25519_public(&receipt_key.with_file_name("receipt.pem.pub")).unwrap();
    let stmt = open_receipt(&env, &[("", &rk)]).expect("receipt signature verifies");
    assert_eq!(stmt.entry_line, lines[4]);
    let p = parse_tlog_proof(stmt.tlog_proof.as_deref().unwrap()).unwrap();
    p.verify(&leaf_hash(lines[4].as_bytes()), &verifier)
        .expect("receipt proof verifies");
    let tok = stmt
        .rfc3161_token
        .expect("receipt carries the anchor token");
    verify_token(
        &tok,
        &Sha256::digest(stmt.checkpoint.unwrap().as_bytes()),
        None,
        &roots,
    )
    .expect("token verifies");
    // The log key cannot pass for the receipt key.
    let lk = keyfile::load_ed25519_private(&log_key)
        .unwrap()
        .verifying_key();
    assert!(open_receipt(&env, &[("", &lk)]).is_err());

    // Bad parameters, unknown entries.
    assert_eq!(get(&g.url("/signet/v1/proof/inclusion?index=x")).0, 400);
    assert_eq!(get(&g.url("/signet/v1/proof/inclusion?index=99")).0, 404);
    assert_eq!(
        get(&g.url("/signet/v1/receipts/00000000-0000-4000-8000-000000000000")).0,
        404
    );
    // None of these probes wrote an entry.
    assert_eq!(g.lines().len(), 5);
    let m = gwt::send("GET", &g.url("/metrics"), &[], b"").await.text();
    assert!(m.contains("signet_checkpoints_signed_total"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_log_key_transparency_is_off_and_says_so() {
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let g = gwt::start(&up.url(), &[], None);
    let (s, body) = get(&g.url("/signet/v1/checkpoint"));
    assert_eq!(s, 404);
    assert!(body.contains("--log-key"));
    assert!(
        g.stderr.lock().unwrap().contains("checkpoints are OFF"),
        "{}",
        g.stderr.lock().unwrap()
    );
}

/// A TSA that answers junk (or nothing useful) never blocks or fails a request; no
/// unverified token is stored; the failures are counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_lying_tsa_never_affects_requests_and_nothing_unverified_is_stored() {
    let tsa = start_tsa();
    let liar = gwt::upstream(|_| {
        let mut r = Reply::json("this is not a TimeStampResp");
        r.headers = vec![("content-type".into(), "application/timestamp-reply".into())];
        r
    })
    .await;
    let keys = tempfile::tempdir().unwrap();
    let log_key = keygen(keys.path(), "log.pem");
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    let liar_url = format!("{}/tsr", liar.url());
    let env = [
        ("SIGNET_LOG_KEY", log_key.to_str().unwrap()),
        ("SIGNET_CHECKPOINT_EVERY", "1"),
        ("SIGNET_CHECKPOINT_INTERVAL_MS", "50"),
        ("SIGNET_TSA_URL", liar_url.as_str()),
        ("SIGNET_TSA_ROOT", tsa.root.to_str().unwrap()),
    ];
    let g = gwt::start(&up.url(), &env, None);
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}").await;
        assert_eq!(r.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a request waited on the TSA"
        );
    }
    let mut failures = 0u64;
    for _ in 0..50 {
        let m = gwt::send("GET", &g.url("/metrics"), &[], b"").await.text();
        failures = m
            .lines()
            .find_map(|l| l.strip_prefix("signet_anchor_failures_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if failures > 0 && liar.hits() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(liar.hits() > 0, "the TSA was never asked");
    assert!(failures > 0, "failures must be counted");
    let anchors = g.log.with_file_name("audit.jsonl.anchors");
    let stored = std::fs::read_to_string(&anchors).unwrap_or_default();
    assert!(
        stored.is_empty(),
        "an unverified token was stored: {stored}"
    );
    assert_eq!(g.verify().0, Some(0));
}

/// How the lying TSA of [`a_tsa_lying_with_well_formed_tokens_gets_nothing_stored`]
/// answers an anchoring request: always a real OpenSSL token, wrong in exactly one way
/// (or, for the controls, not at all).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lie {
    /// Control: `openssl ts -reply` to the gateway's own query.
    Honest,
    /// Control: the honest token's TSTInfo re-signed by `openssl cms` under the good
    /// TSA certificate (the path the serverAuth lie takes, minus the lie).
    HonestResigned,
    /// The token timestamps SHA-256 of other bytes (the request's nonce kept).
    OtherDigest,
    /// The token carries another nonce (the request's digest kept).
    OtherNonce,
    /// Signed by a TSA of its own whose root is not `--tsa-root`.
    UntrustedRoot,
    /// Signed under a root with the configured root's name but another key.
    ImpostorRoot,
    /// Signed by a certificate chaining to `--tsa-root` whose EKU is serverAuth.
    ServerAuthEku,
}

/// One DER TLV at `at`: (tag, start of contents, end of contents).
fn tlv(der: &[u8], at: usize) -> (u8, usize, usize) {
    let tag = der[at];
    let first = der[at + 1] as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize);
        (len, 2 + n)
    };
    (tag, at + head, at + head + len)
}

/// Where the imprint's digest and the nonce's value sit in a TimeStampReq.
fn digest_and_nonce(req: &[u8]) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (tag, body, _) = tlv(req, 0);
    assert_eq!(tag, 0x30, "TimeStampReq");
    let (tag, _, version_end) = tlv(req, body);
    assert_eq!(tag, 0x02, "version");
    let (tag, imprint, imprint_end) = tlv(req, version_end);
    assert_eq!(tag, 0x30, "messageImprint");
    let (_, _, alg_end) = tlv(req, imprint);
    let (tag, digest, digest_end) = tlv(req, alg_end);
    assert_eq!((tag, digest_end - digest), (0x04, 32), "SHA-256 digest");
    let mut at = imprint_end;
    let (mut tag, mut nonce, mut nonce_end) = tlv(req, at);
    if tag == 0x06 {
        at = nonce_end; // reqPolicy
        (tag, nonce, nonce_end) = tlv(req, at);
    }
    assert_eq!(tag, 0x02, "the gateway's request carries a nonce");
    (digest..digest_end, nonce..nonce_end)
}

/// A DER length.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The lying TSA's answer to the gateway's TimeStampReq `query`: a TimeStampResp made
/// by OpenSSL. `tsa` is a `local-tsa.sh init` directory whose `ca.crt` the gateway
/// trusts; `other` one whose root it does not.
fn lie(tsa: &Path, other: &Path, query: &[u8], how: Lie) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let (q, r) = (tmp.path().join("q.tsq"), tmp.path().join("r.tsr"));
    let (digest, nonce) = digest_and_nonce(query);
    let mut query = query.to_vec();
    match how {
        Lie::OtherDigest => {
            query[digest].copy_from_slice(&Sha256::digest(b"some other checkpoint"));
        }
        // The last byte only: the INTEGER stays minimally encoded and positive.
        Lie::OtherNonce => query[nonce.end - 1] ^= 0x01,
        _ => {}
    }
    std::fs::write(&q, &query).unwrap();
    let sign = |dir: &Path, signer: Option<PathBuf>| {
        let mut c = Command::new("bash");
        c.arg(script("tsa-sign.sh"))
            .arg("reply")
            .arg(dir)
            .arg(&q)
            .arg(&r);
        if let Some(s) = signer {
            c.arg(s);
        }
        run(&mut c);
    };
    match how {
        Lie::Honest | Lie::OtherDigest | Lie::OtherNonce => sign(tsa, None),
        Lie::UntrustedRoot => sign(other, None),
        Lie::ImpostorRoot => sign(tsa, Some(tsa.join("tsa-other.crt"))),
        Lie::HonestResigned | Lie::ServerAuthEku => {
            // The honest TSTInfo, signed again by `openssl cms` (which, unlike `openssl
            // ts -reply`, signs under any certificate) and wrapped as a granted response.
            sign(tsa, None);
            let (tok, tst, cms) = (
                tmp.path().join("tok.der"),
                tmp.path().join("tst.der"),
                tmp.path().join("cms.der"),
            );
            run(Command::new("openssl")
                .args(["ts", "-reply", "-token_out", "-in"])
                .arg(&r)
                .arg("-out")
                .arg(&tok));
            run(Command::new("openssl")
                .args([
                    "cms",
                    "-verify",
                    "-noverify",
                    "-binary",
                    "-inform",
                    "DER",
                    "-in",
                ])
                .arg(&tok)
                .arg("-out")
                .arg(&tst));
            let signer = if how == Lie::ServerAuthEku {
                tsa.join("tsa-server-auth.crt")
            } else {
                tsa.join("tsa.crt")
            };
            run(Command::new("bash")
                .arg(script("tsa-sign.sh"))
                .args(["cms"])
                .arg(tsa)
                .arg(&tst)
                .arg(&cms)
                .arg(signer));
            let token = std::fs::read(&cms).unwrap();
            let mut body = vec![0x30, 0x03, 0x02, 0x01, 0x00]; // PKIStatusInfo: granted
            body.extend(token);
            let mut resp = vec![0x30];
            resp.extend(der_len(body.len()));
            resp.extend(body);
            return resp;
        }
    }
    std::fs::read(&r).unwrap()
}

/// A `local-tsa.sh init` directory, plus `tsa-server-auth.crt`: the TSA's key and
/// subject under the same root, with a critical serverAuth EKU instead of timeStamping.
fn init_tsa(dir: &Path) {
    run(Command::new("bash")
        .arg(script("local-tsa.sh"))
        .arg("init")
        .arg(dir));
    std::fs::write(
        dir.join("server-auth.cnf"),
        "[ v3_server_auth ]\nbasicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\nextendedKeyUsage = critical, serverAuth\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n",
    )
    .unwrap();
    run(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "tsa.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "0x5e47e7",
        "-sha256",
        "-days",
        "30",
        "-extfile",
        "server-auth.cnf",
        "-extensions",
        "v3_server_auth",
        "-out",
        "tsa-server-auth.crt",
    ]));
}

/// A metric's value from a `/metrics` text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// A TSA that lies with well-formed tokens: each answer is a real OpenSSL TimeStampResp
/// over the gateway's request, wrong in one way (another digest, another nonce, an
/// untrusted or impostor root, a serverAuth signer). The gateway keeps serving, stores
/// nothing in `<log>.anchors`, counts each failure, and logs the check that caught the
/// lie. The two controls take the same front and the same OpenSSL paths without the
/// lie and must be anchored, so "nothing stored" is not an artefact of the harness.
#[tokio::test(flavor = "multi_thread")]
async fn a_tsa_lying_with_well_formed_tokens_gets_nothing_stored() {
    let dirs = tempfile::tempdir().unwrap();
    let (tsa, other) = (dirs.path().join("tsa"), dirs.path().join("other"));
    init_tsa(&tsa);
    init_tsa(&other);
    let keys = tempfile::tempdir().unwrap();
    let log_key = keygen(keys.path(), "log.pem");
    let up = gwt::upstream(|_| Reply::json(OK_BODY)).await;
    // The lie, and the check the gateway must name (None: the token must be stored).
    let cases = [
        (Lie::Honest, None),
        (Lie::HonestResigned, None),
        (Lie::OtherDigest, Some("imprint:")),
        (Lie::OtherNonce, Some("nonce:")),
        (Lie::UntrustedRoot, Some("chain:")),
        (Lie::ImpostorRoot, Some("chain:")),
        (Lie::ServerAuthEku, Some("eku:")),
    ];
    for (how, caught_by) in cases {
        let (t, o) = (tsa.clone(), other.clone());
        let front = gwt::upstream(move |seen| {
            let tsr = tokio::task::block_in_place(|| lie(&t, &o, &seen.body, how));
            Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/timestamp-reply".into())],
                chunks: vec![tsr],
                pause: Duration::ZERO,
                hang_up: false,
                delay: Duration::ZERO,
                hold: None,
            }
        })
        .await;
        let url = format!("{}/tsr", front.url());
        let root = tsa.join("ca.crt");
        let env = [
            ("SIGNET_LOG_KEY", log_key.to_str().unwrap()),
            ("SIGNET_CHECKPOINT_EVERY", "1"),
            ("SIGNET_CHECKPOINT_INTERVAL_MS", "50"),
            ("SIGNET_TSA_URL", url.as_str()),
            ("SIGNET_TSA_ROOT", root.to_str().unwrap()),
        ];
        let g = gwt::start(&up.url(), &env, None);
        let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}").await;
        assert_eq!(r.status, 200, "{how:?}");
        // Wait for the outcome: a counted failure for a lie, an anchor for a control.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let m = loop {
            let m = gwt::send("GET", &g.url("/metrics"), &[], b"").await.text();
            let done = if caught_by.is_some() {
                metric(&m, "signet_anchor_failures_total") > 0
            } else {
                metric(&m, "signet_anchored_size") > 0
            };
            if done {
                break m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{how:?}: no outcome; TSA asked {} times; {m}\n{}",
                front.hits(),
                g.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(front.hits() > 0, "{how:?}: the TSA was never asked");
        let anchors = g.log.with_file_name("audit.jsonl.anchors");
        let stored = std::fs::read_to_string(&anchors).unwrap_or_default();
        match caught_by {
            Some(check) => {
                assert!(stored.is_empty(), "{how:?}: a lie was stored: {stored}");
                assert_eq!(metric(&m, "signet_anchored_size"), 0, "{how:?}");
                let log = g.stderr.lock().unwrap().clone();
                assert!(
                    log.lines().any(|l| l.contains("checkpoint not anchored")
                        && l.contains(&format!("TSA response rejected: {check}"))),
                    "{how:?}: not refused by the {check} check: {log}"
                );
                // Still serving, and the lie cost the request nothing.
                let r = gwt::send("POST", &g.url("/v1/x"), &[ALICE], b"{}").await;
                assert_eq!(r.status, 200, "{how:?}");
            }
            None => {
                assert_eq!(stored.lines().count(), 1, "{how:?}: {stored}");
                assert_eq!(
                    metric(&m, "signet_anchor_failures_total"),
                    0,
                    "{how:?}: {}",
                    g.stderr.lock().unwrap()
                );
            }
        }
        assert_eq!(g.verify().0, Some(0), "{how:?}");
    }
}
