//! Sliding counts: distinct authors or incidents per tag in every window of one length
//! ending anywhere in a range of hours, built in one pass over the hourly member rows and
//! kept per process until a write to a past hour moves the rollup epoch. Trending compares
//! a window with the 28 windows before it, and each new `at` shifts all of them, so no
//! count of one window could be reused; a step function per tag answers every one of them
//! with a binary search instead of a read of the rows behind them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use rustc_hash::FxHashMap;

use super::memo::SETTLED_AFTER_MS;
use super::rollups::{self, Member, HOUR_MS};
use crate::db::schema::tags;
use crate::db::{now_ms, DbConn};

/// Per tag, the number of distinct members in the window of `hours` hours ending at each
/// hour of `[lo, hi]`, as the points where it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps {
    member: Member,
    hours: i64,
    epoch: i64,
    lo: i64,
    hi: i64,
    /// `(end hour - lo, count from there on)`, ascending; the first point is at `lo`.
    by_tag: HashMap<i64, Vec<(u32, u32)>>,
    points: usize,
}

impl Steps {
    /// Distinct members of `tag` in the window ending at `end_hour` (inside `[lo, hi]`).
    pub fn count(&self, tag: i64, end_hour: i64) -> i64 {
        debug_assert!(self.covers(end_hour, end_hour), "{end_hour} outside {}..={}", self.lo, self.hi);
        let Some(points) = self.by_tag.get(&tag) else { return 0 };
        let offset = end_hour - self.lo;
        let after = points.partition_point(|(at, _)| i64::from(*at) <= offset);
        after.checked_sub(1).map_or(0, |i| i64::from(points[i].1))
    }

    /// The tags with a member in any of the windows.
    pub fn tags(&self) -> impl Iterator<Item = i64> + '_ {
        self.by_tag.keys().copied()
    }

    /// Whether windows ending anywhere in `[lo, hi]` are answered.
    pub fn covers(&self, lo: i64, hi: i64) -> bool {
        self.lo <= lo && hi <= self.hi
    }
}

/// Builds [`Steps`] from `(tag, hour, member)` rows grouped by ascending tag and, within a
/// tag, in ascending hour (as [`super::slots::for_each_row`] gives them), covering at least
/// the hours `[lo - hours, hi)`. A row at hour `h` puts its member in the windows ending at
/// `h + 1 ..= h + hours`; the same member's previous row at `p` already counted it up to
/// `p + hours`, so the row adds it from `max(h + 1, p + hours + 1)` on. So each row is a +1
/// and a -1 at two end hours, and a tag's counts are the running sum of those, kept per end
/// hour of the range (no sorting).
#[derive(Debug)]
pub struct StepBuilder {
    hours: i64,
    lo: i64,
    hi: i64,
    tag: Option<i64>,
    last_hour: FxHashMap<i64, i64>,
    /// The current tag's count at `lo`, and its changes at each later end hour of the range.
    at_lo: i64,
    changes: Vec<i64>,
    steps: Steps,
}

impl StepBuilder {
    /// A builder for windows of `hours` hours ending anywhere in `[lo, hi]`.
    pub fn new(member: Member, hours: i64, lo: i64, hi: i64, epoch: i64) -> Self {
        debug_assert!(hours > 0 && lo <= hi);
        StepBuilder {
            hours,
            lo,
            hi,
            tag: None,
            last_hour: FxHashMap::default(),
            at_lo: 0,
            changes: vec![0; (hi - lo + 1) as usize],
            steps: Steps { member, hours, epoch, lo, hi, by_tag: HashMap::new(), points: 0 },
        }
    }

    /// One member row, in the order described above (checked, as a row out of order would
    /// be miscounted silently).
    pub fn add(&mut self, tag: i64, hour: i64, member: i64) {
        if self.tag != Some(tag) {
            assert!(self.tag.is_none_or(|current| current < tag), "rows not grouped by ascending tag");
            self.flush();
            self.tag = Some(tag);
            self.last_hour.clear();
        }
        let from = match self.last_hour.insert(member, hour) {
            None => hour + 1,
            Some(previous) => {
                assert!(previous < hour, "hours of a tag not ascending");
                (hour + 1).max(previous + self.hours + 1)
            }
        };
        self.change(from, 1);
        self.change(hour + self.hours + 1, -1);
    }

