//! The queries behind each trend endpoint. They read the hourly rollups (and, for
//! distinctive terms, one incident's or tag's own posts plus the search index's document
//! frequencies), never a scan of all posts.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

use super::rollups::HOUR_MS;
use super::score::{jlh, lift, npmi, trend_score, TrendScore};
use super::windows::Window;
use crate::db::schema::{incidents, tags};
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
struct SlotCount {
    #[diesel(sql_type = BigInt)]
    tag_id: i64,
    #[diesel(sql_type = BigInt)]
    slot: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
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
}

impl From<Window> for WindowView {
    fn from(w: Window) -> Self {
        WindowView { from: w.from_text(), to: w.to_text(), hours: w.hours() }
    }
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

/// Posts per tag within a window.
fn posts_per_tag(conn: &mut DbConn, w: Window) -> QueryResult<HashMap<i64, i64>> {
    let rows: Vec<TagCount> = load_sql!(
        conn,
        "SELECT tag_id, SUM(posts) AS n FROM tag_hours WHERE hour >= ? AND hour < ? GROUP BY tag_id",
        [w.start_hour, w.end_hour]
    )?;
    Ok(rows.into_iter().map(|r| (r.tag_id, r.n)).collect())
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

/// Distinct members per tag and window slot (0 = `w`, 1.. = the windows before it), only
/// for tags active in `w`.
fn distinct_by_slot(
    conn: &mut DbConn,
    table: &str,
    member: &str,
    w: Window,
    slots: i64,
) -> QueryResult<Vec<SlotCount>> {
    let sql = format!(
        "SELECT tag_id, (? - 1 - hour) / ? AS slot, COUNT(DISTINCT {member}) AS n FROM {table} \
         WHERE hour >= ? AND hour < ? \
           AND tag_id IN (SELECT tag_id FROM tag_hours WHERE hour >= ? AND hour < ?) \
         GROUP BY tag_id, slot"
    );
    let hours = w.hours();
    load_sql!(
        conn,
        &sql,
        [w.end_hour, hours, w.end_hour - hours * (slots + 1), w.end_hour, w.start_hour, w.end_hour]
    )
}

/// Tags whose activity in `w` is well above their own previous windows.
pub fn trending(conn: &mut DbConn, w: Window, limit: usize) -> Result<Trending, AppError> {
    // Four weeks of history, as many windows of the same length as fit (at least one).
    let baseline_windows = (28 * 24 / w.hours()).clamp(1, 28);
    let mut activity: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for (index, (table, member)) in
        [("tag_hour_authors", "author_id"), ("tag_hour_incidents", "incident_id")].iter().enumerate()
    {
        for row in distinct_by_slot(conn, table, member, w, baseline_windows)? {
            let slots =
                activity.entry(row.tag_id).or_insert_with(|| vec![(0, 0); baseline_windows as usize + 1]);
            if let Some(slot) = slots.get_mut(row.slot as usize) {
                if index == 0 {
                    slot.0 = row.n;
                } else {
                    slot.1 = row.n;
                }
            }
        }
    }
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
    let posts = posts_per_tag(conn, w)?;
    let spark_window = Window { start_hour: w.end_hour - w.hours() * 4, end_hour: w.end_hour };
    let mut items = Vec::new();
    for (tag_id, score, authors, incidents) in scored {
        let Some(tag) = names.get(&tag_id) else { continue };
        let hours = tag_hours_of(conn, tag_id, spark_window)?;
        // First seen = the hour of its earliest post (imports can backdate posts, so the
        // tag row's own creation time would mislead).
        let first: Vec<TagCount> = load_sql!(
            conn,
            "SELECT tag_id, MIN(hour) AS n FROM tag_hours WHERE tag_id = ? GROUP BY tag_id",
            [tag_id]
        )?;
        let first_hour = first.first().map(|r| r.n).unwrap_or(w.start_hour);
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

fn count_per_tag(
    conn: &mut DbConn,
    table: &str,
    member: &str,
    w: Window,
    tag_ids: &[i64],
) -> QueryResult<HashMap<i64, i64>> {
    let mut out = HashMap::new();
    for tag_id in tag_ids {
        let sql = format!("SELECT ? AS tag_id, COUNT(DISTINCT {member}) AS n FROM {table} WHERE tag_id = ? AND hour >= ? AND hour < ?");
        let rows: Vec<TagCount> = load_sql!(conn, &sql, [*tag_id, *tag_id, w.start_hour, w.end_hour])?;
        out.insert(*tag_id, rows.first().map(|r| r.n).unwrap_or(0));
    }
    Ok(out)
}

/// Tags spanning the most distinct incidents in `w`, with the incidents as evidence.
pub fn recurring(conn: &mut DbConn, w: Window, limit: usize) -> Result<Recurring, AppError> {
    let top: Vec<TagCount> = load_sql!(
        conn,
        "SELECT tag_id, COUNT(DISTINCT incident_id) AS n FROM tag_hour_incidents \
         WHERE hour >= ? AND hour < ? GROUP BY tag_id ORDER BY n DESC, tag_id LIMIT ?",
        [w.start_hour, w.end_hour, (limit * 3) as i64]
    )?;
    let ids: Vec<i64> = top.iter().map(|t| t.tag_id).collect();
    let names = tags_by_id(conn, &ids)?;
    let authors = count_per_tag(conn, "tag_hour_authors", "author_id", w, &ids)?;
    let posts = posts_per_tag(conn, w)?;
    let mut items = Vec::new();
    for row in top {
        let Some(tag) = names.get(&row.tag_id) else { continue };
        let last_hour: Vec<TagCount> = load_sql!(
            conn,
            "SELECT CAST(0 AS BIGINT) AS tag_id, COALESCE(MAX(hour), 0) AS n FROM tag_hours WHERE tag_id = ? AND hour >= ? AND hour < ?",
            [row.tag_id, w.start_hour, w.end_hour]
        )?;
        let evidence = incidents_of(conn, row.tag_id, w, 20)?;
        items.push(RecurringTag {
            tag: tag_ref(tag),
            incidents: row.n,
            authors: authors.get(&row.tag_id).copied().unwrap_or(0),
            posts: posts.get(&row.tag_id).copied().unwrap_or(0),
            last_seen: format_ms(last_hour.first().map(|r| r.n).unwrap_or(0) * HOUR_MS),
            evidence,
        });
    }
    // Most incidents first; then more responders; then the most recent.
    items.sort_by(|a, b| {
        b.incidents.cmp(&a.incidents).then(b.authors.cmp(&a.authors)).then(b.last_seen.cmp(&a.last_seen))
    });
    items.truncate(limit);
    Ok(Recurring { window: w.into(), items })
}

/// The incidents a tag appeared on within `w`, most recent first.
pub fn incidents_of(conn: &mut DbConn, tag_id: i64, w: Window, limit: i64) -> QueryResult<Vec<Evidence>> {
    let firsts: Vec<TagCount> = load_sql!(
        conn,
        "SELECT incident_id AS tag_id, MIN(hour) AS n FROM tag_hour_incidents \
         WHERE tag_id = ? AND hour >= ? AND hour < ? GROUP BY incident_id ORDER BY n DESC LIMIT ?",
        [tag_id, w.start_hour, w.end_hour, limit]
    )?;
    let incident_ids: Vec<i64> = firsts.iter().map(|f| f.tag_id).collect();
    let titles: HashMap<i64, (String, String)> = incidents::table
        .filter(incidents::id.eq_any(&incident_ids))
        .select((incidents::id, incidents::key, incidents::title))
        .load::<(i64, String, String)>(conn)?
        .into_iter()
        .map(|(id, key, title)| (id, (key, title)))
        .collect();
    Ok(firsts
        .iter()
        .filter_map(|f| {
            let (key, title) = titles.get(&f.tag_id)?;
            Some(Evidence { key: key.clone(), title: title.clone(), date: format_ms(f.n * HOUR_MS) })
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

/// Pair counts within a window, optionally only pairs containing `tag_id`.
fn pair_counts(conn: &mut DbConn, w: Window, tag_id: Option<i64>) -> QueryResult<Vec<PairCount>> {
    match tag_id {
        Some(id) => load_sql!(
            conn,
            "SELECT tag_a, tag_b, SUM(posts) AS n FROM tag_pair_hours \
             WHERE (tag_a = ? OR tag_b = ?) AND hour >= ? AND hour < ? GROUP BY tag_a, tag_b",
            [id, id, w.start_hour, w.end_hour]
        ),
        None => load_sql!(
            conn,
            "SELECT tag_a, tag_b, SUM(posts) AS n FROM tag_pair_hours WHERE hour >= ? AND hour < ? GROUP BY tag_a, tag_b",
            [w.start_hour, w.end_hour]
        ),
    }
}

/// Tags that co-occur with `tag`, ranked by NPMI among pairs seen at least `min_together` times.
pub fn related(
    conn: &mut DbConn,
    tag: &Tag,
    w: Window,
    min_together: i64,
    limit: usize,
) -> Result<Related, AppError> {
    let total = posts_total(conn, w)?;
    let per_tag = posts_per_tag(conn, w)?;
    let own = per_tag.get(&tag.id).copied().unwrap_or(0);
    let pairs = pair_counts(conn, w, Some(tag.id))?;
    let others: Vec<i64> = pairs.iter().map(|p| if p.tag_a == tag.id { p.tag_b } else { p.tag_a }).collect();
    let names = tags_by_id(conn, &others)?;
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
    let per_tag = posts_per_tag(conn, w)?;
    let now: Vec<PairCount> =
        pair_counts(conn, w, None)?.into_iter().filter(|p| p.n >= min_together).collect();
    let before_window = Window { start_hour: w.start_hour - 4 * w.hours(), end_hour: w.start_hour };
    let before: HashMap<(i64, i64), i64> =
        pair_counts(conn, before_window, None)?.into_iter().map(|p| ((p.tag_a, p.tag_b), p.n)).collect();
    let mut ids: Vec<i64> = now.iter().flat_map(|p| [p.tag_a, p.tag_b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let names = tags_by_id(conn, &ids)?;
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
    let per_tag = posts_per_tag(conn, all)?;
    let ids: Vec<i64> = per_tag.keys().copied().collect();
    let names = tags_by_id(conn, &ids)?;
    let by_key =
        per_tag.into_iter().filter_map(|(id, n)| Some((names.get(&id)?.key.clone(), n as u64))).collect();
    Ok((by_key, posts_total(conn, all)? as u64))
}
