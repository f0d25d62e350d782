//! Receipt headers, compatible with signet 0.1:
//! `X-Signet-Receipt: signet=v1; alg=<hmac-sha256|ed25519>; entry=<entry_id>; key=<key id>; sig=<hex>`.
//!
//! Guarantees:
//! - A receipt signs the **MAC payload** of its entry: the exact line bytes without `\n`
//!   and without the top-level `"hmac":"…"` member ([`LineView::payload_parts`]). So an
//!   `hmac-sha256` receipt made with the chain key equals the line's `hmac`.
//! - [`Receipt::parse`] is strict and never panics: exactly the five parameters `signet`,
//!   `alg`, `entry`, `key`, `sig` (any order, each once), version `v1`, a known algorithm,
//!   lowercase hex of the algorithm's exact length (32 bytes HMAC, 64 bytes Ed25519).
//!   Only optional spaces or tabs after a `;` and surrounding whitespace are tolerated. A
//!   full header line (`X-Signet-Receipt: …`, name in any case) is accepted too.
//! - [`Receipt`] formats back to signet's exact form (`; ` separators, lowercase hex), so
//!   parse then format is the identity on signet's output.
//! - Verification checks the receipt's entry id against the line's `entry_id`, compares
//!   HMAC tags in constant time and checks Ed25519 with `verify_strict` (no malleable or
//!   small-order signatures).
//! - No error message carries key material, a signature or a tag.
//!
//! Assumes: entry ids and key ids use `[A-Za-z0-9._-]` (UUIDs and signet key ids do).

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use subtle::ConstantTimeEq;

use crate::entry::SealedLine;
use crate::key::{HmacKey, KeyRing, valid_key_id};
use crate::line::{LineError, LineView};
use crate::util::{from_hex, to_hex};

/// Default name of the receipt header.
pub const HEADER_NAME: &str = "X-Signet-Receipt";
/// The only receipt version.
pub const VERSION: &str = "v1";
/// Longest header (or header line) the parser looks at.
pub const MAX_HEADER_LEN: usize = 1024;
const MAX_ENTRY_ID_LEN: usize = 128;

/// Receipt signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    HmacSha256,
    Ed25519,
}

impl Alg {
    /// The name used in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::HmacSha256 => "hmac-sha256",
            Alg::Ed25519 => "ed25519",
        }
    }
    /// Signature length in bytes.
    pub fn sig_len(self) -> usize {
        match self {
            Alg::HmacSha256 => 32,
            Alg::Ed25519 => 64,
        }
    }
    fn from_name(s: &str) -> Option<Alg> {
        match s {
            "hmac-sha256" => Some(Alg::HmacSha256),
            "ed25519" => Some(Alg::Ed25519),
            _ => None,
        }
    }
}

