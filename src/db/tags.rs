//! The `tags` and `post_tags` tables: one row per distinct tag key (with the first spelling
//! seen as its display form) and the post-to-tag links.

use diesel::prelude::*;

use super::cached::{AnyOf, Cached, ONE_BY_ONE};
use super::schema::{post_tags, posts, tags};
use super::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i64,
    pub key: String,
    pub display: String,
    pub created_at: i64,
}

/// Returns the tags for `(key, display)` pairs, creating the missing ones. An existing tag
/// keeps the display form it was first seen with.
pub fn ensure(conn: &mut DbConn, wanted: &[(String, String)], now: i64) -> QueryResult<Vec<Tag>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<&str> = wanted.iter().map(|(key, _)| key.as_str()).collect();
    let existing = by_keys(conn, &keys)?;
    let missing: Vec<_> = wanted
        .iter()
        .filter(|(key, _)| !existing.iter().any(|tag| &tag.key == key))
        .map(|(key, display)| (tags::key.eq(key), tags::display.eq(display), tags::created_at.eq(now)))
        .collect();
    if missing.is_empty() {
        return Ok(existing);
    }
    // Two writers may create the same new tag at once on PostgreSQL: the loser does nothing
    // and reads the winner's row below.
    crate::on_backend!(conn, c => diesel::insert_into(tags::table)
        .values(&missing)
        .on_conflict_do_nothing()
        .execute(c))?;
    by_keys(conn, &keys)
}

/// The tags with these keys (one lookup per key for a few, see [`ONE_BY_ONE`]).
pub fn by_keys(conn: &mut DbConn, keys: &[&str]) -> QueryResult<Vec<Tag>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    if keys.len() <= ONE_BY_ONE {
        let mut found: Vec<Tag> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            // A key asked twice is one tag, as with `IN`.
            if !keys[..i].contains(key) {
                found.extend(by_key(conn, key)?);
            }
        }
        return Ok(found);
    }
    tags::table.filter(tags::key.eq_any(keys)).select(Tag::as_select()).load(conn)
}

pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Tag>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    tags::table.filter(tags::id.eq_any(ids)).select(Tag::as_select()).load(conn)
}

pub fn by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<Tag>> {
    tags::table.find(id).select(Tag::as_select()).first(conn).optional()
}

/// No stored key holds a NUL, and PostgreSQL refuses one in a query: such a name finds nothing.
pub fn by_key(conn: &mut DbConn, key: &str) -> QueryResult<Option<Tag>> {
    if key.contains('\0') {
        return Ok(None);
    }
    tags::table.filter(tags::key.eq(key)).select(Tag::as_select()).first(conn).optional()
}

/// Links a post to its tags.
pub fn attach(conn: &mut DbConn, post_id: i64, created_at: i64, tag_ids: &[i64]) -> QueryResult<usize> {
    // One prepared single-row insert per tag (a multi-row insert is prepared every time).
    let mut linked = 0;
    for tag_id in tag_ids {
        linked += Cached::new(
            "INSERT INTO post_tags (post_id, tag_id, created_at) VALUES (?, ?, ?)",
            &[post_id, *tag_id, created_at],
        )
        .execute(conn)?;
    }
    Ok(linked)
}

pub fn detach_all(conn: &mut DbConn, post_id: i64) -> QueryResult<usize> {
    diesel::delete(post_tags::table.filter(post_tags::post_id.eq(post_id))).execute(conn)
}

/// `(post_id, tag)` for every live link of the given posts.
pub fn of_posts(conn: &mut DbConn, post_ids: &[i64]) -> QueryResult<Vec<(i64, Tag)>> {
    if post_ids.is_empty() {
        return Ok(Vec::new());
    }
    let any = AnyOf::new(post_tags::post_id, post_ids);
    crate::on_backend!(conn, c => post_tags::table
        .inner_join(tags::table)
        .filter(any)
        .order(tags::key.asc())
        .select((post_tags::post_id, Tag::as_select()))
        .load(c))
}

