//! A keyed rate limiter (GCRA, the generic cell rate algorithm: a token bucket kept as one
//! timestamp per key) with bounded memory and an injectable clock.
//!
//! Why hand-written rather than `governor`: i2i needs to *look* at a bucket without taking
//! from it (failed logins are charged only once they have failed), to evict idle keys
//! without a separate housekeeping task, and a hard cap on keys; `governor`'s keyed
//! limiter has no peek and grows until someone calls `retain_recent`. GCRA is a few lines:
//! per key it stores the "theoretical arrival time" (TAT), the moment the bucket will be
//! full again. A key whose TAT has passed holds a full bucket, exactly as a missing key
//! does, so dropping it loses nothing; that is what makes eviction cheap and exact.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a limiter reads the time; tests substitute a [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync {
    /// Time elapsed since some fixed origin; never goes backwards.
    fn now(&self) -> Duration;
}

/// The real monotonic clock.
#[derive(Debug, Clone)]
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock { origin: Instant::now() }
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// How many requests a key may make: `burst` at once, refilled at one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub burst: u32,
    pub interval: Duration,
}

impl Quota {
    /// `count` requests per minute, all of which may come at once. `None` for 0 (no limit).
    pub fn per_minute(count: u32) -> Option<Quota> {
        if count == 0 {
            return None;
        }
        Some(Quota { burst: count, interval: Duration::from_secs(60) / count })
    }

    /// How far ahead of now a key's TAT may run and still admit a request.
    fn tolerance(&self) -> Duration {
        self.interval.saturating_mul(self.burst.saturating_sub(1))
    }
}

/// The answer for a key that is over its quota: how long until one more request fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub retry_after: Duration,
}

