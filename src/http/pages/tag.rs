//! A tag's page: its counts and its posts, newest first, with a compose box prefilled with it.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::cards::encode_segment;
use super::timeline::{compose, open_incidents, page_json, PageQuery};
use super::{render, viewer};
use crate::auth::AuthUser;
use crate::domain::timeline::{load_page, TimelineRequest};
use crate::error::AppError;
use crate::http::api::tags::load;
use crate::startup::AppState;

/// `GET /tags/{name}`.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    name: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let name = name.into_inner();
    let before = query.into_inner().before;
    let viewer_id = auth.user.id;
    let (tag, page, open) = state
        .db
        .read(move |conn| {
            let tag = load(conn, &name)?;
            let request = TimelineRequest { tags: vec![tag.name.clone()], before, ..Default::default() };
            Ok((tag, load_page(conn, &request, Some(viewer_id))?, open_incidents(conn)?))
        })
        .await?;
    let base = format!("/tags/{}", encode_segment(&tag.name));
    let context = json!({
        "title": format!("#{}", tag.display),
        "viewer": viewer(Some(&auth)),
        "compose": compose(&format!("#{} ", tag.display), "", &base, open),
        "page": page_json(&state, &page, &base),
        "tag": tag,
    });
    render(&state, "pages/tag", &context)
}
