//! Login throttling: so many attempts per minute per account (e-mail) and per client address,
//! each a token bucket that refills evenly over the minute and starts full (a burst of the
//! whole minute's allowance).
//!
//! The logic is pure (the caller passes `now`) so tests need no clock. Keys are stored as
//! 64-bit keyed hashes (a random key per process), so an attacker's megabyte e-mails cost no
//! more than short ones, and the table is bounded: a bucket that has refilled is the same as
//! no bucket, so those are swept out when the table fills; when every bucket is still in use
//! (more than [`MAX_KEYS`] keys within a minute) new keys are refused until some refill.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::config::ApiLimits;

/// Keys each limiter remembers at most (about 40 bytes each).
pub const MAX_KEYS: usize = 100_000;
/// Sweeping is O(keys); under a flood of new keys it runs at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A login refused by a throttle: which one, and when the next attempt would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub by: ThrottleKey,
    pub retry_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ThrottleLabels {
    by: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKey {
    Account,
    Address,
}

impl ThrottleKey {
    pub fn name(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Address => "address",
        }
    }
}

/// Both login throttles, and the count of what they refused.
#[derive(Debug)]
pub struct LoginThrottle {
    per_account: KeyedLimiter,
    per_address: KeyedLimiter,
    refused: Family<ThrottleLabels, Counter>,
}

