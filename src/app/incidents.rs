//! Incident operations: create, update (status changes stamp resolved_at) and the implicit
//! creation of an incident first named by a post.

use crate::db::incidents::{self, Incident, IncidentChanges, NewIncident};
use crate::db::{now_ms, DbConn};
use crate::domain::rules::{self, IncidentStatus, Severity};
use crate::error::AppError;

/// What a client sends to create an incident.
#[derive(Debug, Clone, Default)]
pub struct IncidentInput {
    pub key: String,
    pub title: Option<String>,
    pub severity: Option<Severity>,
    pub status: Option<IncidentStatus>,
    pub service: Option<String>,
    pub started_at: Option<i64>,
}

pub fn create_incident(conn: &mut DbConn, input: &IncidentInput) -> Result<Incident, AppError> {
    let key = rules::parse_incident_key(&input.key)?;
    let title = match &input.title {
        Some(title) => rules::parse_short_text("title", title, 200)?,
        None => key.clone(),
    };
    let service = input.service.as_deref().map(|s| rules::parse_short_text("service", s, 100)).transpose()?;
    if incidents::by_key(conn, &key)?.is_some() {
        return Err(AppError::Conflict(format!("incident {key} already exists")));
    }
    let now = now_ms();
    let status = input.status.unwrap_or(IncidentStatus::Investigating);
    let started_at = match input.started_at {
        Some(at) => crate::domain::time::check_note_time("started_at", at, now)?,
        None => now,
    };
    Ok(incidents::insert(
        conn,
        &NewIncident {
            key: &key,
            title: &title,
            severity: input.severity.map(Severity::as_str),
            status: status.as_str(),
            service: service.as_deref(),
            started_at,
            resolved_at: status.is_finished().then_some(now),
            created_at: now,
            updated_at: now,
        },
    )?)
}

/// The incident with `raw_key`, created (titled by its key, with `status`) if it is new.
pub fn get_or_create(
    conn: &mut DbConn,
    raw_key: &str,
    started_at: i64,
    status: IncidentStatus,
) -> Result<Incident, AppError> {
    let key = rules::parse_incident_key(raw_key)?;
    if let Some(existing) = incidents::by_key(conn, &key)? {
        return Ok(existing);
    }
    let now = now_ms();
    Ok(incidents::insert(
        conn,
        &NewIncident {
            key: &key,
            title: &key,
            severity: None,
            status: status.as_str(),
            service: None,
            started_at,
            resolved_at: None,
            created_at: now,
            updated_at: now,
        },
    )?)
}

/// The incident with `key`, or 404.
pub fn require(conn: &mut DbConn, key: &str) -> Result<Incident, AppError> {
    incidents::by_key(conn, key)?.ok_or_else(|| crate::error::not_found(format!("incident {key} not found")))
}

/// Whether `user` may change the incident (title, severity, status, service). The rule:
/// an admin, or one of the incident's *current* responders — someone with at least one
/// live (not deleted) note on it. Rights follow the notes: deleting one's last note on an
/// incident gives them up, so a note posted by mistake (or by someone who has left the
/// incident) does not let its author change the incident forever. Designers and analysts
/// follow and curate tags; they change an incident only as its responders. i2i does not
/// record who created an incident, so creating one confers nothing until its creator posts.
pub fn may_update(
    conn: &mut DbConn,
    user: &crate::db::users::User,
    incident_id: i64,
) -> Result<bool, AppError> {
    use crate::db::schema::posts;
    use diesel::prelude::*;
    if user.is_admin() {
        return Ok(true);
    }
    Ok(diesel::select(diesel::dsl::exists(
        posts::table
            .filter(posts::incident_id.eq(incident_id))
            .filter(posts::author_id.eq(user.id))
            .filter(posts::deleted_at.is_null()),
    ))
    .get_result(conn)?)
}

/// Applies `patch` for `user`: 403 unless they may change the incident (see [`may_update`]).
/// The API and the incident page both come through here, so neither is a way around it.
pub fn update_incident_as(
    conn: &mut DbConn,
    user: &crate::db::users::User,
    key: &str,
    patch: &IncidentPatch,
) -> Result<Incident, AppError> {
    let incident = require(conn, key)?;
    if !may_update(conn, user, incident.id)? {
        return Err(AppError::Forbidden(
            "only the incident's responders (who have a note on it) or an admin may change it".into(),
        ));
    }
    update_incident(conn, &incident.key, patch)
}

/// A PATCH: each `Some` replaces a field; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct IncidentPatch {
    pub title: Option<String>,
    pub severity: Option<Option<Severity>>,
    pub status: Option<IncidentStatus>,
    pub service: Option<Option<String>>,
}

pub fn update_incident(conn: &mut DbConn, key: &str, patch: &IncidentPatch) -> Result<Incident, AppError> {
    let incident = require(conn, key)?;
    let now = now_ms();
    let mut changes = IncidentChanges { updated_at: Some(now), ..Default::default() };
    if let Some(title) = &patch.title {
        changes.title = Some(rules::parse_short_text("title", title, 200)?);
    }
    if let Some(severity) = patch.severity {
        changes.severity = Some(severity.map(|s| s.as_str().to_string()));
    }
    if let Some(service) = &patch.service {
        changes.service =
            Some(service.as_deref().map(|s| rules::parse_short_text("service", s, 100)).transpose()?);
    }
    if let Some(status) = patch.status {
        changes.status = Some(status.as_str().to_string());
        // resolved_at marks the first time the incident was finished; reopening clears it.
        changes.resolved_at = match (status.is_finished(), incident.resolved_at) {
            (true, Some(at)) => Some(Some(at)),
            (true, None) => Some(Some(now)),
            (false, _) => Some(None),
        };
    }
    incidents::update(conn, incident.id, &changes)?;
    // Search documents carry the incident's service, severity and status.
    crate::db::changes::record_incident_posts(conn, incident.id, now)?;
    // Trend evidence shows incident titles, also for windows long past.
    crate::trends::rollups::touch_past(conn)?;
    incidents::by_key(conn, key)?.ok_or_else(|| crate::error::not_found("incident vanished"))
}
