//! The trend rollups: per tag and hour the number of posts, the authors and incidents
//! seen (with a post count each, so an edit or delete removes a member exactly when its
//! last post goes), tag pairs, and all posts per hour. Above them, coarser rollups for long
//! windows: per tag and member its first and last hour, and per tag and day or week the
//! posts and the number of members last seen then (see [`Period`]). All are adjusted in the
//! same transaction as the post, and can be rebuilt from the posts table. They count
//! canonical tags: a post's aliases are counted as the tags they were merged into.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel::upsert::excluded;

use diesel::sql_types::BigInt;

use super::sql;
use crate::db::cached::Cached;
use crate::db::schema::{
    post_hours, post_tags, posts, tag_authors, tag_days, tag_hour_authors, tag_hour_incidents, tag_hours,
    tag_incidents, tag_pair_hours, tag_weeks,
};
use crate::db::DbConn;

pub use crate::db::epoch::{epoch, touch_past};
pub use crate::domain::time::{hour_of, HOUR_MS};

/// [`touch_past`] when `hour` is before the current hour. A post of the current hour cannot
/// change a window that ended before it; the memo only trusts the epoch for windows that
/// ended minutes ago, longer than a single post's transaction takes to commit.
fn touch_if_past(conn: &mut DbConn, hour: i64) -> QueryResult<()> {
    if hour < hour_of(crate::db::now_ms()) {
        touch_past(conn)?;
    }
    Ok(())
}

/// The PostgreSQL advisory lock between merges and post writes ("i2i" and a 2 in hex):
/// every post write holds it shared while it reads which tags are aliases and counts the
/// post, and a merge holds it exclusively while it changes them and rebuilds the rollups,
/// so no post is counted under a grouping that a concurrent merge replaced. (SQLite has
/// one writer at a time, so it needs nothing.)
pub const ALIAS_LOCK: i64 = 0x6932_6900_0002;

/// Takes [`ALIAS_LOCK`] until the end of the caller's transaction: shared by post writes,
/// exclusive by whatever changes the aliases or recounts everything. Nothing on SQLite.
pub fn lock_aliases(conn: &mut DbConn, exclusive: bool) -> QueryResult<()> {
    if let DbConn::Pg(pg) = conn {
        let function = if exclusive { "pg_advisory_xact_lock" } else { "pg_advisory_xact_lock_shared" };
        diesel::sql_query(format!("SELECT {function}({ALIAS_LOCK})")).execute(pg)?;
    }
    Ok(())
}

/// `c` with its tags read as canonical tags, in the caller's transaction.
fn as_canonical(conn: &mut DbConn, c: &Contribution) -> QueryResult<Contribution> {
    lock_aliases(conn, false)?;
    let tag_ids = crate::db::aliases::canonical_ids(conn, &c.tag_ids)?;
    Ok(Contribution { tag_ids, ..c.clone() })
}

/// Many contributions read as canonical tags (all aliases loaded once; borrowed as they
/// are when there are no aliases, so a bulk load does not copy a million of them).
fn all_as_canonical<'a>(
    conn: &mut DbConn,
    contributions: &'a [Contribution],
) -> QueryResult<Cow<'a, [Contribution]>> {
    lock_aliases(conn, false)?;
    let aliases = crate::db::aliases::all(conn)?;
    if aliases.is_empty() {
        return Ok(Cow::Borrowed(contributions));
    }
    Ok(Cow::Owned(
        contributions
            .iter()
            .map(|c| Contribution { tag_ids: crate::db::aliases::map_ids(&aliases, &c.tag_ids), ..c.clone() })
            .collect(),
    ))
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

