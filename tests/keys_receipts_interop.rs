//! Interop: key files written by `signet keys` and receipts signed with them are checked
//! by tools we did not write (OpenSSL and Python `cryptography`).
//!
//! These tools are required: when `openssl` or the test venv's Python with
//! `cryptography` (made by `scripts/test-tools.sh`) is missing, the tests fail rather
//! than skip.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod support;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output};

use signet_audit::keyfile;
use signet_audit::receipt::{Receipt, ReceiptSigner, Verifier, verify_line};
use signet_audit::{Decision, EntryDraft, HmacKey, LineView, seal};

fn signet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(args)
        .output()
        .expect("run the signet binary")
}

fn tool(program: &str, args: &[&str]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("{program} is required for the interop tests and could not be run: {e}"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

const PY_VERIFY: &str = r#"
import sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey, Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat, load_pem_private_key, load_pem_public_key)

pub_path, priv_path, payload_path, sig_hex = sys.argv[1:5]
pub = load_pem_public_key(open(pub_path, "rb").read())
assert isinstance(pub, Ed25519PublicKey), type(pub)
payload = open(payload_path, "rb").read()
sig = bytes.fromhex(sig_hex)
pub.verify(sig, payload)
try:
    pub.verify(sig, payload + b" ")
    sys.exit("a modified payload was accepted")
except InvalidSignature:
    pass
priv = load_pem_private_key(open(priv_path, "rb").read(), password=None)
assert isinstance(priv, Ed25519PrivateKey), type(priv)
raw = lambda k: k.public_bytes(Encoding.Raw, PublicFormat.Raw)
assert raw(priv.public_key()) == raw(pub), "private and public files do not match"
print("ok")
"#;

#[test]
fn ed25519_key_files_and_receipts_interoperate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("receipt.key");
    let pub_path = dir.path().join("receipt.key.pub");

    let o = signet(&[
        "keys",
        "generate-ed25519",
        "--out",
        s(&out),
        "--key-id",
        "rk-test",
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert_eq!(mode(&out), 0o600);
    assert_eq!(mode(&pub_path), 0o644);
    let private = fs::read_to_string(&out).expect("read private");
    let public = fs::read_to_string(&pub_path).expect("read public");
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("key id: rk-test"), "{stdout}");
    assert!(stdout.contains(&public), "public PEM printed: {stdout}");
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!stdout.contains(line), "private key material on stdout");
    }

    // Refuses to overwrite (73) and leaves the file alone; --force replaces it.
    let o = signet(&["keys", "generate-ed25519", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(73), "stderr: {}", text(&o.stderr));
    assert_eq!(fs::read_to_string(&out).expect("read"), private);
    let o = signet(&["keys", "generate-ed25519", "--out", s(&out), "--force"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let private = fs::read_to_string(&out).expect("read private");
    let public = fs::read_to_string(&pub_path).expect("read public");
    assert_eq!(mode(&out), 0o600);
    assert!(!text(&o.stdout).contains("PRIVATE KEY"));

    // Sign a receipt over a real sealed line with the generated key.
    let signing = keyfile::load_ed25519_private(&out).expect("load private");
    let verifying = keyfile::load_ed25519_public(&pub_path).expect("load public");
    let chain = HmacKey::generate("k1").expect("hmac key");
    let mut draft = EntryDraft::new("pipeline.complete", Decision::Allow, "forwarded \u{e9}");
    draft.approval_chain.push("human:alice@example.com".into());
    draft.owner_id = "alice@example.com".into();
    let sealed = seal(&draft, 0, "", &chain).expect("seal");
    let signer = ReceiptSigner::ed25519("rk-test", signing).expect("signer");
    let receipt = signer.sign_sealed(&draft.entry_id, &sealed).expect("sign");
    let parsed = Receipt::parse(&receipt.to_header_line()).expect("parse header");
    let verifier = Verifier::Ed25519 {
        key: &verifying,
        key_id: Some("rk-test"),
    };
    verify_line(&parsed, &sealed.line, &verifier).expect("our verifier accepts");

    let body = &sealed.line[..sealed.line.len() - 1];
    let payload = LineView::parse(body).expect("line").payload(body);
    assert_eq!(payload, sealed.payload());
    let payload_path = dir.path().join("payload");
    let sig_path = dir.path().join("sig");
    let bad_path = dir.path().join("payload.bad");
    fs::write(&payload_path, &payload).expect("write payload");
    fs::write(&sig_path, parsed.sig()).expect("write sig");
    let mut bad = payload.clone();
    bad[10] ^= 1;
    fs::write(&bad_path, &bad).expect("write bad payload");

    // (a) OpenSSL verifies the signature with the .pub file, and rejects a changed payload.
    let verify = |input: &Path| {
        tool(
            "openssl",
            &[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                s(&pub_path),
                "-rawin",
                "-in",
                s(input),
                "-sigfile",
                s(&sig_path),
            ],
        )
    };
    let o = verify(&payload_path);
    assert!(
        o.status.success(),
        "openssl verify: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = verify(&bad_path);
    assert!(!o.status.success(), "openssl accepted a modified payload");

    // (b) Python cryptography verifies it, rejects a modified payload, and reads the
    // private PKCS#8 file to the same public key.
    let sig_hex = signet_audit::util::to_hex(parsed.sig());
    let py = support::python();
    let o = tool(
        s(&py),
        &[
            "-c",
            PY_VERIFY,
            s(&pub_path),
            s(&out),
            s(&payload_path),
            &sig_hex,
        ],
    );
    assert!(
        o.status.success() && text(&o.stdout).trim() == "ok",
        "python cryptography check failed (run scripts/test-tools.sh): {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );

    // (c) OpenSSL parses the private PKCS#8 PEM and derives the same public PEM.
    let o = tool("openssl", &["pkey", "-in", s(&out), "-noout"]);
    assert!(o.status.success(), "openssl pkey: {}", text(&o.stderr));
    let o = tool("openssl", &["pkey", "-in", s(&out), "-pubout"]);
    assert!(
        o.status.success(),
        "openssl pkey -pubout: {}",
        text(&o.stderr)
    );
    assert_eq!(text(&o.stdout), public);
    assert!(!private.is_empty());
}

#[test]
fn ed25519_default_key_id_bad_args_and_symlink() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("k.pem");
    let o = signet(&["keys", "generate-ed25519", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let vk = keyfile::load_ed25519_public(&keyfile::public_path(&out)).expect("pub");
    let id = keyfile::default_key_id(&vk);
    assert!(
        text(&o.stdout).contains(&format!("key id: {id}\n")),
        "{}",
        text(&o.stdout)
    );

    let o = signet(&[
        "keys",
        "generate-ed25519",
        "--out",
        s(&dir.path().join("x")),
        "--key-id",
        "a b",
    ]);
    assert_eq!(o.status.code(), Some(64), "stderr: {}", text(&o.stderr));
    assert!(!dir.path().join("x").exists());
    let o = signet(&["keys", "generate-ed25519"]);
    assert_eq!(o.status.code(), Some(64));

    let target = dir.path().join("target");
    fs::write(&target, "precious").expect("write");
    let link = dir.path().join("link.pem");
    symlink(&target, &link).expect("symlink");
    for extra in [None, Some("--force")] {
        let mut args = vec!["keys", "generate-ed25519", "--out", s(&link)];
        args.extend(extra);
        let o = signet(&args);
        assert_eq!(
            o.status.code(),
            Some(73),
            "{extra:?} stderr: {}",
            text(&o.stderr)
        );
    }
    assert_eq!(fs::read_to_string(&target).expect("read"), "precious");

    let o = signet(&[
        "keys",
        "generate-ed25519",
        "--out",
        s(&dir.path().join("no/such/dir/k")),
    ]);
    assert_eq!(o.status.code(), Some(73), "stderr: {}", text(&o.stderr));
}

#[test]
fn hmac_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("hmac.hex");
    let o = signet(&["keys", "generate-hmac", "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert_eq!(mode(&out), 0o600);
    let secret = fs::read_to_string(&out).expect("read");
    let hex = secret.strip_suffix('\n').expect("newline");
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{hex}"
    );
    let stdout = text(&o.stdout);
    assert!(stdout.contains("key id: k1"), "{stdout}");
    assert!(!stdout.contains(hex) && !text(&o.stderr).contains(hex));
    assert!(!stdout.contains(&hex[..16]));
    HmacKey::from_file("k1", &out).expect("loads as an hmac key");

    let o = signet(&["keys", "generate-hmac", "--out", s(&out), "--key-id", "k2"]);
    assert_eq!(o.status.code(), Some(73));
    assert_eq!(fs::read_to_string(&out).expect("read"), secret);
    let o = signet(&[
        "keys",
        "generate-hmac",
        "--out",
        s(&out),
        "--key-id",
        "k2",
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains("key id: k2"));
    assert_ne!(fs::read_to_string(&out).expect("read"), secret);
    assert_eq!(mode(&out), 0o600);
    let names: Vec<_> = fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(names.len(), 1, "no temporary file left behind");
}
