//! DSSE v1 envelopes and the standalone receipt: an in-toto Statement v1 about one entry.
//!
//! Guarantees:
//! - Signatures are Ed25519 over `PAE(payloadType, payload)` ([`pae`]), so the payload
//!   type is authenticated along with the payload. [`verify_envelope`] uses
//!   `verify_strict` (no malleable or small-order signatures) and accepts when any listed
//!   key verifies any signature; a key and a signature are only paired when their key
//!   ids agree or one of them has none (`keyid` is an unauthenticated hint).
//! - [`Envelope::from_json`] is strict and never panics: exactly the DSSE members
//!   (`payload`, `payloadType`, `signatures`, and `keyid`/`sig` per signature; an absent
//!   `keyid` is read as `""`), no duplicate keys, no trailing data, padded standard or
//!   URL-safe base64, 1 to [`MAX_SIGNATURES`] signatures, at most [`MAX_ENVELOPE_LEN`]
//!   bytes. Unknown members are rejected on purpose, although DSSE says to ignore them:
//!   a receipt has one shape. [`Envelope::to_json`] writes canonical JSON with standard
//!   padded base64, which `securesystemslib` reads.
//! - [`ReceiptStatement::parse`] accepts only our statement: `_type` in-toto v1, exactly
//!   one subject named `signet-entry:<entry_id>` of the embedded line, whose `sha256` is
//!   the digest of the line's exact bytes (no `\n`), the receipt predicate type, a
//!   predicate with exactly the known fields, and a line that parses as an audit entry.
//! - No error message carries key material or a signature.
//!
//! Not checked here (the caller's hooks, with the merkle, note and tsp modules): the
//! `checkpoint` signature under the log key, the `tlog_proof` of the entry's leaf
//! (`SHA-256(0x00 || entry)`, index = the entry's `_seq`) against that checkpoint, and
//! the `rfc3161_token` over `SHA-256(checkpoint bytes)`. [`open_receipt`] only proves
//! that a receipt key vouched for these fields.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ed25519_dalek::{Signature as EdSignature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::log::json::{self, Map, Value};
use crate::log::line::{LineError, LineView};
use crate::util::to_hex;

/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of a signet receipt.
pub const PREDICATE_TYPE: &str = "https://signet-gateway.dev/receipt/v1";
/// Prefix of the subject name; the entry id follows.
pub const SUBJECT_PREFIX: &str = "signet-entry:";
/// Longest envelope JSON accepted (an audit line may be 16 MiB before encoding).
pub const MAX_ENVELOPE_LEN: usize = 64 << 20;
/// Most signatures an envelope may carry.
pub const MAX_SIGNATURES: usize = 16;

