//! Login, logout and the first-admin setup page (shown only while no user exists).

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{check_csrf, redirect, render, safe_next};
use crate::app::login::IssuedToken;
use crate::app_state::AppState;
use crate::auth::{AuthUser, MaybeUser, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::client::ClientAddr;

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    pub username: String,
    pub display_name: Option<String>,
    pub password: String,
    pub password_again: String,
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

async fn no_users_yet(state: &web::Data<AppState>) -> Result<bool, AppError> {
    Ok(state.db.read(|conn| Ok(crate::db::users::count_with_login(conn)?)).await? == 0)
}

/// The session cookie: HttpOnly (no script can read it), SameSite=Lax (not sent on
/// cross-site posts), Secure when configured.
fn session_cookie(state: &AppState, issued: &IssuedToken) -> Cookie<'static> {
    let hours = i64::try_from(state.config.token_ttl_hours).unwrap_or(24 * 365);
    Cookie::build(SESSION_COOKIE, issued.token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies)
        .max_age(CookieDuration::hours(hours))
        .finish()
}

fn login_page(
    state: &AppState,
    next: &str,
    error: Option<&str>,
    username: &str,
) -> Result<HttpResponse, AppError> {
    render(
        state,
        "pages/login",
        &json!({"title": "Log in", "viewer": null, "next": next, "error": error, "username": username}),
    )
}

/// `GET /login`.
pub async fn login_form(
    state: web::Data<AppState>,
    viewer: MaybeUser,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, AppError> {
    if no_users_yet(&state).await? {
        return Ok(redirect("/setup"));
    }
    let next = safe_next(query.next.as_deref());
    if viewer.0.is_some() {
        return Ok(redirect(&next));
    }
    login_page(&state, &next, None, "")
}

/// `POST /login`.
pub async fn login(
    state: web::Data<AppState>,
    client: ClientAddr,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let LoginForm { username, password, next } = form.into_inner();
    let next = safe_next(next.as_deref());
    match crate::app::login::log_in(&state, client, username.clone(), password).await {
        Ok(issued) => Ok(HttpResponse::SeeOther()
            .insert_header(crate::http::NO_STORE)
            .cookie(session_cookie(&state, &issued))
            .insert_header(("Location", next))
            .finish()),
        Err(AppError::Unauthorized(message)) => {
            let mut page = login_page(&state, &next, Some(&message), &username)?;
            *page.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
            Ok(page)
        }
        Err(other) => Err(other),
    }
}

/// `POST /logout`: revokes the session and clears the cookie.
pub async fn logout(
    state: web::Data<AppState>,
    client: ClientAddr,
    auth: AuthUser,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    crate::app::login::log_out(&state, client, auth).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header(crate::http::NO_STORE)
        .cookie(gone)
        .insert_header(("Location", "/login"))
        .finish())
}

fn setup_page(state: &AppState, error: Option<&str>, username: &str) -> Result<HttpResponse, AppError> {
    render(
        state,
        "pages/setup",
        &json!({"title": "Welcome", "viewer": null, "error": error, "username": username}),
    )
}

/// `GET /setup`: only while no user exists.
pub async fn setup_form(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if !no_users_yet(&state).await? {
        return Ok(redirect("/login"));
    }
    setup_page(&state, None, "")
}

/// `POST /setup`: creates the first admin and logs them in.
pub async fn setup(
    state: web::Data<AppState>,
    client: ClientAddr,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, AppError> {
    let SetupForm { username, display_name, password, password_again } = form.into_inner();
    if !no_users_yet(&state).await? {
        return Ok(redirect("/login"));
    }
    if password != password_again {
        return setup_page(&state, Some("the two passwords differ"), &username);
    }
    let display_name = display_name.filter(|name| !name.trim().is_empty());
    match crate::app::users::create_first_admin(&state, client, username.clone(), password, display_name)
        .await
    {
        Ok(issued) => Ok(HttpResponse::SeeOther()
            .insert_header(crate::http::NO_STORE)
            .cookie(session_cookie(&state, &issued))
            .insert_header(("Location", "/"))
            .finish()),
        Err(AppError::Validation { message, .. }) => setup_page(&state, Some(&message), &username),
        Err(other) => Err(other),
    }
}
