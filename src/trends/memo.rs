//! Remembers the answers of the three heavier trend views (trending, recurring, pairs) until
//! the data behind them changes. Each answer is a pure function of the database and the
//! window, so it is kept under a version read from the database and recomputed as soon as
//! that moves: never stale, only cheaper. Windows end at the start of an hour, so once one
//! has ended, live posts (which land in the current hour) cannot change it; only writes to
//! past hours can, and those bump the rollup epoch in their transaction. Answers about such
//! windows are therefore keyed by the epoch and survive an incident's stream of posts.
//! Every node keeps its own memo; the versions come from the shared database, so writes on
//! other nodes invalidate it too.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use super::rollups::{self, HOUR_MS};
use super::sliding::SlidingCache;
use super::views::{self, Pairs, Recurring, Trending};
use super::windows::Window;
use crate::db::{changes, now_ms, DbConn};
use crate::error::AppError;

/// At most this many answers per view; a full slot is emptied (keys are windows ending at
/// an hour, so a handful are in use at any time).
const ENTRIES_PER_VIEW: usize = 64;

/// The kind of a version, the word before its value (`epoch 7`, `data 12:3`).
fn version_kind(version: &str) -> &str {
    version.split_once(' ').map_or("", |(kind, _)| kind)
}

/// One view's answers by parameters, each with the data version it was computed at.
struct Slot<K, T> {
    entries: Mutex<HashMap<K, (String, Arc<T>)>>,
}

impl<K: Hash + Eq + Clone, T> Slot<K, T> {
    fn new() -> Self {
        Slot { entries: Mutex::new(HashMap::new()) }
    }

