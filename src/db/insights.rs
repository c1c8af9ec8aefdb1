//! The insights board's tables: `insights`, the tags that define each (`insight_tags`),
//! its pinned evidence (`insight_evidence`), its comments (`insight_comments`), and the
//! `notifications` telling responders their notes became evidence.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::{insight_comments, insight_evidence, insight_tags, insights, notifications, tags};
use super::tags::Tag;
use super::DbConn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = insights)]
pub struct Insight {
    pub id: i64,
    pub title: String,
    pub problem: String,
    pub status: String,
    pub dismissed_reason: Option<String>,
    pub owner_id: Option<i64>,
    pub query: String,
    pub created_by: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = insights)]
pub struct NewInsight<'a> {
    pub title: &'a str,
    pub problem: &'a str,
    pub status: &'a str,
    pub owner_id: Option<i64>,
    pub query: &'a str,
    pub created_by: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields to change; `None` leaves one as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = insights)]
pub struct InsightChanges {
    pub title: Option<String>,
    pub problem: Option<String>,
    pub status: Option<String>,
    pub dismissed_reason: Option<Option<String>>,
    pub owner_id: Option<Option<i64>>,
    pub query: Option<String>,
    pub updated_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, new: &NewInsight) -> QueryResult<Insight> {
    crate::on_backend!(conn, c => diesel::insert_into(insights::table)
        .values(new)
        .returning(Insight::as_returning())
        .get_result(c))
}

pub fn by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<Insight>> {
    insights::table.find(id).select(Insight::as_select()).first(conn).optional()
}

pub fn update(conn: &mut DbConn, id: i64, changes: &InsightChanges) -> QueryResult<usize> {
    diesel::update(insights::table.find(id)).set(changes).execute(conn)
}

/// The board: every insight (or those of one status), most recently changed first.
pub fn list(conn: &mut DbConn, status: Option<&str>, limit: i64) -> QueryResult<Vec<Insight>> {
    let mut query = insights::table.select(Insight::as_select()).into_boxed();
    if let Some(status) = status {
        query = query.filter(insights::status.eq(status.to_string()));
    }
    query.order((insights::updated_at.desc(), insights::id.desc())).limit(limit).load(conn)
}

/// The tags that define an insight, by key.
pub fn tags_of(conn: &mut DbConn, insight_id: i64) -> QueryResult<Vec<Tag>> {
    insight_tags::table
        .inner_join(tags::table)
        .filter(insight_tags::insight_id.eq(insight_id))
        .order(tags::key.asc())
        .select(Tag::as_select())
        .load(conn)
}

/// The tag keys of many insights at once: `insight id -> keys`, by key.
pub fn tag_keys_of_many(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = insight_tags::table
        .inner_join(tags::table)
        .filter(insight_tags::insight_id.eq_any(ids))
        .order((insight_tags::insight_id.asc(), tags::key.asc()))
        .select((insight_tags::insight_id, tags::key))
        .load(conn)?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, key) in rows {
        out.entry(id).or_default().push(key);
    }
    Ok(out)
}

