//! The bulk import path (`i2i import --bulk`): the same rules and the same result as the
//! ordinary import, but each chunk of lines costs a handful of multi-row statements instead
//! of a dozen statements per post. Authors, incidents and tags are resolved once per chunk,
//! and trend rollups are summed in memory and upserted once per chunk. An instance without
//! posts takes the quicker [`fresh`] load instead.

pub mod fresh;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use diesel::prelude::*;
use regex::Regex;

use crate::db::incidents::NewIncident;
use crate::db::posts::NewPost;
use crate::db::schema::{incidents, post_changes, post_mentions, post_tags, posts, users};
use crate::db::users::NewUser;
use crate::db::{now_ms, tags, Db, DbConn};
use crate::domain::rules::{self, IncidentStatus, Role};
use crate::domain::text;
use crate::error::AppError;
use crate::transfer::{parse_line, ImportReport, ParsedLine};
use crate::trends::rollups::{hour_of, Contribution};

/// Lines per transaction.
const CHUNK: usize = 5000;
/// Rows per multi-row statement (SQLite allows 32 766 bound values).
const ROWS: usize = 1000;

/// A line that passed the rules.
struct Parsed {
    username: String,
    created_at: i64,
    body: String,
    incident: Option<String>,
    key: String,
    tags: Vec<(String, String)>,
    mentions: Vec<String>,
}

fn parse(text: &str, pattern: &Regex) -> Result<Parsed, AppError> {
    // The same validation as the ordinary path, so both accept exactly the same lines.
    let line = parse_line(text)?;
    let key = line.import_key();
    let ParsedLine { username, created_at, body, incident: explicit } = line;
    // As in the ordinary path: an explicit incident wins, else a key written in the text.
    let incident = match explicit {
        Some(key) => Some(key),
        None => text::incident_refs(&body, pattern)
            .first()
            .map(|span| rules::parse_incident_key(&body[span.clone()]))
            .transpose()?,
    };
    let tags = text::distinct_hashtags(&body).into_iter().map(|t| (t.key, t.display)).collect();
    let mut mentions: Vec<String> = text::mentions(&body).into_iter().map(|m| m.username).collect();
    mentions.sort();
    mentions.dedup();
    Ok(Parsed { username, created_at, body, incident, key, tags, mentions })
}

/// Imports JSON lines; `on_chunk(bytes_read, report)` after each chunk. Into an instance
/// without posts this is the [`fresh`] load, which with `data_dir` also builds the search
/// index; otherwise chunk by chunk, and the server's indexer indexes the posts from the feed.
pub fn import<R: BufRead>(
    db: &Db,
    pattern: &Regex,
    mut reader: R,
    data_dir: Option<&Path>,
    mut on_chunk: impl FnMut(u64, &ImportReport),
) -> anyhow::Result<ImportReport> {
    if let Some(report) = fresh::import(db, pattern, &mut reader, data_dir, &mut on_chunk)? {
        return Ok(report);
    }
    import_chunked(db, pattern, reader, on_chunk)
}

/// The chunked path: each chunk of lines in its own transaction.
fn import_chunked<R: BufRead>(
    db: &Db,
    pattern: &Regex,
    reader: R,
    mut on_chunk: impl FnMut(u64, &ImportReport),
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut chunk: Vec<(usize, String)> = Vec::with_capacity(CHUNK);
    let mut bytes = 0u64;
    for (line_no, line) in crate::transfer::numbered_lines(reader) {
        let raw = line.context("reading input")?;
        bytes += raw.len() as u64 + 1;
        match String::from_utf8(raw) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => chunk.push((line_no, text)),
            Err(_) => report.reject(line_no, "line is not valid UTF-8".into()),
        }
        if chunk.len() >= CHUNK {
            import_chunk(db, pattern, std::mem::take(&mut chunk), &mut report)?;
            on_chunk(std::mem::take(&mut bytes), &report);
        }
    }
    import_chunk(db, pattern, chunk, &mut report)?;
    on_chunk(bytes, &report);
    Ok(report)
}

fn import_chunk(
    db: &Db,
    pattern: &Regex,
    chunk: Vec<(usize, String)>,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    let mut parsed = Vec::with_capacity(chunk.len());
    let mut seen_keys = HashSet::new();
    for (line_no, text) in chunk {
        match parse(&text, pattern) {
            Ok(p) if seen_keys.insert(p.key.clone()) => parsed.push(p),
            Ok(_) => report.duplicates += 1,
            Err(err) => report.reject(line_no, err.to_string()),
        }
    }
    if parsed.is_empty() {
        return Ok(());
    }
    let (imported, duplicates) =
        db.write_blocking(|conn| write_chunk(conn, parsed)).map_err(|err| anyhow::anyhow!("{err}"))?;
    report.imported += imported;
    report.duplicates += duplicates;
    Ok(())
}