/// Counts a new (or newly edited) post. This runs for every post written, so it uses
/// single-row [`Cached`] statements, prepared once per connection (diesel's own upserts are
/// prepared anew on every run); [`add_many`] sums first.
pub fn add(conn: &mut DbConn, c: &Contribution) -> QueryResult<()> {
    let c = &as_canonical(conn, c)?;
    touch_if_past(conn, c.hour)?;
    Cached::new(
        "INSERT INTO post_hours (hour, posts) VALUES (?, 1) \
         ON CONFLICT (hour) DO UPDATE SET posts = post_hours.posts + 1",
        &[c.hour],
    )
    .execute(conn)?;
    for tag in &c.tag_ids {
        Cached::new(
            "INSERT INTO tag_hours (tag_id, hour, posts) VALUES (?, ?, 1) \
             ON CONFLICT (tag_id, hour) DO UPDATE SET posts = tag_hours.posts + 1",
            &[*tag, c.hour],
        )
        .execute(conn)?;
        Cached::new(
            "INSERT INTO tag_hour_authors (tag_id, hour, author_id, posts) VALUES (?, ?, ?, 1) \
             ON CONFLICT (tag_id, hour, author_id) DO UPDATE SET posts = tag_hour_authors.posts + 1",
            &[*tag, c.hour, c.author_id],
        )
        .execute(conn)?;
        if let Some(incident) = c.incident_id {
            Cached::new(
                "INSERT INTO tag_hour_incidents (tag_id, hour, incident_id, posts) VALUES (?, ?, ?, 1) \
                 ON CONFLICT (tag_id, hour, incident_id) DO UPDATE SET posts = tag_hour_incidents.posts + 1",
                &[*tag, c.hour, incident],
            )
            .execute(conn)?;
        }
    }
    for (a, b) in c.pairs() {
        Cached::new(
            "INSERT INTO tag_pair_hours (tag_a, tag_b, hour, posts) VALUES (?, ?, ?, 1) \
             ON CONFLICT (tag_a, tag_b, hour) DO UPDATE SET posts = tag_pair_hours.posts + 1",
            &[a, b, c.hour],
        )
        .execute(conn)?;
    }
    let mut coarse = Coarse::default();
    for tag in &c.tag_ids {
        coarse.posts(*tag, c.hour, 1);
        widen_one(conn, Member::Author, *tag, c.author_id, c.hour, &mut coarse)?;
        if let Some(incident) = c.incident_id {
            widen_one(conn, Member::Incident, *tag, incident, c.hour, &mut coarse)?;
        }
    }
    coarse.write(conn)
}

/// Takes a post out of the rollups (before an edit, or on delete); rows that reach zero go.
pub fn remove(conn: &mut DbConn, c: &Contribution) -> QueryResult<()> {
    let c = &as_canonical(conn, c)?;
    touch_if_past(conn, c.hour)?;
    let hour = c.hour;
    diesel::update(post_hours::table.find(hour))
        .set(post_hours::posts.eq(post_hours::posts - 1))
        .execute(conn)?;
    diesel::delete(post_hours::table.find(hour).filter(post_hours::posts.le(0))).execute(conn)?;
    // Members whose last post of this hour on a tag this was: their first or last hour may move.
    let mut gone: Vec<(Member, i64, i64)> = Vec::new();
    let mut coarse = Coarse::default();
    for tag in &c.tag_ids {
        coarse.posts(*tag, hour, -1);
        let key = (*tag, hour);
        diesel::update(tag_hours::table.find(key))
            .set(tag_hours::posts.eq(tag_hours::posts - 1))
            .execute(conn)?;
        diesel::delete(tag_hours::table.find(key).filter(tag_hours::posts.le(0))).execute(conn)?;
        let key = (*tag, hour, c.author_id);
        diesel::update(tag_hour_authors::table.find(key))
            .set(tag_hour_authors::posts.eq(tag_hour_authors::posts - 1))
            .execute(conn)?;
        if diesel::delete(tag_hour_authors::table.find(key).filter(tag_hour_authors::posts.le(0)))
            .execute(conn)?
            > 0
        {
            gone.push((Member::Author, *tag, c.author_id));
        }
        if let Some(incident) = c.incident_id {
            let key = (*tag, hour, incident);
            diesel::update(tag_hour_incidents::table.find(key))
                .set(tag_hour_incidents::posts.eq(tag_hour_incidents::posts - 1))
                .execute(conn)?;
            if diesel::delete(tag_hour_incidents::table.find(key).filter(tag_hour_incidents::posts.le(0)))
                .execute(conn)?
                > 0
            {
                gone.push((Member::Incident, *tag, incident));
            }
        }
    }
    for (a, b) in c.pairs() {
        let key = (a, b, hour);
        diesel::update(tag_pair_hours::table.find(key))
            .set(tag_pair_hours::posts.eq(tag_pair_hours::posts - 1))
            .execute(conn)?;
        diesel::delete(tag_pair_hours::table.find(key).filter(tag_pair_hours::posts.le(0))).execute(conn)?;
    }
    for (member, tag, id) in gone {
        retreat(conn, member, tag, id, hour, &mut coarse)?;
    }
    coarse.write(conn)
}