/// Why a receipt could not be parsed, made or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("receipt header is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("header is not {HEADER_NAME}")]
    HeaderName,
    #[error("receipt parameter is not of the form name=value")]
    Malformed,
    #[error("unknown receipt parameter {0}")]
    UnknownParam(String),
    #[error("duplicate receipt parameter {0}")]
    DuplicateParam(&'static str),
    #[error("missing receipt parameter {0}")]
    MissingParam(&'static str),
    #[error("unsupported receipt version (only {VERSION} is known)")]
    UnsupportedVersion,
    #[error("unknown receipt algorithm")]
    UnknownAlg,
    #[error("receipt entry id must be 1 to {MAX_ENTRY_ID_LEN} characters of [A-Za-z0-9._-]")]
    BadEntryId,
    #[error("receipt key id must be 1 to 64 characters of [A-Za-z0-9._-]")]
    BadKeyId,
    #[error("receipt signature is not lowercase hex")]
    BadHex,
    #[error("{alg} receipt signature is {got} bytes; expected {expected}")]
    SigLength {
        alg: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("receipt is {receipt} but the verifier expects {verifier}")]
    AlgMismatch {
        receipt: &'static str,
        verifier: &'static str,
    },
    #[error("receipt entry id does not match the line's entry_id")]
    EntryMismatch,
    #[error("receipt key id {0} is not known to the verifier")]
    UnknownKey(String),
    #[error("receipt signature does not verify")]
    BadSignature,
    #[error("line is not a valid audit entry: {0}")]
    Line(#[from] LineError),
}

fn valid_entry_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ENTRY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A parsed receipt. Fields are private so every value satisfies the parser's rules.
#[derive(Clone, Debug)]
pub struct Receipt {
    alg: Alg,
    entry_id: String,
    key_id: String,
    sig: Vec<u8>,
}

impl Receipt {
    /// Builds a receipt, checking ids and the signature length.
    pub fn new(alg: Alg, entry_id: &str, key_id: &str, sig: Vec<u8>) -> Result<Self, ReceiptError> {
        if !valid_entry_id(entry_id) {
            return Err(ReceiptError::BadEntryId);
        }
        if !valid_key_id(key_id) {
            return Err(ReceiptError::BadKeyId);
        }
        if sig.len() != alg.sig_len() {
            return Err(ReceiptError::SigLength {
                alg: alg.as_str(),
                expected: alg.sig_len(),
                got: sig.len(),
            });
        }
        Ok(Receipt {
            alg,
            entry_id: entry_id.to_owned(),
            key_id: key_id.to_owned(),
            sig,
        })
    }

    /// Parses a header value, or a whole `X-Signet-Receipt: value` line.
    pub fn parse(input: &str) -> Result<Self, ReceiptError> {
        Self::parse_with_name(input, HEADER_NAME)
    }

    /// Like [`Receipt::parse`], for a gateway configured with another header name.
    pub fn parse_with_name(input: &str, header_name: &str) -> Result<Self, ReceiptError> {
        if input.len() > MAX_HEADER_LEN {
            return Err(ReceiptError::TooLong);
        }
        let mut value = input.trim_matches(|c: char| c.is_ascii_whitespace());
        // A valid value never contains ':', so one marks a header line.
        if let Some((name, rest)) = value.split_once(':') {
            if !name.eq_ignore_ascii_case(header_name) {
                return Err(ReceiptError::HeaderName);
            }
            value = rest.trim_start_matches([' ', '\t']);
        }

        let (mut version, mut alg, mut entry, mut key, mut sig) = (None, None, None, None, None);
        for (i, param) in value.split(';').enumerate() {
            let param = if i == 0 {
                param
            } else {
                param.trim_start_matches([' ', '\t'])
            };
            let (name, val) = param.split_once('=').ok_or(ReceiptError::Malformed)?;
            if val.is_empty() {
                return Err(ReceiptError::Malformed);
            }
            let (slot, label) = match name {
                "signet" => (&mut version, "signet"),
                "alg" => (&mut alg, "alg"),
                "entry" => (&mut entry, "entry"),
                "key" => (&mut key, "key"),
                "sig" => (&mut sig, "sig"),
                other => return Err(ReceiptError::UnknownParam(printable(other))),
            };
            if slot.replace(val).is_some() {
                return Err(ReceiptError::DuplicateParam(label));
            }
        }

        let version = version.ok_or(ReceiptError::MissingParam("signet"))?;
        let alg = alg.ok_or(ReceiptError::MissingParam("alg"))?;
        let entry = entry.ok_or(ReceiptError::MissingParam("entry"))?;
        let key = key.ok_or(ReceiptError::MissingParam("key"))?;
        let sig = sig.ok_or(ReceiptError::MissingParam("sig"))?;
        if version != VERSION {
            return Err(ReceiptError::UnsupportedVersion);
        }
        let alg = Alg::from_name(alg).ok_or(ReceiptError::UnknownAlg)?;
        if !sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReceiptError::BadHex);
        }
        let sig = from_hex(sig).ok_or(ReceiptError::BadHex)?;
        Receipt::new(alg, entry, key, sig)
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }
    pub fn entry_id(&self) -> &str {
        &self.entry_id
    }
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    pub fn sig(&self) -> &[u8] {
        &self.sig
    }

    /// The header value in signet's exact form.
    pub fn to_header_value(&self) -> String {
        self.to_string()
    }

    /// `X-Signet-Receipt: <value>`.
    pub fn to_header_line(&self) -> String {
        format!("{HEADER_NAME}: {self}")
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "signet={VERSION}; alg={}; entry={}; key={}; sig={}",
            self.alg.as_str(),
            self.entry_id,
            self.key_id,
            to_hex(&self.sig)
        )
    }
}

