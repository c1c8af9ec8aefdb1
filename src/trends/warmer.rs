//! Keeps the trend views that open by default (the Trends page and the trend API without
//! parameters, both about "now") computed before anyone asks. Computing one at a million
//! posts takes tens of milliseconds; remembered, it answers in under one. The memo keeps an
//! answer until the data behind it changes, which for "now" happens when the hour turns
//! (the window moves) or a write reaches a past hour. A background task asks for each
//! default view every few seconds: when nothing changed that costs one version read per
//! view, and when something did, the task, not the next designer, waits for the new answer.

use std::sync::Arc;
use std::time::Duration;

use super::memo::TrendMemo;
use super::windows::{ending_at, parse_length};
use crate::db::{now_ms, Db, DbConn};
use crate::domain::trends::defaults;
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

/// Starts the task that calls [`warm`] every `every` (first right away) until the returned
/// handle is aborted. A failed round is logged and tried again next time.
pub fn start(memo: Arc<TrendMemo>, db: Db, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let round = memo.clone();
            if let Err(err) = db.read(move |conn| warm(&round, conn, now_ms())).await {
                tracing::warn!(error = %err, "could not compute the default trend views");
            }
            tokio::time::sleep(every).await;
        }
    })
}