/// Every rollup row, sorted: what incremental maintenance and a rebuild must agree on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub post_hours: Vec<(i64, i32)>,
    pub tag_hours: Vec<(i64, i64, i32)>,
    pub authors: Vec<(i64, i64, i64, i32)>,
    pub incidents: Vec<(i64, i64, i64, i32)>,
    pub pairs: Vec<(i64, i64, i64, i32)>,
    /// `(tag, author, first hour, last hour)`.
    pub author_spans: Vec<(i64, i64, i64, i64)>,
    /// `(tag, incident, first hour, last hour)`.
    pub incident_spans: Vec<(i64, i64, i64, i64)>,
    /// `(day, tag, posts, authors last seen, incidents last seen)`.
    pub days: Vec<(i64, i64, i32, i32, i32)>,
    /// `(week, tag, posts, authors last seen, incidents last seen)`.
    pub weeks: Vec<(i64, i64, i32, i32, i32)>,
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
        author_spans: tag_authors::table.order((tag_authors::tag_id, tag_authors::author_id)).load(conn)?,
        incident_spans: tag_incidents::table
            .order((tag_incidents::tag_id, tag_incidents::incident_id))
            .load(conn)?,
        days: tag_days::table.order((tag_days::day, tag_days::tag_id)).load(conn)?,
        weeks: tag_weeks::table.order((tag_weeks::week, tag_weeks::tag_id)).load(conn)?,
    })
}

/// Recomputes every rollup from the live posts. Run inside a write transaction.
pub fn rebuild(conn: &mut DbConn) -> QueryResult<u64> {
    // Post writes wait while the rollups are recounted under the current aliases (a merge
    // holds this already; advisory locks are re-entrant within a session).
    lock_aliases(conn, true)?;
    touch_past(conn)?;
    diesel::delete(post_hours::table).execute(conn)?;
    diesel::delete(tag_hours::table).execute(conn)?;
    diesel::delete(tag_hour_authors::table).execute(conn)?;
    diesel::delete(tag_hour_incidents::table).execute(conn)?;
    diesel::delete(tag_pair_hours::table).execute(conn)?;
    diesel::delete(tag_authors::table).execute(conn)?;
    diesel::delete(tag_incidents::table).execute(conn)?;
    diesel::delete(tag_days::table).execute(conn)?;
    diesel::delete(tag_weeks::table).execute(conn)?;
    let aliases = crate::db::aliases::all(conn)?;
    let mut sums = HourlySums::default();
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
                tag_ids: crate::db::aliases::map_ids(&aliases, &tags_of.remove(&id).unwrap_or_default()),
            })
            .collect();
        counted += contributions.len() as u64;
        for c in &contributions {
            sums.add(c);
        }
    }
    // The tables are empty: every row goes in once, in key order.
    sums.write(conn)?;
    // The coarse rollups follow from the hourly ones: derived once at the end (as the
    // migration that added them does), which is both quicker than keeping them page by
    // page and a check of that upkeep independent of it.
    fill_coarse(conn)?;
    Ok(counted)
}

/// Fills rollups that are empty (an instance without posts) from every post's
/// contribution at once: the hourly sums, then the coarse rollups derived from them, as
/// [`rebuild`] does. The bulk load into an empty instance uses it.
pub fn fill_empty(conn: &mut DbConn, contributions: &[Contribution]) -> QueryResult<()> {
    // The alias lock first, as every writer takes it: a merge holds it while it bumps the
    // epoch, so taking the epoch's row lock first could deadlock against one.
    let canonical = all_as_canonical(conn, contributions)?;
    touch_past(conn)?;
    add_hourly(conn, &canonical)?;
    fill_coarse(conn)
}

fn fill_coarse(conn: &mut DbConn) -> QueryResult<()> {
    for statement in FILL_COARSE {
        sql::execute(conn, statement)?;
    }
    Ok(())
}

