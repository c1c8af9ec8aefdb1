//! Server-rendered HTML pages (handlebars) that work without JavaScript, plus the middleware
//! that shows errors of page routes as HTML (and sends a logged-out visitor to the login).

pub mod admin;
pub mod assets;
pub mod cards;
pub mod charts;
pub mod feeds;
pub mod helpers;
pub mod incident;
pub mod insights;
pub mod my;
pub mod post;
pub mod search;
pub mod session;
pub mod tag;
pub mod timeline;
pub mod trends;
pub mod user;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::header, web, HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::auth::AuthUser;
use crate::error::AppError;
use crate::startup::AppState;

/// Renders a template into a `200 text/html` response.
pub fn render(state: &AppState, template: &str, context: &Value) -> Result<HttpResponse, AppError> {
    let html = state
        .templates
        .render(template, context)
        .map_err(|err| AppError::Internal(anyhow::anyhow!("rendering {template}: {err}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

/// The layout's view of the visitor: who is logged in and the form token.
pub fn viewer(auth: Option<&AuthUser>) -> Value {
    match auth {
        Some(auth) => json!({
            "username": auth.user.username,
            "display_name": auth.user.display_name,
            "role": auth.user.role,
            "is_admin": auth.user.is_admin(),
            "is_curator": crate::domain::vocabulary::may_curate(&auth.user),
            "csrf": auth.session.csrf_token,
        }),
        None => Value::Null,
    }
}

/// A form post must carry its session's token, so another site cannot post in the
/// visitor's name (on top of the SameSite cookie).
pub fn check_csrf(auth: &AuthUser, token: &str) -> Result<(), AppError> {
    if token.is_empty() || token != auth.session.csrf_token {
        return Err(AppError::Forbidden("this form has expired; reload the page and try again".into()));
    }
    Ok(())
}

/// A `303 See Other` to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Only local paths are followed after login, so `next` cannot send a visitor elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

fn is_page_path(path: &str) -> bool {
    // Feeds are read by feed readers, which want a plain 401 rather than a login page.
    !(path.starts_with("/api/")
        || path == "/healthz"
        || path == "/readyz"
        || path.starts_with("/assets/")
        || path.starts_with("/feeds/"))
}

/// Turns errors on page routes into HTML: 401 becomes a redirect to the login page, every
/// other error a page with the same status and message. API routes keep their JSON.
pub async fn html_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_page = is_page_path(req.path());
    // After logging in the visitor returns to the page they asked for; a form post cannot
    // be replayed by a redirect, so those return to the timeline.
    let target = match *req.method() {
        actix_web::http::Method::GET => req.uri().path_and_query().map(|pq| pq.as_str().to_string()),
        _ => None,
    }
    .unwrap_or_else(|| "/".to_string());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if !is_page {
        return Ok(res.map_into_boxed_body());
    }
    let Some(err) = res.response().error().and_then(|e| e.as_error::<AppError>()) else {
        return Ok(res.map_into_boxed_body());
    };
    if matches!(err, AppError::Unauthorized(_)) {
        let location =
            format!("/login?next={}", form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>());
        return Ok(res.into_response(redirect(&location)).map_into_boxed_body());
    }
    let status = err.status_code();
    let context = json!({
        "title": status.canonical_reason().unwrap_or("Error"),
        "viewer": Value::Null,
        "status": status.as_u16(),
        "message": err.public_message(),
    });
    let html = state
        .and_then(|s| s.templates.render("pages/error", &context).ok())
        .unwrap_or_else(|| format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")));
    let mut page = HttpResponse::build(status);
    // A 429 keeps its Retry-After, so a browser (or a script posting forms) knows how long to wait.
    if let Some(retry_after) = res.response().headers().get(header::RETRY_AFTER) {
        page.insert_header((header::RETRY_AFTER, retry_after.clone()));
    }
    let page = page.content_type("text/html; charset=utf-8").body(html);
    Ok(res.into_response(page).map_into_boxed_body())
}
