//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and the
//! checkpoint and tlog-proof formats built on them ([`checkpoint`]).
//!
//! Guarantees:
//! - Key ID = first 4 bytes (big-endian) of `SHA-256(name || 0x0A || 0x01 || pub32)`;
//!   verifier keys are `<name>+<8 hex key ID>+<base64(0x01 || pub32)>`, and
//!   [`parse_vkey`] rejects any key whose ID does not match its name and key.
//! - [`sign_note`] writes `text || "\n" || "— " name " " base64(keyID || sig) "\n"`
//!   (U+2014 then a space); Ed25519 is deterministic, so equal inputs give equal bytes.
//! - [`verify_note`] accepts a note only when it is at most [`MAX_NOTE_LEN`] bytes of
//!   UTF-8 without control characters other than `\n`, its text ends with `\n`, the
//!   text is separated from at most [`MAX_SIGNATURES`] well-formed, non-empty
//!   signature lines by the last blank line, every signature by a known key (same name
//!   *and* ID) verifies (strict Ed25519), no known key signs twice, and at least one
//!   known key signed. Signatures by unknown keys (e.g. witness cosignatures) are
//!   returned unverified, never trusted.
//!
//! Assumes callers trust a note's text only through [`verify_note`]'s result.

pub mod checkpoint;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

pub use checkpoint::{
    Checkpoint, TLOG_PROOF_HEADER, TlogProof, format_tlog_proof, open_checkpoint, parse_tlog_proof,
    sign_checkpoint,
};

/// Most signature lines accepted in one note.
pub const MAX_SIGNATURES: usize = 100;
/// Largest note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 64 * 1024;
/// Signature type byte of plain Ed25519 note signatures.
const ALG_ED25519: u8 = 0x01;
/// Every signature line starts with an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, key, checkpoint or proof is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("note is larger than {MAX_NOTE_LEN} bytes")]
    TooLarge,
    #[error("note contains a control character other than newline")]
    ControlChar,
    #[error("note text must be non-empty and end with a newline")]
    BadText,
    #[error("note has no blank line before its signatures")]
    NoSignatures,
    #[error("malformed signature line {0}")]
    BadSignatureLine(usize),
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("key name must be non-empty, without spaces or '+'")]
    BadName,
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(&'static str),
    #[error("signature by {name} does not verify")]
    BadSignature { name: String },
    #[error("more than one signature by {name}")]
    DuplicateSignature { name: String },
    #[error("no signature by a known key")]
    NoKnownSignature,
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
    #[error("checkpoint origin {origin:?} is not the log key name {key:?}")]
    OriginMismatch { origin: String, key: String },
    #[error("malformed tlog-proof: {0}")]
    BadTlogProof(&'static str),
    #[error("inclusion proof: {0}")]
    Proof(#[from] crate::transparency::merkle::ProofError),
}

/// A known Ed25519 note key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// A verifier for `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Verifier, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName);
        }
        Ok(Verifier {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
    /// The verifier key text, `<name>+<hex id>+<base64(0x01 || pub)>`.
    pub fn to_vkey(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(k))
    }
}

/// Key names are non-empty and contain neither Unicode spaces nor `+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// The Ed25519 key ID of `key` under `name`.
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The verifier key text of `key` under `name`.
pub fn vkey(name: &str, key: &VerifyingKey) -> Result<String, NoteError> {
    Ok(Verifier::new(name, *key)?.to_vkey())
}

/// Parses a verifier key text, checking that its key ID matches.
pub fn parse_vkey(text: &str) -> Result<Verifier, NoteError> {
    let bad = NoteError::BadVerifierKey;
    // The name cannot contain '+', the key ID is hex: split at the first two '+' only,
    // since the base64 key itself may contain '+'.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+id+key"));
    };
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("key ID must be 8 hex digits"));
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| bad("key ID must be 8 hex digits"))?;
    let key = STANDARD.decode(key).map_err(|_| bad("key is not base64"))?;
    let Some((&ALG_ED25519, pub32)) = key.split_first() else {
        return Err(bad("not an Ed25519 key (type 0x01)"));
    };
    let pub32 = <[u8; 32]>::try_from(pub32).map_err(|_| bad("Ed25519 key must be 32 bytes"))?;
    let key = VerifyingKey::from_bytes(&pub32).map_err(|_| bad("invalid Ed25519 key"))?;
    let v = Verifier::new(name, key)?;
    if v.key_id != id {
        return Err(bad("key ID does not match name and key"));
    }
    Ok(v)
}

/// Checks size and characters of note bytes (text or whole note).
fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge);
    }
    if s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlChar);
    }
    Ok(())
}

/// Signs `text` (non-empty, ending in `\n`) with `key` under `name`.
pub fn sign_note(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_chars(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    let v = Verifier::new(name, key.verifying_key())?;
    let mut sig = v.key_id.to_be_bytes().to_vec();
    sig.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    Ok(format!(
        "{text}\n{SIG_PREFIX}{name} {}\n",
        STANDARD.encode(sig)
    ))
}

/// One signature line, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    pub name: String,
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub sig: Vec<u8>,
}

/// A note split into text and signature lines. Nothing here is verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedNote<'a> {
    pub text: &'a str,
    pub signatures: Vec<SignatureLine>,
}