/// Writes one chunk in the caller's transaction; returns (imported, already there).
fn write_chunk(conn: &mut DbConn, mut parsed: Vec<Parsed>) -> Result<(usize, usize), AppError> {
    let now = now_ms();
    let keys: Vec<&str> = parsed.iter().map(|p| p.key.as_str()).collect();
    let mut existing: HashSet<String> = HashSet::new();
    for part in keys.chunks(ROWS) {
        existing.extend(
            posts::table
                .filter(posts::import_key.eq_any(part))
                .select(posts::import_key.assume_not_null())
                .load::<String>(conn)?,
        );
    }
    let before = parsed.len();
    parsed.retain(|p| !existing.contains(&p.key));
    let duplicates = before - parsed.len();
    if parsed.is_empty() {
        return Ok((0, duplicates));
    }

    // Authors: imported ones get no password, so they cannot log in.
    let names: Vec<String> =
        parsed.iter().map(|p| p.username.clone()).collect::<HashSet<_>>().into_iter().collect();
    let mut user_ids = user_ids_existing(conn, &names)?;
    let missing: Vec<&String> = names.iter().filter(|n| !user_ids.contains_key(*n)).collect();
    let new_users: Vec<NewUser> = missing
        .iter()
        .map(|n| NewUser {
            username: n,
            display_name: n,
            role: Role::Responder.as_str(),
            password_hash: None,
            created_at: now,
        })
        .collect();
    for rows in new_users.chunks(ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(users::table).values(rows).execute(c))?;
    }
    user_ids.extend(user_ids_existing(conn, &missing.iter().map(|s| s.to_string()).collect::<Vec<_>>())?);

    // Incidents first named here are history: resolved, started at the time of the first
    // line (in file order) that names them, as the ordinary path does.
    let mut first_at: BTreeMap<String, i64> = BTreeMap::new();
    for p in &parsed {
        if let Some(key) = &p.incident {
            first_at.entry(key.clone()).or_insert(p.created_at);
        }
    }
    let incident_keys: Vec<String> = first_at.keys().cloned().collect();
    let mut incident_ids = incident_ids_of(conn, &incident_keys)?;
    let new_incidents: Vec<NewIncident> = first_at
        .iter()
        .filter(|(k, _)| !incident_ids.contains_key(*k))
        .map(|(k, at)| NewIncident {
            key: k,
            title: k,
            severity: None,
            status: IncidentStatus::Resolved.as_str(),
            service: None,
            started_at: *at,
            resolved_at: None,
            created_at: now,
            updated_at: now,
        })
        .collect();
    let created: Vec<String> = new_incidents.iter().map(|i| i.key.to_string()).collect();
    for rows in new_incidents.chunks(ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(incidents::table).values(rows).execute(c))?;
    }
    incident_ids.extend(incident_ids_of(conn, &created)?);

    // Tags: the first spelling in file order wins, as in the ordinary path.
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut wanted_keys = HashSet::new();
    for p in &parsed {
        for (key, display) in &p.tags {
            if wanted_keys.insert(key.clone()) {
                wanted.push((key.clone(), display.clone()));
            }
        }
    }
    let mut tag_ids: HashMap<String, i64> = HashMap::new();
    for part in wanted.chunks(ROWS) {
        for tag in tags::ensure(conn, part, now)? {
            tag_ids.insert(tag.key, tag.id);
        }
    }

    let post_ids = insert_posts(conn, &parsed, &user_ids, &incident_ids)?;

    // Links, mentions, the change feed and the rollups.
    let mut links = Vec::new();
    let mut contributions = Vec::new();
    for (p, id) in parsed.iter().zip(&post_ids) {
        let ids: Vec<i64> = p.tags.iter().filter_map(|(k, _)| tag_ids.get(k).copied()).collect();
        for tag in &ids {
            links.push((
                post_tags::post_id.eq(*id),
                post_tags::tag_id.eq(*tag),
                post_tags::created_at.eq(p.created_at),
            ));
        }
        contributions.push(Contribution {
            hour: hour_of(p.created_at),
            author_id: user_ids[&p.username],
            incident_id: p.incident.as_ref().and_then(|k| incident_ids.get(k).copied()),
            tag_ids: ids,
        });
    }
    for rows in links.chunks(ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(post_tags::table).values(rows).execute(c))?;
    }
    let mentioned: Vec<String> =
        parsed.iter().flat_map(|p| p.mentions.clone()).collect::<HashSet<_>>().into_iter().collect();
    let mention_ids = user_ids_existing(conn, &mentioned)?;
    let mention_rows: Vec<_> = parsed
        .iter()
        .zip(&post_ids)
        .flat_map(|(p, id)| {
            p.mentions
                .iter()
                .filter_map(|m| mention_ids.get(m))
                .map(|user| (post_mentions::post_id.eq(*id), post_mentions::user_id.eq(*user)))
                .collect::<Vec<_>>()
        })
        .collect();
    for rows in mention_rows.chunks(ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(post_mentions::table).values(rows).execute(c))?;
    }
    let feed: Vec<_> = post_ids
        .iter()
        .map(|id| {
            (post_changes::post_id.eq(*id), post_changes::kind.eq("upsert"), post_changes::created_at.eq(now))
        })
        .collect();
    for rows in feed.chunks(ROWS) {
        crate::on_backend!(conn, c => diesel::insert_into(post_changes::table).values(rows).execute(c))?;
    }
    crate::trends::rollups::add_many(conn, &contributions)?;
    Ok((parsed.len(), duplicates))
}

