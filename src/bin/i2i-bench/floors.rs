//! Floors: the same work with i2i's layers stripped away, so a figure can be read as "how far
//! above the cheapest possible" rather than in isolation. The engine floor runs the search mix
//! straight on tantivy, the HTTP floor serves a hello-world through the same actix-web and
//! reqwest stack, and the insert floor writes the corpus rows into a bare SQLite table.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use serde_json::{json, Value};

use i2i::search::searcher::{newest_first, Sort};
use i2i::search::shingles::CommonWords;

use crate::drive::{concurrent, threaded};
use crate::mix::QUERIES;
use crate::rows;

/// The query mix straight on tantivy (no HTTP, no count, facets, snippets or post loading),
/// each query in the order i2i gives it:
/// the engine floor, once on one thread (the latency floor) and once on 8 threads
/// sharing one searcher (the throughput the HTTP mix at c8 could reach at best).
pub fn engine(search: &i2i::search::SearchIndex, rounds: usize) -> anyhow::Result<(Value, Value)> {
    use tantivy::collector::TopDocs;
    let generation = search.current().ok_or_else(|| anyhow::anyhow!("index not open"))?;
    let searcher = generation.reader.searcher();
    let mut analyzers = i2i::search::plan::Analyzers::of(&generation, &search.fields)?;
    let compiled = QUERIES
        .iter()
        .map(|q| match i2i::search::query::parse(q.i2i) {
            Ok(Some(node)) => Ok((
                i2i::search::plan::compile(&node, &search.fields, &mut analyzers),
                Sort::default_for(Some(&node)),
            )),
            Ok(None) => Err(anyhow::anyhow!("{}: empty query", q.i2i)),
            Err(err) => Err(anyhow::anyhow!("{}: {err}", q.i2i)),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let run = |searcher: &mut tantivy::Searcher, i: usize| {
        let (query, sort) = &compiled[i % compiled.len()];
        let query = query.as_ref();
        let page = TopDocs::with_limit(20);
        // In i2i's order (a tag's newest 20 read its dates; its best-scored 20 would stop at
        // the first block).
        match sort {
            Sort::Relevance => {
                searcher.search(query, &page)?;
            }
            Sort::Recent => {
                searcher.search(query, &newest_first(page))?;
            }
        }
        Ok(())
    };
    let total = QUERIES.len() * rounds;
    let single = threaded(vec![searcher.clone()], total, Duration::MAX, run)?.mix();
    let eight = threaded(vec![searcher; 8], total, Duration::MAX, run)?.mix();
    Ok((single, eight))
}

async fn hello() -> HttpResponse {
    HttpResponse::Ok().json(json!({"hello": "world"}))
}

/// A bare actix-web server in this process (default worker count, like i2i's), hit by the
/// same client at the same concurrency and request count as the search mix: what any search
/// answer costs before i2i does anything.
pub async fn http(client: &reqwest::Client, total: usize) -> anyhow::Result<Value> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = Arc::new(format!("http://127.0.0.1:{}/hello", listener.local_addr()?.port()));
    let server = HttpServer::new(|| App::new().route("/hello", web::get().to(hello)))
        .listen(listener)?
        .shutdown_timeout(1)
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    let client = client.clone();
    let figures = concurrent(8, total, move |_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let response = client.get(url.as_str()).send().await?;
            anyhow::ensure!(response.status().is_success(), "/hello answered {}", response.status());
            let _: Value = response.json().await?;
            Ok(())
        }
    })
    .await;
    handle.stop(true).await;
    Ok(figures?.summary())
}

diesel::table! {
    #[sql_name = "posts"]
    floor_posts (id) {
        id -> BigInt,
        author_id -> BigInt,
        body -> Text,
        created_at -> BigInt,
    }
}

/// Rows per write transaction, as the issue suggests; large enough that commits are cheap.
const FLOOR_BATCH: usize = 1000;
/// Posts per batch of the index-build floor: the bulk loader's chunk, so its first batch
/// chooses the common words from as many posts as the loader's does.
const INDEX_FLOOR_BATCH: usize = 5000;

/// Opens a SQLite file with the app's pragmas (WAL, synchronous=NORMAL), so a floor or peer
/// pays the same durability price as i2i.
pub fn open_sqlite(path: &Path) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
    // One statement each: SQLite runs only the first statement of a batch sent this way.
    for pragma in ["PRAGMA busy_timeout = 10000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"]
    {
        diesel::sql_query(pragma).execute(&mut conn)?;
    }
    Ok(conn)
}

