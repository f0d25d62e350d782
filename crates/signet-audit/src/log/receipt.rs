//! Receipt headers, compatible with signet 0.1:
//! `X-Signet-Receipt: signet=v1; alg=<hmac-sha256|ed25519>; entry=<entry_id>; key=<key id>; sig=<hex>`,
//! plus our batch form (one Ed25519 signature per group-commit batch, see [`batch`]):
//! `signet=v1; alg=ed25519-batch; entry=<id>; key=<key id>; seq=<first _seq>; size=<n>; index=<i>; path=<hex|->; sig=<hex>`.
//!
//! Guarantees:
//! - An `hmac-sha256` or `ed25519` receipt signs the **MAC payload** of its entry: the
//!   exact line bytes without `\n` and without the top-level `"hmac":"…"` member
//!   ([`LineView::payload_parts`]). So an `hmac-sha256` receipt made with the chain key
//!   equals the line's `hmac`.
//! - An `ed25519-batch` receipt signs [`batch::message`] (key id, first `_seq`, size and
//!   RFC 6962 root of the batch's lines); `path` is the entry's inclusion path in that
//!   tree. It verifies only for the line whose leaf hash, at `_seq = seq + index`, leads
//!   to a root signed under that key id: any other entry, line, position, size, path,
//!   key id or signature is rejected.
//! - [`Receipt::parse`] is strict and never panics: exactly the five parameters `signet`,
//!   `alg`, `entry`, `key`, `sig` (any order, each once), and for `ed25519-batch` also
//!   exactly `seq`, `size`, `index` (canonical decimal, `index < size`) and `path`
//!   (lowercase hex of whole 32-byte hashes, or `-` when empty); version `v1`, a known
//!   algorithm, lowercase hex of the algorithm's exact length (32 bytes HMAC, 64 bytes
//!   Ed25519). Only optional spaces or tabs after a `;` and surrounding whitespace are
//!   tolerated. A full header line (`X-Signet-Receipt: …`, name in any case) is accepted
//!   too.
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

use crate::log::entry::SealedLine;
use crate::log::journal::Committed;
use crate::log::key::{HmacKey, KeyRing, valid_key_id};
use crate::log::line::{LineError, LineView};
use crate::transparency::merkle::{self, Hash};
use crate::util::from_hex;

pub use crate::log::batch;

/// Default name of the receipt header.
pub const HEADER_NAME: &str = "X-Signet-Receipt";
/// The only receipt version.
pub const VERSION: &str = "v1";
/// Longest header (or header line) the parser looks at.
pub const MAX_HEADER_LEN: usize = 1024;
/// Most hashes in a batch receipt's path (a batch of up to 2^63 entries).
const MAX_PATH: usize = 63;
const MAX_ENTRY_ID_LEN: usize = 128;

/// Receipt signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    HmacSha256,
    Ed25519,
    /// Ed25519 over a group-commit batch's Merkle root, with the entry's path.
    Ed25519Batch,
}

impl Alg {
    /// The name used in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::HmacSha256 => "hmac-sha256",
            Alg::Ed25519 => "ed25519",
            Alg::Ed25519Batch => "ed25519-batch",
        }
    }
    /// Signature length in bytes.
    pub fn sig_len(self) -> usize {
        match self {
            Alg::HmacSha256 => 32,
            Alg::Ed25519 | Alg::Ed25519Batch => 64,
        }
    }
    /// True for the algorithms checked with an Ed25519 public key.
    pub fn is_ed25519(self) -> bool {
        matches!(self, Alg::Ed25519 | Alg::Ed25519Batch)
    }
    fn from_name(s: &str) -> Option<Alg> {
        match s {
            "hmac-sha256" => Some(Alg::HmacSha256),
            "ed25519" => Some(Alg::Ed25519),
            "ed25519-batch" => Some(Alg::Ed25519Batch),
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
    #[error("batch receipt parameter {0} is not valid")]
    BadBatchParam(&'static str),
    #[error("the line's _seq is not the receipt's batch position (seq + index)")]
    BatchPosition,
    #[error("the receipt's inclusion path does not fit its batch: {0}")]
    BadPath(merkle::ProofError),
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

/// Where an `ed25519-batch` receipt's entry sits in its signed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchProof {
    /// `_seq` of the batch's first entry.
    pub seq: u64,
    /// Entries in the batch.
    pub size: u64,
    /// The entry's leaf index in the batch (`_seq - seq`).
    pub index: u64,
    /// RFC 6962 inclusion path of the leaf, bottom up.
    pub path: Vec<Hash>,
}

/// A parsed receipt. Fields are private so every value satisfies the parser's rules.
#[derive(Clone, Debug)]
pub struct Receipt {
    alg: Alg,
    entry_id: String,
    key_id: String,
    sig: Vec<u8>,
    /// Present exactly for `ed25519-batch`.
    batch: Option<BatchProof>,
}

/// A canonical decimal `u64` (no sign, no leading zero but `0`).
fn parse_u64(s: &str, name: &'static str) -> Result<u64, ReceiptError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(ReceiptError::BadBatchParam(name));
    }
    s.parse().map_err(|_| ReceiptError::BadBatchParam(name))
}

/// `-` (empty) or lowercase hex of whole 32-byte hashes.
fn parse_path(s: &str) -> Result<Vec<Hash>, ReceiptError> {
    if s == "-" {
        return Ok(Vec::new());
    }
    let bad = ReceiptError::BadBatchParam("path");
    if !s.len().is_multiple_of(64)
        || s.len() / 64 > MAX_PATH
        || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad);
    }
    s.as_bytes()
        .chunks(64)
        .map(|c| {
            let hex = std::str::from_utf8(c).map_err(|_| bad.clone())?;
            let v = from_hex(hex).ok_or_else(|| bad.clone())?;
            Hash::try_from(v.as_slice()).map_err(|_| bad.clone())
        })
        .collect()
}

