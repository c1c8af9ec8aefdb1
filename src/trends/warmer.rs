//! Keeps the trend views that open by default (the Trends page and the trend API without
//! parameters, both about "now") computed before anyone asks. Computing one at a million
//! posts takes tens of milliseconds; remembered, it answers in under one. The memo keeps an
//! answer until the data behind it changes, which for "now" happens when the hour turns
//! (the window moves) or a write reaches a past hour. A background task asks for each
//! default view every few seconds: when nothing changed that costs one version read per
//! view, and when something did, the task, not the next designer, waits for the new answer.

use std::sync::Arc;
use std::time::Duration;

use super::defaults;
use super::memo::{TrendMemo, SETTLED_AFTER_MS};
use super::rollups::{hour_of, HOUR_MS};
use super::windows::{ending_at, parse_length};
use crate::db::{now_ms, Db, DbConn};
use crate::error::AppError;

/// Computes (or finds remembered) every default view for windows ending at `at_ms`: the
/// API's defaults and the Trends page's.
pub fn warm(memo: &TrendMemo, conn: &mut DbConn, at_ms: i64) -> Result<(), AppError> {
    let trending = ending_at(at_ms, parse_length(defaults::TRENDING_WINDOW)?);
    let recurring = ending_at(at_ms, parse_length(defaults::RECURRING_WINDOW)?);
    let pairs = ending_at(at_ms, parse_length(defaults::PAIRS_WINDOW)?);
    for limit in [defaults::API_LIMIT, defaults::PAGE_LIMIT] {
        memo.trending(conn, trending, limit)?;
        memo.recurring(conn, recurring, limit)?;
    }
    memo.pairs(conn, pairs, defaults::API_MIN_TOGETHER, defaults::API_LIMIT)?;
    memo.pairs(conn, pairs, defaults::PAGE_PAIRS_MIN, defaults::PAGE_PAIRS_LIMIT)?;
    Ok(())
}

/// How long after the moments the default answers change a round waits for them.
const AFTER_MARK_MS: i64 = 1_000;

/// Milliseconds from `now_ms` to the next round: `every_ms`, unless sooner one of the two
/// moments each hour when every default answer changes at once comes first: the hour turns
/// (the windows move on) and, [`SETTLED_AFTER_MS`] later, the hour that ended settles (the
/// answers are then kept under the rollup epoch instead of the data version).
pub fn next_round_in(now_ms: i64, every_ms: i64) -> i64 {
    let hour_start = hour_of(now_ms) * HOUR_MS;
    let marks = [hour_start + SETTLED_AFTER_MS + AFTER_MARK_MS, hour_start + HOUR_MS + AFTER_MARK_MS];
    let to_mark =
        marks.into_iter().filter(|mark| *mark > now_ms).min().map_or(every_ms, |mark| mark - now_ms);
    to_mark.min(every_ms).max(0)
}

/// Starts the task that calls [`warm`] right away and then every `every` (and just after
/// each hour turns and settles, see [`next_round_in`]) until the returned handle is aborted.
/// A failed round is logged and tried again next time.
pub fn start(memo: Arc<TrendMemo>, db: Db, every: Duration) -> tokio::task::JoinHandle<()> {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        loop {
            let round = memo.clone();
            if let Err(err) = db.read(move |conn| warm(&round, conn, now_ms())).await {
                tracing::warn!(error = %err, "could not compute the default trend views");
            }
            let wait = next_round_in(now_ms(), every_ms);
            tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_come_just_after_the_hour_turns_and_settles() {
        let hour = 490_000 * HOUR_MS;
        let every = 15_000;
        assert_eq!(next_round_in(hour + 30 * 60_000, every), every, "mid-hour: the usual pause");
        assert_eq!(next_round_in(hour + HOUR_MS - 2_000, every), 3_000, "just after the hour turns");
        assert_eq!(next_round_in(hour + 2_000, every), every, "the settling is further off");
        assert_eq!(
            next_round_in(hour + SETTLED_AFTER_MS - 5_000, every),
            5_000 + AFTER_MARK_MS,
            "just after the hour that ended settles"
        );
        assert_eq!(next_round_in(hour + 30 * 60_000, 0), 0, "never negative");
    }
}
