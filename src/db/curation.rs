//! The `tag_curation` table: a tag's description, type and "hidden from trends" flag, as
//! designers and analysts set them (one row per curated tag).

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::tag_curation;
use super::DbConn;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tag_curation, treat_none_as_null = true)]
pub struct Curation {
    pub tag_id: i64,
    pub description: String,
    pub kind: Option<String>,
    pub hidden_from_trends: i32,
    pub updated_by: Option<i64>,
    pub updated_at: i64,
}

/// The curation of a tag, if anyone has curated it.
pub fn of_tag(conn: &mut DbConn, tag_id: i64) -> QueryResult<Option<Curation>> {
    tag_curation::table.find(tag_id).select(Curation::as_select()).first(conn).optional()
}

/// Ids of the tags trends leave out.
pub fn hidden_from_trends(conn: &mut DbConn) -> QueryResult<Vec<i64>> {
    tag_curation::table.filter(tag_curation::hidden_from_trends.ne(0)).select(tag_curation::tag_id).load(conn)
}

/// The non-empty descriptions of the given tags, by tag id.
pub fn descriptions(conn: &mut DbConn, tag_ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    if tag_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = tag_curation::table
        .filter(tag_curation::tag_id.eq_any(tag_ids))
        .filter(tag_curation::description.ne(""))
        .select((tag_curation::tag_id, tag_curation::description))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Stores a tag's curation, replacing what was there.
pub fn store(conn: &mut DbConn, row: &Curation) -> QueryResult<()> {
    crate::on_backend!(conn, c => diesel::insert_into(tag_curation::table)
        .values(row)
        .on_conflict(tag_curation::tag_id)
        .do_update()
        .set(row)
        .execute(c))?;
    Ok(())
}
