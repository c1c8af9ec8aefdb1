//! Nodes: the real `i2i` binary spawned as its own process, for tests that kill or signal
//! it, plus [`Ingest`], concurrent writers that record every post that got a 201.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

/// The signing secret every spawned node gets (the in-process `TestApp` uses the same), so a
/// token from one is accepted by another on the same database.
pub const NODE_SECRET: &str = "test-secret-that-is-long-enough";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The `i2i` command on `data_dir`, on `database_url` or else the SQLite file in `data_dir`.
pub fn i2i_command(database_url: Option<&str>, data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_i2i"));
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command.arg("--data-dir").arg(data_dir).env("I2I_JWT_SECRET", NODE_SECRET).env("I2I_LOG", "warn");
    command
}

/// Runs an `i2i` command to completion (on the blocking pool: it may take a while).
pub async fn run_i2i(database_url: Option<&str>, data_dir: &Path, args: &[&str]) -> Output {
    let mut command = i2i_command(database_url, data_dir);
    command.args(args).stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().expect("run i2i")).await.unwrap()
}

/// A spawned `i2i serve`; killed when dropped if still running, so a failing test leaves no
/// process behind.
pub struct Node {
    child: Child,
    pub base: String,
}

impl Node {
    /// Starts a node and waits until it answers `/healthz`.
    pub async fn start(database_url: Option<&str>, data_dir: &Path, port: u16) -> Node {
        Node::start_logging(database_url, data_dir, port, None).await
    }

    /// Starts a node whose log (standard error) goes to `log` when given.
    pub async fn start_logging(
        database_url: Option<&str>,
        data_dir: &Path,
        port: u16,
        log: Option<&Path>,
    ) -> Node {
        let mut command = i2i_command(database_url, data_dir);
        if let Some(log) = log {
            command.stderr(std::fs::File::create(log).expect("node log"));
        }
        Node::start_command(command, port).await
    }

    /// Starts `i2i serve` from a prepared command (say, one without `I2I_JWT_SECRET`),
    /// listening on `port`, and waits until it answers `/healthz`.
    pub async fn start_command(mut command: Command, port: u16) -> Node {
        command.args(["--listen", &format!("127.0.0.1:{port}")]).stdout(Stdio::null());
        let child = command.spawn().expect("start i2i");
        let node = Node { child, base: format!("http://127.0.0.1:{port}") };
        wait_healthy(&reqwest::Client::new(), &node.base).await;
        node
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGKILL: no shutdown, no final commit.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM, the signal a service manager stops a service with.
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: plain syscall on a child this test owns (and has not yet reaped).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM delivered");
    }

    /// Waits for the process to exit, polling; `None` if it is still running after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then asserts a clean exit within 15 s.
    pub async fn stop(mut self) {
        self.terminate();
        let status = self.wait_exit(Duration::from_secs(15)).await.expect("node stops after SIGTERM");
        assert!(status.success(), "node exited with {status}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node at {base} did not start");
}

/// One post that got a 201: its id and its body, which carries a marker no other post has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Acked {
    pub id: i64,
    pub body: String,
}

/// Concurrent writers posting to one node until stopped or until a request fails (the node
/// went away); every 201 is recorded.
pub struct Ingest {
    acked: Arc<Mutex<Vec<Acked>>>,
    /// How each writer that stopped on its own ended (the error or the status it got).
    endings: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Ingest {
    /// Starts `writers` writers; bodies are `<label>-<writer>-<n> … #<tag>`.
    pub fn start(base: &str, token: &str, writers: usize, label: &str, tag: &str) -> Ingest {
        // A timeout so a writer whose node died mid-request cannot hang the test.
        let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        let acked = Arc::new(Mutex::new(Vec::new()));
        let endings = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..writers)
            .map(|writer| {
                let (client, acked, stop) = (client.clone(), acked.clone(), stop.clone());
                let endings = endings.clone();
                let (url, token) = (format!("{base}/api/v1/posts"), token.to_string());
                let (label, tag) = (label.to_string(), tag.to_string());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let body = format!("{label}-{writer}-{n} note from writer {writer} #{tag}");
                        let sent =
                            client.post(&url).bearer_auth(&token).json(&json!({"body": body})).send().await;
                        let response = match sent {
                            Ok(response) if response.status() == StatusCode::CREATED => response,
                            Ok(response) => {
                                endings.lock().unwrap().push(format!("status {}", response.status()));
                                break;
                            }
                            Err(err) => {
                                endings.lock().unwrap().push(describe(&err));
                                break;
                            }
                        };
                        let post = match response.json::<Value>().await {
                            Ok(post) => post,
                            Err(err) => {
                                endings
                                    .lock()
                                    .unwrap()
                                    .push(format!("201 without its body: {}", describe(&err)));
                                break;
                            }
                        };
                        let id = post["id"].as_i64().unwrap();
                        acked.lock().unwrap().push(Acked { id, body });
                    }
                })
            })
            .collect();
        Ingest { acked, endings, stop, tasks }
    }

    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// The posts acknowledged so far.
    pub fn snapshot(&self) -> Vec<Acked> {
        self.acked.lock().unwrap().clone()
    }

    /// Waits until at least `n` posts were acknowledged.
    pub async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.count() < n {
            assert!(Instant::now() < deadline, "only {} of {n} posts acknowledged in 30 s", self.count());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the writers and returns every acknowledged post.
    pub async fn finish(self) -> Vec<Acked> {
        self.finish_with_endings().await.0
    }

    /// Stops the writers; returns every acknowledged post, and how the writers that stopped
    /// by themselves ended, e.g. `connect: …` (the node was gone before the request was sent)
    /// or `request: …` (cut off mid-request).
    pub async fn finish_with_endings(self) -> (Vec<Acked>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        let endings = self.endings.lock().unwrap().clone();
        (acked, endings)
    }
}

/// A request error's kind and its innermost cause.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_connect() {
        "connect"
    } else if err.is_timeout() {
        "timeout"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut cause: &dyn std::error::Error = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    format!("{kind}: {cause}")
}

/// Every post id the index returns for the empty query (through the JSON-lines export);
/// empty while the index is not open yet (503).
pub async fn indexed_ids(client: &reqwest::Client, base: &str, token: &str) -> BTreeSet<i64> {
    let response = client
        .get(format!("{base}/api/v1/search/export?format=jsonl"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::OK {
        return BTreeSet::new();
    }
    let text = response.text().await.unwrap();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_i64().unwrap()).collect()
}

/// How many documents the index holds for the empty query: with the id set equal to the
/// database's, equal to the database's count only if no post is indexed twice. `None` while
/// the index is not open yet (503).
pub async fn indexed_total(client: &reqwest::Client, base: &str, token: &str) -> Option<u64> {
    let response =
        client.get(format!("{base}/api/v1/search?q=&limit=1")).bearer_auth(token).send().await.unwrap();
    if response.status() != StatusCode::OK {
        return None;
    }
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["total_exact"], true, "{answer}");
    answer["total"].as_u64()
}

/// Polls until the index holds exactly `expected` (ids, and as many documents), or
/// `within` has passed; returns how long it took, or `None`.
pub async fn wait_index_matches(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    expected: &BTreeSet<i64>,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if indexed_ids(client, base, token).await == *expected
            && indexed_total(client, base, token).await == Some(expected.len() as u64)
        {
            return Some(started.elapsed());
        }
        if started.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