    fn change(&mut self, end_hour: i64, delta: i64) {
        if end_hour <= self.lo {
            self.at_lo += delta;
        } else if end_hour <= self.hi {
            self.changes[(end_hour - self.lo) as usize] += delta;
        }
    }

    /// Turns the current tag's changes into its points.
    fn flush(&mut self) {
        let Some(tag) = self.tag.take() else { return };
        let mut count = self.at_lo;
        let mut points: Vec<(u32, u32)> = vec![(0, count as u32)];
        for (offset, change) in self.changes.iter_mut().enumerate().skip(1) {
            if *change != 0 {
                count += *change;
                *change = 0;
                points.push((offset as u32, count as u32));
            }
        }
        self.at_lo = 0;
        debug_assert!(count >= 0);
        if points.iter().any(|(_, n)| *n > 0) {
            self.steps.points += points.len();
            self.steps.by_tag.insert(tag, points);
        }
    }

    /// Points kept so far (what the steps cost in memory, 8 bytes each).
    pub fn points(&self) -> usize {
        self.steps.points
    }

    pub fn finish(mut self) -> Steps {
        self.flush();
        self.steps
    }
}

/// Most points one [`Steps`] may hold (32 MB); beyond, the views count as they did before.
const MAX_POINTS: usize = 4_000_000;
/// Longest window kept: a longer one reads more rows than its own counts from the coarse
/// rollups ([`super::views::members_in`]) would.
pub const MAX_WINDOW_HOURS: i64 = 92 * 24;
/// Steps are built this much further into the past than asked, so stepping back through
/// time (a day, an hour at a time) reuses them for a week.
pub const MARGIN_HOURS: i64 = 7 * 24;
/// At most this many steps kept, the least recently used going first: both member kinds
/// of trending's and recurring's windows, for the present (kept by the warmer) and for a
/// stretch of the past someone is looking at.
const ENTRIES: usize = 8;

/// The steps in use, per process (in the trend memo), most recently used last.
#[derive(Default)]
pub struct SlidingCache {
    entries: Mutex<VecDeque<Arc<Steps>>>,
}