impl Denied {
    /// Whole seconds for a `Retry-After` header, rounded up so a client that waits that
    /// long is admitted (and never 0, which would invite an immediate retry).
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// Keys kept before a sweep drops idle ones, at the least.
const MIN_SWEEP_AT: usize = 1024;

struct Buckets<K> {
    /// Per key, the time (on the limiter's clock) at which its bucket is full again.
    tat: HashMap<K, Duration>,
    /// Size at which the next insert sweeps idle keys; doubles with the live set so the
    /// sweeps cost O(1) per insert on average.
    sweep_at: usize,
}

/// A rate limiter per key `K` (an IP address, a user id, a username digest).
pub struct KeyedLimiter<K, C = MonotonicClock> {
    quota: Quota,
    /// Most keys ever held; beyond it the keys nearest to a full bucket are forgotten.
    capacity: usize,
    clock: C,
    buckets: Mutex<Buckets<K>>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K, MonotonicClock> {
    pub fn new(quota: Quota, capacity: usize) -> Self {
        KeyedLimiter::with_clock(quota, capacity, MonotonicClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedLimiter<K, C> {
    pub fn with_clock(quota: Quota, capacity: usize, clock: C) -> Self {
        debug_assert!(quota.burst > 0 && capacity > 0);
        let buckets = Buckets { tat: HashMap::new(), sweep_at: MIN_SWEEP_AT.min(capacity) };
        KeyedLimiter { quota, capacity: capacity.max(1), clock, buckets: Mutex::new(buckets) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets<K>> {
        // The map holds only timestamps; one left by a panicking thread is still valid.
        self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one request from `key`'s bucket, or says how long to wait.
    pub fn acquire(&self, key: &K) -> Result<(), Denied> {
        let now = self.clock.now();
        let mut buckets = self.lock();
        let start = buckets.tat.get(key).copied().unwrap_or(now).max(now);
        self.admit(start, now)?;
        self.store(&mut buckets, key, start + self.quota.interval, now);
        Ok(())
    }

    /// Whether `key` could make a request now, without taking from its bucket.
    pub fn peek(&self, key: &K) -> Result<(), Denied> {
        let now = self.clock.now();
        let buckets = self.lock();
        let start = buckets.tat.get(key).copied().unwrap_or(now).max(now);
        self.admit(start, now)
    }

    /// Takes one request from `key`'s bucket even if it is empty (for an attempt that was
    /// admitted by [`peek`](Self::peek) and turned out to count, like a failed login).
    pub fn charge(&self, key: &K) {
        let now = self.clock.now();
        let mut buckets = self.lock();
        let start = buckets.tat.get(key).copied().unwrap_or(now).max(now);
        // Capped at an empty bucket: only racing attempts can charge past it, and they
        // should not push the key's wait beyond one interval.
        let cap = now + self.quota.tolerance() + self.quota.interval;
        self.store(&mut buckets, key, (start + self.quota.interval).min(cap), now);
    }

    /// Number of keys held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().tat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn admit(&self, start: Duration, now: Duration) -> Result<(), Denied> {
        let ahead = start - now;
        let tolerance = self.quota.tolerance();
        if ahead > tolerance {
            return Err(Denied { retry_after: ahead - tolerance });
        }
        Ok(())
    }

    fn store(&self, buckets: &mut Buckets<K>, key: &K, tat: Duration, now: Duration) {
        if let Some(slot) = buckets.tat.get_mut(key) {
            *slot = tat;
            return;
        }
        if buckets.tat.len() >= buckets.sweep_at {
            self.sweep(buckets, now);
        }
        buckets.tat.insert(key.clone(), tat);
    }

    /// Drops keys whose bucket is full again (exact: such a key behaves like a new one).
    /// If every key is still busy and the map is at capacity, forgets the quarter nearest
    /// to full: under a flood of distinct keys memory stays bounded, at the price of
    /// forgiving the keys that had the least left to wait.
    fn sweep(&self, buckets: &mut Buckets<K>, now: Duration) {
        buckets.tat.retain(|_, tat| *tat > now);
        if buckets.tat.len() >= self.capacity {
            let keep = (self.capacity - self.capacity / 4).min(self.capacity - 1);
            if keep == 0 {
                buckets.tat.clear();
                buckets.sweep_at = self.capacity;
                return;
            }
            let mut times: Vec<Duration> = buckets.tat.values().copied().collect();
            let cut = times.len() - keep;
            let (_, threshold, _) = times.select_nth_unstable(cut);
            let threshold = *threshold;
            buckets.tat.retain(|_, tat| *tat >= threshold);
            // Ties at the threshold can leave a few more than `keep`; drop any extra.
            let extra = buckets.tat.len().saturating_sub(keep);
            if extra > 0 {
                let doomed: Vec<K> = buckets
                    .tat
                    .iter()
                    .filter(|(_, t)| **t == threshold)
                    .map(|(k, _)| k.clone())
                    .take(extra)
                    .collect();
                for key in doomed {
                    buckets.tat.remove(&key);
                }
            }
        }
        buckets.sweep_at = (buckets.tat.len() * 2).clamp(MIN_SWEEP_AT.min(self.capacity), self.capacity);
        debug_assert!(buckets.tat.len() < self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, capacity: usize) -> (KeyedLimiter<u32, ManualClock>, ManualClock) {
        let clock = ManualClock::default();
        let quota = Quota::per_minute(per_minute).unwrap();
        (KeyedLimiter::with_clock(quota, capacity, clock.clone()), clock)
    }

    #[test]
    fn zero_means_no_limit() {
        assert_eq!(Quota::per_minute(0), None);
    }

    #[test]
    fn a_full_bucket_admits_the_burst_then_refills_one_per_interval() {
        let (limiter, clock) = limiter(6, 100);
        for _ in 0..6 {
            assert_eq!(limiter.acquire(&1), Ok(()));
        }
        let denied = limiter.acquire(&1).unwrap_err();
        assert_eq!(denied.retry_after, Duration::from_secs(10));
        assert_eq!(denied.retry_after_secs(), 10);
        // Partly refilled: still waiting, and the wait shrinks with the clock.
        clock.advance(Duration::from_millis(9_500));
        assert_eq!(limiter.acquire(&1).unwrap_err().retry_after, Duration::from_millis(500));
        assert_eq!(limiter.acquire(&1).unwrap_err().retry_after_secs(), 1);
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.acquire(&1), Ok(()), "one token back after one interval");
        assert!(limiter.acquire(&1).is_err());
        // A whole minute refills the whole bucket, and no more than that.
        clock.advance(Duration::from_secs(600));
        for _ in 0..6 {
            assert_eq!(limiter.acquire(&1), Ok(()));
        }
        assert!(limiter.acquire(&1).is_err());
    }

    #[test]
    fn keys_do_not_share_buckets() {
        let (limiter, _clock) = limiter(2, 100);
        assert!(limiter.acquire(&1).is_ok() && limiter.acquire(&1).is_ok());
        assert!(limiter.acquire(&1).is_err());
        assert_eq!(limiter.acquire(&2), Ok(()));
    }

    #[test]
    fn peek_takes_nothing_and_charge_takes_even_when_empty() {
        let (limiter, clock) = limiter(2, 100);
        for _ in 0..5 {
            assert_eq!(limiter.peek(&1), Ok(()));
        }
        limiter.charge(&1);
        limiter.charge(&1);
        assert_eq!(limiter.peek(&1).unwrap_err().retry_after, Duration::from_secs(30));
        // Charges beyond empty (racing attempts) do not push the wait out further.
        for _ in 0..100 {
            limiter.charge(&1);
        }
        assert_eq!(limiter.peek(&1).unwrap_err().retry_after, Duration::from_secs(30));
        clock.advance(Duration::from_secs(30));
        assert_eq!(limiter.peek(&1), Ok(()));
    }

    #[test]
    fn idle_keys_are_evicted_and_come_back_with_a_full_bucket() {
        let (limiter, clock) = limiter(60, 10_000);
        for key in 0..MIN_SWEEP_AT as u32 {
            limiter.acquire(&key).unwrap();
        }
        assert_eq!(limiter.len(), MIN_SWEEP_AT);
        // After a second every one of those buckets is full again, so the next new key
        // sweeps them all away.
        clock.advance(Duration::from_secs(1));
        limiter.acquire(&999_999).unwrap();
        assert_eq!(limiter.len(), 1);
        for _ in 0..60 {
            limiter.acquire(&7).unwrap();
        }
        assert!(limiter.acquire(&7).is_err());
    }

    #[test]
    fn busy_keys_never_exceed_the_capacity() {
        let (limiter, clock) = limiter(1, 64);
        for key in 0..10_000u32 {
            // Each key is exhausted (one per minute), so none is idle when swept.
            limiter.acquire(&key).unwrap();
            assert!(limiter.len() <= 64, "{} keys held", limiter.len());
            clock.advance(Duration::from_millis(1));
        }
        // The most recently limited keys are the ones kept.
        assert!(limiter.acquire(&9_999).is_err());
    }
}
