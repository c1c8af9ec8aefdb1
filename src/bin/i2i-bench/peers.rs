//! Peers: the same corpus and the same search mix on the two engines a team would otherwise
//! reach for, SQLite FTS5 and PostgreSQL full-text search, set up the way their manuals
//! suggest. Each loads the corpus rows, reports load time and size, counts the hits of every
//! query (a check that the three engines answer comparable questions) and runs the mix at
//! concurrency 8 with one connection per thread.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;
use serde_json::{json, Value};

use crate::drive::{threaded, PEER_BUDGET};
use crate::floors::open_sqlite;
use crate::mix::{MixQuery, QUERIES};
use crate::resources::sqlite_bytes;
use crate::rows;

/// Search threads (and connections) per peer: the concurrency of the HTTP search mix.
const CONCURRENCY: usize = 8;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)] // Loaded so the driver fetches the rows, never read.
    id: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn hits_json(counts: &[i64]) -> Value {
    Value::Object(QUERIES.iter().zip(counts).map(|(q, n)| (q.name.to_string(), json!(n))).collect())
}

// ----------------------------------------------------------------------------------------
// SQLite FTS5
// ----------------------------------------------------------------------------------------

diesel::table! {
    posts_fts (rowid) {
        rowid -> BigInt,
        body -> Text,
        tags -> Text,
        created_at -> BigInt,
    }
}

/// The FTS5 statement for `query`: `count` for the hit total, else the top 20 ids, by bm25
/// when the query has text and newest first when it is a filter only (as i2i sorts).
fn fts5_sql(query: &MixQuery, count: bool) -> String {
    let select = if count { "count(*) AS n" } else { "rowid AS id" };
    let mut sql = format!("SELECT {select} FROM posts_fts WHERE posts_fts MATCH ?");
    if query.after {
        sql.push_str(" AND created_at >= ?");
    }
    if !count {
        sql.push_str(if query.has_text() { " ORDER BY rank" } else { " ORDER BY created_at DESC" });
        sql.push_str(" LIMIT 20");
    }
    sql
}

fn fts5_bound<'a>(
    sql: &str,
    query: &'static MixQuery,
    after_ms: i64,
) -> diesel::query_builder::BoxedSqlQuery<'a, Sqlite, diesel::query_builder::SqlQuery> {
    let mut bound = diesel::sql_query(sql).into_boxed::<Sqlite>().bind::<Text, _>(query.fts5);
    if query.after {
        bound = bound.bind::<BigInt, _>(after_ms);
    }
    bound
}

/// Loads the corpus into an FTS5 table in a fresh file and runs the mix on it.
pub fn fts5(dir: &Path, corpus: &Path, rounds: usize, after_ms: i64) -> anyhow::Result<Value> {
    let path = dir.join("fts5.db");
    let mut conn = open_sqlite(&path)?;
    // Porter over unicode61: stemmed English words, as i2i's `en_stem` field. `created_at` is
    // stored unindexed and filtered row by row after MATCH, which is how FTS5 is used for a
    // date bound unless one adds a side table.
    diesel::sql_query(
        "CREATE VIRTUAL TABLE posts_fts USING fts5(body, tags, created_at UNINDEXED, \
         tokenize = 'porter unicode61')",
    )
    .execute(&mut conn)
    .map_err(|err| {
        if err.to_string().contains("no such module") {
            anyhow::anyhow!("the bundled SQLite has no FTS5 compiled in ({err})")
        } else {
            anyhow::Error::from(err)
        }
    })?;
    // Rank by the body only: a tag's tokens are already in the body (`#t-ra`), counting them
    // twice would skew bm25 compared with the other engines.
    diesel::sql_query("INSERT INTO posts_fts(posts_fts, rank) VALUES ('rank', 'bm25(1.0, 0.0)')")
        .execute(&mut conn)?;

    let mut spent = Duration::ZERO;
    let mut count = 0usize;
    rows::batches(corpus, 1000, |batch| {
        let started = Instant::now();
        conn.immediate_transaction(|conn| {
            for row in &batch {
                diesel::insert_into(posts_fts::table)
                    .values((
                        posts_fts::rowid.eq(row.id),
                        posts_fts::body.eq(&row.body),
                        posts_fts::tags.eq(row.tags.join(" ")),
                        posts_fts::created_at.eq(row.created_at),
                    ))
                    .execute(conn)?;
            }
            diesel::QueryResult::Ok(())
        })?;
        spent += started.elapsed();
        count += batch.len();
        Ok(())
    })?;
    // Merge the b-tree segments into one, as one would after a bulk load; reported apart.
    let started = Instant::now();
    diesel::sql_query("INSERT INTO posts_fts(posts_fts) VALUES ('optimize')").execute(&mut conn)?;
    let optimize = started.elapsed();
    diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn)?;
    let load_seconds = (spent + optimize).as_secs_f64();
    let load = json!({
        "rows": count,
        "insert_seconds": spent.as_secs_f64(),
        "optimize_seconds": optimize.as_secs_f64(),
        "seconds": load_seconds,
        "per_second": count as f64 / load_seconds.max(1e-9),
        "bytes": sqlite_bytes(&path),
    });

    let mut counts = Vec::new();
    for query in QUERIES {
        let found: Vec<Count> = fts5_bound(&fts5_sql(query, true), query, after_ms).load(&mut conn)?;
        counts.push(found.first().map(|c| c.n).unwrap_or(0));
    }
    drop(conn);

    let statements: Vec<String> = QUERIES.iter().map(|q| fts5_sql(q, false)).collect();
    let connections = (0..CONCURRENCY).map(|_| open_sqlite(&path)).collect::<anyhow::Result<Vec<_>>>()?;
    let search =
        threaded(connections, QUERIES.len() * rounds, PEER_BUDGET, |conn: &mut SqliteConnection, i| {
            let k = i % QUERIES.len();
            let _: Vec<Id> = fts5_bound(&statements[k], &QUERIES[k], after_ms).load(conn)?;
            Ok(())
        })?
        .mix();
    Ok(json!({"load": load, "search_c8": search, "hits": hits_json(&counts)}))
}

