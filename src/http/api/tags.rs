//! `GET /api/v1/tags/{name}`: a tag's display form and counts.

use actix_web::{web, HttpResponse};

use crate::auth::AuthUser;
use crate::db::tags;
use crate::domain::text::tag_key;
use crate::error::{not_found, AppError, ErrorBody};
use crate::http::views::TagView;
use crate::startup::AppState;

/// A tag with post count, distinct incidents, first and last seen.
#[utoipa::path(get, path = "/api/v1/tags/{name}", responses((status = 200, body = TagView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    _auth: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let view = state.db.read(move |conn| load(conn, &name)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The tag named `name` (with or without '#', any case) and its counts.
pub fn load(conn: &mut crate::db::DbConn, name: &str) -> Result<TagView, AppError> {
    let key = tag_key(name.trim()).ok_or_else(|| not_found(format!("{name:?} is not a tag")))?;
    let tag = tags::by_key(conn, &key)?.ok_or_else(|| not_found(format!("no posts are tagged #{key}")))?;
    let stats = tags::stats(conn, tag.id)?;
    Ok(TagView::new(&tag, &stats))
}
