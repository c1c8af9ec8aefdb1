//! The `sessions` table: one row per issued login token, so a token can be revoked before
//! it expires and each session carries its own CSRF token for the web forms.

use diesel::prelude::*;

use super::schema::sessions;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, session: &Session) -> QueryResult<usize> {
    diesel::insert_into(sessions::table).values(session).execute(conn)
}

/// The session if it exists, is not revoked and has not expired at `now`.
pub fn active(conn: &mut DbConn, id: &str, now: i64) -> QueryResult<Option<Session>> {
    sessions::table
        .find(id)
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select(Session::as_select())
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(now))
        .execute(conn)
}

/// Revokes every session of a user (on disable or password change).
pub fn revoke_all_of(conn: &mut DbConn, user_id: i64, now: i64) -> QueryResult<usize> {
    diesel::update(
        sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
}
