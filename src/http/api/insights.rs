//! The insights board over JSON: list and create insights, read one with its live counts,
//! history, evidence and comments, change it, pin and unpin evidence, comment, and export
//! one as Markdown or the board as CSV. Also the signed-in user's notifications.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::insight_views::{
    board, board_csv, load, markdown, notifications, InsightSummary, InsightView, NotificationList,
};
use crate::app::insights::{self, Draft, Patch};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::insights as table;
use crate::error::{AppError, ErrorBody};
use crate::http::client::base_url;
use crate::http::query::NoParams;

#[derive(Debug, Serialize, ToSchema)]
pub struct InsightList {
    pub items: Vec<InsightSummary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
}

/// The insights board, most recently changed first.
#[utoipa::path(get, path = "/api/v1/insights", operation_id = "list_insights", params(("status" = Option<String>, Query)),
    responses((status = 200, body = InsightList), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    _auth: AuthUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let status = query.into_inner().status;
    let items = state.db.read(move |conn| board(conn, status.as_deref())).await?;
    Ok(HttpResponse::Ok().json(InsightList { items }))
}

/// A new insight, with the evidence it starts from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInsight {
    pub title: String,
    #[serde(default)]
    pub problem: String,
    /// Tags that define it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A saved search that defines it (the search box's language).
    #[serde(default)]
    pub query: String,
    /// Notes to pin (responders: only their own).
    #[serde(default)]
    pub posts: Vec<i64>,
    /// Incident keys to pin.
    #[serde(default)]
    pub incidents: Vec<String>,
}

/// Propose an insight (anyone signed in; responders from their own notes).
#[utoipa::path(post, path = "/api/v1/insights", operation_id = "create_insight", request_body = CreateInsight,
    responses((status = 201, body = InsightView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<CreateInsight>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let draft = Draft {
        title: body.title,
        problem: body.problem,
        tags: body.tags,
        query: body.query,
        posts: body.posts,
        incidents: body.incidents,
    };
    let user = auth.user.clone();
    let id = state.db.write(move |conn| insights::create(conn, &user, &draft)).await?;
    let view = load(&state, id, auth.user.id).await?;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/insights/{id}"))).json(view))
}

/// One insight with live counts, daily history, evidence and comments.
#[utoipa::path(get, path = "/api/v1/insights/{id}", operation_id = "get_insight", responses((status = 200, body = InsightView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(load(&state, id.into_inner(), auth.user.id).await?))
}

/// A change to an insight; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInsight {
    pub title: Option<String>,
    pub problem: Option<String>,
    /// The next status; `dismissed` needs `dismissed_reason`.
    pub status: Option<String>,
    pub dismissed_reason: Option<String>,
    /// A username, or null for nobody.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub query: Option<String>,
}

/// Edit an insight or move its status (designers, analysts, admins).
#[utoipa::path(patch, path = "/api/v1/insights/{id}", operation_id = "update_insight", request_body = UpdateInsight,
    responses((status = 200, body = InsightView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    body: web::Json<UpdateInsight>,
) -> Result<HttpResponse, AppError> {
    let (id, body) = (id.into_inner(), body.into_inner());
    let patch = Patch {
        title: body.title,
        problem: body.problem,
        status: body.status,
        dismissed_reason: body.dismissed_reason,
        owner: body.owner,
        tags: body.tags,
        query: body.query,
    };
    let user = auth.user.clone();
    state.db.write(move |conn| insights::update(conn, &user, id, &patch)).await?;
    Ok(HttpResponse::Ok().json(load(&state, id, auth.user.id).await?))
}

/// Evidence to pin: a note or an incident.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinEvidence {
    pub post: Option<i64>,
    pub incident: Option<String>,
}

/// Pin a note or an incident; the note's author is notified.
#[utoipa::path(post, path = "/api/v1/insights/{id}/evidence", operation_id = "pin_insight_evidence", request_body = PinEvidence,
    responses((status = 200, body = InsightView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn pin(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    body: web::Json<PinEvidence>,
) -> Result<HttpResponse, AppError> {
    let (id, body) = (id.into_inner(), body.into_inner());
    let user = auth.user.clone();
    state.db.write(move |conn| insights::pin(conn, &user, id, body.post, body.incident.as_deref())).await?;
    Ok(HttpResponse::Ok().json(load(&state, id, auth.user.id).await?))
}

/// Unpin a note (`posts/{id}`) or an incident (`incidents/{key}`) (designers, analysts, admins).
#[utoipa::path(delete, path = "/api/v1/insights/{id}/evidence/{kind}/{reference}", operation_id = "unpin_insight_evidence",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unpin(
    state: web::Data<AppState>,
    auth: AuthUser,
    path: web::Path<(i64, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, kind, reference) = path.into_inner();
    let user = auth.user.clone();
    state.db.write(move |conn| insights::unpin(conn, &user, id, &kind, &reference)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub body: String,
}

/// Comment on an insight (anyone signed in).
#[utoipa::path(post, path = "/api/v1/insights/{id}/comments", operation_id = "comment_on_insight", request_body = NewComment,
    responses((status = 201, body = InsightView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn comment(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    body: web::Json<NewComment>,
) -> Result<HttpResponse, AppError> {
    let (id, body) = (id.into_inner(), body.into_inner());
    let user = auth.user.clone();
    state.db.write(move |conn| insights::comment(conn, &user, id, &body.body)).await?;
    Ok(HttpResponse::Created().json(load(&state, id, auth.user.id).await?))
}

/// Export one insight as Markdown with links back to i2i.
#[utoipa::path(get, path = "/api/v1/insights/{id}/markdown", operation_id = "export_insight_markdown", responses((status = 200, content_type = "text/markdown"), (status = 404, body = ErrorBody)))]
pub async fn export_markdown(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    id: web::Path<i64>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let view = load(&state, id.into_inner(), auth.user.id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/markdown; charset=utf-8")
        .body(markdown(&view, &base_url(&state.config, &req))))
}

/// Export the board as CSV.
#[utoipa::path(get, path = "/api/v1/insights.csv", operation_id = "export_insights_csv", responses((status = 200, content_type = "text/csv")))]
pub async fn export_csv(
    state: web::Data<AppState>,
    _auth: AuthUser,
    req: HttpRequest,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let body = board_csv(&state, &base_url(&state.config, &req)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"insights.csv\""))
        .body(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// `true` marks them read as they are fetched.
    pub mark_read: Option<bool>,
}

/// Your notifications: notes of yours that became evidence.
#[utoipa::path(get, path = "/api/v1/me/notifications", operation_id = "list_my_notifications", params(("mark_read" = Option<bool>, Query)),
    responses((status = 200, body = NotificationList)))]
pub async fn my_notifications(
    state: web::Data<AppState>,
    auth: AuthUser,
    query: web::Query<NotificationQuery>,
) -> Result<HttpResponse, AppError> {
    let user_id = auth.user.id;
    let list = if query.mark_read == Some(true) {
        state
            .db
            .write(move |conn| {
                let list = notifications(conn, user_id)?;
                table::mark_read(conn, user_id, crate::db::now_ms())?;
                Ok(list)
            })
            .await?
    } else {
        state.db.read(move |conn| notifications(conn, user_id)).await?
    };
    Ok(HttpResponse::Ok().json(list))
}
