//! An index directory that stops being writable while the node runs (the fault a careless
//! `chmod` or a read-only remount makes): the log says so once, not once per retry;
//! `/readyz` stays 503 until a commit has really succeeded again, never flapping back to
//! 200 in between; and the unauthenticated `/readyz` never shows a file path.
//!
//! Permission bits do not stop root, and the tests run as root: there the node runs as
//! `nobody` (uid 65534), so `chmod` takes effect. Opening the index still works in a
//! read-only directory (reads, and the writer's lock file left behind), and only the commit
//! fails: the case in which the node used to call the index ready again after each reopen.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::node::{free_port, i2i_command, Node};
use crate::helpers::{hit_ids, PgDatabase};

const NOBODY: u32 = 65534;

/// Sets the mode of the index directory and of every directory below it.
fn chmod_dirs(dir: &Path, mode: u32) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            chmod_dirs(&entry.path(), mode);
        }
    }
}

/// Gives `dir` and everything below it to `uid`.
fn chown_all(dir: &Path, uid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(uid)).unwrap();
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            chown_all(&entry.path(), uid);
        }
    }
}

async fn readyz(client: &reqwest::Client, node: &Node) -> (StatusCode, String) {
    let response = client.get(node.url("/readyz")).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn post(client: &reqwest::Client, node: &Node, token: &str, body: &str) -> i64 {
    let response = client
        .post(node.url("/api/v1/posts"))
        .bearer_auth(token)
        .json(&json!({ "body": body }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn an_unwritable_index_is_logged_once_and_readiness_never_flaps() {
    let pg = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("node");
    std::fs::create_dir(&data).unwrap();
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        chown_all(&data, NOBODY);
    }
    let log = dir.path().join("node.log");
    let mut command = i2i_command(pg.as_ref().map(|pg| pg.url.as_str()), &data);
    command.env("I2I_POSTS_PER_MINUTE", "0").stderr(std::fs::File::create(&log).unwrap());
    if as_root {
        command.uid(NOBODY).gid(NOBODY);
    }
    let node = Node::start_command(command, free_port()).await;
    let client = reqwest::Client::new();
    let setup = client
        .post(node.url("/api/v1/setup"))
        .json(&json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), StatusCode::CREATED);
    let token = setup.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let mut ids = vec![post(&client, &node, &token, "before the fault #unwritable").await];
    let deadline = Instant::now() + Duration::from_secs(60);
    while readyz(&client, &node).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let index = data.join("index");
    chmod_dirs(&index, 0o555);
    // Posts keep coming (each one wakes the indexer) while readiness is watched.
    let mut answers = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(8) {
        if answers.len() % 4 == 0 {
            ids.push(post(&client, &node, &token, &format!("during the fault {n} #unwritable")).await);
            n += 1;
        }
        answers.push(readyz(&client, &node).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let root = dir.path().to_string_lossy().to_string();
    for (_, body) in &answers {
        assert!(!body.contains(&root) && !body.contains("/tmp"), "/readyz shows a path: {body}");
    }
    let first = answers.iter().position(|(status, _)| *status == StatusCode::SERVICE_UNAVAILABLE);
    let first = first.unwrap_or_else(|| panic!("never degraded: {answers:?}"));
    assert!(first < answers.len() / 2, "degraded late: {answers:?}");
    let flaps: Vec<_> =
        answers[first..].iter().filter(|(status, _)| *status != StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(flaps.is_empty(), "/readyz flapped while the index was unwritable: {flaps:?}");
    let degraded: Value = serde_json::from_str(&answers[answers.len() - 1].1).unwrap();
    assert_eq!(degraded["status"], "degraded", "{degraded}");

    chmod_dirs(&index, 0o755);
    ids.push(post(&client, &node, &token, "after the fault #unwritable").await);
    let deadline = Instant::now() + Duration::from_secs(60);
    while readyz(&client, &node).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "not ready again after the fault");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer: Value = client
            .get(node.url("/api/v1/search?q=%23unwritable&limit=100"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut found = hit_ids(&answer);
        found.sort_unstable();
        ids.sort_unstable();
        if found == ids {
            break;
        }
        assert!(Instant::now() < deadline, "index never caught up: {found:?} of {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.stop().await;

    let text = std::fs::read_to_string(&log).unwrap();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{} error lines in 8 s of one fault:\n{text}", errors.len());
    assert!(errors[0].contains("search index cannot be written"), "{}", errors[0]);
}
