//! The user's own pages: "My tags" (a timeline of followed tags, with their feed links and
//! the feed token), the weekly digest and its email-ready exports, and following a tag.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::cards::{card, encode_segment};
use super::timeline::{compose, open_incidents, page_json, PageQuery};
use super::{check_csrf, redirect, render, viewer};
use crate::app::digest::{markdown, weekly, Digest};
use crate::app::timeline::{load_page, TimelinePage, TimelineRequest};
use crate::app::trends::set_follow;
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::{follows, now_ms};
use crate::domain::time::human_ms;
use crate::error::AppError;
use crate::http::client::base_url;

#[derive(Debug, Deserialize)]
pub struct FollowForm {
    /// "1" follows, "0" stops following.
    pub on: String,
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// `POST /tags/{name}/follow`.
pub async fn follow(
    state: web::Data<AppState>,
    auth: AuthUser,
    name: web::Path<String>,
    form: web::Form<FollowForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    let on = form.on == "1";
    let key = state.db.write(move |conn| set_follow(conn, auth.user.id, &name, on)).await?;
    Ok(redirect(&format!("/tags/{}", encode_segment(&key))))
}

/// `GET /my`: posts in the followed tags, newest first.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let viewer_id = auth.user.id;
    let before = query.into_inner().before;
    let (tags, page, token, open) = state
        .db
        .read(move |conn| {
            let tags = follows::followed(conn, viewer_id)?;
            let page = if tags.is_empty() {
                crate::app::timeline::cursor(conn, before.as_deref())?;
                TimelinePage { posts: Vec::new(), next: None }
            } else {
                let request = TimelineRequest {
                    tags: tags.iter().map(|t| t.key.clone()).collect(),
                    before,
                    ..Default::default()
                };
                load_page(conn, &request, Some(viewer_id))?
            };
            Ok((tags, page, follows::feed_token(conn, viewer_id)?, open_incidents(conn)?))
        })
        .await?;
    let base = base_url(&state.config, &req);
    let followed: Vec<_> = tags
        .iter()
        .map(|t| {
            json!({"name": t.key, "display": t.display, "href": format!("/tags/{}", encode_segment(&t.key)),
                   "feed": token.as_ref().map(|tok| format!("{base}/feeds/tags/{}.atom?token={tok}", encode_segment(&t.key)))})
        })
        .collect();
    let context = json!({
        "title": "My tags",
        "viewer": viewer(Some(&auth)),
        "followed": followed,
        "has_token": token.is_some(),
        "page": page_json(&state, &page, "/my"),
        "compose": compose("", "", "/my", open),
    });
    render(&state, "pages/my", &context)
}

/// `POST /my/feed-token`: makes or rotates the feed token.
pub async fn rotate_token(
    state: web::Data<AppState>,
    auth: AuthUser,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    crate::app::users::rotate_feed_token(&state, auth.user.id).await?;
    Ok(redirect("/my"))
}

async fn digest_of(state: &web::Data<AppState>, user_id: i64) -> Result<Digest, AppError> {
    state.db.read(move |conn| weekly(conn, user_id, now_ms())).await
}

/// `GET /digest`: the week in the followed tags.
pub async fn digest(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, AppError> {
    let digest = digest_of(&state, auth.user.id).await?;
    let notes: Vec<_> = digest.top_notes.iter().map(|d| card(d, &state.incident_pattern, None)).collect();
    let context = json!({
        "title": "Your week",
        "viewer": viewer(Some(&auth)),
        "from": human_ms(digest.from),
        "to": human_ms(digest.to),
        "follows_any": !digest.followed.is_empty(),
        "rose": digest.rose.iter().map(|r| json!({"rise": r, "href": format!("/tags/{}", encode_segment(&r.name)), "delta": r.this_week - r.last_week})).collect::<Vec<_>>(),
        "new_tags": digest.new_tags.iter().map(|t| json!({"name": t, "href": format!("/tags/{}", encode_segment(t))})).collect::<Vec<_>>(),
        "cards": notes,
    });
    render(&state, "pages/digest", &context)
}

/// `GET /digest.md`: the digest as Markdown.
pub async fn digest_markdown(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let digest = digest_of(&state, auth.user.id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/markdown; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"i2i-week.md\""))
        .body(markdown(&digest, &base_url(&state.config, &req))))
}

/// `GET /digest.html`: a standalone HTML page for an email (styles inline, absolute links).
pub async fn digest_html(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let digest = digest_of(&state, auth.user.id).await?;
    let base = base_url(&state.config, &req);
    let context = json!({
        "base": base,
        "from": human_ms(digest.from),
        "to": human_ms(digest.to),
        "rose": digest.rose,
        "new_tags": digest.new_tags,
        "notes": digest.top_notes.iter().map(|d| json!({"id": d.post.id, "body": d.post.body, "author": d.author.display_name, "reactions": d.post.reactions_count})).collect::<Vec<_>>(),
    });
    let html = state
        .templates
        .render("emails/digest", &context)
        .map_err(|err| AppError::Internal(anyhow::anyhow!("rendering digest: {err}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"i2i-week.html\""))
        .body(html))
}
