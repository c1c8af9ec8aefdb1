//! PostgreSQL going away under load: requests fail fast with 503 while it is unreachable,
//! the node recovers by itself when it is back, and nothing acknowledged is lost.
//!
//! The outage is made by a TCP proxy between the node and PostgreSQL that drops every open
//! connection and refuses new ones for a while: to the node, exactly what a restart of the
//! database server looks like, without disturbing the other tests sharing that server.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::TestApp;

/// Forwards 127.0.0.1:<port> to PostgreSQL; while `down`, open connections are cut and new
/// ones are closed as soon as they are accepted.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    /// Bumped on every outage so connection tasks notice and hang up.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (flag, gen) = (down.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let (upstream, gen, born) = (upstream.clone(), gen.clone(), gen.load(Ordering::SeqCst));
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else { return };
                    let (mut client, mut server) = (client, server);
                    let pipe = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let cut = async {
                        while gen.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    // Whichever ends first: the session, or an outage cutting it.
                    tokio::select! { _ = pipe => {}, _ = cut => {} }
                });
            }
        });
        Proxy { port, down, generation }
    }

    fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn come_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db` with host and port replaced by the proxy's.
fn through_proxy(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let user = authority.rsplit_once('@').map(|(user, _)| format!("{user}@")).unwrap_or_default();
    format!("{scheme}://{user}127.0.0.1:{port}/{path}")
}

/// What the writers saw: acknowledged post ids, and every other answer with how long it took.
#[derive(Default)]
struct Seen {
    acked: Vec<i64>,
    failures: Vec<(u16, Duration)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_restarting_under_load_gives_fast_503s_then_recovers_losing_nothing() {
    let Ok(admin_url) = std::env::var("I2I_TEST_POSTGRES_URL") else { return };
    if admin_url.is_empty() {
        return;
    }
    let upstream = {
        let rest = admin_url.split_once("://").unwrap().1;
        let authority = rest.split_once('/').map(|(a, _)| a).unwrap_or(rest);
        let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
        if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        }
    };
    let proxy = Proxy::start(upstream).await;
    let port = proxy.port;
    let app = TestApp::spawn_with(|config| {
        let direct = config.database_url.clone().unwrap();
        config.database_url = Some(through_proxy(&direct, port));
        config.posts_per_minute = 0;
    })
    .await;
    let admin = app.setup_admin().await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (seen, stop, client, admin) = (seen.clone(), stop.clone(), client.clone(), admin.clone());
            let url = app.url("/api/v1/posts");
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let started = Instant::now();
                    let body = json!({"body": format!("outage-{writer}-{n} #outage")});
                    let answer = client.post(&url).bearer_auth(&admin).json(&body).send().await;
                    match answer {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            let post: serde_json::Value = r.json().await.unwrap();
                            seen.lock().unwrap().acked.push(post["id"].as_i64().unwrap());
                        }
                        Ok(r) => {
                            let status = r.status().as_u16();
                            seen.lock().unwrap().failures.push((status, started.elapsed()));
                            // Like a real client: back off a little before trying again.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(err) => panic!("connection error from the node: {err}"),
                    }
                }
            })
        })
        .collect();

    let acked_before = |seen: &Mutex<Seen>| seen.lock().unwrap().acked.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked_before(&seen) < 50 {
        assert!(Instant::now() < deadline, "no posts got through before the outage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The outage: reads as well as writes must answer 503, and quickly.
    proxy.go_down();
    let outage = Instant::now();
    let mut read_statuses = Vec::new();
    while outage.elapsed() < Duration::from_secs(4) {
        let started = Instant::now();
        let answer = app.get("/api/v1/timeline", &admin).await;
        read_statuses.push((answer.status().as_u16(), started.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acked_at_return = acked_before(&seen);
    proxy.come_back();

    // Recovery without a restart: posts get through again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked_before(&seen) < acked_at_return + 50 {
        assert!(Instant::now() < deadline, "the node did not recover after the database came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let unavailable = seen.failures.iter().filter(|(status, _)| *status == 503).count();
    assert!(unavailable > 0, "the writers never saw the outage: {:?}", seen.failures);
    assert!(
        seen.failures.iter().all(|(status, _)| *status == 503),
        "every failure is a 503: {:?}",
        seen.failures
    );
    // Fail fast: nobody waits long for an answer the database cannot give.
    let slowest = seen.failures.iter().map(|(_, took)| *took).max().unwrap();
    assert!(slowest < Duration::from_secs(8), "a 503 took {slowest:?}");
    let outage_reads: Vec<_> = read_statuses.iter().skip(5).collect();
    assert!(
        outage_reads.iter().all(|(status, took)| *status == 503 && *took < Duration::from_secs(8)),
        "reads during the outage: {read_statuses:?}"
    );

    // Nothing acknowledged is lost, nothing doubled, and the index has every post.
    let acked: BTreeSet<i64> = seen.acked.iter().copied().collect();
    assert_eq!(acked.len(), seen.acked.len(), "an id was acknowledged twice");
    let stored: BTreeSet<i64> = app
        .db()
        .read_blocking(|conn| {
            use diesel::prelude::*;
            use i2i::db::schema::posts;
            Ok(posts::table.select(posts::id).load::<i64>(conn)?)
        })
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged posts missing from the database: {lost:?}");
    let expected = stored.len() as u64;
    let answer = app
        .search_until(&admin, "#outage", Duration::from_secs(30), |a| a["total"].as_u64() == Some(expected))
        .await;
    assert_eq!(answer["total"].as_u64(), Some(expected), "the index caught up after the outage");
    eprintln!(
        "outage: {} acknowledged, {} answered 503 (slowest {slowest:?}), 0 lost",
        acked.len(),
        unavailable
    );
}
