//! Incidents: create, list, read, update.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::incidents::{create_incident, update_incident_as, IncidentInput, IncidentPatch};
use crate::app::views::{IncidentList, IncidentView};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::incidents::{self, IncidentFilter};
use crate::domain::rules::{IncidentStatus, Severity};
use crate::domain::time::parse_timestamp;
use crate::error::{AppError, ErrorBody};
use crate::http::query::NoParams;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIncident {
    /// Unique key, e.g. `INC-2041`.
    pub key: String,
    pub title: Option<String>,
    /// `sev1`..`sev4`.
    pub severity: Option<String>,
    /// `investigating` (default), `identified`, `monitoring`, `resolved`, `closed`.
    pub status: Option<String>,
    pub service: Option<String>,
    /// RFC 3339; default now.
    pub started_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIncident {
    pub title: Option<String>,
    /// A severity, or null to clear it.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub severity: Option<Option<String>>,
    pub status: Option<String>,
    /// A service, or null to clear it.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub service: Option<Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    pub service: Option<String>,
    pub limit: Option<String>,
}

/// Create an incident.
#[utoipa::path(post, path = "/api/v1/incidents", operation_id = "create_incident", request_body = CreateIncident,
    responses((status = 201, body = IncidentView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    _auth: AuthUser,
    body: web::Json<CreateIncident>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let input = IncidentInput {
        key: body.key,
        title: body.title,
        severity: body.severity.as_deref().map(str::parse::<Severity>).transpose()?,
        status: body.status.as_deref().map(str::parse::<IncidentStatus>).transpose()?,
        service: body.service,
        started_at: body.started_at.as_deref().map(|t| parse_timestamp("started_at", t)).transpose()?,
    };
    let incident = state.db.write(move |conn| create_incident(conn, &input)).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/incidents/{}", incident.key)))
        .json(IncidentView::from(&incident)))
}

/// Incidents, most recently started first; filter by `status` and `service`.
#[utoipa::path(get, path = "/api/v1/incidents", operation_id = "list_incidents",
    params(("status" = Option<String>, Query), ("service" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = IncidentList)))]
pub async fn list(
    state: web::Data<AppState>,
    _auth: AuthUser,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let filter = IncidentFilter {
        status: query
            .status
            .as_deref()
            .map(str::parse::<IncidentStatus>)
            .transpose()?
            .map(|s| s.as_str().to_string()),
        service: query.service,
        open_only: false,
        limit: crate::app::timeline::parse_limit(query.limit.as_deref())?,
    };
    let items = state.db.read(move |conn| Ok(incidents::list(conn, &filter)?)).await?;
    Ok(HttpResponse::Ok().json(IncidentList { items: items.iter().map(IncidentView::from).collect() }))
}

/// One incident.
#[utoipa::path(get, path = "/api/v1/incidents/{key}", operation_id = "get_incident", responses((status = 200, body = IncidentView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    _auth: AuthUser,
    key: web::Path<String>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let key = key.into_inner();
    let incident = state.db.read(move |conn| crate::app::incidents::require(conn, &key)).await?;
    Ok(HttpResponse::Ok().json(IncidentView::from(&incident)))
}

/// Change title, severity, status or service: the incident's responders (who have a live,
/// not deleted, note on it) or an admin.
#[utoipa::path(patch, path = "/api/v1/incidents/{key}", operation_id = "update_incident", request_body = UpdateIncident,
    responses((status = 200, body = IncidentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    key: web::Path<String>,
    body: web::Json<UpdateIncident>,
) -> Result<HttpResponse, AppError> {
    let key = key.into_inner();
    let body = body.into_inner();
    let patch = IncidentPatch {
        title: body.title,
        severity: body.severity.map(|s| s.as_deref().map(str::parse::<Severity>).transpose()).transpose()?,
        status: body.status.as_deref().map(str::parse::<IncidentStatus>).transpose()?,
        service: body.service,
    };
    let user = auth.user;
    let incident = state.db.write(move |conn| update_incident_as(conn, &user, &key, &patch)).await?;
    state.changed();
    Ok(HttpResponse::Ok().json(IncidentView::from(&incident)))
}
