//! The bulk load into an instance without posts (SQLite): the whole file in one
//! transaction, secondary indexes dropped while the rows go in and rebuilt once at the end,
//! trend rollups summed in memory and written once, and the search index built beside it
//! from the parsed lines instead of being replayed from the change feed afterwards.
//!
//! The result is the same as the chunked path's (a test compares them row for row); it is
//! only taken when there is nothing to merge with, so no existing row is ever touched.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use diesel::prelude::*;
use rayon::prelude::*;
use regex::Regex;
use tantivy::indexer::NoMergePolicy;
use tantivy::{IndexWriter, TantivyDocument};

use super::{parse, Parsed, CHUNK, ROWS};
use crate::db::changes::{self, FeedPosition};
use crate::db::schema::{incidents, post_changes, post_mentions, post_tags, posts, tags, users};
use crate::db::{now_ms, Backend, Db, DbConn};
use crate::domain::rules::{IncidentStatus, Role};
use crate::error::AppError;
use crate::search::documents::{self, DocumentParts, IncidentParts};
use crate::search::indexer::{commit, merge_all};
use crate::search::schema::SCHEMA_VERSION;
use crate::search::shingles::CommonWords;
use crate::search::{
    create_generation, generation_dir, highest_generation, set_current, Checkpoint, Generation, SearchIndex,
};
use crate::transfer::ImportReport;
use crate::trends::rollups::{self, hour_of, Contribution};

/// Tables whose secondary indexes are dropped during the load and rebuilt after it: every
/// table the load fills. Primary keys and UNIQUE constraints stay (they cannot be dropped,
/// and the upserts of the rollups rely on them).
const FILLED_TABLES: [&str; 12] = [
    "posts",
    "post_tags",
    "post_mentions",
    "post_hours",
    "tag_hours",
    "tag_hour_authors",
    "tag_hour_incidents",
    "tag_pair_hours",
    "tag_authors",
    "tag_incidents",
    "tag_days",
    "tag_weeks",
];

/// Page cache during the load. Within one transaction every page written stays in the cache
/// until it spills; the indexes left in place (the import key's above all) are updated at
/// random and must stay in memory. The connection's usual size is restored afterwards.
const LOAD_CACHE_KIB: i64 = 256 * 1024;

/// Threads of the index writer: the database work keeps one core busy, tantivy the other.
const INDEX_THREADS: usize = 1;
/// Memory of the index writer before it flushes a segment.
const INDEX_ARENA_BYTES: usize = 400_000_000;

/// An incident as its posts' documents need it.
struct KnownIncident {
    id: i64,
    status: String,
    service: Option<String>,
    severity: Option<String>,
}

/// Names and ids the load has resolved or created so far.
struct Catalogue {
    users: HashMap<String, i64>,
    incidents: HashMap<String, KnownIncident>,
    tags: HashMap<String, i64>,
    next_user: i64,
    next_incident: i64,
    next_tag: i64,
}

/// The search index being built beside the load.
struct IndexBuild {
    search: std::sync::Arc<SearchIndex>,
    generation: Generation,
    writer: IndexWriter<TantivyDocument>,
}

