//! End-to-end tests of the public-key side of the CLI on the real binary:
//! `signet audit verify --log-key/--checkpoints/--tsa-root/--anchors`,
//! `signet keys vkey` and `signet receipt verify`. Checkpoints are signed with a
//! fixed-seed Ed25519 key, anchors and receipt tokens come from a real OpenSSL TSA
//! (`tests/support/local-tsa.sh`, `tsa-sign.sh`): without openssl these tests fail.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use signet_audit::checkpoint_file::encode_record;
use signet_audit::dsse::{Envelope, ReceiptStatement, make_receipt};
use signet_audit::json::{self, Value};
use signet_audit::key::HmacKey;
use signet_audit::keyfile;
use signet_audit::merkle::{MemStore, inclusion_proof, leaf_hash, tree_hash};
use signet_audit::note::{Checkpoint, format_tlog_proof, parse_vkey, sign_checkpoint, vkey};
use signet_audit::receipt::ReceiptSigner;
use signet_audit::tlog_verify::AnchorRecord;
use signet_audit::{Decision, EntryDraft, seal};

const SECRET: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const ORIGIN: &str = "cli.example/signet-audit";
const SIZES: [u64; 3] = [4, 8, 10];

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn signet(args: &[&str], secret: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    c.args(args);
    for v in [
        "SIGNET_HMAC_SECRET",
        "SIGNET_HMAC_SECRET_FILE",
        "SIGNET_HMAC_KEY_ID",
        "SIGNET_AUDIT_LOG_PATH",
    ] {
        c.env_remove(v);
    }
    if let Some(s) = secret {
        c.env("SIGNET_HMAC_SECRET", s);
    }
    c.output().expect("run signet")
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The local TSA directory (built once per test process).
fn tsa_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let v = Command::new("openssl").arg("version").output();
        assert!(
            v.is_ok_and(|o| o.status.success()),
            "openssl is required by these tests (they do not skip)"
        );
        // Per process: nextest runs each test in its own process, in parallel.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli_transparency-tsa-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let o = Command::new("bash")
            .arg(repo("tests/support/local-tsa.sh"))
            .arg("init")
            .arg(&dir)
            .output()
            .expect("local-tsa.sh");
        assert!(o.status.success(), "local-tsa.sh init: {}", out(&o));
        dir
    })
}

/// A TimeStampResp from the local TSA for `digest`.
fn timestamp(digest: &[u8; 32]) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let (q, r) = (tmp.path().join("q.tsq"), tmp.path().join("r.tsr"));
    std::fs::write(&q, signet_audit::tsp::request(digest).0).unwrap();
    let o = Command::new("bash")
        .arg(repo("tests/support/tsa-sign.sh"))
        .args(["reply", s(tsa_dir()), s(&q), s(&r)])
        .output()
        .expect("tsa-sign.sh");
    assert!(o.status.success(), "tsa-sign.sh: {}", out(&o));
    std::fs::read(r).unwrap()
}

fn tsa_root() -> PathBuf {
    tsa_dir().join("ca.crt")
}

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&[31; 32])
}

fn log_vkey() -> String {
    vkey(ORIGIN, &log_key().verifying_key()).unwrap()
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Entry lines (with `\n`) sealed under SECRET; `reason(i)` is each entry's reason.
fn chain(reasons: &[String]) -> Vec<Vec<u8>> {
    let key = HmacKey::from_hex("k1", SECRET).unwrap();
    let mut prev = String::new();
    let mut lines = Vec::new();
    for (i, r) in reasons.iter().enumerate() {
        let mut d = EntryDraft::new("pipeline.complete", Decision::Allow, r);
        d.entry_id = format!("00000000-0000-4000-8000-{i:012}");
        d.ts_ns = 1_700_000_000_000_000_000 + i as u64;
        let sealed = seal(&d, i as u64, &prev, &key).unwrap();
        prev = sealed.hmac.to_hex();
        lines.push(sealed.line);
    }
    lines
}

fn reasons(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("request {i} completed")).collect()
}

fn store(lines: &[Vec<u8>]) -> MemStore {
    let mut m = MemStore::new();
    for l in lines {
        m.append_leaf(leaf_hash(&l[..l.len() - 1])).unwrap();
    }
    m
}

fn note(size: u64, root: [u8; 32], key: &SigningKey) -> String {
    sign_checkpoint(&Checkpoint::new(ORIGIN, size, root), key).unwrap()
}

