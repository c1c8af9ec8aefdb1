//! Scale-out on PostgreSQL: ingest over HTTP at concurrency 64 into one i2i node, then into
//! two nodes on the same database (requests alternating between them, as a round-robin
//! load balancer would), and the time from a post's 201 on one node until the other node's
//! search finds it. Both nodes run in this process and share its two cores, so the figure
//! shows what a second node costs or gains on one machine, not on two.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{json, Value};

use crate::drive::{concurrent, summary, Target};

/// The scratch database the phase creates (and drops again) beside the peer's.
const DATABASE: &str = "i2i_bench_nodes";

fn recreate(admin_url: &str, drop_only: bool) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(admin_url).context("connecting to I2I_BENCH_POSTGRES_URL")?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")).execute(&mut conn)?;
    if !drop_only {
        diesel::sql_query(format!("CREATE DATABASE {DATABASE}")).execute(&mut conn)?;
    }
    Ok(())
}

/// Starts one node on `url` with its own data directory; returns its base URL.
async fn start_node(url: &str, dir: &Path) -> anyhow::Result<(String, Arc<i2i::search::SearchIndex>)> {
    let config = i2i::config::Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(url.to_string()),
        listen: "127.0.0.1:0".into(),
        // Left unset on purpose: the nodes share the secret the database keeps.
        jwt_secret: None,
        log: "warn".into(),
        posts_per_minute: 0,
        ..Default::default()
    };
    let app = i2i::startup::Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let search = app.search();
    tokio::spawn(app.run_until_stopped());
    Ok((base, search))
}

/// Posts `total` notes at concurrency 64, request `i` going to `targets[i % len]`.
async fn ingest(targets: &[Arc<Target>], total: usize, label: &str) -> anyhow::Result<Value> {
    let targets: Arc<Vec<Arc<Target>>> = Arc::new(targets.to_vec());
    let label = label.to_string();
    Ok(concurrent(64, total, move |i| {
        let target = targets[i % targets.len()].clone();
        let body = format!("{label} scale-out note {i} with some words #bench-nodes");
        async move { target.post(&body).await.map(|_| ()) }
    })
    .await?
    .summary())
}

/// Runs the phase against a fresh database on the server of `admin_url`.
pub async fn measure(admin_url: &str, quick: bool) -> anyhow::Result<Value> {
    tokio::task::block_in_place(|| recreate(admin_url, false))?;
    let outcome = measure_on(&i2i::db::with_database(admin_url, DATABASE), quick).await;
    tokio::task::block_in_place(|| recreate(admin_url, true))?;
    outcome
}

async fn measure_on(url: &str, quick: bool) -> anyhow::Result<Value> {
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let total = if quick { 800 } else { 16_000 };
    let client = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2)).build()?;

    let (first, first_index) = start_node(url, dirs[0].path()).await?;
    let setup: Value = client
        .post(format!("{first}/api/v1/setup"))
        .json(&json!({"username": "bench", "password": "bench-password"}))
        .send()
        .await?
        .json()
        .await?;
    let token = setup["token"].as_str().context("setup answered no token")?.to_string();
    let a = Arc::new(Target { client: client.clone(), base: first, token: token.clone() });
    let one_node = ingest(std::slice::from_ref(&a), total, "one").await?;

    let (second, second_index) = start_node(url, dirs[1].path()).await?;
    let b = Arc::new(Target { client, base: second, token });
    // The second node builds its index from the database (what the first took) and says
    // ready once caught up; only then does it take requests.
    let started = Instant::now();
    while b.get_when_ready("/readyz").await?.is_none() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "the second node did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught_up = started.elapsed();
    let two_nodes = ingest(&[a.clone(), b.clone()], total, "two").await?;

    // Posted on one node, found by the other's search.
    let mut waits = Vec::new();
    for n in 0..(if quick { 10 } else { 50 }) {
        let (from, to) = if n % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let word = format!("crossnode{n}x{}", std::process::id());
        from.post(&format!("cross-node probe {word}")).await?;
        let t = Instant::now();
        while to.get(&format!("/api/v1/search?q={word}&limit=1")).await?["total"] != 1 {
            anyhow::ensure!(t.elapsed() < Duration::from_secs(60), "{word} never reached the other node");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        waits.push(t.elapsed());
    }
    first_index.shutdown();
    second_index.shutdown();
    let ratio =
        two_nodes["per_second"].as_f64().unwrap_or(0.0) / one_node["per_second"].as_f64().unwrap_or(1.0);
    Ok(json!({
        "posts": total,
        "one_node_c64": one_node,
        "two_nodes_c64": two_nodes,
        "two_over_one": ratio,
        "second_node_catch_up_seconds": caught_up.as_secs_f64(),
        "cross_node_searchable": summary(waits, Duration::from_secs(1)),
    }))
}