/// Inserts every corpus row into a bare `posts(id, author_id, body, created_at)` table in a
/// fresh file, 1000 rows per `BEGIN IMMEDIATE` transaction through one prepared statement
/// (diesel caches the single-row insert). Only the transactions are timed, not JSON parsing.
pub fn insert(dir: &Path, corpus: &Path) -> anyhow::Result<Value> {
    let path = dir.join("insert-floor.db");
    let mut conn = open_sqlite(&path)?;
    diesel::sql_query(
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL, body TEXT NOT NULL, \
         created_at INTEGER NOT NULL)",
    )
    .execute(&mut conn)?;
    let mut authors: HashMap<String, i64> = HashMap::new();
    let mut spent = Duration::ZERO;
    let mut count = 0usize;
    rows::batches(corpus, FLOOR_BATCH, |batch| {
        // Authors become small integer ids, as the app's users table would give them.
        let ids: Vec<i64> = batch
            .iter()
            .map(|row| {
                let fresh = authors.len() as i64 + 1;
                *authors.entry(row.author.clone()).or_insert(fresh)
            })
            .collect();
        let started = Instant::now();
        conn.immediate_transaction(|conn| {
            for (row, author) in batch.iter().zip(&ids) {
                diesel::insert_into(floor_posts::table)
                    .values((
                        floor_posts::author_id.eq(author),
                        floor_posts::body.eq(&row.body),
                        floor_posts::created_at.eq(row.created_at),
                    ))
                    .execute(conn)?;
            }
            diesel::QueryResult::Ok(())
        })?;
        spent += started.elapsed();
        count += batch.len();
        Ok(())
    })?;
    drop(conn);
    Ok(json!({
        "rows": count,
        "batch": FLOOR_BATCH,
        "seconds": spent.as_secs_f64(),
        "per_second": count as f64 / spent.as_secs_f64().max(1e-9),
        "bytes": crate::resources::sqlite_bytes(&path),
    }))
}

/// The index-build floor: the corpus's documents (i2i's schema and document builder, no
/// incident fields) indexed straight into a fresh tantivy index with both cores and the
/// bulk loader's memory budget per thread (as `i2i reindex`), then committed and merged. No
/// database is read or written; the bulk load cannot beat this rate, since it builds the
/// same index. Only indexing and the commit are timed, not reading the corpus.
pub fn index_build(dir: &Path, corpus: &Path) -> anyhow::Result<Value> {
    let path = dir.join("index-floor");
    std::fs::create_dir_all(&path)?;
    let (schema, fields) = i2i::search::schema::build();
    let index = tantivy::Index::create_in_dir(&path, schema)?;
    let mut writer: Option<tantivy::IndexWriter> = None;
    let started = Instant::now();
    let mut count = 0usize;
    rows::batches(corpus, INDEX_FLOOR_BATCH, |batch| {
        // As the bulk loader, the first batch chooses the words that pair up.
        let writer = match writer.as_mut() {
            Some(writer) => writer,
            None => {
                let common = CommonWords::from_sample(batch.iter().map(|row| row.body.as_str()));
                i2i::search::shingles::register(&index, Arc::new(common));
                writer.insert(index.writer_with_num_threads(2, 800_000_000)?)
            }
        };
        for row in &batch {
            let parts = i2i::search::documents::DocumentParts {
                id: row.id,
                body: &row.body,
                tag_keys: row.tags.iter().map(String::as_str).collect(),
                author: &row.author,
                incident: None,
                reply: false,
                created_at: row.created_at,
            };
            writer.add_document(i2i::search::documents::build(&fields, &parts))?;
        }
        count += batch.len();
        Ok(())
    })?;
    if let Some(mut writer) = writer {
        writer.commit()?;
        writer.wait_merging_threads()?;
    }
    let spent = started.elapsed();
    let bytes = crate::resources::dir_bytes(&path);
    let _ = std::fs::remove_dir_all(&path);
    Ok(json!({
        "rows": count,
        "seconds": spent.as_secs_f64(),
        "per_second": count as f64 / spent.as_secs_f64().max(1e-9),
        "bytes": bytes,
    }))
}
