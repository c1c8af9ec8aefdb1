//! `i2i-bench`: benchmark tooling. `generate` writes the deterministic synthetic corpus in
//! the import format; `run` loads it into a fresh instance and measures it in one process next
//! to its floors (tantivy alone, a hello-world over the same HTTP stack, raw SQLite inserts)
//! and its peers (SQLite FTS5, and PostgreSQL full-text search when a URL is given), then
//! prints Markdown tables with ratios and target checks and writes every figure as JSON.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod drive;
mod floors;
mod load;
mod mix;
mod nodes;
mod peers;
mod report;
mod resources;
mod rows;
mod storm;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use i2i::corpus::{generate, CorpusSpec};
use serde_json::{json, Value};

use drive::{concurrent, paced, summary, Target};
use mix::{encode, QUERIES};
use resources::{dir_bytes, sqlite_bytes};

#[derive(Debug, Parser)]
#[command(name = "i2i-bench", about = "Benchmark tooling for i2i")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a seeded synthetic corpus as JSON lines (the `i2i import` format).
    Generate {
        #[arg(long, default_value_t = 1_000_000)]
        posts: usize,
        #[arg(long, default_value_t = 2041)]
        seed: u64,
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Load a corpus into a fresh SQLite instance and measure it next to its floors and peers
    /// (set I2I_BENCH_POSTGRES_URL to add the PostgreSQL peer).
    Run {
        #[arg(long, default_value_t = 1_000_000)]
        posts: usize,
        /// A small run (20,000 posts, fewer requests) that finishes in seconds.
        #[arg(long)]
        quick: bool,
        /// Where to write the JSON results.
        #[arg(long, default_value = "bench-results.json")]
        json: PathBuf,
    },
    /// Measure the search mix (HTTP at concurrency 8 next to the engine floor) and the trend
    /// and timeline views on an instance already loaded with the corpus (`generate`, then
    /// `i2i import --bulk`): the quick loop for work on search or trends at full size.
    Search {
        /// The instance's data directory (SQLite database and index).
        #[arg(long)]
        data_dir: PathBuf,
        /// Rounds of the mix (each round runs every query once).
        #[arg(long, default_value_t = 100)]
        rounds: usize,
        /// Where to write the JSON results, if anywhere.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Run a mixed workload (posting, timelines, search, trends, tag pages) against a fresh
    /// server on 127.0.0.1 for a bounded time and request count; fails on any 5xx or
    /// connection error.
    Load {
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Stop after this many requests even if time remains.
        #[arg(long, default_value_t = 1_000_000)]
        max_requests: usize,
        /// Where to write the JSON figures, if anywhere.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Send many logins at the same moment from many loopback addresses to a fresh server
    /// in this process, and report its peak resident memory next to the 300 MB target;
    /// fails on any 5xx or connection error, or a peak over the target.
    LoginStorm {
        #[arg(long, default_value_t = 200)]
        attempts: usize,
        #[arg(long, default_value_t = 20)]
        addresses: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Where to write the JSON figures, if anywhere.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // The server runs in this process; it gets the same allocator settings as `i2i serve`.
    i2i::memory::limit_malloc_arenas();
    i2i::db::sqlite_multi_thread_mode();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate { posts, seed, out } => {
            let truth = write_corpus(&CorpusSpec { seed, ..CorpusSpec::with_posts(posts) }, &out)?;
            println!("wrote {posts} posts to {}", out.display());
            println!("bursts (last day): {}", truth.bursts.join(" "));
            println!("recurring (whole range): {}", truth.recurring.join(" "));
            Ok(())
        }
        Command::Load { seconds, concurrency, max_requests, json } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let figures =
                runtime.block_on(load::run(load::LoadSpec { seconds, concurrency, max_requests }))?;
            load::print(&figures);
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_string_pretty(&figures)?)?;
            }
            let failed = figures["server_errors"].as_u64().unwrap_or(1)
                + figures["connection_errors"].as_u64().unwrap_or(1);
            anyhow::ensure!(failed == 0, "{failed} requests failed with a 5xx or a connection error");
            Ok(())
        }
        Command::LoginStorm { attempts, addresses, rounds, json } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let figures = runtime.block_on(storm::run(storm::StormSpec { attempts, addresses, rounds }))?;
            storm::print(&figures);
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_string_pretty(&figures)?)?;
            }
            let failed = figures["server_errors"].as_u64().unwrap_or(1);
            anyhow::ensure!(failed == 0, "{failed} logins failed with a 5xx or a connection error");
            let peak = figures["peak_rss_mb"].as_f64().unwrap_or(f64::MAX);
            anyhow::ensure!(
                peak <= storm::PEAK_RSS_TARGET_MB,
                "peak resident memory {peak:.0} MB is over the {} MB target",
                storm::PEAK_RSS_TARGET_MB
            );
            Ok(())
        }
        Command::Search { data_dir, rounds, json } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(measure_instance(&data_dir, rounds, json))
        }
        Command::Run { posts, quick, json } => {
            let posts = if quick { 20_000 } else { posts };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(measure(posts, quick, json))
        }
    }
}

