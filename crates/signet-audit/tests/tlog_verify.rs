//! Public-key verification of checkpoints and anchors (`tlog_verify`): one valid log
//! with signed checkpoints and real RFC 3161 anchors from an OpenSSL TSA, and tables of
//! labelled corruptions, each expected to fail with a given kind at a given place.
//! The TSA tests need openssl: they fail, not skip, without it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod tsp_support;

use std::io::BufReader;

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use signet_audit::checkpoint_file::{encode_record, read_all};
use signet_audit::key::{HmacKey, KeyRing};
use signet_audit::merkle::{CompactRange, Hash, leaf_hash};
use signet_audit::note::{Checkpoint, Verifier, sign_checkpoint};
use signet_audit::tlog_verify::{
    AnchorInput, AnchorRecord, TlogReport, verify_entry_anchors, verify_tlog,
};
use signet_audit::tsp::{TrustRoots, request};
use signet_audit::{Decision, EntryDraft, seal};
use tsp_support::{repo, tsa};

const ORIGIN: &str = "tlog.example/signet-audit";
const SIZES: [u64; 3] = [4, 8, 10];

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&[21; 32])
}

fn verifier() -> Verifier {
    Verifier::new(ORIGIN, log_key().verifying_key()).unwrap()
}

fn hmac() -> HmacKey {
    HmacKey::from_hex("k1", &"3c".repeat(32)).unwrap()
}

fn draft(i: u64, reason: &str) -> EntryDraft {
    let mut d = EntryDraft::new("pipeline.complete", Decision::Allow, reason);
    d.entry_id = format!("00000000-0000-4000-8000-{i:012}");
    d.ts_ns = 1_000 + i;
    d
}

/// A chain of entries sealed with the HMAC key; `reason(i)` picks each entry's reason.
fn chain(reasons: &[String]) -> Vec<Vec<u8>> {
    let mut prev = String::new();
    let mut out = Vec::new();
    for (i, r) in reasons.iter().enumerate() {
        let s = seal(&draft(i as u64, r), i as u64, &prev, &hmac()).unwrap();
        prev = s.hmac.to_hex();
        out.push(s.line);
    }
    out
}

fn reasons(n: u64) -> Vec<String> {
    (0..n).map(|i| format!("entry {i}")).collect()
}

fn root(lines: &[Vec<u8>], size: u64) -> Hash {
    let mut r = CompactRange::new();
    let mut scratch = Vec::new();
    for l in &lines[..size as usize] {
        r.append(leaf_hash(&l[..l.len() - 1]), &mut scratch);
    }
    r.root()
}

fn note(size: u64, root: Hash) -> String {
    sign_checkpoint(&Checkpoint::new(ORIGIN, size, root), &log_key()).unwrap()
}

fn notes_for(lines: &[Vec<u8>]) -> Vec<String> {
    SIZES.iter().map(|&s| note(s, root(lines, s))).collect()
}

fn anchor(note: &str, tsa_kind: &'static str) -> AnchorRecord {
    let digest: [u8; 32] = Sha256::digest(note.as_bytes()).into();
    let (req, _nonce) = request(&digest);
    let text = &note[..note.find("\n\n").unwrap() + 1];
    let size = Checkpoint::parse(text).unwrap().size;
    AnchorRecord {
        checkpoint_size: size,
        note_sha256: digest,
        token: tsa(tsa_kind).reply(&req, "tsa.crt", None, None),
        ts_ns: 1_800_000_000_000_000_000,
        tsa_url: "http://127.0.0.1:9/tsa".into(),
    }
}

fn roots() -> TrustRoots {
    tsa("ec").roots("ca.crt")
}

fn run(log: &[u8], notes: &[String], anchors: Option<&[u8]>) -> TlogReport {
    let roots = roots();
    let mut records = anchors.map(BufReader::new);
    let input = records.as_mut().map(|r| AnchorInput {
        records: r,
        roots: &roots,
    });
    verify_tlog(log, notes, &verifier(), input).unwrap()
}