/// Fills the (empty) coarse rollups from the hourly ones; the same statements as the
/// migration that created them. `(x - ((x % n) + n) % n) / n` is x / n floored, also below 0.
const FILL_COARSE: [&str; 4] = [
    "INSERT INTO tag_authors (tag_id, author_id, first_hour, last_hour) \
     SELECT tag_id, author_id, MIN(hour), MAX(hour) FROM tag_hour_authors GROUP BY tag_id, author_id",
    "INSERT INTO tag_incidents (tag_id, incident_id, first_hour, last_hour) \
     SELECT tag_id, incident_id, MIN(hour), MAX(hour) FROM tag_hour_incidents GROUP BY tag_id, incident_id",
    "INSERT INTO tag_days (day, tag_id, posts, last_authors, last_incidents) \
     SELECT day, tag_id, SUM(posts), SUM(last_authors), SUM(last_incidents) FROM ( \
         SELECT (hour - ((hour % 24) + 24) % 24) / 24 AS day, tag_id, posts, \
                0 AS last_authors, 0 AS last_incidents FROM tag_hours \
         UNION ALL \
         SELECT (last_hour - ((last_hour % 24) + 24) % 24) / 24, tag_id, 0, 1, 0 FROM tag_authors \
         UNION ALL \
         SELECT (last_hour - ((last_hour % 24) + 24) % 24) / 24, tag_id, 0, 0, 1 FROM tag_incidents \
     ) AS parts GROUP BY day, tag_id",
    "INSERT INTO tag_weeks (week, tag_id, posts, last_authors, last_incidents) \
     SELECT (day - ((day % 7) + 7) % 7) / 7 AS week, tag_id, \
            SUM(posts), SUM(last_authors), SUM(last_incidents) \
     FROM tag_days GROUP BY week, tag_id",
];

/// Rows per multi-row statement (SQLite allows 32 766 bound values).
const BATCH_ROWS: usize = 1000;

/// Sums the contributions per rollup row, then adds each sum with one upsert per batch.
pub fn add_many(conn: &mut DbConn, contributions: &[Contribution]) -> QueryResult<()> {
    // The alias lock before the epoch's row lock (see `fill_empty`).
    let canonical = all_as_canonical(conn, contributions)?;
    // Imports are backdated and may run for long: always a change to the past.
    touch_past(conn)?;
    let contributions: &[Contribution] = &canonical;
    add_hourly(conn, contributions)?;
    let mut coarse = Coarse::default();
    // Per (tag, member): the earliest and latest hour among these posts.
    // Ordered maps throughout: rows reach each B-tree in key order, so a large batch walks
    // the index pages once instead of jumping between them (3x faster bulk loads).
    let mut author_spans: BTreeMap<(i64, i64), Span> = BTreeMap::new();
    let mut incident_spans: BTreeMap<(i64, i64), Span> = BTreeMap::new();
    for c in contributions {
        for tag in &c.tag_ids {
            coarse.posts(*tag, c.hour, 1);
            widen(&mut author_spans, (*tag, c.author_id), c.hour);
            if let Some(incident) = c.incident_id {
                widen(&mut incident_spans, (*tag, incident), c.hour);
            }
        }
    }
    advance(conn, Member::Author, &author_spans, &mut coarse)?;
    advance(conn, Member::Incident, &incident_spans, &mut coarse)?;
    coarse.write(conn)
}

/// The hourly part of [`add_many`].
fn add_hourly(conn: &mut DbConn, contributions: &[Contribution]) -> QueryResult<()> {
    let mut sums = HourlySums::default();
    for c in contributions {
        sums.add(c);
    }
    sums.write(conn)
}

/// The hourly rollup rows of many posts, summed in key order before they are written: a
/// rebuild sums every page first and writes once, so each table's B-tree is filled in order
/// instead of being revisited page after page (at 1M posts that took minutes).
#[derive(Default)]
struct HourlySums {
    hours: BTreeMap<i64, i32>,
    per_tag: BTreeMap<(i64, i64), i32>,
    authors: BTreeMap<(i64, i64, i64), i32>,
    per_incident: BTreeMap<(i64, i64, i64), i32>,
    pairs: BTreeMap<(i64, i64, i64), i32>,
}

impl HourlySums {
    fn add(&mut self, c: &Contribution) {
        *self.hours.entry(c.hour).or_default() += 1;
        for tag in &c.tag_ids {
            *self.per_tag.entry((*tag, c.hour)).or_default() += 1;
            *self.authors.entry((*tag, c.hour, c.author_id)).or_default() += 1;
            if let Some(incident) = c.incident_id {
                *self.per_incident.entry((*tag, c.hour, incident)).or_default() += 1;
            }
        }
        for (a, b) in c.pairs() {
            *self.pairs.entry((a, b, c.hour)).or_default() += 1;
        }
    }

