//! `rate_limit`: token buckets per owner and per client IP; both must allow.
//!
//! Guarantees:
//! - Each bucket is a GCRA (the integer form of a token bucket): `rate` tokens per
//!   second, at most `burst` at once. State is one "theoretical arrival time" in
//!   nanoseconds per key, so there is no float drift and no refill loop.
//! - A request is counted only when every bucket that applies allows it: a refusal
//!   by the IP bucket does not spend the owner's tokens, and the other way round.
//! - Refusal: 429, decision Block, reason "rate limit exceeded" (as signet),
//!   `retry_after_s` (whole seconds, rounded up, at least 1) for the `Retry-After`
//!   header, metadata `retry_after_ms` (integer) and `limit` (`per_owner`/`per_ip`).
//! - Bounded memory: at most `max_keys` keys per bucket. When full, idle keys (whose
//!   bucket has refilled, so forgetting them changes nothing) are dropped first; if
//!   still full, the tenth of keys closest to full are dropped (amortised O(1)).
//!   Flooding keys can thus reset other keys' limits only after filling the table.
//! - Requests without an owner skip the per-owner bucket (the IP bucket still
//!   applies): all unattributed traffic sharing one bucket would let one caller
//!   starve the rest.
//! - The clock is injected ([`Clock`]); tests drive it by hand.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use signet_audit::json::Value;

use super::{AdmissionCheck, AdmissionState, Refusal, Request};

pub const CHECK: &str = "rate_limit";

/// Source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A validated rate: one token every `interval_ns`, at most `burst` tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    interval_ns: u64,
    burst: u64,
}

impl Rate {
    /// `None` unless `per_second` is finite and in (0, 1e9] and `burst >= 1`.
    pub fn new(per_second: f64, burst: u32) -> Option<Rate> {
        if !(per_second.is_finite() && per_second > 0.0 && per_second <= 1e9) || burst == 0 {
            return None;
        }
        let interval_ns = (1e9 / per_second).round().max(1.0) as u64;
        Some(Rate {
            interval_ns,
            burst: u64::from(burst),
        })
    }
}

