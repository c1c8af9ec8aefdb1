//! The home timeline with its compose box, and the form post behind every compose box.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::cards::cards;
use super::{check_csrf, redirect, render, safe_next, viewer};
use crate::auth::{AuthUser, MaybeUser};
use crate::db::incidents::{self, IncidentFilter};
use crate::db::{tags, DbConn};
use crate::domain::posts::{create_post, PostInput};
use crate::domain::timeline::{load_page, TimelinePage, TimelineRequest};
use crate::error::{invalid, AppError};
use crate::startup::AppState;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub before: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ComposeForm {
    pub body: String,
    pub incident: Option<String>,
    pub reply_to: Option<String>,
    pub back: Option<String>,
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// What the compose box and sidebar show: open incidents to pick and the busiest tags.
pub fn sidebar(conn: &mut DbConn) -> Result<Value, AppError> {
    let open = incidents::list(
        conn,
        &IncidentFilter {
            open_only: true,
            limit: 50,
            ..Default::default()
        },
    )?;
    let popular = tags::popular(conn, 15)?;
    Ok(json!({
        "open_incidents": open.iter().map(|i| json!({"key": i.key, "title": i.title})).collect::<Vec<_>>(),
        "popular_tags": popular.iter().map(|(t, n)| json!({"name": t.key, "display": t.display, "count": n})).collect::<Vec<_>>(),
    }))
}

/// The compose box's prefilled values.
pub fn compose(body: &str, incident: &str, back: &str) -> Value {
    json!({"body": body, "incident": incident, "back": back, "reply_to": null})
}

/// Cards and the "older" link of a page.
pub fn page_json(state: &AppState, page: &TimelinePage, base: &str) -> Value {
    let separator = if base.contains('?') { '&' } else { '?' };
    json!({
        "cards": cards(&page.posts, &state.incident_pattern),
        "older": page.next.map(|id| format!("{base}{separator}before={id}")),
    })
}

/// `GET /`: the timeline, or the way in for a visitor.
pub async fn show(
    state: web::Data<AppState>,
    viewer_user: MaybeUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let Some(auth) = viewer_user.0 else {
        let no_users = state
            .db
            .read(|conn| Ok(crate::db::users::count_with_login(conn)? == 0))
            .await?;
        return Ok(redirect(if no_users { "/setup" } else { "/login" }));
    };
    let request = TimelineRequest {
        before: query.into_inner().before,
        ..Default::default()
    };
    let viewer_id = auth.user.id;
    let (page, side) = state
        .db
        .read(move |conn| Ok((load_page(conn, &request, Some(viewer_id))?, sidebar(conn)?)))
        .await?;
    let context = json!({
        "title": "Timeline",
        "viewer": viewer(Some(&auth)),
        "page": page_json(&state, &page, "/"),
        "sidebar": side,
        "compose": compose("", "", "/"),
    });
    render(&state, "pages/timeline", &context)
}

/// `POST /compose`: creates a post from a form and returns to the page it came from.
pub async fn compose_post(
    state: web::Data<AppState>,
    auth: AuthUser,
    form: web::Form<ComposeForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    check_csrf(&auth, &form.csrf)?;
    let reply_to = match form.reply_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(
            id.parse::<i64>()
                .map_err(|_| invalid("reply_to", "reply_to must be a post id"))?,
        ),
    };
    let input = PostInput {
        body: form.body,
        incident: form.incident.filter(|key| !key.trim().is_empty()),
        reply_to,
        ..Default::default()
    };
    let app = state.clone();
    state
        .db
        .write(move |conn| create_post(conn, &app.incident_pattern, &auth.user, &input))
        .await?;
    Ok(redirect(&safe_next(form.back.as_deref())))
}