/// Loads `reader` into an instance that has no posts; `None` (having read nothing) when it
/// has some or is not on SQLite, and the caller takes the chunked path. With `data_dir`, the
/// search index is built too: a new generation, made current once the load has committed.
pub fn import<R: BufRead>(
    db: &Db,
    pattern: &Regex,
    reader: R,
    data_dir: Option<&Path>,
    mut on_chunk: impl FnMut(u64, &ImportReport),
) -> anyhow::Result<Option<ImportReport>> {
    if db.backend() != Backend::Sqlite {
        return Ok(None);
    }
    let empty =
        db.read_blocking(|conn| Ok(posts::table.select(posts::id).first::<i64>(conn).optional()?))?;
    if empty.is_some() {
        return Ok(None);
    }
    // Made at the first chunk, whose posts choose the index's common words.
    let mut index: Option<IndexBuild> = None;
    let mut finishing: Option<Finishing> = None;
    let started = Instant::now();
    let loaded = db.write_blocking(|conn| {
        // Checked again under the write lock: a post may have arrived since.
        if posts::table.select(posts::id).first::<i64>(conn).optional()?.is_some() {
            return Ok(None);
        }
        let mut build = Build { data_dir, index: &mut index, finishing: &mut finishing };
        load(conn, pattern, reader, &mut build, &mut on_chunk).map(Some)
    });
    let mut report = match loaded {
        Ok(Some(report)) => report,
        Ok(None) => {
            discard(index, finishing);
            return Ok(None);
        }
        Err(err) => {
            discard(index, finishing);
            return Err(anyhow::anyhow!("{err}"));
        }
    };
    // A checkpoint that fails (a reader holds the log) only leaves the log large for now.
    if let Err(err) = db.truncate_wal() {
        tracing::warn!(error = %err, "could not truncate the write-ahead log after the bulk load");
    }
    let in_transaction: f64 = report.phases.iter().map(|(_, seconds)| seconds).sum();
    report.phases.push(("database commit and checkpoint", started.elapsed().as_secs_f64() - in_transaction));
    if let Some(finishing) = finishing {
        // The posts are committed, so the index built from them may become current. If it
        // could not be finished, the server's indexer replays the change feed instead.
        let waited = Instant::now();
        let spent =
            finishing.handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the index thread panicked")));
        match spent {
            // The posts are in either way: an index that cannot be made current is left to
            // the indexer's replay rather than reported as a failed import.
            Ok(seconds) => match set_current(&finishing.root, finishing.number) {
                Ok(()) => report
                    .phases
                    .push(("search index commit and merge, beside the two phases above", seconds)),
                Err(err) => {
                    tracing::warn!(error = %err, "the bulk load's search index could not be made current")
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "the bulk load's search index was not finished; the indexer will catch up");
                let _ = std::fs::remove_dir_all(generation_dir(&finishing.root, finishing.number));
            }
        }
        report.phases.push(("waiting for the search index after the commit", waited.elapsed().as_secs_f64()));
    }
    Ok(Some(report))
}

/// The index's final commit and merge, running on its own thread while the database builds
/// rollups and indexes; gives the seconds it took.
struct Finishing {
    root: PathBuf,
    number: u64,
    handle: std::thread::JoinHandle<anyhow::Result<f64>>,
}

fn start_index(data_dir: &Path, common: CommonWords) -> anyhow::Result<IndexBuild> {
    let search = SearchIndex::new(data_dir);
    let root = search.root().to_path_buf();
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let generation = create_generation(&root, highest_generation(&root) + 1, common)?;
    let writer = generation.index.writer_with_num_threads(INDEX_THREADS, INDEX_ARENA_BYTES)?;
    // Segments are merged once, at the end (see `search::reindex`).
    writer.set_merge_policy(Box::new(NoMergePolicy));
    Ok(IndexBuild { search, generation, writer })
}

impl IndexBuild {
    /// Commits with `position` as the checkpoint and merges, on a thread of its own. The
    /// generation is not made current here: only once the database has committed.
    fn finish_in_background(self, position: FeedPosition) -> Finishing {
        let root = self.search.root().to_path_buf();
        let number = self.generation.number;
        let IndexBuild { generation, mut writer, .. } = self;
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let checkpoint = Checkpoint { schema: SCHEMA_VERSION, position, complete: true };
            commit(&generation, &mut writer, checkpoint)?;
            merge_all(&generation, &mut writer)?;
            writer.wait_merging_threads().context("finishing merges")?;
            Ok(started.elapsed().as_secs_f64())
        });
        Finishing { root, number, handle }
    }
}

/// Removes a generation that will not be used (the load failed or was not taken).
fn discard(index: Option<IndexBuild>, finishing: Option<Finishing>) {
    if let Some(build) = index {
        let dir = generation_dir(build.search.root(), build.generation.number);
        drop(build);
        let _ = std::fs::remove_dir_all(dir);
    }
    if let Some(finishing) = finishing {
        let _ = finishing.handle.join();
        let _ = std::fs::remove_dir_all(generation_dir(&finishing.root, finishing.number));
    }
}

/// The search index side of a load: where to build it (none without a data directory), the
/// build once started, and its final commit once handed off.
struct Build<'a> {
    data_dir: Option<&'a Path>,
    index: &'a mut Option<IndexBuild>,
    finishing: &'a mut Option<Finishing>,
}