/// A log directory: `audit.jsonl` with its `.checkpoints` and `.anchors`.
struct Fixture {
    _dir: tempfile::TempDir,
    log: PathBuf,
    lines: Vec<Vec<u8>>,
    notes: Vec<String>,
    anchors: Vec<AnchorRecord>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let lines = chain(&reasons(10));
        let st = store(&lines);
        let notes: Vec<String> = SIZES
            .iter()
            .map(|&n| note(n, tree_hash(n, &st).unwrap(), &log_key()))
            .collect();
        let anchors = notes
            .iter()
            .zip(SIZES)
            .map(|(n, size)| AnchorRecord {
                checkpoint_size: size,
                note_sha256: sha(n.as_bytes()),
                token: timestamp(&sha(n.as_bytes())),
                ts_ns: 1_700_000_000_000_000_000,
                tsa_url: "http://127.0.0.1:9/".into(),
            })
            .collect();
        let f = Fixture {
            log: dir.path().join("audit.jsonl"),
            _dir: dir,
            lines,
            notes,
            anchors,
        };
        f.write_log(&f.lines.concat());
        f.write_notes(&f.notes);
        f.write_anchors(&f.anchors);
        f
    }
    fn side(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.log.display()))
    }
    fn write_log(&self, bytes: &[u8]) {
        std::fs::write(&self.log, bytes).unwrap();
    }
    fn write_notes(&self, notes: &[String]) {
        let b: Vec<u8> = notes.iter().flat_map(|n| encode_record(n)).collect();
        std::fs::write(self.side(".checkpoints"), b).unwrap();
    }
    fn write_anchors(&self, a: &[AnchorRecord]) {
        let b: Vec<u8> = a.iter().flat_map(AnchorRecord::to_line).collect();
        std::fs::write(self.side(".anchors"), b).unwrap();
    }
    /// `audit verify --json LOG --log-key VKEY [--tsa-root]`, parsed.
    fn verify_json(&self, secret: Option<&str>, tsa: bool) -> (i32, Value) {
        let vk = log_vkey();
        let root = tsa_root();
        let mut args = vec!["audit", "verify", "--json", s(&self.log), "--log-key", &vk];
        if tsa {
            args.extend(["--tsa-root", s(&root)]);
        }
        let o = signet(&args, secret);
        let (v, _) = json::parse(o.stdout.trim_ascii_end())
            .unwrap_or_else(|e| panic!("json report: {e}: {}", out(&o)));
        (o.status.code().unwrap(), v)
    }
}

fn field<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.as_object().unwrap().get(k).unwrap_or(&Value::Null)
}

fn num(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// `(kind, checkpoint_size or line)` of breaks.
type Breaks = Vec<(String, Option<u64>)>;

/// `(kind, checkpoint_size or line)` of every break in a JSON report.
fn breaks(v: &Value) -> Breaks {
    let Value::Array(a) = field(v, "breaks") else {
        panic!("breaks")
    };
    a.iter()
        .map(|b| {
            let kind = field(b, "kind").as_str().unwrap().to_owned();
            let at = num(field(b, "checkpoint_size")).or(num(field(b, "line")));
            (kind, at)
        })
        .collect()
}

#[test]
fn public_keys_alone_verify_an_intact_log() {
    let f = Fixture::new();
    let vk = log_vkey();
    let o = signet(&["audit", "verify", s(&f.log), "--log-key", &vk], None);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("OK: 10 entries"), "{text}");
    assert!(text.contains("MACs were not checked"), "{text}");
    assert!(text.contains("cover the log up to size 10"), "{text}");
    assert!(!text.contains("cannot be detected"), "{text}");
    let (code, v) = f.verify_json(None, true);
    assert_eq!(code, 0, "{v:?}");
    assert_eq!(field(&v, "macs_checked"), &Value::Bool(false));
    assert_eq!(field(&v, "tail_truncation_detectable"), &Value::Bool(true));
    let t = field(&v, "transparency");
    assert_eq!(num(field(t, "covered_size")), Some(10));
    assert_eq!(
        num(field(field(t, "anchors"), "anchored_checkpoints")),
        Some(3)
    );
    // With the secret too, and the key given as a file: both halves run.
    let key_file = f.side(".vkey");
    std::fs::write(&key_file, format!("{vk}\n")).unwrap();
    let o = signet(
        &["audit", "verify", s(&f.log), "--log-key", s(&key_file)],
        Some(SECRET),
    );
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("OK: 10 entries, chain intact"), "{text}");
    assert!(text.contains("checkpoints: 3 of 3 verified"), "{text}");
    // Entries after the latest checkpoint are named as not covered.
    f.write_log(&[f.lines.concat(), chain(&reasons(12))[10..].concat()].concat());
    let o = signet(&["audit", "verify", s(&f.log), "--log-key", &vk], None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("the 2 entries after the latest checkpoint are not yet covered"));
}

