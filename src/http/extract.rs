//! The [`AuthUser`] extractor: a handler that takes it only runs for a request carrying a
//! valid, unrevoked token of an active user (`Authorization: Bearer` or the session cookie).
//! It is also the one place that demands the CSRF token of a cookie-authenticated API
//! request that changes state (see [`csrf_required`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::app_state::AppState;
use crate::auth::{signed_in, AuthUser, MaybeUser, SESSION_COOKIE};
use crate::error::AppError;

/// The header in which a script sends its session's CSRF token (the pages' forms send the
/// same token as the `_csrf` field).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Where a request's token came from. A browser attaches the cookie to any request, also
/// one another site makes it send; only a script of our own can set the bearer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Bearer,
    Cookie,
}

/// The token of a request and where it came from: the bearer header wins over the cookie.
fn token_of(req: &HttpRequest) -> Option<(String, Source)> {
    if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = header.to_str().ok()?;
        return value.strip_prefix("Bearer ").map(|token| (token.trim().to_string(), Source::Bearer));
    }
    req.cookie(SESSION_COOKIE).map(|cookie| (cookie.value().to_string(), Source::Cookie))
}

/// What a request needs to prove it was not forged by another site: `Some(header token)`
/// when it must carry the session's CSRF token in [`CSRF_HEADER`] — a state change (any
/// method but GET, HEAD, OPTIONS) of the API authenticated by the cookie, whatever the
/// route and whether or not it has a body. Bearer requests need nothing (no other site can
/// set that header). The pages' form posts (outside `/api/`) carry the token in their
/// `_csrf` field instead, which each form handler checks with `pages::check_csrf`, since
/// an extractor cannot read a form body without taking it from the handler.
fn csrf_required(req: &HttpRequest, source: Source) -> Option<String> {
    let safe = matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    if source == Source::Bearer || safe || !req.path().starts_with("/api/") {
        return None;
    }
    let sent = req.headers().get(CSRF_HEADER).and_then(|value| value.to_str().ok()).unwrap_or_default();
    Some(sent.trim().to_string())
}

/// Fails with 403 unless `sent` is the CSRF token of the request's session.
fn check_csrf_header(user: &AuthUser, sent: &str) -> Result<(), AppError> {
    if sent.is_empty() || sent != user.session.csrf_token {
        return Err(AppError::Forbidden(format!(
            "a request authenticated by the session cookie must send the session's CSRF token in {CSRF_HEADER} \
             (or authenticate with Authorization: Bearer)"
        )));
    }
    Ok(())
}

/// Resolves the request's credential, then demands the CSRF token where [`csrf_required`]
/// says so: `Ok(None)` for no (valid) credential.
async fn authenticate(
    state: Result<web::Data<AppState>, AppError>,
    credential: Option<(String, Source)>,
    csrf: Option<String>,
) -> Result<Option<AuthUser>, AppError> {
    let Some((token, _)) = credential else { return Ok(None) };
    let Some(user) = resolve(state?, Some(token)).await? else { return Ok(None) };
    if let Some(sent) = csrf {
        check_csrf_header(&user, &sent)?;
    }
    Ok(Some(user))
}

/// Resolves a token into its user; `Ok(None)` when absent, invalid, revoked or disabled.
async fn resolve(state: web::Data<AppState>, token: Option<String>) -> Result<Option<AuthUser>, AppError> {
    let Some(token) = token else { return Ok(None) };
    let Some(claims) = state.keys.verify(&token) else {
        return Ok(None);
    };
    state.db.read(move |conn| signed_in(conn, &claims.jti, claims.sub)).await
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
        let credential = token_of(req);
        let csrf = credential.as_ref().and_then(|(_, source)| csrf_required(req, *source));
        Box::pin(async move {
            let had_token = credential.is_some();
            match authenticate(state, credential, csrf).await? {
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
        let credential = token_of(req);
        let csrf = credential.as_ref().and_then(|(_, source)| csrf_required(req, *source));
        Box::pin(async move { Ok(MaybeUser(authenticate(state, credential, csrf).await?)) })
    }
}
