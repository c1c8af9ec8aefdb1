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

use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::error::AppError;

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
            "is_curator": crate::app::vocabulary::may_curate(&auth.user),
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

/// The site-relative target that `next` (after login) or `back` (after posting) names, or
/// `/` when it names anything else. The text is parsed the way a browser would resolve it
/// against this site (WHATWG URL rules: tabs and newlines dropped, `\\` read as `/`,
/// `//host` as another host), and only a result on this site's own origin is kept. The
/// answer is the parsed URL's path, query and fragment, percent-encoded, so it is always a
/// valid `Location` header: a raw NUL or newline can no longer make the redirect fail.
pub fn safe_next(next: Option<&str>) -> String {
    // A placeholder origin: only whether the target stays on it matters, never its name.
    const SITE: &str = "http://i2i.invalid/";
    let Some(text) = next else {
        return "/".to_string();
    };
    let Ok(site) = url::Url::parse(SITE) else {
        return "/".to_string();
    };
    // A target must be a path: "https://elsewhere", "javascript:" and "//elsewhere" are not.
    let trimmed = text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c.is_ascii_control());
    if !trimmed.starts_with('/') {
        return "/".to_string();
    }
    match site.join(text) {
        Ok(target) if target.origin() == site.origin() => {
            let mut local = target.path().to_string();
            if let Some(query) = target.query() {
                local.push('?');
                local.push_str(query);
            }
            if let Some(fragment) = target.fragment() {
                local.push('#');
                local.push_str(fragment);
            }
            debug_assert!(local.starts_with('/'));
            // A path that still begins "//" (from "/.//evil") would read as another host.
            if local.starts_with("//") {
                return "/".to_string();
            }
            local
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn local_paths_are_kept_with_their_query_and_fragment() {
        assert_eq!(safe_next(Some("/tags/sso?window=7d#top")), "/tags/sso?window=7d#top");
        assert_eq!(safe_next(Some("/")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn anything_a_browser_would_take_off_site_becomes_the_timeline() {
        for hostile in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "\t//evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/.//evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            " javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
    }

    #[test]
    fn control_characters_never_reach_the_location_header() {
        for awkward in ["/search?q=a\nb", "/search?q=a\0b", "/tags/\u{0}x", "/a\u{7f}b", "/caf\u{e9}"] {
            let next = safe_next(Some(awkward));
            assert!(next.starts_with('/'), "{awkward:?} gave {next:?}");
            assert!(
                actix_web::http::header::HeaderValue::from_str(&next).is_ok(),
                "{awkward:?} gave the invalid header value {next:?}"
            );
        }
    }
}
