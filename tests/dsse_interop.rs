//! Interop: our DSSE receipts are checked by Python `securesystemslib` (which we did not
//! write), and envelopes that `securesystemslib` signs are accepted by our verifier.
//!
//! The test venv (made by `scripts/test-tools.sh`, with `securesystemslib` and
//! `cryptography`) is required: when it or a module is missing the tests fail, not skip.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::path::Path;
use std::process::Command;

use ed25519_dalek::{SigningKey, VerifyingKey};
use signet_audit::dsse::{
    Envelope, PAYLOAD_TYPE_IN_TOTO, ReceiptStatement, make_receipt, open_receipt, pae,
    verify_envelope,
};
use signet_audit::util::{from_hex, to_hex};

const LINE: &str = r#"{"approval_chain":["human:alice@example.com"],"check_name":"pipeline.complete","decision":"allow","entry_id":"3f0c6a52-8d4e-4b7a-9c21-5e8f0a1b2c3d","hmac":"b9d8b2989c6e7262b24820c9e1d8547d48b8dae643e00d2460357c5f8d84828f","metadata":{"_anchor":{"backend":"none"},"_seq":0,"_signing_key_id":"k1","finish_reason":"stop","method":"POST","path":"/v1/chat/completions","response_fingerprint":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","status":200,"upstream_latency_us":48211},"owner_id":"alice@example.com","owner_type":"human","prev_hmac":"","reason":"request completed","request_fingerprint":"sha256:2b0e41b0b88bcdb6961aabe178a3a013e9636b5593e9e8a9ee7afd34e3c7dfff","ts_ns":1795294946570563090}"#;

/// Reads our envelope, verifies it with an SSlibKey, checks the statement independently,
/// prints the library's PAE in hex, and checks that tampering is refused.
const PY_VERIFY: &str = r#"
import copy, hashlib, json, sys
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

env_path, keyid, pub_hex = sys.argv[1:4]
data = json.load(open(env_path))
key = SSlibKey.from_dict(keyid, {"keytype": "ed25519", "scheme": "ed25519",
                                 "keyval": {"public": pub_hex}})
env = Envelope.from_dict(copy.deepcopy(data))
accepted = env.verify([key], 1)
assert list(accepted) == [keyid], accepted
assert env.payload_type == "application/vnd.in-toto+json", env.payload_type
st = json.loads(env.payload)
assert st["_type"] == "https://in-toto.io/Statement/v1", st["_type"]
assert st["predicateType"] == "https://signet-gateway.dev/receipt/v1"
[subject] = st["subject"]
entry = st["predicate"]["entry"].encode()
assert subject["digest"]["sha256"] == hashlib.sha256(entry).hexdigest()
assert subject["name"] == "signet-entry:" + json.loads(entry)["entry_id"]
for field, value in [("payload", env.payload + b" "), ("payload_type", "application/json")]:
    bad = Envelope.from_dict(copy.deepcopy(data))
    setattr(bad, field, value)
    try:
        bad.verify([key], 1)
        sys.exit("a tampered " + field + " was accepted")
    except VerificationError:
        pass
print(env.pae().hex())
"#;

/// Signs the payload in a file with a fresh Ed25519 key via `cryptography` and
/// securesystemslib's CryptoSigner; prints the envelope JSON and the raw public key.
const PY_SIGN: &str = r#"
import json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

payload_path, payload_type, keyid = sys.argv[1:4]
priv = Ed25519PrivateKey.generate()
signer = CryptoSigner(priv, SSlibKey.from_crypto(priv.public_key(), keyid=keyid))
env = Envelope(open(payload_path, "rb").read(), payload_type, {})
env.sign(signer)
print(json.dumps(env.to_dict()))
print(priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex())
"#;

fn python(script: &str, args: &[&str]) -> String {
    let py = support::python();
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", py.display()));
    assert!(
        out.status.success(),
        "python securesystemslib check failed (run scripts/test-tools.sh): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn statement() -> ReceiptStatement {
    ReceiptStatement {
        entry_line: LINE.to_owned(),
        origin: "gateway.example/log".to_owned(),
        checkpoint: Some("gateway.example/log\n1\nAAAA\n\n— gateway.example/log x\n".into()),
        tlog_proof: Some("c2sp.org/tlog-proof@v1\nindex 0\n".into()),
        rfc3161_token: Some(vec![0x30, 0x03, 0x02, 0x01, 0x00]),
        receipt_key_id: "receipt-1".to_owned(),
    }
}

#[test]
fn securesystemslib_verifies_our_receipts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    let env = make_receipt(&statement(), "receipt-1", &key).expect("make receipt");
    let path = dir.path().join("receipt.dsse.json");
    std::fs::write(&path, env.to_json()).expect("write envelope");
    let pub_hex = to_hex(key.verifying_key().as_bytes());

    let out = python(PY_VERIFY, &[s(&path), "receipt-1", &pub_hex]);
    let their_pae = from_hex(out.trim()).expect("pae hex");
    assert_eq!(their_pae, pae(PAYLOAD_TYPE_IN_TOTO, &env.payload));
}

#[test]
fn securesystemslib_refuses_our_receipt_under_another_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    let env = make_receipt(&statement(), "receipt-1", &key).expect("make receipt");
    let path = dir.path().join("receipt.dsse.json");
    std::fs::write(&path, env.to_json()).expect("write envelope");
    let other = to_hex(
        SigningKey::from_bytes(&[0xa5; 32])
            .verifying_key()
            .as_bytes(),
    );
    let out = Command::new(support::python())
        .arg("-c")
        .arg(PY_VERIFY)
        .args([s(&path), "receipt-1", &other])
        .output()
        .expect("run python");
    assert!(
        !out.status.success(),
        "a receipt verified under the wrong key"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("VerificationError"),
        "unexpected failure: {err}"
    );
}

#[test]
fn we_verify_envelopes_signed_by_securesystemslib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = statement().to_json_bytes().expect("statement");
    let path = dir.path().join("statement.json");
    std::fs::write(&path, &body).expect("write statement");

    let out = python(PY_SIGN, &[s(&path), PAYLOAD_TYPE_IN_TOTO, "py-key"]);
    let mut lines = out.lines();
    let env_json = lines.next().expect("envelope line");
    let pub_bytes: [u8; 32] = from_hex(lines.next().expect("key line"))
        .expect("key hex")
        .try_into()
        .expect("32-byte key");
    let vk = VerifyingKey::from_bytes(&pub_bytes).expect("public key");

    let env = Envelope::from_json(env_json.as_bytes()).expect("parse their envelope");
    assert_eq!(env.signatures.len(), 1);
    assert_eq!(env.signatures[0].keyid, "py-key");
    assert_eq!(verify_envelope(&env, &[("py-key", &vk)]).unwrap(), body);
    assert_eq!(verify_envelope(&env, &[("", &vk)]).unwrap(), body);
    // The statement inside opens as a receipt (the receipt key id is ours, so the key
    // is listed without an id).
    assert_eq!(open_receipt(&env, &[("", &vk)]).unwrap(), statement());

    let wrong = SigningKey::from_bytes(&[0x11; 32]).verifying_key();
    assert!(verify_envelope(&env, &[("py-key", &wrong)]).is_err());
    assert!(verify_envelope(&env, &[("not-py-key", &vk)]).is_err());
    let mut tampered = env.clone();
    tampered.payload.push(b'\n');
    assert!(verify_envelope(&tampered, &[("py-key", &vk)]).is_err());
}
