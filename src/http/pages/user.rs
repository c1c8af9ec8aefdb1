//! A user's page: who they are and their notes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::cards::encode_segment;
use super::timeline::{page_json, PageQuery};
use super::{render, viewer};
use crate::app::timeline::{load_page, TimelineRequest};
use crate::app::users::require;
use crate::app::views::UserView;
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::error::AppError;

/// `GET /users/{username}`.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    username: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let username = username.into_inner();
    let before = query.into_inner().before;
    let viewer_id = auth.user.id;
    let (user, page) = state
        .db
        .read(move |conn| {
            let user = require(conn, &username)?;
            let request =
                TimelineRequest { author: Some(user.username.clone()), before, ..Default::default() };
            Ok((user, load_page(conn, &request, Some(viewer_id))?))
        })
        .await?;
    let base = format!("/users/{}", encode_segment(&user.username));
    let context = json!({
        "title": user.display_name,
        "viewer": viewer(Some(&auth)),
        "user": UserView::from(&user),
        "page": page_json(&state, &page, &base),
    });
    render(&state, "pages/user", &context)
}