impl Receipt {
    /// Builds a receipt, checking ids and the signature length.
    pub fn new(alg: Alg, entry_id: &str, key_id: &str, sig: Vec<u8>) -> Result<Self, ReceiptError> {
        if alg == Alg::Ed25519Batch {
            return Err(ReceiptError::MissingParam("seq"));
        }
        Self::checked(alg, entry_id, key_id, sig)
    }

    fn checked(alg: Alg, entry_id: &str, key_id: &str, sig: Vec<u8>) -> Result<Self, ReceiptError> {
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
            batch: None,
        })
    }

    /// Builds an `ed25519-batch` receipt, checking ids, lengths and `index < size`.
    pub fn new_batch(
        entry_id: &str,
        key_id: &str,
        sig: Vec<u8>,
        proof: BatchProof,
    ) -> Result<Self, ReceiptError> {
        let mut r = Receipt::checked(Alg::Ed25519Batch, entry_id, key_id, sig)?;
        if proof.index >= proof.size {
            return Err(ReceiptError::BadBatchParam("index"));
        }
        if proof.path.len() > MAX_PATH {
            return Err(ReceiptError::BadBatchParam("path"));
        }
        r.batch = Some(proof);
        Ok(r)
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
        let (mut seq, mut size, mut index, mut path) = (None, None, None, None);
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
                "seq" => (&mut seq, "seq"),
                "size" => (&mut size, "size"),
                "index" => (&mut index, "index"),
                "path" => (&mut path, "path"),
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
        if alg != Alg::Ed25519Batch {
            // The batch parameters belong to the batch form only.
            for (v, name) in [
                (seq, "seq"),
                (size, "size"),
                (index, "index"),
                (path, "path"),
            ] {
                if v.is_some() {
                    return Err(ReceiptError::UnknownParam(name.into()));
                }
            }
            return Receipt::new(alg, entry, key, sig);
        }
        let proof = BatchProof {
            seq: parse_u64(seq.ok_or(ReceiptError::MissingParam("seq"))?, "seq")?,
            size: parse_u64(size.ok_or(ReceiptError::MissingParam("size"))?, "size")?,
            index: parse_u64(index.ok_or(ReceiptError::MissingParam("index"))?, "index")?,
            path: parse_path(path.ok_or(ReceiptError::MissingParam("path"))?)?,
        };
        Receipt::new_batch(entry, key, sig, proof)
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
    /// The batch position and path (`ed25519-batch` only).
    pub fn batch(&self) -> Option<&BatchProof> {
        self.batch.as_ref()
    }

    /// The header value in signet's exact form.
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(160 + self.sig.len() * 2);
        self.write_value(&mut out);
        out
    }

    /// `X-Signet-Receipt: <value>`.
    pub fn to_header_line(&self) -> String {
        format!("{HEADER_NAME}: {self}")
    }

    /// Appends the header value to `out` (no `fmt` machinery: this runs per request).
    fn write_value(&self, out: &mut String) {
        let num = |out: &mut String, n: u64| out.push_str(&crate::util::decimal(n, false));
        out.push_str("signet=");
        out.push_str(VERSION);
        out.push_str("; alg=");
        out.push_str(self.alg.as_str());
        out.push_str("; entry=");
        out.push_str(&self.entry_id);
        out.push_str("; key=");
        out.push_str(&self.key_id);
        out.push_str("; ");
        if let Some(b) = &self.batch {
            out.push_str("seq=");
            num(out, b.seq);
            out.push_str("; size=");
            num(out, b.size);
            out.push_str("; index=");
            num(out, b.index);
            out.push_str("; path=");
            if b.path.is_empty() {
                out.push('-');
            }
            for h in &b.path {
                push_hex(out, h);
            }
            out.push_str("; ");
        }
        out.push_str("sig=");
        push_hex(out, &self.sig);
    }
}

