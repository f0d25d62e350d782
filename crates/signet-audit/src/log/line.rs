//! Reading one audit line (the read side of the format).
//!
//! Guarantees:
//! - [`LineView::parse`] accepts only a JSON object with exactly the signet 0.1
//!   top-level fields, each of the right type, no duplicates, no trailing data; it never
//!   panics on any input.
//! - The MAC payload is taken from the **exact bytes** of the line, with the top-level
//!   `hmac` member cut out ([`LineView::payload_parts`]); nothing is re-serialised.
//! - Floats in metadata (as Python's signet writes them) are accepted as-is.

use std::ops::Range;

use crate::log::json::{self, Map, Value};

/// Longest audit line (without its `\n`) any reader accepts: the verifier, the
/// journal's tail reader and the tree file's recovery.
pub const MAX_LINE: usize = 16 << 20;

/// The signet 0.1 top-level fields, in canonical order.
pub const FIELDS: [&str; 12] = [
    "approval_chain",
    "check_name",
    "decision",
    "entry_id",
    "hmac",
    "metadata",
    "owner_id",
    "owner_type",
    "prev_hmac",
    "reason",
    "request_fingerprint",
    "ts_ns",
];

/// Why a line is not a well-formed entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("not valid JSON: {0}")]
    Json(#[from] json::ParseError),
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("unexpected field {0}")]
    Unexpected(String),
    #[error("field {0} has the wrong type or form")]
    Type(&'static str),
}

/// The parts of a line that verification needs, with spans into the line bytes.
#[derive(Debug, Clone)]
pub struct LineView {
    pub entry_id: String,
    pub hmac: String,
    pub prev_hmac: String,
    /// `metadata._signing_key_id`, if present.
    pub key_id: Option<String>,
    /// `metadata._seq`, if present.
    pub seq: Option<u64>,
    pub ts_ns: u64,
    /// Whether the line is byte-for-byte canonical.
    pub canonical: bool,
    /// Bytes to cut out to get the MAC payload.
    cut: Range<usize>,
}

fn string_at(body: &[u8], span: &Range<usize>, name: &'static str) -> Result<String, LineError> {
    if body.get(span.start) != Some(&b'"') {
        return Err(LineError::Type(name));
    }
    Ok(json::parse_string(&body[span.clone()])?)
}

impl LineView {
    /// Parses `body` (a line without its `\n`).
    pub fn parse(body: &[u8]) -> Result<LineView, LineError> {
        let scan = json::scan_object_nested(body, "metadata")?;
        for (k, _, _) in &scan.members {
            if !FIELDS.iter().any(|f| f.as_bytes() == k.as_ref()) {
                return Err(LineError::Unexpected(truncate(&String::from_utf8_lossy(k))));
            }
        }
        let get = |name: &'static str| scan.get(name).ok_or(LineError::Missing(name));
        for name in FIELDS {
            get(name)?;
        }
        let hmac = string_at(body, &get("hmac")?, "hmac")?;
        let prev_hmac = string_at(body, &get("prev_hmac")?, "prev_hmac")?;
        let entry_id = string_at(body, &get("entry_id")?, "entry_id")?;
        for name in [
            "check_name",
            "decision",
            "owner_id",
            "owner_type",
            "reason",
            "request_fingerprint",
        ] {
            if body.get(get(name)?.start) != Some(&b'"') {
                return Err(LineError::Type(name));
            }
        }
        if !json::is_array_of_strings(&body[get("approval_chain")?]) {
            return Err(LineError::Type("approval_chain"));
        }
        let ts_ns = integer_at(body, &get("ts_ns")?).ok_or(LineError::Type("ts_ns"))?;
        let meta = scan.nested.as_ref().ok_or(LineError::Type("metadata"))?;
        let key_id = match json::member(meta, "_signing_key_id") {
            Some(s) => Some(string_at(body, &s, "_signing_key_id")?),
            None => None,
        };
        let seq = match json::member(meta, "_seq") {
            Some(s) => Some(integer_at(body, &s).ok_or(LineError::Type("_seq"))?),
            None => None,
        };

        // Cut `,"hmac":"…"` (from the end of the previous value), or `"hmac":"…",` when
        // hmac is the first member.
        let idx = scan
            .members
            .iter()
            .position(|(k, _, _)| k.as_ref() == b"hmac")
            .ok_or(LineError::Missing("hmac"))?;
        let (_, kspan, vspan) = &scan.members[idx];
        let cut = if idx > 0 {
            scan.members[idx - 1].2.end..vspan.end
        } else if let Some((_, next_k, _)) = scan.members.get(1) {
            kspan.start..next_k.start
        } else {
            kspan.start..vspan.end
        };
        Ok(LineView {
            entry_id,
            hmac,
            prev_hmac,
            key_id,
            seq,
            ts_ns,
            canonical: scan.canonical,
            cut,
        })
    }