#[test]
fn tampering_after_a_checkpoint_is_caught() {
    let f = Fixture::new();
    // Cut after a checkpoint: the HMAC chain alone still passes.
    f.write_log(&f.lines[..9].concat());
    let (code, v) = f.verify_json(Some(SECRET), false);
    assert_eq!(
        (code, breaks(&v)),
        (2, vec![("truncated".into(), Some(10))])
    );
    // Rewrite entry 6 and re-MAC the whole chain with the secret.
    let mut r = reasons(10);
    r[6] = "request 6 was never made".into();
    f.write_log(&chain(&r).concat());
    let o = signet(
        &["audit", "verify", s(&f.log), "--log-key", &log_vkey()],
        Some(SECRET),
    );
    let text = out(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(text.contains("chain: intact, 10 entries"), "{text}");
    assert!(!text.contains("checkpoint 1 (size 4)"), "{text}");
    assert!(text.contains("checkpoint 2 (size 8): fork"), "{text}");
    assert!(text.contains("checkpoint 3 (size 10): fork"), "{text}");
    f.write_log(&f.lines.concat());

    let other = SigningKey::from_bytes(&[32; 32]);
    let forged_root = tree_hash(6, &store(&chain(&reasons(7))[1..])).unwrap();
    let cases: Vec<(&str, Vec<String>, Breaks)> = vec![
        (
            "forked checkpoint signed by the log key",
            vec![
                f.notes[0].clone(),
                note(6, forged_root, &log_key()),
                f.notes[1].clone(),
            ],
            vec![("fork".into(), Some(6))],
        ),
        (
            "checkpoint signed by another key",
            vec![f.notes[0].clone(), note(10, [0; 32], &other)],
            vec![("checkpoint_signature".into(), Some(10))],
        ),
    ];
    for (label, notes, want) in cases {
        f.write_notes(&notes);
        let (code, v) = f.verify_json(None, false);
        assert_eq!((code, breaks(&v)), (2, want), "{label}");
    }
}

#[test]
fn anchors_are_checked_against_their_checkpoints() {
    let f = Fixture::new();
    let mut swapped = f.anchors.clone();
    let t = swapped[0].token.clone();
    swapped[0].token = std::mem::replace(&mut swapped[1].token, t);
    f.write_anchors(&swapped);
    let (code, v) = f.verify_json(None, true);
    assert_eq!(
        (code, breaks(&v)),
        (
            2,
            vec![
                ("anchor_invalid".into(), Some(4)),
                ("anchor_invalid".into(), Some(8))
            ]
        )
    );
    std::fs::remove_file(f.side(".anchors")).unwrap();
    let (code, v) = f.verify_json(None, true);
    assert_eq!(code, 2);
    // Every checkpoint but the newest (which may simply not be anchored yet) is missing.
    assert_eq!(breaks(&v).len(), 2, "{v:?}");
    assert!(breaks(&v).iter().all(|(k, _)| k == "anchor_missing"));
    // Without --tsa-root nothing is expected of anchors.
    let (code, _) = f.verify_json(None, false);
    assert_eq!(code, 0);
}

#[test]
fn signet_per_entry_anchors_are_checked_with_the_secret() {
    let fx = |n: &str| repo(&format!("tests/fixtures/signet-0.1/{n}"));
    let secret = std::fs::read_to_string(fx("hmac-secret.hex")).unwrap();
    let ca = fx("tsa-ca.crt");
    let log = fx("audit-anchored.jsonl");
    let o = signet(
        &["audit", "verify", "--json", s(&log), "--tsa-root", s(&ca)],
        Some(secret.trim()),
    );
    let (v, _) = json::parse(o.stdout.trim_ascii_end()).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let want: Breaks = vec![
        ("anchor_invalid".into(), Some(2)),
        ("anchor_missing".into(), Some(3)),
        ("anchor_invalid".into(), Some(4)),
    ];
    assert_eq!(breaks(&v), want);
}

#[test]
fn verify_usage_and_input_errors() {
    let f = Fixture::new();
    let vk = log_vkey();
    let log = s(&f.log);
    let missing = f.side(".nope");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["audit", "verify", log], 64),
        (vec!["audit", "verify", log, "--checkpoints", log], 64),
        (vec!["audit", "verify", log, "--log-key", "x+0000+AAAA"], 64),
        (vec!["audit", "verify", log, "--log-key", s(&missing)], 66),
        (
            vec![
                "audit",
                "verify",
                log,
                "--log-key",
                &vk,
                "--checkpoints",
                s(&missing),
            ],
            66,
        ),
        (
            vec!["audit", "verify", log, "--log-key", &vk, "--anchors", log],
            64,
        ),
        (vec!["audit", "verify", s(&missing), "--log-key", &vk], 66),
    ];
    for (args, code) in cases {
        let o = signet(&args, None);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", out(&o));
    }
}

