//! Authentication and authorisation: password hashing, JWT login tokens backed by a
//! revocable session row, and the [`AuthUser`] extractor every protected handler takes.

pub mod extractor;
pub mod password;
pub mod tokens;

pub use extractor::{AuthUser, MaybeUser};
pub use tokens::Keys;

/// Name of the cookie that carries the token for the web UI.
pub const SESSION_COOKIE: &str = "i2i_session";

use actix_web::web;

use crate::db::now_ms;
use crate::db::sessions::{self, Session};
use crate::db::users::User;
use crate::error::AppError;
use crate::startup::AppState;

/// A token just issued for a user.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: i64,
    pub user: User,
}

/// Checks credentials and opens a session, returning its signed token.
pub async fn log_in(
    state: &web::Data<AppState>,
    username: String,
    password: String,
) -> Result<IssuedToken, AppError> {
    let user =
        state.db.read(move |conn| crate::domain::users::authenticate(conn, &username, &password)).await?;
    open_session(state, user).await
}

/// Opens a session for an already authenticated user.
pub async fn open_session(state: &web::Data<AppState>, user: User) -> Result<IssuedToken, AppError> {
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
        exp: session.expires_at / 1000,
    };
    let token = state.keys.sign(&claims)?;
    let expires_at = session.expires_at;
    state.db.write(move |conn| Ok(sessions::insert(conn, &session)?)).await?;
    Ok(IssuedToken { token, expires_at, user })
}

/// Revokes a session so its token stops working at once.
pub async fn log_out(state: &web::Data<AppState>, session_id: String) -> Result<(), AppError> {
    state.db.write(move |conn| Ok(sessions::revoke(conn, &session_id, now_ms())?)).await?;
    Ok(())
}
