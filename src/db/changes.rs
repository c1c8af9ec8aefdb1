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

/// A token that changes whenever committed data may have changed, for answers remembered
/// until then (the trend memo, `trends::memo`).
///
/// On SQLite every write to posts appends to the feed in its own transaction, and one
/// writer hands out `seq` in commit order, so the newest `seq`, with the rollup epoch for
/// the writes that change no post (a tag's trends flag), names the data. On PostgreSQL
/// sequence values commit out of order, so the newest `seq` could stay the same while an
/// older one commits; the current snapshot (oldest running, next and in-progress
/// transaction ids) differs whenever any transaction has committed since.
pub fn data_version(conn: &mut DbConn) -> QueryResult<String> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let version: Version = match conn {
        DbConn::Sqlite(c) => {
            // Writes that change no post (a tag hidden from trends) bump the rollup epoch.
            diesel::sql_query(
                "SELECT CAST(COALESCE(MAX(seq), 0) AS TEXT) || ':' || \
                        CAST((SELECT epoch FROM rollup_epoch) AS TEXT) AS value FROM post_changes",
            )
            .get_result(c)?
        }
        DbConn::Pg(c) => diesel::sql_query("SELECT pg_current_snapshot()::text AS value").get_result(c)?,
    };
    Ok(version.value)
}

/// A position in the change feed: every change at or before it has been applied.
///
/// On SQLite one writer hands out `seq` in commit order, so `seq` alone orders the feed
/// (`txid` stays 0). On PostgreSQL sequence values are taken before commit and commit out
/// of order, so the feed is ordered by `(txid, seq)` and only read below the oldest
/// transaction still running: a row that could still appear "behind" the reader is never
/// passed over.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct FeedPosition {
    pub txid: i64,
    pub seq: i64,
}

/// One entry of the feed.
#[derive(Debug, Clone, QueryableByName)]
pub struct Change {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub txid: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub seq: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub post_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
}

impl Change {
    pub fn position(&self) -> FeedPosition {
        FeedPosition { txid: self.txid, seq: self.seq }
    }
}

/// Up to `limit` committed changes after `from`, in feed order.
pub fn after(conn: &mut DbConn, from: FeedPosition, limit: i64) -> QueryResult<Vec<Change>> {
    use diesel::sql_types::BigInt;
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT 0 AS txid, seq, post_id, kind FROM post_changes WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind::<BigInt, _>(from.seq)
        .bind::<BigInt, _>(limit)
        .load(c),
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT txid::text::bigint AS txid, seq, post_id, kind FROM post_changes \
             WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) \
               AND (txid > ($1::text)::xid8 OR (txid = ($1::text)::xid8 AND seq > $2)) \
             ORDER BY txid, seq LIMIT $3",
        )
        .bind::<BigInt, _>(from.txid)
        .bind::<BigInt, _>(from.seq)
        .bind::<BigInt, _>(limit)
        .load(c),
    }
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

/// A position such that every change at or before it is committed and visible now. A
/// rebuild that starts here and then reads the posts table misses nothing: later changes
/// are replayed from the feed.
pub fn safe_head(conn: &mut DbConn) -> QueryResult<FeedPosition> {
    match conn {
        DbConn::Sqlite(c) => {
            let head: Head =
                diesel::sql_query("SELECT COALESCE(MAX(seq), 0) AS value FROM post_changes").get_result(c)?;
            Ok(FeedPosition { txid: 0, seq: head.value })
        }
        DbConn::Pg(c) => {
            // Everything below the oldest running transaction is finished.
            let head: Head = diesel::sql_query(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1 AS value",
            )
            .get_result(c)?;
            Ok(FeedPosition { txid: head.value, seq: i64::MAX })
        }
    }
}

/// Whether `position` lies beyond anything this database's feed has handed out, which no
/// index built from this database can have stored: its checkpoint then comes from another
/// database (a restored backup, a copied data directory) and must not be resumed from.
pub fn is_beyond_feed(conn: &mut DbConn, position: FeedPosition) -> QueryResult<bool> {
    match conn {
        // `seq` is AUTOINCREMENT and the feed is never pruned: its maximum is the high-water mark.
        DbConn::Sqlite(_) => Ok(position.seq > head(conn)?),
        DbConn::Pg(c) => {
            // Every transaction id this cluster has handed out is below `xmax`.
            let xmax: Head =
                diesel::sql_query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS value")
                    .get_result(c)?;
            Ok(position.txid >= xmax.value)
        }
    }
}

/// Number of changes after `from` that are committed (how far an indexer lags).
pub fn count_after(conn: &mut DbConn, from: FeedPosition) -> QueryResult<i64> {
    use diesel::sql_types::BigInt;
    let head: Head = match conn {
        DbConn::Sqlite(c) => diesel::sql_query("SELECT COUNT(*) AS value FROM post_changes WHERE seq > ?")
            .bind::<BigInt, _>(from.seq)
            .get_result(c)?,
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT COUNT(*) AS value FROM post_changes \
             WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) \
               AND (txid > ($1::text)::xid8 OR (txid = ($1::text)::xid8 AND seq > $2))",
        )
        .bind::<BigInt, _>(from.txid)
        .bind::<BigInt, _>(from.seq)
        .get_result(c)?,
    };
    Ok(head.value)
}

/// Queues every live post of an incident for re-indexing (its service, severity and
/// status are copied into each post's document).
pub fn record_incident_posts(conn: &mut DbConn, incident_id: i64, now: i64) -> QueryResult<usize> {
    use diesel::sql_types::BigInt;
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "INSERT INTO post_changes (post_id, kind, created_at) \
             SELECT id, 'upsert', ? FROM posts WHERE incident_id = ? AND deleted_at IS NULL",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(incident_id)
        .execute(c),
        DbConn::Pg(c) => diesel::sql_query(
            "INSERT INTO post_changes (post_id, kind, created_at) \
             SELECT id, 'upsert', $1 FROM posts WHERE incident_id = $2 AND deleted_at IS NULL",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(incident_id)
        .execute(c),
    }
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
}

/// Changes after `from` that are already committed and visible but not yet readable by
/// [`after`] (PostgreSQL only: they sit above the oldest running transaction). A live
/// stream that starts at `from` has in effect already "seen" them.
pub fn visible_after(conn: &mut DbConn, from: FeedPosition) -> QueryResult<Vec<i64>> {
    use diesel::sql_types::BigInt;
    match conn {
        DbConn::Sqlite(_) => Ok(Vec::new()),
        DbConn::Pg(c) => Ok(diesel::sql_query(
            "SELECT seq FROM post_changes WHERE txid > ($1::text)::xid8 OR (txid = ($1::text)::xid8 AND seq > $2)",
        )
        .bind::<BigInt, _>(from.txid)
        .bind::<BigInt, _>(from.seq)
        .load::<Seq>(c)?
        .into_iter()
        .map(|s| s.seq)
        .collect()),
    }
}
