//! The queries behind each trend endpoint. They read the rollups (and, for distinctive
//! terms, one incident's or tag's own posts plus the search index's document frequencies),
//! never a scan of all posts. Sums over a window read whole weeks and days from the coarse
//! rollups and only the hours at either end from the hourly ones; distinct authors and
//! incidents are counted where each member was last seen (see [`members_in`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use serde::Serialize;

use super::rollups::{Member, Period, HOUR_MS};
use super::score::{jlh, lift, npmi, trend_score, TrendScore, MIN_ACTIVITY, MIN_RATIO};
use super::sliding::SlidingCache;
use super::sql;
use super::windows::Window;
use crate::db::now_ms;
use crate::db::schema::{incidents, tag_hour_authors, tag_hour_incidents, tag_hours, tags};
use crate::db::tags::Tag;
use crate::db::DbConn;
use crate::domain::time::format_ms;
use crate::error::{invalid, AppError};

/// Rewrites `?` placeholders as `$1, $2, …` for PostgreSQL.
fn placeholders(conn: &DbConn, sql: &str) -> String {
    match conn {
        DbConn::Sqlite(_) => sql.to_string(),
        DbConn::Pg(_) => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// Runs a query whose parameters are all BIGINT on either backend.
macro_rules! load_sql {
    ($conn:expr, $sql:expr, [$($value:expr),* $(,)?]) => {{
        let text = placeholders($conn, $sql);
        crate::on_backend!($conn, c => diesel::sql_query(text)$(.bind::<BigInt, _>($value))*.load(c))
    }};
}

#[derive(Debug, QueryableByName)]
struct TagCount {
    #[diesel(sql_type = BigInt)]
    tag_id: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Debug, QueryableByName)]
struct HourCount {
    #[diesel(sql_type = BigInt)]
    hour: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Debug, QueryableByName)]
struct PairCount {
    #[diesel(sql_type = BigInt)]
    tag_a: i64,
    #[diesel(sql_type = BigInt)]
    tag_b: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A tag as the views show it.
#[derive(Debug, Clone, Serialize)]
pub struct TagRef {
    pub name: String,
    pub display: String,
}

/// The period a view covers.
#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    pub from: String,
    pub to: String,
    pub hours: i64,
    /// When this answer was computed (a remembered answer keeps its time; see
    /// [`super::memo`]).
    pub computed_at: String,
}

impl From<Window> for WindowView {
    fn from(w: Window) -> Self {
        WindowView {
            from: w.from_text(),
            to: w.to_text(),
            hours: w.hours(),
            computed_at: format_ms(now_ms()),
        }
    }
}

/// Tags curated out of trends (noise such as `#degraded`).
fn hidden_tags(conn: &mut DbConn) -> QueryResult<HashSet<i64>> {
    Ok(crate::db::curation::hidden_from_trends(conn)?.into_iter().collect())
}

fn tags_by_id(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, Tag>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Tag> = tags::table.filter(tags::id.eq_any(ids)).select(Tag::as_select()).load(conn)?;
    Ok(rows.into_iter().map(|t| (t.id, t)).collect())
}

fn tag_ref(tag: &Tag) -> TagRef {
    TagRef { name: tag.key.clone(), display: tag.display.clone() }
}

/// All posts within a window.
fn posts_total(conn: &mut DbConn, w: Window) -> QueryResult<i64> {
    let rows: Vec<TagCount> = load_sql!(
        conn,
        "SELECT CAST(0 AS BIGINT) AS tag_id, COALESCE(SUM(posts), 0) AS n FROM post_hours WHERE hour >= ? AND hour < ?",
        [w.start_hour, w.end_hour]
    )?;
    Ok(rows.first().map(|r| r.n).unwrap_or(0))
}

/// ` AND <column> IN (…)` when only some tags are wanted. `+column` keeps SQLite from
/// choosing the tag index over the time range the arm is built around.
fn only(column: &str, ids: Option<&[i64]>) -> String {
    match ids {
        None => String::new(),
        Some(ids) => format!(" AND +{column} IN ({})", sql::list(ids)),
    }
}

/// Sums the per-tag results of several `SELECT tag_id, … AS n … GROUP BY tag_id` arms.
fn sum_arms(conn: &mut DbConn, arms: &[String]) -> QueryResult<HashMap<i64, i64>> {
    if arms.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<TagCount> = sql::load(
        conn,
        &format!(
            "SELECT tag_id, CAST(SUM(n) AS BIGINT) AS n FROM ({}) AS arms GROUP BY tag_id",
            arms.join(" UNION ALL ")
        ),
    )?;
    Ok(rows.into_iter().map(|r| (r.tag_id, r.n)).collect())
}

/// Arms summing `column` of the week and day rollups over the whole weeks and days of `w`.
fn coarse_arms(w: Window, column: &str, ids: Option<&[i64]>) -> Vec<String> {
    let pieces = w.pieces();
    let mut arms = Vec::new();
    for (period, ranges) in [(Period::Week, &pieces.weeks), (Period::Day, &pieces.days)] {
        let (table, at) = (period.table(), period.column());
        let filter = match ids {
            None => String::new(),
            Some(ids) => format!(" AND tag_id IN ({})", sql::list(ids)),
        };
        for (a, b) in ranges {
            arms.push(format!(
                "SELECT tag_id, SUM({column}) AS n FROM {table} \
                 WHERE {at} >= {a} AND {at} < {b}{filter} GROUP BY tag_id"
            ));
        }
    }
    arms
}

/// Posts per tag within a window (all tags, or those in `ids`).
fn posts_in(conn: &mut DbConn, w: Window, ids: Option<&[i64]>) -> QueryResult<HashMap<i64, i64>> {
    let mut arms = coarse_arms(w, "posts", ids);
    let filter = match ids {
        None => String::new(),
        Some(ids) => format!(" AND tag_id IN ({})", sql::list(ids)),
    };
    for (a, b) in w.pieces().hours {
        arms.push(format!(
            "SELECT tag_id, SUM(posts) AS n FROM tag_hours \
             WHERE hour >= {a} AND hour < {b}{filter} GROUP BY tag_id"
        ));
    }
    sum_arms(conn, &arms)
}

