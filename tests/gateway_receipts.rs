//! The gateway's Ed25519 receipts: one signature per group-commit batch
//! (`ed25519-batch`), each receipt carrying its entry's inclusion path. Under
//! concurrent load every response's receipt verifies offline with the public key
//! alone (library, `signet receipt verify`, and an independent Python verifier written
//! from `docs/audit-format.md` with `cryptography`), entries of one batch share one
//! signature, and a receipt never verifies for another entry or with a changed field.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use signet_audit::keyfile;
use signet_audit::receipt::{Alg, Receipt, ReceiptError, Verifier, verify_line};
use signet_audit::{LineView, line};
use support::gateway::{self as gwt, ALICE, Reply};

const OK_BODY: &str = r#"{"choices":[{"message":{"content":"fine"},"finish_reason":"stop"}]}"#;

/// Verifies an `ed25519-batch` receipt as `docs/audit-format.md` describes it, with
/// nothing from this project: argv = public key PEM, receipt header value, line file.
const PY_BATCH_VERIFY: &str = r#"
import hashlib, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key

pub = load_pem_public_key(open(sys.argv[1], "rb").read())
params = dict(p.strip().split("=", 1) for p in sys.argv[2].split(";"))
line = open(sys.argv[3], "rb").read().rstrip(b"\n")
entry = json.loads(line)
assert params["signet"] == "v1" and params["alg"] == "ed25519-batch", params
assert params["entry"] == entry["entry_id"], "entry id"
seq, size, index = int(params["seq"]), int(params["size"]), int(params["index"])
assert entry["metadata"]["_seq"] == seq + index, "position"
p = params["path"]
path = [] if p == "-" else [bytes.fromhex(p[i:i + 64]) for i in range(0, len(p), 64)]
node = lambda l, r: hashlib.sha256(b"\x01" + l + r).digest()
# RFC 9162 2.1.3.2: the root from a leaf, its index and the audit path.
fn, sn, r = index, size - 1, hashlib.sha256(b"\x00" + line).digest()
for h in path:
    assert sn != 0, "path too long"
    if fn % 2 == 1 or fn == sn:
        r = node(h, r)
        while fn % 2 == 0 and fn != 0:
            fn >>= 1
            sn >>= 1
    else:
        r = node(r, h)
    fn >>= 1
    sn >>= 1
assert sn == 0, "path too short"
msg = ("signet-receipt-batch/v1\nkey=%s\nseq=%d\nsize=%d\nroot=%s\n"
       % (params["key"], seq, size, r.hex())).encode()