type Found = Vec<(&'static str, Option<u64>, Option<u64>)>;

fn found(rep: &TlogReport) -> Found {
    rep.breaks
        .iter()
        .map(|b| (b.kind.as_str(), b.checkpoint, b.anchor_line))
        .collect()
}

#[test]
fn intact_log_verifies_with_public_keys_and_any_read_size() {
    let lines = chain(&reasons(10));
    let log = lines.concat();
    let notes = notes_for(&lines);
    // Through the checkpoint file, as the CLI reads it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl.checkpoints");
    let framed: Vec<u8> = notes.iter().flat_map(|n| encode_record(n)).collect();
    std::fs::write(&path, framed).unwrap();
    let stored = read_all(&path).unwrap();
    assert_eq!(stored, notes);
    for cap in [1, 7, 64, 1 << 16] {
        let rep = verify_tlog(
            BufReader::with_capacity(cap, &log[..]),
            &stored,
            &verifier(),
            None,
        )
        .unwrap();
        assert!(rep.is_intact(), "{:?}", rep.breaks);
        assert_eq!(rep.log_root, root(&lines, 10), "read size {cap}");
        assert_eq!(
            (rep.log_size, rep.valid_checkpoints, rep.covered_size),
            (10, 3, Some(10))
        );
    }
    // Entries after the latest checkpoint are reported as not covered.
    let rep = run(&log, &notes[..2], None);
    assert!(rep.is_intact());
    assert_eq!((rep.covered_size, rep.uncovered_entries()), (Some(8), 2));
}

#[test]
fn checkpoint_tampering_is_caught() {
    let lines = chain(&reasons(10));
    let notes = notes_for(&lines);
    let other_key = SigningKey::from_bytes(&[22; 32]);
    // The whole chain re-MACed with the secret after entry 5 was rewritten.
    let mut rewritten = reasons(10);
    rewritten[5] = "entry 5, rewritten".into();
    let rewritten = chain(&rewritten);
    let mut ring = KeyRing::new();
    ring.add(hmac()).unwrap();
    let chain_rep = signet_audit::verify::verify(&rewritten.concat()[..], &ring).unwrap();
    assert!(chain_rep.is_intact(), "the HMAC chain alone passes");
    // Cut to 7 entries, then grown again with forged ones, re-MACed.
    let mut regrown = reasons(7);
    regrown.extend((7..10).map(|i| format!("forged {i}")));
    let regrown = chain(&regrown);
    let forked_root = root(&chain(&reasons(6).into_iter().rev().collect::<Vec<_>>()), 6);
    let with = |extra: String| [notes.clone(), vec![extra]].concat();
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    let mut dropped = lines.clone();
    dropped.remove(5);
    let tampered_text = notes[1].replacen("\n8\n", "\n9\n", 1);
    let cases: Vec<(&str, Vec<u8>, Vec<String>, Found)> = vec![
        (
            "truncated after the last checkpoint",
            lines[..9].concat(),
            notes.clone(),
            vec![("truncated", Some(3), None)],
        ),
        (
            "truncated across two checkpoints",
            lines[..5].concat(),
            notes.clone(),
            vec![("truncated", Some(3), None)],
        ),
        (
            "rewritten and re-MACed",
            rewritten.concat(),
            notes.clone(),
            vec![("fork", Some(2), None), ("fork", Some(3), None)],
        ),
        (
            "cut and regrown",
            regrown.concat(),
            notes.clone(),
            vec![("fork", Some(2), None), ("fork", Some(3), None)],
        ),
        (
            "line dropped",
            dropped.concat(),
            notes.clone(),
            vec![("fork", Some(2), None), ("truncated", Some(3), None)],
        ),
        (
            "lines swapped",
            swapped.concat(),
            notes.clone(),
            vec![
                ("fork", Some(1), None),
                ("fork", Some(2), None),
                ("fork", Some(3), None),
            ],
        ),
        (
            "forked checkpoint signed by the log key",
            lines.concat(),
            vec![
                notes[0].clone(),
                note(6, forked_root),
                notes[1].clone(),
                notes[2].clone(),
            ],
            vec![("fork", Some(2), None)],
        ),
        (
            "forked checkpoint signed later, at an older size",
            lines.concat(),
            with(note(6, forked_root)),
            vec![("fork", Some(4), None), ("fork", Some(4), None)],
        ),
        (
            "checkpoint signed by another key",
            lines.concat(),
            with(
                sign_checkpoint(&Checkpoint::new(ORIGIN, 10, root(&lines, 10)), &other_key)
                    .unwrap(),
            ),
            vec![("checkpoint_signature", Some(4), None)],
        ),
        (
            "checkpoint of another origin",
            lines.concat(),
            with(
                sign_checkpoint(
                    &Checkpoint::new("other.example/log", 10, root(&lines, 10)),
                    &log_key(),
                )
                .unwrap(),
            ),
            vec![("checkpoint_signature", Some(4), None)],
        ),
        (
            "checkpoint text edited",
            lines.concat(),
            vec![notes[0].clone(), tampered_text, notes[2].clone()],
            vec![("checkpoint_signature", Some(2), None)],
        ),
        (
            "checkpoints reordered",
            lines.concat(),
            vec![notes[1].clone(), notes[0].clone(), notes[2].clone()],
            vec![("fork", Some(2), None)],
        ),
        (
            "two heads beyond the end",
            lines[..9].concat(),
            with(note(10, [7; 32])),
            vec![("truncated", Some(4), None), ("fork", Some(4), None)],
        ),
    ];
    for (label, log, notes, want) in cases {
        let rep = run(&log, &notes, None);
        assert_eq!(found(&rep), want, "{label}: {:?}", rep.breaks);
    }
}

#[test]
fn anchor_tampering_is_caught() {
    let lines = chain(&reasons(10));
    let log = lines.concat();
    let notes = notes_for(&lines);
    let records: Vec<AnchorRecord> = notes.iter().map(|n| anchor(n, "ec")).collect();
    let file = |rs: &[AnchorRecord]| rs.iter().flat_map(|r| r.to_line()).collect::<Vec<u8>>();

    let rep = run(&log, &notes, Some(&file(&records)));
    assert!(rep.is_intact(), "{:?}", rep.breaks);
    let a = rep.anchors.as_ref().unwrap();
    assert_eq!((a.records, a.valid, a.anchored_checkpoints), (3, 3, 3));
    let latest = a.latest.as_ref().unwrap();
    assert_eq!((latest.checkpoint, latest.size), (3, 10));
    assert!(latest.tsa_subject.contains("Local Test TSA"), "{latest:?}");

    let mut swapped = records.clone();
    let t0 = swapped[0].token.clone();
    swapped[0].token = std::mem::replace(&mut swapped[1].token, t0);
    let mut unknown = records.clone();
    unknown[1].note_sha256[0] ^= 1;
    let mut wrong_size = records.clone();
    wrong_size[2].checkpoint_size = 9;
    let mut foreign_tsa = records.clone();
    foreign_tsa[0] = anchor(&notes[0], "rsa");
    let mut torn = file(&records);
    torn.pop();
    let mut retried = records.clone();
    retried.insert(1, records[1].clone());
    let cases: Vec<(&str, Vec<u8>, Found)> = vec![
        (
            "tokens swapped between checkpoints",
            file(&swapped),
            vec![
                ("anchor_invalid", Some(1), Some(1)),
                ("anchor_invalid", Some(2), Some(2)),
            ],
        ),
        (
            // A middle record dropped: the later anchor still vouches for it.
            "middle record dropped",
            file(&[records[0].clone(), records[2].clone()]),
            vec![],
        ),
        (
            // The newest checkpoint not anchored yet is not a break.
            "newest record not written yet",
            file(&records[..2]),
            vec![],
        ),
        (
            "no anchors at all",
            Vec::new(),
            vec![
                ("anchor_missing", Some(1), None),
                ("anchor_missing", Some(2), None),
            ],
        ),
        (
            "anchoring stopped after the first checkpoint",
            file(&records[..1]),
            vec![("anchor_missing", Some(2), None)],
        ),
        (
            // Checkpoint 2 loses its own anchor but checkpoint 3's anchor vouches for it.
            "record names an unknown note",
            file(&unknown),
            vec![("anchor_invalid", None, Some(2))],
        ),
        (
            "record gives another size",
            file(&wrong_size),
            vec![("anchor_invalid", Some(3), Some(3))],
        ),
        (
            "token from a TSA outside the roots",
            file(&foreign_tsa),
            vec![("anchor_invalid", Some(1), Some(1))],
        ),
        (
            "garbage line",
            [file(&records), b"{\"checkpoint_size\":1}\n".to_vec()].concat(),
            vec![("anchor_invalid", None, Some(4))],
        ),
        (
            // The newest checkpoint's record is torn: invalid, and that checkpoint is
            // simply not anchored yet.
            "incomplete last line",
            torn,
            vec![("anchor_invalid", None, Some(3))],
        ),
        ("a retried anchor is fine", file(&retried), vec![]),
    ];
    for (label, anchors, want) in cases {
        let rep = run(&log, &notes, Some(&anchors));
        assert_eq!(found(&rep), want, "{label}: {:?}", rep.breaks);
    }
    let rep = run(&log, &notes, Some(&file(&swapped)));
    assert!(
        rep.breaks[0].detail.contains("imprint"),
        "{}",
        rep.breaks[0].detail
    );
}

#[test]
fn signet_per_entry_anchors_are_checked() {
    let fixture = |name: &str| repo(&format!("tests/fixtures/signet-0.1/{name}"));
    let mut ring = KeyRing::new();
    ring.add(HmacKey::from_file("k1", &fixture("hmac-secret.hex")).unwrap())
        .unwrap();
    let roots = TrustRoots::from_pem(&std::fs::read(fixture("tsa-ca.crt")).unwrap()).unwrap();
    let log = std::fs::read(fixture("audit-anchored.jsonl")).unwrap();
    let rep = verify_entry_anchors(&log[..], &ring, &roots).unwrap();
    assert_eq!((rep.checked, rep.valid), (4, 1));
    let got: Vec<(&str, Option<u64>)> = rep
        .breaks
        .iter()
        .map(|b| (b.kind.as_str(), b.line))
        .collect();
    assert_eq!(
        got,
        [
            ("anchor_invalid", Some(2)),
            ("anchor_missing", Some(3)),
            ("anchor_invalid", Some(4)),
        ]
    );
    // Entries without an rfc3161 anchor are not asked for one.
    let plain = std::fs::read(fixture("audit.jsonl")).unwrap();
    let rep = verify_entry_anchors(&plain[..], &ring, &roots).unwrap();
    assert_eq!((rep.checked, rep.break_count), (0, 0));
}
