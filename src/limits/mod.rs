//! Rate limits on logging in and posting, kept in memory per node (with N nodes a client
//! gets up to N times the configured rate, which is fine for slowing guessing and floods).
//!
//! Logins are limited twice: every attempt per client address (each costs an argon2 hash),
//! and failed attempts per username from any address, so guessing one account's password
//! from many addresses is slow while its owner, who gets it right, is never counted.

pub mod gcra;

use std::hash::BuildHasher;
use std::net::IpAddr;

use gcra::{Denied, KeyedLimiter, Quota};

use crate::config::Config;
use crate::error::AppError;

/// Keys each limiter holds at most (about 40 bytes each, so a few MiB in the worst case).
const KEYS_PER_LIMITER: usize = 65_536;

/// The node's limiters; `None` where the setting is 0.
pub struct RateLimits {
    login_by_address: Option<KeyedLimiter<IpAddr>>,
    /// Keyed by a digest of the normalised username, so a client sending huge usernames
    /// cannot make the map hold huge keys.
    login_failures_by_name: Option<KeyedLimiter<u64>>,
    posts_by_user: Option<KeyedLimiter<i64>>,
    /// Randomly seeded per process, so nobody can pick usernames that collide.
    name_hasher: std::collections::hash_map::RandomState,
}

impl RateLimits {
    pub fn new(config: &Config) -> RateLimits {
        RateLimits {
            login_by_address: limiter(config.login_per_minute),
            login_failures_by_name: limiter(config.login_failures_per_minute),
            posts_by_user: limiter(config.posts_per_minute),
            name_hasher: Default::default(),
        }
    }

    fn name_key(&self, username: &str) -> u64 {
        // The same normalisation as the login itself, so `Alice ` and `alice` share a bucket.
        self.name_hasher.hash_one(username.trim().to_lowercase())
    }

    /// Admits a login attempt from `address` for `username`, or answers 429. Takes from the
    /// address's bucket; the username's is only looked at (see [`login_failed`](Self::login_failed)).
    pub fn login_attempt(&self, address: Option<IpAddr>, username: &str) -> Result<(), AppError> {
        if let (Some(limiter), Some(address)) = (&self.login_by_address, address) {
            limiter.acquire(&address).map_err(|denied| {
                tracing::info!(%address, "login attempts over the limit for this address");
                too_many("too many login attempts from this address", denied)
            })?;
        }
        if let Some(limiter) = &self.login_failures_by_name {
            limiter.peek(&self.name_key(username)).map_err(|denied| {
                tracing::info!(?address, "failed logins over the limit for a username");
                too_many("too many failed logins for this username", denied)
            })?;
        }
        Ok(())
    }

    /// Counts a failed login against the username.
    pub fn login_failed(&self, username: &str) {
        if let Some(limiter) = &self.login_failures_by_name {
            limiter.charge(&self.name_key(username));
        }
    }

    /// Admits a new post by `user_id`, or answers 429.
    pub fn post(&self, user_id: i64) -> Result<(), AppError> {
        match &self.posts_by_user {
            Some(limiter) => {
                limiter.acquire(&user_id).map_err(|denied| too_many("you are posting too fast", denied))
            }
            None => Ok(()),
        }
    }
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<KeyedLimiter<K>> {
    Quota::per_minute(per_minute).map(|quota| KeyedLimiter::new(quota, KEYS_PER_LIMITER))
}

fn too_many(what: &str, denied: Denied) -> AppError {
    let retry_after_secs = denied.retry_after_secs();
    AppError::TooManyRequests {
        message: format!("{what}; try again in {retry_after_secs} s"),
        retry_after_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(login: u32, failures: u32, posts: u32) -> RateLimits {
        RateLimits::new(&Config {
            login_per_minute: login,
            login_failures_per_minute: failures,
            posts_per_minute: posts,
            ..Config::default()
        })
    }

    #[test]
    fn only_failures_count_against_a_username() {
        let limits = limits(0, 2, 0);
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..10 {
            assert!(limits.login_attempt(here, "alice").is_ok(), "successes are not counted");
        }
        limits.login_failed("Alice");
        limits.login_failed(" alice");
        let err = limits.login_attempt(Some(IpAddr::from([10, 0, 0, 2])), "ALICE").unwrap_err();
        assert!(matches!(err, AppError::TooManyRequests { retry_after_secs: 30, .. }), "{err:?}");
        assert!(limits.login_attempt(here, "bob").is_ok());
    }

    #[test]
    fn every_attempt_counts_against_an_address() {
        let limits = limits(2, 0, 0);
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        assert!(limits.login_attempt(here, "a").is_ok());
        assert!(limits.login_attempt(here, "b").is_ok());
        assert!(limits.login_attempt(here, "c").is_err());
        assert!(limits.login_attempt(Some(IpAddr::from([10, 0, 0, 2])), "c").is_ok());
        assert!(limits.login_attempt(None, "c").is_ok(), "no address, no address limit");
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let limits = limits(0, 0, 0);
        for _ in 0..1000 {
            assert!(limits.post(1).is_ok());
        }
    }
}
