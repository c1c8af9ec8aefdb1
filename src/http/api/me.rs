//! The current user's own things: tag suggestions while composing, followed tags, and the
//! feed token for Atom readers.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::suggest::suggest;
use crate::app::trends;
use crate::app::users::rotate_feed_token;
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::follows;
use crate::error::{AppError, ErrorBody};
use crate::http::query::NoParams;
use crate::http::query::QueryPairs;

/// Suggested tags for the compose box.
#[utoipa::path(get, path = "/api/v1/tags", operation_id = "suggest_tags",
    params(("prefix" = Option<String>, Query, description = "what follows the '#' being typed"),
           ("with" = Option<Vec<String>>, Query, description = "tags already in the note, repeatable"),
           ("incident" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "{items: [{name, display, posts, reason}]}")))]
pub async fn suggestions(
    state: web::Data<AppState>,
    _auth: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let query = QueryPairs::parse(req.query_string(), &["prefix", "with", "incident", "limit"])?;
    let prefix = query.one("prefix").unwrap_or_default();
    let typed = query.all("with");
    let incident = query.one("incident");
    let limit = crate::app::trends::limit(query.one("limit").as_deref())?;
    let items = state.db.read(move |conn| suggest(conn, &prefix, &typed, incident.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowView {
    pub tag: String,
    pub following: bool,
}

async fn follow_or_not(
    state: web::Data<AppState>,
    auth: AuthUser,
    name: String,
    on: bool,
) -> Result<HttpResponse, AppError> {
    let key = state.db.write(move |conn| trends::set_follow(conn, auth.user.id, &name, on)).await?;
    Ok(HttpResponse::Ok().json(FollowView { tag: key, following: on }))
}

/// Follow a tag (idempotent).
#[utoipa::path(post, path = "/api/v1/tags/{name}/follow", operation_id = "follow_tag", responses((status = 200, body = FollowView), (status = 404, body = ErrorBody)))]
pub async fn follow(
    state: web::Data<AppState>,
    auth: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    follow_or_not(state, auth, name.into_inner(), true).await
}

/// Stop following a tag (idempotent).
#[utoipa::path(delete, path = "/api/v1/tags/{name}/follow", operation_id = "unfollow_tag", responses((status = 200, body = FollowView), (status = 404, body = ErrorBody)))]
pub async fn unfollow(
    state: web::Data<AppState>,
    auth: AuthUser,
    name: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    follow_or_not(state, auth, name.into_inner(), false).await
}

/// The tags the user follows.
#[utoipa::path(get, path = "/api/v1/me/tags", operation_id = "list_my_tags", responses((status = 200, description = "{items: [{name, display}]}")))]
pub async fn my_tags(
    state: web::Data<AppState>,
    auth: AuthUser,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let tags = state.db.read(move |conn| Ok(follows::followed(conn, auth.user.id)?)).await?;
    let items: Vec<_> =
        tags.iter().map(|t| serde_json::json!({"name": t.key, "display": t.display})).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// Rotate the token that authenticates your Atom feeds.
#[utoipa::path(post, path = "/api/v1/me/feed-token", operation_id = "rotate_feed_token", responses((status = 200, description = "{token}")))]
pub async fn feed_token(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, AppError> {
    let token = rotate_feed_token(&state, auth.user.id).await?;
    Ok(HttpResponse::Ok().insert_header(crate::http::NO_STORE).json(serde_json::json!({ "token": token })))
}
