//! The trend rollups: per tag and hour the number of posts, the authors and incidents
//! seen (with a post count each, so an edit or delete removes a member exactly when its
//! last post goes), tag pairs, and all posts per hour. They are adjusted in the same
//! transaction as the post, and can be rebuilt from the posts table.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::db::schema::{
    post_hours, post_tags, posts, tag_hour_authors, tag_hour_incidents, tag_hours, tag_pair_hours,
};
use crate::db::DbConn;

pub const HOUR_MS: i64 = 3_600_000;

/// The hour (since the epoch, UTC) a time in ms falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS)
}

/// What one live post adds to the rollups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    pub hour: i64,
    pub author_id: i64,
    pub incident_id: Option<i64>,
    /// Distinct tag ids of the post.
    pub tag_ids: Vec<i64>,
}

impl Contribution {
    /// Every unordered pair of the post's tags, smaller id first.
    pub fn pairs(&self) -> Vec<(i64, i64)> {
        let mut ids = self.tag_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        let mut pairs = Vec::new();
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                pairs.push((*a, *b));
            }
        }
        pairs
    }
}

/// Counts a new (or newly edited) post.
pub fn add(conn: &mut DbConn, c: &Contribution) -> QueryResult<()> {
    crate::on_backend!(conn, conn => {
        diesel::insert_into(post_hours::table)
            .values((post_hours::hour.eq(c.hour), post_hours::posts.eq(1)))
            .on_conflict(post_hours::hour)
            .do_update()
            .set(post_hours::posts.eq(post_hours::posts + 1))
            .execute(conn)?;
        for tag in &c.tag_ids {
            diesel::insert_into(tag_hours::table)
                .values((tag_hours::tag_id.eq(tag), tag_hours::hour.eq(c.hour), tag_hours::posts.eq(1)))
                .on_conflict((tag_hours::tag_id, tag_hours::hour))
                .do_update()
                .set(tag_hours::posts.eq(tag_hours::posts + 1))
                .execute(conn)?;
            diesel::insert_into(tag_hour_authors::table)
                .values((
                    tag_hour_authors::tag_id.eq(tag),
                    tag_hour_authors::hour.eq(c.hour),
                    tag_hour_authors::author_id.eq(c.author_id),
                    tag_hour_authors::posts.eq(1),
                ))
                .on_conflict((tag_hour_authors::tag_id, tag_hour_authors::hour, tag_hour_authors::author_id))
                .do_update()
                .set(tag_hour_authors::posts.eq(tag_hour_authors::posts + 1))
                .execute(conn)?;
            if let Some(incident) = c.incident_id {
                diesel::insert_into(tag_hour_incidents::table)
                    .values((
                        tag_hour_incidents::tag_id.eq(tag),
                        tag_hour_incidents::hour.eq(c.hour),
                        tag_hour_incidents::incident_id.eq(incident),
                        tag_hour_incidents::posts.eq(1),
                    ))
                    .on_conflict((tag_hour_incidents::tag_id, tag_hour_incidents::hour, tag_hour_incidents::incident_id))
                    .do_update()
                    .set(tag_hour_incidents::posts.eq(tag_hour_incidents::posts + 1))
                    .execute(conn)?;
            }
        }
        for (a, b) in c.pairs() {
            diesel::insert_into(tag_pair_hours::table)
                .values((
                    tag_pair_hours::tag_a.eq(a),
                    tag_pair_hours::tag_b.eq(b),
                    tag_pair_hours::hour.eq(c.hour),
                    tag_pair_hours::posts.eq(1),
                ))
                .on_conflict((tag_pair_hours::tag_a, tag_pair_hours::tag_b, tag_pair_hours::hour))
                .do_update()
                .set(tag_pair_hours::posts.eq(tag_pair_hours::posts + 1))
                .execute(conn)?;
        }
        QueryResult::Ok(())
    })
}

