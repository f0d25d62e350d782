//! C2SP tlog-checkpoint note texts and c2sp.org/tlog-proof@v1 inclusion proofs.
//!
//! Guarantees:
//! - [`Checkpoint::to_text`] writes `origin\nsize\nbase64(root)\n` then one line per
//!   extension; [`Checkpoint::parse`] accepts exactly that: at least three non-empty
//!   lines without control characters, the size in decimal without leading zeros
//!   (`0` alone for the empty tree) and fitting `u64`, the root canonical base64 of 32
//!   bytes. Both directions refuse what the other would not round-trip.
//! - [`open_checkpoint`] returns a checkpoint only if the log key signed it and its
//!   origin is the key's name.
//! - [`format_tlog_proof`] writes `c2sp.org/tlog-proof@v1\nindex N\n`, one base64 hash
//!   per line, a blank line, then the signed checkpoint verbatim; [`parse_tlog_proof`]
//!   also accepts the optional `extra <base64>` line, at most 64 proof hashes, and
//!   [`TlogProof::verify`] checks the note, then the inclusion of the leaf.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;

use super::{NoteError, Verifier, sign_note, verify_note};
use crate::transparency::merkle::{Hash, verify_inclusion};

/// First line of every tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most hashes in an inclusion proof (trees have fewer than 2^64 leaves).
const MAX_PROOF_HASHES: usize = 64;

/// A log's signed tree head, as the text of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Optional opaque extension lines (non-empty each); usually none.
    pub extensions: Vec<String>,
}

fn valid_line(s: &str) -> bool {
    !s.is_empty() && !s.bytes().any(|b| b < 0x20)
}

