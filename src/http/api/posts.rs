//! Posts: create, read, edit, delete, thread, reactions, and the timeline.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::audit::Actor;
use crate::app::posts::{create_post, delete_post, edit_post, require_live, set_reaction, PostInput};
use crate::app::timeline::{load_page, TimelineRequest};
use crate::app::views::{PostPage, PostView, ThreadView};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::posts::{self, Post};
use crate::db::DbConn;
use crate::domain::rules::parse_id;
use crate::error::{not_found, AppError, ErrorBody};
use crate::http::client::ClientAddr;
use crate::http::query::NoParams;
use crate::http::query::QueryPairs;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    /// 1-500 characters; `#tags`, `@mentions` and incident keys are picked up from it.
    pub body: String,
    /// Incident key; created if new.
    pub incident: Option<String>,
    /// Id of the post this replies to.
    pub reply_to: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditPost {
    pub body: String,
}

/// Loads the view of one post for `viewer`.
pub fn view_of(conn: &mut DbConn, post: Post, viewer: i64) -> Result<PostView, AppError> {
    let details = posts::details(conn, vec![post], Some(viewer))?;
    details.first().map(PostView::from).ok_or_else(|| not_found("post not found"))
}

/// Create a post. Posting faster than `posts_per_minute` answers 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/posts", operation_id = "create_post", request_body = CreatePost,
    responses((status = 201, body = PostView), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<CreatePost>,
) -> Result<HttpResponse, AppError> {
    state.limits.post(auth.user.id)?;
    let CreatePost { body, incident, reply_to } = body.into_inner();
    let input = PostInput { body, incident, reply_to, ..Default::default() };
    let app = state.clone();
    let details = state
        .db
        .write(move |conn| {
            create_post(conn, &app.incident_pattern, &auth.user, &input)?
                .ok_or_else(|| AppError::Conflict("post already exists".into()))
        })
        .await?;
    state.changed();
    let view = PostView::from(&details);
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/posts/{}", view.id))).json(view))
}

/// Read a post.
#[utoipa::path(get, path = "/api/v1/posts/{id}", operation_id = "get_post", responses((status = 200, body = PostView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let view = state
        .db
        .read(move |conn| {
            let post = require_live(conn, id)?;
            view_of(conn, post, auth.user.id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Edit a post's body (author or admin); the previous text is kept as a version.
#[utoipa::path(patch, path = "/api/v1/posts/{id}", operation_id = "edit_post", request_body = EditPost,
    responses((status = 200, body = PostView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
    body: web::Json<EditPost>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let app = state.clone();
    let view = state
        .db
        .write(move |conn| {
            let post = edit_post(conn, &app.incident_pattern, &auth.user, id, &body.body)?;
            view_of(conn, post, auth.user.id)
        })
        .await?;
    state.changed();
    Ok(HttpResponse::Ok().json(view))
}

/// Delete a post (author or admin).
#[utoipa::path(delete, path = "/api/v1/posts/{id}", operation_id = "delete_post", responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    client: ClientAddr,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let by = Actor::user(&auth.user, client.text());
    state.db.write(move |conn| delete_post(conn, &auth.user, &by, id)).await?;
    state.changed();
    Ok(HttpResponse::NoContent().finish())
}

/// The thread a post belongs to, oldest first.
#[utoipa::path(get, path = "/api/v1/posts/{id}/thread", operation_id = "get_post_thread", responses((status = 200, body = ThreadView), (status = 404, body = ErrorBody)))]
pub async fn thread(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    let view = state
        .db
        .read(move |conn| {
            let post = require_live(conn, id)?;
            let thread = posts::thread(conn, &post)?;
            let root = thread.first().map(|p| p.id).unwrap_or(id);
            let details = posts::details(conn, thread, Some(auth.user.id))?;
            Ok(ThreadView { root, items: details.iter().map(PostView::from).collect() })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn reaction(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: &str,
    on: bool,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(id)?;
    let view = state
        .db
        .write(move |conn| {
            let post = set_reaction(conn, &auth.user, id, on)?;
            view_of(conn, post, auth.user.id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Add your "+1 / seen this too" (idempotent).
#[utoipa::path(post, path = "/api/v1/posts/{id}/reactions", operation_id = "react_to_post", responses((status = 200, body = PostView), (status = 404, body = ErrorBody)))]
pub async fn react(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    reaction(state, auth, &id, true).await
}

/// Take your reaction back (idempotent).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/reactions", operation_id = "remove_post_reaction", responses((status = 200, body = PostView), (status = 404, body = ErrorBody)))]
pub async fn unreact(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    reaction(state, auth, &id, false).await
}

/// Posts newest first. Filters: `tag` (repeatable) with `tags_mode=any|all`, `not_tag`
/// (repeatable), `incident`, `author`; paging with `before=<id>` and `limit` (≤ 100).
#[utoipa::path(get, path = "/api/v1/timeline", operation_id = "get_timeline",
    params(
        ("tag" = Option<Vec<String>>, Query, description = "tag name, repeatable"),
        ("tags_mode" = Option<String>, Query, description = "any (default) or all"),
        ("not_tag" = Option<Vec<String>>, Query, description = "exclude posts with this tag, repeatable"),
        ("incident" = Option<String>, Query), ("author" = Option<String>, Query),
        ("before" = Option<i64>, Query, description = "cursor: the `next` of the previous page"),
        ("limit" = Option<i64>, Query, description = "1-100, default 20"),
    ),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody)))]
pub async fn timeline(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let query = QueryPairs::parse(
        req.query_string(),
        &["tag", "tags_mode", "not_tag", "incident", "author", "before", "limit"],
    )?;
    let tags_all = match query.one("tags_mode").as_deref() {
        None | Some("any") => false,
        Some("all") => true,
        Some(other) => {
            return Err(crate::error::invalid(
                "tags_mode",
                format!("tags_mode must be any or all, not {other:?}"),
            ))
        }
    };
    let request = TimelineRequest {
        tags: query.all("tag"),
        tags_all,
        not_tags: query.all("not_tag"),
        incident: query.one("incident"),
        author: query.one("author"),
        before: query.one("before"),
        limit: query.one("limit"),
        ..Default::default()
    };
    let page = state.db.read(move |conn| load_page(conn, &request, Some(auth.user.id))).await?;
    Ok(HttpResponse::Ok().json(PostPage {
        items: page.posts.iter().map(PostView::from).collect(),
        next: page.next.map(|id| id.to_string()),
    }))
}