/// The load itself, inside the write transaction. Once every row is written, the index
/// build (if any) is handed to [`Finishing`] with the feed position that covers them.
fn load<R: BufRead>(
    conn: &mut DbConn,
    pattern: &Regex,
    reader: R,
    build: &mut Build,
    on_chunk: &mut impl FnMut(u64, &ImportReport),
) -> Result<ImportReport, AppError> {
    let started = Instant::now();
    crate::trends::sql::execute(conn, &format!("PRAGMA cache_size = -{LOAD_CACHE_KIB}"))?;
    // Lets SQLite sort with a helper thread when it builds the indexes and groups the
    // coarse rollups, while the other core is otherwise idle after the rows are written.
    crate::trends::sql::execute(conn, "PRAGMA threads = 2")?;
    let indexes = drop_secondary_indexes(conn)?;
    let mut catalogue = catalogue(conn)?;
    let mut report = ImportReport::default();
    let mut seen: HashSet<u128> = HashSet::new();
    let mut contributions: Vec<Contribution> = Vec::new();
    let mut next_post = 1i64;
    let mut chunk: Vec<(usize, String)> = Vec::with_capacity(CHUNK);
    let mut bytes = 0u64;
    let mut lines = crate::transfer::numbered_lines(reader);
    loop {
        let next = lines.next();
        let done = next.is_none();
        if let Some((line_no, line)) = next {
            let raw =
                line.map_err(|err| AppError::Internal(anyhow::Error::new(err).context("reading input")))?;
            bytes += raw.len() as u64 + 1;
            match String::from_utf8(raw) {
                Ok(text) if text.trim().is_empty() => {}
                Ok(text) => chunk.push((line_no, text)),
                Err(_) => report.reject(line_no, "line is not valid UTF-8".into()),
            }
            if chunk.len() < CHUNK {
                continue;
            }
        }
        let parsed = parse_chunk(pattern, std::mem::take(&mut chunk), &mut seen, &mut report);
        let ids: Vec<i64> = (next_post..).take(parsed.len()).collect();
        next_post += parsed.len() as i64;
        write_chunk(conn, &parsed, &ids, &mut catalogue, &mut contributions)?;
        if let (None, Some(dir)) = (build.index.as_ref(), build.data_dir) {
            let common = CommonWords::from_sample(parsed.iter().map(|p| p.body.as_str()));
            *build.index = Some(start_index(dir, common).map_err(AppError::Internal)?);
        }
        if let Some(index) = build.index.as_mut() {
            add_documents(index, &parsed, &ids, &catalogue)?;
        }
        report.imported += parsed.len();
        on_chunk(std::mem::take(&mut bytes), &report);
        if done {
            break;
        }
    }
    report.phases.push(("parse and write rows, queue documents", started.elapsed().as_secs_f64()));
    if let Some(index) = build.index.take() {
        *build.finishing =
            Some(index.finish_in_background(FeedPosition { txid: 0, seq: changes::head(conn)? }));
    }
    tracing::info!(posts = report.imported, "bulk load: rows written; writing trend rollups");
    let started = Instant::now();
    rollups::fill_empty(conn, &contributions)?;
    drop(contributions);
    report.phases.push(("trend rollups", started.elapsed().as_secs_f64()));
    tracing::info!(indexes = indexes.len(), "bulk load: rebuilding database indexes");
    let started = Instant::now();
    for sql in &indexes {
        crate::trends::sql::execute(conn, sql)?;
    }
    report.phases.push(("database indexes", started.elapsed().as_secs_f64()));
    crate::trends::sql::execute(conn, &format!("PRAGMA cache_size = -{}", crate::db::WRITER_CACHE_KIB))?;
    crate::trends::sql::execute(conn, "PRAGMA threads = 0")?;
    tracing::info!("bulk load: committing");
    Ok(report)
}

