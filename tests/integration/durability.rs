//! The index never loses or duplicates a post: not when the process is killed mid-stream,
//! and not when many transactions commit out of order (PostgreSQL).

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the real binary as a separate node on the test app's database.
fn start_node(app: &TestApp, data_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_i2i"))
        .args(["--database-url", &app.database_url, "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("I2I_JWT_SECRET", app.config.jwt_secret.clone().unwrap())
        .env("I2I_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start i2i")
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node at {base} did not start");
}

/// Every live post id in the database.
fn database_ids(app: &TestApp) -> BTreeSet<i64> {
    app.db()
        .read_blocking(|conn| {
            let rows = i2i::db::posts::page_for_export(conn, 0, 1_000_000)?;
            Ok(rows.into_iter().map(|p| p.id).collect())
        })
        .unwrap()
}

/// Every post id the index returns for the empty query (via the JSON-lines export), with
/// duplicates kept so they can be detected.
async fn indexed_ids(client: &reqwest::Client, base: &str, token: &str) -> Vec<i64> {
    let text = client
        .get(format!("{base}/api/v1/search/export?format=jsonl"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_i64().unwrap()).collect()
}

async fn wait_index_matches(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    expected: &BTreeSet<i64>,
) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids = indexed_ids(client, base, token).await;
        if ids.iter().copied().collect::<BTreeSet<_>>() == *expected || Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_node_killed_mid_stream_loses_and_duplicates_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let node_dir = app.data_dir().join("node");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut node = start_node(&app, &node_dir, port);
    wait_healthy(&client, &base).await;

    let accepted = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (client, base, token, accepted, stop) =
            (client.clone(), base.clone(), admin.clone(), accepted.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let body = json!({"body": format!("writer {writer} note {n} #crash")});
                match client.post(format!("{base}/api/v1/posts")).bearer_auth(&token).json(&body).send().await
                {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let post: Value = r.json().await.unwrap();
                        accepted.lock().unwrap().push(post["id"].as_i64().unwrap());
                    }
                    _ => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill().unwrap(); // SIGKILL: no shutdown, no final commit
    node.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    let accepted: BTreeSet<i64> = accepted.lock().unwrap().iter().copied().collect();
    assert!(accepted.len() > 20, "the writers got going ({} posts)", accepted.len());

    let mut node = start_node(&app, &node_dir, port);
    wait_healthy(&client, &base).await;
    let in_db = database_ids(&app);
    assert!(accepted.is_subset(&in_db), "every 201 is in the database");
    let indexed = wait_index_matches(&client, &base, &admin, &in_db).await;
    node.kill().unwrap();
    node.wait().unwrap();
    assert_eq!(indexed.len(), in_db.len(), "no post is indexed twice");
    assert_eq!(indexed.into_iter().collect::<BTreeSet<_>>(), in_db, "the index equals the database");
}

#[tokio::test]
async fn transactions_committing_out_of_order_are_all_indexed() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let db = app.db();
    let author = db.read_blocking(|conn| Ok(i2i::db::users::by_username(conn, "admin")?.unwrap())).unwrap();
    let pattern = regex::Regex::new(r"INC-\d+").unwrap();
    // Eight writers whose transactions stay open for varying times after their insert,
    // so on PostgreSQL later sequence values often commit before earlier ones.
    let threads: Vec<_> = (0..8)
        .map(|writer| {
            let (db, author, pattern) = (db.clone(), author.clone(), pattern.clone());
            std::thread::spawn(move || {
                for n in 0..12 {
                    db.write_blocking(|conn| {
                        let input = i2i::domain::posts::PostInput {
                            body: format!("writer {writer} note {n} #order"),
                            ..Default::default()
                        };
                        i2i::domain::posts::create_post(conn, &pattern, &author, &input)?;
                        std::thread::sleep(Duration::from_millis(((writer * 7 + n * 13) % 20) as u64));
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let in_db = database_ids(&app);
    assert_eq!(in_db.len(), 96);
    let indexed = wait_index_matches(&app.client, &app.address, &admin, &in_db).await;
    assert_eq!(indexed.len(), 96, "none missed, none twice");
    assert_eq!(indexed.into_iter().collect::<BTreeSet<_>>(), in_db);
}
