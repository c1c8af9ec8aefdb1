//! User operations: creating accounts, checking passwords at login, and the admin-only
//! changes (role, disable) with the rule that the last active admin cannot lock everyone out.
//! Account changes record themselves in the audit log, in the caller's transaction.

use actix_web::web;
use serde_json::json;

use crate::app::audit::{self, user_target, Action, Actor};
use crate::app::ClientAddr;
use crate::app_state::AppState;
use crate::auth::password;
use crate::db::users::{self, NewUser, User};
use crate::db::{follows, now_ms, sessions, DbConn};
use crate::domain::rules::{self, check_password, parse_display_name, Role};
use crate::error::{not_found, AppError};

/// A new user row, unaudited: for authors an import names (they cannot log in). Accounts
/// made by people go through [`create_account`].
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

/// A new account someone made (an admin, the command line); recorded in the audit log.
/// `password_hash` is computed by the caller off the write connection.
pub fn create_account(
    conn: &mut DbConn,
    by: &Actor,
    username: &str,
    display_name: Option<&str>,
    role: Role,
    password_hash: &str,
) -> Result<User, AppError> {
    let user = create_user(conn, username, display_name, role, Some(password_hash))?;
    audit::record(conn, by, Action::UserCreated, &user_target(&user.username), json!({"role": user.role}))?;
    Ok(user)
}

/// Finds a user by name or fails with 404.
pub fn require(conn: &mut DbConn, username: &str) -> Result<User, AppError> {
    let name = username.trim().to_lowercase();
    users::by_username(conn, &name)?.ok_or_else(|| not_found(format!("user {name} not found")))
}

/// Why a login was refused: for the audit log only. The client always hears the same
/// "wrong username or password", so it cannot learn which usernames exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    UnknownUser,
    /// An imported author, who has no password.
    NoPassword,
    WrongPassword,
    Disabled,
}

impl LoginRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::UnknownUser => "unknown_user",
            LoginRefusal::NoPassword => "no_password",
            LoginRefusal::WrongPassword => "wrong_password",
            LoginRefusal::Disabled => "disabled",
        }
    }
}

/// The hash a login attempt for `user` is checked against. An unknown user or an imported
/// author (no password) is checked against the dummy hash, so the refusal costs the same
/// time as a wrong password and timing does not tell which names exist or were imported.
pub fn hash_to_check(user: Option<&User>) -> String {
    user.and_then(|user| user.password_hash.clone()).unwrap_or_else(|| password::DUMMY_HASH.to_string())
}

/// The outcome of a login for the account `user` (if the name exists), given whether the
/// password matched [`hash_to_check`]. Disabled and password-less (imported) accounts
/// cannot log in.
pub fn login_verdict(user: Option<User>, password_matched: bool) -> Result<User, LoginRefusal> {
    let Some(user) = user else {
        return Err(LoginRefusal::UnknownUser);
    };
    if user.password_hash.is_none() {
        return Err(LoginRefusal::NoPassword);
    }
    if !password_matched {
        return Err(LoginRefusal::WrongPassword);
    }
    if user.is_disabled() {
        return Err(LoginRefusal::Disabled);
    }
    Ok(user)
}

/// Fails with 409 if `user` is the last active admin, so `doing` them would leave nobody
/// able to administer i2i. The callers took [`users::lock_admin_changes`] before reading
/// `user`, so the count cannot change under them.
fn keep_an_admin(conn: &mut DbConn, user: &User, doing: &str) -> Result<(), AppError> {
    if user.is_admin() && !user.is_disabled() && users::active_admins(conn)? <= 1 {
        return Err(AppError::Conflict(format!("cannot {doing} the last active admin")));
    }
    Ok(())
}

/// Changes a user's role, refusing to demote the last active admin (also when two admins
/// are demoted at once on two nodes: see [`users::lock_admin_changes`]).
pub fn set_role(conn: &mut DbConn, by: &Actor, username: &str, role: Role) -> Result<User, AppError> {
    users::lock_admin_changes(conn)?;
    let user = require(conn, username)?;
    if user.role == role.as_str() {
        return Ok(user);
    }
    if role != Role::Admin {
        keep_an_admin(conn, &user, "demote")?;
    }
    users::set_role(conn, user.id, role.as_str())?;
    let detail = json!({"from": user.role, "to": role.as_str()});
    audit::record(conn, by, Action::RoleChanged, &user_target(&user.username), detail)?;
    Ok(users::by_id(conn, user.id)?)
}