/// Parses a chunk on every core; keeps the first of lines with the same import key.
fn parse_chunk(
    pattern: &Regex,
    chunk: Vec<(usize, String)>,
    seen: &mut HashSet<u128>,
    report: &mut ImportReport,
) -> Vec<Parsed> {
    let results: Vec<(usize, Result<Parsed, String>)> = chunk
        .into_par_iter()
        .map(|(line_no, text)| (line_no, parse(&text, pattern).map_err(|err| err.to_string())))
        .collect();
    let mut parsed = Vec::with_capacity(results.len());
    for (line_no, result) in results {
        match result {
            // The key is 32 hex digits: kept as a number, a million of them take 16 MB.
            Ok(p) if seen.insert(u128::from_str_radix(&p.key, 16).unwrap_or_default()) => parsed.push(p),
            Ok(_) => report.duplicates += 1,
            Err(reason) => report.reject(line_no, reason),
        }
    }
    parsed
}

/// Every secondary index of the tables the load fills, dropped; returns their definitions.
fn drop_secondary_indexes(conn: &mut DbConn) -> Result<Vec<String>, AppError> {
    #[derive(QueryableByName)]
    struct IndexSql {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        sql: String,
    }
    let tables = FILLED_TABLES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
    let found: Vec<IndexSql> = crate::trends::sql::load(
        conn,
        &format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ({tables}) ORDER BY name"
        ),
    )?;
    for index in &found {
        // Names come from sqlite_master, quoted as identifiers.
        crate::trends::sql::execute(conn, &format!("DROP INDEX \"{}\"", index.name.replace('"', "\"\"")))?;
    }
    Ok(found.into_iter().map(|index| index.sql).collect())
}

fn catalogue(conn: &mut DbConn) -> QueryResult<Catalogue> {
    let users: HashMap<String, i64> =
        users::table.select((users::username, users::id)).load::<(String, i64)>(conn)?.into_iter().collect();
    let incidents: HashMap<String, KnownIncident> = incidents::table
        .select((incidents::key, incidents::id, incidents::status, incidents::service, incidents::severity))
        .load::<(String, i64, String, Option<String>, Option<String>)>(conn)?
        .into_iter()
        .map(|(key, id, status, service, severity)| (key, KnownIncident { id, status, service, severity }))
        .collect();
    let tags: HashMap<String, i64> =
        tags::table.select((tags::key, tags::id)).load::<(String, i64)>(conn)?.into_iter().collect();
    let next = |ids: &mut dyn Iterator<Item = i64>| ids.max().unwrap_or(0) + 1;
    Ok(Catalogue {
        next_user: next(&mut users.values().copied()),
        next_incident: next(&mut incidents.values().map(|i| i.id)),
        next_tag: next(&mut tags.values().copied()),
        users,
        incidents,
        tags,
    })
}