fn write_corpus(spec: &CorpusSpec, out: &Path) -> anyhow::Result<i2i::corpus::GroundTruth> {
    let mut writer = BufWriter::new(std::fs::File::create(out)?);
    let mut failure = None;
    let truth = generate(spec, |line| {
        if failure.is_none() {
            let written = serde_json::to_writer(&mut writer, &line).map_err(anyhow::Error::from);
            failure = written.and_then(|()| writer.write_all(b"\n").map_err(anyhow::Error::from)).err();
        }
    });
    if let Some(err) = failure {
        return Err(err);
    }
    writer.flush()?;
    Ok(truth)
}

/// Environment variable naming the PostgreSQL database the peer may use.
const POSTGRES_URL_VAR: &str = "I2I_BENCH_POSTGRES_URL";

async fn measure(posts: usize, quick: bool, json_path: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let corpus = dir.path().join("corpus.jsonl");
    write_corpus(&CorpusSpec::with_posts(posts), &corpus)?;
    let mut results = serde_json::Map::new();
    results.insert("posts".into(), json!(posts));
    results.insert("quick".into(), json!(quick));
    let rounds = if quick { 20 } else { 200 };

    // i2i first, alone in the process, so its latencies and peak RSS are its own.
    let (url, search, target, sampler) = load_and_start(dir.path(), &corpus, &mut results).await?;
    results.insert("ingest".into(), ingest(&target, quick).await?);
    results.insert("time_to_searchable".into(), time_to_searchable(&target, quick).await?);
    results.insert("search".into(), search_mix(&target, &search, rounds).await?);
    results.insert("views".into(), views(&target, quick).await?);
    results.insert("peak_rss_mb".into(), json!(resources::peak_rss_mb()));
    results.insert("peak_rss_split_mb".into(), sampler.finish());
    results.insert("rss_now_mb".into(), resources::rss_split_mb());
    results.insert("merge".into(), merge_timing(&target).await?);

    // The HTTP floor, with the same client, concurrency and request count as the search mix.
    let mut floor_results = serde_json::Map::new();
    floor_results.insert("http_hello_c8".into(), floors::http(&target.client, QUERIES.len() * rounds).await?);

    // From here on the server only idles: stop its indexer so it cannot compete for the CPU.
    search.shutdown();
    let reindex_dir = dir.path().join("reindex-data");
    let reindex = tokio::task::block_in_place(|| resources::reindex(&url, &reindex_dir, posts))?;
    results.insert("reindex".into(), reindex);
    let insert = tokio::task::block_in_place(|| floors::insert(dir.path(), &corpus))?;
    floor_results.insert("sqlite_insert".into(), insert);
    let index_build = tokio::task::block_in_place(|| floors::index_build(dir.path(), &corpus))?;
    floor_results.insert("index_build".into(), index_build);
    results.insert("floors".into(), Value::Object(floor_results));

    let (peer_results, mut postgres_failure) =
        tokio::task::block_in_place(|| run_peers(dir.path(), &corpus, rounds))?;
    results.insert("peers".into(), peer_results);
    // Scale-out: one node against two on PostgreSQL, last, so it disturbs nothing above.
    if let Some(url) = std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.trim().is_empty()) {
        match nodes::measure(&url, quick).await {
            Ok(figures) => {
                results.insert("nodes".into(), figures);
            }
            Err(err) => {
                results.insert("nodes".into(), json!({ "error": format!("{err:#}") }));
                postgres_failure.get_or_insert(err);
            }
        }
    }

    let mut results = Value::Object(results);
    report::derive(&mut results);
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)?;
    report::print(&results);
    match postgres_failure {
        Some(err) => Err(err.context("the PostgreSQL peer failed")),
        None => Ok(()),
    }
}

