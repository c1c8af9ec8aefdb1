//! `i2i-bench`: benchmark tooling. `generate` writes the deterministic synthetic corpus in
//! the import format; `run` loads it into a fresh instance and measures the figures below in
//! one process, printing a Markdown table and writing JSON. (Peers — SQLite FTS5 and
//! PostgreSQL full-text search — and the HTTP floor are the next additions.)

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use i2i::corpus::{generate, CorpusSpec};
use serde_json::{json, Value};

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
    /// Load a corpus into a fresh SQLite instance and measure it.
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
}

fn main() -> ExitCode {
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
        Command::Run { posts, quick, json } => {
            let posts = if quick { 20_000 } else { posts };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(measure(posts, quick, json))
        }
    }
}

fn write_corpus(spec: &CorpusSpec, out: &std::path::Path) -> anyhow::Result<i2i::corpus::GroundTruth> {
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

/// Latency summary of a set of samples.
fn summary(mut samples: Vec<Duration>, wall: Duration) -> Value {
    samples.sort();
    let pick = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
    };
    json!({
        "count": samples.len(),
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "per_second": samples.len() as f64 / wall.as_secs_f64().max(1e-9),
    })
}

struct Target {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Target {
    async fn post(&self, body: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}/api/v1/posts", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"body": body}))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 201, "post answered {}", response.status());
        Ok(response.json().await?)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response =
            self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        anyhow::ensure!(response.status().is_success(), "{path} answered {}", response.status());
        Ok(response.json().await?)
    }
}

/// `concurrency` tasks share `total` calls of `call(i)`; returns the latency summary.
async fn concurrent<F, Fut>(concurrency: usize, total: usize, call: F) -> anyhow::Result<Value>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                call(i).await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    Ok(summary(samples, started.elapsed()))
}

const QUERIES: &[(&str, &str)] = &[
    ("common term", "ba"),
    ("mid term", "staipa"),
    ("rare term", "chaizu"),
    ("AND of 2", "ba da"),
    ("AND of 3", "ba da fa"),
    ("OR", "staipa OR chaizu"),
    ("phrase", "\"ba da\""),
    ("text + tag", "da #t-ra"),
    ("tag only", "#t-fa"),
    ("with after:", "ba after:2025-05-01"),
];

fn encode(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

async fn measure(posts: usize, quick: bool, json_path: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let corpus = dir.path().join("corpus.jsonl");
    write_corpus(&CorpusSpec::with_posts(posts), &corpus)?;
    let mut results = serde_json::Map::new();

    // Bulk load, then the server (its indexer catches up from the change feed).
    let url = format!("sqlite://{}", dir.path().join("i2i.db").display());
    let db = i2i::db::Db::connect_for_tool(&url)?;
    let pattern = regex::Regex::new(r"INC-\d+")?;
    let started = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&corpus)?);
    let report = tokio::task::block_in_place(|| i2i::bulk::import(&db, &pattern, file, |_, _| {}))?;
    let load = started.elapsed();
    results.insert(
        "bulk_load".into(),
        json!({"posts": report.imported, "seconds": load.as_secs_f64(),
        "per_second": report.imported as f64 / load.as_secs_f64()}),
    );
    drop(db);

    let config = i2i::config::Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(url),
        listen: "127.0.0.1:0".into(),
        jwt_secret: Some("benchmark-secret-0123456789".into()),
        log: "warn".into(),
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
    let setup: Value = client
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"username": "bench", "password": "bench-password"}))
        .send()
        .await?
        .json()
        .await?;
    let token = setup["token"].as_str().unwrap_or_default().to_string();
    let target = Arc::new(Target { client, base, token });

    let started = Instant::now();
    loop {
        let answer = target.get("/api/v1/search?q=&limit=1").await?;
        if answer["total"].as_u64() == Some(report.imported as u64) {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(3600), "the index did not catch up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    results.insert("index_catch_up_seconds".into(), json!(started.elapsed().as_secs_f64()));

    // Ingest over HTTP.
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
        .await?;
        ingest.insert(format!("c{concurrency}"), figures);
    }
    results.insert("ingest".into(), Value::Object(ingest));

    // Time to searchable.
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
    results.insert("time_to_searchable".into(), summary(waits, Duration::from_secs(1)));

    // Search over HTTP at concurrency 8, and the same queries on the engine in-process.
    let rounds = if quick { 20 } else { 200 };
    let mut search_results = serde_json::Map::new();
    let t = target.clone();
    let http = concurrent(8, QUERIES.len() * rounds, move |i| {
        let t = t.clone();
        async move {
            t.get(&format!("/api/v1/search?q={}&limit=20", encode(QUERIES[i % QUERIES.len()].1)))
                .await
                .map(|_| ())
        }
    })
    .await?;
    search_results.insert("http_c8".into(), http);
    let engine = tokio::task::block_in_place(|| engine_floor(&search, rounds))?;
    search_results.insert("engine_in_process".into(), engine);
    results.insert("search".into(), Value::Object(search_results));

    // Trends and pages, one at a time.
    let mut views = serde_json::Map::new();
    for (name, path) in [
        ("trending_24h", "/api/v1/trends/tags?window=24h&at=2025-06-01T00:00:00Z"),
        ("recurring_90d", "/api/v1/trends/recurring?window=90d&at=2025-06-01T00:00:00Z"),
        ("related", "/api/v1/tags/t-fa/related"),
        ("history", "/api/v1/tags/t-fa/history?interval=day&from=2025-02-01&to=2025-06-01"),
        ("timeline", "/api/v1/timeline?limit=20"),
        ("tag_timeline", "/api/v1/timeline?tag=t-fa&limit=20"),
    ] {
        let t = target.clone();
        let figures = concurrent(1, if quick { 20 } else { 200 }, move |_| {
            let t = t.clone();
            async move { t.get(path).await.map(|_| ()) }
        })
        .await?;
        views.insert(name.into(), figures);
    }
    results.insert("views".into(), Value::Object(views));
    results.insert("peak_rss_mb".into(), json!(peak_rss_mb()));
    results.insert("posts".into(), json!(posts));

    let results = Value::Object(results);
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)?;
    print_table(&results);
    search.shutdown();
    Ok(())
}

