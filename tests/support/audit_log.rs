//! The gateway's audit log as the adversarial tests read it: one parsed entry per
//! line, and the rule every request must satisfy, "exactly one terminal entry".
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use signet_audit::json::{self, Map, Value};

use super::gateway::Gateway;

/// `check_name`s that end a request (an intent entry does not).
pub const TERMINAL: &[&str] = &[
    "pipeline.complete",
    "pipeline.admission",
    "pipeline.preflight",
    "pipeline.inspection",
    "pipeline.upstream",
    "pipeline.internal",
];

/// One log line, parsed.
#[derive(Clone, Debug)]
pub struct Entry {
    pub line: String,
    pub entry_id: String,
    pub check_name: String,
    pub decision: String,
    pub owner_id: String,
    pub owner_type: String,
    pub reason: String,
    pub meta: Map,
}

impl Entry {
    pub fn meta_str(&self, k: &str) -> Option<&str> {
        self.meta.get(k).and_then(Value::as_str)
    }
    pub fn meta_u64(&self, k: &str) -> Option<u64> {
        match self.meta.get(k) {
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        }
    }
    /// The check that refused (`_check_name`), for refusals.
    pub fn check(&self) -> Option<&str> {
        self.meta_str("_check_name")
    }
    /// The status the client was given (`metadata.status`).
    pub fn status(&self) -> Option<u64> {
        self.meta_u64("status")
    }
    pub fn finish_reason(&self) -> Option<&str> {
        self.meta_str("finish_reason")
    }
    pub fn path(&self) -> Option<&str> {
        self.meta_str("path")
    }
    pub fn is_terminal(&self) -> bool {
        TERMINAL.contains(&self.check_name.as_str())
    }
}

/// Parses one log line; panics (fails the test) on a line that is not an entry.
pub fn parse(line: &str) -> Entry {
    let (v, _) = json::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{e:?}: {line}"));
    let m = v.as_object().expect("entry is an object").clone();
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    Entry {
        line: line.to_owned(),
        entry_id: s("entry_id"),
        check_name: s("check_name"),
        decision: s("decision"),
        owner_id: s("owner_id"),
        owner_type: s("owner_type"),
        reason: s("reason"),
        meta: m
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    }
}

/// Every entry in the log so far.
pub fn entries(g: &Gateway) -> Vec<Entry> {
    g.lines().iter().map(|l| parse(l)).collect()
}

/// Waits up to 3 s for the entry `id` (streams commit when they end), then asserts
/// that exactly one line carries that id and that it is a terminal entry.
pub fn one_terminal(g: &Gateway, id: &str) -> Entry {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let found: Vec<Entry> = entries(g)
            .into_iter()
            .filter(|e| e.entry_id == id)
            .collect();
        if !found.is_empty() || Instant::now() >= deadline {
            assert_eq!(
                found.len(),
                1,
                "request {id} must have exactly one entry: {found:#?}"
            );
            let e = found.into_iter().next().expect("one");
            assert!(e.is_terminal(), "not a terminal entry: {}", e.line);
            return e;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to 3 s for `n` entries, lets 150 ms pass for stragglers, and asserts the
/// log holds exactly `n` entries with distinct ids.
pub fn settle(g: &Gateway, n: usize) -> Vec<Entry> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while g.lines().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(150));
    let all = entries(g);
    assert_eq!(
        all.len(),
        n,
        "expected exactly {n} entries: {:#?}",
        all.iter().map(|e| &e.line).collect::<Vec<_>>()
    );
    let mut ids: Vec<&str> = all.iter().map(|e| e.entry_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicated entry ids");
    all
}

/// `signet audit verify` accepts the log.
pub fn assert_verifies(g: &Gateway) {
    let (code, out) = g.verify();
    assert_eq!(code, Some(0), "log must verify: {out}");
}
