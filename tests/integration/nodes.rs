//! Several `i2i serve` processes on one PostgreSQL database, each with its own index
//! directory: they migrate once when started together, share the signing secret and session
//! revocation, and after one is SIGKILLed mid-stream and restarted with its index deleted,
//! every acknowledged post is searchable on every node, timelines and trends agree, and a
//! live stream that moved to another node saw every post exactly once.
//!
//! The several-node tests need PostgreSQL: on SQLite an instance is one process by design
//! (the data directory's lock refuses a second), so on a SQLite run they return at once.
//! `.ci/run` runs the suite on PostgreSQL as well and fails when it cannot. The readiness
//! test runs on both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::node::{free_port, run_i2i, wait_index_matches, Acked, Ingest, Node};
use crate::helpers::{expect_json, PgDatabase, ADMIN_PASSWORD};

/// A node on `url` with its own data directory, configured as an operator would: no signing
/// secret (the nodes share the one the database keeps) and no posting limit (the writers
/// below post far faster than people).
async fn start_node(url: &str, data_dir: &Path, port: u16) -> Node {
    let mut command = Command::new(env!("CARGO_BIN_EXE_i2i"));
    command
        .args(["--database-url", url])
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("I2I_JWT_SECRET")
        .env("I2I_POSTS_PER_MINUTE", "0")
        .env("I2I_LOG", "warn");
    Node::start_command(command, port).await
}

/// Starts `count` nodes at the same moment on one database.
async fn start_nodes(url: &str, dirs: &[tempfile::TempDir], ports: &[u16]) -> Vec<Node> {
    let starts = dirs.iter().zip(ports).map(|(dir, port)| start_node(url, dir.path(), *port));
    futures_util::future::join_all(starts).await
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(url: &str, sql: &str) -> i64 {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(sql).get_result::<Count>(&mut conn).expect(sql).n
}

#[derive(QueryableByName)]
struct PostRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    body: String,
}

/// Every live post in the database, by id.
fn database_posts(url: &str) -> BTreeMap<i64, String> {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query("SELECT id, body FROM posts WHERE deleted_at IS NULL")
        .load::<PostRow>(&mut conn)
        .expect("posts")
        .into_iter()
        .map(|row| (row.id, row.body))
        .collect()
}

/// The ids of the newest `n` live posts, in the timeline's order.
fn newest_posts(url: &str, n: i64) -> Vec<i64> {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(format!(
        "SELECT id, body FROM posts WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT {n}"
    ))
    .load::<PostRow>(&mut conn)
    .expect("posts")
    .into_iter()
    .map(|row| row.id)
    .collect()
}

async fn setup_admin(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::CREATED).await["token"].as_str().unwrap().to_string()
}

async fn me_status(client: &reqwest::Client, base: &str, token: &str) -> StatusCode {
    client.get(format!("{base}/api/v1/users/me")).bearer_auth(token).send().await.unwrap().status()
}

async fn get_json(client: &reqwest::Client, base: &str, path: &str, token: &str) -> Value {
    expect_json(client.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap(), StatusCode::OK)
        .await
}

