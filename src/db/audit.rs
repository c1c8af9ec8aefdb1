//! The `audit_events` table: an append-only record of security-relevant actions.

use diesel::prelude::*;

use super::schema::{audit_events, users};
use super::DbConn;

/// An audit row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub ip: Option<String>,
    pub detail: String,
}

/// An audit row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    pub at: i64,
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub target: &'a str,
    pub ip: Option<&'a str>,
    pub detail: &'a str,
}

pub fn insert(conn: &mut DbConn, event: &NewAuditEvent) -> QueryResult<usize> {
    diesel::insert_into(audit_events::table).values(event).execute(conn)
}

/// Events newest first with the actor's username, optionally only one `action` and only
/// ids below `before`; at most `limit` rows.
pub fn page(
    conn: &mut DbConn,
    action: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<(AuditEvent, Option<String>)>> {
    let mut query = audit_events::table
        .left_join(users::table)
        .select((AuditEvent::as_select(), users::username.nullable()))
        .order(audit_events::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(action) = action {
        query = query.filter(audit_events::action.eq(action.to_string()));
    }
    if let Some(before) = before {
        query = query.filter(audit_events::id.lt(before));
    }
    query.load(conn)
}
