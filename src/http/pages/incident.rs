//! Incident pages: the list, and one incident with its notes in time order.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::cards::{cards, encode_segment};
use super::timeline::{compose, open_incidents};
use super::{render, viewer};
use crate::auth::AuthUser;
use crate::db::incidents::{self, IncidentFilter};
use crate::domain::time::human_ms;
use crate::domain::timeline::{load_page, TimelineRequest};
use crate::error::{not_found, AppError};
use crate::http::views::IncidentView;
use crate::startup::AppState;

#[derive(Debug, Deserialize)]
pub struct IncidentQuery {
    /// Cursor: show notes after this post id.
    pub after: Option<String>,
}

/// `GET /incidents`: the most recent incidents.
pub async fn list(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, AppError> {
    let items = state
        .db
        .read(|conn| Ok(incidents::list(conn, &IncidentFilter { limit: 100, ..Default::default() })?))
        .await?;
    let rows: Vec<_> = items
        .iter()
        .map(|i| {
            json!({"incident": IncidentView::from(i), "started_human": human_ms(i.started_at),
                    "href": format!("/incidents/{}", encode_segment(&i.key))})
        })
        .collect();
    render(
        &state,
        "pages/incidents",
        &json!({"title": "Incidents", "viewer": viewer(Some(&auth)), "rows": rows}),
    )
}

/// `GET /incidents/{key}`: details and notes oldest first.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    key: web::Path<String>,
    query: web::Query<IncidentQuery>,
) -> Result<HttpResponse, AppError> {
    let key = key.into_inner();
    let after = query.into_inner().after;
    let viewer_id = auth.user.id;
    let (incident, page, open) = state
        .db
        .read(move |conn| {
            let incident = incidents::by_key(conn, &key)?
                .ok_or_else(|| not_found(format!("incident {key} not found")))?;
            let request = TimelineRequest {
                incident: Some(incident.key.clone()),
                before: after,
                oldest_first: true,
                limit: Some("100".into()),
                ..Default::default()
            };
            Ok((incident, load_page(conn, &request, Some(viewer_id))?, open_incidents(conn)?))
        })
        .await?;
    let base = format!("/incidents/{}", encode_segment(&incident.key));
    let context = json!({
        "title": format!("{} {}", incident.key, incident.title),
        "viewer": viewer(Some(&auth)),
        "incident": IncidentView::from(&incident),
        "started_human": human_ms(incident.started_at),
        "resolved_human": incident.resolved_at.map(human_ms),
        "cards": cards(&page.posts, &state.incident_pattern),
        "later": page.next.map(|id| format!("{base}?after={id}")),
        "compose": compose("", &incident.key, &base, open),
    });
    render(&state, "pages/incident", &context)
}
