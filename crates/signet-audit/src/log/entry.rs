//! Building and sealing audit entries (the write side of the format).
//!
//! Guarantees:
//! - A sealed line is canonical JSON with exactly the signet 0.1 top-level fields, in
//!   sorted order, `\n`-terminated, and its `hmac` is HMAC-SHA256 over the line with the
//!   `"hmac":"…"` member (and its leading comma) removed.
//! - `metadata` always carries `_seq`, `_signing_key_id` and `_anchor`
//!   (`{"backend":"none"}` unless the caller supplies an anchoring record); callers
//!   cannot set `_seq` or `_signing_key_id` themselves. Other `_` keys (signet's
//!   `_check_name`, `_stage`) pass through.
//! - No float is ever written: a draft whose metadata holds one is refused.

use crate::log::json::{self, Map, Value};
use crate::log::key::{HmacKey, MacTag};

/// What the entry decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Block,
    Redact,
    Escalate,
}

impl Decision {
    /// The decision `as_str` names, if any.
    pub fn parse(s: &str) -> Option<Decision> {
        [
            Decision::Allow,
            Decision::Block,
            Decision::Redact,
            Decision::Escalate,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Block => "block",
            Decision::Redact => "redact",
            Decision::Escalate => "escalate",
        }
    }
}

/// Who the entry is attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerType {
    Human,
    Agent,
    Policy,
    Unresolved,
}

impl OwnerType {
    /// The owner type `as_str` names, if any.
    pub fn parse(s: &str) -> Option<OwnerType> {
        [
            OwnerType::Human,
            OwnerType::Agent,
            OwnerType::Policy,
            OwnerType::Unresolved,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OwnerType::Human => "human",
            OwnerType::Agent => "agent",
            OwnerType::Policy => "policy",
            OwnerType::Unresolved => "unresolved",
        }
    }
}

/// An entry before the journal gives it a sequence number, a link and a MAC.
#[derive(Clone, Debug)]
pub struct EntryDraft {
    pub approval_chain: Vec<String>,
    pub check_name: String,
    pub decision: Decision,
    /// UUID v4; also the client-visible correlation id.
    pub entry_id: String,
    /// Extra fields; `_seq` and `_signing_key_id` are reserved for the journal.
    pub metadata: Map,
    pub owner_id: String,
    pub owner_type: OwnerType,
    pub reason: String,
    /// `sha256:<hex>` of the request body, or `""`.
    pub request_fingerprint: String,
    /// Wall-clock nanoseconds since the epoch.
    pub ts_ns: u64,
}

impl EntryDraft {
    /// A draft with a fresh entry id and the current time.
    pub fn new(check_name: &str, decision: Decision, reason: &str) -> Self {
        Self::with_id(crate::util::new_uuid_v4(), check_name, decision, reason)
    }

    /// A draft with the given entry id (a request's correlation id) and the current
    /// time.
    pub fn with_id(entry_id: String, check_name: &str, decision: Decision, reason: &str) -> Self {
        EntryDraft {
            approval_chain: Vec::new(),
            check_name: check_name.to_owned(),
            decision,
            entry_id,
            metadata: Map::new(),
            owner_id: String::new(),
            owner_type: OwnerType::Unresolved,
            reason: reason.to_owned(),
            request_fingerprint: String::new(),
            ts_ns: crate::util::now_ns(),
        }
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("metadata holds a float; audit entries carry integers only")]
    Float,
    #[error("metadata key {0} is reserved")]
    Reserved(String),
}

/// A sealed entry: the exact line written to the log.
#[derive(Clone, Debug)]
pub struct SealedLine {
    /// The line including its trailing `\n`.
    pub line: Vec<u8>,
    pub hmac: MacTag,
    /// Byte range of `,"hmac":"<64 hex>"` inside `line`.
    pub hmac_member: std::ops::Range<usize>,
}

impl SealedLine {
    /// The MACed payload: the line without `\n` and without the `hmac` member.
    pub fn payload(&self) -> Vec<u8> {
        let body = &self.line[..self.line.len() - 1];
        let mut p = Vec::with_capacity(body.len());
        p.extend_from_slice(&body[..self.hmac_member.start]);
        p.extend_from_slice(&body[self.hmac_member.end..]);
        p
    }
}

/// Seals `draft` as entry number `seq`, linked to `prev_hmac` (`""` for the first).
pub fn seal(
    draft: &EntryDraft,
    seq: u64,
    prev_hmac: &str,
    key: &HmacKey,
) -> Result<SealedLine, EntryError> {
    seal_with_metadata(draft, draft.metadata.clone(), seq, prev_hmac, key)
}

/// [`seal`] with the draft's metadata given by value; `draft.metadata` itself is
/// ignored.
pub fn seal_with_metadata(
    draft: &EntryDraft,
    mut meta: Map,
    seq: u64,
    prev_hmac: &str,
    key: &HmacKey,
) -> Result<SealedLine, EntryError> {
    seal_map(draft, &mut meta, seq, prev_hmac, key)
}

/// [`seal`] without copying the metadata: it is used in place and left as it was (the
/// journal keeps the draft, so that a batch that fails to reach the disk can hand its
/// drafts back to their callers).
pub fn seal_in_place(
    draft: &mut EntryDraft,
    seq: u64,
    prev_hmac: &str,
    key: &HmacKey,
) -> Result<SealedLine, EntryError> {
    let mut meta = std::mem::take(&mut draft.metadata);
    let had_anchor = meta.contains_key("_anchor");
    let sealed = seal_map(draft, &mut meta, seq, prev_hmac, key);
    if sealed.is_ok() {
        meta.remove("_seq");
        meta.remove("_signing_key_id");
        if !had_anchor {
            meta.remove("_anchor");
        }
    }
    draft.metadata = meta;
    sealed
}