#[test]
fn keys_vkey_prints_the_note_verifier_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.pem");
    let o = signet(&["keys", "generate-ed25519", "--out", s(&key)], None);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let public = keyfile::load_ed25519_public(&keyfile::public_path(&key)).unwrap();
    let pub_path = keyfile::public_path(&key);
    for file in [s(&key), s(&pub_path)] {
        let o = signet(&["keys", "vkey", file, "--origin", ORIGIN], None);
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        let v = parse_vkey(text.trim_end()).unwrap();
        assert_eq!((v.name(), v.key()), (ORIGIN, &public));
        assert_eq!(text, format!("{}\n", vkey(ORIGIN, &public).unwrap()));
    }
    let o = signet(&["keys", "vkey", s(&key)], None);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        parse_vkey(text.trim_end())
            .unwrap()
            .name()
            .ends_with("/signet-audit")
    );
    let o = signet(&["keys", "vkey", s(&key), "--origin", "has space"], None);
    assert_eq!(o.status.code(), Some(64));
    let o = signet(&["keys", "vkey", s(&dir.path().join("none"))], None);
    assert_eq!(o.status.code(), Some(66));
}

/// A receipt for entry `i` of the fixture log, as the gateway makes it.
fn statement(f: &Fixture, i: usize, proof_of: usize) -> ReceiptStatement {
    let st = store(&f.lines);
    let proof = inclusion_proof(proof_of as u64, 10, &st).unwrap();
    let line = &f.lines[i];
    ReceiptStatement {
        entry_line: String::from_utf8(line[..line.len() - 1].to_vec()).unwrap(),
        origin: ORIGIN.into(),
        checkpoint: Some(f.notes[2].clone()),
        tlog_proof: Some(format_tlog_proof(proof_of as u64, &proof, &f.notes[2])),
        rfc3161_token: Some(f.anchors[2].token.clone()),
        receipt_key_id: "receipts-1".into(),
    }
}

