//! Distinct authors or incidents per tag in each of a run of equal windows ("slots": the
//! window a trend is measured in and the baseline windows before it), counted in one pass
//! over the hourly member rows as they stream out of the primary key, without sorting or
//! keeping them.

use std::collections::HashMap;

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use rustc_hash::FxHashMap;

use super::rollups::Member;
use super::windows::Window;
use crate::db::schema::{tag_hour_authors, tag_hour_incidents};
use crate::db::DbConn;

/// Counts distinct members per `(tag, slot)` from `(tag, hour, member)` rows that arrive
/// grouped by tag and, within a tag, in ascending hour. Slot 0 is the window ending at
/// `end`, slot 1 the one before it, and so on. Since a tag's hours ascend, its slots only
/// descend: once a member has been counted in a slot, a later row of that member is either
/// in the same slot (already counted) or a lower one (not yet counted). So remembering each
/// member's last counted slot is exact, and the memory is one tag's members.
#[derive(Debug)]
pub struct SlotCounter {
    end: i64,
    hours: i64,
    windows: usize,
    /// The tag being counted and its counts per slot.
    tag: Option<(i64, Vec<i64>)>,
    last_slot: FxHashMap<i64, i64>,
    counts: HashMap<i64, Vec<i64>>,
}

impl SlotCounter {
    /// A counter for `windows` slots of `hours` hours, the first ending at hour `end`.
    pub fn new(end: i64, hours: i64, windows: usize) -> Self {
        debug_assert!(hours > 0);
        SlotCounter {
            end,
            hours,
            windows,
            tag: None,
            last_slot: FxHashMap::default(),
            counts: HashMap::new(),
        }
    }

    /// One member row, inside the slots; rows must come in the order described above
    /// (checked: out of order they would be miscounted silently, and a check per row costs
    /// a comparison).
    pub fn add(&mut self, tag: i64, hour: i64, member: i64) {
        assert!(hour < self.end, "a row after the first slot");
        let slot = (self.end - 1 - hour) / self.hours;
        if self.tag.as_ref().is_none_or(|(current, _)| *current != tag) {
            assert!(
                self.tag.as_ref().is_none_or(|(current, _)| *current < tag),
                "rows not grouped by ascending tag"
            );
            self.flush();
            self.tag = Some((tag, vec![0; self.windows]));
            self.last_slot.clear();
        }
        let previous = self.last_slot.insert(member, slot);
        assert!(previous.is_none_or(|p| p >= slot), "hours of a tag not ascending");
        if previous != Some(slot) {
            if let Some((_, counts)) = &mut self.tag {
                assert!((slot as usize) < counts.len(), "a row before the last slot");
                counts[slot as usize] += 1;
            }
        }
    }

    fn flush(&mut self) {
        if let Some((tag, counts)) = self.tag.take() {
            self.counts.insert(tag, counts);
        }
    }

    /// Per tag seen, its distinct members in each slot (index 0 = the latest window).
    pub fn finish(mut self) -> HashMap<i64, Vec<i64>> {
        self.flush();
        self.counts
    }
}

/// Distinct members per tag and slot (0 = `w`, 1..=`slots` = the windows before it) for the
/// tags in `ids`: `tag -> [n per slot]`, for the tags with any member in them.
pub fn distinct_by_slot(
    conn: &mut DbConn,
    member: Member,
    w: Window,
    slots: i64,
    ids: &[i64],
) -> QueryResult<HashMap<i64, Vec<i64>>> {
    let (end, hours) = (w.end_hour, w.hours());
    let mut counter = SlotCounter::new(end, hours, slots as usize + 1);
    for_each_row(conn, member, end - hours * (slots + 1), end, ids, |tag, hour, id| {
        counter.add(tag, hour, id)
    })?;
    Ok(counter.finish())
}

/// Calls `f(tag, hour, member)` for each hourly member row of the tags in `ids` within
/// `[start, end)`, grouped by ascending tag and, within a tag, in ascending hour. The rows
/// are read straight from the backend's own connection (no per-row translation through the
/// multi-backend row type). SQLite walks its primary key, so they stream in order;
/// PostgreSQL before 17 would sort them for an `ORDER BY` over an `IN` list (spilling past
/// `work_mem`), so there they are loaded and sorted here.
pub fn for_each_row(
    conn: &mut DbConn,
    member: Member,
    start: i64,
    end: i64,
    ids: &[i64],
    mut f: impl FnMut(i64, i64, i64),
) -> QueryResult<()> {
    // One body per table: the columns differ in name only.
    macro_rules! each_row {
        ($table:ident, $member:ident) => {{
            let rows = $table::table
                .filter($table::tag_id.eq_any(ids))
                .filter($table::hour.ge(start))
                .filter($table::hour.lt(end))
                .select(($table::tag_id, $table::hour, $table::$member));
            match conn {
                DbConn::Sqlite(c) => {
                    let ordered = rows
                        .order(($table::tag_id, $table::hour))
                        .load_iter::<(i64, i64, i64), DefaultLoadingMode>(c)?;
                    for row in ordered {
                        let (tag, hour, id) = row?;
                        f(tag, hour, id);
                    }
                }
                DbConn::Pg(c) => {
                    let mut loaded: Vec<(i64, i64, i64)> = rows.load(c)?;
                    loaded.sort_unstable();
                    for (tag, hour, id) in loaded {
                        f(tag, hour, id);
                    }
                }
            }
        }};
    }
    match member {
        Member::Author => each_row!(tag_hour_authors, author_id),
        Member::Incident => each_row!(tag_hour_incidents, incident_id),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The definition: the set of members of each (tag, slot), counted.
    fn by_sets(rows: &[(i64, i64, i64)], end: i64, hours: i64, windows: usize) -> HashMap<i64, Vec<i64>> {
        let mut sets: HashMap<(i64, i64), BTreeSet<i64>> = HashMap::new();
        for (tag, hour, member) in rows {
            sets.entry((*tag, (end - 1 - hour) / hours)).or_default().insert(*member);
        }
        let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
        for ((tag, slot), set) in sets {
            out.entry(tag).or_insert_with(|| vec![0; windows])[slot as usize] = set.len() as i64;
        }
        out
    }

    #[test]
    fn a_member_counts_once_per_slot_and_again_in_the_next() {
        // Slots of 24 hours ending at hour 48: slot 1 is [0, 24), slot 0 is [24, 48).
        let mut counter = SlotCounter::new(48, 24, 2);
        for (tag, hour, member) in [(1, 0, 7), (1, 5, 7), (1, 5, 8), (1, 30, 7), (1, 47, 7), (2, 3, 7)] {
            counter.add(tag, hour, member);
        }
        let counts = counter.finish();
        assert_eq!(counts[&1], vec![1, 2], "7 and 8 in the earlier slot, 7 again once in the later");
        assert_eq!(counts[&2], vec![0, 1], "another tag starts afresh");
        assert_eq!(counts.len(), 2);
    }

    proptest! {
        /// Any rows in primary-key order count as the sets of members per slot do.
        #[test]
        fn counts_as_the_sets_do(
            mut rows in proptest::collection::vec((0i64..4, 0i64..96, 0i64..12), 0..300),
            hours in 1i64..30,
        ) {
            rows.sort_unstable();
            rows.dedup();
            let windows = 96_usize.div_ceil(hours as usize);
            let mut counter = SlotCounter::new(96, hours, windows);
            for (tag, hour, member) in &rows {
                counter.add(*tag, *hour, *member);
            }
            prop_assert_eq!(counter.finish(), by_sets(&rows, 96, hours, windows));
        }
    }
}