// ----------------------------------------------------------------------------------------
// PostgreSQL full-text search
// ----------------------------------------------------------------------------------------

diesel::table! {
    #[sql_name = "posts"]
    pg_posts (id) {
        id -> BigInt,
        author -> Text,
        body -> Text,
        tags -> Array<Text>,
        created_at -> BigInt,
    }
}

#[derive(Insertable)]
#[diesel(table_name = pg_posts, treat_none_as_default_value = false)]
struct PgRow {
    id: i64,
    author: String,
    body: String,
    tags: Vec<String>,
    created_at: i64,
}

/// Rows per `COPY`: bounded so the rows in flight stay small at 1M posts.
const COPY_BATCH: usize = 10_000;

/// A schema of this run's own, dropped when the run ends, on error paths too.
struct Schema {
    conn: PgConnection,
    name: String,
    dropped: bool,
}

impl Schema {
    fn create(url: &str) -> anyhow::Result<Schema> {
        let mut conn = PgConnection::establish(url).context("connecting to I2I_BENCH_POSTGRES_URL")?;
        let name = format!("bench_{}", std::process::id());
        diesel::sql_query(format!("DROP SCHEMA IF EXISTS {name} CASCADE")).execute(&mut conn)?;
        diesel::sql_query(format!("CREATE SCHEMA {name}")).execute(&mut conn)?;
        diesel::sql_query(format!("SET search_path TO {name}")).execute(&mut conn)?;
        Ok(Schema { conn, name, dropped: false })
    }

    fn connect(&self, url: &str) -> anyhow::Result<PgConnection> {
        let mut conn = PgConnection::establish(url)?;
        diesel::sql_query(format!("SET search_path TO {}", self.name)).execute(&mut conn)?;
        Ok(conn)
    }

    fn drop_schema(&mut self) -> anyhow::Result<()> {
        self.dropped = true;
        diesel::sql_query(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)).execute(&mut self.conn)?;
        Ok(())
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if !self.dropped {
            if let Err(err) = self.drop_schema() {
                eprintln!("could not drop PostgreSQL schema {}: {err:#}", self.name);
            }
        }
    }
}

/// The PostgreSQL statement for `query`, with `$n` placeholders in bind order (text, tag,
/// after). Text queries rank with `ts_rank`, filter-only ones sort newest first.
fn pg_sql(query: &MixQuery, count: bool) -> String {
    let select = if count { "count(*) AS n" } else { "id" };
    let mut from = String::from("posts");
    let mut conditions = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if query.has_text() {
        from.push_str(&format!(", websearch_to_tsquery('english', {}) q", next()));
        conditions.push("tsv @@ q".to_string());
    }
    if query.tag.is_some() {
        conditions.push(format!("tags @> ARRAY[{}]::text[]", next()));
    }
    if query.after {
        conditions.push(format!("created_at >= {}", next()));
    }
    let mut sql = format!("SELECT {select} FROM {from} WHERE {}", conditions.join(" AND "));
    if !count {
        sql.push_str(if query.has_text() {
            " ORDER BY ts_rank(tsv, q) DESC LIMIT 20"
        } else {
            " ORDER BY created_at DESC LIMIT 20"
        });
    }
    sql
}

