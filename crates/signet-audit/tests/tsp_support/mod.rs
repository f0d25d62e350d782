//! Shared helpers for the RFC 3161 integration tests: a real OpenSSL TSA per key type
//! (built by `tests/support/local-tsa.sh`, signing with `tests/support/tsa-sign.sh`),
//! `openssl ts -verify`, and DER surgery on responses. Panics when openssl is missing:
//! these tests fail, they do not skip.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, dead_code)] // test helpers

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use der::asn1::AnyRef;
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber};
use signet_audit::tsp::TrustRoots;
use signet_audit::tsp::crypto::Hash;
use signet_audit::util::to_hex;

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A TSA built by local-tsa.sh, once per key type per test process.
pub struct Tsa {
    pub dir: PathBuf,
}

pub fn tsa(kind: &'static str) -> &'static Tsa {
    static RSA: OnceLock<Tsa> = OnceLock::new();
    static EC: OnceLock<Tsa> = OnceLock::new();
    let cell = if kind == "rsa" { &RSA } else { &EC };
    cell.get_or_init(|| {
        let version = Command::new("openssl").arg("version").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "openssl is required by the RFC 3161 tests (they do not skip)"
        );
        // One directory per test process and key type (nextest runs each test in its own
        // process, in parallel), rebuilt on every run (test keys only).
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{}-{kind}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        run(Command::new("bash")
            .arg(repo("tests/support/local-tsa.sh"))
            .arg("init")
            .arg(&dir)
            .env("TSA_KEY", kind));
        Tsa { dir }
    })
}

impl Tsa {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn roots(&self, name: &str) -> TrustRoots {
        TrustRoots::from_pem(&std::fs::read(self.path(name)).expect("pem")).expect("roots")
    }

    /// `openssl ts -reply` for `req`, signed under `signer`, embedding `chain`.
    pub fn reply(
        &self,
        req: &[u8],
        signer: &str,
        chain: Option<&str>,
        section: Option<&str>,
    ) -> Vec<u8> {
        let tmp = tempfile::tempdir().expect("tmp");
        let (q, r) = (tmp.path().join("q.tsq"), tmp.path().join("r.tsr"));
        std::fs::write(&q, req).expect("write request");
        let mut cmd = Command::new("bash");
        cmd.arg(repo("tests/support/tsa-sign.sh"))
            .arg("reply")
            .arg(&self.dir)
            .arg(&q)
            .arg(&r)
            .arg(self.path(signer));
        if let Some(c) = chain {
            cmd.arg(self.path(c));
        }
        if let Some(s) = section {
            cmd.env("TSA_SECTION", s);
        }
        run(&mut cmd);
        std::fs::read(r).expect("response")
    }

    /// A bare token: CMS over `tst_info`, signed under `signer` (no checks by openssl).
    pub fn cms(&self, tst_info: &[u8], signer: &str, pss: bool) -> Vec<u8> {
        let tmp = tempfile::tempdir().expect("tmp");
        let (i, o) = (tmp.path().join("tst.der"), tmp.path().join("t.tst"));
        std::fs::write(&i, tst_info).expect("write");
        let mut cmd = Command::new("bash");
        cmd.arg(repo("tests/support/tsa-sign.sh"))
            .arg("cms")
            .arg(&self.dir)
            .arg(&i)
            .arg(&o)
            .arg(self.path(signer));
        run(cmd.env("CMS_PSS", if pss { "1" } else { "0" }));
        std::fs::read(o).expect("token")
    }

    /// `openssl ts -verify` of a response (or `-token_in` token) for `digest`.
    pub fn openssl_accepts(
        &self,
        der: &[u8],
        digest: &[u8],
        token_in: bool,
        untrusted: &str,
    ) -> bool {
        let tmp = tempfile::tempdir().expect("tmp");
        let f = tmp.path().join("r.der");
        std::fs::write(&f, der).expect("write");
        let mut cmd = Command::new("openssl");
        cmd.args(["ts", "-verify", "-digest", &to_hex(digest), "-in"])
            .arg(&f);
        cmd.arg("-CAfile")
            .arg(self.path("ca.crt"))
            .arg("-untrusted")
            .arg(self.path(untrusted));
        if token_in {
            cmd.arg("-token_in");
        }
        cmd.output().expect("openssl").status.success()
    }
}

pub fn digest_of(data: &[u8]) -> [u8; 32] {
    Hash::Sha256.digest(data).try_into().expect("32 bytes")
}

pub fn offset_in(base: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - base.as_ptr() as usize
}

pub fn flip(der: &[u8], at: usize) -> Vec<u8> {
    let mut d = der.to_vec();
    d[at] ^= 0x01;
    d
}

fn tlv(tag: Tag, content: &[u8]) -> Vec<u8> {
    AnyRef::new(tag, content)
        .and_then(|a| a.to_der())
        .expect("tlv")
}

fn ctx0() -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    }
}

/// The response with its token's certificates replaced (`None`: field dropped).
pub fn with_certs(resp: &[u8], certs: Option<&[&[u8]]>) -> Vec<u8> {
    let inner = |b| SliceReader::new(AnyRef::from_der(b).expect("tlv").value()).expect("reader");
    let mut outer = inner(resp);
    let status = outer.tlv_bytes().expect("status");
    let mut ci = inner(outer.tlv_bytes().expect("token"));
    let ct = ci.tlv_bytes().expect("oid");
    let mut wrap = inner(ci.tlv_bytes().expect("[0]"));
    let mut r = inner(wrap.tlv_bytes().expect("sd"));
    let mut parts = Vec::new();
    while !r.is_finished() {
        let t = r.tlv_bytes().expect("field");
        if t[0] == 0xa0 {
            if let Some(c) = certs {
                parts.push(tlv(ctx0(), &c.concat()));
            }
        } else {
            parts.push(t.to_vec());
        }
    }
    let sd = tlv(Tag::Sequence, &parts.concat());
    let ci = tlv(Tag::Sequence, &[ct, &tlv(ctx0(), &sd)].concat());
    tlv(Tag::Sequence, &[status, &ci].concat())
}

pub fn der_cert(t: &Tsa, name: &str) -> Vec<u8> {
    let pem = std::fs::read(t.path(name)).expect("cert");
    signet_audit::tsp::pem::certificates(&pem)
        .expect("pem")
        .remove(0)
}
