//! Logging: a `tracing` subscriber writing to stderr, filtered by `RUST_LOG` or the config,
//! and [`Repeats`], which keeps a continuing fault from flooding it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests) are ignored.
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // handlebars logs each render context at debug, and the context holds the session's
    // form token: whatever the filter, its logs stop at info.
    let filter = match "handlebars=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// How often a continuing fault is logged again after its first line.
pub const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// What to log for one more occurrence of a fault ([`Repeats::occurred`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    /// The first since the fault began (or since it last ended): log it in full.
    First,
    /// Still going, and the last line is old enough: log a reminder with these counts.
    Again {
        /// Occurrences not logged since the last line.
        suppressed: u64,
        /// How long the fault has lasted.
        since: Duration,
    },
    /// Logged recently: stay quiet.
    Quiet,
}

/// Rate limits the log lines of continuing faults, one run per cause: an operator needs one
/// clear line when a fault begins, then a reminder at most every `every` with how many
/// repeats it stood for, not one line per failing request or retry. A run ends when its
/// owner says so ([`Repeats::ended`]) or when the cause has not occurred for `every`.
pub struct Repeats {
    every: Duration,
    runs: Mutex<HashMap<&'static str, Run>>,
}

struct Run {
    since: Instant,
    logged: Instant,
    last: Instant,
    suppressed: u64,
}

impl Repeats {
    /// Reminders at most every `every` per cause.
    pub fn new(every: Duration) -> Repeats {
        Repeats { every, runs: Mutex::new(HashMap::new()) }
    }

    /// Counts one occurrence of `cause` and says whether (and how) to log it.
    pub fn occurred(&self, cause: &'static str) -> Occurrence {
        let now = Instant::now();
        let Ok(mut runs) = self.runs.lock() else { return Occurrence::First };
        match runs.get_mut(cause) {
            Some(run) if now.duration_since(run.last) < self.every => {
                run.last = now;
                if now.duration_since(run.logged) < self.every {
                    run.suppressed += 1;
                    return Occurrence::Quiet;
                }
                let again =
                    Occurrence::Again { suppressed: run.suppressed, since: now.duration_since(run.since) };
                run.logged = now;
                run.suppressed = 0;
                again
            }
            _ => {
                runs.insert(cause, Run { since: now, logged: now, last: now, suppressed: 0 });
                Occurrence::First
            }
        }
    }

    /// Ends the run of `cause`; returns how long it lasted if it was going, so the caller
    /// can log the recovery once.
    pub fn ended(&self, cause: &'static str) -> Option<Duration> {
        let mut runs = self.runs.lock().ok()?;
        runs.remove(cause).map(|run| run.since.elapsed())
    }
}

/// The process's one register of continuing faults (a full disk, an unwritable index).
pub fn faults() -> &'static Repeats {
    static FAULTS: OnceLock<Repeats> = OnceLock::new();
    FAULTS.get_or_init(|| Repeats::new(REPEAT_EVERY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuing_fault_is_logged_once_then_reminded_with_its_count() {
        let repeats = Repeats::new(Duration::from_millis(50));
        assert_eq!(repeats.occurred("disk"), Occurrence::First);
        assert_eq!(repeats.occurred("index"), Occurrence::First, "causes are counted apart");
        for _ in 0..1000 {
            assert_eq!(repeats.occurred("disk"), Occurrence::Quiet);
        }
        // Still occurring (more often than `every`): one reminder once `every` has passed.
        let mut reminders = Vec::new();
        for _ in 0..7 {
            std::thread::sleep(Duration::from_millis(10));
            if let Occurrence::Again { suppressed, since } = repeats.occurred("disk") {
                reminders.push((suppressed, since));
            }
        }
        assert_eq!(reminders.len(), 1, "{reminders:?}");
        assert!(reminders[0].0 >= 1000, "{reminders:?}");
        assert!(reminders[0].1 >= Duration::from_millis(50), "{reminders:?}");
        assert_eq!(repeats.occurred("disk"), Occurrence::Quiet);
        assert!(repeats.ended("disk").is_some());
        assert!(repeats.ended("disk").is_none(), "a run ends once");
        assert_eq!(repeats.occurred("disk"), Occurrence::First, "a new run starts with a full line");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(repeats.occurred("disk"), Occurrence::First, "a fault gone quiet for `every` has ended");
    }
}