/// Takes a post out of the rollups (before an edit, or on delete); rows that reach zero go.
pub fn remove(conn: &mut DbConn, c: &Contribution) -> QueryResult<()> {
    let hour = c.hour;
    diesel::update(post_hours::table.find(hour))
        .set(post_hours::posts.eq(post_hours::posts - 1))
        .execute(conn)?;
    diesel::delete(post_hours::table.find(hour).filter(post_hours::posts.le(0))).execute(conn)?;
    for tag in &c.tag_ids {
        let key = (*tag, hour);
        diesel::update(tag_hours::table.find(key))
            .set(tag_hours::posts.eq(tag_hours::posts - 1))
            .execute(conn)?;
        diesel::delete(tag_hours::table.find(key).filter(tag_hours::posts.le(0))).execute(conn)?;
        let key = (*tag, hour, c.author_id);
        diesel::update(tag_hour_authors::table.find(key))
            .set(tag_hour_authors::posts.eq(tag_hour_authors::posts - 1))
            .execute(conn)?;
        diesel::delete(tag_hour_authors::table.find(key).filter(tag_hour_authors::posts.le(0)))
            .execute(conn)?;
        if let Some(incident) = c.incident_id {
            let key = (*tag, hour, incident);
            diesel::update(tag_hour_incidents::table.find(key))
                .set(tag_hour_incidents::posts.eq(tag_hour_incidents::posts - 1))
                .execute(conn)?;
            diesel::delete(tag_hour_incidents::table.find(key).filter(tag_hour_incidents::posts.le(0)))
                .execute(conn)?;
        }
    }
    for (a, b) in c.pairs() {
        let key = (a, b, hour);
        diesel::update(tag_pair_hours::table.find(key))
            .set(tag_pair_hours::posts.eq(tag_pair_hours::posts - 1))
            .execute(conn)?;
        diesel::delete(tag_pair_hours::table.find(key).filter(tag_pair_hours::posts.le(0))).execute(conn)?;
    }
    Ok(())
}

/// Every rollup row, sorted: what incremental maintenance and a rebuild must agree on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub post_hours: Vec<(i64, i32)>,
    pub tag_hours: Vec<(i64, i64, i32)>,
    pub authors: Vec<(i64, i64, i64, i32)>,
    pub incidents: Vec<(i64, i64, i64, i32)>,
    pub pairs: Vec<(i64, i64, i64, i32)>,
}

pub fn snapshot(conn: &mut DbConn) -> QueryResult<Snapshot> {
    Ok(Snapshot {
        post_hours: post_hours::table.order(post_hours::hour).load(conn)?,
        tag_hours: tag_hours::table.order((tag_hours::tag_id, tag_hours::hour)).load(conn)?,
        authors: tag_hour_authors::table
            .order((tag_hour_authors::tag_id, tag_hour_authors::hour, tag_hour_authors::author_id))
            .load(conn)?,
        incidents: tag_hour_incidents::table
            .order((tag_hour_incidents::tag_id, tag_hour_incidents::hour, tag_hour_incidents::incident_id))
            .load(conn)?,
        pairs: tag_pair_hours::table
            .order((tag_pair_hours::tag_a, tag_pair_hours::tag_b, tag_pair_hours::hour))
            .load(conn)?,
    })
}

/// Recomputes every rollup from the live posts. Run inside a write transaction.
pub fn rebuild(conn: &mut DbConn) -> QueryResult<u64> {
    diesel::delete(post_hours::table).execute(conn)?;
    diesel::delete(tag_hours::table).execute(conn)?;
    diesel::delete(tag_hour_authors::table).execute(conn)?;
    diesel::delete(tag_hour_incidents::table).execute(conn)?;
    diesel::delete(tag_pair_hours::table).execute(conn)?;
    let mut after_id = 0i64;
    let mut counted = 0u64;
    loop {
        let page: Vec<(i64, i64, i64, Option<i64>)> = posts::table
            .filter(posts::deleted_at.is_null())
            .filter(posts::id.gt(after_id))
            .order(posts::id.asc())
            .limit(5000)
            .select((posts::id, posts::created_at, posts::author_id, posts::incident_id))
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after_id = last.0;
        let ids: Vec<i64> = page.iter().map(|p| p.0).collect();
        let links: Vec<(i64, i64)> = post_tags::table
            .filter(post_tags::post_id.eq_any(&ids))
            .select((post_tags::post_id, post_tags::tag_id))
            .load(conn)?;
        let mut tags_of: HashMap<i64, Vec<i64>> = HashMap::new();
        for (post_id, tag_id) in links {
            tags_of.entry(post_id).or_default().push(tag_id);
        }
        let contributions: Vec<Contribution> = page
            .into_iter()
            .map(|(id, created_at, author_id, incident_id)| Contribution {
                hour: hour_of(created_at),
                author_id,
                incident_id,
                tag_ids: tags_of.remove(&id).unwrap_or_default(),
            })
            .collect();
        counted += contributions.len() as u64;
        // The tables start empty, so adding each page's sums rebuilds them.
        add_many(conn, &contributions)?;
    }
    Ok(counted)
}