/// Why an envelope or statement is not acceptable. `Missing` and `Unexpected` hold
/// `(object, field)`; an unexpected field's name is cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    #[error("envelope is longer than {MAX_ENVELOPE_LEN} bytes")]
    TooLong,
    #[error("not valid JSON: {0}")]
    Json(#[from] json::ParseError),
    #[error("{0} is missing field {1}")]
    Missing(&'static str, &'static str),
    #[error("{0} has unexpected field {1}")]
    Unexpected(&'static str, String),
    #[error("{0} has the wrong type or form")]
    Type(&'static str),
    #[error("{0} is not valid base64")]
    Base64(&'static str),
    #[error("envelope has no signatures")]
    NoSignatures,
    #[error("envelope has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("no verification key was given")]
    NoKeys,
    #[error("no signature verifies under the given keys")]
    BadSignature,
    #[error("payload type is not {PAYLOAD_TYPE_IN_TOTO}")]
    PayloadType,
    #[error("statement is not a signet receipt: {0}")]
    Statement(&'static str),
    #[error("subject digest does not match the entry line")]
    DigestMismatch,
    #[error("subject name does not match the entry's entry_id")]
    EntryIdMismatch,
    #[error("receipt_key_id does not match the key that verified the receipt")]
    KeyIdMismatch,
    #[error("entry is not a valid audit line: {0}")]
    Line(#[from] LineError),
}

/// One DSSE signature; `keyid` is `""` when absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub keyid: String,
    pub sig: Vec<u8>,
}

/// A DSSE envelope. Fields are open so tests can tamper; verification checks them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub payload: Vec<u8>,
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let (type_len, body_len) = (payload_type.len(), body.len());
    let mut out = format!("DSSEv1 {type_len} {payload_type} {body_len} ").into_bytes();
    out.extend_from_slice(body);
    out
}

/// An envelope over `body` with one Ed25519 signature by `key`.
pub fn sign_envelope(payload_type: &str, body: &[u8], key_id: &str, key: &SigningKey) -> Envelope {
    let sig = key.sign(&pae(payload_type, body));
    Envelope {
        payload: body.to_vec(),
        payload_type: payload_type.to_owned(),
        signatures: vec![Signature {
            keyid: key_id.to_owned(),
            sig: sig.to_bytes().to_vec(),
        }],
    }
}

/// The payload, when a key in `keys` (`(key id or "", key)`) verifies a signature.
pub fn verify_envelope(
    env: &Envelope,
    keys: &[(&str, &VerifyingKey)],
) -> Result<Vec<u8>, DsseError> {
    verify_index(env, keys).map(|_| env.payload.clone())
}

/// Index in `keys` of the first key that verifies a signature of `env`.
fn verify_index(env: &Envelope, keys: &[(&str, &VerifyingKey)]) -> Result<usize, DsseError> {
    if env.signatures.is_empty() {
        return Err(DsseError::NoSignatures);
    }
    if keys.is_empty() {
        return Err(DsseError::NoKeys);
    }
    let msg = pae(&env.payload_type, &env.payload);
    for s in &env.signatures {
        let Ok(sig) = EdSignature::from_slice(&s.sig) else {
            continue;
        };
        for (i, (id, key)) in keys.iter().enumerate() {
            let paired = id.is_empty() || s.keyid.is_empty() || *id == s.keyid;
            if paired && key.verify_strict(&msg, &sig).is_ok() {
                return Ok(i);
            }
        }
    }
    Err(DsseError::BadSignature)
}

impl Envelope {
    /// Canonical JSON of the envelope (standard padded base64, `keyid` always written).
    pub fn to_json(&self) -> Vec<u8> {
        let sigs = self.signatures.iter().map(|s| {
            obj([
                ("keyid", s.keyid.as_str().into()),
                ("sig", STANDARD.encode(&s.sig).into()),
            ])
        });
        canonical(obj([
            ("payload", STANDARD.encode(&self.payload).into()),
            ("payloadType", self.payload_type.as_str().into()),
            ("signatures", Value::Array(sigs.collect())),
        ]))
    }

    /// Parses envelope JSON strictly (see the module docs).
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, DsseError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(DsseError::TooLong);
        }
        let (v, _) = json::parse(bytes)?;
        let all = ["payload", "payloadType", "signatures"];
        let m = object(Some(&v), "envelope", &all, &[])?;
        let Some(Value::Array(list)) = m.get("signatures") else {
            return Err(DsseError::Type("signatures"));
        };
        if list.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        if list.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures);
        }
        let mut signatures = Vec::with_capacity(list.len());
        for s in list {
            let s = object(Some(s), "signature", &["sig"], &["keyid"])?;
            signatures.push(Signature {
                keyid: opt_str(s, "keyid")?.unwrap_or_default().to_owned(),
                sig: b64_decode(req_str(s, "sig")?, "sig")?,
            });
        }
        Ok(Envelope {
            payload: b64_decode(req_str(m, "payload")?, "payload")?,
            payload_type: req_str(m, "payloadType")?.to_owned(),
            signatures,
        })
    }
}

