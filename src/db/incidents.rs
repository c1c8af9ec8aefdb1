//! The `incidents` table.

use diesel::prelude::*;

use super::cached::AnyOf;
use super::schema::incidents;
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = incidents)]
pub struct Incident {
    pub id: i64,
    pub key: String,
    pub title: String,
    pub severity: Option<String>,
    pub status: String,
    pub service: Option<String>,
    pub started_at: i64,
    pub resolved_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = incidents)]
pub struct NewIncident<'a> {
    pub key: &'a str,
    pub title: &'a str,
    pub severity: Option<&'a str>,
    pub status: &'a str,
    pub service: Option<&'a str>,
    pub started_at: i64,
    pub resolved_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields a PATCH may change; `None` leaves a column alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = incidents)]
pub struct IncidentChanges {
    pub title: Option<String>,
    pub severity: Option<Option<String>>,
    pub status: Option<String>,
    pub service: Option<Option<String>>,
    pub resolved_at: Option<Option<i64>>,
    pub updated_at: Option<i64>,
}

pub fn insert(conn: &mut DbConn, new_incident: &NewIncident) -> QueryResult<Incident> {
    diesel::insert_into(incidents::table).values(new_incident).execute(conn)?;
    by_key(conn, new_incident.key)?.ok_or(diesel::result::Error::NotFound)
}

/// No stored key holds a NUL, and PostgreSQL refuses one in a query: such a name finds nothing.
pub fn by_key(conn: &mut DbConn, key: &str) -> QueryResult<Option<Incident>> {
    if key.contains('\0') {
        return Ok(None);
    }
    incidents::table.filter(incidents::key.eq(key)).select(Incident::as_select()).first(conn).optional()
}

pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Incident>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let any = AnyOf::new(incidents::id, ids);
    crate::on_backend!(conn, c => incidents::table.filter(any).select(Incident::as_select()).load(c))
}

/// Filters for the incident list.
#[derive(Debug, Default)]
pub struct IncidentFilter {
    pub status: Option<String>,
    pub service: Option<String>,
    /// Only incidents not resolved or closed.
    pub open_only: bool,
    pub limit: i64,
}

/// Incidents, most recently started first.
pub fn list(conn: &mut DbConn, filter: &IncidentFilter) -> QueryResult<Vec<Incident>> {
    let mut query = incidents::table.select(Incident::as_select()).into_boxed();
    if let Some(status) = &filter.status {
        query = query.filter(incidents::status.eq(status.clone()));
    }
    if let Some(service) = &filter.service {
        // A service name never holds a NUL (and PostgreSQL refuses one in a query).
        if service.contains('\0') {
            return Ok(Vec::new());
        }
        query = query.filter(incidents::service.eq(service.clone()));
    }
    if filter.open_only {
        query = query.filter(incidents::status.ne_all(["resolved", "closed"]));
    }
    query.order((incidents::started_at.desc(), incidents::id.desc())).limit(filter.limit).load(conn)
}

pub fn update(conn: &mut DbConn, id: i64, changes: &IncidentChanges) -> QueryResult<usize> {
    diesel::update(incidents::table.find(id)).set(changes).execute(conn)
}