/// How long merging one tag into another takes (every trend rollup is recounted from the
/// posts) and un-merging it again, over HTTP; checks the merged tag's count is the sum.
async fn merge_timing(target: &Target) -> anyhow::Result<Value> {
    let (alias, into) = ("t-ra", "t-fa");
    let before = target.get(&format!("/api/v1/tags/{into}")).await?["posts"].as_i64().unwrap_or(0);
    let t = Instant::now();
    let merged = target.patch(&format!("/api/v1/tags/{alias}"), &json!({"alias_of": into})).await?;
    let merge_seconds = t.elapsed().as_secs_f64();
    anyhow::ensure!(merged["alias_of"] == into, "the merge did not take: {merged}");
    let t = Instant::now();
    target.patch(&format!("/api/v1/tags/{alias}"), &json!({"alias_of": null})).await?;
    let unmerge_seconds = t.elapsed().as_secs_f64();
    let after = target.get(&format!("/api/v1/tags/{into}")).await?["posts"].as_i64().unwrap_or(0);
    anyhow::ensure!(after == before, "un-merging left #{into} at {after} posts, not {before}");
    Ok(json!({"merge_seconds": merge_seconds, "unmerge_seconds": unmerge_seconds,
              "group_posts": merged["posts"], "alias": alias, "into": into}))
}

/// Bulk-loads the corpus into a fresh SQLite database, starts the server on it and waits for
/// its indexer to catch up; records load, startup, catch-up and on-disk sizes. Returns the
/// database URL, the server's search index, a logged-in client and the resident-set sampler
/// started with the server.
async fn load_and_start(
    dir: &Path,
    corpus: &Path,
    results: &mut serde_json::Map<String, Value>,
) -> anyhow::Result<(String, Arc<i2i::search::SearchIndex>, Arc<Target>, resources::RssSampler)> {
    let db_path = dir.join("i2i.db");
    let url = format!("sqlite://{}", db_path.display());
    let db = i2i::db::Db::connect_for_tool(&url)?;
    let pattern = regex::Regex::new(r"INC-\d+")?;
    let started = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(corpus)?);
    let report = tokio::task::block_in_place(|| {
        i2i::transfer::bulk::import(&db, &pattern, file, Some(dir), |_, _| {})
    })?;
    let load = started.elapsed();
    results.insert(
        "bulk_load".into(),
        json!({"posts": report.imported, "seconds": load.as_secs_f64(),
        "per_second": report.imported as f64 / load.as_secs_f64(), "phases": report.phases}),
    );
    drop(db);
    // The loader is done: its freed memory goes back to the system before the server's
    // peak is measured, as it would when `i2i import` exits before `i2i serve` starts.
    i2i::memory::release_free_memory();
    let (search, target, sampler) = start(dir, &url, Some(report.imported as u64), results).await?;
    Ok((url, search, target, sampler))
}

/// Starts the server on the SQLite instance in `dir`, makes (or logs in) the benchmark user
/// and waits until search answers, for `posts` documents when given; records startup,
/// catch-up and on-disk sizes.
async fn start(
    dir: &Path,
    url: &str,
    posts: Option<u64>,
    results: &mut serde_json::Map<String, Value>,
) -> anyhow::Result<(Arc<i2i::search::SearchIndex>, Arc<Target>, resources::RssSampler)> {
    let db_path = dir.join("i2i.db");
    resources::reset_peak_rss();
    let sampler = resources::RssSampler::start();

    let config = i2i::config::Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(url.to_string()),
        listen: "127.0.0.1:0".into(),
        jwt_secret: Some("benchmark-secret-0123456789".into()),
        log: "warn".into(),
        // One user posts thousands a second here: the ingest figures measure the server,
        // not the per-user posting limit.
        posts_per_minute: 0,
        ..Default::default()
    };
    i2i::telemetry::init("warn");
    let started = Instant::now();
    let app = i2i::startup::Application::build(config).await?;
    results.insert("startup_seconds".into(), json!(started.elapsed().as_secs_f64()));
    let base = format!("http://127.0.0.1:{}", app.port());
    let search = app.search();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2)).build()?;
    let credentials = json!({"username": "bench", "password": "bench-password"});
    let mut setup = client.post(format!("{base}/api/v1/setup")).json(&credentials).send().await?;
    if setup.status() == reqwest::StatusCode::FORBIDDEN {
        // An instance measured before already has its administrator.
        setup = client.post(format!("{base}/api/v1/auth/login")).json(&credentials).send().await?;
    }
    anyhow::ensure!(setup.status().is_success(), "the benchmark user could not log in: {}", setup.status());
    let setup: Value = setup.json().await?;
    let token = setup["token"].as_str().unwrap_or_default().to_string();
    let target = Arc::new(Target { client, base, token });

    let started = Instant::now();
    loop {
        let answer = target.get_when_ready("/api/v1/search?q=&limit=1&facets=true").await?;
        if answer.is_some_and(|a| posts.is_none() || a["total"].as_u64() == posts) {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(3600), "the index did not catch up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    results.insert("index_catch_up_seconds".into(), json!(started.elapsed().as_secs_f64()));
    // Sizes right after the load, before the ingest phase adds posts. The main file and the
    // WAL are reported apart: the WAL keeps its high-water size and is not data.
    results.insert(
        "resources".into(),
        json!({
            "db_bytes": std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0),
            "db_with_wal_bytes": sqlite_bytes(&db_path),
            "index_bytes": dir_bytes(&dir.join("index")),
        }),
    );
    Ok((search, target, sampler))
}

