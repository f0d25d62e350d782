//! signet 0.1 per-entry RFC 3161 anchors (`metadata._anchor`), checked the way signet
//! made them.
//!
//! signet timestamped the "tentative HMAC" of each entry: HMAC-SHA256(secret, canonical
//! JSON of the entry with `metadata._signing_key_id`, without `metadata._anchor` and
//! without `hmac`), then stored the TSA's TimeStampResp as base64 in
//! `metadata._anchor.receipt`.
//!
//! Guarantees:
//! - The line must be a well-formed audit line (`LineView::parse`) signed under the
//!   given key's id. The tentative payload is rebuilt with `crate::json`: this is a
//!   re-serialisation, deliberately, because that is what signet MACed; numbers keep
//!   their original text, so Python floats survive it.
//! - The receipt is verified in full by `verify_token` against the tentative HMAC
//!   (signet sent no nonce). The outcome separates a missing anchor (no `_anchor`,
//!   another backend, or `success:false`) from an invalid one (bad base64, junk or a
//!   token that fails any check), for `anchor_missing` / `anchor_invalid` reports.

use super::TspError;
use super::chain::TrustRoots;
use super::pem::base64_decode;
use super::verify::{VerifiedTimestamp, verify_token};
use crate::json::{self, Value};
use crate::key::{HmacKey, MacTag};
use crate::line::{LineError, LineView};

