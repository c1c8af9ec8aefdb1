//! Admin-only reads: `GET /api/v1/admin/audit`, the audit log.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::audit::{load_page, AuditRequest};
use crate::app::views::{AuditEventView, AuditPageView};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::error::{AppError, ErrorBody};
use crate::http::query::QueryPairs;

/// The audit log, newest first (admins only): logins, failed logins, logouts, account
/// changes and admins' deletes of others' posts. Filter with `action`; page with `before`.
#[utoipa::path(get, path = "/api/v1/admin/audit", operation_id = "list_audit_events",
    params(
        ("action" = Option<String>, Query, description = "only this action, e.g. login_failed"),
        ("before" = Option<i64>, Query, description = "cursor: the `next` of the previous page"),
        ("limit" = Option<i64>, Query, description = "1-200, default 50"),
    ),
    responses((status = 200, body = AuditPageView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn audit(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    auth.require_admin()?;
    let query = QueryPairs::parse(req.query_string(), &["action", "before", "limit"])?;
    let request =
        AuditRequest { action: query.one("action"), before: query.one("before"), limit: query.one("limit") };
    let page = state.db.read(move |conn| load_page(conn, &request)).await?;
    Ok(HttpResponse::Ok().json(AuditPageView {
        items: page.events.iter().map(AuditEventView::from).collect(),
        next: page.next.map(|id| id.to_string()),
    }))
}
