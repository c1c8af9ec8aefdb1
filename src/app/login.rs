//! Logging in and out: checking credentials (rate-limited, audited), opening a session with
//! its signed token, and revoking it.

use actix_web::web;
use serde_json::json;

use crate::app::audit::{self, user_target, Action, Actor};
use crate::app::users;
use crate::app::ClientAddr;
use crate::app_state::AppState;
use crate::auth::{password, tokens, AuthUser};
use crate::db::now_ms;
use crate::db::sessions::{self, Session};
use crate::db::users::User;
use crate::error::AppError;

/// A token just issued for a user.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: i64,
    pub user: User,
}

/// Checks credentials and opens a session, returning its signed token. Rate-limited per
/// client address and (failures only) per username; both outcomes go to the audit log.
pub async fn log_in(
    state: &web::Data<AppState>,
    client: ClientAddr,
    username: String,
    password: String,
) -> Result<IssuedToken, AppError> {
    state.limits.login_attempt(client.0, &username)?;
    let name = username.trim().to_lowercase();
    let user = state.db.read(move |conn| Ok(crate::db::users::by_username(conn, &name)?)).await?;
    // The database connection is back in the pool before the slow hash starts.
    let matched = password::verify(password, users::hash_to_check(user.as_ref())).await?;
    match users::login_verdict(user, matched) {
        Ok(user) => open_session(state, client, user).await,
        Err(refusal) => {
            state.limits.login_failed(&username);
            let actor = Actor::anonymous(client.text());
            state
                .db
                .write(move |conn| audit::record_failed_login(conn, &actor, &username, refusal.as_str()))
                .await?;
            Err(AppError::Unauthorized("wrong username or password".into()))
        }
    }
}

/// Opens a session for an already authenticated user, recording the login.
pub async fn open_session(
    state: &web::Data<AppState>,
    client: ClientAddr,
    user: User,
) -> Result<IssuedToken, AppError> {
    let now = now_ms();
    let ttl_ms =
        i64::try_from(state.config.token_ttl_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX / 2);
    let session = Session {
        id: uuid::Uuid::new_v4().simple().to_string(),
        user_id: user.id,
        csrf_token: uuid::Uuid::new_v4().simple().to_string(),
        created_at: now,
        expires_at: now.saturating_add(ttl_ms),
        revoked_at: None,
    };
    let claims = tokens::Claims {
        sub: user.id,
        jti: session.id.clone(),
        iat: now / 1000,
        nbf: None,
        exp: session.expires_at / 1000,
    };
    let token = state.keys.sign(&claims)?;
    let expires_at = session.expires_at;
    let actor = Actor::user(&user, client.text());
    let target = user_target(&user.username);
    state
        .db
        .write(move |conn| {
            sessions::insert(conn, &session)?;
            audit::record(conn, &actor, Action::Login, &target, json!({}))
        })
        .await?;
    Ok(IssuedToken { token, expires_at, user })
}

/// Revokes the session of `auth` so its token stops working at once, recording the logout.
pub async fn log_out(
    state: &web::Data<AppState>,
    client: ClientAddr,
    auth: AuthUser,
) -> Result<(), AppError> {
    let actor = Actor::user(&auth.user, client.text());
    let target = user_target(&auth.user.username);
    state
        .db
        .write(move |conn| {
            sessions::revoke(conn, &auth.session.id, now_ms())?;
            audit::record(conn, &actor, Action::Logout, &target, json!({}))
        })
        .await?;
    Ok(())
}
