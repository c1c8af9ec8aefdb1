//! The rollup epoch: a counter bumped whenever rollups of a past hour change, so the trend
//! memo above the database knows when an answer for an ended window is stale.

use diesel::prelude::*;

use crate::db::schema::rollup_epoch;
use crate::db::DbConn;

/// Records that rollups of a past hour (or what the views show beside them, such as an
/// incident's title) changed, in the caller's transaction: answers remembered for windows
/// that had ended are recomputed (by the trend memo, `trends::memo`).
pub fn touch_past(conn: &mut DbConn) -> QueryResult<()> {
    diesel::update(rollup_epoch::table).set(rollup_epoch::epoch.eq(rollup_epoch::epoch + 1)).execute(conn)?;
    Ok(())
}

/// The current value of the counter [`touch_past`] bumps.
pub fn epoch(conn: &mut DbConn) -> QueryResult<i64> {
    rollup_epoch::table.select(rollup_epoch::epoch).first(conn)
}