/// Revokes every credential a user holds, in the caller's transaction: each login session
/// (API tokens and the web cookie) and the feed token of their Atom feed URLs. Every path
/// that must lock a user out (disable, password change) comes through here, so no kind of
/// credential survives it; re-enabling the user later brings none of them back. Returns
/// the audit detail naming what was revoked.
pub fn revoke_credentials(conn: &mut DbConn, user_id: i64, now: i64) -> Result<serde_json::Value, AppError> {
    let sessions_revoked = sessions::revoke_all_of(conn, user_id, now)?;
    let feed_token_revoked = follows::delete_feed_token(conn, user_id)?;
    Ok(json!({"sessions_revoked": sessions_revoked, "feed_token_revoked": feed_token_revoked}))
}

/// Disables (and logs out everywhere) or re-enables a user; the last active admin cannot be
/// disabled (also when two admins disable each other at once: see [`users::lock_admin_changes`]).
pub fn set_disabled(conn: &mut DbConn, by: &Actor, username: &str, disabled: bool) -> Result<User, AppError> {
    users::lock_admin_changes(conn)?;
    let user = require(conn, username)?;
    if user.is_disabled() == disabled {
        return Ok(user);
    }
    let now = now_ms();
    let target = user_target(&user.username);
    if disabled {
        keep_an_admin(conn, &user, "disable")?;
        users::set_disabled_at(conn, user.id, Some(now))?;
        let detail = revoke_credentials(conn, user.id, now)?;
        audit::record(conn, by, Action::UserDisabled, &target, detail)?;
    } else {
        users::set_disabled_at(conn, user.id, None)?;
        audit::record(conn, by, Action::UserEnabled, &target, json!({}))?;
    }
    Ok(users::by_id(conn, user.id)?)
}

/// Sets a user's password and revokes their sessions, so a leaked token stops working.
pub fn set_password(
    conn: &mut DbConn,
    by: &Actor,
    username: &str,
    password_hash: &str,
) -> Result<User, AppError> {
    let user = require(conn, username)?;
    users::set_password_hash(conn, user.id, password_hash)?;
    let detail = revoke_credentials(conn, user.id, now_ms())?;
    audit::record(conn, by, Action::PasswordChanged, &user_target(&user.username), detail)?;
    Ok(user)
}

/// Hashes a password off the async executor, in one of the process's argon2 slots.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    check_password(&password)?;
    crate::auth::password::hash(password).await
}

/// Creates the first admin while no user exists, and logs them in. The audit log records
/// the new admin as the one who made the account.
pub async fn create_first_admin(
    state: &web::Data<AppState>,
    client: ClientAddr,
    username: String,
    password: String,
    display_name: Option<String>,
) -> Result<crate::app::login::IssuedToken, AppError> {
    let hash = hash_password(password).await?;
    let user = state
        .db
        .write(move |conn| {
            // Serialise concurrent setups on PostgreSQL; SQLite already has one writer.
            if let crate::db::DbConn::Pg(pg) = conn {
                use diesel::connection::SimpleConnection;
                pg.batch_execute("LOCK TABLE users IN EXCLUSIVE MODE")?;
            }
            if users::count_with_login(conn)? > 0 {
                return Err(AppError::Forbidden("setup is done: an account already exists".into()));
            }
            // An imported author of the same name (no password) is claimed, not duplicated.
            let name = crate::domain::rules::parse_username(&username)?;
            let (user, claimed) = match users::by_username(conn, &name)? {
                Some(imported) => {
                    users::set_password_hash(conn, imported.id, &hash)?;
                    users::set_role(conn, imported.id, Role::Admin.as_str())?;
                    if let Some(display) = display_name.as_deref() {
                        users::set_display_name(conn, imported.id, &parse_display_name(display)?)?;
                    }
                    (users::by_id(conn, imported.id)?, true)
                }
                None => (create_user(conn, &name, display_name.as_deref(), Role::Admin, Some(&hash))?, false),
            };
            let actor = Actor::user(&user, client.text());
            let detail = serde_json::json!({"role": user.role, "setup": true, "claimed_import": claimed});
            audit::record(conn, &actor, Action::UserCreated, &user_target(&user.username), detail)?;
            Ok(user)
        })
        .await?;
    crate::app::login::open_session(state, client, user).await
}

/// Makes (or replaces) the user's feed token; old feed URLs stop working.
pub async fn rotate_feed_token(state: &web::Data<AppState>, user_id: i64) -> Result<String, AppError> {
    let token = hex::encode(rand::random::<[u8; 24]>());
    let stored = token.clone();
    state.db.write(move |conn| Ok(follows::set_feed_token(conn, user_id, &stored, now_ms())?)).await?;
    Ok(token)
}