    fn write(self, conn: &mut DbConn) -> QueryResult<()> {
        let HourlySums { hours, per_tag, authors, per_incident, pairs } = self;
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
}

/// Hours per day and per week, the periods of the coarse rollups.
pub const DAY_HOURS: i64 = 24;
pub const WEEK_HOURS: i64 = 24 * 7;

/// A period of the coarse rollups: `tag_days` or `tag_weeks`, numbered by `hour` / length,
/// floored (so weeks start on Thursdays, like the epoch; only sums are read from them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Day,
    Week,
}

impl Period {
    pub const ALL: [Period; 2] = [Period::Day, Period::Week];

    pub fn hours(self) -> i64 {
        match self {
            Period::Day => DAY_HOURS,
            Period::Week => WEEK_HOURS,
        }
    }

    /// The period an hour falls in.
    pub fn of(self, hour: i64) -> i64 {
        hour.div_euclid(self.hours())
    }

    pub fn table(self) -> &'static str {
        match self {
            Period::Day => "tag_days",
            Period::Week => "tag_weeks",
        }
    }

    /// The table's period column.
    pub fn column(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
        }
    }
}

/// A kind of member counted distinctly per tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member {
    Author,
    Incident,
}

impl Member {
    /// Per tag and member, its first and last hour.
    pub fn span_table(self) -> &'static str {
        match self {
            Member::Author => "tag_authors",
            Member::Incident => "tag_incidents",
        }
    }

    /// Per tag, hour and member, its posts.
    pub fn hour_table(self) -> &'static str {
        match self {
            Member::Author => "tag_hour_authors",
            Member::Incident => "tag_hour_incidents",
        }
    }

    /// The member column of both tables.
    pub fn column(self) -> &'static str {
        match self {
            Member::Author => "author_id",
            Member::Incident => "incident_id",
        }
    }

    /// The day and week tables' count of these members last seen in the period.
    pub fn last_column(self) -> &'static str {
        match self {
            Member::Author => "last_authors",
            Member::Incident => "last_incidents",
        }
    }

    fn slot(self) -> usize {
        match self {
            Member::Author => 1,
            Member::Incident => 2,
        }
    }
}

/// The first and last hour a member was seen on a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first: i64,
    last: i64,
}

fn widen(spans: &mut BTreeMap<(i64, i64), Span>, key: (i64, i64), hour: i64) {
    let span = spans.entry(key).or_insert(Span { first: hour, last: hour });
    span.first = span.first.min(hour);
    span.last = span.last.max(hour);
}

#[derive(Debug, QueryableByName)]
struct SpanRow {
    #[diesel(sql_type = BigInt)]
    tag_id: i64,
    #[diesel(sql_type = BigInt)]
    member: i64,
    #[diesel(sql_type = BigInt)]
    first_hour: i64,
    #[diesel(sql_type = BigInt)]
    last_hour: i64,
}

/// Changes to `tag_days` and `tag_weeks`, summed per row so each row is written once:
/// `[posts, authors last seen, incidents last seen]` per (period, number, tag).
#[derive(Debug, Default)]
struct Coarse {
    rows: BTreeMap<(Period, i64, i64), [i32; 3]>,
}

impl Coarse {
    fn posts(&mut self, tag: i64, hour: i64, n: i32) {
        self.add(tag, hour, 0, n);
    }

    /// A member of `tag` is now (`n = 1`) or no longer (`n = -1`) last seen at `hour`.
    fn last(&mut self, member: Member, tag: i64, hour: i64, n: i32) {
        self.add(tag, hour, member.slot(), n);
    }

    fn add(&mut self, tag: i64, hour: i64, slot: usize, n: i32) {
        for period in Period::ALL {
            self.rows.entry((period, period.of(hour), tag)).or_default()[slot] += n;
        }
    }