/// Decimal without sign or leading zeros (`0` alone is fine).
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn parse_hash(s: &str) -> Option<Hash> {
    Hash::try_from(STANDARD.decode(s).ok()?.as_slice()).ok()
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text; refuses an empty origin or extension, or one with a control
    /// character (a newline would frame a different checkpoint).
    pub fn to_text(&self) -> Result<String, NoteError> {
        if !valid_line(&self.origin) {
            return Err(NoteError::BadCheckpoint(
                "origin must be one non-empty line",
            ));
        }
        if !self.extensions.iter().all(|e| valid_line(e)) {
            return Err(NoteError::BadCheckpoint(
                "extension must be one non-empty line",
            ));
        }
        let mut t = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            t.push_str(e);
            t.push('\n');
        }
        Ok(t)
    }

    /// Parses a checkpoint note text (the text only, not the signatures).
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = NoteError::BadCheckpoint;
        let body = text
            .strip_suffix('\n')
            .ok_or(bad("text must end with a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(bad("fewer than three lines"));
        };
        if !valid_line(origin) {
            return Err(bad("origin must be non-empty"));
        }
        let size = parse_decimal(size).ok_or(bad("size must be decimal without leading zeros"))?;
        let root = parse_hash(root).ok_or(bad("root must be base64 of 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if !extensions.iter().all(|e| valid_line(e)) {
            return Err(bad("extension lines must be non-empty"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Signs `cp` with the log key, under the checkpoint's origin as key name.
pub fn sign_checkpoint(cp: &Checkpoint, key: &SigningKey) -> Result<String, NoteError> {
    sign_note(&cp.to_text()?, &cp.origin, key)
}

/// Verifies a signed checkpoint with the log key and parses it.
pub fn open_checkpoint(note: &str, log_key: &Verifier) -> Result<Checkpoint, NoteError> {
    let verified = verify_note(note, std::slice::from_ref(log_key))?;
    let cp = Checkpoint::parse(&verified.text)?;
    if cp.origin != log_key.name() {
        return Err(NoteError::OriginMismatch {
            origin: cp.origin,
            key: log_key.name().to_owned(),
        });
    }
    Ok(cp)
}

/// A parsed c2sp.org/tlog-proof@v1 (nothing verified until [`TlogProof::verify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof text.
    pub fn to_text(&self) -> String {
        let mut t = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            t.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        t.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            t.push_str(&STANDARD.encode(h));
            t.push('\n');
        }
        t.push('\n');
        t.push_str(&self.checkpoint);
        t
    }

    /// Checks the checkpoint's signature with the log key, then that `leaf` (its
    /// RFC 6962 leaf hash) is entry `index` of the checkpointed tree.
    pub fn verify(&self, leaf: &Hash, log_key: &Verifier) -> Result<Checkpoint, NoteError> {
        let cp = open_checkpoint(&self.checkpoint, log_key)?;
        verify_inclusion(&self.proof, self.index, cp.size, leaf, &cp.root)?;
        Ok(cp)
    }
}

/// The proof text for entry `index`, its inclusion proof and a signed checkpoint.
pub fn format_tlog_proof(index: u64, proof: &[Hash], signed_checkpoint: &str) -> String {
    TlogProof {
        extra: None,
        index,
        proof: proof.to_vec(),
        checkpoint: signed_checkpoint.to_owned(),
    }
    .to_text()
}

/// Parses a tlog-proof text; the checkpoint is kept verbatim and not yet verified.
pub fn parse_tlog_proof(text: &str) -> Result<TlogProof, NoteError> {
    let bad = NoteError::BadTlogProof;
    if text.len() > super::MAX_NOTE_LEN + 64 * 46 + 4096 {
        return Err(bad("too large"));
    }
    let mut rest = text
        .strip_prefix(TLOG_PROOF_HEADER)
        .and_then(|r| r.strip_prefix('\n'))
        .ok_or(bad("missing c2sp.org/tlog-proof@v1 header"))?;
    let mut next_line = |what: &'static str| -> Result<&str, NoteError> {
        let (line, after) = rest.split_once('\n').ok_or(bad(what))?;
        rest = after;
        Ok(line)
    };
    let mut line = next_line("missing index line")?;
    let mut extra = None;
    if let Some(b64) = line.strip_prefix("extra ") {
        extra = Some(
            STANDARD
                .decode(b64)
                .map_err(|_| bad("extra is not base64"))?,
        );
        line = next_line("missing index line")?;
    }
    let index = line
        .strip_prefix("index ")
        .and_then(parse_decimal)
        .ok_or(bad("index line must be `index N`"))?;
    let mut proof = Vec::new();
    loop {
        let line = next_line("missing blank line before the checkpoint")?;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_HASHES {
            return Err(bad("too many proof hashes"));
        }
        proof.push(parse_hash(line).ok_or(bad("proof line is not base64 of 32 bytes"))?);
    }
    if rest.is_empty() {
        return Err(bad("missing checkpoint"));
    }
    Ok(TlogProof {
        extra,
        index,
        proof,
        checkpoint: rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_text_round_trip_and_refusals() {
        let mut cp = Checkpoint::new("example.com/log", 10, [7; 32]);
        cp.extensions.push("ext line".into());
        let text = cp.to_text().expect("text");
        assert_eq!(Checkpoint::parse(&text).expect("parse"), cp);
        let good = "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        assert_eq!(Checkpoint::parse(good).expect("empty tree").size, 0);
        for bad in [
            "o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n+1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n18446744073709551616\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n",
            "o\n1\nAAAA\n",
            "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "o\n1\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
        cp.origin = "evil\n999".into();
        assert!(cp.to_text().is_err());
    }

    #[test]
    fn tlog_proof_round_trip_and_refusals() {
        let p = TlogProof {
            extra: Some(b"ctx".to_vec()),
            index: 3,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: "o\n4\nAQ==\n\n\u{2014} o AAAAAAA=\n".into(),
        };
        assert_eq!(parse_tlog_proof(&p.to_text()).expect("parse"), p);
        let text = format_tlog_proof(3, &p.proof, &p.checkpoint);
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 3\nAQEB"));
        for bad in [
            text.replace("tlog-proof@v1", "tlog-proof@v2"),
            text.replace("index 3", "index 03"),
            text.replace("index 3", "idx 3"),
            text.replacen("AQEB", "AQE", 1),
            text.split("\n\n").next().unwrap_or_default().to_owned(),
            format!("{}\n\n", text.split("\n\n").next().unwrap_or_default()),
        ] {
            assert!(parse_tlog_proof(&bad).is_err(), "{bad:?}");
        }
    }
}
