//! The home timeline with its compose box, and the form post behind every compose box.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::cards::cards;
use super::{check_csrf, redirect, render, safe_next, viewer};
use crate::app::posts::{create_post, PostInput};
use crate::app::timeline::{load_page, TimelinePage, TimelineRequest};
use crate::app_state::AppState;
use crate::auth::{AuthUser, MaybeUser};
use crate::db::incidents::{self, IncidentFilter};
use crate::db::{tags, DbConn};
use crate::error::{invalid, AppError};

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

/// Open incidents, most recent first, for the compose box's incident picker.
pub fn open_incidents(conn: &mut DbConn) -> Result<Value, AppError> {
    let filter = IncidentFilter { open_only: true, limit: 50, ..Default::default() };
    let open = incidents::list(conn, &filter)?;
    Ok(json!(open.iter().map(|i| json!({"key": i.key, "title": i.title})).collect::<Vec<_>>()))
}

/// The busiest tags for the sidebar.
pub fn popular_tags(conn: &mut DbConn) -> Result<Value, AppError> {
    let popular = tags::popular(conn, 15)?;
    let rows: Vec<Value> =
        popular.iter().map(|(t, n)| json!({"name": t.key, "display": t.display, "count": n})).collect();
    Ok(json!(rows))
}

/// The compose box: prefilled values, the incidents to pick from, and an error to show.
pub fn compose(body: &str, incident: &str, back: &str, incidents: Value) -> Value {
    json!({"body": body, "incident": incident, "back": back, "reply_to": null,
           "incidents": incidents, "error": null})
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
        let no_users = state.db.read(|conn| Ok(crate::db::users::count_with_login(conn)? == 0)).await?;
        return Ok(redirect(if no_users { "/setup" } else { "/login" }));
    };
    let request = TimelineRequest { before: query.into_inner().before, ..Default::default() };
    let viewer_id = auth.user.id;
    let (page, open, popular, notices) = state
        .db
        .read(move |conn| {
            let notices = crate::app::insight_views::notifications(conn, viewer_id)?;
            Ok((
                load_page(conn, &request, Some(viewer_id))?,
                open_incidents(conn)?,
                popular_tags(conn)?,
                notices,
            ))
        })
        .await?;
    // Unread news first: which of the viewer's notes became evidence, and in what.
    let unread: Vec<_> = notices.items.iter().filter(|n| !n.read).collect();
    let context = json!({
        "title": "Timeline",
        "viewer": viewer(Some(&auth)),
        "page": page_json(&state, &page, "/"),
        "sidebar": json!({"open_incidents": open.clone(), "popular_tags": popular}),
        "compose": compose("", "", "/", open),
        "notices": unread,
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
    state.limits.post(auth.user.id)?;
    let reply_to = match form.reply_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(id.parse::<i64>().map_err(|_| invalid("reply_to", "reply_to must be a post id"))?),
    };
    let input = PostInput {
        body: form.body,
        incident: form.incident.filter(|key| !key.trim().is_empty()),
        reply_to,
        ..Default::default()
    };
    let back = safe_next(form.back.as_deref());
    let app = state.clone();
    let author = auth.user.clone();
    let kept = input.clone();
    let created = state.db.write(move |conn| create_post(conn, &app.incident_pattern, &author, &input)).await;
    match created {
        Ok(_) => {
            state.changed();
            Ok(redirect(&back))
        }
        // Nothing typed is lost: the form comes back filled in, with the reason.
        Err(AppError::Validation { message, .. }) => {
            let open = state.db.read(open_incidents).await?;
            let mut retry = compose(&kept.body, kept.incident.as_deref().unwrap_or(""), &back, open);
            retry["reply_to"] = json!(kept.reply_to);
            retry["error"] = json!(message);
            let context = json!({"title": "Post not saved", "viewer": viewer(Some(&auth)), "compose": retry});
            let mut page = render(&state, "pages/compose", &context)?;
            *page.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(other) => Err(other),
    }
}