/// Arms counting, per tag, the members of the given kinds whose last hour falls inside `w`.
fn last_seen_arms(members: &[Member], w: Window, ids: Option<&[i64]>) -> Vec<String> {
    let columns: Vec<&str> = members.iter().map(|m| m.last_column()).collect();
    let mut arms = coarse_arms(w, &columns.join(" + "), ids);
    for member in members {
        let table = member.span_table();
        for (a, b) in w.pieces().hours {
            arms.push(format!(
                "SELECT tag_id, COUNT(*) AS n FROM {table} \
                 WHERE last_hour >= {a} AND last_hour < {b}{} GROUP BY tag_id",
                only("tag_id", ids)
            ));
        }
    }
    arms
}

/// Latest hour a span query looks at: later than any post, small enough never to overflow.
const LAST_HOUR_BOUND: i64 = i64::MAX / 4;

/// Distinct members of the given kinds per tag within a window (summed over the kinds),
/// exactly. Each member seen in `w` is counted once, where its last hour falls when that is
/// inside `w`: sums of the `last_*` counters of the coarse rollups, plus the spans whose last
/// hour is in the hours at either end. Members seen again after `w` are the spans with a
/// later last hour, each counted when it began inside `w` or has an hour inside it. So the
/// cost follows the window's weeks and days plus what happened since its end (nothing, for
/// a window ending now), not the number of members. When more happened since than inside
/// the window (a short window in the past), the members are counted from its hours instead.
pub fn members_in(
    conn: &mut DbConn,
    members: &[Member],
    w: Window,
    ids: Option<&[i64]>,
) -> QueryResult<HashMap<i64, i64>> {
    let mut out: HashMap<i64, i64> = HashMap::new();
    if w.start_hour >= w.end_hour {
        return Ok(out);
    }
    let mut by_spans = Vec::new();
    for member in members {
        if spans_are_cheaper(conn, *member, w, ids)? {
            by_spans.push(*member);
        } else {
            for (tag, n) in distinct_in_hours(conn, *member, w, ids)? {
                *out.entry(tag).or_default() += n;
            }
        }
    }
    if by_spans.is_empty() {
        return Ok(out);
    }
    let mut arms = last_seen_arms(&by_spans, w, ids);
    let (start, end) = (w.start_hour, w.end_hour);
    for member in &by_spans {
        let (table, hourly, column) = (member.span_table(), member.hour_table(), member.column());
        // The upper bound makes the range two-sided, so SQLite reads it from the last_hour
        // index instead of walking the table in tag order to save the GROUP BY's sort.
        arms.push(format!(
            "SELECT s.tag_id, COUNT(*) AS n FROM {table} s \
             WHERE s.last_hour >= {end} AND s.last_hour < {LAST_HOUR_BOUND} AND s.first_hour < {end}{} \
               AND (s.first_hour >= {start} OR EXISTS (SELECT 1 FROM {hourly} h \
                    WHERE h.tag_id = s.tag_id AND h.{column} = s.{column} \
                      AND h.hour >= {start} AND h.hour < {end})) \
             GROUP BY s.tag_id",
            only("s.tag_id", ids)
        ));
    }
    for (tag, n) in sum_arms(conn, &arms)? {
        *out.entry(tag).or_default() += n;
    }
    Ok(out)
}

#[derive(Debug, QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Whether following the spans seen again after `w` reads fewer rows than the hourly rows
/// inside `w` (both counted only up to what decides it).
fn spans_are_cheaper(conn: &mut DbConn, member: Member, w: Window, ids: Option<&[i64]>) -> QueryResult<bool> {
    // Below this many, following them costs less than even asking how big `w` is.
    const FEW: i64 = 2_000;
    const ENOUGH: i64 = 50_000;
    let (table, hourly) = (member.span_table(), member.hour_table());
    let mut count = |sql: String| -> QueryResult<i64> {
        Ok(sql::load::<Count>(conn, &format!("SELECT COUNT(*) AS n FROM ({sql}) AS rows"))?
            .first()
            .map_or(0, |c| c.n))
    };
    let after = count(format!(
        "SELECT 1 FROM {table} WHERE last_hour >= {} AND last_hour < {LAST_HOUR_BOUND}{} LIMIT {ENOUGH}",
        w.end_hour,
        only("tag_id", ids)
    ))?;
    if after <= FEW {
        return Ok(true);
    }
    let filter = match ids {
        None => String::new(),
        Some(ids) => format!(" AND tag_id IN ({})", sql::list(ids)),
    };
    let inside = count(format!(
        "SELECT 1 FROM {hourly} WHERE hour >= {} AND hour < {}{filter} LIMIT {after}",
        w.start_hour, w.end_hour
    ))?;
    Ok(after <= inside)
}

/// Distinct members per tag within `w`, counted from the hourly rows (read in index order,
/// counted here: cheaper than SQLite's `COUNT(DISTINCT …)` sorter).
pub fn distinct_in_hours(
    conn: &mut DbConn,
    member: Member,
    w: Window,
    ids: Option<&[i64]>,
) -> QueryResult<HashMap<i64, i64>> {
    let (start, end) = (w.start_hour, w.end_hour);
    let mut rows: Vec<(i64, i64)> = Vec::new();
    let parts: Vec<Option<&[i64]>> = match ids {
        None => vec![None],
        Some(ids) => ids.chunks(BATCH_IDS).map(Some).collect(),
    };
    for part in parts {
        rows.extend(match member {
            Member::Author => {
                let mut q = tag_hour_authors::table
                    .filter(tag_hour_authors::hour.ge(start))
                    .filter(tag_hour_authors::hour.lt(end))
                    .select((tag_hour_authors::tag_id, tag_hour_authors::author_id))
                    .into_boxed();
                if let Some(part) = part {
                    q = q.filter(tag_hour_authors::tag_id.eq_any(part.to_vec()));
                }
                q.load::<(i64, i64)>(conn)?
            }
            Member::Incident => {
                let mut q = tag_hour_incidents::table
                    .filter(tag_hour_incidents::hour.ge(start))
                    .filter(tag_hour_incidents::hour.lt(end))
                    .select((tag_hour_incidents::tag_id, tag_hour_incidents::incident_id))
                    .into_boxed();
                if let Some(part) = part {
                    q = q.filter(tag_hour_incidents::tag_id.eq_any(part.to_vec()));
                }
                q.load::<(i64, i64)>(conn)?
            }
        });
    }
    rows.sort_unstable();
    rows.dedup();
    let mut out: HashMap<i64, i64> = HashMap::new();
    for (tag, _) in rows {
        *out.entry(tag).or_default() += 1;
    }
    Ok(out)
}