/// Counts behind `GET /api/v1/tags/{name}`.
#[derive(Debug, Clone)]
pub struct TagStats {
    pub posts: i64,
    pub incidents: i64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

/// Counts over a tag group (a tag and its aliases): a post with two spellings counts once.
pub fn stats(conn: &mut DbConn, group: &[i64]) -> QueryResult<TagStats> {
    let (posts_count, first_seen, last_seen) = post_tags::table
        .filter(post_tags::tag_id.eq_any(group))
        .select((
            diesel::dsl::count(post_tags::post_id).aggregate_distinct(),
            diesel::dsl::min(post_tags::created_at),
            diesel::dsl::max(post_tags::created_at),
        ))
        .first::<(i64, Option<i64>, Option<i64>)>(conn)?;
    let incidents = post_tags::table
        .inner_join(posts::table)
        .filter(post_tags::tag_id.eq_any(group))
        .filter(posts::incident_id.is_not_null())
        .select(diesel::dsl::count(posts::incident_id).aggregate_distinct())
        .first::<i64>(conn)?;
    Ok(TagStats { posts: posts_count, incidents, first_seen, last_seen })
}

/// The most used tags with their post counts (for the sidebar and pickers).
pub fn popular(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<(Tag, i64)>> {
    post_tags::table
        .inner_join(tags::table)
        .group_by((tags::id, tags::key, tags::display, tags::created_at))
        .select((Tag::as_select(), diesel::dsl::count_star()))
        .order(diesel::dsl::count_star().desc())
        .limit(limit)
        .load(conn)
}

/// Tags whose key starts with `prefix`, most used first, with their post counts.
pub fn with_prefix(conn: &mut DbConn, prefix: &str, limit: i64) -> QueryResult<Vec<(Tag, i64)>> {
    // Escape LIKE's wildcards: tag keys may contain '_'.
    let pattern = format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    post_tags::table
        .inner_join(tags::table)
        .filter(tags::key.like(pattern).escape('\\'))
        .group_by((tags::id, tags::key, tags::display, tags::created_at))
        .select((Tag::as_select(), diesel::dsl::count_star()))
        .order((diesel::dsl::count_star().desc(), tags::key.asc()))
        .limit(limit)
        .load(conn)
}

/// The tags used on an incident's posts, most used first.
pub fn of_incident(conn: &mut DbConn, incident_id: i64, limit: i64) -> QueryResult<Vec<(Tag, i64)>> {
    post_tags::table
        .inner_join(tags::table)
        .inner_join(posts::table)
        .filter(posts::incident_id.eq(incident_id))
        .filter(posts::deleted_at.is_null())
        .group_by((tags::id, tags::key, tags::display, tags::created_at))
        .select((Tag::as_select(), diesel::dsl::count_star()))
        .order((diesel::dsl::count_star().desc(), tags::key.asc()))
        .limit(limit)
        .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few keys are looked up one by one and many as one `IN` list; both answer the same:
    /// each known tag once, unknown keys left out, a repeated key counted once.
    #[test]
    fn by_keys_answers_alike_for_few_and_many_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::db::Db::connect_for_tool(&format!("sqlite://{}", dir.path().join("k.db").display()))
            .expect("db");
        let wanted: Vec<(String, String)> = (0..40).map(|n| (format!("k{n}"), format!("K{n}"))).collect();
        db.write_blocking(move |conn| {
            ensure(conn, &wanted, 0)?;
            let keys_of = |tags: Vec<Tag>| {
                let mut keys: Vec<String> = tags.into_iter().map(|t| t.key).collect();
                keys.sort();
                keys
            };
            let few = ["k1", "k2", "k1", "nope"];
            assert!(few.len() <= ONE_BY_ONE);
            assert_eq!(keys_of(by_keys(conn, &few)?), vec!["k1", "k2"]);
            let many: Vec<String> = (0..30).map(|n| format!("k{}", n % 25)).chain(["nope".into()]).collect();
            let many: Vec<&str> = many.iter().map(String::as_str).collect();
            assert!(many.len() > ONE_BY_ONE);
            let mut expected: Vec<String> = (0..25).map(|n| format!("k{n}")).collect();
            expected.sort();
            assert_eq!(keys_of(by_keys(conn, &many)?), expected);
            Ok(())
        })
        .expect("tags");
    }
}