impl LoginThrottle {
    pub fn new(limits: &ApiLimits) -> Self {
        Self {
            per_account: KeyedLimiter::new(limits.logins_per_account, MAX_KEYS),
            per_address: KeyedLimiter::new(limits.logins_per_address, MAX_KEYS),
            refused: Family::default(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "logins_throttled",
            "Login attempts answered 429, by the throttle that refused them (account or address)",
            self.refused.clone(),
        );
    }

    /// Takes one attempt from the address's allowance, then from the account's. Without a
    /// known address (a router driven in-process) only the account counts.
    pub fn admit(
        &self,
        email: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Throttled> {
        let outcome = address
            .map_or(Ok(()), |a| self.per_address.take(&a, now))
            .map_err(|retry_after| Throttled {
                by: ThrottleKey::Address,
                retry_after,
            })
            .and_then(|()| {
                // "Ana@Example.com " is the same account as "ana@example.com".
                let account = email.trim().to_lowercase();
                self.per_account
                    .take(&account, now)
                    .map_err(|retry_after| Throttled {
                        by: ThrottleKey::Account,
                        retry_after,
                    })
            });
        if let Err(throttled) = &outcome {
            self.refused
                .get_or_create(&ThrottleLabels {
                    by: throttled.by.name(),
                })
                .inc();
        }
        outcome
    }
}

/// The client's address: the TCP peer, or, when the API is told it runs behind a balancer
/// that appends the address it saw to `X-Forwarded-For` (ALB, the local stack's), that last
/// entry. Earlier entries are whatever the client wrote, so they are never trusted.
pub fn client_address(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    let forwarded = || {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()?
            .to_str()
            .ok()?
            .rsplit(',')
            .next()?
            .trim()
            .parse::<IpAddr>()
            .ok()
    };
    let peer = peer.map(|p| p.ip());
    if trust_forwarded_for {
        forwarded().or(peer)
    } else {
        peer
    }
}

/// Token buckets by key: `per_minute` attempts a minute, refilled evenly; 0 means no limit.
#[derive(Debug)]
struct KeyedLimiter {
    per_minute: u32,
    max_keys: usize,
    hasher: RandomState,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    buckets: HashMap<u64, Bucket>,
    last_sweep: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl KeyedLimiter {
    fn new(per_minute: u32, max_keys: usize) -> Self {
        Self {
            per_minute,
            max_keys,
            hasher: RandomState::new(),
            table: Mutex::new(Table::default()),
        }
    }

    fn per_second(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    /// The bucket's tokens at `now`, refilled since it was last touched.
    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second()).min(f64::from(self.per_minute))
    }

    /// Takes one token for `key`, or says how long until one is there.
    fn take(&self, key: &impl Hash, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let key = self.hasher.hash_one(key);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if !table.buckets.contains_key(&key) && table.buckets.len() >= self.max_keys {
            self.sweep(&mut table, now);
            if table.buckets.len() >= self.max_keys {
                // Every remembered key is mid-minute: refusing the newcomer keeps memory
                // bounded; the next sweep frees room within a minute at most.
                return Err(SWEEP_EVERY);
            }
        }
        let full = f64::from(self.per_minute);
        let bucket = table.buckets.entry(key).or_insert(Bucket {
            tokens: full,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_second()))
        }
    }

    /// Forgets buckets that are full again (they mean the same as no bucket).
    fn sweep(&self, table: &mut Table, now: Instant) {
        if table
            .last_sweep
            .is_some_and(|last| now.saturating_duration_since(last) < SWEEP_EVERY)
        {
            return;
        }
        table.last_sweep = Some(now);
        let full = f64::from(self.per_minute);
        table
            .buckets
            .retain(|_, bucket| self.refilled(*bucket, now) < full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_full_minute_passes_then_attempts_refill_evenly() {
        let limiter = KeyedLimiter::new(6, 10);
        let t0 = Instant::now();
        for _ in 0..6 {
            assert_eq!(limiter.take(&"ana", t0), Ok(()));
        }
        // One token refills every 10 s.
        let wait = limiter.take(&"ana", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 10.0).abs() < 1e-6, "{wait:?}");
        assert!(limiter.take(&"ana", t0 + secs(9.9)).is_err());
        assert_eq!(limiter.take(&"ana", t0 + secs(10.0)), Ok(()));
        assert!(limiter.take(&"ana", t0 + secs(10.0)).is_err());
        // Other keys have their own allowance.
        assert_eq!(limiter.take(&"luis", t0), Ok(()));
        // A long pause refills to the minute's allowance, not beyond.
        let later = t0 + secs(3600.0);
        for _ in 0..6 {
            assert_eq!(limiter.take(&"ana", later), Ok(()));
        }
        assert!(limiter.take(&"ana", later).is_err());
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = KeyedLimiter::new(0, 1);
        let t0 = Instant::now();
        for i in 0..1000 {
            assert_eq!(limiter.take(&i, t0), Ok(()));
        }
    }

    #[test]
    fn the_table_is_bounded_and_refilled_keys_make_room() {
        let limiter = KeyedLimiter::new(60, 3);
        let t0 = Instant::now();
        for key in 0..3 {
            limiter.take(&key, t0).unwrap();
        }
        // Full of keys still mid-minute: a newcomer waits, known keys go on.
        assert_eq!(limiter.take(&3, t0), Err(SWEEP_EVERY));
        assert_eq!(limiter.take(&0, t0), Ok(()));
        // A second later the three have refilled (one token a second): swept, room again.
        assert_eq!(limiter.take(&3, t0 + secs(2.0)), Ok(()));
        let table = limiter.table.lock().unwrap();
        assert!(table.buckets.len() <= 3, "{}", table.buckets.len());
    }

    #[test]
    fn accounts_ignore_case_and_addresses_count_apart() {
        let limits = ApiLimits {
            logins_per_account: 2,
            logins_per_address: 3,
            ..ApiLimits::default()
        };
        let throttle = LoginThrottle::new(&limits);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(throttle.admit("Ana@example.com", Some(a), t0).is_ok());
        assert!(throttle.admit(" ana@EXAMPLE.com", Some(b), t0).is_ok());
        let refused = throttle.admit("ana@example.com", Some(b), t0).unwrap_err();
        assert_eq!(refused.by, ThrottleKey::Account);
        // Address a has spent 1 of 3; two more accounts from it pass, a fourth does not.
        assert!(throttle.admit("luis@example.com", Some(a), t0).is_ok());
        assert!(throttle.admit("eva@example.com", Some(a), t0).is_ok());
        let refused = throttle.admit("juan@example.com", Some(a), t0).unwrap_err();
        assert_eq!(refused.by, ThrottleKey::Address);
        assert!(refused.retry_after > Duration::ZERO);
        let metrics = {
            let mut registry = Registry::default();
            throttle.register(&mut registry);
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
            out
        };
        assert!(
            metrics.contains(r#"logins_throttled_total{by="account"} 1"#),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"logins_throttled_total{by="address"} 1"#),
            "{metrics}"
        );
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted_and_only_its_last_entry() {
        let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "1.1.1.1, 2.2.2.2".parse().unwrap());
        headers.append("x-forwarded-for", "9.9.9.9, 203.0.113.7".parse().unwrap());
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(client_address(Some(peer), &headers, false), ip("127.0.0.1"));
        assert_eq!(
            client_address(Some(peer), &headers, true),
            ip("203.0.113.7")
        );
        let mut garbage = HeaderMap::new();
        garbage.insert("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_address(Some(peer), &garbage, true), ip("127.0.0.1"));
        assert_eq!(client_address(None, &HeaderMap::new(), true), None);
    }
}