/// Hourly posts of one tag within a window.
fn tag_hours_of(conn: &mut DbConn, tag_id: i64, w: Window) -> QueryResult<Vec<(i64, i64)>> {
    let rows: Vec<HourCount> = load_sql!(
        conn,
        "SELECT hour, CAST(posts AS BIGINT) AS n FROM tag_hours WHERE tag_id = ? AND hour >= ? AND hour < ? ORDER BY hour",
        [tag_id, w.start_hour, w.end_hour]
    )?;
    Ok(rows.into_iter().map(|r| (r.hour, r.n)).collect())
}

/// Posts per bucket of `bucket_hours` across `w`, zeros included.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub from: String,
    pub bucket_hours: i64,
    pub points: Vec<i64>,
}

fn series(hours: &[(i64, i64)], w: Window, bucket_hours: i64) -> Series {
    let buckets = ((w.hours() + bucket_hours - 1) / bucket_hours).max(1) as usize;
    let mut points = vec![0i64; buckets];
    for (hour, n) in hours {
        let index = ((hour - w.start_hour) / bucket_hours) as usize;
        if let Some(slot) = points.get_mut(index) {
            *slot += n;
        }
    }
    Series { from: w.from_text(), bucket_hours, points }
}

/// One trending tag with the numbers behind its score.
#[derive(Debug, Clone, Serialize)]
pub struct TrendingTag {
    pub tag: TagRef,
    #[serde(flatten)]
    pub score: TrendScore,
    pub authors: i64,
    pub incidents: i64,
    pub posts: i64,
    pub first_seen: String,
    /// First seen inside the window.
    pub new: bool,
    /// Posts over the window and the three before it.
    pub sparkline: Series,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trending {
    pub window: WindowView,
    pub baseline_windows: i64,
    pub formula: &'static str,
    pub items: Vec<TrendingTag>,
}

/// The tags that may trend in `w`, so only theirs are counted per window. A tag trends only
/// with at least [`MIN_ACTIVITY`] distinct authors + incidents in `w` and at least
/// [`MIN_RATIO`] times the mean over its `windows` baseline windows. Every member last seen
/// inside the baseline is in at least one of those windows, so their number divided by
/// `windows` is at most that mean: tags below either floor cannot trend and are left out
/// exactly, without reading their hours.
fn trend_candidates(conn: &mut DbConn, w: Window, windows: i64) -> QueryResult<Vec<i64>> {
    let both = [Member::Author, Member::Incident];
    let observed = members_in(conn, &both, w, None)?;
    let baseline = Window { start_hour: w.start_hour - w.hours() * windows, end_hour: w.start_hour };
    let seen = sum_arms(conn, &last_seen_arms(&both, baseline, None))?;
    let mut ids: Vec<i64> = observed
        .into_iter()
        .filter(|(tag, o)| {
            let least_mean = seen.get(tag).copied().unwrap_or(0) as f64 / windows as f64;
            *o >= MIN_ACTIVITY as i64 && *o as f64 >= MIN_RATIO * least_mean
        })
        .map(|(tag, _)| tag)
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

#[derive(Debug, QueryableByName)]
struct TagHour {
    #[diesel(sql_type = BigInt)]
    tag_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    hour: Option<i64>,
}

/// Per tag, one hour picked by `arm(tag)` (a `SELECT <tag> AS tag_id, MIN/MAX(hour) AS hour`
/// over one tag's rows, which both backends answer from the index in one step).
fn hour_per_tag(
    conn: &mut DbConn,
    ids: &[i64],
    arm: impl Fn(i64) -> String,
) -> QueryResult<HashMap<i64, i64>> {
    let mut out = HashMap::new();
    for part in ids.chunks(UNION_ARMS) {
        let arms: Vec<String> = part.iter().map(|t| arm(*t)).collect();
        let rows: Vec<TagHour> = sql::load(conn, &sql::union_all(&arms))?;
        out.extend(rows.into_iter().filter_map(|r| Some((r.tag_id, r.hour?))));
    }
    Ok(out)
}

/// Most arms in one `UNION ALL` (SQLite allows 500 by default).
const UNION_ARMS: usize = 200;

/// Hourly posts of the tags in `ids` within a window.
fn hours_of_tags(conn: &mut DbConn, ids: &[i64], w: Window) -> QueryResult<HashMap<i64, Vec<(i64, i64)>>> {
    let mut out: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for part in ids.chunks(BATCH_IDS) {
        let rows: Vec<(i64, i64, i32)> = tag_hours::table
            .filter(tag_hours::tag_id.eq_any(part))
            .filter(tag_hours::hour.ge(w.start_hour))
            .filter(tag_hours::hour.lt(w.end_hour))
            .select((tag_hours::tag_id, tag_hours::hour, tag_hours::posts))
            .load(conn)?;
        for (tag, hour, posts) in rows {
            out.entry(tag).or_default().push((hour, posts as i64));
        }
    }
    Ok(out)
}

/// Distinct (authors, incidents) per tag in `w` (index 0) and each of the `windows` windows
/// before it, for the tags that may trend.
type Activity = HashMap<i64, Vec<(i64, i64)>>;

/// [`Activity`] read from the sliding counts, when they can be kept for `w` (every tag).
fn activity_from_steps(
    conn: &mut DbConn,
    sliding: Option<&SlidingCache>,
    w: Window,
    windows: i64,
) -> QueryResult<Option<Activity>> {
    let Some(cache) = sliding else { return Ok(None) };
    let (hours, end) = (w.hours(), w.end_hour);
    let lo = end - hours * windows;
    let Some(authors) = cache.steps(conn, Member::Author, hours, lo, end)? else { return Ok(None) };
    let Some(incidents) = cache.steps(conn, Member::Incident, hours, lo, end)? else { return Ok(None) };
    let mut activity = Activity::new();
    for tag in authors.tags().chain(incidents.tags()) {
        let now = (authors.count(tag, end), incidents.count(tag, end));
        // Below the floor in `w` it cannot trend (as [`trend_candidates`] leaves it out).
        if now.0 + now.1 < MIN_ACTIVITY as i64 || activity.contains_key(&tag) {
            continue;
        }
        let slots = (0..=windows)
            .map(|k| (authors.count(tag, end - k * hours), incidents.count(tag, end - k * hours)))
            .collect();
        activity.insert(tag, slots);
    }
    Ok(Some(activity))
}

/// [`Activity`] counted from the hourly rows of the tags that may trend.
fn activity_from_rows(conn: &mut DbConn, w: Window, windows: i64) -> QueryResult<Activity> {
    let candidates = trend_candidates(conn, w, windows)?;
    let mut activity = Activity::new();
    for part in candidates.chunks(BATCH_IDS) {
        for member in [Member::Author, Member::Incident] {
            for (tag_id, counts) in super::slots::distinct_by_slot(conn, member, w, windows, part)? {
                let slots = activity.entry(tag_id).or_insert_with(|| vec![(0, 0); windows as usize + 1]);
                for (slot, n) in slots.iter_mut().zip(counts) {
                    match member {
                        Member::Author => slot.0 = n,
                        Member::Incident => slot.1 = n,
                    }
                }
            }
        }
    }
    Ok(activity)
}

/// Tags whose activity in `w` is well above their own previous windows. The distinct counts
/// come from `sliding` when given and it can keep them for `w`, else from the rows; both
/// are exact, so the answer is the same.
pub fn trending(
    conn: &mut DbConn,
    w: Window,
    limit: usize,
    sliding: Option<&SlidingCache>,
) -> Result<Trending, AppError> {
    // Four weeks of history, as many windows of the same length as fit (at least one).
    let baseline_windows = (28 * 24 / w.hours()).clamp(1, 28);
    let hidden = hidden_tags(conn)?;
    let mut activity = match activity_from_steps(conn, sliding, w, baseline_windows)? {
        Some(activity) => activity,
        None => activity_from_rows(conn, w, baseline_windows)?,
    };
    activity.retain(|tag, _| !hidden.contains(tag));
    let mut scored: Vec<(i64, TrendScore, i64, i64)> = activity
        .into_iter()
        .filter_map(|(tag_id, slots)| {
            let (authors, incidents) = slots[0];
            let baseline: Vec<u64> = slots[1..].iter().map(|(a, i)| (a + i) as u64).collect();
            let score = trend_score((authors + incidents) as u64, &baseline);
            score.trending.then_some((tag_id, score, authors, incidents))
        })
        .collect();
    scored.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    scored.truncate(limit);
    let ids: Vec<i64> = scored.iter().map(|s| s.0).collect();
    let names = tags_by_id(conn, &ids)?;
    let posts = if ids.is_empty() { HashMap::new() } else { posts_in(conn, w, Some(&ids))? };
    let spark_window = Window { start_hour: w.end_hour - w.hours() * 4, end_hour: w.end_hour };
    let mut sparks = hours_of_tags(conn, &ids, spark_window)?;
    // First seen = the hour of its earliest post (imports can backdate posts, so the tag
    // row's own creation time would mislead).
    let firsts = hour_per_tag(conn, &ids, |t| {
        format!("SELECT CAST({t} AS BIGINT) AS tag_id, MIN(hour) AS hour FROM tag_hours WHERE tag_id = {t}")
    })?;
    let mut items = Vec::new();
    for (tag_id, score, authors, incidents) in scored {
        let Some(tag) = names.get(&tag_id) else { continue };
        let hours = sparks.remove(&tag_id).unwrap_or_default();
        let first_hour = firsts.get(&tag_id).copied().unwrap_or(w.start_hour);
        items.push(TrendingTag {
            tag: tag_ref(tag),
            score,
            authors,
            incidents,
            posts: posts.get(&tag_id).copied().unwrap_or(0),
            first_seen: format_ms(first_hour * HOUR_MS),
            new: first_hour >= w.start_hour,
            sparkline: series(&hours, spark_window, (spark_window.hours() / 24).max(1)),
        });
    }
    Ok(Trending {
        window: w.into(),
        baseline_windows,
        formula: "score = (o − μ) / √(σ² + μ + 1); o = distinct authors + distinct incidents in the window; \
                  μ, σ = mean and standard deviation over the previous windows; trending when o ≥ 4 and o ≥ 2μ",
        items,
    })
}

/// An incident cited as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub key: String,
    pub title: String,
    /// When the tag first appeared on it within the window.
    pub date: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecurringTag {
    pub tag: TagRef,
    pub incidents: i64,
    pub authors: i64,
    pub posts: i64,
    pub last_seen: String,
    /// The most recent incidents it appeared on (at most 20).
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Recurring {
    pub window: WindowView,
    pub items: Vec<RecurringTag>,
}

/// Tags spanning the most distinct incidents in `w`, with the incidents as evidence.
/// The distinct counts come from `sliding` when given and it can keep them for `w`, else
/// from the rollups; both are exact.
pub fn recurring(
    conn: &mut DbConn,
    w: Window,
    limit: usize,
    sliding: Option<&SlidingCache>,
) -> Result<Recurring, AppError> {
    let hidden = hidden_tags(conn)?;
    let mut steps_of = |member: Member| match sliding {
        Some(cache) => cache.steps(conn, member, w.hours(), w.end_hour, w.end_hour),
        None => Ok(None),
    };
    let steps = match (steps_of(Member::Incident)?, steps_of(Member::Author)?) {
        (Some(incidents), Some(authors)) => Some((incidents, authors)),
        _ => None,
    };
    let incidents: HashMap<i64, i64> = match &steps {
        Some((incidents, _)) => incidents.tags().map(|tag| (tag, incidents.count(tag, w.end_hour))).collect(),
        None => members_in(conn, &[Member::Incident], w, None)?,
    };
    let mut top: Vec<(i64, i64)> =
        incidents.into_iter().filter(|(tag, n)| *n > 0 && !hidden.contains(tag)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(limit * 3);
    let ids: Vec<i64> = top.iter().map(|t| t.0).collect();
    if ids.is_empty() {
        return Ok(Recurring { window: w.into(), items: Vec::new() });
    }
    let names = tags_by_id(conn, &ids)?;
    let authors = match &steps {
        Some((_, authors)) => ids.iter().map(|tag| (*tag, authors.count(*tag, w.end_hour))).collect(),
        None => members_in(conn, &[Member::Author], w, Some(&ids))?,
    };
    let posts = posts_in(conn, w, Some(&ids))?;
    let (start, end) = (w.start_hour, w.end_hour);
    let last_hours = hour_per_tag(conn, &ids, |t| {
        format!(
            "SELECT CAST({t} AS BIGINT) AS tag_id, MAX(hour) AS hour FROM tag_hours \
             WHERE tag_id = {t} AND hour >= {start} AND hour < {end}"
        )
    })?;
    let mut items = Vec::new();
    for (tag_id, incidents) in top {
        let Some(tag) = names.get(&tag_id) else { continue };
        items.push((
            tag_id,
            RecurringTag {
                tag: tag_ref(tag),
                incidents,
                authors: authors.get(&tag_id).copied().unwrap_or(0),
                posts: posts.get(&tag_id).copied().unwrap_or(0),
                last_seen: format_ms(last_hours.get(&tag_id).copied().unwrap_or(0) * HOUR_MS),
                evidence: Vec::new(),
            },
        ));
    }
    // Most incidents first; then more responders; then the most recent.
    items.sort_by(|(_, a), (_, b)| {
        b.incidents.cmp(&a.incidents).then(b.authors.cmp(&a.authors)).then(b.last_seen.cmp(&a.last_seen))
    });
    items.truncate(limit);
    // Evidence only for the tags shown.
    let shown: Vec<i64> = items.iter().map(|(tag_id, _)| *tag_id).collect();
    let mut evidence = incidents_of_many(conn, &shown, w, 20)?;
    let items = items
        .into_iter()
        .map(|(tag_id, item)| RecurringTag { evidence: evidence.remove(&tag_id).unwrap_or_default(), ..item })
        .collect();
    Ok(Recurring { window: w.into(), items })
}

/// The incidents a tag appeared on within `w`, most recent first.
pub fn incidents_of(conn: &mut DbConn, tag_id: i64, w: Window, limit: i64) -> QueryResult<Vec<Evidence>> {
    Ok(incidents_of_many(conn, &[tag_id], w, limit)?.remove(&tag_id).unwrap_or_default())
}

#[derive(Debug, QueryableByName)]
struct TagIncidentHour {
    #[diesel(sql_type = BigInt)]
    tag_id: i64,
    #[diesel(sql_type = BigInt)]
    incident_id: i64,
    #[diesel(sql_type = BigInt)]
    hour: i64,
}

/// One tag's walk back through its incident hours.
struct EvidenceScan {
    /// The last row read, `(hour, incident)`: every row after it has been read.
    cursor: Option<(i64, i64)>,
    exhausted: bool,
    /// Rows to read next time.
    batch: usize,
    seen: HashSet<i64>,
    /// Incidents read but not yet placed, `(hour first read at, incident)` in reading order.
    pending: VecDeque<(i64, i64)>,
    /// `(first hour inside the window, incident)`, best first, at most `limit`.
    best: Vec<(i64, i64)>,
}

enum EvidenceStep {
    Read,
    Place(Vec<i64>),
    Done,
}

impl EvidenceScan {
    fn next_step(&mut self, limit: usize) -> EvidenceStep {
        // An incident starts inside the window no later than the hour it was first read at,
        // so one read at or below the bar (the last of `limit` placed) cannot enter; nor can
        // any still unread, all of which come before the cursor.
        let bar = self.best.get(limit.saturating_sub(1)).filter(|_| self.best.len() >= limit).copied();
        if let (Some(bar), Some(front)) = (bar, self.pending.front()) {
            if *front <= bar {
                self.pending.clear();
            }
        }
        if !self.pending.is_empty() {
            let n = self.pending.len().min(limit);
            return EvidenceStep::Place(self.pending.drain(..n).map(|(_, id)| id).collect());
        }
        let passed = matches!((bar, self.cursor), (Some(bar), Some(cursor)) if cursor <= bar);
        if self.exhausted || passed {
            EvidenceStep::Done
        } else {
            EvidenceStep::Read
        }
    }
}

/// For each tag in `tag_ids`, the incidents it appeared on within `w`, most recent first:
/// ordered by the first hour the tag was on the incident inside `w` (then the higher
/// incident id), at most `limit` each. Each tag's hourly incident rows are read backwards
/// from the end of `w`, and an incident's first hour inside `w` is looked up only while it
/// can still make the list, so a tag with thousands of incidents costs about `limit` rows
/// and lookups; every step is one statement for all the tags that need it.
pub fn incidents_of_many(
    conn: &mut DbConn,
    tag_ids: &[i64],
    w: Window,
    limit: i64,
) -> QueryResult<HashMap<i64, Vec<Evidence>>> {
    let limit = limit.max(0) as usize;
    let mut scans: BTreeMap<i64, EvidenceScan> = tag_ids
        .iter()
        .map(|t| {
            let scan = EvidenceScan {
                cursor: None,
                exhausted: limit == 0,
                batch: (2 * limit).max(32),
                seen: HashSet::new(),
                pending: VecDeque::new(),
                best: Vec::new(),
            };
            (*t, scan)
        })
        .collect();
    let (start, end) = (w.start_hour, w.end_hour);
    loop {
        let mut reads: Vec<(i64, String)> = Vec::new();
        let mut places: Vec<String> = Vec::new();
        for (t, scan) in scans.iter_mut() {
            match scan.next_step(limit) {
                EvidenceStep::Done => {}
                EvidenceStep::Read => {
                    let before = match scan.cursor {
                        None => format!("hour < {end}"),
                        Some((h, i)) => format!("hour <= {h} AND (hour < {h} OR incident_id < {i})"),
                    };
                    let arm = format!(
                        "SELECT tag_id, incident_id, hour FROM tag_hour_incidents \
                         WHERE tag_id = {t} AND hour >= {start} AND {before} \
                         ORDER BY hour DESC, incident_id DESC LIMIT {}",
                        scan.batch
                    );
                    reads.push((*t, arm));
                }
                EvidenceStep::Place(incidents) => places.push(format!(
                    "SELECT tag_id, incident_id, MIN(hour) AS hour FROM tag_hour_incidents \
                     WHERE tag_id = {t} AND incident_id IN ({}) AND hour >= {start} AND hour < {end} \
                     GROUP BY tag_id, incident_id",
                    sql::list(&incidents)
                )),
            }
        }
        if reads.is_empty() && places.is_empty() {
            break;
        }
        for part in reads.chunks(UNION_ARMS) {
            let arms: Vec<String> = part.iter().map(|(_, arm)| arm.clone()).collect();
            let mut rows: Vec<TagIncidentHour> = sql::load(conn, &sql::union_all(&arms))?;
            rows.sort_by(|a, b| (a.tag_id, b.hour, b.incident_id).cmp(&(b.tag_id, a.hour, a.incident_id)));
            let mut read: HashMap<i64, usize> = HashMap::new();
            for row in &rows {
                let Some(scan) = scans.get_mut(&row.tag_id) else { continue };
                *read.entry(row.tag_id).or_default() += 1;
                scan.cursor = Some((row.hour, row.incident_id));
                if scan.seen.insert(row.incident_id) {
                    scan.pending.push_back((row.hour, row.incident_id));
                }
            }
            for (t, _) in part {
                if let Some(scan) = scans.get_mut(t) {
                    scan.exhausted = read.get(t).copied().unwrap_or(0) < scan.batch;
                    scan.batch = (scan.batch * 4).min(4096);
                }
            }
        }
        for part in places.chunks(UNION_ARMS) {
            let rows: Vec<TagIncidentHour> = sql::load(conn, &part.join(" UNION ALL "))?;
            for row in rows {
                if let Some(scan) = scans.get_mut(&row.tag_id) {
                    scan.best.push((row.hour, row.incident_id));
                }
            }
        }
        for scan in scans.values_mut() {
            scan.best.sort_unstable_by(|a, b| b.cmp(a));
            scan.best.truncate(limit);
        }
    }
    let incident_ids: Vec<i64> = scans.values().flat_map(|s| s.best.iter().map(|b| b.1)).collect();
    let titles: HashMap<i64, (String, String)> = if incident_ids.is_empty() {
        HashMap::new()
    } else {
        incidents::table
            .filter(incidents::id.eq_any(&incident_ids))
            .select((incidents::id, incidents::key, incidents::title))
            .load::<(i64, String, String)>(conn)?
            .into_iter()
            .map(|(id, key, title)| (id, (key, title)))
            .collect()
    };
    Ok(scans
        .into_iter()
        .map(|(tag, scan)| {
            let evidence = scan
                .best
                .iter()
                .filter_map(|(hour, id)| {
                    let (key, title) = titles.get(id)?;
                    Some(Evidence { key: key.clone(), title: title.clone(), date: format_ms(hour * HOUR_MS) })
                })
                .collect();
            (tag, evidence)
        })
        .collect())
}

/// Chart interval of a tag history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
    Week,
}

impl Interval {
    pub fn parse(raw: Option<&str>) -> Result<Interval, AppError> {
        match raw {
            None | Some("day") => Ok(Interval::Day),
            Some("hour") => Ok(Interval::Hour),
            Some("week") => Ok(Interval::Week),
            Some(other) => {
                Err(invalid("interval", format!("interval must be hour, day or week, not {other:?}")))
            }
        }
    }

    pub fn hours(self) -> i64 {
        match self {
            Interval::Hour => 1,
            Interval::Day => 24,
            Interval::Week => 24 * 7,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Start of the bucket.
    pub t: String,
    pub posts: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub tag: TagRef,
    pub interval: Interval,
    pub from: String,
    pub to: String,
    pub points: Vec<Point>,
}

/// Most buckets a history may have.
pub const MAX_POINTS: i64 = 5000;

/// Posts per interval for one tag; weeks start on Monday (UTC).
pub fn history(conn: &mut DbConn, tag: &Tag, interval: Interval, w: Window) -> Result<History, AppError> {
    let step = interval.hours();
    // 1970-01-01 was a Thursday: day 4 since the epoch is the first Monday.
    let align = |hour: i64| match interval {
        Interval::Week => hour - (hour - 4 * 24).rem_euclid(step),
        _ => hour - hour.rem_euclid(step),
    };
    let start = align(w.start_hour);
    let buckets = (w.end_hour - start + step - 1) / step;
    if buckets > MAX_POINTS {
        return Err(invalid(
            "interval",
            format!("that would be {buckets} points; use a wider interval or a shorter range"),
        ));
    }
    let mut points: Vec<Point> =
        (0..buckets.max(0)).map(|i| Point { t: format_ms((start + i * step) * HOUR_MS), posts: 0 }).collect();
    for (hour, n) in tag_hours_of(conn, tag.id, w)? {
        if let Some(point) = points.get_mut(((hour - start) / step) as usize) {
            point.posts += n;
        }
    }
    Ok(History { tag: tag_ref(tag), interval, from: w.from_text(), to: w.to_text(), points })
}

#[derive(Debug, Clone, Serialize)]
pub struct RelatedTag {
    pub tag: TagRef,
    /// Posts with both tags.
    pub together: i64,
    /// Posts with the related tag.
    pub posts: i64,
    pub npmi: f64,
    pub lift: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Related {
    pub tag: TagRef,
    pub window: WindowView,
    /// All posts in the window, and those with this tag.
    pub total_posts: i64,
    pub tag_posts: i64,
    pub min_together: i64,
    pub items: Vec<RelatedTag>,
}

/// Pair counts within a window: all pairs, or only the pairs containing `tag_id` (one arm per
/// side of the pair, each a range of a covering `(tag, hour, other tag, posts)` index).
fn pair_counts(conn: &mut DbConn, w: Window, tag_id: Option<i64>) -> QueryResult<Vec<PairCount>> {
    match tag_id {
        Some(id) => load_sql!(
            conn,
            "SELECT tag_a, tag_b, SUM(posts) AS n FROM tag_pair_hours \
             WHERE tag_a = ? AND hour >= ? AND hour < ? GROUP BY tag_a, tag_b \
             UNION ALL \
             SELECT tag_a, tag_b, SUM(posts) AS n FROM tag_pair_hours \
             WHERE tag_b = ? AND hour >= ? AND hour < ? GROUP BY tag_a, tag_b",
            [id, w.start_hour, w.end_hour, id, w.start_hour, w.end_hour]
        ),
        None => load_sql!(
            conn,
            "SELECT tag_a, tag_b, SUM(posts) AS n FROM tag_pair_hours WHERE hour >= ? AND hour < ? GROUP BY tag_a, tag_b",
            [w.start_hour, w.end_hour]
        ),
    }
}

/// Counts of the given pairs within a window, each read from its own primary-key range.
fn counts_of_pairs(
    conn: &mut DbConn,
    w: Window,
    pairs: &[[i64; 2]],
) -> QueryResult<HashMap<(i64, i64), i64>> {
    let mut out = HashMap::new();
    for part in pairs.chunks(BATCH_IDS) {
        let rows: Vec<PairCount> = sql::load(
            conn,
            &format!(
                "WITH k (a, b) AS (VALUES {}) \
                 SELECT p.tag_a, p.tag_b, CAST(SUM(p.posts) AS BIGINT) AS n \
                 FROM k JOIN tag_pair_hours p ON p.tag_a = k.a AND p.tag_b = k.b \
                 WHERE p.hour >= {} AND p.hour < {} GROUP BY p.tag_a, p.tag_b",
                sql::rows(part),
                w.start_hour,
                w.end_hour
            ),
        )?;
        out.extend(rows.into_iter().map(|p| ((p.tag_a, p.tag_b), p.n)));
    }
    Ok(out)
}

/// Most ids (or pairs) written into one statement.
const BATCH_IDS: usize = 1000;

/// Tags that co-occur with `tag`, ranked by NPMI among pairs seen at least `min_together` times.
pub fn related(
    conn: &mut DbConn,
    tag: &Tag,
    w: Window,
    min_together: i64,
    limit: usize,
) -> Result<Related, AppError> {
    let total = posts_total(conn, w)?;
    let pairs = pair_counts(conn, w, Some(tag.id))?;
    let others: Vec<i64> = pairs.iter().map(|p| if p.tag_a == tag.id { p.tag_b } else { p.tag_a }).collect();
    let names = tags_by_id(conn, &others)?;
    let mut wanted = others.clone();
    wanted.push(tag.id);
    let per_tag = posts_in(conn, w, Some(&wanted))?;
    let own = per_tag.get(&tag.id).copied().unwrap_or(0);
    let mut items: Vec<RelatedTag> = pairs
        .iter()
        .filter(|p| p.n >= min_together)
        .filter_map(|p| {
            let other = if p.tag_a == tag.id { p.tag_b } else { p.tag_a };
            let other_posts = per_tag.get(&other).copied().unwrap_or(0);
            let score = npmi(total as u64, own as u64, other_posts as u64, p.n as u64)?;
            Some(RelatedTag {
                tag: tag_ref(names.get(&other)?),
                together: p.n,
                posts: other_posts,
                npmi: score,
                lift: lift(total as u64, own as u64, other_posts as u64, p.n as u64).unwrap_or(0.0),
            })
        })
        .collect();
    items.sort_by(|a, b| b.npmi.total_cmp(&a.npmi).then(b.together.cmp(&a.together)));
    items.truncate(limit);
    Ok(Related {
        tag: tag_ref(tag),
        window: w.into(),
        total_posts: total,
        tag_posts: own,
        min_together,
        items,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub a: TagRef,
    pub b: TagRef,
    pub together: i64,
    /// Posts with both in the windows before (emerging pairs have few or none).
    pub before: i64,
    pub npmi: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pairs {
    pub window: WindowView,
    pub min_together: i64,
    pub strongest: Vec<Pair>,
    pub emerging: Vec<Pair>,
}

/// The strongest pairs in `w` by NPMI, and the pairs that are new compared with the four
/// windows before (seen at least `min_together` times now, at most once before).
pub fn pairs(conn: &mut DbConn, w: Window, min_together: i64, limit: usize) -> Result<Pairs, AppError> {
    let total = posts_total(conn, w)?;
    let now: Vec<PairCount> =
        pair_counts(conn, w, None)?.into_iter().filter(|p| p.n >= min_together).collect();
    let before_window = Window { start_hour: w.start_hour - 4 * w.hours(), end_hour: w.start_hour };
    let hidden = hidden_tags(conn)?;
    let now: Vec<PairCount> =
        now.into_iter().filter(|p| !hidden.contains(&p.tag_a) && !hidden.contains(&p.tag_b)).collect();
    let keys: Vec<[i64; 2]> = now.iter().map(|p| [p.tag_a, p.tag_b]).collect();
    let before = counts_of_pairs(conn, before_window, &keys)?;
    let mut ids: Vec<i64> = now.iter().flat_map(|p| [p.tag_a, p.tag_b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let names = tags_by_id(conn, &ids)?;
    let per_tag = if ids.is_empty() { HashMap::new() } else { posts_in(conn, w, Some(&ids))? };
    let mut all: Vec<Pair> = now
        .iter()
        .filter_map(|p| {
            let a = per_tag.get(&p.tag_a).copied().unwrap_or(0) as u64;
            let b = per_tag.get(&p.tag_b).copied().unwrap_or(0) as u64;
            Some(Pair {
                a: tag_ref(names.get(&p.tag_a)?),
                b: tag_ref(names.get(&p.tag_b)?),
                together: p.n,
                before: before.get(&(p.tag_a, p.tag_b)).copied().unwrap_or(0),
                npmi: npmi(total as u64, a, b, p.n as u64)?,
            })
        })
        .collect();
    all.sort_by(|x, y| y.npmi.total_cmp(&x.npmi).then(y.together.cmp(&x.together)));
    let mut emerging: Vec<Pair> = all.iter().filter(|p| p.before <= 1).cloned().collect();
    emerging.sort_by(|x, y| y.together.cmp(&x.together).then(y.npmi.total_cmp(&x.npmi)));
    emerging.truncate(limit);
    all.truncate(limit);
    Ok(Pairs { window: w.into(), min_together, strongest: all, emerging })
}

#[derive(Debug, Clone, Serialize)]
pub struct Rhythm {
    pub tag: TagRef,
    pub window: WindowView,
    /// Posts by hour of day, 0–23 (UTC).
    pub by_hour: Vec<i64>,
    /// Posts by day of week, Monday first (UTC).
    pub by_weekday: Vec<i64>,
}

/// When in the day and week a tag's posts happen.
pub fn rhythm(conn: &mut DbConn, tag: &Tag, w: Window) -> Result<Rhythm, AppError> {
    let mut by_hour = vec![0i64; 24];
    let mut by_weekday = vec![0i64; 7];
    for (hour, n) in tag_hours_of(conn, tag.id, w)? {
        by_hour[hour.rem_euclid(24) as usize] += n;
        // Day 0 (1970-01-01) was a Thursday: Monday-first index = (day + 3) mod 7.
        by_weekday[(hour.div_euclid(24) + 3).rem_euclid(7) as usize] += n;
    }
    Ok(Rhythm { tag: tag_ref(tag), window: w.into(), by_hour, by_weekday })
}

/// A term or tag over-represented in a set of posts.
#[derive(Debug, Clone, Serialize)]
pub struct Significant {
    pub term: String,
    /// Posts in the foreground that contain it, and the foreground size.
    pub fg_count: u64,
    pub fg_total: u64,
    /// The same over all posts.
    pub bg_count: u64,
    pub bg_total: u64,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Distinctive {
    pub subject: String,
    pub method: &'static str,
    pub words: Vec<Significant>,
    pub tags: Vec<Significant>,
}

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "was", "were", "with", "this", "that", "have", "has", "been", "from", "not",
    "but", "all", "our", "you", "your", "they", "their", "them", "its", "will", "can", "any", "some", "more",
    "into", "out", "also", "than", "then", "there", "these", "those", "what", "when", "which", "who",
    "while", "about", "after", "again", "being", "both", "each", "just", "only", "over", "such", "very",
    "would", "could", "should",
];

/// The distinct lower-cased words of a body worth scoring (three letters or more, not
/// numbers, not stop words, not tags).
pub fn words_of(body: &str) -> Vec<String> {
    let mut out: Vec<String> = body
        .split(|c: char| !c.is_alphanumeric() && c != '#')
        .filter(|w| !w.starts_with('#'))
        .map(str::to_lowercase)
        .filter(|w| {
            w.chars().count() >= 3 && !w.chars().all(|c| c.is_numeric()) && !STOP_WORDS.contains(&w.as_str())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Scores foreground counts against background counts with JLH.
pub fn significant(
    foreground: &BTreeMap<String, u64>,
    fg_total: u64,
    mut background: impl FnMut(&str) -> u64,
    bg_total: u64,
    min_fg: u64,
    limit: usize,
) -> Vec<Significant> {
    let mut out: Vec<Significant> = foreground
        .iter()
        .filter(|(_, n)| **n >= min_fg)
        .map(|(term, n)| {
            // A term is always in the background at least as often as in the foreground.
            let bg_count = background(term).max(*n);
            Significant {
                term: term.clone(),
                fg_count: *n,
                fg_total,
                bg_count,
                bg_total,
                score: jlh(*n, fg_total, bg_count, bg_total.max(fg_total)),
            }
        })
        .filter(|s| s.score > 0.0)
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.term.cmp(&b.term)));
    out.truncate(limit);
    out
}

/// All-time posts per tag key, and all posts (the background of distinctive tags).
pub fn tag_background(conn: &mut DbConn) -> QueryResult<(HashMap<String, u64>, u64)> {
    let all = Window { start_hour: i64::MIN / 4, end_hour: i64::MAX / 4 };
    let per_tag = posts_in(conn, all, None)?;
    let ids: Vec<i64> = per_tag.keys().copied().collect();
    let names = tags_by_id(conn, &ids)?;
    let by_key =
        per_tag.into_iter().filter_map(|(id, n)| Some((names.get(&id)?.key.clone(), n as u64))).collect();
    Ok((by_key, posts_total(conn, all)? as u64))
}