/// Rows per multi-row statement (SQLite allows 32 766 bound values).
const BATCH_ROWS: usize = 1000;

/// Sums the contributions per rollup row, then adds each sum with one upsert per batch.
pub fn add_many(conn: &mut DbConn, contributions: &[Contribution]) -> QueryResult<()> {
    let mut hours: HashMap<i64, i32> = HashMap::new();
    let mut per_tag: HashMap<(i64, i64), i32> = HashMap::new();
    let mut authors: HashMap<(i64, i64, i64), i32> = HashMap::new();
    let mut per_incident: HashMap<(i64, i64, i64), i32> = HashMap::new();
    let mut pairs: HashMap<(i64, i64, i64), i32> = HashMap::new();
    for c in contributions {
        *hours.entry(c.hour).or_default() += 1;
        for tag in &c.tag_ids {
            *per_tag.entry((*tag, c.hour)).or_default() += 1;
            *authors.entry((*tag, c.hour, c.author_id)).or_default() += 1;
            if let Some(incident) = c.incident_id {
                *per_incident.entry((*tag, c.hour, incident)).or_default() += 1;
            }
        }
        for (a, b) in c.pairs() {
            *pairs.entry((a, b, c.hour)).or_default() += 1;
        }
    }
    let rows: Vec<_> =
        hours.into_iter().map(|(h, n)| (post_hours::hour.eq(h), post_hours::posts.eq(n))).collect();
    for part in rows.chunks(BATCH_ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(post_hours::table).values(part)
            .on_conflict(post_hours::hour).do_update()
            .set(post_hours::posts.eq(post_hours::posts + excluded(post_hours::posts))).execute(c))?;
    }
    let rows: Vec<_> = per_tag
        .into_iter()
        .map(|((t, h), n)| (tag_hours::tag_id.eq(t), tag_hours::hour.eq(h), tag_hours::posts.eq(n)))
        .collect();
    for part in rows.chunks(BATCH_ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(tag_hours::table).values(part)
            .on_conflict((tag_hours::tag_id, tag_hours::hour)).do_update()
            .set(tag_hours::posts.eq(tag_hours::posts + excluded(tag_hours::posts))).execute(c))?;
    }
    let rows: Vec<_> = authors
        .into_iter()
        .map(|((t, h, a), n)| {
            (
                tag_hour_authors::tag_id.eq(t),
                tag_hour_authors::hour.eq(h),
                tag_hour_authors::author_id.eq(a),
                tag_hour_authors::posts.eq(n),
            )
        })
        .collect();
    for part in rows.chunks(BATCH_ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(tag_hour_authors::table).values(part)
            .on_conflict((tag_hour_authors::tag_id, tag_hour_authors::hour, tag_hour_authors::author_id)).do_update()
            .set(tag_hour_authors::posts.eq(tag_hour_authors::posts + excluded(tag_hour_authors::posts))).execute(c))?;
    }
    let rows: Vec<_> = per_incident
        .into_iter()
        .map(|((t, h, i), n)| {
            (
                tag_hour_incidents::tag_id.eq(t),
                tag_hour_incidents::hour.eq(h),
                tag_hour_incidents::incident_id.eq(i),
                tag_hour_incidents::posts.eq(n),
            )
        })
        .collect();
    for part in rows.chunks(BATCH_ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(tag_hour_incidents::table).values(part)
            .on_conflict((tag_hour_incidents::tag_id, tag_hour_incidents::hour, tag_hour_incidents::incident_id)).do_update()
            .set(tag_hour_incidents::posts.eq(tag_hour_incidents::posts + excluded(tag_hour_incidents::posts))).execute(c))?;
    }
    let rows: Vec<_> = pairs
        .into_iter()
        .map(|((a, b, h), n)| {
            (
                tag_pair_hours::tag_a.eq(a),
                tag_pair_hours::tag_b.eq(b),
                tag_pair_hours::hour.eq(h),
                tag_pair_hours::posts.eq(n),
            )
        })
        .collect();
    for part in rows.chunks(BATCH_ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(tag_pair_hours::table).values(part)
            .on_conflict((tag_pair_hours::tag_a, tag_pair_hours::tag_b, tag_pair_hours::hour)).do_update()
            .set(tag_pair_hours::posts.eq(tag_pair_hours::posts + excluded(tag_pair_hours::posts))).execute(c))?;
    }
    Ok(())
}