    /// Upserts the sums, then drops rows left without posts (a period with no posts has no
    /// members either, so nothing is lost). A post's own few rows go one statement each,
    /// prepared once per connection; a batch's go many rows to a statement.
    fn write(self, conn: &mut DbConn) -> QueryResult<()> {
        for period in Period::ALL {
            let changed: Vec<[i64; 5]> = self
                .rows
                .iter()
                .filter(|((p, _, _), counts)| *p == period && counts.iter().any(|n| *n != 0))
                .map(|((_, number, tag), [p, a, i])| [*number, *tag, *p as i64, *a as i64, *i as i64])
                .collect();
            if changed.len() <= SINGLE_ROWS {
                for row in &changed {
                    upsert_period_row(conn, period, row)?;
                }
            } else {
                let (table, column) = (period.table(), period.column());
                for part in changed.chunks(BATCH_ROWS) {
                    sql::execute(
                        conn,
                        &format!(
                            "INSERT INTO {table} ({column}, tag_id, posts, last_authors, last_incidents) \
                             VALUES {} ON CONFLICT ({column}, tag_id) DO UPDATE SET \
                             posts = {table}.posts + excluded.posts, \
                             last_authors = {table}.last_authors + excluded.last_authors, \
                             last_incidents = {table}.last_incidents + excluded.last_incidents",
                            sql::rows(part)
                        ),
                    )?;
                }
            }
            for [number, tag, posts, _, _] in changed {
                if posts < 0 {
                    match period {
                        Period::Day => {
                            diesel::delete(tag_days::table.find((number, tag)).filter(tag_days::posts.le(0)))
                                .execute(conn)?
                        }
                        Period::Week => diesel::delete(
                            tag_weeks::table.find((number, tag)).filter(tag_weeks::posts.le(0)),
                        )
                        .execute(conn)?,
                    };
                }
            }
        }
        Ok(())
    }
}

/// Up to this many rows per table go one statement each.
const SINGLE_ROWS: usize = 8;

/// Adds `[number, tag, posts, authors last seen, incidents last seen]` to a period's row.
fn upsert_period_row(conn: &mut DbConn, period: Period, row: &[i64; 5]) -> QueryResult<()> {
    // The counts are bound as BIGINT into INTEGER columns; they stay far below i32::MAX.
    let statement = match period {
        Period::Day => Cached::new(
            "INSERT INTO tag_days (day, tag_id, posts, last_authors, last_incidents) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (day, tag_id) DO UPDATE SET posts = tag_days.posts + excluded.posts, \
             last_authors = tag_days.last_authors + excluded.last_authors, \
             last_incidents = tag_days.last_incidents + excluded.last_incidents",
            row,
        ),
        Period::Week => Cached::new(
            "INSERT INTO tag_weeks (week, tag_id, posts, last_authors, last_incidents) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (week, tag_id) DO UPDATE SET posts = tag_weeks.posts + excluded.posts, \
             last_authors = tag_weeks.last_authors + excluded.last_authors, \
             last_incidents = tag_weeks.last_incidents + excluded.last_incidents",
            row,
        ),
    };
    statement.execute(conn)?;
    Ok(())
}

/// The stored spans of the given (tag, member) keys.
fn load_spans(
    conn: &mut DbConn,
    member: Member,
    keys: &[[i64; 2]],
) -> QueryResult<HashMap<(i64, i64), Span>> {
    let (table, column) = (member.span_table(), member.column());
    let mut out = HashMap::new();
    for part in keys.chunks(BATCH_ROWS) {
        // A join against the keys: a primary-key lookup each on both backends (SQLite does
        // not use the index for `(a, b) IN (VALUES …)`).
        let rows: Vec<SpanRow> = sql::load(
            conn,
            &format!(
                "WITH k (t, m) AS (VALUES {}) \
                 SELECT s.tag_id, s.{column} AS member, s.first_hour, s.last_hour \
                 FROM k JOIN {table} s ON s.tag_id = k.t AND s.{column} = k.m",
                sql::rows(part)
            ),
        )?;
        out.extend(
            rows.into_iter().map(|r| ((r.tag_id, r.member), Span { first: r.first_hour, last: r.last_hour })),
        );
    }
    Ok(out)
}

/// Widens the stored spans by the hours just added, moving each member's "last seen" count
/// to its new last hour.
fn advance(
    conn: &mut DbConn,
    member: Member,
    added: &BTreeMap<(i64, i64), Span>,
    coarse: &mut Coarse,
) -> QueryResult<()> {
    if added.is_empty() {
        return Ok(());
    }
    let keys: Vec<[i64; 2]> = added.keys().map(|(t, m)| [*t, *m]).collect();
    let stored = load_spans(conn, member, &keys)?;
    let mut writes: Vec<[i64; 4]> = Vec::new();
    for ((tag, id), new) in added {
        let span = match stored.get(&(*tag, *id)) {
            None => {
                coarse.last(member, *tag, new.last, 1);
                *new
            }
            Some(old) => {
                let span = Span { first: old.first.min(new.first), last: old.last.max(new.last) };
                if span.last != old.last {
                    coarse.last(member, *tag, old.last, -1);
                    coarse.last(member, *tag, span.last, 1);
                }
                if span == *old {
                    continue;
                }
                span
            }
        };
        writes.push([*tag, *id, span.first, span.last]);
    }
    let (table, column) = (member.span_table(), member.column());
    for part in writes.chunks(BATCH_ROWS) {
        sql::execute(
            conn,
            &format!(
                "INSERT INTO {table} (tag_id, {column}, first_hour, last_hour) VALUES {} \
                 ON CONFLICT (tag_id, {column}) DO UPDATE SET \
                 first_hour = excluded.first_hour, last_hour = excluded.last_hour",
                sql::rows(part)
            ),
        )?;
    }
    Ok(())
}