/// What a standalone receipt states about one entry (the predicate, plus the entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptStatement {
    /// The exact log line, without `\n`.
    pub entry_line: String,
    /// The log's origin (as in its checkpoints).
    pub origin: String,
    /// Signed note text of a checkpoint covering the entry, once there is one.
    pub checkpoint: Option<String>,
    /// C2SP `tlog-proof@v1` text proving the entry against `checkpoint`.
    pub tlog_proof: Option<String>,
    /// The TSA's original bytes for `checkpoint`'s RFC 3161 timestamp.
    pub rfc3161_token: Option<Vec<u8>>,
    /// Id of the receipt key that signs the envelope.
    pub receipt_key_id: String,
}

const PREDICATE_REQUIRED: [&str; 3] = ["entry", "log_origin", "receipt_key_id"];
const PREDICATE_OPTIONAL: [&str; 3] = ["checkpoint", "tlog_proof", "rfc3161_token"];

impl ReceiptStatement {
    /// The entry line, parsed (its `entry_id`, `_seq` for the proof's index, ...).
    pub fn entry_view(&self) -> Result<LineView, DsseError> {
        if self.entry_line.contains(['\n', '\r']) {
            return Err(DsseError::Statement("entry line contains a line break"));
        }
        Ok(LineView::parse(self.entry_line.as_bytes())?)
    }

    /// SHA-256 of the entry line's bytes (the subject digest).
    pub fn entry_digest(&self) -> [u8; 32] {
        Sha256::digest(self.entry_line.as_bytes()).into()
    }

    /// The statement as canonical JSON; fails when the entry line is not an entry.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, DsseError> {
        let view = self.check()?;
        let sha256 = to_hex(&self.entry_digest());
        let subject = obj([
            ("digest", obj([("sha256", sha256.into())])),
            ("name", format!("{SUBJECT_PREFIX}{}", view.entry_id).into()),
        ]);
        let token = self.rfc3161_token.as_ref().map(|t| STANDARD.encode(t));
        let mut predicate = Map::new();
        for (k, v) in [
            ("entry", Some(&self.entry_line)),
            ("log_origin", Some(&self.origin)),
            ("receipt_key_id", Some(&self.receipt_key_id)),
            ("checkpoint", self.checkpoint.as_ref()),
            ("tlog_proof", self.tlog_proof.as_ref()),
            ("rfc3161_token", token.as_ref()),
        ] {
            if let Some(v) = v {
                predicate.insert(k.to_owned(), v.as_str().into());
            }
        }
        Ok(canonical(obj([
            ("_type", STATEMENT_TYPE.into()),
            ("subject", Value::Array(vec![subject])),
            ("predicateType", PREDICATE_TYPE.into()),
            ("predicate", Value::Object(predicate)),
        ])))
    }

    /// Parses a statement payload and checks its subject against the embedded entry.
    pub fn parse(payload: &[u8]) -> Result<ReceiptStatement, DsseError> {
        let (v, _) = json::parse(payload)?;
        let all = ["_type", "subject", "predicateType", "predicate"];
        let m = object(Some(&v), "statement", &all, &[])?;
        if req_str(m, "_type")? != STATEMENT_TYPE {
            return Err(DsseError::Statement("_type is not in-toto Statement v1"));
        }
        if req_str(m, "predicateType")? != PREDICATE_TYPE {
            return Err(DsseError::Statement("unknown predicateType"));
        }
        let subject = match m.get("subject") {
            Some(Value::Array(list)) if list.len() == 1 => &list[0],
            _ => return Err(DsseError::Statement("subject must hold exactly one item")),
        };
        let subject = object(Some(subject), "subject", &["name", "digest"], &[])?;
        let digest = object(subject.get("digest"), "digest", &["sha256"], &[])?;
        let p = m.get("predicate");
        let p = object(p, "predicate", &PREDICATE_REQUIRED, &PREDICATE_OPTIONAL)?;
        let stmt = ReceiptStatement {
            entry_line: req_str(p, "entry")?.to_owned(),
            origin: req_str(p, "log_origin")?.to_owned(),
            checkpoint: opt_str(p, "checkpoint")?.map(str::to_owned),
            tlog_proof: opt_str(p, "tlog_proof")?.map(str::to_owned),
            rfc3161_token: match opt_str(p, "rfc3161_token")? {
                Some(t) => Some(b64_decode(t, "rfc3161_token")?),
                None => None,
            },
            receipt_key_id: req_str(p, "receipt_key_id")?.to_owned(),
        };
        let view = stmt.check()?;
        if req_str(digest, "sha256")? != to_hex(&stmt.entry_digest()) {
            return Err(DsseError::DigestMismatch);
        }
        let name = req_str(subject, "name")?;
        if name.strip_prefix(SUBJECT_PREFIX) != Some(view.entry_id.as_str()) {
            return Err(DsseError::EntryIdMismatch);
        }
        Ok(stmt)
    }

    /// Shape rules shared by writing and reading; returns the parsed entry.
    fn check(&self) -> Result<LineView, DsseError> {
        let view = self.entry_view()?;
        if self.origin.is_empty() || self.receipt_key_id.is_empty() {
            return Err(DsseError::Statement("empty log_origin or receipt_key_id"));
        }
        if self.checkpoint.is_none() && (self.tlog_proof.is_some() || self.rfc3161_token.is_some())
        {
            return Err(DsseError::Statement(
                "a proof or token without a checkpoint",
            ));
        }
        Ok(view)
    }
}