pub.verify(bytes.fromhex(params["sig"]), msg)
print("ok")
"#;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_responses_get_batch_receipts_that_verify_offline() {
    let keys = tempfile::tempdir().unwrap();
    let key_path = keys.path().join("receipt.pem");
    keyfile::generate_ed25519_files(&key_path, None, false).unwrap();
    let pub_path = keyfile::public_path(&key_path);
    let public = keyfile::load_ed25519_public(&pub_path).unwrap();
    let key_id = keyfile::default_key_id(&public);

    // Each round's answers wait at that round's gate until all 32 requests are at the
    // upstream, then go together: their entries reach the journal at once.
    let gate = std::sync::Arc::new(std::sync::Mutex::new(gwt::Gate::new()));
    let current = gate.clone();
    let up = gwt::upstream(move |_| Reply::json(OK_BODY).held(&current.lock().unwrap())).await;
    let g = gwt::start(
        &up.url(),
        &[("SIGNET_RECEIPT_KEY", key_path.to_str().unwrap())],
        None,
    );
    let url = g.url("/v1/chat/completions");
    // Enough concurrent requests that several share a group commit.
    let mut receipts: BTreeMap<String, Receipt> = BTreeMap::new();
    for _round in 0..4 {
        let round_gate = gwt::Gate::new();
        *gate.lock().unwrap() = round_gate.clone();
        let sends: Vec<_> = (0..32)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { gwt::send("POST", &url, &[ALICE], b"{}").await })
            })
            .collect();
        round_gate.wait_arrived(32).await;
        round_gate.open();
        for t in sends {
            let r = t.await.unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
            let h = r.header("x-signet-receipt").expect("receipt header");
            let rc = Receipt::parse(&h).expect("receipt parses");
            assert_eq!(rc.alg(), Alg::Ed25519Batch, "{h}");
            assert_eq!(rc.key_id(), key_id);
            let id = r.header("x-signet-correlation-id").expect("correlation id");
            assert_eq!(rc.entry_id(), id);
            receipts.insert(id, rc);
        }
    }
    let lines = g.lines();
    assert_eq!(lines.len(), 128);
    let by_id: BTreeMap<String, &String> = lines
        .iter()
        .map(|l| (LineView::parse(l.as_bytes()).unwrap().entry_id, l))
        .collect();
    let verifier = Verifier::Ed25519 {
        key: &public,
        key_id: Some(&key_id),
    };
    let mut sigs_by_batch: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
    for (id, rc) in &receipts {
        let line = by_id[id];
        verify_line(rc, line.as_bytes(), &verifier).expect("receipt verifies");
        let b = rc.batch().expect("batch part");
        sigs_by_batch
            .entry((b.seq, b.size))
            .or_default()
            .push(rc.sig().to_vec());
    }
    // Batches tile the log: consecutive, one signature each.
    let mut next = 0;
    for ((seq, size), sigs) in &sigs_by_batch {
        assert_eq!(*seq, next, "batches follow each other: {sigs_by_batch:?}");
        assert_eq!(
            sigs.len() as u64,
            *size,
            "every entry of the batch answered"
        );
        assert!(
            sigs.windows(2).all(|w| w[0] == w[1]),
            "one signature per batch"
        );
        next = seq + size;
    }
    assert_eq!(next, 128);
    // Group commit happened: some batch carried more than one entry (and so its
    // receipts carry inclusion paths).
    let largest = sigs_by_batch.keys().map(|(_, size)| *size).max().unwrap();
    assert!(
        largest > 1,
        "every batch held one entry: {:?}",
        sigs_by_batch.keys()
    );

    // Pick a receipt from the largest batch for the offline tools and the tampering.
    let (&(seq, _), _) = sigs_by_batch
        .iter()
        .max_by_key(|((_, size), _)| *size)
        .unwrap();
    let (id, rc) = receipts
        .iter()
        .find(|(_, r)| r.batch().unwrap().seq == seq)
        .unwrap();
    let line = by_id[id.as_str()].clone();
    let dir = tempfile::tempdir().unwrap();
    let receipt_file = dir.path().join("receipt.txt");
    let line_file = dir.path().join("line.jsonl");
    std::fs::write(&receipt_file, rc.to_header_line()).unwrap();
    std::fs::write(&line_file, format!("{line}\n")).unwrap();

    // `signet receipt verify`, with the entry from a file and found in the log.
    let cli = |receipt: &Path, entry: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
        c.args([
            "receipt",
            "verify",
            s(receipt),
            "--receipt-key",
            s(&pub_path),
        ]);
        c.args(entry);
        c.output().expect("run signet receipt verify")
    };
    for entry in [["--entry", s(&line_file)], ["--log", s(gwt::log_path(&g))]] {
        let o = cli(&receipt_file, &entry);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(
            out.contains("VALID") && out.contains("ed25519-batch"),
            "{out}"
        );
    }

    // An independent verifier (Python, from the format description) agrees.
    let value = rc.to_header_value();
    let py = support::python();
    let o = Command::new(&py)
        .args(["-c", PY_BATCH_VERIFY, s(&pub_path), &value, s(&line_file)])
        .output()
        .expect("python is required (scripts/test-tools.sh)");
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok",
        "python batch verify: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // Every field changed, and another entry's line: rejected, by the CLI too.
    let b = rc.batch().unwrap();
    let other_id = receipts.keys().find(|k| *k != id).unwrap();
    let flip_hex = |h: &str| {
        let c = if h.starts_with('0') { "1" } else { "0" };
        format!("{c}{}", &h[1..])
    };
    let sig_hex = signet_audit::util::to_hex(rc.sig());
    let mut tampered: Vec<(&str, String)> = vec![
        ("entry", value.replace(id.as_str(), other_id)),
        (
            "key",
            value.replace(&format!("key={key_id}"), "key=ed25519-0000000000000000"),
        ),
        (
            "seq",
            value.replace(&format!("seq={}", b.seq), &format!("seq={}", b.seq + 1)),
        ),
        (
            "size",
            value.replace(&format!("size={}", b.size), &format!("size={}", b.size + 1)),
        ),
        ("sig", value.replace(&sig_hex, &flip_hex(&sig_hex))),
    ];
    // The receipt comes from a batch of more than one: its index and path matter.
    assert!(b.size > 1, "{value}");
    let other_index = (b.index + 1) % b.size;
    tampered.push((
        "index",
        value.replace(
            &format!("index={}", b.index),
            &format!("index={other_index}"),
        ),
    ));
    let path: String = b
        .path
        .iter()
        .map(|h| signet_audit::util::to_hex(h))
        .collect();
    tampered.push(("path", value.replace(&path, &flip_hex(&path))));
    for (field, v) in &tampered {
        assert_ne!(v, &value, "{field} was changed");
        if let Ok(t) = Receipt::parse(v) {
            let named = Verifier::Ed25519 {
                key: &public,
                key_id: None,
            };
            assert!(
                verify_line(&t, line.as_bytes(), &named).is_err(),
                "changed {field} still verifies"
            );
        }
        let f = dir.path().join(format!("tampered-{field}.txt"));
        std::fs::write(&f, v).unwrap();
        let o = cli(&f, &["--entry", s(&line_file)]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "changed {field}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // The receipt against another entry's line.
    let other_line = by_id[other_id.as_str()];
    assert_eq!(
        verify_line(rc, other_line.as_bytes(), &verifier),
        Err(ReceiptError::EntryMismatch)
    );
    // A changed line (another owner) with the receipt's entry id.
    let forged = line.replace("alice@example.com", "mallory@example.com");
    assert!(line::LineView::parse(forged.as_bytes()).is_ok());
    assert_eq!(
        verify_line(rc, forged.as_bytes(), &verifier),
        Err(ReceiptError::BadSignature)
    );
}
