//! RFC 3161 anchors: the `<log>.anchors` records of checkpoints, and signet 0.1's
//! per-entry `_anchor`s.
//!
//! Record format, one JSON object per line (the gateway writes it canonically):
//!
//! ```text
//! {"checkpoint_size":N,"note_sha256":"<64 hex>","token":"<base64>","ts_ns":N,"tsa_url":"…"}
//! ```
//!
//! `note_sha256` is SHA-256 of the signed checkpoint note's bytes, `token` the TSA's
//! TimeStampResp (or bare token) in padded standard base64, timestamping exactly that
//! digest; `ts_ns` is the gateway's clock when it stored the record.
//!
//! Guarantees: [`AnchorRecord::parse`] is strict (exactly those five members, no
//! duplicates, no trailing data, unsigned integers, lowercase hex, canonical base64)
//! and never panics; [`AnchorRecord::to_line`] writes the canonical line that `parse`
//! reads back. A record is matched to the checkpoint whose note bytes hash to its
//! `note_sha256`, and its token is verified against that hash computed from the note,
//! so a record naming one checkpoint and carrying another's token fails.

use std::collections::HashMap;
use std::io::{self, BufRead};

use super::report::MAX_STORED_BREAKS;
use super::{StoredCp, TlogBreak, TlogBreakKind, TlogReport};
use crate::log::json::{self, Map, Value};
use crate::log::key::KeyRing;
use crate::log::line::LineView;
use crate::log::verify::{LineRead, read_line};
use crate::tsp::pem::base64_decode;
use crate::tsp::{TrustRoots, verify_signet_anchor, verify_token};
use crate::util::{from_hex, to_hex};

const FIELDS: [&str; 5] = [
    "checkpoint_size",
    "note_sha256",
    "token",
    "ts_ns",
    "tsa_url",
];

/// One `<log>.anchors` record. Nothing in it is trusted until its token verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorRecord {
    pub checkpoint_size: u64,
    pub note_sha256: [u8; 32],
    /// The TSA's original bytes.
    pub token: Vec<u8>,
    pub ts_ns: u64,
    pub tsa_url: String,
}

impl AnchorRecord {
    /// The canonical JSON line, with its `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("checkpoint_size".into(), self.checkpoint_size.into());
        m.insert("note_sha256".into(), to_hex(&self.note_sha256).into());
        m.insert("token".into(), b64(&self.token).into());
        m.insert("ts_ns".into(), self.ts_ns.into());
        m.insert("tsa_url".into(), self.tsa_url.as_str().into());
        let mut out = Vec::new();
        json::write_canonical(&Value::Object(m), &mut out);
        out.push(b'\n');
        out
    }

    /// Parses one line (without its `\n`).
    pub fn parse(body: &[u8]) -> Result<AnchorRecord, &'static str> {
        let (v, _) = json::parse(body).map_err(|_| "not a JSON object")?;
        let m = v.as_object().ok_or("not a JSON object")?;
        if m.len() != FIELDS.len() || !FIELDS.iter().all(|f| m.contains_key(*f)) {
            return Err(
                "members must be exactly checkpoint_size, note_sha256, token, ts_ns, tsa_url",
            );
        }
        let uint = |k: &str| match m.get(k) {
            Some(Value::Number(n)) if !n.as_str().starts_with('-') => n.as_u64(),
            _ => None,
        };
        let text = |k: &str| m.get(k).and_then(Value::as_str);
        let hex = text("note_sha256")
            .filter(|h| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        Ok(AnchorRecord {
            checkpoint_size: uint("checkpoint_size")
                .ok_or("checkpoint_size is not an unsigned integer")?,
            note_sha256: hex
                .and_then(from_hex)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or("note_sha256 is not 64 lowercase hex digits")?,
            token: text("token")
                .and_then(|t| base64_decode(t.as_bytes()))
                .filter(|t| !t.is_empty())
                .ok_or("token is not padded standard base64")?,
            ts_ns: uint("ts_ns").ok_or("ts_ns is not an unsigned integer")?,
            tsa_url: text("tsa_url").ok_or("tsa_url is not a string")?.to_owned(),
        })
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What the anchors said, beside their breaks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnchorSummary {
    /// Records read (lines of the anchors file).
    pub records: u64,
    /// Records whose token verified for their checkpoint.
    pub valid: u64,
    /// Valid checkpoints with at least one valid record.
    pub anchored_checkpoints: u64,
    /// The anchored checkpoint of the largest size.
    pub latest: Option<AnchoredCheckpoint>,
    /// Checkpoints without an anchor of their own, vouched for by a later anchor.
    pub covered_by_later: u64,
    /// The newest checkpoint is not anchored yet (anchoring runs asynchronously).
    pub latest_pending: bool,
}

/// A checkpoint with a verified timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchoredCheckpoint {
    /// 1-based record number in the checkpoint file.
    pub checkpoint: u64,
    pub size: u64,
    /// genTime, RFC 3339 UTC.
    pub gen_time: String,
    pub gen_time_unix_ns: u64,
    pub tsa_subject: String,
}

