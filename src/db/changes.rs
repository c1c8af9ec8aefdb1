//! The `post_changes` table: the change feed the search indexer tails. Every post insert,
//! edit and delete appends one row in the same transaction as the change itself.

use diesel::prelude::*;

use super::schema::post_changes;
use super::DbConn;

/// What happened to a post; the indexer re-reads the post for `Upsert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Upsert,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Upsert => "upsert",
            ChangeKind::Delete => "delete",
        }
    }
}

pub fn record(conn: &mut DbConn, post_id: i64, kind: ChangeKind, now: i64) -> QueryResult<usize> {
    diesel::insert_into(post_changes::table)
        .values((
            post_changes::post_id.eq(post_id),
            post_changes::kind.eq(kind.as_str()),
            post_changes::created_at.eq(now),
        ))
        .execute(conn)
}

/// The newest position in the feed (0 when empty).
pub fn head(conn: &mut DbConn) -> QueryResult<i64> {
    post_changes::table
        .select(diesel::dsl::max(post_changes::seq))
        .first::<Option<i64>>(conn)
        .map(|seq| seq.unwrap_or(0))
}
