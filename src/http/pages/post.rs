//! A post's page: its whole thread, with a reply box and the "+1 / seen this too" button.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::cards::card;
use super::timeline::{compose, open_incidents};
use super::{check_csrf, redirect, render, viewer};
use crate::app::posts::{require_live, set_reaction};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::posts;
use crate::domain::rules::parse_id;
use crate::error::AppError;

#[derive(Debug, Deserialize)]
pub struct ReactForm {
    /// "1" adds the reaction, "0" takes it back.
    pub on: String,
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// `GET /posts/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let viewer_id = auth.user.id;
    let (thread, incident_key, open) = state
        .db
        .read(move |conn| {
            let post = require_live(conn, id)?;
            let thread_posts = posts::thread(conn, &post)?;
            let thread = posts::details(conn, thread_posts, Some(viewer_id))?;
            let incident_key =
                thread.iter().find(|d| d.post.id == id).and_then(|d| d.incident.clone()).map(|i| i.key);
            Ok((thread, incident_key, open_incidents(conn)?))
        })
        .await?;
    let cards: Vec<_> = thread.iter().map(|d| card(d, &state.incident_pattern, Some(id))).collect();
    let back = format!("/posts/{id}");
    let mut reply = compose("", incident_key.as_deref().unwrap_or(""), &back, open);
    reply["reply_to"] = json!(id);
    let context = json!({
        "title": format!("Note {id}"),
        "viewer": viewer(Some(&auth)),
        "cards": cards,
        "compose": reply,
    });
    render(&state, "pages/post", &context)
}

/// `POST /posts/{id}/react`.
pub async fn react(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
    form: web::Form<ReactForm>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    check_csrf(&auth, &form.csrf)?;
    let on = form.on == "1";
    state.db.write(move |conn| set_reaction(conn, &auth.user, id, on)).await?;
    Ok(redirect(&format!("/posts/{id}")))
}

/// `GET /fragments/posts/{id}`: one post card as HTML, for pages that insert new posts
/// without reloading.
pub async fn fragment(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let viewer_id = auth.user.id;
    let details = state
        .db
        .read(move |conn| {
            let post = require_live(conn, id)?;
            Ok(posts::details(conn, vec![post], Some(viewer_id))?)
        })
        .await?;
    let Some(one) = details.first() else { return Err(crate::error::not_found("post not found")) };
    render(&state, "partials/post_card", &serde_json::to_value(card(one, &state.incident_pattern, None))?)
}