/// Parameter names from untrusted input, cut short and stripped of odd characters.
fn printable(s: &str) -> String {
    s.chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A line body without one trailing `\n`, if present.
fn body_of(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// Signs receipts. `Debug` shows the algorithm and key id only.
#[derive(Clone)]
pub enum ReceiptSigner {
    /// HMAC-SHA256; with the chain key the signature equals the line's `hmac`.
    Hmac(HmacKey),
    /// Ed25519 under a key id of the operator's choice.
    Ed25519 { key_id: String, key: SigningKey },
}

impl fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptSigner")
            .field("alg", &self.alg().as_str())
            .field("key_id", &self.key_id())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ReceiptSigner {
    /// An Ed25519 signer; the key id must be 1 to 64 characters of `[A-Za-z0-9._-]`.
    pub fn ed25519(key_id: &str, key: SigningKey) -> Result<Self, ReceiptError> {
        if !valid_key_id(key_id) {
            return Err(ReceiptError::BadKeyId);
        }
        Ok(ReceiptSigner::Ed25519 {
            key_id: key_id.to_owned(),
            key,
        })
    }

    pub fn alg(&self) -> Alg {
        match self {
            ReceiptSigner::Hmac(_) => Alg::HmacSha256,
            ReceiptSigner::Ed25519 { .. } => Alg::Ed25519,
        }
    }

    pub fn key_id(&self) -> &str {
        match self {
            ReceiptSigner::Hmac(k) => k.id(),
            ReceiptSigner::Ed25519 { key_id, .. } => key_id,
        }
    }

    /// Signs a MAC payload given as consecutive parts (see [`LineView::payload_parts`]).
    pub fn sign_payload(&self, entry_id: &str, parts: &[&[u8]]) -> Result<Receipt, ReceiptError> {
        let sig = match self {
            ReceiptSigner::Hmac(k) => k.mac(parts).as_bytes().to_vec(),
            ReceiptSigner::Ed25519 { key, .. } => key.sign(&parts.concat()).to_bytes().to_vec(),
        };
        Receipt::new(self.alg(), entry_id, self.key_id(), sig)
    }

    /// Signs a line as written to the log (with or without its `\n`).
    pub fn sign_line(&self, line: &[u8]) -> Result<Receipt, ReceiptError> {
        let body = body_of(line);
        let view = LineView::parse(body)?;
        self.sign_payload(&view.entry_id, &view.payload_parts(body))
    }

    /// Signs a line just sealed by the writer, whose draft had `entry_id`.
    pub fn sign_sealed(
        &self,
        entry_id: &str,
        sealed: &SealedLine,
    ) -> Result<Receipt, ReceiptError> {
        self.sign_payload(entry_id, &[&sealed.payload()])
    }
}

/// The public (or shared, for HMAC) material a receipt is checked against.
#[derive(Clone, Copy, Debug)]
pub enum Verifier<'a> {
    /// HMAC receipts: the key is chosen by the receipt's key id.
    Hmac(&'a KeyRing),
    /// Ed25519 receipts; with `key_id`, the receipt must also name that key id.
    Ed25519 {
        key: &'a VerifyingKey,
        key_id: Option<&'a str>,
    },
}

fn check_alg(receipt: &Receipt, want: Alg) -> Result<(), ReceiptError> {
    if receipt.alg != want {
        return Err(ReceiptError::AlgMismatch {
            receipt: receipt.alg.as_str(),
            verifier: want.as_str(),
        });
    }
    Ok(())
}

fn view_for<'b>(receipt: &Receipt, line: &'b [u8]) -> Result<(LineView, &'b [u8]), ReceiptError> {
    let body = body_of(line);
    let view = LineView::parse(body)?;
    if view.entry_id != receipt.entry_id {
        return Err(ReceiptError::EntryMismatch);
    }
    Ok((view, body))
}

/// Checks an `hmac-sha256` receipt against `line` with the key the receipt names.
pub fn verify_hmac(receipt: &Receipt, line: &[u8], ring: &KeyRing) -> Result<(), ReceiptError> {
    check_alg(receipt, Alg::HmacSha256)?;
    let (view, body) = view_for(receipt, line)?;
    let key = ring
        .get(&receipt.key_id)
        .ok_or_else(|| ReceiptError::UnknownKey(receipt.key_id.clone()))?;
    let tag = key.mac(&view.payload_parts(body));
    if bool::from(tag.as_bytes()[..].ct_eq(&receipt.sig[..])) {
        Ok(())
    } else {
        Err(ReceiptError::BadSignature)
    }
}

/// Checks an `ed25519` receipt against `line` with `key` (strict verification).
pub fn verify_ed25519(
    receipt: &Receipt,
    line: &[u8],
    key: &VerifyingKey,
) -> Result<(), ReceiptError> {
    check_alg(receipt, Alg::Ed25519)?;
    let (view, body) = view_for(receipt, line)?;
    let bytes: [u8; 64] =
        receipt
            .sig
            .as_slice()
            .try_into()
            .map_err(|_| ReceiptError::SigLength {
                alg: Alg::Ed25519.as_str(),
                expected: 64,
                got: receipt.sig.len(),
            })?;
    let sig = Signature::from_bytes(&bytes);
    key.verify_strict(&view.payload(body), &sig)
        .map_err(|_| ReceiptError::BadSignature)
}

/// Checks `receipt` against `line` (with or without its `\n`) using `verifier`.
pub fn verify_line(
    receipt: &Receipt,
    line: &[u8],
    verifier: &Verifier<'_>,
) -> Result<(), ReceiptError> {
    match verifier {
        Verifier::Hmac(ring) => verify_hmac(receipt, line, ring),
        Verifier::Ed25519 { key, key_id } => {
            check_alg(receipt, Alg::Ed25519)?;
            if let Some(id) = key_id
                && *id != receipt.key_id
            {
                return Err(ReceiptError::UnknownKey(receipt.key_id.clone()));
            }
            verify_ed25519(receipt, line, key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Decision, EntryDraft, seal};
    use proptest::prelude::*;

    const HEADER: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/signet-0.1/receipt-header.txt"
    ));
    const LOG: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/signet-0.1/audit-anchored.jsonl"
    ));
    const PUB: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/signet-0.1/receipt-ed25519.pub"
    );
    const CHAIN_KEY: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/signet-0.1/hmac-secret.hex"
    ));
    const ENTRY: &str = "68f671a6-be35-481e-b1a6-a360d2c7db62";

    fn line(n: usize) -> &'static str {
        LOG.lines().nth(n).expect("fixture line")
    }

    fn fixture_key() -> VerifyingKey {
        crate::keyfile::load_ed25519_public(std::path::Path::new(PUB)).expect("fixture pub")
    }

    fn ed_verifier(key: &VerifyingKey) -> Verifier<'_> {
        Verifier::Ed25519 { key, key_id: None }
    }

    #[test]
    fn signet_fixture_parses_and_verifies() {
        let r = Receipt::parse(HEADER).expect("parse");
        assert_eq!(r.alg(), Alg::Ed25519);
        assert_eq!(r.entry_id(), ENTRY);
        assert_eq!(r.key_id(), "signet-test-1");
        // Formatting reproduces signet's exact header value.
        let value = HEADER.trim().split_once(": ").expect("header line").1;
        assert_eq!(r.to_header_value(), value);
        let key = fixture_key();
        verify_line(&r, line(0).as_bytes(), &ed_verifier(&key)).expect("verifies");
        // With the trailing newline, and naming the expected key id.
        let with_nl = format!("{}\n", line(0));
        let named = Verifier::Ed25519 {
            key: &key,
            key_id: Some("signet-test-1"),
        };
        verify_line(&r, with_nl.as_bytes(), &named).expect("verifies with id");
    }

    #[test]
    fn signet_fixture_corruptions_fail() {
        let good = Receipt::parse(HEADER).expect("parse");
        let key = fixture_key();
        let other_key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let mut flipped = good.clone();
        flipped.sig[10] ^= 0x01;
        let mut wrong_entry = good.clone();
        wrong_entry.entry_id = "00000000-0000-4000-8000-000000000000".into();
        let tampered = line(0).replace("carol@example.com", "carol@example.org");
        #[allow(clippy::type_complexity)]
        let cases: Vec<(
            &str,
            Receipt,
            String,
            VerifyingKey,
            Option<&str>,
            ReceiptError,
        )> = vec![
            (
                "flipped sig bit",
                flipped,
                line(0).into(),
                key,
                None,
                ReceiptError::BadSignature,
            ),
            (
                "receipt names another entry",
                wrong_entry,
                line(0).into(),
                key,
                None,
                ReceiptError::EntryMismatch,
            ),
            (
                "line of another entry",
                good.clone(),
                line(1).into(),
                key,
                None,
                ReceiptError::EntryMismatch,
            ),
            (
                "wrong public key",
                good.clone(),
                line(0).into(),
                other_key,
                None,
                ReceiptError::BadSignature,
            ),
            (
                "tampered line",
                good.clone(),
                tampered,
                key,
                None,
                ReceiptError::BadSignature,
            ),
            (
                "unexpected key id",
                good.clone(),
                line(0).into(),
                key,
                Some("k9"),
                ReceiptError::UnknownKey("signet-test-1".into()),
            ),
            (
                "not an entry",
                good.clone(),
                "{}".into(),
                key,
                None,
                ReceiptError::Line(LineError::Missing("approval_chain")),
            ),
        ];
        for (label, r, l, k, id, want) in cases {
            let v = Verifier::Ed25519 {
                key: &k,
                key_id: id,
            };
            assert_eq!(verify_line(&r, l.as_bytes(), &v), Err(want), "{label}");
        }
    }

    #[test]
    fn hmac_receipt_equals_chain_hmac() {
        let k = HmacKey::from_hex("k1", CHAIN_KEY).expect("key");
        let signer = ReceiptSigner::Hmac(k.clone());
        let view = LineView::parse(line(0).as_bytes()).expect("line");
        let r = signer.sign_line(line(0).as_bytes()).expect("sign");
        assert_eq!(to_hex(r.sig()), view.hmac);

        let mut ring = KeyRing::new();
        ring.add(k.clone()).expect("ring");
        verify_line(&r, line(0).as_bytes(), &Verifier::Hmac(&ring)).expect("verifies");

        // A freshly sealed line: the receipt is the line's hmac.
        let draft = EntryDraft::new("pipeline.complete", Decision::Allow, "ok");
        let sealed = seal(&draft, 0, "", &k).expect("seal");
        let r2 = signer.sign_sealed(&draft.entry_id, &sealed).expect("sign");
        assert_eq!(to_hex(r2.sig()), sealed.hmac.to_hex());
        verify_line(&r2, &sealed.line, &Verifier::Hmac(&ring)).expect("verifies");
    }

    #[test]
    fn hmac_receipt_failures() {
        let k = HmacKey::from_hex("k1", CHAIN_KEY).expect("key");
        let r = ReceiptSigner::Hmac(k.clone())
            .sign_line(line(0).as_bytes())
            .expect("sign");
        let mut ring = KeyRing::new();
        ring.add(k).expect("ring");
        let mut other = KeyRing::new();
        other
            .add(HmacKey::from_hex("k1", &"11".repeat(32)).expect("key"))
            .expect("ring");
        let empty = KeyRing::new();
        let mut flipped = r.clone();
        flipped.sig[0] ^= 0x80;
        let tampered = line(0).replace("pipeline.complete", "pipeline.completE");
        let fixture = fixture_key();
        let cases: Vec<(&str, &Receipt, &str, Verifier<'_>, ReceiptError)> = vec![
            (
                "flipped",
                &flipped,
                line(0),
                Verifier::Hmac(&ring),
                ReceiptError::BadSignature,
            ),
            (
                "same id other secret",
                &r,
                line(0),
                Verifier::Hmac(&other),
                ReceiptError::BadSignature,
            ),
            (
                "unknown key id",
                &r,
                line(0),
                Verifier::Hmac(&empty),
                ReceiptError::UnknownKey("k1".into()),
            ),
            (
                "tampered line",
                &r,
                &tampered,
                Verifier::Hmac(&ring),
                ReceiptError::BadSignature,
            ),
            (
                "other entry",
                &r,
                line(2),
                Verifier::Hmac(&ring),
                ReceiptError::EntryMismatch,
            ),
            (
                "hmac receipt to an ed25519 verifier",
                &r,
                line(0),
                ed_verifier(&fixture),
                ReceiptError::AlgMismatch {
                    receipt: "hmac-sha256",
                    verifier: "ed25519",
                },
            ),
        ];
        for (label, r, l, v, want) in cases {
            assert_eq!(verify_line(r, l.as_bytes(), &v), Err(want), "{label}");
        }
    }

    #[test]
    fn ed25519_sign_then_verify_and_wrong_key() {
        let sk = SigningKey::from_bytes(&[42u8; 32]);
        let signer = ReceiptSigner::ed25519("rk-1", sk.clone()).expect("signer");
        let dbg = format!("{signer:?}");
        assert!(dbg.contains("rk-1") && dbg.contains("redacted"), "{dbg}");
        assert!(!dbg.contains(&to_hex(&sk.to_bytes())), "{dbg}");
        let hk = HmacKey::from_hex("k1", CHAIN_KEY).expect("key");
        let draft = EntryDraft::new("pipeline.admission", Decision::Block, "no owner");
        let sealed = seal(&draft, 5, &"a".repeat(64), &hk).expect("seal");
        let r = signer.sign_sealed(&draft.entry_id, &sealed).expect("sign");
        let r2 = signer.sign_line(&sealed.line).expect("sign line");
        assert_eq!(r.to_string(), r2.to_string());
        let back = Receipt::parse(&r.to_header_line()).expect("parse own output");
        assert_eq!(back.to_string(), r.to_string());
        let vk = sk.verifying_key();
        verify_line(&back, &sealed.line, &ed_verifier(&vk)).expect("verifies");
        let other = SigningKey::from_bytes(&[43u8; 32]).verifying_key();
        assert_eq!(
            verify_line(&back, &sealed.line, &ed_verifier(&other)),
            Err(ReceiptError::BadSignature)
        );
        assert_eq!(
            ReceiptSigner::ed25519("bad id", sk).map(|_| ()),
            Err(ReceiptError::BadKeyId)
        );
    }

    #[test]
    fn parser_accepts_spacing_and_case() {
        let sig = "ab".repeat(32);
        let forms = [
            format!("signet=v1;alg=hmac-sha256;entry=e-1;key=k1;sig={sig}"),
            format!("signet=v1;  alg=hmac-sha256;\tentry=e-1; key=k1; sig={sig}"),
            format!(
                "X-SIGNET-RECEIPT:signet=v1; alg=hmac-sha256; entry=e-1; key=k1; sig={sig}\r\n"
            ),
            format!("  sig={sig}; key=k1; entry=e-1; alg=hmac-sha256; signet=v1  "),
        ];
        let want = format!("signet=v1; alg=hmac-sha256; entry=e-1; key=k1; sig={sig}");
        for f in forms {
            assert_eq!(Receipt::parse(&f).expect(&f).to_string(), want, "{f}");
        }
        let custom = format!("X-Audit: {want}");
        assert!(Receipt::parse_with_name(&custom, "x-audit").is_ok());
    }

    #[test]
    fn parser_rejects_bad_headers() {
        let sig = "ab".repeat(32);
        let ok = format!("signet=v1; alg=hmac-sha256; entry=e-1; key=k1; sig={sig}");
        let ed = "cd".repeat(64);
        let cases: Vec<(String, ReceiptError)> = vec![
            (
                format!("{ok}; extra=1"),
                ReceiptError::UnknownParam("extra".into()),
            ),
            (format!("{ok}; key=k2"), ReceiptError::DuplicateParam("key")),
            (
                ok.replace("; key=k1", ""),
                ReceiptError::MissingParam("key"),
            ),
            (
                ok.replace("signet=v1; ", ""),
                ReceiptError::MissingParam("signet"),
            ),
            (ok.replace("v1", "v2"), ReceiptError::UnsupportedVersion),
            (
                ok.replace("hmac-sha256", "hmac-sha512"),
                ReceiptError::UnknownAlg,
            ),
            (ok.replace(&sig, &sig.to_uppercase()), ReceiptError::BadHex),
            (ok.replace(&sig, &format!("{sig}a")), ReceiptError::BadHex),
            (ok.replace(&sig, "zz"), ReceiptError::BadHex),
            (
                ok.replace(&sig, &sig[..62]),
                ReceiptError::SigLength {
                    alg: "hmac-sha256",
                    expected: 32,
                    got: 31,
                },
            ),
            (
                ok.replace("hmac-sha256", "ed25519"),
                ReceiptError::SigLength {
                    alg: "ed25519",
                    expected: 64,
                    got: 32,
                },
            ),
            (
                ok.replace(&sig, &ed),
                ReceiptError::SigLength {
                    alg: "hmac-sha256",
                    expected: 32,
                    got: 64,
                },
            ),
            (format!("{ok};"), ReceiptError::Malformed),
            (ok.replace("; alg", ";; alg"), ReceiptError::Malformed),
            (ok.replace("key=k1", "key="), ReceiptError::Malformed),
            (ok.replace("key=k1", "key"), ReceiptError::Malformed),
            (
                ok.replace("; alg", " ; alg"),
                ReceiptError::UnsupportedVersion,
            ),
            (
                ok.replace("alg=", "alg ="),
                ReceiptError::UnknownParam("alg?".into()),
            ),
            (ok.replace("key=k1", "key=k 1"), ReceiptError::BadKeyId),
            (
                ok.replace("entry=e-1", "entry=e/1"),
                ReceiptError::BadEntryId,
            ),
            (format!("X-Other: {ok}"), ReceiptError::HeaderName),
            (format!("X-Signet-Receipt : {ok}"), ReceiptError::HeaderName),
            (String::new(), ReceiptError::Malformed),
            (
                format!("{ok}{}", " ".repeat(MAX_HEADER_LEN)),
                ReceiptError::TooLong,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                Receipt::parse(&input).map(|r| r.to_string()),
                Err(want),
                "{input:?}"
            );
        }
    }

    #[test]
    fn messages_carry_no_signature() {
        let good = Receipt::parse(HEADER).expect("parse");
        let hex = to_hex(good.sig());
        let mut flipped = good.clone();
        flipped.sig[0] ^= 1;
        let e1 = verify_line(&flipped, line(0).as_bytes(), &ed_verifier(&fixture_key()));
        let short = format!(
            "signet=v1; alg=ed25519; entry=e; key=k; sig={}",
            &hex[..126]
        );
        let e2 = Receipt::parse(&short).map(|_| ());
        let long = format!("signet=v1; alg=ed25519; entry=e; key=k; sig={hex}; {hex}=1");
        let e3 = Receipt::parse(&long).map(|_| ());
        for e in [e1, e2, e3] {
            let msg = e.expect_err("fails").to_string();
            assert!(!msg.contains(&hex[..40]), "{msg}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = Receipt::parse(&s);
        }

        #[test]
        fn format_parse_round_trip(
            ed in any::<bool>(),
            entry in "[A-Za-z0-9._-]{1,64}",
            key in "[A-Za-z0-9._-]{1,64}",
            seed in any::<u8>(),
        ) {
            let alg = if ed { Alg::Ed25519 } else { Alg::HmacSha256 };
            let sig: Vec<u8> = (0..alg.sig_len()).map(|i| seed.wrapping_add(i as u8)).collect();
            let r = Receipt::new(alg, &entry, &key, sig.clone()).expect("valid");
            let back = Receipt::parse(&r.to_header_line()).expect("parse");
            prop_assert_eq!(back.alg(), alg);
            prop_assert_eq!(back.entry_id(), entry.as_str());
            prop_assert_eq!(back.key_id(), key.as_str());
            prop_assert_eq!(back.sig(), &sig[..]);
        }
    }
}