struct Bucket<K> {
    rate: Rate,
    max_keys: usize,
    tat: Mutex<HashMap<K, u64>>,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(rate: Rate, max_keys: usize) -> Self {
        Bucket {
            rate,
            max_keys: max_keys.max(1),
            tat: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, u64>> {
        // A panic elsewhere cannot leave a half-written u64 behind: keep going.
        self.tat.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok(new arrival time)` if a request at `now` is allowed, else `Err(wait ns)`.
    fn decide(&self, map: &HashMap<K, u64>, key: &K, now: u64) -> Result<u64, u64> {
        let tau = self.rate.interval_ns.saturating_mul(self.rate.burst - 1);
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let earliest = tat.saturating_sub(tau);
        if earliest > now {
            return Err(earliest - now);
        }
        Ok(tat.saturating_add(self.rate.interval_ns))
    }

    fn commit(&self, map: &mut HashMap<K, u64>, key: K, tat: u64, now: u64) {
        if !map.contains_key(&key) && map.len() >= self.max_keys {
            map.retain(|_, t| *t > now);
            if map.len() >= self.max_keys {
                let mut tats: Vec<u64> = map.values().copied().collect();
                let drop = (self.max_keys / 10).max(1).min(tats.len() - 1);
                let (_, cut, _) = tats.select_nth_unstable(drop);
                let cut = *cut;
                map.retain(|_, t| *t > cut);
            }
        }
        map.insert(key, tat);
    }
}

/// The `rate_limit` check.
pub struct RateLimit {
    per_owner: Option<Bucket<String>>,
    per_ip: Option<Bucket<IpAddr>>,
    clock: Arc<dyn Clock>,
    origin: Instant,
}

impl RateLimit {
    pub fn new(
        per_owner: Option<Rate>,
        per_ip: Option<Rate>,
        max_keys: usize,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let origin = clock.now();
        RateLimit {
            per_owner: per_owner.map(|r| Bucket::new(r, max_keys)),
            per_ip: per_ip.map(|r| Bucket::new(r, max_keys)),
            clock,
            origin,
        }
    }

    fn refusal(wait_ns: u64, limit: &'static str) -> Refusal {
        let mut r = Refusal::new(429, CHECK, "rate limit exceeded");
        r.retry_after_s = Some(wait_ns.div_ceil(1_000_000_000).max(1));
        r.metadata.insert(
            "retry_after_ms".into(),
            Value::from(wait_ns.div_ceil(1_000_000)),
        );
        r.metadata.insert("limit".into(), limit.into());
        r
    }
}

impl AdmissionCheck for RateLimit {
    fn name(&self) -> &'static str {
        CHECK
    }

    fn check(&self, req: &Request<'_>, state: &mut AdmissionState) -> Result<(), Refusal> {
        let now = u64::try_from(
            self.clock
                .now()
                .saturating_duration_since(self.origin)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX);
        let owner_key = state
            .owner
            .as_ref()
            .map(|o| format!("{}:{}", o.kind.as_str(), o.id));
        // Lock order is always owner then IP.
        let mut owners = self
            .per_owner
            .as_ref()
            .zip(owner_key)
            .map(|(b, k)| (b, b.lock(), k));
        let mut ips = self.per_ip.as_ref().map(|b| (b, b.lock()));
        let owner_tat = match &owners {
            Some((b, map, k)) => Some(
                b.decide(map, k, now)
                    .map_err(|w| Self::refusal(w, "per_owner"))?,
            ),
            None => None,
        };
        let ip_tat = match &ips {
            Some((b, map)) => Some(
                b.decide(map, &req.client_ip, now)
                    .map_err(|w| Self::refusal(w, "per_ip"))?,
            ),
            None => None,
        };
        if let (Some((b, map, k)), Some(t)) = (owners.as_mut(), owner_tat) {
            b.commit(map, std::mem::take(k), t, now);
        }
        if let (Some((b, map)), Some(t)) = (ips.as_mut(), ip_tat) {
            b.commit(map, req.client_ip, t, now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::admission::headers::test_support::{TestRequest, request, run};
    use crate::admission::owner::{owner, sanitize_principal};

    struct ManualClock {
        base: Instant,
        offset_ms: AtomicU64,
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            self.base + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
        }
    }

    fn setup(
        per_owner: Option<Rate>,
        per_ip: Option<Rate>,
        max_keys: usize,
    ) -> (RateLimit, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock {
            base: Instant::now(),
            offset_ms: AtomicU64::new(0),
        });
        (
            RateLimit::new(per_owner, per_ip, max_keys, clock.clone()),
            clock,
        )
    }

    fn call(rl: &RateLimit, who: Option<&str>, r: &TestRequest) -> Result<(), Refusal> {
        let mut state = AdmissionState {
            owner: who.map(|w| {
                owner(
                    signet_audit::OwnerType::Human,
                    sanitize_principal(w, "t").unwrap(),
                    "header",
                )
            }),
            ..Default::default()
        };
        run(rl, r, &mut state)
    }

    #[test]
    fn burst_then_refill() {
        let (rl, clock) = setup(Some(Rate::new(2.0, 3).unwrap()), None, 100);
        let r = request(&[], b"");
        for _ in 0..3 {
            call(&rl, Some("alice"), &r).unwrap();
        }
        let e = call(&rl, Some("alice"), &r).unwrap_err();
        assert_eq!(
            (e.status, e.check, e.reason.as_str()),
            (429, CHECK, "rate limit exceeded")
        );
        assert_eq!(e.retry_after_s, Some(1));
        assert_eq!(e.metadata.get("retry_after_ms"), Some(&Value::from(500u64)));
        assert_eq!(e.metadata.get("limit"), Some(&Value::from("per_owner")));
        call(&rl, Some("bob"), &r).unwrap();
        clock.offset_ms.store(499, Ordering::SeqCst);
        assert_eq!(
            call(&rl, Some("alice"), &r)
                .unwrap_err()
                .metadata
                .get("retry_after_ms"),
            Some(&Value::from(1u64))
        );
        clock.offset_ms.store(500, Ordering::SeqCst);
        call(&rl, Some("alice"), &r).unwrap();
        assert!(call(&rl, Some("alice"), &r).is_err());
    }

    #[test]
    fn both_buckets_must_allow_without_spending_the_other() {
        let (rl, clock) = setup(
            Some(Rate::new(1.0, 1).unwrap()),
            Some(Rate::new(1.0, 2).unwrap()),
            100,
        );
        let r = request(&[], b"");
        call(&rl, Some("alice"), &r).unwrap();
        // Owner refuses: the IP's second token is not spent.
        assert_eq!(
            call(&rl, Some("alice"), &r)
                .unwrap_err()
                .metadata
                .get("limit"),
            Some(&Value::from("per_owner"))
        );
        call(&rl, Some("bob"), &r).unwrap();
        let e = call(&rl, Some("carol"), &r).unwrap_err();
        assert_eq!(e.metadata.get("limit"), Some(&Value::from("per_ip")));
        // IP refused carol: her owner bucket is untouched.
        clock.offset_ms.store(1000, Ordering::SeqCst);
        call(&rl, Some("carol"), &r).unwrap();
        // Unattributed requests use only the IP bucket.
        clock.offset_ms.store(5000, Ordering::SeqCst);
        call(&rl, None, &r).unwrap();
        call(&rl, None, &r).unwrap();
        assert!(call(&rl, None, &r).is_err());
    }

    #[test]
    fn slow_rates_round_retry_after_up() {
        let (rl, _) = setup(None, Some(Rate::new(0.1, 1).unwrap()), 10);
        let r = request(&[], b"");
        call(&rl, None, &r).unwrap();
        let e = call(&rl, None, &r).unwrap_err();
        assert_eq!(e.retry_after_s, Some(10));
        assert_eq!(
            e.metadata.get("retry_after_ms"),
            Some(&Value::from(10_000u64))
        );
        assert!(Rate::new(0.0, 1).is_none());
        assert!(Rate::new(f64::NAN, 1).is_none());
        assert!(Rate::new(1.0, 0).is_none());
    }

    #[test]
    fn key_table_stays_bounded() {
        let (rl, clock) = setup(
            Some(Rate::new(1.0, 1).unwrap()),
            Some(Rate::new(1000.0, 1000).unwrap()),
            50,
        );
        let r = request(&[], b"");
        for i in 0..500 {
            call(&rl, Some(&format!("owner-{i}")), &r).unwrap();
            assert!(rl.per_owner.as_ref().unwrap().lock().len() <= 50);
        }
        // After they went idle, all are dropped at the next insert of a new key.
        clock.offset_ms.store(10_000, Ordering::SeqCst);
        call(&rl, Some("fresh"), &r).unwrap();
        assert_eq!(rl.per_owner.as_ref().unwrap().lock().len(), 1);
        // A key being limited keeps its state while the table has room.
        call(&rl, Some("fresh"), &r).unwrap_err();
    }
}