/// Splits a note at its last blank line and parses the signature lines (no checks
/// of the signatures themselves: use [`verify_note`] before trusting the text).
pub fn parse_note(note: &str) -> Result<ParsedNote<'_>, NoteError> {
    check_chars(note)?;
    let at = note.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    let body = sigs.strip_suffix('\n').ok_or(NoteError::NoSignatures)?;
    let mut signatures = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let parsed = line
            .strip_prefix(SIG_PREFIX)
            .and_then(|rest| rest.split_once(' '))
            .filter(|(name, _)| valid_name(name))
            .and_then(|(name, b64)| Some((name, STANDARD.decode(b64).ok()?)))
            .filter(|(_, raw)| raw.len() > 4);
        let Some((name, raw)) = parsed else {
            return Err(NoteError::BadSignatureLine(i + 1));
        };
        signatures.push(SignatureLine {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            sig: raw[4..].to_vec(),
        });
    }
    Ok(ParsedNote { text, signatures })
}

/// A note whose text at least one known key signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    pub text: String,
    /// Names of the known keys whose signatures verified.
    pub verified_by: Vec<String>,
    /// Signatures by keys not in the verifier list (not checked, not trusted).
    pub unknown: Vec<SignatureLine>,
}

/// Verifies `note` against the known keys `verifiers`.
pub fn verify_note(note: &str, verifiers: &[Verifier]) -> Result<VerifiedNote, NoteError> {
    let parsed = parse_note(note)?;
    let mut verified_by: Vec<String> = Vec::new();
    let mut seen: Vec<(&str, u32)> = Vec::new();
    let mut unknown = Vec::new();
    for s in parsed.signatures {
        let Some(v) = verifiers
            .iter()
            .find(|v| v.name == s.name && v.key_id == s.key_id)
        else {
            unknown.push(s);
            continue;
        };
        if seen.contains(&(v.name.as_str(), v.key_id)) {
            return Err(NoteError::DuplicateSignature { name: s.name });
        }
        seen.push((v.name.as_str(), v.key_id));
        let ok = Signature::from_slice(&s.sig)
            .is_ok_and(|sig| v.key.verify_strict(parsed.text.as_bytes(), &sig).is_ok());
        if !ok {
            return Err(NoteError::BadSignature { name: s.name });
        }
        verified_by.push(s.name);
    }
    if verified_by.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(VerifiedNote {
        text: parsed.text.to_owned(),
        verified_by,
        unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_verify_round_trip_and_vkey() {
        let k = key(1);
        let v =
            parse_vkey(&vkey("log.example/a", &k.verifying_key()).expect("vkey")).expect("parse");
        assert_eq!(
            v,
            Verifier::new("log.example/a", k.verifying_key()).expect("verifier")
        );
        let note = sign_note("hello\n\nworld\n", "log.example/a", &k).expect("sign");
        let ok = verify_note(&note, std::slice::from_ref(&v)).expect("verify");
        assert_eq!(ok.text, "hello\n\nworld\n");
        assert_eq!(ok.verified_by, ["log.example/a"]);
        let vk = v.to_vkey();
        for bad in [
            vk.replacen('+', " +", 1),
            vk.replace("log.example/a", "log.example/b"),
            format!("{vk}+x"),
            vk[..vk.len() - 4].to_owned(),
        ] {
            assert!(parse_vkey(&bad).is_err(), "{bad}");
        }
        assert_eq!(sign_note("no newline", "n", &k), Err(NoteError::BadText));
        assert_eq!(sign_note("a\n", "has space", &k), Err(NoteError::BadName));
        assert_eq!(sign_note("a\tb\n", "n", &k), Err(NoteError::ControlChar));
    }

    #[test]
    fn tampered_notes_are_refused() {
        let (k, other) = (key(2), key(3));
        let v = Verifier::new("log", k.verifying_key()).expect("v");
        let vs = std::slice::from_ref(&v);
        let note = sign_note("a\nb\n", "log", &k).expect("sign");
        let sig_line = note.lines().last().expect("line").to_owned();
        let foreign = sign_note("a\nb\n", "witness", &other).expect("sign");
        let foreign_line = foreign.lines().last().expect("line");
        // An unknown key's signature is ignored, not trusted.
        let cosigned = format!("{note}{foreign_line}\n");
        let ok = verify_note(&cosigned, vs).expect("cosigned");
        assert_eq!((ok.verified_by.len(), ok.unknown.len()), (1, 1));
        let cases: Vec<(&str, String, NoteError)> = vec![
            (
                "text changed",
                note.replace("a\nb", "a\nc"),
                NoteError::BadSignature { name: "log".into() },
            ),
            ("only unknown", foreign.clone(), NoteError::NoKnownSignature),
            (
                "duplicate",
                format!("{note}{sig_line}\n"),
                NoteError::DuplicateSignature { name: "log".into() },
            ),
            (
                "empty sig line",
                format!("{note}\n"),
                NoteError::NoSignatures,
            ),
            (
                "no final newline",
                note.trim_end().to_owned(),
                NoteError::NoSignatures,
            ),
            (
                "no dash",
                note.replace('\u{2014}', "-"),
                NoteError::BadSignatureLine(1),
            ),
            (
                "short sig",
                "a\n\n\u{2014} log AAAA\n".into(),
                NoteError::BadSignatureLine(1),
            ),
            (
                "control char",
                note.replace('a', "\r"),
                NoteError::ControlChar,
            ),
            (
                "no blank line",
                sig_line.clone() + "\n",
                NoteError::NoSignatures,
            ),
            (
                "too many",
                format!("{note}{}", format!("{foreign_line}\n").repeat(100)),
                NoteError::TooManySignatures,
            ),
        ];
        for (label, bad, want) in cases {
            assert_eq!(verify_note(&bad, vs).err(), Some(want), "{label}");
        }
    }
}
