//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes), behind a
//! gate that bounds how many run at once and reuses their memory.
//!
//! Each argon2 run needs 19 MiB of working memory. Allocated per call, a storm of parallel
//! logins grew the process by that much per blocking thread, and glibc kept it: 100 at
//! once left 1.9 GB resident. So at most one check per core runs at a time, each on one of
//! a few buffers allocated once and reused; a login that waits longer than a short queue
//! is told to retry. Checks against the dummy hash (unknown users) pass through the same
//! gate and cost the same as real ones.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// A valid hash of a random password, checked against when a username does not exist.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9lOgJz1Hl0m7m0v3rVvZ5yJ8l1dJqk8mWcQpA4Zb1aU";

/// How long a password check may wait for a free slot before the client is asked to retry.
/// At ~40 ms a check (release build) two slots clear a queue of ~100 in this time.
const QUEUE_WAIT: Duration = Duration::from_secs(4);

/// Most argon2 runs at once, whatever the core count: each holds 19 MiB while it runs.
const MAX_SLOTS: usize = 8;

/// The process's argon2 slots: permits to run, and the working memory each run borrows.
struct Gate {
    slots: Semaphore,
    memories: MemoryPool,
}

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Gate { slots: Semaphore::new(cores.clamp(1, MAX_SLOTS)), memories: MemoryPool::default() }
    })
}

/// Idle argon2 working memories. A run takes one (or makes one) and puts it back, so the
/// allocator sees no 19 MiB churn; at most [`MAX_SLOTS`] are kept.
#[derive(Default)]
struct MemoryPool(Mutex<Vec<Vec<Block>>>);

impl MemoryPool {
    /// Runs `work` on a working memory of at least `blocks` blocks.
    fn run<T>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let reused = self.0.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let mut memory = reused.unwrap_or_default();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let result = work(&mut memory);
        if let Ok(mut idle) = self.0.lock() {
            if idle.len() < MAX_SLOTS {
                idle.push(memory);
            }
        }
        result
    }

    #[cfg(test)]
    fn idle(&self) -> usize {
        self.0.lock().map(|idle| idle.len()).unwrap_or(0)
    }
}

/// Runs `work` on one of the process's reused working memories.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    gate().memories.run(blocks, work)
}

/// Waits for a slot, then runs `work` on the blocking pool.
async fn in_slot<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    let permit = match tokio::time::timeout(QUEUE_WAIT, gate().slots.acquire()).await {
        Ok(Ok(permit)) => permit,
        // The semaphore is never closed; a timeout means the queue is too long right now.
        Ok(Err(_)) | Err(_) => {
            note_turned_away();
            return Err(AppError::TooManyRequests {
                message: "too many sign-ins at once; try again in a moment".into(),
                retry_after_secs: 1,
            });
        }
    };
    let result = tokio::task::spawn_blocking(work).await;
    drop(permit);
    Ok(result?)
}

/// Logs turned-away checks through the process's register of continuing faults: one line
/// when a storm begins, then a reminder a minute with how many were turned away, so a
/// storm of thousands does not become thousands of log lines.
fn note_turned_away() {
    use crate::telemetry::{faults, Occurrence};
    match faults().occurred("password_queue") {
        Occurrence::First => {
            tracing::warn!("password checks queued too long; clients are asked to retry (429)")
        }
        Occurrence::Again { suppressed, since } => tracing::warn!(
            suppressed,
            seconds = since.as_secs(),
            "password checks still queued too long; clients are asked to retry (429)"
        ),
        Occurrence::Quiet => {}
    }
}

/// Hashes a password into a PHC string (waiting for a slot).
pub async fn hash(password: String) -> Result<String, AppError> {
    in_slot(move || hash_now(&password)).await?.map_err(AppError::Internal)
}

/// Whether `password` matches the PHC string `hash` (waiting for a slot); a malformed hash
/// never matches.
pub async fn verify(password: String, hash: String) -> Result<bool, AppError> {
    in_slot(move || verify_now(&password, &hash)).await
}

/// Hashes a password into a PHC string now, on this thread: for the command line and for
/// callers already holding a slot.
pub fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|err| anyhow::anyhow!("salt: {err}"))?;
    let output = with_memory(params.block_count(), |memory| {
        Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt_raw, out, memory)?;
            Ok(())
        })
    })
    .map_err(|err| anyhow::anyhow!("hashing password: {err}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|err| anyhow::anyhow!("params: {err}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches `hash`, checked now on this thread with reused memory.
pub fn verify_now(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed.version.map(Version::try_from).unwrap_or(Ok(Version::V0x13));
    let (Ok(version), Ok(params)) = (version, Params::try_from(&parsed)) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let computed = with_memory(params.block_count(), |memory| {
        Output::init_with(expected.len(), |out| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt_raw, out, memory)?;
            Ok(())
        })
    });
    // Output's equality is constant-time.
    matches!(computed, Ok(output) if output == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hash_then_verify() {
        let hashed = hash_now("correct horse").unwrap();
        assert!(hashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_now("correct horse", &hashed));
        assert!(!verify_now("wrong horse", &hashed));
        assert!(!verify_now("x", "not a hash"));
        assert!(!verify_now("anything", DUMMY_HASH));
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_verifier_both_ways() {
        // Ours → theirs: a hash made here is accepted by the crate's verifier.
        let ours = hash_now("swordfish").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"swordfish", &parsed).is_ok());
        // Theirs → ours: a hash stored by the earlier code (the crate's defaults) still logs in.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"swordfish", &salt).unwrap().to_string();
        assert!(verify_now("swordfish", &theirs));
        assert!(!verify_now("swordfish!", &theirs));
        // Other parameters than the defaults are read from the hash, not assumed.
        let small = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, None).unwrap());
        let light = small.hash_password(b"swordfish", &salt).unwrap().to_string();
        assert!(verify_now("swordfish", &light));
    }

    #[test]
    fn dummy_hash_parses_so_checking_it_costs_a_real_hash() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("a well-formed PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(Params::try_from(&parsed).unwrap().block_count(), Params::default().block_count());
    }

    #[test]
    fn working_memory_is_reused_not_reallocated() {
        let pool = MemoryPool::default();
        let blocks = Params::default().block_count();
        let first = pool.run(blocks, |memory| memory.as_ptr() as usize);
        // One run after another: the second gets the first one's buffer back.
        let second = pool.run(blocks, |memory| memory.as_ptr() as usize);
        assert_eq!(first, second, "the idle buffer was not reused");
        assert_eq!(pool.idle(), 1);
        // Runs at once each get their own buffer, and all of them are kept afterwards.
        let pool = std::sync::Arc::new(MemoryPool::default());
        std::thread::scope(|scope| {
            for _ in 0..3 {
                let pool = pool.clone();
                scope.spawn(move || pool.run(8, |_| std::thread::sleep(Duration::from_millis(30))));
            }
        });
        assert!((1..=3).contains(&pool.idle()));
        // A smaller run borrows a larger buffer rather than making a new one.
        let before = pool.idle();
        pool.run(4, |memory| assert!(memory.len() >= 8));
        assert_eq!(pool.idle(), before);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_checks_run_at_once_than_there_are_slots() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let checks: Vec<_> = (0..12)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(in_slot(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for check in checks {
            check.await.unwrap().unwrap();
        }
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        assert!(most.load(Ordering::SeqCst) <= cores.clamp(1, MAX_SLOTS));
        assert!(most.load(Ordering::SeqCst) >= 1);
    }
}