impl SlidingCache {
    /// Counts of `member` for windows of `hours` hours ending anywhere in `[lo, hi]`, built
    /// unless already kept at the current rollup epoch. `None` when they cannot be kept:
    /// the last window has not settled (live posts still change it), the windows are longer
    /// than [`MAX_WINDOW_HOURS`], or the steps would be too large.
    pub fn steps(
        &self,
        conn: &mut DbConn,
        member: Member,
        hours: i64,
        lo: i64,
        hi: i64,
    ) -> QueryResult<Option<Arc<Steps>>> {
        if hours > MAX_WINDOW_HOURS || hi * HOUR_MS + SETTLED_AFTER_MS > now_ms() {
            return Ok(None);
        }
        // Read before the rows: a write that lands meanwhile moves the epoch past this one,
        // so steps may be newer than the epoch they are kept under, never older.
        let epoch = rollups::epoch(conn)?;
        {
            let mut entries = self.lock();
            let found = entries
                .iter()
                .position(|s| s.member == member && s.hours == hours && s.epoch == epoch && s.covers(lo, hi));
            if let Some(steps) = found.and_then(|at| entries.remove(at)) {
                entries.push_back(Arc::clone(&steps));
                return Ok(Some(steps));
            }
        }
        // Built outside the lock: other views' steps stay available meanwhile.
        let Some(steps) = build(conn, member, hours, lo - MARGIN_HOURS, hi, epoch)? else {
            return Ok(None);
        };
        let steps = Arc::new(steps);
        let mut entries = self.lock();
        entries.retain(|kept| kept.epoch == epoch);
        if entries.len() >= ENTRIES {
            entries.pop_front();
        }
        entries.push_back(Arc::clone(&steps));
        Ok(Some(steps))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Steps>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many steps are kept (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Tags per read: their rows are read tag by tag along the primary key.
const TAGS_PER_READ: usize = 1000;

/// Builds the steps of every tag from the rows of `[lo - hours, hi)`; `None` past
/// [`MAX_POINTS`].
fn build(
    conn: &mut DbConn,
    member: Member,
    hours: i64,
    lo: i64,
    hi: i64,
    epoch: i64,
) -> QueryResult<Option<Steps>> {
    let started = std::time::Instant::now();
    let mut ids: Vec<i64> = tags::table.select(tags::id).load(conn)?;
    ids.sort_unstable();
    let mut builder = StepBuilder::new(member, hours, lo, hi, epoch);
    for part in ids.chunks(TAGS_PER_READ) {
        super::slots::for_each_row(conn, member, lo - hours, hi, part, |tag, hour, id| {
            builder.add(tag, hour, id)
        })?;
        if builder.points() > MAX_POINTS {
            tracing::info!(?member, hours, lo, hi, "sliding counts too large to keep");
            return Ok(None);
        }
    }
    let steps = builder.finish();
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(?member, hours, lo, hi, points = steps.points, ms, "sliding counts built");
    Ok(Some(steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The definition: the members of the tag with a row in `[end - hours, end)`.
    fn by_sets(rows: &[(i64, i64, i64)], tag: i64, hours: i64, end: i64) -> i64 {
        let members: BTreeSet<i64> = rows
            .iter()
            .filter(|(t, h, _)| *t == tag && *h >= end - hours && *h < end)
            .map(|(_, _, m)| *m)
            .collect();
        members.len() as i64
    }

    fn built(rows: &[(i64, i64, i64)], hours: i64, lo: i64, hi: i64) -> Steps {
        let mut builder = StepBuilder::new(Member::Author, hours, lo, hi, 0);
        for (tag, hour, member) in rows {
            builder.add(*tag, *hour, *member);
        }
        builder.finish()
    }

    #[test]
    fn a_member_stays_counted_while_its_rows_are_inside_the_window() {
        // Member 7 at hours 0 and 5, member 8 at hour 5; windows of 3 hours.
        let steps = built(&[(1, 0, 7), (1, 5, 7), (1, 5, 8)], 3, 0, 10);
        let counts: Vec<i64> = (0..=10).map(|e| steps.count(1, e)).collect();
        assert_eq!(counts, vec![0, 1, 1, 1, 0, 0, 2, 2, 2, 0, 0]);
        assert_eq!(steps.count(2, 4), 0, "a tag without rows");
        assert_eq!(steps.tags().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn rows_before_the_range_count_only_where_their_windows_reach() {
        // Windows of 4 hours; the range starts at 5. Hour 2 reaches the windows ending at
        // 3..=6, hour 4 those at 5..=8, hour 6 those at 7..=10.
        let steps = built(&[(1, 2, 7), (1, 4, 9), (1, 6, 8)], 4, 5, 12);
        assert_eq!((5..=12).map(|e| steps.count(1, e)).collect::<Vec<_>>(), vec![2, 2, 2, 2, 1, 1, 0, 0]);
    }

    #[test]
    fn steps_answer_any_range_inside_their_own_and_none_beyond() {
        // Kept steps are reused for a later ask with an earlier end (stepping back through
        // the past) or a later start, but never for an hour outside what was built.
        let steps = built(&[(1, 12, 7)], 3, 10, 20);
        assert!(steps.covers(10, 20) && steps.covers(12, 18) && steps.covers(10, 10));
        assert!(!steps.covers(9, 20), "an earlier start was not built");
        assert!(!steps.covers(10, 21), "a later end was not built");
    }

    proptest! {
        /// Any rows in primary-key order give the counts the sets of members give, for every
        /// window ending in the range.
        #[test]
        fn counts_as_the_sets_do(
            mut rows in proptest::collection::vec((0i64..4, 0i64..120, 0i64..10), 0..300),
            hours in 1i64..40,
            lo in 0i64..100,
            span in 0i64..60,
        ) {
            rows.sort_unstable();
            rows.dedup();
            let hi = lo + span;
            // Only the rows a build reads: `[lo - hours, hi)`.
            let read: Vec<(i64, i64, i64)> =
                rows.iter().copied().filter(|(_, h, _)| *h >= lo - hours && *h < hi).collect();
            let steps = built(&read, hours, lo, hi);
            for tag in 0..4 {
                for end in lo..=hi {
                    prop_assert_eq!(steps.count(tag, end), by_sets(&rows, tag, hours, end), "tag {} end {}", tag, end);
                }
            }
        }
    }
}