/// How much evidence each of many insights has: `insight id -> pinned notes and incidents`.
pub fn evidence_counts(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
    let rows: Vec<(i64, i64)> = insight_evidence::table
        .filter(insight_evidence::insight_id.eq_any(ids))
        .group_by(insight_evidence::insight_id)
        .select((insight_evidence::insight_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Titles of many insights: `insight id -> title`.
pub fn titles(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    let rows: Vec<(i64, String)> = insights::table
        .filter(insights::id.eq_any(ids))
        .select((insights::id, insights::title))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Replaces the tags that define an insight.
pub fn set_tags(conn: &mut DbConn, insight_id: i64, tag_ids: &[i64]) -> QueryResult<()> {
    diesel::delete(insight_tags::table.filter(insight_tags::insight_id.eq(insight_id))).execute(conn)?;
    let rows: Vec<_> = tag_ids
        .iter()
        .map(|tag_id| (insight_tags::insight_id.eq(insight_id), insight_tags::tag_id.eq(*tag_id)))
        .collect();
    if !rows.is_empty() {
        crate::on_backend!(conn, c => diesel::insert_into(insight_tags::table).values(&rows).execute(c))?;
    }
    Ok(())
}

/// One pinned piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = insight_evidence)]
pub struct Evidence {
    pub insight_id: i64,
    /// `post` or `incident`.
    pub kind: String,
    pub ref_id: i64,
    pub pinned_by: i64,
    pub pinned_at: i64,
}

/// Pins evidence; false when it was pinned already.
pub fn pin(conn: &mut DbConn, row: &Evidence) -> QueryResult<bool> {
    let key = (row.insight_id, row.kind.clone(), row.ref_id);
    if insight_evidence::table
        .find(key)
        .select(insight_evidence::ref_id)
        .first::<i64>(conn)
        .optional()?
        .is_some()
    {
        return Ok(false);
    }
    diesel::insert_into(insight_evidence::table)
        .values((
            insight_evidence::insight_id.eq(row.insight_id),
            insight_evidence::kind.eq(&row.kind),
            insight_evidence::ref_id.eq(row.ref_id),
            insight_evidence::pinned_by.eq(row.pinned_by),
            insight_evidence::pinned_at.eq(row.pinned_at),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Unpins evidence; false when it was not pinned.
pub fn unpin(conn: &mut DbConn, insight_id: i64, kind: &str, ref_id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(insight_evidence::table.find((insight_id, kind.to_string(), ref_id))).execute(conn)?
        > 0)
}

/// An insight's evidence, in the order it was pinned.
pub fn evidence_of(conn: &mut DbConn, insight_id: i64) -> QueryResult<Vec<Evidence>> {
    insight_evidence::table
        .filter(insight_evidence::insight_id.eq(insight_id))
        .order((
            insight_evidence::pinned_at.asc(),
            insight_evidence::kind.asc(),
            insight_evidence::ref_id.asc(),
        ))
        .select(Evidence::as_select())
        .load(conn)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = insight_comments)]
pub struct Comment {
    pub id: i64,
    pub insight_id: i64,
    pub author_id: i64,
    pub body: String,
    pub created_at: i64,
}

pub fn add_comment(
    conn: &mut DbConn,
    insight_id: i64,
    author_id: i64,
    body: &str,
    at: i64,
) -> QueryResult<()> {
    diesel::insert_into(insight_comments::table)
        .values((
            insight_comments::insight_id.eq(insight_id),
            insight_comments::author_id.eq(author_id),
            insight_comments::body.eq(body),
            insight_comments::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// An insight's comments, oldest first.
pub fn comments_of(conn: &mut DbConn, insight_id: i64) -> QueryResult<Vec<Comment>> {
    insight_comments::table
        .filter(insight_comments::insight_id.eq(insight_id))
        .order((insight_comments::created_at.asc(), insight_comments::id.asc()))
        .select(Comment::as_select())
        .load(conn)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    /// `evidence`: a note of the user's was pinned to an insight.
    pub kind: String,
    pub insight_id: Option<i64>,
    pub post_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

pub fn notify(
    conn: &mut DbConn,
    user_id: i64,
    kind: &str,
    insight_id: i64,
    post_id: i64,
    actor_id: i64,
    at: i64,
) -> QueryResult<()> {
    diesel::insert_into(notifications::table)
        .values((
            notifications::user_id.eq(user_id),
            notifications::kind.eq(kind),
            notifications::insight_id.eq(insight_id),
            notifications::post_id.eq(post_id),
            notifications::actor_id.eq(actor_id),
            notifications::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A user's notifications, newest first.
pub fn notifications_of(conn: &mut DbConn, user_id: i64, limit: i64) -> QueryResult<Vec<Notification>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .limit(limit)
        .select(Notification::as_select())
        .load(conn)
}

/// Marks all of a user's notifications read.
pub fn mark_read(conn: &mut DbConn, user_id: i64, at: i64) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(at))
    .execute(conn)
}