#[test]
fn receipt_verify_dsse() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let rkey = SigningKey::from_bytes(&[33; 32]);
    let rpub = dir.path().join("receipt.pub");
    std::fs::write(&rpub, keyfile::public_pem(&rkey.verifying_key()).unwrap()).unwrap();
    let wrong_pub = dir.path().join("wrong.pub");
    let wrong = SigningKey::from_bytes(&[34; 32]).verifying_key();
    std::fs::write(&wrong_pub, keyfile::public_pem(&wrong).unwrap()).unwrap();
    let write = |name: &str, env: &Envelope| {
        let p = dir.path().join(name);
        std::fs::write(&p, env.to_json()).unwrap();
        p
    };
    let good = make_receipt(&statement(&f, 3, 3), "receipts-1", &rkey).unwrap();
    let good_path = write("good.json", &good);
    let mut tampered = good.clone();
    let at = tampered.payload.len() / 2;
    tampered.payload[at] ^= 1;
    let other_proof = make_receipt(&statement(&f, 3, 4), "receipts-1", &rkey).unwrap();
    let mut st = statement(&f, 3, 3);
    st.rfc3161_token = Some(f.anchors[1].token.clone());
    let other_token = make_receipt(&st, "receipts-1", &rkey).unwrap();
    let vk = log_vkey();
    let other_vk = vkey(ORIGIN, &SigningKey::from_bytes(&[35; 32]).verifying_key()).unwrap();
    let root = tsa_root();
    let run = |file: &Path, rk: &Path, lk: &str| {
        let a = ["receipt", "verify", s(file), "--receipt-key", s(rk)];
        let o = signet(
            &[&a[..], &["--log-key", lk, "--tsa-root", s(&root)]].concat(),
            None,
        );
        (o.status.code().unwrap(), out(&o))
    };
    let (code, text) = run(&good_path, &rpub, &vk);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("VALID: 5 checks passed"), "{text}");
    let cases: Vec<(&str, PathBuf, &Path, &str, &str)> = vec![
        (
            "payload changed",
            write("t.json", &tampered),
            &rpub,
            &vk,
            "FAIL     signature",
        ),
        (
            "proof of another entry",
            write("p.json", &other_proof),
            &rpub,
            &vk,
            "FAIL     inclusion",
        ),
        (
            "token of another checkpoint",
            write("k.json", &other_token),
            &rpub,
            &vk,
            "FAIL     timestamp",
        ),
        (
            "wrong receipt key",
            good_path.clone(),
            &wrong_pub,
            &vk,
            "FAIL     signature",
        ),
        (
            "wrong log key",
            good_path.clone(),
            &rpub,
            &other_vk,
            "FAIL     checkpoint",
        ),
    ];
    for (label, file, rk, lk, want) in cases {
        let (code, text) = run(&file, rk, lk);
        assert_eq!(code, 2, "{label}: {text}");
        assert!(text.contains(want), "{label}: {text}");
    }
    // Only the receipt key: the envelope checks, the rest is reported as skipped.
    let o = signet(
        &[
            "receipt",
            "verify",
            "--json",
            s(&good_path),
            "--receipt-key",
            s(&rpub),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let (v, _) = json::parse(o.stdout.trim_ascii_end()).unwrap();
    assert_eq!(field(&v, "valid"), &Value::Bool(true));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"status\":\"skipped\""));
    let o = signet(&["receipt", "verify", s(&good_path)], None);
    assert_eq!(o.status.code(), Some(64), "no receipt key");
}

#[test]
fn receipt_verify_header() {
    let fx = |n: &str| repo(&format!("tests/fixtures/signet-0.1/{n}"));
    let header = fx("receipt-header.txt");
    let pubkey = fx("receipt-ed25519.pub");
    let log = fx("audit-anchored.jsonl");
    let o = signet(
        &[
            "receipt",
            "verify",
            s(&header),
            "--receipt-key",
            s(&pubkey),
            "--log",
            s(&log),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let other_log = fx("audit.jsonl");
    let o = signet(
        &[
            "receipt",
            "verify",
            s(&header),
            "--receipt-key",
            s(&pubkey),
            "--log",
            s(&other_log),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let o = signet(&["receipt", "verify", s(&header), "--log", s(&log)], None);
    assert_eq!(o.status.code(), Some(64), "ed25519 needs --receipt-key");

    // An HMAC receipt over an entry given as a line file.
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let signer = ReceiptSigner::Hmac(HmacKey::from_hex("k1", SECRET).unwrap());
    let r = signer.sign_line(&f.lines[2]).unwrap();
    let h = dir.path().join("h.txt");
    std::fs::write(&h, format!("{}\r\n", r.to_header_line())).unwrap();
    let line = dir.path().join("line.jsonl");
    std::fs::write(&line, &f.lines[2]).unwrap();
    let args = ["receipt", "verify", s(&h), "--entry", s(&line)];
    assert_eq!(signet(&args, Some(SECRET)).status.code(), Some(0));
    assert_eq!(signet(&args, Some(&"00".repeat(32))).status.code(), Some(2));
    assert_eq!(signet(&args, None).status.code(), Some(64));
    std::fs::write(&line, &f.lines[3]).unwrap();
    assert_eq!(
        signet(&args, Some(SECRET)).status.code(),
        Some(2),
        "other entry"
    );
    let o = signet(&["receipt", "verify", s(&h)], Some(SECRET));
    assert_eq!(o.status.code(), Some(64), "no entry given");
    let o = signet(&["receipt", "verify", s(&dir.path().join("none"))], None);
    assert_eq!(o.status.code(), Some(66));
    std::fs::write(&h, "X-Signet-Receipt: signet=v2; alg=x").unwrap();
    assert_eq!(
        signet(&args, Some(SECRET)).status.code(),
        Some(2),
        "not a receipt"
    );
}