/// The query mix straight on tantivy (no HTTP, no facets or snippets): the engine floor.
fn engine_floor(search: &i2i::search::SearchIndex, rounds: usize) -> anyhow::Result<Value> {
    use tantivy::collector::TopDocs;
    let generation = search.current().ok_or_else(|| anyhow::anyhow!("index not open"))?;
    let searcher = generation.reader.searcher();
    let mut analyzers = i2i::search::plan::Analyzers::of(&generation.index, &search.fields)?;
    let compiled: Vec<_> = QUERIES
        .iter()
        .filter_map(|(_, q)| i2i::search::query::parse(q).ok().flatten())
        .map(|node| i2i::search::plan::compile(&node, &search.fields, &mut analyzers))
        .collect();
    let started = Instant::now();
    let mut samples = Vec::new();
    for _ in 0..rounds {
        for query in &compiled {
            let t = Instant::now();
            searcher.search(query.as_ref(), &TopDocs::with_limit(20))?;
            samples.push(t.elapsed());
        }
    }
    Ok(summary(samples, started.elapsed()))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn print_table(results: &Value) {
    let row = |name: &str, v: &Value| {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} |",
            v["p50_ms"].as_f64().unwrap_or(0.0),
            v["p99_ms"].as_f64().unwrap_or(0.0),
            v["per_second"].as_f64().unwrap_or(0.0)
        )
    };
    println!("\n{} posts (SQLite)\n", results["posts"]);
    println!("| measure | p50 ms | p99 ms | per second |\n|---|---|---|---|");
    for c in ["c1", "c8", "c64"] {
        row(&format!("ingest HTTP {c}"), &results["ingest"][c]);
    }
    row("time to searchable", &results["time_to_searchable"]);
    row("search HTTP c8 (mix)", &results["search"]["http_c8"]);
    row("search engine floor (mix)", &results["search"]["engine_in_process"]);
    if let Some(views) = results["views"].as_object() {
        for (name, v) in views {
            row(name, v);
        }
    }
    println!(
        "\nbulk load: {:.0} posts/s · index catch-up: {:.1} s · startup: {:.2} s · peak RSS: {:.0} MB",
        results["bulk_load"]["per_second"].as_f64().unwrap_or(0.0),
        results["index_catch_up_seconds"].as_f64().unwrap_or(0.0),
        results["startup_seconds"].as_f64().unwrap_or(0.0),
        results["peak_rss_mb"].as_f64().unwrap_or(0.0)
    );
}