/// The search mix and the views on an instance loaded before (see `Command::Search`).
async fn measure_instance(dir: &Path, rounds: usize, json_path: Option<PathBuf>) -> anyhow::Result<()> {
    let url = format!("sqlite://{}", dir.join("i2i.db").display());
    let mut results = serde_json::Map::new();
    let (search, target, _sampler) = start(dir, &url, None, &mut results).await?;
    results.insert("search".into(), search_mix(&target, &search, rounds).await?);
    results.insert("views".into(), views(&target, false).await?);
    let results = Value::Object(results);
    if let Some(path) = json_path {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
    }
    report::print_instance(&results);
    Ok(())
}

/// Posting over HTTP at concurrency 1, 8 and 64.
async fn ingest(target: &Arc<Target>, quick: bool) -> anyhow::Result<Value> {
    let mut ingest = serde_json::Map::new();
    for concurrency in [1usize, 8, 64] {
        let total = if quick { 100 * concurrency.min(8) } else { 2000 * concurrency.min(8) };
        let t = target.clone();
        let figures = concurrent(concurrency, total, move |i| {
            let t = t.clone();
            async move {
                t.post(&format!("bench ingest note {i} with some words #bench-ingest")).await.map(|_| ())
            }
        })
        .await?
        .summary();
        ingest.insert(format!("c{concurrency}"), figures);
    }
    Ok(Value::Object(ingest))
}

/// From a post's 201 to the first search that finds it.
async fn time_to_searchable(target: &Target, quick: bool) -> anyhow::Result<Value> {
    let mut waits = Vec::new();
    for n in 0..(if quick { 10 } else { 50 }) {
        let word = format!("fresh{n}x{}", std::process::id());
        target.post(&format!("freshness probe {word}")).await?;
        let t = Instant::now();
        while target.get(&format!("/api/v1/search?q={word}&limit=1")).await?["total"] != 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        waits.push(t.elapsed());
    }
    Ok(summary(waits, Duration::from_secs(1)))
}

/// The search mix over HTTP at concurrency 8, twice: with the searcher's remembered answers
/// off (every request runs on the index: the figure compared with the floors and peers) and
/// on (the same searches asked again before the next commit); then the same queries on the
/// engine in-process, and each query's hit total (untimed: i2i's column of the engines'
/// agreement check).
async fn search_mix(
    target: &Arc<Target>,
    search: &i2i::search::SearchIndex,
    rounds: usize,
) -> anyhow::Result<Value> {
    let mut figures = serde_json::Map::new();
    let total = QUERIES.len() * rounds;
    let call = |target: Arc<Target>| {
        move |i: usize| {
            let t = target.clone();
            async move {
                t.get(&format!("/api/v1/search?q={}&limit=20", encode(QUERIES[i % QUERIES.len()].i2i)))
                    .await
                    .map(|_| ())
            }
        }
    };
    search.answers.set_capacity(0);
    let saturated = concurrent(8, total, call(target.clone())).await?.mix();
    // The same 8 clients at half the rate the closed loop reached: the latency analysts see
    // while the server has room, next to the queue it builds when driven flat out.
    let half_rate = saturated["per_second"].as_f64().unwrap_or(0.0) / 2.0;
    figures.insert("http_c8".into(), saturated);
    figures.insert("http_c8_half_rate".into(), paced(8, total, half_rate, call(target.clone())).await?.mix());
    // One request at a time: each query's cost over HTTP next to its cost in the engine alone,
    // with no queue in either.
    figures.insert("http_c1".into(), concurrent(1, total, call(target.clone())).await?.mix());
    search.answers.set_capacity(i2i::search::answers::DEFAULT_CAPACITY);
    figures.insert("http_c8_remembered".into(), concurrent(8, total, call(target.clone())).await?.mix());
    let (engine, engine_c8) = tokio::task::block_in_place(|| floors::engine(search, rounds))?;
    figures.insert("engine_in_process".into(), engine);
    figures.insert("engine_in_process_c8".into(), engine_c8);
    let mut hits = serde_json::Map::new();
    for query in QUERIES {
        let answer =
            target.get(&format!("/api/v1/search?q={}&limit=1&facets=true", encode(query.i2i))).await?;
        hits.insert(query.name.into(), answer["total"].clone());
    }
    figures.insert("hits".into(), Value::Object(hits));
    Ok(Value::Object(figures))
}

