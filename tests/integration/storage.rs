//! A full disk under the database: writes answer 503 `storage_full` (never 500 `internal`),
//! and the log says so once with SQLite's own words instead of once per request.
//!
//! The fault is real SQLite behaviour, not an injected error: the node runs with
//! `sqlite_max_page_count` just above the freshly migrated file's size, and past it SQLite
//! fails every write with SQLITE_FULL ("database or disk is full"), as on a full disk.
//! The setting is SQLite's only; PostgreSQL's `53100 disk_full` is recognised by its text
//! (`i2i::error::is_disk_full`, unit-tested in the library).

use std::time::{Duration, Instant};

use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::node::{free_port, i2i_command, run_i2i, Node};

#[derive(QueryableByName)]
struct Pages {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    page_count: i64,
}

/// The status and JSON body of a response.
async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_full_disk_answers_503_storage_full_and_logs_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let migrated = run_i2i(None, &data, &["migrate"]).await;
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let file = data.join("i2i.db");
    let mut conn = SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    let pages = diesel::sql_query("PRAGMA page_count").get_result::<Pages>(&mut conn).unwrap().page_count;
    drop(conn);

    let log = dir.path().join("node.log");
    let mut command = i2i_command(None, &data);
    command
        .env("I2I_SQLITE_MAX_PAGE_COUNT", (pages + 40).to_string())
        .env("I2I_POSTS_PER_MINUTE", "0")
        .env("I2I_LOGIN_PER_MINUTE", "0")
        .env("I2I_LOGIN_FAILURES_PER_MINUTE", "0")
        .stderr(std::fs::File::create(&log).unwrap());
    let node = Node::start_command(command, free_port()).await;
    let client = reqwest::Client::new();
    let setup = client
        .post(node.url("/api/v1/setup"))
        .json(&json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(setup).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_string();

    // Fill the file up to its cap.
    let post = |n: usize| {
        client
            .post(node.url("/api/v1/posts"))
            .bearer_auth(&token)
            .json(&json!({"body": format!("note {n} filling the disk with words #full {}", "x".repeat(400))}))
            .send()
    };
    let mut n = 0;
    let full = loop {
        let (status, body) = answer(post(n).await.unwrap()).await;
        if status != StatusCode::CREATED {
            break (status, body);
        }
        n += 1;
        assert!(n < 5000, "the file never filled up");
    };
    assert_eq!(full.0, StatusCode::SERVICE_UNAVAILABLE, "{}", full.1);
    assert_eq!(full.1["error"]["code"], "storage_full", "{}", full.1);

    // Keep writing for a while: posts in parallel, and logins (which write a session).
    let started = Instant::now();
    let mut refused = 0;
    let mut wrong = Vec::new();
    while started.elapsed() < Duration::from_secs(4) {
        let posts = futures_util::future::join_all((0..20).map(|k| post(n + k)));
        let login = client
            .post(node.url("/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": "admin-password-1"}))
            .send();
        let (posts, login) = tokio::join!(posts, login);
        for response in posts {
            let (status, body) = answer(response.unwrap()).await;
            if status != StatusCode::SERVICE_UNAVAILABLE || body["error"]["code"] != "storage_full" {
                wrong.push(format!("post: {status} {body}"));
            }
            refused += 1;
        }
        // A session row is small and may still fit a page the posts could not use; either
        // way, never a 500.
        let (status, body) = answer(login.unwrap()).await;
        if status != StatusCode::OK {
            if status != StatusCode::SERVICE_UNAVAILABLE || body["error"]["code"] != "storage_full" {
                wrong.push(format!("login: {status} {body}"));
            }
            refused += 1;
        }
    }
    assert!(refused > 100, "only {refused} writes tried");
    node.stop().await;

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(wrong.is_empty(), "{wrong:?}\n{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{} error lines for {refused} refused writes:\n{}", errors.len(), text);
    assert!(errors[0].contains("database or disk is full"), "the line names SQLite's error: {}", errors[0]);
    assert!(!text.contains("internal error"), "{text}");
}
