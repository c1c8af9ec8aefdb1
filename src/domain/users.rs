//! User operations: creating accounts, checking passwords at login, and the admin-only
//! changes (role, disable) with the rule that the last active admin cannot lock everyone out.

use crate::auth::password;
use crate::db::users::{self, NewUser, User};
use crate::db::{now_ms, sessions, DbConn};
use crate::domain::rules::{self, Role};
use crate::error::{not_found, AppError};

/// A new account; `password_hash` is computed by the caller off the write connection.
pub fn create_user(
    conn: &mut DbConn,
    username: &str,
    display_name: Option<&str>,
    role: Role,
    password_hash: Option<&str>,
) -> Result<User, AppError> {
    let username = rules::parse_username(username)?;
    let display_name = rules::parse_display_name(display_name.unwrap_or(&username))?;
    if users::by_username(conn, &username)?.is_some() {
        return Err(AppError::Conflict(format!("user {username} already exists")));
    }
    Ok(users::insert(
        conn,
        &NewUser {
            username: &username,
            display_name: &display_name,
            role: role.as_str(),
            password_hash,
            created_at: now_ms(),
        },
    )?)
}

/// Finds a user by name or fails with 404.
pub fn require(conn: &mut DbConn, username: &str) -> Result<User, AppError> {
    let name = username.trim().to_lowercase();
    users::by_username(conn, &name)?.ok_or_else(|| not_found(format!("user {name} not found")))
}

/// Checks credentials. The same message for every failure, so it does not reveal which
/// usernames exist; disabled and password-less (imported) accounts cannot log in.
pub fn authenticate(conn: &mut DbConn, username: &str, password_text: &str) -> Result<User, AppError> {
    let denied = || AppError::Unauthorized("wrong username or password".into());
    let name = username.trim().to_lowercase();
    let Some(user) = users::by_username(conn, &name)? else {
        // Spend the same time as a real check so timing does not reveal the username.
        password::verify(password_text, password::DUMMY_HASH);
        return Err(denied());
    };
    let Some(hash) = user.password_hash.as_deref() else {
        return Err(denied());
    };
    if !password::verify(password_text, hash) || user.is_disabled() {
        return Err(denied());
    }
    Ok(user)
}

/// Changes a user's role, refusing to demote the last active admin.
pub fn set_role(conn: &mut DbConn, username: &str, role: Role) -> Result<User, AppError> {
    let user = require(conn, username)?;
    if user.is_admin() && role != Role::Admin && !user.is_disabled() && users::active_admins(conn)? <= 1 {
        return Err(AppError::Conflict("cannot demote the last active admin".into()));
    }
    users::set_role(conn, user.id, role.as_str())?;
    Ok(users::by_id(conn, user.id)?)
}

/// Disables (and logs out everywhere) or re-enables a user.
pub fn set_disabled(conn: &mut DbConn, username: &str, disabled: bool) -> Result<User, AppError> {
    let user = require(conn, username)?;
    let now = now_ms();
    if disabled {
        if user.is_admin() && !user.is_disabled() && users::active_admins(conn)? <= 1 {
            return Err(AppError::Conflict("cannot disable the last active admin".into()));
        }
        users::set_disabled_at(conn, user.id, Some(user.disabled_at.unwrap_or(now)))?;
        sessions::revoke_all_of(conn, user.id, now)?;
    } else {
        users::set_disabled_at(conn, user.id, None)?;
    }
    Ok(users::by_id(conn, user.id)?)
}