/// Trends and pages, one request at a time. The trend views are measured twice: asked
/// again and again for the same window (answered from the memo while nothing changes, the
/// common case of a trends page that many people open), and each time for a window one hour
/// earlier (computed from the rollups every time, what the first viewer after a change waits).
async fn views(target: &Arc<Target>, quick: bool) -> anyhow::Result<Value> {
    /// The path of the `i`th request of a route.
    type PathOf = Arc<dyn Fn(usize) -> String + Send + Sync>;
    let mut views = serde_json::Map::new();
    let same = |path: &'static str| -> PathOf { Arc::new(move |_| path.to_string()) };
    let earlier = |path: &'static str| -> PathOf {
        Arc::new(move |i| {
            // 2025-06-01T00:00:00Z, `i` hours earlier.
            let at_ms = (1_748_736_000 - 3_600 * i as i64) * 1_000;
            format!("{path}&at={}", encode(&i2i::domain::time::format_ms(at_ms)))
        })
    };
    let routes: Vec<(&str, PathOf)> = vec![
        ("trending_24h", same("/api/v1/trends/tags?window=24h&at=2025-06-01T00:00:00Z")),
        ("trending_24h_computed", earlier("/api/v1/trends/tags?window=24h")),
        ("recurring_90d", same("/api/v1/trends/recurring?window=90d&at=2025-06-01T00:00:00Z")),
        ("recurring_90d_computed", earlier("/api/v1/trends/recurring?window=90d")),
        ("related", same("/api/v1/tags/t-fa/related")),
        ("history", same("/api/v1/tags/t-fa/history?interval=day&from=2025-02-01&to=2025-06-01")),
        ("timeline", same("/api/v1/timeline?limit=20")),
        ("tag_timeline", same("/api/v1/timeline?tag=t-fa&limit=20")),
    ];
    for (name, path) in routes {
        let t = target.clone();
        let figures = concurrent(1, if quick { 20 } else { 200 }, move |i| {
            let (t, path) = (t.clone(), path(i));
            async move { t.get(&path).await.map(|_| ()) }
        })
        .await?
        .summary();
        views.insert(name.into(), figures);
    }
    Ok(Value::Object(views))
}

/// The FTS5 peer, and the PostgreSQL peer when its URL is set. A PostgreSQL failure does not
/// stop the run: it is recorded and reported with everything else, and returned so the run
/// still exits with an error.
fn run_peers(dir: &Path, corpus: &Path, rounds: usize) -> anyhow::Result<(Value, Option<anyhow::Error>)> {
    let after_ms = mix::after_ms()?;
    let mut peer_results = serde_json::Map::new();
    peer_results.insert("fts5".into(), peers::fts5(dir, corpus, rounds, after_ms)?);
    let mut failure = None;
    let postgres = match std::env::var(POSTGRES_URL_VAR).ok().filter(|u| !u.trim().is_empty()) {
        None => peers::skipped(),
        Some(url) => match peers::postgres(&url, corpus, rounds, after_ms) {
            Ok(figures) => figures,
            Err(err) => {
                let message = format!("{err:#}");
                failure = Some(err);
                json!({ "error": message })
            }
        },
    };
    peer_results.insert("postgres".into(), postgres);
    Ok((Value::Object(peer_results), failure))
}