/// Writes one chunk's new authors, incidents and tags, its posts, links, mentions and feed
/// entries; adds its posts' rollup contributions to `contributions`.
fn write_chunk(
    conn: &mut DbConn,
    parsed: &[Parsed],
    ids: &[i64],
    catalogue: &mut Catalogue,
    contributions: &mut Vec<Contribution>,
) -> Result<(), AppError> {
    let DbConn::Sqlite(c) = conn else {
        return Err(AppError::Internal(anyhow::anyhow!("the fresh bulk load runs on SQLite only")));
    };
    let now = now_ms();
    // Authors, as the other paths create them: no password, so they cannot log in.
    let mut new_users = Vec::new();
    for p in parsed {
        if !catalogue.users.contains_key(&p.username) {
            catalogue.users.insert(p.username.clone(), catalogue.next_user);
            new_users.push((
                users::id.eq(catalogue.next_user),
                users::username.eq(p.username.clone()),
                users::display_name.eq(p.username.clone()),
                users::role.eq(Role::Responder.as_str()),
                users::created_at.eq(now),
            ));
            catalogue.next_user += 1;
        }
    }
    for rows in new_users.chunks(ROWS) {
        diesel::insert_into(users::table).values(rows).execute(c)?;
    }
    // Incidents first named here are history: resolved, started at their first line's time.
    let mut new_incidents = Vec::new();
    for p in parsed {
        let Some(key) = &p.incident else { continue };
        if catalogue.incidents.contains_key(key) {
            continue;
        }
        let id = catalogue.next_incident;
        catalogue.next_incident += 1;
        let status = IncidentStatus::Resolved.as_str();
        catalogue.incidents.insert(
            key.clone(),
            KnownIncident { id, status: status.to_string(), service: None, severity: None },
        );
        new_incidents.push((
            incidents::id.eq(id),
            incidents::key.eq(key.clone()),
            incidents::title.eq(key.clone()),
            incidents::status.eq(status),
            incidents::started_at.eq(p.created_at),
            incidents::created_at.eq(now),
            incidents::updated_at.eq(now),
        ));
    }
    for rows in new_incidents.chunks(ROWS) {
        diesel::insert_into(incidents::table).values(rows).execute(c)?;
    }
    // Tags: the first spelling in file order wins.
    let mut new_tags = Vec::new();
    for p in parsed {
        for (key, display) in &p.tags {
            if !catalogue.tags.contains_key(key) {
                catalogue.tags.insert(key.clone(), catalogue.next_tag);
                new_tags.push((
                    tags::id.eq(catalogue.next_tag),
                    tags::key.eq(key.clone()),
                    tags::display.eq(display.clone()),
                    tags::created_at.eq(now),
                ));
                catalogue.next_tag += 1;
            }
        }
    }
    for rows in new_tags.chunks(ROWS) {
        diesel::insert_into(tags::table).values(rows).execute(c)?;
    }

    let incident_of = |p: &Parsed| p.incident.as_ref().map(|key| catalogue.incidents[key].id);
    let mut post_rows = Vec::with_capacity(parsed.len());
    let mut links = Vec::new();
    let mut mentions = Vec::new();
    for (p, id) in parsed.iter().zip(ids) {
        let author = catalogue.users[&p.username];
        post_rows.push((
            posts::id.eq(*id),
            posts::author_id.eq(author),
            posts::body.eq(&p.body),
            posts::incident_id.eq(incident_of(p)),
            posts::created_at.eq(p.created_at),
            posts::import_key.eq(&p.key),
        ));
        let tag_ids: Vec<i64> = p.tags.iter().map(|(key, _)| catalogue.tags[key]).collect();
        for tag in &tag_ids {
            links.push((
                post_tags::post_id.eq(*id),
                post_tags::tag_id.eq(*tag),
                post_tags::created_at.eq(p.created_at),
            ));
        }
        // As in the chunked path: mentions of users known once this chunk's authors exist.
        for name in &p.mentions {
            if let Some(user) = catalogue.users.get(name) {
                mentions.push((post_mentions::post_id.eq(*id), post_mentions::user_id.eq(*user)));
            }
        }
        contributions.push(Contribution {
            hour: hour_of(p.created_at),
            author_id: author,
            incident_id: incident_of(p),
            tag_ids,
        });
    }
    for rows in post_rows.chunks(ROWS) {
        diesel::insert_into(posts::table).values(rows).execute(c)?;
    }
    for rows in links.chunks(ROWS) {
        diesel::insert_into(post_tags::table).values(rows).execute(c)?;
    }
    for rows in mentions.chunks(ROWS) {
        diesel::insert_into(post_mentions::table).values(rows).execute(c)?;
    }
    let feed: Vec<_> = ids
        .iter()
        .map(|id| {
            (post_changes::post_id.eq(*id), post_changes::kind.eq("upsert"), post_changes::created_at.eq(now))
        })
        .collect();
    for rows in feed.chunks(ROWS) {
        diesel::insert_into(post_changes::table).values(rows).execute(c)?;
    }
    Ok(())
}

/// Hands one chunk's documents to the index writer, whose own thread does the indexing.
fn add_documents(
    build: &mut IndexBuild,
    parsed: &[Parsed],
    ids: &[i64],
    catalogue: &Catalogue,
) -> Result<(), AppError> {
    for (p, id) in parsed.iter().zip(ids) {
        let incident = p.incident.as_ref().map(|key| {
            let known = &catalogue.incidents[key];
            IncidentParts {
                key,
                status: &known.status,
                service: known.service.as_deref(),
                severity: known.severity.as_deref(),
            }
        });
        let parts = DocumentParts {
            id: *id,
            body: &p.body,
            tag_keys: p.tags.iter().map(|(key, _)| key.as_str()).collect(),
            author: &p.username,
            incident,
            reply: false,
            created_at: p.created_at,
        };
        build
            .writer
            .add_document(documents::build(&build.search.fields, &parts))
            .map_err(|err| AppError::Internal(anyhow::Error::new(err).context("indexing")))?;
    }
    Ok(())
}