#[tokio::test]
async fn nodes_started_at_once_migrate_once_and_share_the_secret_and_revocations() {
    let Some(database) = PgDatabase::create() else {
        eprintln!("skipped on SQLite: several nodes need PostgreSQL");
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    // All three run the migrations' advisory lock race on an empty database.
    let nodes = start_nodes(&database.url, &dirs, &ports).await;
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().is_dir())
        .count() as i64;
    assert_eq!(count(&database.url, "SELECT COUNT(*) AS n FROM __diesel_schema_migrations"), migrations);
    assert_eq!(
        count(&database.url, "SELECT COUNT(*) AS n FROM instance_settings WHERE name = 'jwt_secret'"),
        1
    );

    let client = reqwest::Client::new();
    let token = setup_admin(&client, &nodes[0].base).await;
    for node in &nodes {
        assert_eq!(
            me_status(&client, &node.base, &token).await,
            StatusCode::OK,
            "{} accepts the token",
            node.base
        );
    }
    // Logging out on one node revokes the token on all of them.
    let logout = client
        .post(format!("{}/api/v1/auth/logout", nodes[1].base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success(), "logout: {}", logout.status());
    for node in &nodes {
        assert_eq!(
            me_status(&client, &node.base, &token).await,
            StatusCode::UNAUTHORIZED,
            "{} still accepts a token revoked on another node",
            node.base
        );
    }
    // A node restarted later (its data directory emptied) still verifies new tokens.
    let fresh = client
        .post(format!("{}/api/v1/auth/login", nodes[2].base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let fresh = expect_json(fresh, StatusCode::OK).await["token"].as_str().unwrap().to_string();
    let mut nodes = nodes;
    nodes.pop().unwrap().kill();
    std::fs::remove_dir_all(dirs[2].path()).unwrap();
    let restarted = start_node(&database.url, dirs[2].path(), ports[2]).await;
    assert_eq!(me_status(&client, &restarted.base, &fresh).await, StatusCode::OK);
    for node in nodes {
        node.stop().await;
    }
    restarted.stop().await;
}

/// What a live-stream client saw: every `post` event's post id, in order.
#[derive(Default)]
struct Seen {
    posts: Vec<i64>,
    /// Connections made (the first, then one per reconnect).
    connections: usize,
    last_id: Option<String>,
}

/// A Server-Sent Events client that reads `/api/v1/stream` from the first node of `bases`
/// that answers and, when its connection breaks, reconnects to the next with
/// `Last-Event-ID`, as a browser behind a load balancer would.
struct Listener {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    fn start(bases: Vec<String>, token: String) -> Listener {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (task_seen, task_stop) = (seen.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut next = 0;
            while !task_stop.load(Ordering::SeqCst) {
                let base = &bases[next % bases.len()];
                let mut request = client.get(format!("{base}/api/v1/stream")).bearer_auth(&token);
                if let Some(id) = task_seen.lock().unwrap().last_id.clone() {
                    request = request.header("Last-Event-ID", id);
                }
                match request.send().await {
                    Ok(response) if response.status() == StatusCode::OK => {
                        task_seen.lock().unwrap().connections += 1;
                        read_stream(response, &task_seen, &task_stop).await;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
                // The connection ended: the node is gone or restarting; try the next.
                next += 1;
            }
        });
        Listener { seen, stop, task }
    }

    fn connections(&self) -> usize {
        self.seen.lock().unwrap().connections
    }

    fn posts(&self) -> Vec<i64> {
        self.seen.lock().unwrap().posts.clone()
    }

    async fn finish(self) -> Vec<i64> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.abort();
        let _ = self.task.await;
        let seen = self.seen.lock().unwrap();
        seen.posts.clone()
    }
}

/// Reads events until the connection ends or `stop` is set, recording post ids and the
/// last event id (every event carries one, including the comments for changes not sent).
async fn read_stream(mut response: reqwest::Response, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let mut buffer = String::new();
    while !stop.load(Ordering::SeqCst) {
        let chunk = match tokio::time::timeout(Duration::from_secs(1), response.chunk()).await {
            Err(_) => continue, // idle: check `stop` again
            Ok(Ok(Some(bytes))) => bytes,
            Ok(_) => return, // closed or broken
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, "", "");
            for line in event.lines() {
                if let Some(value) = line.strip_prefix("id: ") {
                    id = Some(value.to_string());
                } else if let Some(value) = line.strip_prefix("event: ") {
                    kind = value;
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = value;
                }
            }
            let mut seen = seen.lock().unwrap();
            if kind == "post" {
                let post: Value = serde_json::from_str(data).expect("post event is JSON");
                seen.posts.push(post["id"].as_i64().expect("post id"));
            }
            if id.is_some() {
                seen.last_id = id;
            }
        }
    }
}

/// Waits until `done` holds, at most `within`; false if it never did.
async fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

#[tokio::test]
async fn a_node_killed_mid_stream_and_rebuilt_from_nothing_converges_with_the_others() {
    let Some(database) = PgDatabase::create() else {
        eprintln!("skipped on SQLite: several nodes need PostgreSQL");
        return;
    };
    let url = database.url.clone();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = start_nodes(&url, &dirs, &ports).await;
    let client = reqwest::Client::new();
    let token = setup_admin(&client, &nodes[0].base).await;

    // The stream client starts on the node about to be killed and falls back to the first.
    let listener = Listener::start(vec![nodes[2].base.clone(), nodes[0].base.clone()], token.clone());
    assert!(eventually(Duration::from_secs(10), || listener.connections() == 1).await, "stream connects");

    // Writers on all three nodes.
    let mut ingests: Vec<Ingest> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| Ingest::start(&n.base, &token, 3, &format!("n{i}"), "scale"))
        .collect();
    let acked_total = |ingests: &[Ingest]| ingests.iter().map(Ingest::count).sum::<usize>();
    let started = Instant::now();
    while acked_total(&ingests) < 150 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writers are stuck at {}",
            acked_total(&ingests)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGKILL the third node while its writers and the stream are mid-flight.
    nodes.pop().unwrap().kill();
    let mut acked: Vec<Acked> = ingests.pop().unwrap().finish().await;
    assert!(
        eventually(Duration::from_secs(20), || listener.connections() >= 2).await,
        "the stream reconnects to another node"
    );
    let before_restart = acked_total(&ingests);
    while acked_total(&ingests) < before_restart + 100 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "writers are stuck at {}",
            acked_total(&ingests)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Restart it with its index deleted: it rebuilds from the database while the others
    // keep taking posts, and it takes posts itself as soon as it is up.
    std::fs::remove_dir_all(dirs[2].path().join("index")).unwrap();
    let restarted = start_node(&url, dirs[2].path(), ports[2]).await;
    ingests.push(Ingest::start(&restarted.base, &token, 3, "n2again", "scale"));
    let ready = Instant::now();
    loop {
        let answer = client.get(format!("{}/readyz", restarted.base)).send().await.unwrap();
        if answer.status() == StatusCode::OK {
            break;
        }
        assert!(ready.elapsed() < Duration::from_secs(60), "the restarted node never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let target = acked_total(&ingests) + 60;
    while acked_total(&ingests) < target {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "writers are stuck at {}",
            acked_total(&ingests)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for ingest in ingests {
        acked.extend(ingest.finish().await);
    }
    nodes.push(restarted);

    // Every acknowledged post is stored once (a post whose 201 was lost with the node may
    // be stored too: it was committed, just not acknowledged).
    let in_db = database_posts(&url);
    let mut acked_ids = BTreeSet::new();
    for post in &acked {
        assert!(acked_ids.insert(post.id), "post {} acknowledged twice", post.id);
        assert_eq!(in_db.get(&post.id), Some(&post.body), "acknowledged post {} is stored", post.id);
    }
    let ids: BTreeSet<i64> = in_db.keys().copied().collect();
    assert!(acked.len() >= 310, "{} posts acknowledged", acked.len());

    // Every node's index holds exactly the database's posts.
    for node in &nodes {
        let took = wait_index_matches(&client, &node.base, &token, &ids, Duration::from_secs(60)).await;
        assert!(took.is_some(), "{}'s index never matched the database's {} posts", node.base, ids.len());
    }

    // Timelines and trends agree across nodes and with the database.
    let views = [
        "/api/v1/timeline?limit=100".to_string(),
        "/api/v1/timeline?tag=scale&limit=100".to_string(),
        "/api/v1/tags/scale".to_string(),
        "/api/v1/trends/recurring?window=90d".to_string(),
        format!(
            "/api/v1/tags/scale/history?interval=hour&from={}",
            i2i::domain::time::format_ms(i2i::db::now_ms() - 3_600_000 * 2)
        ),
    ];
    // Each node computes its own answer: all but the moment it did so must agree.
    let without_time = |mut view: Value| {
        if let Some(window) = view.get_mut("window").and_then(Value::as_object_mut) {
            window.remove("computed_at");
        }
        view
    };
    for path in &views {
        let first = without_time(get_json(&client, &nodes[0].base, path, &token).await);
        for node in &nodes[1..] {
            let other = without_time(get_json(&client, &node.base, path, &token).await);
            assert_eq!(other, first, "{path} differs on {}", node.base);
        }
    }
    let tag = get_json(&client, &nodes[1].base, "/api/v1/tags/scale", &token).await;
    assert_eq!(tag["posts"].as_u64(), Some(ids.len() as u64), "the tag counts every post: {tag}");
    let timeline = get_json(&client, &nodes[2].base, "/api/v1/timeline?limit=100", &token).await;
    let newest = newest_posts(&url, 100);
    let shown: Vec<i64> =
        timeline["items"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(shown, newest, "the timeline shows the newest posts");

    // The stream, across its reconnect, delivered every post exactly once.
    assert!(
        eventually(Duration::from_secs(30), || listener.posts().len() >= ids.len()).await,
        "the stream delivered {} of {} posts",
        listener.posts().len(),
        ids.len()
    );
    let connections = listener.connections();
    let streamed = listener.finish().await;
    let unique: BTreeSet<i64> = streamed.iter().copied().collect();
    assert_eq!(unique.len(), streamed.len(), "a post was streamed twice");
    assert_eq!(unique, ids, "the stream's posts are the database's");
    eprintln!(
        "3 nodes: {} posts acknowledged ({} stored), one node SIGKILLed and rebuilt from an empty \
         index; all indexes equal the database; the stream saw each post once over {connections} connections",
        acked.len(),
        ids.len()
    );
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn a_node_with_an_empty_index_serves_at_once_and_is_ready_only_once_caught_up() {
    const POSTS: usize = 8_000; // below 10,000, so search totals are exact
    let database = PgDatabase::create();
    let url = database.as_ref().map(|d| d.url.clone());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let client = reqwest::Client::new();
    let node = Node::start(url.as_deref(), &data, port).await;
    let token = setup_admin(&client, &node.base).await;
    node.stop().await;

    let file = dir.path().join("corpus.jsonl");
    let mut lines = Vec::new();
    i2i::corpus::generate(&i2i::corpus::CorpusSpec::with_posts(POSTS), |line| {
        lines.push(serde_json::to_string(&line).unwrap())
    });
    std::fs::write(&file, lines.join("\n")).unwrap();
    let imported = run_i2i(url.as_deref(), &data, &["import", "--bulk", file.to_str().unwrap()]).await;
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    std::fs::remove_dir_all(data.join("index")).unwrap();

    // It answers at once, rebuilding in the background; `/readyz` stays 503 until the index
    // holds everything, and the first 200 finds every post searchable.
    let node = Node::start(url.as_deref(), &data, port).await;
    let mut catching_up = 0;
    let started = Instant::now();
    loop {
        let answer = client.get(node.url("/readyz")).send().await.unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "catching_up", "{body}");
        catching_up += 1;
        assert!(started.elapsed() < Duration::from_secs(120), "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = get_json(&client, &node.base, "/api/v1/search?q=&limit=1", &token).await;
    assert_eq!(answer["total"].as_u64(), Some(POSTS as u64), "ready before caught up: {answer}");
    assert!(catching_up > 0, "the rebuild of {POSTS} posts was never seen from /readyz");
    node.stop().await;
}
