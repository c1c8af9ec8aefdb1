//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;

use crate::error::AppError;
use crate::startup::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", responses((status = 200), (status = 503)))]
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
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}