    /// The answer for `key` at `version`, computed by `compute` unless already known.
    fn get_or_compute(
        &self,
        key: K,
        version: String,
        compute: impl FnOnce() -> Result<T, AppError>,
    ) -> Result<Arc<T>, AppError> {
        if let Some((at, value)) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if *at == version {
                return Ok(Arc::clone(value));
            }
        }
        // Computed outside the lock: a slow view must not hold up answers already known. The
        // version was read before the computation, so the answer is at least that new.
        let value = Arc::new(compute()?);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Answers of an older version of the same kind can never be used again; those of the
        // other kind (epoch against data version) belong to other windows and stay.
        let kind = version_kind(&version);
        entries.retain(|_, (at, _)| version_kind(at) != kind || *at == version);
        if entries.len() >= ENTRIES_PER_VIEW {
            entries.clear();
        }
        entries.insert(key, (version, Arc::clone(&value)));
        Ok(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// The memo of the trend views, one per process (in `AppState`).
pub struct TrendMemo {
    trending: Slot<(i64, i64, usize), Trending>,
    recurring: Slot<(i64, i64, usize), Recurring>,
    pairs: Slot<(i64, i64, i64, usize), Pairs>,
    /// The distinct counts behind trending and recurring, kept across their windows.
    sliding: SlidingCache,
}

impl Default for TrendMemo {
    fn default() -> Self {
        TrendMemo {
            trending: Slot::new(),
            recurring: Slot::new(),
            pairs: Slot::new(),
            sliding: SlidingCache::default(),
        }
    }
}

/// How long after a window's end its answer is keyed by the rollup epoch alone. A write
/// that began before the hour turned and commits after it bumps the epoch itself
/// ([`crate::db::write_transaction`]), so this margin only has to cover the moment between
/// that check and the commit, and the difference between node clocks. Until then the
/// current window's answers follow every write, so it is kept short: a minute an hour.
pub const SETTLED_AFTER_MS: i64 = 60 * 1000;

/// The data version an answer about `w` depends on. For a window that ended a while ago
/// that is the rollup epoch, which only writes to past hours bump: live posting leaves it,
/// so such answers are computed about once per window. For a recent window (or one ending
/// in the future) it is the data version of the whole database.
fn version_for(conn: &mut DbConn, w: Window) -> Result<String, AppError> {
    if w.end_hour * HOUR_MS + SETTLED_AFTER_MS <= now_ms() {
        Ok(format!("epoch {}", rollups::epoch(conn)?))
    } else {
        Ok(format!("data {}", changes::data_version(conn)?))
    }
}

impl TrendMemo {
    /// [`views::trending`], remembered.
    pub fn trending(&self, conn: &mut DbConn, w: Window, limit: usize) -> Result<Arc<Trending>, AppError> {
        let version = version_for(conn, w)?;
        self.trending.get_or_compute((w.start_hour, w.end_hour, limit), version, || {
            views::trending(conn, w, limit, Some(&self.sliding))
        })
    }

    /// [`views::recurring`], remembered.
    pub fn recurring(&self, conn: &mut DbConn, w: Window, limit: usize) -> Result<Arc<Recurring>, AppError> {
        let version = version_for(conn, w)?;
        self.recurring.get_or_compute((w.start_hour, w.end_hour, limit), version, || {
            views::recurring(conn, w, limit, Some(&self.sliding))
        })
    }

    /// [`views::pairs`], remembered.
    pub fn pairs(
        &self,
        conn: &mut DbConn,
        w: Window,
        min_together: i64,
        limit: usize,
    ) -> Result<Arc<Pairs>, AppError> {
        let version = version_for(conn, w)?;
        self.pairs.get_or_compute((w.start_hour, w.end_hour, min_together, limit), version, || {
            views::pairs(conn, w, min_together, limit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn an_answer_is_reused_only_at_the_same_version_and_key() {
        let slot: Slot<i64, i64> = Slot::new();
        let runs = Cell::new(0);
        let compute = |n: i64| {
            runs.set(runs.get() + 1);
            Ok(n)
        };
        assert_eq!(*slot.get_or_compute(1, "v1".into(), || compute(10)).unwrap(), 10);
        assert_eq!(*slot.get_or_compute(1, "v1".into(), || compute(11)).unwrap(), 10);
        assert_eq!(runs.get(), 1, "same key, same version: remembered");
        assert_eq!(*slot.get_or_compute(2, "v1".into(), || compute(20)).unwrap(), 20);
        assert_eq!(runs.get(), 2, "another key is computed");
        assert_eq!(*slot.get_or_compute(1, "v2".into(), || compute(12)).unwrap(), 12);
        assert_eq!(runs.get(), 3, "a new version recomputes");
        assert_eq!(slot.len(), 1, "answers of older versions are dropped");
    }

    #[test]
    fn a_new_data_version_leaves_answers_keyed_by_the_epoch() {
        let slot: Slot<i64, i64> = Slot::new();
        slot.get_or_compute(1, "epoch 3".into(), || Ok(10)).unwrap();
        slot.get_or_compute(2, "data 40:3".into(), || Ok(20)).unwrap();
        slot.get_or_compute(2, "data 41:3".into(), || Ok(21)).unwrap();
        assert_eq!(slot.len(), 2, "the ended window's answer stays; the older data answer goes");
        let kept = slot.get_or_compute(1, "epoch 3".into(), || panic!("recomputed")).unwrap();
        assert_eq!(*kept, 10);
    }

    #[test]
    fn a_failed_computation_is_not_remembered() {
        let slot: Slot<i64, i64> = Slot::new();
        let failed = slot.get_or_compute(1, "v1".into(), || Err(AppError::NotFound("boom".into())));
        assert!(failed.is_err());
        assert_eq!(*slot.get_or_compute(1, "v1".into(), || Ok(5)).unwrap(), 5);
    }

    #[test]
    fn the_slot_stays_bounded() {
        let slot: Slot<usize, usize> = Slot::new();
        for key in 0..ENTRIES_PER_VIEW * 3 {
            slot.get_or_compute(key, "v".into(), || Ok(key)).unwrap();
        }
        assert!(slot.len() <= ENTRIES_PER_VIEW);
    }
}
