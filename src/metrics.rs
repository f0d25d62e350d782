//! Prometheus metrics: requests by status, decisions by check, connections by serving
//! thread, journal appends and batch sizes, request latency.
//!
//! Guarantees: recording is lock-free on the hot path except for the per-check decision
//! map (a short mutex, bounded by the number of checks) and the per-thread connection
//! counts (a short mutex, taken once per accepted connection by the accept loop);
//! label values come from a closed set (check names, decisions, status classes,
//! serving thread numbers), never from request data.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use signet_audit::journal::writer::{BATCH_BUCKETS, WriterStats};

/// Latency bucket upper bounds in microseconds.
const LATENCY_US: [u64; 12] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000,
];

#[derive(Default)]
pub struct Metrics {
    /// Responses by status class 1xx..5xx (index 0..4).
    status: [AtomicU64; 5],
    latency: [AtomicU64; 13],
    latency_sum_us: AtomicU64,
    /// By check name, then decision (allocates only the first time a check decides).
    decisions: Mutex<BTreeMap<String, BTreeMap<&'static str, u64>>>,
    /// Connections handed to each serving thread (by thread index; per connection, not
    /// per request).
    connections: Mutex<Vec<u64>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn request(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.status[class].fetch_add(1, Ordering::Relaxed);
        let us = elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = LATENCY_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_US.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Declares `n` serving threads, so each is listed even before its first connection.
    pub fn serving_threads(&self, n: usize) {
        if let Ok(mut c) = self.connections.lock()
            && c.len() < n
        {
            c.resize(n, 0);
        }
    }

    /// Records one connection handed to serving thread `thread` (one of those declared
    /// with [`Metrics::serving_threads`]).
    pub fn connection(&self, thread: usize) {
        if let Ok(mut c) = self.connections.lock()
            && let Some(n) = c.get_mut(thread)
        {
            *n += 1;
        }
    }

    /// Records the decision of the check that settled a request.
    pub fn decision(&self, check: &str, decision: &'static str) {
        if let Ok(mut m) = self.decisions.lock() {
            let by_decision = match m.get_mut(check) {
                Some(d) => d,
                None => m.entry(check.to_owned()).or_default(),
            };
            *by_decision.entry(decision).or_default() += 1;
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self, journal: &WriterStats, journal_healthy: bool) -> String {
        let mut s = String::with_capacity(2048);
        let _ = writeln!(
            s,
            "# HELP signet_requests_total Responses sent, by status class."
        );
        let _ = writeln!(s, "# TYPE signet_requests_total counter");
        for (i, c) in self.status.iter().enumerate() {
            let _ = writeln!(
                s,
                "signet_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP signet_decisions_total Terminal audit entries, by deciding check and decision."
        );
        let _ = writeln!(s, "# TYPE signet_decisions_total counter");
        if let Ok(m) = self.decisions.lock() {
            for (check, by_decision) in m.iter() {
                for (decision, n) in by_decision {
                    let _ = writeln!(
                        s,
                        "signet_decisions_total{{check=\"{check}\",decision=\"{decision}\"}} {n}"
                    );
                }
            }
        }
        if let Ok(c) = self.connections.lock()
            && !c.is_empty()
        {
            let _ = writeln!(
                s,
                "# HELP signet_connections_total Connections accepted, by the serving thread they went to."
            );
            let _ = writeln!(s, "# TYPE signet_connections_total counter");
            for (i, n) in c.iter().enumerate() {
                let _ = writeln!(s, "signet_connections_total{{thread=\"{i}\"}} {n}");
            }
        }
        let _ = writeln!(
            s,
            "# HELP signet_request_duration_seconds Time from request to the end of the response."
        );
        let _ = writeln!(s, "# TYPE signet_request_duration_seconds histogram");
        let mut cum = 0;
        for (i, b) in LATENCY_US.iter().enumerate() {
            cum += self.latency[i].load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "signet_request_duration_seconds_bucket{{le=\"{}\"}} {cum}",
                *b as f64 / 1e6
            );
        }
        cum += self.latency[LATENCY_US.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "signet_request_duration_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            s,
            "signet_request_duration_seconds_sum {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "signet_request_duration_seconds_count {cum}");
        let _ = writeln!(
            s,
            "# HELP signet_journal_entries_total Audit entries made durable."
        );
        let _ = writeln!(s, "# TYPE signet_journal_entries_total counter");
        let _ = writeln!(
            s,
            "signet_journal_entries_total {}",
            journal.entries.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP signet_journal_failed_total Audit entries that failed to commit."
        );
        let _ = writeln!(s, "# TYPE signet_journal_failed_total counter");
        let _ = writeln!(
            s,
            "signet_journal_failed_total {}",
            journal.failed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "# HELP signet_journal_batch_size Entries per group-commit fsync."
        );
        let _ = writeln!(s, "# TYPE signet_journal_batch_size histogram");
        let mut cum = 0;
        for (i, b) in BATCH_BUCKETS.iter().enumerate() {
            cum += journal.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(s, "signet_journal_batch_size_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += journal.buckets[BATCH_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(s, "signet_journal_batch_size_bucket{{le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            s,
            "signet_journal_batch_size_sum {}",
            journal.entries.load(Ordering::Relaxed) + journal.failed.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "signet_journal_batch_size_count {cum}");
        let _ = writeln!(
            s,
            "# HELP signet_journal_healthy 1 while the journal can write; 0 means fail-closed."
        );
        let _ = writeln!(s, "# TYPE signet_journal_healthy gauge");
        let _ = writeln!(s, "signet_journal_healthy {}", u8::from(journal_healthy));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_listed_by_serving_thread() {
        let m = Metrics::default();
        let stats = WriterStats::default();
        assert!(!m.render(&stats, true).contains("signet_connections_total"));
        m.serving_threads(3);
        m.connection(0);
        m.connection(2);
        m.connection(2);
        let text = m.render(&stats, true);
        for line in [
            "signet_connections_total{thread=\"0\"} 1",
            "signet_connections_total{thread=\"1\"} 0",
            "signet_connections_total{thread=\"2\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
    }
}