fn invalid(line: u64, cp: Option<&StoredCp>, detail: String) -> TlogBreak {
    TlogBreak {
        kind: TlogBreakKind::AnchorInvalid,
        detail,
        checkpoint: cp.map(|c| c.index),
        size: cp.and_then(|c| c.claimed_size),
        line: None,
        anchor_line: Some(line),
        entry_id: None,
    }
}

/// Checks every record of `records` against `cps`; then reports unanchored checkpoints.
pub(super) fn check_anchors(
    records: &mut dyn BufRead,
    roots: &TrustRoots,
    cps: &[StoredCp],
    rep: &mut TlogReport,
) -> io::Result<AnchorSummary> {
    let mut by_digest: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for (i, c) in cps.iter().enumerate() {
        by_digest.entry(c.note_digest).or_default().push(i);
    }
    let mut anchored: Vec<Option<AnchoredCheckpoint>> = vec![None; cps.len()];
    // Checkpoints named by at least one record, valid or not.
    let mut named = vec![false; cps.len()];
    let mut sum = AnchorSummary::default();
    let mut buf = Vec::new();
    loop {
        let n = sum.records + 1;
        let body = match read_line(&mut &mut *records, &mut buf)? {
            LineRead::Eof => break,
            LineRead::TooLong => {
                sum.records = n;
                rep.add(invalid(n, None, "record line is too long".into()));
                continue;
            }
            LineRead::Line { terminated: false } => {
                sum.records = n;
                rep.add(invalid(n, None, "incomplete last line (no newline)".into()));
                break;
            }
            LineRead::Line { terminated: true } => &buf[..buf.len() - 1],
        };
        sum.records = n;
        let rec = match AnchorRecord::parse(body) {
            Ok(r) => r,
            Err(e) => {
                rep.add(invalid(n, None, format!("malformed anchor record: {e}")));
                continue;
            }
        };
        let Some(matches) = by_digest.get(&rec.note_sha256) else {
            let detail = format!(
                "record for a checkpoint of size {} names a note that is not in the checkpoint file",
                rec.checkpoint_size
            );
            rep.add(invalid(n, None, detail));
            continue;
        };
        for &i in matches {
            named[i] = true;
        }
        let cp = &cps[matches[0]];
        if cp.claimed_size != Some(rec.checkpoint_size) {
            let detail = format!(
                "record says size {} but its checkpoint has size {}",
                rec.checkpoint_size,
                cp.claimed_size.map_or("?".into(), |s| s.to_string())
            );
            rep.add(invalid(n, Some(cp), detail));
            continue;
        }
        match verify_token(&rec.token, &cp.note_digest, None, roots) {
            Err(e) => rep.add(invalid(
                n,
                Some(cp),
                format!(
                    "token does not timestamp this checkpoint note ({}): {e}",
                    e.kind()
                ),
            )),
            Ok(ts) => {
                sum.valid += 1;
                for &i in matches {
                    if let (Some(c), None) = (&cps[i].valid, &anchored[i]) {
                        anchored[i] = Some(AnchoredCheckpoint {
                            checkpoint: cps[i].index,
                            size: c.size,
                            gen_time: ts.gen_time.to_string(),
                            gen_time_unix_ns: ts.gen_time_unix_ns,
                            tsa_subject: ts.tsa_subject.clone(),
                        });
                    }
                }
            }
        }
    }
    // A checkpoint is vouched for by its own anchor or by any later anchored one (the
    // later checkpoint extends it: both were checked against the same log prefix).
    // The gateway anchors only the newest of several waiting checkpoints, so only
    // checkpoints after the latest anchored size can lack an anchor; the very last one
    // may simply not be anchored yet.
    let anchored_up_to = anchored.iter().flatten().map(|a| a.size).max().unwrap_or(0);
    let last_valid = cps.iter().rposition(|c| c.valid.is_some());
    for (i, c) in cps.iter().enumerate() {
        let Some(cp) = &c.valid else { continue };
        if let Some(a) = anchored[i].take() {
            sum.anchored_checkpoints += 1;
            if sum.latest.as_ref().is_none_or(|l| a.size >= l.size) {
                sum.latest = Some(a);
            }
        } else if named[i] {
            // Its only anchors were invalid: reported as anchor_invalid already.
        } else if cp.size <= anchored_up_to {
            sum.covered_by_later += 1;
        } else if Some(i) == last_valid {
            sum.latest_pending = true;
        } else {
            rep.add(TlogBreak::at_checkpoint(
                TlogBreakKind::AnchorMissing,
                c.index,
                Some(cp.size),
                "no RFC 3161 anchor for this checkpoint or any later one".into(),
            ));
        }
    }
    Ok(sum)
}

/// What checking signet 0.1 per-entry anchors found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryAnchorReport {
    /// Entries whose `_anchor.backend` is `rfc3161` (under a key in the ring).
    pub checked: u64,
    pub valid: u64,
    pub breaks: Vec<TlogBreak>,
    pub break_count: u64,
}