/// Inserts the chunk's posts in order and returns their ids.
///
/// On SQLite the writer holds the write lock, so ids can be numbered from the current maximum
/// and every column bound explicitly: that makes each 1,000 posts one multi-row statement.
/// Left to diesel, rows with a default (a `None` field, the id) go one statement each inside
/// a savepoint, and closing each statement then costs time in the savepoint's journal.
/// PostgreSQL numbers them from its sequence and hands them back with `RETURNING`.
fn insert_posts(
    conn: &mut DbConn,
    parsed: &[Parsed],
    user_ids: &HashMap<String, i64>,
    incident_ids: &HashMap<String, i64>,
) -> QueryResult<Vec<i64>> {
    let incident_of = |p: &Parsed| p.incident.as_ref().and_then(|k| incident_ids.get(k).copied());
    match conn {
        DbConn::Sqlite(c) => {
            let last: Option<i64> = posts::table.select(diesel::dsl::max(posts::id)).first(c)?;
            let first = last.unwrap_or(0) + 1;
            let ids: Vec<i64> = (first..).take(parsed.len()).collect();
            for (part, part_ids) in parsed.chunks(ROWS).zip(ids.chunks(ROWS)) {
                let rows: Vec<_> = part
                    .iter()
                    .zip(part_ids)
                    .map(|(p, id)| {
                        (
                            posts::id.eq(*id),
                            posts::author_id.eq(user_ids[&p.username]),
                            posts::body.eq(&p.body),
                            posts::incident_id.eq(incident_of(p)),
                            posts::reply_to.eq(None::<i64>),
                            posts::created_at.eq(p.created_at),
                            posts::import_key.eq(Some(&p.key)),
                        )
                    })
                    .collect();
                diesel::insert_into(posts::table).values(&rows).execute(c)?;
            }
            Ok(ids)
        }
        DbConn::Pg(c) => {
            let mut ids = Vec::with_capacity(parsed.len());
            for part in parsed.chunks(ROWS) {
                let rows: Vec<NewPost> = part
                    .iter()
                    .map(|p| NewPost {
                        author_id: user_ids[&p.username],
                        body: &p.body,
                        incident_id: incident_of(p),
                        reply_to: None,
                        created_at: p.created_at,
                        import_key: Some(&p.key),
                    })
                    .collect();
                let returned: Vec<(i64, Option<String>)> = diesel::insert_into(posts::table)
                    .values(&rows)
                    .returning((posts::id, posts::import_key))
                    .get_results(c)?;
                let by_key: HashMap<String, i64> =
                    returned.into_iter().filter_map(|(id, k)| Some((k?, id))).collect();
                ids.extend(part.iter().map(|p| by_key[&p.key]));
            }
            Ok(ids)
        }
    }
}

fn user_ids_existing(conn: &mut DbConn, names: &[String]) -> QueryResult<HashMap<String, i64>> {
    let mut out = HashMap::new();
    for part in names.chunks(ROWS) {
        let rows: Vec<(i64, String)> = users::table
            .filter(users::username.eq_any(part))
            .select((users::id, users::username))
            .load(conn)?;
        out.extend(rows.into_iter().map(|(id, name)| (name, id)));
    }
    Ok(out)
}

fn incident_ids_of(conn: &mut DbConn, keys: &[String]) -> QueryResult<HashMap<String, i64>> {
    let mut out = HashMap::new();
    for part in keys.chunks(ROWS) {
        let rows: Vec<(i64, String)> = incidents::table
            .filter(incidents::key.eq_any(part))
            .select((incidents::id, incidents::key))
            .load(conn)?;
        out.extend(rows.into_iter().map(|(id, key)| (key, id)));
    }
    Ok(out)
}
