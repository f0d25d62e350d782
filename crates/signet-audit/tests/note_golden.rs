//! `golden.json` reproduced byte for byte: verifier key, signed checkpoint over the 37
//! golden leaves, tlog-proof for index 5; and a tamper table over the golden note.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use signet_audit::json::{self, Value};
use signet_audit::merkle::{MemStore, inclusion_proof, leaf_hash, tree_hash};
use signet_audit::note::{
    Checkpoint, NoteError, format_tlog_proof, open_checkpoint, parse_tlog_proof, parse_vkey,
    sign_checkpoint, verify_note, vkey,
};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tlog/golden.json"
);
const ORIGIN: &str = "gateway.example/audit-log/v1";

fn golden() -> json::Map {
    let bytes = std::fs::read(GOLDEN).expect("golden.json");
    match json::parse(&bytes) {
        Ok((Value::Object(m), _)) => m,
        other => panic!("golden.json: {other:?}"),
    }
}

fn s<'a>(g: &'a json::Map, k: &str) -> &'a str {
    g[k].as_str()
        .unwrap_or_else(|| panic!("{k} is not a string"))
}

fn log_key() -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(b"tlog_ref deterministic test seed").into())
}

fn golden_store(g: &json::Map) -> (MemStore, Vec<Vec<u8>>) {
    let Value::Array(leaves) = &g["leaves_b64"] else {
        panic!("leaves_b64")
    };
    let leaves: Vec<Vec<u8>> = leaves
        .iter()
        .map(|l| STANDARD.decode(l.as_str().expect("str")).expect("b64"))
        .collect();
    let mut store = MemStore::new();
    for l in &leaves {
        store.append_leaf(leaf_hash(l)).expect("append");
    }
    (store, leaves)
}

#[test]
fn golden_vkey_note_and_tlog_proof_byte_for_byte() {
    let g = golden();
    let key = log_key();
    assert_eq!(
        vkey(ORIGIN, &key.verifying_key()).expect("vkey"),
        s(&g, "vkey")
    );
    // Go's private key text carries the same seed.
    let skey = s(&g, "skey_go").rsplit('+').next().expect("seed part");
    assert_eq!(STANDARD.decode(skey).expect("b64")[1..], key.to_bytes());

    let (store, leaves) = golden_store(&g);
    let cp = Checkpoint::new(ORIGIN, store.size(), tree_hash(37, &store).expect("root"));
    let note = sign_checkpoint(&cp, &key).expect("sign");
    assert_eq!(note, s(&g, "note"));

    let verifier = parse_vkey(s(&g, "vkey")).expect("parse vkey");
    assert_eq!(open_checkpoint(&note, &verifier).expect("open"), cp);
    // The witness cosignature is an unknown key to the log verifier: ignored.
    let cosigned = verify_note(s(&g, "note_with_cosig"), std::slice::from_ref(&verifier))
        .expect("cosigned note verifies with the log key alone");
    assert_eq!(cosigned.unknown.len(), 1);
    assert_eq!(cosigned.unknown[0].name, "witness.example/w1");

    let proof = inclusion_proof(5, 37, &store).expect("proof");
    let text = format_tlog_proof(5, &proof, s(&g, "note_with_cosig"));
    assert_eq!(text, s(&g, "tlog_proof_5"));
    let parsed = parse_tlog_proof(&text).expect("parse proof");
    assert_eq!(
        parsed
            .verify(&leaf_hash(&leaves[5]), &verifier)
            .expect("verify"),
        cp
    );
    assert!(parsed.verify(&leaf_hash(&leaves[6]), &verifier).is_err());

    // The C2SP example key parses; a cosignature (type 0x04) key is not a note key.
    assert_eq!(
        parse_vkey(s(&g, "c2sp_vkey")).expect("c2sp").key_id(),
        0x530d903a
    );
    assert!(parse_vkey(s(&g, "witness_vkey")).is_err());
}

#[test]
fn golden_note_tamper_table() {
    let g = golden();
    let note = s(&g, "note");
    let verifier = parse_vkey(s(&g, "vkey")).expect("vkey");
    let other = SigningKey::from_bytes(&[9; 32]);
    let resigned = {
        let cp = Checkpoint::parse(
            note.split("\n\n")
                .next()
                .map(|t| format!("{t}\n"))
                .as_deref()
                .unwrap_or(""),
        )
        .expect("cp");
        sign_checkpoint(&cp, &other).expect("sign")
    };
    let sig_b64 = note.rsplit(' ').next().expect("sig").trim_end();
    let mut flipped = STANDARD.decode(sig_b64).expect("b64");
    flipped[10] ^= 1;
    let cases: Vec<(&str, String)> = vec![
        ("size changed", note.replacen("\n37\n", "\n38\n", 1)),
        ("root byte flipped", note.replacen("qHrz", "qHr0", 1)),
        (
            "signature byte flipped",
            note.replace(sig_b64, &STANDARD.encode(&flipped)),
        ),
        (
            "signature line dropped",
            note.split("\n\n").next().unwrap_or("").to_owned() + "\n\n",
        ),
        ("re-signed with another key", resigned),
        (
            "signature duplicated",
            format!("{note}{}", note.lines().last().unwrap_or("")) + "\n",
        ),
        ("truncated", note[..note.len() - 5].to_owned()),
        (
            "extension smuggled in",
            note.replacen("=\n\n", "=\nextra\n\n", 1),
        ),
    ];
    for (label, bad) in cases {
        assert!(
            open_checkpoint(&bad, &verifier).is_err(),
            "{label} accepted"
        );
    }
    // Signed by the log key, but for another origin.
    let text = Checkpoint::new("other.example/log", 1, [0; 32])
        .to_text()
        .expect("text");
    let foreign = signet_audit::note::sign_note(&text, ORIGIN, &log_key()).expect("sign");
    assert!(matches!(
        open_checkpoint(&foreign, &verifier),
        Err(NoteError::OriginMismatch { .. })
    ));
}

/// A verifier key whose base64 holds '+' must parse (regression: it was split on
/// every '+').
#[test]
fn vkey_with_plus_in_base64_parses() {
    for seed in 0u8..=255 {
        let k = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
        let v = signet_audit::note::vkey("gw.test/log", &k).unwrap();
        let parsed = signet_audit::note::parse_vkey(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(parsed.key(), &k);
    }
}
