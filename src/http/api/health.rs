//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;

use crate::app_state::AppState;
use crate::error::AppError;
use crate::search::IndexState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", responses((status = 200)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers, the search index can be written and it has caught up
/// with the database since start (503 `{"status": "catching_up"}` before). A degraded index
/// (unwritable or full directory) answers 503 with `{"status": "degraded", "index": {…}}`:
/// posting still works, but a load balancer or operator should know search is falling behind.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", responses((status = 200), (status = 503)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    state
        .db
        .read(|conn| {
            diesel::sql_query("SELECT 1").execute(conn).map_err(|err| {
                tracing::warn!(error = %err, "readiness check failed");
                AppError::Unavailable("the database is not reachable".into())
            })
        })
        .await?;
    let index = state.search.state();
    if let IndexState::Degraded { .. } = index {
        return Ok(HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "degraded", "database": "ok", "index": index})));
    }
    // A node that starts with an empty or outdated index serves at once (searches say the
    // index is rebuilding), but a load balancer should send it traffic only once caught up.
    if !state.search.is_caught_up() {
        return Ok(HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "catching_up", "database": "ok", "index": index})));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": "ok", "index": index})))
}
