//! The [`AuthUser`] extractor: a handler that takes it only runs for a request carrying a
//! valid, unrevoked token of an active user (`Authorization: Bearer` or the session cookie).

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::SESSION_COOKIE;
use crate::db::now_ms;
use crate::db::sessions::{self, Session};
use crate::db::users::{self, User};
use crate::error::AppError;
use crate::startup::AppState;

/// The logged-in user of a request and the session their token names.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub session: Session,
}

impl AuthUser {
    /// Fails with 403 unless the user is an admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.user.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden("only admins may do this".into()))
        }
    }
}

/// The logged-in user if there is one; pages use it to choose between content and login.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

/// The token of a request: the bearer header wins over the cookie.
fn token_of(req: &HttpRequest) -> Option<String> {
    if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = header.to_str().ok()?;
        return value.strip_prefix("Bearer ").map(|token| token.trim().to_string());
    }
    req.cookie(SESSION_COOKIE).map(|cookie| cookie.value().to_string())
}

/// Resolves a token into its user; `Ok(None)` when absent, invalid, revoked or disabled.
async fn resolve(state: web::Data<AppState>, token: Option<String>) -> Result<Option<AuthUser>, AppError> {
    let Some(token) = token else { return Ok(None) };
    let Some(claims) = state.keys.verify(&token) else {
        return Ok(None);
    };
    state
        .db
        .read(move |conn| {
            let Some(session) = sessions::active(conn, &claims.jti, now_ms())? else {
                return Ok(None);
            };
            if session.user_id != claims.sub {
                return Ok(None);
            }
            let user = users::by_id(conn, claims.sub)?;
            if user.is_disabled() {
                return Ok(None);
            }
            Ok(Some(AuthUser { user, session }))
        })
        .await
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("app state missing")))
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = state_of(req);
        let token = token_of(req);
        Box::pin(async move {
            let had_token = token.is_some();
            match resolve(state?, token).await? {
                Some(user) => Ok(user),
                None if had_token => {
                    Err(AppError::Unauthorized("the token is invalid, expired or revoked".into()))
                }
                None => {
                    Err(AppError::Unauthorized("log in first: send Authorization: Bearer <token>".into()))
                }
            }
        })
    }
}

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = state_of(req);
        let token = token_of(req);
        Box::pin(async move { Ok(MaybeUser(resolve(state?, token).await?)) })
    }
}
