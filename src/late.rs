//! Entries written late: the terminal entries of requests that reached the upstream
//! while the journal could not write.
//!
//! Guarantees:
//! - A forwarded request whose entry fails to commit is not forgotten: its finished
//!   entry is kept here, in order, marked `written_late` (the outage's id and the
//!   time its commit failed, `original_ts_ns`), at most [`MAX_LATE`] of them (more is counted as lost and
//!   logged; fail-closed admission stops forwarding at the first failure, so only the
//!   requests already at the upstream can end up here).
//! - When the journal recovers, they are written in their order right after the
//!   `journal.recovery` entry that ends the outage (`commit::Committer::probe`).
//! - If the gateway stops first, they are saved to `<log>.pending` (appended and
//!   fsync'd, one canonical JSON draft per line), and the next start appends them to
//!   the log before it serves anything ([`load`], `run::build`).
//! - The client of such a request still got 503 and no receipt: no receipt is ever
//!   released for an entry that is not durable.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use signet_audit::durable;
use signet_audit::json::{self, Map, Value};
use signet_audit::util::new_uuid_v4;
use signet_audit::{Decision, EntryDraft, OwnerType};

/// Most entries kept in memory for a late write.
pub const MAX_LATE: usize = 1024;

/// The suffix of the side file that holds late entries across a restart.
pub const PENDING_SUFFIX: &str = ".pending";

/// `<log>.pending`.
pub fn pending_path(log: &Path) -> PathBuf {
    durable::side_path(log, PENDING_SUFFIX)
}

/// The entries waiting for the journal, and the outage they belong to.
#[derive(Default)]
pub struct Late {
    state: Mutex<State>,
    /// Entries that did not fit (a bug or a pathological outage; logged as errors).
    lost: AtomicU64,
    /// Entries ever kept for a late write.
    kept: AtomicU64,
    /// Entries in the queue now (read without the lock, on every request).
    waiting: AtomicUsize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<EntryDraft>,
    outage: Option<String>,
}

