//! The text and `--json` reports of `signet audit verify`.
//!
//! Guarantees: the verdict (`OK` / `FAIL`, `"ok"`) covers every check that ran; each
//! break is listed with where it was found (log line, checkpoint record and size, or
//! anchors line); the report always ends by saying how far a cut tail would be noticed
//! and, without an HMAC key, that MACs were not checked. No key material is printed
//! (the log verifier key is public).

use std::path::Path;

use signet_audit::json::{Map, Value};
use signet_audit::tlog_verify::{TlogBreak, TlogReport};
use signet_audit::util::to_hex;
use signet_audit::verify::Report;

use super::tlog::{Outcome, Plan};

const NO_CHECKPOINT: &str =
    "no checkpoint covers this log: entries cut from its end cannot be detected";
const NO_MACS: &str = "MACs were not checked (no HMAC key given): only the public checks ran (checkpoint signatures, the log's Merkle tree against them, anchors); entries after the latest checkpoint are not protected by them";

/// Everything one verify run found.
pub struct Verdict<'a> {
    pub path: &'a Path,
    pub chain: Option<&'a Report>,
    pub tlog: &'a Outcome,
    pub plan: &'a Plan,
}

fn keys_text(rep: &Report) -> String {
    let keys: Vec<String> = rep
        .verified_by_key
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    if keys.is_empty() {
        "empty log".to_owned()
    } else {
        format!("verified by key {}", keys.join(", "))
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// How far the signed checkpoints reach into the log.
fn coverage(t: &TlogReport) -> String {
    let n = t.log_size;
    let latest = t.latest.map_or(0, |(_, s)| s);
    match t.covered_size {
        _ if latest > n => format!(
            "the log ({n} entries) is shorter than its latest signed checkpoint (size {latest}): entries were cut from its end"
        ),
        Some(c) if c < latest => format!(
            "signed checkpoints match the log only up to size {c}; the latest one (size {latest}) does not"
        ),
        Some(c) if c >= n => format!(
            "signed checkpoints cover the log up to size {c}: all {n} entries (entries appended later are covered from the next checkpoint on)"
        ),
        Some(c) => format!(
            "signed checkpoints cover the log up to size {c} of {n}: the {} entr{} after the latest checkpoint {} not yet covered, and cutting {} would not be detected",
            n - c,
            if n - c == 1 { "y" } else { "ies" },
            if n - c == 1 { "is" } else { "are" },
            if n - c == 1 { "it" } else { "them" },
        ),
        None => "no signed checkpoint matches the log (see the breaks above)".to_owned(),
    }
}

impl Verdict<'_> {
    fn total(&self) -> u64 {
        self.chain.map_or(0, |r| r.break_count) + self.tlog.break_count()
    }

    pub fn is_intact(&self) -> bool {
        self.total() == 0
    }

    fn lines(&self) -> u64 {
        match (self.chain, &self.tlog.tlog) {
            (Some(r), _) => r.lines,
            (None, Some(t)) => t.log_size + u64::from(t.torn_tail),
            (None, None) => 0,
        }
    }

    fn detectable(&self) -> bool {
        self.tlog.tail_truncation_detectable()
    }

    fn describe(&self, b: &TlogBreak) -> String {
        let kind = b.kind.as_str();
        if let Some(line) = b.line {
            let id = b.entry_id.as_deref().unwrap_or("?");
            return format!("line {line}: {kind} (entry {id}): {}", b.detail);
        }
        let size = b.size.map_or("?".to_owned(), |s| s.to_string());
        if let Some(n) = b.anchor_line {
            let file = self.plan.anchors.as_deref().unwrap_or(Path::new("anchors"));
            let cp = b
                .checkpoint
                .map_or(String::new(), |c| format!(" (checkpoint {c}, size {size})"));
            return format!("{} line {n}: {kind}{cp}: {}", file.display(), b.detail);
        }
        match b.checkpoint {
            Some(c) => format!("checkpoint {c} (size {size}): {kind}: {}", b.detail),
            None => format!("{kind}: {}", b.detail),
        }
    }

    /// The text report on stdout.
    pub fn print(&self) {
        let total = self.total();
        if total == 0 {
            match (self.chain, &self.tlog.tlog) {
                (Some(rep), _) => {
                    outln!(
                        "OK: {} entries, chain intact ({})",
                        rep.entries,
                        keys_text(rep)
                    )
                }
                (None, t) => {
                    let (n, v) = t
                        .as_ref()
                        .map_or((0, 0), |t| (t.log_size, t.valid_checkpoints));
                    outln!(
                        "OK: {n} entries, {v} signed checkpoint{} verified against the log (public keys only; MACs not checked)",
                        plural(v)
                    )
                }
            }
        } else {
            outln!(
                "FAIL: {total} break{} in {} lines of {}",
                plural(total),
                self.lines(),
                self.path.display()
            );
            let mut stored = 0u64;
            for b in self.chain.iter().flat_map(|r| r.breaks.iter()) {
                stored += 1;
                outln!(
                    "  line {}: {} (entry {}): {}",
                    b.line,
                    b.kind.as_str(),
                    b.entry_id.as_deref().unwrap_or("?"),
                    b.detail
                );
            }
            for b in self.tlog.breaks() {
                stored += 1;
                outln!("  {}", self.describe(b));
            }
            if total > stored {
                outln!("  ... and {} more", total - stored);
            }
        }
        if let Some(rep) = self.chain {
            for w in &rep.warnings {
                outln!(
                    "warning: line {}: {} (entry {}): {}",
                    w.line,
                    w.kind,
                    w.entry_id.as_deref().unwrap_or("?"),
                    w.detail
                );
            }
            if rep.legacy_entries > 0 {
                outln!(
                    "note: {} entries have no _seq (written by signet 0.1)",
                    rep.legacy_entries
                );
            }
            if total > 0 && rep.is_intact() {
                outln!(
                    "chain: intact, {} entries ({})",
                    rep.entries,
                    keys_text(rep)
                );
            }
        }
        self.print_transparency();
        if self.chain.is_none() {
            outln!("note: {NO_MACS}");
            if self.plan.roots.is_some() {
                outln!(
                    "note: per-entry _anchor timestamps were not checked (they need the HMAC key)"
                );
            }
        }
        if let Some(p) = &self.plan.anchors_unchecked {
            outln!(
                "note: the anchors in {} were not checked (give --tsa-root PEM)",
                p.display()
            );
        }
        match &self.tlog.tlog {
            Some(t) if self.detectable() => outln!("note: {}", coverage(t)),
            _ => outln!("note: {NO_CHECKPOINT}"),
        }
    }

    fn print_transparency(&self) {
        if let Some(t) = &self.tlog.tlog {
            let key = self.plan.log_key.as_ref().map_or("?", |k| k.name());
            let from = self
                .plan
                .checkpoints
                .as_ref()
                .map_or("no checkpoint file".to_owned(), |p| p.display().to_string());
            outln!(
                "checkpoints: {} of {} verified under log key {key} ({from}); log Merkle root {} (hex) at size {}",
                t.valid_checkpoints,
                t.checkpoints,
                to_hex(&t.log_root),
                t.log_size
            );
            if let Some(p) = &self.plan.missing_default {
                outln!("note: no checkpoint file at {}", p.display());
            }
            if t.torn_tail {
                outln!(
                    "warning: the log's last line has no newline: it is not an entry (yet) and no checkpoint covers it"
                );
            }
            if let Some(a) = &t.anchors {
                let latest = a.latest.as_ref().map_or(String::new(), |l| {
                    format!(
                        "; latest: checkpoint {} (size {}) at {} by {}",
                        l.checkpoint, l.size, l.gen_time, l.tsa_subject
                    )
                });
                outln!(
                    "anchors: {} of {} checkpoints timestamped, {} more vouched for by a later anchor ({} of {} records valid){latest}",
                    a.anchored_checkpoints,
                    t.valid_checkpoints,
                    a.covered_by_later,
                    a.valid,
                    a.records
                );
                if a.latest_pending {
                    outln!(
                        "note: the newest checkpoint is not anchored yet (anchoring runs asynchronously)"
                    );
                }
            }
        }
        if let Some(e) = &self.tlog.entry_anchors
            && e.checked > 0
        {
            outln!(
                "per-entry anchors: {} of {} RFC 3161 _anchor timestamps verified",
                e.valid,
                e.checked
            );
        }
    }

    /// The `--json` report.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let null = || Value::Null;
        m.insert("log".into(), self.path.display().to_string().into());
        m.insert("ok".into(), self.is_intact().into());
        m.insert("lines".into(), self.lines().into());
        m.insert("break_count".into(), self.total().into());
        m.insert("macs_checked".into(), self.chain.is_some().into());
        let mut breaks = Vec::new();
        let mut warnings = Vec::new();
        let item = |line: u64, id: &Option<String>, kind: &str, detail: &str| {
            let mut b = Map::new();
            b.insert("line".into(), line.into());
            b.insert(
                "entry_id".into(),
                id.clone().map_or(Value::Null, Value::from),
            );
            b.insert("kind".into(), kind.into());
            b.insert("detail".into(), detail.into());
            Value::Object(b)
        };
        if let Some(rep) = self.chain {
            m.insert("entries".into(), rep.entries.into());
            m.insert("legacy_entries".into(), rep.legacy_entries.into());
            breaks.extend(
                rep.breaks
                    .iter()
                    .map(|b| item(b.line, &b.entry_id, b.kind.as_str(), &b.detail)),
            );
            warnings.extend(
                rep.warnings
                    .iter()
                    .map(|w| item(w.line, &w.entry_id, w.kind, &w.detail)),
            );
            let by_key = rep
                .verified_by_key
                .iter()
                .map(|(k, n)| (k.clone(), Value::from(*n)));
            m.insert("verified_by_key".into(), Value::Object(by_key.collect()));
            m.insert("last_seq".into(), rep.last_seq.map_or(null(), Value::from));
            let last = rep.last_hmac.clone();
            m.insert("last_hmac".into(), last.map_or(null(), Value::from));
        } else {
            for k in ["entries", "legacy_entries", "last_seq", "last_hmac"] {
                m.insert(k.into(), null());
            }
            m.insert("verified_by_key".into(), Value::Object(Map::new()));
            m.insert("macs_note".into(), NO_MACS.into());
        }
        breaks.extend(self.tlog.breaks().map(tlog_break_json));
        m.insert("breaks".into(), Value::Array(breaks));
        m.insert("warnings".into(), Value::Array(warnings));
        m.insert(
            "tail_truncation_detectable".into(),
            self.detectable().into(),
        );
        match &self.tlog.tlog {
            Some(t) if self.detectable() => {
                m.insert("coverage".into(), coverage(t).into());
            }
            _ => {
                m.insert("note".into(), NO_CHECKPOINT.into());
            }
        }
        let t = self.tlog.tlog.as_ref().map(|t| self.tlog_json(t));
        m.insert("transparency".into(), t.unwrap_or(Value::Null));
        let e = self.tlog.entry_anchors.as_ref().map(|e| {
            let mut o = Map::new();
            o.insert("checked".into(), e.checked.into());
            o.insert("valid".into(), e.valid.into());
            Value::Object(o)
        });
        m.insert("entry_anchors".into(), e.unwrap_or(Value::Null));
        Value::Object(m)
    }

    fn tlog_json(&self, t: &TlogReport) -> Value {
        let path = |p: Option<&Path>| p.map_or(Value::Null, |p| p.display().to_string().into());
        let mut o = Map::new();
        let key = self.plan.log_key.as_ref().map(|k| Value::from(k.to_vkey()));
        o.insert("log_key".into(), key.unwrap_or(Value::Null));
        o.insert(
            "checkpoints_file".into(),
            path(self.plan.checkpoints.as_deref()),
        );
        o.insert("checkpoints".into(), t.checkpoints.into());
        o.insert("valid_checkpoints".into(), t.valid_checkpoints.into());
        let latest = t.latest.map(|(_, s)| Value::from(s));
        o.insert(
            "latest_checkpoint_size".into(),
            latest.unwrap_or(Value::Null),
        );
        let covered = t.covered_size.map(Value::from);
        o.insert("covered_size".into(), covered.unwrap_or(Value::Null));
        o.insert("uncovered_entries".into(), t.uncovered_entries().into());
        o.insert("log_size".into(), t.log_size.into());
        o.insert("log_root_hex".into(), to_hex(&t.log_root).into());
        o.insert("torn_tail".into(), t.torn_tail.into());
        let anchors = t.anchors.as_ref().map(|a| {
            let mut x = Map::new();
            x.insert("file".into(), path(self.plan.anchors.as_deref()));
            x.insert("records".into(), a.records.into());
            x.insert("valid".into(), a.valid.into());
            x.insert("anchored_checkpoints".into(), a.anchored_checkpoints.into());
            x.insert("covered_by_later".into(), a.covered_by_later.into());
            x.insert("latest_pending".into(), a.latest_pending.into());
            let latest = a.latest.as_ref().map(|l| {
                let mut y = Map::new();
                y.insert("checkpoint".into(), l.checkpoint.into());
                y.insert("size".into(), l.size.into());
                y.insert("gen_time".into(), l.gen_time.as_str().into());
                y.insert("tsa_subject".into(), l.tsa_subject.as_str().into());
                Value::Object(y)
            });
            x.insert("latest".into(), latest.unwrap_or(Value::Null));
            Value::Object(x)
        });
        o.insert("anchors".into(), anchors.unwrap_or(Value::Null));
        Value::Object(o)
    }
}

fn tlog_break_json(b: &TlogBreak) -> Value {
    let opt = |v: Option<u64>| v.map_or(Value::Null, Value::from);
    let mut o = Map::new();
    o.insert("kind".into(), b.kind.as_str().into());
    o.insert("detail".into(), b.detail.as_str().into());
    o.insert("line".into(), opt(b.line));
    let id = b.entry_id.clone().map_or(Value::Null, Value::from);
    o.insert("entry_id".into(), id);
    o.insert("checkpoint".into(), opt(b.checkpoint));
    o.insert("checkpoint_size".into(), opt(b.size));
    o.insert("anchor_line".into(), opt(b.anchor_line));
    Value::Object(o)
}
