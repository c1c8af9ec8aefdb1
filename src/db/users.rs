//! The `users` table: accounts, roles and password hashes.

use diesel::prelude::*;

use super::cached::AnyOf;
use super::schema::users;
use super::DbConn;

/// A user row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: Option<String>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// A user to insert. `password_hash` is `None` for accounts that cannot log in (imports).
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: &'a str,
    pub password_hash: Option<&'a str>,
    pub created_at: i64,
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// Accounts that can log in (have a password). Imported authors do not count, so an
/// instance filled by `i2i import` still offers the first-admin setup.
pub fn count_with_login(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.filter(users::password_hash.is_not_null()).count().get_result(conn)
}

pub fn insert(conn: &mut DbConn, new_user: &NewUser) -> QueryResult<User> {
    diesel::insert_into(users::table).values(new_user).execute(conn)?;
    by_username(conn, new_user.username)?.ok_or(diesel::result::Error::NotFound)
}

pub fn by_id(conn: &mut DbConn, id: i64) -> QueryResult<User> {
    users::table.find(id).select(User::as_select()).first(conn)
}

/// No stored username holds a NUL, and PostgreSQL refuses one in a query: such a name finds nothing.
pub fn by_username(conn: &mut DbConn, username: &str) -> QueryResult<Option<User>> {
    if username.contains('\0') {
        return Ok(None);
    }
    users::table.filter(users::username.eq(username)).select(User::as_select()).first(conn).optional()
}

pub fn by_usernames(conn: &mut DbConn, usernames: &[String]) -> QueryResult<Vec<User>> {
    if usernames.is_empty() {
        return Ok(Vec::new());
    }
    users::table.filter(users::username.eq_any(usernames)).select(User::as_select()).load(conn)
}

pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let any = AnyOf::new(users::id, ids);
    crate::on_backend!(conn, c => users::table.filter(any).select(User::as_select()).load(c))
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<User>> {
    users::table.order(users::username.asc()).select(User::as_select()).load(conn)
}

pub fn set_role(conn: &mut DbConn, id: i64, role: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::role.eq(role)).execute(conn)
}

pub fn set_disabled_at(conn: &mut DbConn, id: i64, disabled_at: Option<i64>) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::disabled_at.eq(disabled_at)).execute(conn)
}

pub fn set_display_name(conn: &mut DbConn, id: i64, name: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::display_name.eq(name)).execute(conn)
}

pub fn set_password_hash(conn: &mut DbConn, id: i64, hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::password_hash.eq(hash)).execute(conn)
}

/// Serialises the changes that can take an admin out of the active admins (demote,
/// disable), until the caller's transaction ends. Without it two such changes on two nodes
/// (or two connections of one) each count two active admins and both commit, leaving none.
/// On PostgreSQL this is a transaction-scoped advisory lock: the second change waits for the
/// first to commit and then (each statement reading afresh under READ COMMITTED) counts what
/// the first left. On SQLite a write transaction already holds the one write lock (`BEGIN
/// IMMEDIATE`, or the server's single writer thread), so there is nothing more to take.
pub fn lock_admin_changes(conn: &mut DbConn) -> QueryResult<()> {
    if let DbConn::Pg(pg) = conn {
        use diesel::connection::SimpleConnection;
        pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({ADMIN_CHANGES_LOCK})"))?;
    }
    Ok(())
}

/// The key of the advisory lock [`lock_admin_changes`] takes ("i2iadmin" in ASCII).
const ADMIN_CHANGES_LOCK: i64 = 0x6932_6961_646d_696e;

/// Number of active admins, so the last one cannot be demoted or disabled.
pub fn active_admins(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.filter(users::role.eq("admin")).filter(users::disabled_at.is_null()).count().get_result(conn)
}