/// Signs `stmt` as an in-toto DSSE envelope with the receipt key.
pub fn make_receipt(
    stmt: &ReceiptStatement,
    key_id: &str,
    key: &SigningKey,
) -> Result<Envelope, DsseError> {
    let body = stmt.to_json_bytes()?;
    Ok(sign_envelope(PAYLOAD_TYPE_IN_TOTO, &body, key_id, key))
}

/// Verifies a receipt's signature and statement. A key listed with an id must carry the
/// statement's `receipt_key_id`. The checkpoint, proof and token are left to the caller.
pub fn open_receipt(
    env: &Envelope,
    receipt_keys: &[(&str, &VerifyingKey)],
) -> Result<ReceiptStatement, DsseError> {
    let i = verify_index(env, receipt_keys)?;
    if env.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(DsseError::PayloadType);
    }
    let stmt = ReceiptStatement::parse(&env.payload)?;
    let id = receipt_keys.get(i).map_or("", |(id, _)| *id);
    if !id.is_empty() && id != stmt.receipt_key_id {
        return Err(DsseError::KeyIdMismatch);
    }
    Ok(stmt)
}

fn obj<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(members.map(|(k, v)| (k.to_owned(), v)).into())
}

fn canonical(v: Value) -> Vec<u8> {
    let mut out = Vec::new();
    json::write_canonical(&v, &mut out);
    out
}

/// `v` as an object with all of `required`, and no members outside `required`/`optional`.
fn object<'a>(
    v: Option<&'a Value>,
    object: &'static str,
    required: &[&'static str],
    optional: &[&'static str],
) -> Result<&'a Map, DsseError> {
    let m = v.and_then(Value::as_object);
    let m = m.ok_or(DsseError::Type(object))?;
    let known = |k: &str| required.contains(&k) || optional.contains(&k);
    if let Some(k) = m.keys().find(|k| !known(k)) {
        let name = k.chars().take(64).collect();
        return Err(DsseError::Unexpected(object, name));
    }
    match required.iter().find(|n| !m.contains_key(**n)) {
        Some(name) => Err(DsseError::Missing(object, name)),
        None => Ok(m),
    }
}

fn opt_str<'a>(m: &'a Map, name: &'static str) -> Result<Option<&'a str>, DsseError> {
    match m.get(name) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or(DsseError::Type(name)),
    }
}

fn req_str<'a>(m: &'a Map, name: &'static str) -> Result<&'a str, DsseError> {
    opt_str(m, name)?.ok_or(DsseError::Type(name))
}

/// Padded standard base64, or padded URL-safe (DSSE allows both); canonical bits only.
fn b64_decode(s: &str, field: &'static str) -> Result<Vec<u8>, DsseError> {
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|_| DsseError::Base64(field))
}