/// Appends the lowercase hex of `bytes` to `out`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(160 + self.sig.len() * 2);
        self.write_value(&mut out);
        f.write_str(&out)
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

    /// The algorithm of per-entry receipts ([`ReceiptSigner::sign_payload`]).
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

    /// The receipt of a durable entry. An Ed25519 signer gives an `ed25519-batch`
    /// receipt when the journal grouped the entry into a batch tree (one signature
    /// for the whole batch, made by whichever entry asks first), an `ed25519` one
    /// otherwise. HMAC receipts with the chain key are the entry's `hmac`.
    pub fn sign_committed(&self, c: &Committed) -> Result<Receipt, ReceiptError> {
        match (self, &c.batch) {
            (ReceiptSigner::Ed25519 { key_id, key }, Some(slot)) => {
                let b = &slot.batch;
                let path = b
                    .path(slot.index)
                    .ok_or(ReceiptError::BadBatchParam("index"))?;
                let proof = BatchProof {
                    seq: b.seq(),
                    size: b.size(),
                    index: slot.index,
                    path,
                };
                let sig = b.signature(key_id, key).to_vec();
                Receipt::new_batch(&c.entry_id, key_id, sig, proof)
            }
            _ => self.sign_sealed(&c.entry_id, &c.sealed),
        }
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
    let fits = receipt.alg == want || (want.is_ed25519() && receipt.alg.is_ed25519());
    if !fits {
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

/// Checks an `ed25519` or `ed25519-batch` receipt against `line` with `key` (strict
/// verification).
pub fn verify_ed25519(
    receipt: &Receipt,
    line: &[u8],
    key: &VerifyingKey,
) -> Result<(), ReceiptError> {
    check_alg(receipt, Alg::Ed25519)?;
    let (view, body) = view_for(receipt, line)?;
    if let Some(b) = &receipt.batch {
        return verify_batch(receipt, b, &view, body, key);
    }
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

/// The batch form: position, path to the root, signature over the batch message.
fn verify_batch(
    receipt: &Receipt,
    b: &BatchProof,
    view: &LineView,
    body: &[u8],
    key: &VerifyingKey,
) -> Result<(), ReceiptError> {
    if view.seq.is_none() || view.seq != b.seq.checked_add(b.index) {
        return Err(ReceiptError::BatchPosition);
    }
    let leaf = merkle::leaf_hash(body);
    let root = merkle::root_from_inclusion(&b.path, b.index, b.size, &leaf)
        .map_err(ReceiptError::BadPath)?;
    let bytes: [u8; 64] = receipt
        .sig
        .as_slice()
        .try_into()
        .map_err(|_| ReceiptError::BadSignature)?;
    let msg = batch::message(&receipt.key_id, b.seq, b.size, &root);
    key.verify_strict(&msg, &Signature::from_bytes(&bytes))
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
    use crate::log::entry::{Decision, EntryDraft, seal};
    use crate::log::journal::Committed;
    use crate::util::to_hex;
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
        crate::log::keyfile::load_ed25519_public(std::path::Path::new(PUB)).expect("fixture pub")
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

    /// `n` entries sealed as one chained batch, committed with a batch tree.
    fn committed_batch(n: usize, first_seq: u64) -> Vec<Committed> {
        let hk = HmacKey::from_hex("k1", CHAIN_KEY).expect("key");
        let mut prev = String::new();
        let mut out: Vec<Committed> = (0..n)
            .map(|i| {
                let d = EntryDraft::new("pipeline.complete", Decision::Allow, &format!("r{i}"));
                let seq = first_seq + i as u64;
                let sealed = seal(&d, seq, &prev, &hk).expect("seal");
                prev = sealed.hmac.to_hex();
                Committed {
                    seq,
                    entry_id: d.entry_id,
                    sealed,
                    batch: None,
                }
            })
            .collect();
        let lines: Vec<&[u8]> = out
            .iter()
            .map(|c| &c.sealed.line[..c.sealed.line.len() - 1])
            .collect();
        let b = batch::Batch::build(first_seq, &lines).expect("batch");
        for (i, c) in out.iter_mut().enumerate() {
            c.batch = Some(batch::BatchSlot {
                batch: b.clone(),
                index: i as u64,
            });
        }
        out
    }

    #[test]
    fn batch_receipts_verify_for_every_size_and_leaf() {
        let sk = SigningKey::from_bytes(&[9u8; 32]);
        let vk = sk.verifying_key();
        let signer = ReceiptSigner::ed25519("rk-b", sk).expect("signer");
        for n in [1usize, 2, 3, 5, 8, 13] {
            let batch = committed_batch(n, 40);
            for c in &batch {
                let r = signer.sign_committed(c).expect("sign");
                assert_eq!(r.alg(), Alg::Ed25519Batch);
                let b = r.batch().expect("batch part");
                assert_eq!((b.seq, b.size), (40, n as u64));
                // Header round trip is the identity, and the parsed form verifies.
                let text = r.to_header_line();
                assert!(text.len() < MAX_HEADER_LEN, "{text}");
                let back = Receipt::parse(&text).expect("parse own output");
                assert_eq!(back.to_string(), r.to_string());
                verify_line(&back, &c.sealed.line, &ed_verifier(&vk)).expect("verifies");
                let named = Verifier::Ed25519 {
                    key: &vk,
                    key_id: Some("rk-b"),
                };
                verify_line(&back, &c.sealed.line, &named).expect("verifies with id");
            }
            // One signature for the whole batch.
            let sigs: std::collections::BTreeSet<Vec<u8>> = batch
                .iter()
                .map(|c| signer.sign_committed(c).expect("sign").sig().to_vec())
                .collect();
            assert_eq!(sigs.len(), 1);
        }
        // Without a batch tree an Ed25519 signer still gives the per-entry form.
        let mut lone = committed_batch(1, 0).remove(0);
        lone.batch = None;
        let r = signer.sign_committed(&lone).expect("sign");
        assert_eq!(r.alg(), Alg::Ed25519);
        verify_line(&r, &lone.sealed.line, &ed_verifier(&vk)).expect("verifies");
    }

    #[test]
    fn batch_receipt_tampering_is_rejected() {
        let sk = SigningKey::from_bytes(&[11u8; 32]);
        let vk = sk.verifying_key();
        let signer = ReceiptSigner::ed25519("rk-b", sk).expect("signer");
        let batch = committed_batch(5, 100);
        let c = &batch[2];
        let good = signer.sign_committed(c).expect("sign");
        let line = &c.sealed.line;
        verify_line(&good, line, &ed_verifier(&vk)).expect("good verifies");
        let with = |f: &dyn Fn(&mut Receipt)| {
            let mut r = good.clone();
            f(&mut r);
            r
        };
        let bp = |f: &dyn Fn(&mut BatchProof)| {
            with(&|r: &mut Receipt| {
                if let Some(b) = r.batch.as_mut() {
                    f(b);
                }
            })
        };
        let other_key = SigningKey::from_bytes(&[12u8; 32]).verifying_key();
        let tampered_line =
            String::from_utf8_lossy(line).replace("\"reason\":\"r2\"", "\"reason\":\"r9\"");
        assert_ne!(tampered_line.as_bytes(), &line[..]);
        let other_line = batch[3].sealed.line.clone();
        let cases: Vec<(&str, Receipt, Vec<u8>, VerifyingKey, ReceiptError)> = vec![
            (
                "flipped signature bit",
                with(&|r: &mut Receipt| r.sig[5] ^= 1),
                line.clone(),
                vk,
                ReceiptError::BadSignature,
            ),
            (
                "another entry id",
                with(&|r: &mut Receipt| r.entry_id = batch[3].entry_id.clone()),
                line.clone(),
                vk,
                ReceiptError::EntryMismatch,
            ),
            (
                "line of another entry of the batch",
                good.clone(),
                other_line,
                vk,
                ReceiptError::EntryMismatch,
            ),
            (
                "tampered line",
                good.clone(),
                tampered_line.into_bytes(),
                vk,
                ReceiptError::BadSignature,
            ),
            (
                "another key id",
                with(&|r: &mut Receipt| r.key_id = "rk-c".into()),
                line.clone(),
                vk,
                ReceiptError::BadSignature,
            ),
            (
                "wrong public key",
                good.clone(),
                line.clone(),
                other_key,
                ReceiptError::BadSignature,
            ),
            (
                "seq moved",
                bp(&|b: &mut BatchProof| b.seq += 1),
                line.clone(),
                vk,
                ReceiptError::BatchPosition,
            ),
            (
                "seq and index moved together",
                bp(&|b: &mut BatchProof| {
                    b.seq -= 1;
                    b.index += 1;
                }),
                line.clone(),
                vk,
                ReceiptError::BadSignature,
            ),
            (
                "index moved",
                bp(&|b: &mut BatchProof| b.index = 3),
                line.clone(),
                vk,
                ReceiptError::BatchPosition,
            ),
            (
                "size changed",
                bp(&|b: &mut BatchProof| b.size = 6),
                line.clone(),
                vk,
                ReceiptError::BadSignature,
            ),
            (
                "path hash flipped",
                bp(&|b: &mut BatchProof| b.path[0][0] ^= 1),
                line.clone(),
                vk,
                ReceiptError::BadSignature,
            ),
            (
                "path cut short",
                bp(&|b: &mut BatchProof| {
                    b.path.pop();
                }),
                line.clone(),
                vk,
                ReceiptError::BadPath(merkle::ProofError::TooShort),
            ),
            (
                "path too long",
                bp(&|b: &mut BatchProof| b.path.push([0; 32])),
                line.clone(),
                vk,
                ReceiptError::BadPath(merkle::ProofError::TooLong),
            ),
        ];
        for (label, r, l, k, want) in cases {
            assert_eq!(verify_line(&r, &l, &ed_verifier(&k)), Err(want), "{label}");
        }
        // The verifier that names a key id refuses a receipt naming another.
        let named = Verifier::Ed25519 {
            key: &vk,
            key_id: Some("rk-z"),
        };
        assert_eq!(
            verify_line(&good, line, &named),
            Err(ReceiptError::UnknownKey("rk-b".into()))
        );
        // A batch receipt turned into a per-entry one (or back) does not verify.
        let per_entry = Receipt::new(Alg::Ed25519, good.entry_id(), "rk-b", good.sig().to_vec())
            .expect("receipt");
        assert_eq!(
            verify_line(&per_entry, line, &ed_verifier(&vk)),
            Err(ReceiptError::BadSignature)
        );
        // An HMAC verifier refuses the batch form.
        let ring = KeyRing::new();
        assert_eq!(
            verify_line(&good, line, &Verifier::Hmac(&ring)),
            Err(ReceiptError::AlgMismatch {
                receipt: "ed25519-batch",
                verifier: "hmac-sha256",
            })
        );
    }

    #[test]
    fn batch_header_parsing_is_strict() {
        let sig = "ab".repeat(64);
        let h = "cd".repeat(32);
        let ok = format!(
            "signet=v1; alg=ed25519-batch; entry=e-1; key=k1; seq=7; size=2; index=1; path={h}; sig={sig}"
        );
        let r = Receipt::parse(&ok).expect("parses");
        assert_eq!(r.to_string(), ok);
        let one = format!(
            "signet=v1; alg=ed25519-batch; entry=e-1; key=k1; seq=0; size=1; index=0; path=-; sig={sig}"
        );
        assert_eq!(Receipt::parse(&one).expect("parses").to_string(), one);
        let per_entry = format!("signet=v1; alg=ed25519; entry=e-1; key=k1; sig={sig}");
        let cases: Vec<(String, ReceiptError)> = vec![
            (ok.replace("; seq=7", ""), ReceiptError::MissingParam("seq")),
            (
                ok.replace("; path=", "; x="),
                ReceiptError::UnknownParam("x".into()),
            ),
            (
                ok.replace(&format!("path={h}"), "path="),
                ReceiptError::Malformed,
            ),
            (
                ok.replace("seq=7", "seq=07"),
                ReceiptError::BadBatchParam("seq"),
            ),
            (
                ok.replace("seq=7", "seq=+7"),
                ReceiptError::BadBatchParam("seq"),
            ),
            (
                ok.replace("size=2", "size=x"),
                ReceiptError::BadBatchParam("size"),
            ),
            (
                ok.replace("index=1", "index=2"),
                ReceiptError::BadBatchParam("index"),
            ),
            (
                ok.replace(&h, &h[..62]),
                ReceiptError::BadBatchParam("path"),
            ),
            (
                ok.replace(&h, &h.to_uppercase()),
                ReceiptError::BadBatchParam("path"),
            ),
            (format!("{ok}; seq=8"), ReceiptError::DuplicateParam("seq")),
            (
                format!("{per_entry}; seq=1"),
                ReceiptError::UnknownParam("seq".into()),
            ),
            (
                ok.replace(&sig, &sig[..64]),
                ReceiptError::SigLength {
                    alg: "ed25519-batch",
                    expected: 64,
                    got: 32,
                },
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