fn pg_bound<'a>(
    sql: &str,
    query: &'static MixQuery,
    after_ms: i64,
) -> diesel::query_builder::BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery> {
    let mut bound = diesel::sql_query(sql).into_boxed::<Pg>();
    if let Some(text) = query.pg_text {
        bound = bound.bind::<Text, _>(text);
    }
    if let Some(tag) = query.tag {
        bound = bound.bind::<Text, _>(tag);
    }
    if query.after {
        bound = bound.bind::<BigInt, _>(after_ms);
    }
    bound
}

/// Loads the corpus into a fresh schema on `url` and runs the mix; the schema is dropped
/// afterwards whatever happens.
pub fn postgres(url: &str, corpus: &Path, rounds: usize, after_ms: i64) -> anyhow::Result<Value> {
    let mut schema = Schema::create(url)?;
    let outcome = postgres_in(&mut schema, url, corpus, rounds, after_ms);
    let dropped = schema.drop_schema();
    let figures = outcome?;
    dropped?;
    Ok(figures)
}

fn postgres_in(
    schema: &mut Schema,
    url: &str,
    corpus: &Path,
    rounds: usize,
    after_ms: i64,
) -> anyhow::Result<Value> {
    let conn = &mut schema.conn;
    // The stemmed tsvector is a stored generated column, as the PostgreSQL manual
    // recommends, so ranking never re-parses bodies.
    diesel::sql_query(
        "CREATE TABLE posts (id bigint PRIMARY KEY, author text NOT NULL, body text NOT NULL, \
         tags text[] NOT NULL, created_at bigint NOT NULL, \
         tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED)",
    )
    .execute(conn)?;
    let started = Instant::now();
    let mut count = 0usize;
    rows::batches(corpus, COPY_BATCH, |batch| {
        let records: Vec<PgRow> = batch
            .into_iter()
            .map(|r| PgRow {
                id: r.id,
                author: r.author,
                body: r.body,
                tags: r.tags,
                created_at: r.created_at,
            })
            .collect();
        count += diesel::copy_from(pg_posts::table).from_insertable(&records).execute(conn)?;
        Ok(())
    })?;
    let copy = started.elapsed();
    // Indexes after the load, the usual bulk-load order; a larger maintenance_work_mem lets
    // the GIN builds run in memory.
    let started = Instant::now();
    for statement in [
        "SET maintenance_work_mem = '256MB'",
        "CREATE INDEX posts_tsv ON posts USING gin (tsv)",
        "CREATE INDEX posts_tags ON posts USING gin (tags)",
        "CREATE INDEX posts_created_at ON posts (created_at)",
        "VACUUM (ANALYZE) posts",
    ] {
        diesel::sql_query(statement).execute(conn)?;
    }
    let index = started.elapsed();
    let seconds = (copy + index).as_secs_f64();
    let size: Vec<Count> =
        diesel::sql_query("SELECT pg_total_relation_size('posts') AS n").load(conn).context("table size")?;
    let load = json!({
        "rows": count,
        "copy_seconds": copy.as_secs_f64(),
        "index_seconds": index.as_secs_f64(),
        "seconds": seconds,
        "per_second": count as f64 / seconds.max(1e-9),
        "bytes": size.first().map(|c| c.n).unwrap_or(0),
    });

    let mut counts = Vec::new();
    for query in QUERIES {
        let found: Vec<Count> = pg_bound(&pg_sql(query, true), query, after_ms).load(conn)?;
        counts.push(found.first().map(|c| c.n).unwrap_or(0));
    }

    // Plain connections, one per thread, closed before the schema is dropped (no pool: r2d2
    // would open spares on background threads, which can crash libpq's TLS at exit).
    let statements: Vec<String> = QUERIES.iter().map(|q| pg_sql(q, false)).collect();
    let connections =
        (0..CONCURRENCY).map(|_| schema.connect(url)).collect::<anyhow::Result<Vec<PgConnection>>>()?;
    let search = threaded(connections, QUERIES.len() * rounds, PEER_BUDGET, |conn: &mut PgConnection, i| {
        let k = i % QUERIES.len();
        let _: Vec<Id> = pg_bound(&statements[k], &QUERIES[k], after_ms).load(conn)?;
        Ok(())
    })?
    .mix();
    Ok(json!({"load": load, "search_c8": search, "hits": hits_json(&counts)}))
}

/// The JSON of a run without PostgreSQL.
pub fn skipped() -> Value {
    json!({"skipped": "set I2I_BENCH_POSTGRES_URL"})
}