/// Why an entry's anchor does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("entry is not a valid audit line: {0}")]
    Line(#[from] LineError),
    #[error("entry signed with key {found:?}, not {expected:?}")]
    KeyId { found: String, expected: String },
    #[error("anchor missing: {0}")]
    Missing(&'static str),
    #[error("anchor missing: the TSA request failed when the entry was written ({0})")]
    Failed(String),
    #[error("anchor invalid: {0}")]
    Invalid(&'static str),
    #[error("anchor invalid: {0}")]
    Token(#[from] TspError),
}

impl AnchorError {
    /// `line`, `key_id`, `anchor_missing` or `anchor_invalid`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnchorError::Line(_) => "line",
            AnchorError::KeyId { .. } => "key_id",
            AnchorError::Missing(_) | AnchorError::Failed(_) => "anchor_missing",
            AnchorError::Invalid(_) | AnchorError::Token(_) => "anchor_invalid",
        }
    }

    /// The failed token check ([`TspError::kind`]), when the token was at fault.
    pub fn token_kind(&self) -> Option<&'static str> {
        match self {
            AnchorError::Token(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// A verified signet anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignetAnchor {
    /// The digest the TSA timestamped (the tentative HMAC).
    pub tentative_hmac: [u8; 32],
    pub timestamp: VerifiedTimestamp,
    /// `_anchor.ts_ns`, signet's clock when it asked the TSA.
    pub anchored_at_ns: Option<u64>,
}

/// The tentative HMAC signet timestamped for `line` (with or without its `\n`).
pub fn tentative_hmac(line: &[u8], key: &HmacKey) -> Result<MacTag, AnchorError> {
    Ok(split(line, key)?.0)
}

/// Verifies `line`'s `_anchor.receipt` against its tentative HMAC under `key`.
pub fn verify_signet_anchor(
    line: &[u8],
    key: &HmacKey,
    roots: &TrustRoots,
) -> Result<SignetAnchor, AnchorError> {
    let (tag, anchor) = split(line, key)?;
    let Some(anchor) = anchor else {
        return Err(AnchorError::Missing("entry has no _anchor"));
    };
    let Value::Object(a) = anchor else {
        return Err(AnchorError::Invalid("_anchor is not an object"));
    };
    if a.get("backend").and_then(Value::as_str) != Some("rfc3161") {
        return Err(AnchorError::Missing("anchor backend is not rfc3161"));
    }
    if a.get("success") == Some(&Value::Bool(false)) {
        let why = a
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no error recorded");
        return Err(AnchorError::Failed(why.chars().take(200).collect()));
    }
    let receipt = a
        .get("receipt")
        .ok_or(AnchorError::Missing("anchor has no receipt"))?;
    let receipt = receipt
        .as_str()
        .ok_or(AnchorError::Invalid("receipt is not a string"))?;
    let der =
        base64_decode(receipt.as_bytes()).ok_or(AnchorError::Invalid("receipt is not base64"))?;
    let timestamp = verify_token(&der, tag.as_bytes(), None, roots)?;
    let anchored_at_ns = match a.get("ts_ns") {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    };
    Ok(SignetAnchor {
        tentative_hmac: *tag.as_bytes(),
        timestamp,
        anchored_at_ns,
    })
}

/// The tentative HMAC and the removed `_anchor` value.
fn split(line: &[u8], key: &HmacKey) -> Result<(MacTag, Option<Value>), AnchorError> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let view = LineView::parse(body)?;
    match view.key_id {
        Some(id) if id == key.id() => {}
        found => {
            return Err(AnchorError::KeyId {
                found: found.unwrap_or_default(),
                expected: key.id().to_owned(),
            });
        }
    }
    let (Value::Object(mut entry), _) = json::parse(body).map_err(LineError::from)? else {
        return Err(LineError::Type("entry").into());
    };
    entry.remove("hmac");
    let Some(Value::Object(meta)) = entry.get_mut("metadata") else {
        return Err(LineError::Type("metadata").into());
    };
    let anchor = meta.remove("_anchor");
    let mut payload = Vec::with_capacity(body.len());
    json::write_canonical(&Value::Object(entry), &mut payload);
    Ok((key.mac(&[&payload]), anchor))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "d6237acac019c57a12c54147b76f9e38990931ae82ee0e13a82bb3caf803f05b";

    fn line(anchor: &str) -> String {
        format!(
            r#"{{"approval_chain":[],"check_name":"c","decision":"allow","entry_id":"e","hmac":"00","metadata":{{{anchor}"_seq":0,"_signing_key_id":"k1","x":0.5}},"owner_id":"o","owner_type":"human","prev_hmac":"","reason":"r","request_fingerprint":"","ts_ns":1}}"#
        )
    }

    fn roots() -> TrustRoots {
        let pem = std::fs::read(format!(
            "{}/../../tests/fixtures/signet-0.1/tsa-ca.crt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        TrustRoots::from_pem(&pem).expect("roots")
    }

    #[test]
    fn tentative_hmac_ignores_anchor_and_hmac_only() {
        let key = HmacKey::from_hex("k1", KEY).expect("key");
        let plain = line("");
        let anchored = line(r#""_anchor":{"backend":"rfc3161","receipt":"b2s="},"#);
        let a = tentative_hmac(plain.as_bytes(), &key).expect("plain");
        let b = tentative_hmac(anchored.as_bytes(), &key).expect("anchored");
        assert!(a.ct_eq(&b));
        let expected = line("").replace(r#""hmac":"00","#, "");
        assert!(
            a.ct_eq(&key.mac(&[expected.as_bytes()])),
            "payload is the entry without hmac and _anchor"
        );
        let changed = plain.replace("0.5", "0.25");
        assert!(!a.ct_eq(&tentative_hmac(changed.as_bytes(), &key).expect("changed")));
    }

    #[test]
    fn anchor_outcomes_are_classified() {
        let key = HmacKey::from_hex("k1", KEY).expect("key");
        let kind = |anchor: &str| {
            verify_signet_anchor(line(anchor).as_bytes(), &key, &roots())
                .map(|_| ())
                .map_err(|e| (e.kind(), e.token_kind()))
        };
        assert_eq!(kind(""), Err(("anchor_missing", None)));
        assert_eq!(
            kind(r#""_anchor":{"backend":"none"},"#),
            Err(("anchor_missing", None))
        );
        assert_eq!(
            kind(r#""_anchor":{"backend":"rfc3161","success":false,"error":"down"},"#),
            Err(("anchor_missing", None))
        );
        assert_eq!(
            kind(r#""_anchor":{"backend":"rfc3161","success":true},"#),
            Err(("anchor_missing", None))
        );
        assert_eq!(
            kind(r#""_anchor":{"backend":"rfc3161","receipt":"b2s"},"#),
            Err(("anchor_invalid", None))
        );
        assert_eq!(
            kind(r#""_anchor":{"backend":"rfc3161","receipt":"b2s="},"#),
            Err(("anchor_invalid", Some("malformed")))
        );
        assert_eq!(kind(r#""_anchor":[],"#), Err(("anchor_invalid", None)));
        let other = HmacKey::from_hex("k2", KEY).expect("key");
        let e = verify_signet_anchor(line("").as_bytes(), &other, &roots()).expect_err("key id");
        assert_eq!(e.kind(), "key_id");
        assert_eq!(
            verify_signet_anchor(b"{}", &key, &roots())
                .map_err(|e| e.kind())
                .err(),
            Some("line")
        );
    }
}
