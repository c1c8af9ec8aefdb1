//! Incident pages: the list, and one incident with its notes in time order.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::cards::{card, encode_segment};
use super::timeline::{compose, open_incidents};
use super::{check_csrf, redirect};
use super::{render, viewer};
use crate::app::incidents::{may_update, update_incident_as, IncidentPatch};
use crate::app::timeline::{load_page, TimelineRequest};
use crate::app::views::IncidentView;
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::incidents::{self, IncidentFilter};
use crate::domain::rules::{IncidentStatus, Severity};
use crate::domain::time::human_ms;
use crate::error::AppError;

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

/// `GET /incidents/{key}`: details, the incident's tags, and notes in time order with
/// replies folded under the note they answer.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    key: web::Path<String>,
    query: web::Query<IncidentQuery>,
) -> Result<HttpResponse, AppError> {
    let key = key.into_inner();
    let after = query.into_inner().after;
    let viewer_user = auth.user.clone();
    let (incident, page, open, tags, can_update) = state
        .db
        .read(move |conn| {
            let incident = crate::app::incidents::require(conn, &key)?;
            let request = TimelineRequest {
                incident: Some(incident.key.clone()),
                before: after,
                oldest_first: true,
                limit: Some("100".into()),
                ..Default::default()
            };
            let page = load_page(conn, &request, Some(viewer_user.id))?;
            let tags = crate::db::tags::of_incident(conn, incident.id, 20)?;
            let can_update = may_update(conn, &viewer_user, incident.id)?;
            Ok((incident, page, open_incidents(conn)?, tags, can_update))
        })
        .await?;
    let base = format!("/incidents/{}", encode_segment(&incident.key));
    // Replies go under the note they answer when it is on this page.
    let ids: Vec<i64> = page.posts.iter().map(|d| d.post.id).collect();
    let threads: Vec<_> = page
        .posts
        .iter()
        .filter(|d| !d.post.reply_to.is_some_and(|parent| ids.contains(&parent)))
        .map(|root| {
            let replies: Vec<_> = page
                .posts
                .iter()
                .filter(|d| d.post.reply_to == Some(root.post.id))
                .map(|d| card(d, &state.incident_pattern, None))
                .collect();
            json!({"card": card(root, &state.incident_pattern, None), "replies": replies})
        })
        .collect();
    let statuses: Vec<_> = IncidentStatus::ALL
        .iter()
        .map(|s| json!({"value": s.as_str(), "selected": s.as_str() == incident.status}))
        .collect();
    let severities: Vec<_> = Severity::ALL
        .iter()
        .map(|s| json!({"value": s.as_str(), "selected": Some(s.as_str()) == incident.severity.as_deref()}))
        .collect();
    let context = json!({
        "title": format!("{} {}", incident.key, incident.title),
        "viewer": viewer(Some(&auth)),
        "incident": IncidentView::from(&incident),
        "started_human": human_ms(incident.started_at),
        "resolved_human": incident.resolved_at.map(human_ms),
        "threads": threads,
        "tags": tags.iter().map(|(t, n)| json!({"name": t.key, "display": t.display, "count": n, "href": format!("/tags/{}", encode_segment(&t.key))})).collect::<Vec<_>>(),
        "can_update": can_update,
        "statuses": statuses,
        "severities": severities,
        "base": base,
        "stream": format!("/api/v1/stream?incident={}", encode_segment(&incident.key)),
        "later": page.next.map(|id| format!("{base}?after={id}")),
        "compose": compose("", &incident.key, &base, open),
    });
    render(&state, "pages/incident", &context)
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    pub status: String,
    pub severity: String,
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// `POST /incidents/{key}/update`: status and severity changes by the incident's responders.
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    key: web::Path<String>,
    form: web::Form<UpdateForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    let key = key.into_inner();
    let form = form.into_inner();
    let patch = IncidentPatch {
        status: Some(form.status.parse::<IncidentStatus>()?),
        severity: Some(match form.severity.as_str() {
            "" => None,
            other => Some(other.parse::<Severity>()?),
        }),
        ..Default::default()
    };
    let user = auth.user.clone();
    let changed_key =
        state.db.write(move |conn| Ok(update_incident_as(conn, &user, &key, &patch)?.key)).await?;
    state.changed();
    Ok(redirect(&format!("/incidents/{}", encode_segment(&changed_key))))
}