    /// The MAC payload of `body` as two slices (before and after the `hmac` member).
    pub fn payload_parts<'a>(&self, body: &'a [u8]) -> [&'a [u8]; 2] {
        [&body[..self.cut.start], &body[self.cut.end..]]
    }

    /// The MAC payload as one buffer.
    pub fn payload(&self, body: &[u8]) -> Vec<u8> {
        self.payload_parts(body).concat()
    }
}

/// A whole entry as a JSON object, for people (show, tail, count).
pub fn parse_entry(body: &[u8]) -> Result<Map, LineError> {
    LineView::parse(body)?;
    match json::parse(body)? {
        (Value::Object(m), _) => Ok(m),
        _ => Err(LineError::Type("entry")),
    }
}

/// A non-negative integer written as plain digits.
fn integer_at(body: &[u8], span: &Range<usize>) -> Option<u64> {
    let t = &body[span.clone()];
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"approval_chain":["human:a"],"check_name":"c","decision":"allow","entry_id":"e1","hmac":"ff","metadata":{"_seq":3,"_signing_key_id":"k1","x":0.5},"owner_id":"a","owner_type":"human","prev_hmac":"","reason":"r","request_fingerprint":"","ts_ns":12}"#;

    #[test]
    fn parses_fields_and_cuts_hmac() {
        let v = LineView::parse(LINE.as_bytes()).expect("parse");
        assert_eq!(v.entry_id, "e1");
        assert_eq!(v.hmac, "ff");
        assert_eq!(v.seq, Some(3));
        assert_eq!(v.key_id.as_deref(), Some("k1"));
        assert_eq!(v.ts_ns, 12);
        assert!(v.canonical);
        let p = String::from_utf8(v.payload(LINE.as_bytes())).expect("utf8");
        assert_eq!(p, LINE.replace(r#","hmac":"ff""#, ""));
    }

    #[test]
    fn rejects_wrong_shapes() {
        let cases = [
            (LINE.replace(r#""ts_ns":12"#, r#""ts_ns":-1"#), "ts_ns"),
            (LINE.replace(r#""ts_ns":12"#, r#""ts_ns":1.5"#), "ts_ns"),
            (LINE.replace(r#""_seq":3"#, r#""_seq":"3""#), "_seq"),
            (LINE.replace(r#"["human:a"]"#, "[1]"), "approval_chain"),
            (
                LINE.replace(r#""reason":"r""#, r#""reason":null"#),
                "reason",
            ),
            (LINE.replace(r#""owner_id":"a","#, ""), "missing"),
            (
                LINE.replace(r#""reason":"r""#, r#""reason":"r","zzz":1"#),
                "unexpected",
            ),
        ];
        for (line, what) in cases {
            let e = LineView::parse(line.as_bytes()).expect_err(what);
            let msg = e.to_string();
            assert!(msg.contains(what), "{what}: {msg}");
        }
    }

    #[test]
    fn non_canonical_metadata_is_noticed() {
        let l = LINE.replace(r#""x":0.5"#, r#""x":0.50"#);
        assert!(!LineView::parse(l.as_bytes()).expect("parse").canonical);
    }
}