/// Seals with `meta` as the metadata; on success `meta` also holds `_anchor` (when it
/// had none), `_seq` and `_signing_key_id`.
fn seal_map(
    draft: &EntryDraft,
    meta: &mut Map,
    seq: u64,
    prev_hmac: &str,
    key: &HmacKey,
) -> Result<SealedLine, EntryError> {
    for k in meta.keys() {
        if k == "_seq" || k == "_signing_key_id" {
            return Err(EntryError::Reserved(k.clone()));
        }
    }
    if meta.values().any(Value::contains_float) {
        return Err(EntryError::Float);
    }
    meta.entry("_anchor".to_owned()).or_insert_with(|| {
        let mut a = Map::new();
        a.insert("backend".into(), "none".into());
        Value::Object(a)
    });
    meta.insert("_seq".into(), Value::from(seq));
    meta.insert("_signing_key_id".into(), Value::from(key.id()));

    // Fields in code point order; `hmac` goes between `entry_id` and `metadata`.
    let mut line = Vec::with_capacity(512);
    line.extend_from_slice(b"{\"approval_chain\":[");
    for (i, a) in draft.approval_chain.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        json::write_string(a, &mut line);
    }
    line.extend_from_slice(b"],\"check_name\":");
    json::write_string(&draft.check_name, &mut line);
    line.extend_from_slice(b",\"decision\":\"");
    line.extend_from_slice(draft.decision.as_str().as_bytes());
    line.extend_from_slice(b"\",\"entry_id\":");
    json::write_string(&draft.entry_id, &mut line);
    let split = line.len();
    line.extend_from_slice(b",\"metadata\":");
    // Written from the map in place (moved into a value and back, never copied).
    let value = Value::Object(std::mem::take(meta));
    json::write_canonical(&value, &mut line);
    if let Value::Object(m) = value {
        *meta = m;
    }
    line.extend_from_slice(b",\"owner_id\":");
    json::write_string(&draft.owner_id, &mut line);
    line.extend_from_slice(b",\"owner_type\":\"");
    line.extend_from_slice(draft.owner_type.as_str().as_bytes());
    line.extend_from_slice(b"\",\"prev_hmac\":");
    json::write_string(prev_hmac, &mut line);
    line.extend_from_slice(b",\"reason\":");
    json::write_string(&draft.reason, &mut line);
    line.extend_from_slice(b",\"request_fingerprint\":");
    json::write_string(&draft.request_fingerprint, &mut line);
    line.extend_from_slice(b",\"ts_ns\":");
    crate::util::push_decimal(draft.ts_ns, &mut line);
    line.push(b'}');

    let hmac = key.mac(&[&line[..split], &line[split..]]);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut member = [0u8; 74]; // ,"hmac":"<64 hex>"
    member[..9].copy_from_slice(b",\"hmac\":\"");
    for (i, b) in hmac.as_bytes().iter().enumerate() {
        member[9 + 2 * i] = HEX[(b >> 4) as usize];
        member[10 + 2 * i] = HEX[(b & 15) as usize];
    }
    member[73] = b'"';
    let hmac_member = split..split + member.len();
    line.splice(split..split, member);
    line.push(b'\n');
    Ok(SealedLine {
        line,
        hmac,
        hmac_member,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::line::LineView;

    fn key() -> HmacKey {
        HmacKey::from_hex("k1", &"ab".repeat(32)).expect("key")
    }

    #[test]
    fn sealed_line_is_canonical_and_verifies() {
        let mut d = EntryDraft::new("pipeline.complete", Decision::Allow, "ok \"quoted\"\n");
        d.approval_chain = vec!["human:alice@example.com".into()];
        d.owner_id = "alice@example.com".into();
        d.owner_type = OwnerType::Human;
        d.metadata.insert("status".into(), Value::from(200u64));
        d.metadata
            .insert("path".into(), "/v1/chat/completions".into());
        let s = seal(&d, 7, &"0".repeat(64), &key()).expect("seal");
        let body = &s.line[..s.line.len() - 1];
        let (_, canonical) = json::parse(body).expect("json");
        assert!(canonical);
        let v = LineView::parse(body).expect("view");
        assert_eq!(v.seq, Some(7));
        assert_eq!(v.key_id.as_deref(), Some("k1"));
        assert_eq!(v.entry_id, d.entry_id);
        assert!(key().mac(&v.payload_parts(body)).ct_eq_hex(&v.hmac));
        assert_eq!(
            s.payload(),
            [v.payload_parts(body)[0], v.payload_parts(body)[1]].concat()
        );
        let text = String::from_utf8(s.line.clone()).expect("utf8");
        assert!(text.contains(r#""_anchor":{"backend":"none"}"#), "{text}");
    }

    #[test]
    fn refuses_floats_and_reserved_keys() {
        let mut d = EntryDraft::new("x", Decision::Block, "r");
        d.metadata.insert("_seq".into(), Value::from(1u64));
        assert_eq!(
            seal(&d, 0, "", &key()).err(),
            Some(EntryError::Reserved("_seq".into()))
        );
        let mut d = EntryDraft::new("x", Decision::Block, "r");
        let (v, _) = json::parse(b"{\"a\":[0.5]}").expect("json");
        d.metadata.insert("nested".into(), v);
        assert_eq!(seal(&d, 0, "", &key()).err(), Some(EntryError::Float));
    }
}