impl Late {
    /// Keeps `draft` for a late write, marked with the outage and its time (`ts_ns` as
    /// stamped for the commit that failed).
    pub fn keep(&self, mut draft: EntryDraft) {
        let mut s = self.lock();
        let outage = s.outage.get_or_insert_with(new_uuid_v4).clone();
        if s.queue.len() >= MAX_LATE {
            drop(s);
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(entry_id = %draft.entry_id, "late entry queue is full: this forwarded request's entry is lost");
            return;
        }
        let mut m = Map::new();
        m.insert("outage_id".into(), outage.into());
        m.insert("original_ts_ns".into(), Value::from(draft.ts_ns));
        draft
            .metadata
            .insert("written_late".into(), Value::Object(m));
        s.queue.push_back(draft);
        self.waiting.store(s.queue.len(), Ordering::Release);
        self.kept.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes every waiting entry, oldest first, and the outage they belong to.
    pub fn take(&self) -> (Vec<EntryDraft>, Option<String>) {
        let mut s = self.lock();
        self.waiting.store(0, Ordering::Release);
        (s.queue.drain(..).collect(), s.outage.clone())
    }

    /// Puts entries whose write failed back in front, in their order.
    pub fn put_back(&self, drafts: Vec<EntryDraft>) {
        let mut s = self.lock();
        for d in drafts.into_iter().rev() {
            s.queue.push_front(d);
        }
        self.waiting.store(s.queue.len(), Ordering::Release);
    }

    /// The outage is over and everything of it was written.
    pub fn end_outage(&self) {
        let mut s = self.lock();
        if s.queue.is_empty() {
            s.outage = None;
        }
    }

    /// Entries waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Entries ever kept, and entries lost because the queue was full.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.kept.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Prometheus text: entries waiting for a late write, ever kept, and lost.
pub fn metrics(waiting: usize, kept: u64, lost: u64) -> String {
    format!(
        "# HELP signet_late_entries_waiting Entries of forwarded requests waiting for the journal to recover.\n\
         # TYPE signet_late_entries_waiting gauge\n\
         signet_late_entries_waiting {waiting}\n\
         # HELP signet_late_entries_total Entries of forwarded requests kept for a late write.\n\
         # TYPE signet_late_entries_total counter\n\
         signet_late_entries_total {kept}\n\
         # HELP signet_late_entries_lost_total Entries of forwarded requests lost because the late queue was full.\n\
         # TYPE signet_late_entries_lost_total counter\n\
         signet_late_entries_lost_total {lost}\n"
    )
}

/// Appends `drafts` to `<log>.pending` and makes them durable (file and, when it was
/// created, its directory).
pub fn save(log: &Path, drafts: &[EntryDraft]) -> Result<(), String> {
    if drafts.is_empty() {
        return Ok(());
    }
    let path = pending_path(log);
    let mut buf = Vec::new();
    for d in drafts {
        json::write_canonical(&to_value(d), &mut buf);
        buf.push(b'\n');
    }
    let opened = durable::open_append(&path, 0o600, durable::Lock::Exclusive)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut f = opened.file;
    f.write_all(&buf)
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The drafts saved in `<log>.pending`, oldest first (none when there is no file).
pub fn load(log: &Path) -> Result<Vec<EntryDraft>, String> {
    let path = pending_path(log);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let d = json::parse(line)
            .map_err(|e| e.to_string())
            .and_then(|(v, _)| from_value(&v))
            .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?;
        out.push(d);
    }
    Ok(out)
}

/// Removes `<log>.pending` once its entries are durable in the log.
pub fn clear(log: &Path) -> Result<(), String> {
    let path = pending_path(log);
    match std::fs::remove_file(&path) {
        Ok(()) => durable::fsync_dir(&path).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn to_value(d: &EntryDraft) -> Value {
    let mut m = Map::new();
    m.insert(
        "approval_chain".into(),
        Value::Array(
            d.approval_chain
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect(),
        ),
    );
    m.insert("check_name".into(), d.check_name.as_str().into());
    m.insert("decision".into(), d.decision.as_str().into());
    m.insert("entry_id".into(), d.entry_id.as_str().into());
    m.insert("metadata".into(), Value::Object(d.metadata.clone()));
    m.insert("owner_id".into(), d.owner_id.as_str().into());
    m.insert("owner_type".into(), d.owner_type.as_str().into());
    m.insert("reason".into(), d.reason.as_str().into());
    m.insert(
        "request_fingerprint".into(),
        d.request_fingerprint.as_str().into(),
    );
    m.insert("ts_ns".into(), Value::from(d.ts_ns));
    Value::Object(m)
}

fn from_value(v: &Value) -> Result<EntryDraft, String> {
    let m = v.as_object().ok_or("not an object")?;
    let s = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{k} missing or not a string"))
    };
    let decision = s("decision")?;
    let decision = Decision::parse(decision).ok_or(format!("unknown decision {decision:?}"))?;
    let owner_type = s("owner_type")?;
    let owner_type =
        OwnerType::parse(owner_type).ok_or(format!("unknown owner_type {owner_type:?}"))?;
    let mut d = EntryDraft::with_id(
        s("entry_id")?.to_owned(),
        s("check_name")?,
        decision,
        s("reason")?,
    );
    d.owner_type = owner_type;
    d.owner_id = s("owner_id")?.to_owned();
    d.request_fingerprint = s("request_fingerprint")?.to_owned();
    d.approval_chain = match m.get("approval_chain") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or("approval_chain holds a non-string")
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("approval_chain missing".into()),
    };
    d.metadata = m
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .ok_or("metadata missing")?;
    if let Some(Value::Number(n)) = m.get("ts_ns") {
        d.ts_ns = n.as_u64().ok_or("ts_ns is not an integer")?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(i: u64) -> EntryDraft {
        let mut d = EntryDraft::new("pipeline.complete", Decision::Allow, "request completed");
        d.owner_type = OwnerType::Human;
        d.owner_id = "alice@example.com".into();
        d.approval_chain = vec!["human:alice@example.com".into()];
        d.request_fingerprint = format!("sha256:{i:064x}");
        d.metadata.insert("status".into(), Value::from(200u64));
        d.metadata.insert("n".into(), Value::from(i));
        d
    }

    #[test]
    fn kept_entries_are_marked_with_their_outage_and_time_and_come_back_in_order() {
        let late = Late::default();
        let first = draft(1);
        let (id1, ts1) = (first.entry_id.clone(), first.ts_ns);
        late.keep(first);
        late.keep(draft(2));
        let (got, outage) = late.take();
        let outage = outage.expect("an outage id");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].entry_id, id1);
        let mark = got[0].metadata["written_late"].as_object().expect("mark");
        assert_eq!(mark["outage_id"].as_str(), Some(outage.as_str()));
        assert_eq!(mark["original_ts_ns"], Value::from(ts1));
        late.put_back(got);
        assert_eq!(late.waiting(), 2);
        late.end_outage();
        let (again, same) = late.take();
        assert_eq!(
            same.as_deref(),
            Some(outage.as_str()),
            "the outage lasts while entries wait"
        );
        assert_eq!(again.len(), 2);
        late.end_outage();
        late.keep(draft(3));
        let (_, next) = late.take();
        assert_ne!(
            next.as_deref(),
            Some(outage.as_str()),
            "a new outage gets a new id"
        );
    }

    #[test]
    fn the_queue_is_bounded_and_counts_what_it_loses() {
        let late = Late::default();
        for i in 0..(MAX_LATE as u64 + 3) {
            late.keep(draft(i));
        }
        assert_eq!(late.waiting(), MAX_LATE);
        assert_eq!(late.counts(), (MAX_LATE as u64, 3));
    }

    #[test]
    fn the_side_file_round_trips_and_appends() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("audit.jsonl");
        assert!(load(&log).expect("no file").is_empty());
        let a = vec![draft(1), draft(2)];
        save(&log, &a).expect("save");
        save(&log, &[draft(3)]).expect("append");
        let back = load(&log).expect("load");
        assert_eq!(back.len(), 3);
        for (x, y) in a.iter().zip(&back) {
            assert_eq!(x.entry_id, y.entry_id);
            assert_eq!(x.metadata, y.metadata);
            assert_eq!(x.approval_chain, y.approval_chain);
            assert_eq!(x.request_fingerprint, y.request_fingerprint);
            assert_eq!(x.ts_ns, y.ts_ns);
            assert_eq!((x.decision, x.owner_type), (y.decision, y.owner_type));
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(pending_path(&log))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        clear(&log).expect("clear");
        assert!(!pending_path(&log).exists());
        std::fs::write(pending_path(&log), b"{\"not\":\"a draft\"}\n").expect("write");
        assert!(
            load(&log).is_err(),
            "a damaged side file is an error, never skipped"
        );
    }
}
