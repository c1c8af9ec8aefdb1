//! Atom feeds for a tag, an incident and a saved search, for any feed reader. A reader
//! cannot log in, so the URL carries the user's feed token (rotated on the My tags page).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::app::search::{request, run};
use crate::app::timeline::{load_page, TimelineRequest};
use crate::app::trends::require_tag;
use crate::app_state::AppState;
use crate::db::posts::PostDetails;
use crate::db::{follows, users};
use crate::domain::text::without_bidi_controls;
use crate::domain::time::format_ms;
use crate::error::AppError;
use crate::http::client::base_url;

/// The query of a tag's or an incident's feed.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    pub token: Option<String>,
}

/// The query of a saved search's feed.
#[derive(Debug, Deserialize)]
pub struct SearchFeedQuery {
    pub token: Option<String>,
    pub q: Option<String>,
}

/// Escapes text for XML, without bidi embeddings, overrides and isolates (as pages show it).
fn xml(text: &str) -> String {
    without_bidi_controls(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The user a feed token belongs to (an active user), or 401.
async fn reader(state: &web::Data<AppState>, token: Option<String>) -> Result<i64, AppError> {
    let token =
        token.ok_or_else(|| AppError::Unauthorized("add ?token= (see My tags) to the feed URL".into()))?;
    state
        .db
        .read(move |conn| {
            let user_id = follows::user_of_feed_token(conn, &token)?.ok_or_else(|| {
                AppError::Unauthorized("this feed token is not valid (it may have been rotated)".into())
            })?;
            let user = users::by_id(conn, user_id)?;
            if user.is_disabled() {
                return Err(AppError::Unauthorized("this account is disabled".into()));
            }
            Ok(user_id)
        })
        .await
}

/// Renders an Atom document.
fn atom(base: &str, id: &str, title: &str, self_path: &str, posts: &[PostDetails]) -> HttpResponse {
    let updated = posts.iter().map(|p| p.post.edited_at.unwrap_or(p.post.created_at)).max().unwrap_or(0);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n",
    );
    out.push_str(&format!(
        "  <id>{}</id>\n  <title>{}</title>\n  <updated>{}</updated>\n",
        xml(&format!("{base}{id}")),
        xml(title),
        format_ms(updated)
    ));
    out.push_str(&format!("  <link rel=\"alternate\" href=\"{}\"/>\n", xml(&format!("{base}{self_path}"))));
    for details in posts {
        let post = &details.post;
        let link = format!("{base}/posts/{}", post.id);
        let first_line: String = post.body.chars().take(80).collect();
        out.push_str("  <entry>\n");
        out.push_str(&format!("    <id>{}</id>\n", xml(&link)));
        out.push_str(&format!("    <title>{}</title>\n", xml(&first_line)));
        out.push_str(&format!("    <link href=\"{}\"/>\n", xml(&link)));
        out.push_str(&format!("    <published>{}</published>\n", format_ms(post.created_at)));
        out.push_str(&format!(
            "    <updated>{}</updated>\n",
            format_ms(post.edited_at.unwrap_or(post.created_at))
        ));
        out.push_str(&format!("    <author><name>{}</name></author>\n", xml(&details.author.display_name)));
        for tag in &details.tags {
            out.push_str(&format!("    <category term=\"{}\"/>\n", xml(&tag.key)));
        }
        out.push_str(&format!("    <content type=\"text\">{}</content>\n", xml(&post.body)));
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    HttpResponse::Ok().content_type("application/atom+xml; charset=utf-8").body(out)
}

/// `GET /feeds/tags/{name}.atom?token=`.
pub async fn tag(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    name: web::Path<String>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let viewer = reader(&state, query.token).await?;
    let name = name.into_inner();
    let name = name.strip_suffix(".atom").unwrap_or(&name).to_string();
    let (tag, page) = state
        .db
        .read(move |conn| {
            let tag = require_tag(conn, &name)?;
            let request = TimelineRequest {
                tags: vec![tag.key.clone()],
                limit: Some("50".into()),
                ..Default::default()
            };
            Ok((tag.clone(), load_page(conn, &request, Some(viewer))?))
        })
        .await?;
    Ok(atom(
        &base_url(&state.config, &req),
        &format!("/tags/{}", tag.key),
        &format!("#{} · i2i", tag.display),
        &format!("/tags/{}", tag.key),
        &page.posts,
    ))
}

/// `GET /feeds/incidents/{key}.atom?token=`.
pub async fn incident(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    key: web::Path<String>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let viewer = reader(&state, query.token).await?;
    let key = key.into_inner();
    let key = key.strip_suffix(".atom").unwrap_or(&key).to_string();
    let (incident, page) = state
        .db
        .read(move |conn| {
            let incident = crate::app::incidents::require(conn, &key)?;
            let request = TimelineRequest {
                incident: Some(incident.key.clone()),
                limit: Some("50".into()),
                ..Default::default()
            };
            Ok((incident, load_page(conn, &request, Some(viewer))?))
        })
        .await?;
    let path = format!("/incidents/{}", incident.key);
    Ok(atom(
        &base_url(&state.config, &req),
        &path,
        &format!("{} {} · i2i", incident.key, incident.title),
        &path,
        &page.posts,
    ))
}

/// `GET /feeds/search.atom?q=&token=`: a saved search, newest first.
pub async fn search(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    query: web::Query<SearchFeedQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let viewer = reader(&state, query.token).await?;
    let q = query.q.unwrap_or_default();
    let search_request = request(Some(&q), Some("recent"), Some("50"), None)?;
    let page = run(state.search.clone(), &state.db, search_request, Some(viewer)).await?;
    let posts: Vec<PostDetails> = page.posts.into_iter().map(|(_, d)| d).collect();
    let path = format!("/search?q={}", super::cards::encode_segment(&q));
    Ok(atom(&base_url(&state.config, &req), &path, &format!("Search: {q} · i2i"), &path, &posts))
}