impl EntryAnchorReport {
    fn add(&mut self, b: TlogBreak) {
        self.break_count += 1;
        if self.breaks.len() < MAX_STORED_BREAKS {
            self.breaks.push(b);
        }
    }
}

/// Checks the `_anchor` of every entry that asked for an RFC 3161 anchor
/// (`backend: "rfc3161"`) with [`verify_signet_anchor`] under the entry's key from
/// `ring`. Entries with another backend, unreadable lines and unknown keys are left
/// to [`crate::log::verify::verify`], which reports them.
pub fn verify_entry_anchors<R: BufRead>(
    mut log: R,
    ring: &KeyRing,
    roots: &TrustRoots,
) -> io::Result<EntryAnchorReport> {
    use crate::tsp::AnchorError;
    let mut rep = EntryAnchorReport::default();
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        n += 1;
        match read_line(&mut log, &mut buf)? {
            LineRead::Eof | LineRead::Line { terminated: false } => break,
            LineRead::TooLong => continue,
            LineRead::Line { terminated: true } => {}
        }
        let body = &buf[..buf.len() - 1];
        let Ok(view) = LineView::parse(body) else {
            continue;
        };
        let Some(key) = view.key_id.as_deref().and_then(|k| ring.get(k)) else {
            continue;
        };
        if !wants_rfc3161(body) {
            continue;
        }
        rep.checked += 1;
        let err = match verify_signet_anchor(body, key, roots) {
            Ok(_) => {
                rep.valid += 1;
                continue;
            }
            Err(e) => e,
        };
        let kind = match &err {
            AnchorError::Missing(_) | AnchorError::Failed(_) => TlogBreakKind::AnchorMissing,
            AnchorError::Invalid(_) | AnchorError::Token(_) => TlogBreakKind::AnchorInvalid,
            // Not a line of this key: the chain verifier reports it.
            AnchorError::Line(_) | AnchorError::KeyId { .. } => continue,
        };
        let detail = err.to_string();
        rep.add(TlogBreak {
            kind,
            detail,
            checkpoint: None,
            size: None,
            line: Some(n),
            anchor_line: None,
            entry_id: Some(view.entry_id),
        });
    }
    Ok(rep)
}

/// Whether the entry's `metadata._anchor.backend` is `rfc3161`.
fn wants_rfc3161(body: &[u8]) -> bool {
    let Ok((v, _)) = json::parse(body) else {
        return false;
    };
    let backend = v
        .as_object()
        .and_then(|m| m.get("metadata"))
        .and_then(Value::as_object)
        .and_then(|m| m.get("_anchor"))
        .and_then(Value::as_object)
        .and_then(|a| a.get("backend"))
        .and_then(Value::as_str);
    backend == Some("rfc3161")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AnchorRecord {
        AnchorRecord {
            checkpoint_size: 256,
            note_sha256: [0xab; 32],
            token: vec![0x30, 0x03, 0x02, 0x01, 0x00],
            ts_ns: 1_795_294_995_233_012_963,
            tsa_url: "http://127.0.0.1:1/tsr".into(),
        }
    }

    #[test]
    fn record_round_trips_in_the_fixed_format() {
        let line = record().to_line();
        let text = String::from_utf8(line.clone()).expect("utf8");
        assert_eq!(
            text,
            format!(
                "{{\"checkpoint_size\":256,\"note_sha256\":\"{}\",\"token\":\"MAMCAQA=\",\"ts_ns\":1795294995233012963,\"tsa_url\":\"http://127.0.0.1:1/tsr\"}}\n",
                "ab".repeat(32)
            )
        );
        assert_eq!(
            AnchorRecord::parse(&line[..line.len() - 1]).expect("parse"),
            record()
        );
    }

    #[test]
    fn malformed_records_are_refused() {
        let good = String::from_utf8(record().to_line()).expect("utf8");
        let good = good.trim_end();
        let hex = "ab".repeat(32);
        for bad in [
            good.replace("256", "-256"),
            good.replace("256", "2.5"),
            good.replace("\"ts_ns\":1795294995233012963", "\"ts_ns\":\"1\""),
            good.replace(&hex, &hex.to_uppercase()),
            good.replace(&hex, &hex[..62]),
            good.replace("MAMCAQA=", "MAMCAQA"),
            good.replace("MAMCAQA=", "MAMCAQB="),
            good.replace("MAMCAQA=", ""),
            good.replace("\"tsa_url\":\"http://127.0.0.1:1/tsr\"", "\"tsa_url\":1"),
            good.replace("}", ",\"extra\":1}"),
            good.replace(",\"tsa_url\":\"http://127.0.0.1:1/tsr\"", ""),
            good.replace("{", "{\"ts_ns\":1,"),
            format!("{good} x"),
            "[]".into(),
            String::new(),
        ] {
            assert!(AnchorRecord::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
