//! The `tag_aliases` table: tags merged into another tag (their canonical tag). Posts keep
//! the tags they were written with; everything that counts or finds reads an alias as its
//! canonical tag through the functions here.

use std::collections::HashMap;

use diesel::prelude::*;

use super::cached::ONE_BY_ONE;
use super::schema::{tag_aliases, tags};
use super::tags::Tag;
use super::DbConn;

/// The canonical tag of every alias: `alias id -> canonical id`.
pub fn all(conn: &mut DbConn) -> QueryResult<HashMap<i64, i64>> {
    let rows: Vec<(i64, i64)> =
        tag_aliases::table.select((tag_aliases::tag_id, tag_aliases::canonical_id)).load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The canonical tag of `tag_id` when it is an alias.
pub fn canonical_of(conn: &mut DbConn, tag_id: i64) -> QueryResult<Option<i64>> {
    tag_aliases::table.find(tag_id).select(tag_aliases::canonical_id).first(conn).optional()
}

/// The tag `tag` is read as: its canonical tag when it is an alias, else itself.
pub fn canonical_tag(conn: &mut DbConn, tag: Tag) -> QueryResult<Tag> {
    match canonical_of(conn, tag.id)? {
        None => Ok(tag),
        Some(id) => tags::table.find(id).select(Tag::as_select()).first(conn),
    }
}

/// Which of `ids` are aliases: `alias id -> canonical id` (one query, or one per id for a few: [`ONE_BY_ONE`]).
pub fn canonical_map(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    if ids.len() <= ONE_BY_ONE {
        let mut map = HashMap::new();
        for id in ids {
            if let Some(canonical) = canonical_of(conn, *id)? {
                map.insert(*id, canonical);
            }
        }
        return Ok(map);
    }
    let rows: Vec<(i64, i64)> = tag_aliases::table
        .filter(tag_aliases::tag_id.eq_any(ids))
        .select((tag_aliases::tag_id, tag_aliases::canonical_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// `ids` read as canonical tags: each alias replaced by its canonical tag, sorted, without
/// repeats (a post tagged with both spellings counts once).
pub fn canonical_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<i64>> {
    let map = canonical_map(conn, ids)?;
    Ok(map_ids(&map, ids))
}

/// [`canonical_ids`] with the aliases already loaded.
pub fn map_ids(aliases: &HashMap<i64, i64>, ids: &[i64]) -> Vec<i64> {
    let mut out: Vec<i64> = ids.iter().map(|id| aliases.get(id).copied().unwrap_or(*id)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The aliases of a canonical tag, by key.
pub fn aliases_of(conn: &mut DbConn, canonical_id: i64) -> QueryResult<Vec<Tag>> {
    tag_aliases::table
        .inner_join(tags::table.on(tags::id.eq(tag_aliases::tag_id)))
        .filter(tag_aliases::canonical_id.eq(canonical_id))
        .order(tags::key.asc())
        .select(Tag::as_select())
        .load(conn)
}

/// A tag and its aliases: the ids a timeline or a count of the tag covers.
pub fn group_ids(conn: &mut DbConn, canonical_id: i64) -> QueryResult<Vec<i64>> {
    let mut ids: Vec<i64> = tag_aliases::table
        .filter(tag_aliases::canonical_id.eq(canonical_id))
        .select(tag_aliases::tag_id)
        .load(conn)?;
    ids.push(canonical_id);
    ids.sort_unstable();
    Ok(ids)
}

/// The group `tag_id` belongs to (its canonical tag and every alias of that), sorted.
pub fn group_of(conn: &mut DbConn, tag_id: i64) -> QueryResult<Vec<i64>> {
    let canonical = canonical_of(conn, tag_id)?.unwrap_or(tag_id);
    group_ids(conn, canonical)
}

/// Keys of every tag in the groups of the given keys (each key itself included), for
/// search: `#pwreset` finds the posts of its whole group.
pub fn group_keys(conn: &mut DbConn, keys: &[&str]) -> QueryResult<HashMap<String, Vec<String>>> {
    let mut out = HashMap::new();
    for key in keys {
        let Some(tag) = super::tags::by_key(conn, key)? else { continue };
        let ids = group_of(conn, tag.id)?;
        if ids.len() < 2 {
            continue;
        }
        let mut group: Vec<String> =
            tags::table.filter(tags::id.eq_any(&ids)).select(tags::key).load(conn)?;
        group.sort();
        out.insert((*key).to_string(), group);
    }
    Ok(out)
}

/// Makes `alias_id` an alias of `canonical_id`, replacing any earlier canonical tag.
pub fn store(
    conn: &mut DbConn,
    alias_id: i64,
    canonical_id: i64,
    by: Option<i64>,
    at: i64,
) -> QueryResult<()> {
    diesel::delete(tag_aliases::table.find(alias_id)).execute(conn)?;
    diesel::insert_into(tag_aliases::table)
        .values((
            tag_aliases::tag_id.eq(alias_id),
            tag_aliases::canonical_id.eq(canonical_id),
            tag_aliases::merged_by.eq(by),
            tag_aliases::merged_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes `alias_id` a tag of its own again; false when it was not an alias.
pub fn remove(conn: &mut DbConn, alias_id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(tag_aliases::table.find(alias_id)).execute(conn)? > 0)
}