/// Widens one member's stored span by `hour` (the per-post form of [`advance`]).
fn widen_one(
    conn: &mut DbConn,
    member: Member,
    tag: i64,
    id: i64,
    hour: i64,
    coarse: &mut Coarse,
) -> QueryResult<()> {
    let old: Option<(i64, i64)> = match member {
        Member::Author => tag_authors::table
            .find((tag, id))
            .select((tag_authors::first_hour, tag_authors::last_hour))
            .first(conn)
            .optional()?,
        Member::Incident => tag_incidents::table
            .find((tag, id))
            .select((tag_incidents::first_hour, tag_incidents::last_hour))
            .first(conn)
            .optional()?,
    };
    let (first, last) = match old {
        None => (hour, hour),
        Some((first, last)) => (first.min(hour), last.max(hour)),
    };
    if old == Some((first, last)) {
        return Ok(());
    }
    if let Some((_, old_last)) = old.filter(|(_, old_last)| *old_last != last) {
        coarse.last(member, tag, old_last, -1);
    }
    if old.map(|(_, l)| l) != Some(last) {
        coarse.last(member, tag, last, 1);
    }
    let values = [tag, id, first, last];
    let statement = match member {
        Member::Author => Cached::new(
            "INSERT INTO tag_authors (tag_id, author_id, first_hour, last_hour) VALUES (?, ?, ?, ?) \
             ON CONFLICT (tag_id, author_id) DO UPDATE SET first_hour = excluded.first_hour, \
             last_hour = excluded.last_hour",
            &values,
        ),
        Member::Incident => Cached::new(
            "INSERT INTO tag_incidents (tag_id, incident_id, first_hour, last_hour) VALUES (?, ?, ?, ?) \
             ON CONFLICT (tag_id, incident_id) DO UPDATE SET first_hour = excluded.first_hour, \
             last_hour = excluded.last_hour",
            &values,
        ),
    };
    statement.execute(conn)?;
    Ok(())
}

/// After a member lost its last post of `hour` on `tag`: sets its span to the hours the
/// hourly rollup still holds (or removes it), moving its "last seen" count along.
fn retreat(
    conn: &mut DbConn,
    member: Member,
    tag: i64,
    id: i64,
    hour: i64,
    coarse: &mut Coarse,
) -> QueryResult<()> {
    let Some(old) = load_spans(conn, member, &[[tag, id]])?.remove(&(tag, id)) else {
        return Ok(());
    };
    if hour != old.first && hour != old.last {
        return Ok(());
    }
    let (table, column, hourly) = (member.span_table(), member.column(), member.hour_table());
    let left: Vec<SpanRow> = sql::load(
        conn,
        &format!(
            "SELECT tag_id, {column} AS member, MIN(hour) AS first_hour, MAX(hour) AS last_hour \
             FROM {hourly} WHERE tag_id = {tag} AND {column} = {id} GROUP BY tag_id, {column}"
        ),
    )?;
    match left.first() {
        None => {
            sql::execute(conn, &format!("DELETE FROM {table} WHERE tag_id = {tag} AND {column} = {id}"))?;
            coarse.last(member, tag, old.last, -1);
        }
        Some(row) => {
            sql::execute(
                conn,
                &format!(
                    "UPDATE {table} SET first_hour = {}, last_hour = {} \
                     WHERE tag_id = {tag} AND {column} = {id}",
                    row.first_hour, row.last_hour
                ),
            )?;
            if row.last_hour != old.last {
                coarse.last(member, tag, old.last, -1);
                coarse.last(member, tag, row.last_hour, 1);
            }
        }
    }
    Ok(())
}
