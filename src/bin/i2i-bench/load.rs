//! `i2i-bench load`: a bounded mixed workload (posting, timelines, search, trends, tag pages)
//! against an i2i server on the loopback interface, reporting p50/p99 and counts per route.
//! It fails on any 5xx or connection error, so CI can run a short version as a smoke test.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::drive::summary;

/// The routes of the mix, each with its share of the calls (out of [`MIX_TOTAL`]).
const MIX: [(&str, usize); 6] =
    [("post", 3), ("timeline", 3), ("search", 2), ("trends", 1), ("tag_api", 1), ("tag_page", 1)];
const MIX_TOTAL: usize = 11;
/// Tags the posts use and the tag routes read, so reads hit rollups that exist.
const TAGS: [&str; 6] = ["sso", "payments", "latency", "dns", "deploy", "oncall"];
const QUERIES: [&str; 5] = ["timeout", "#sso", "deploy OR rollback", "\"connection reset\"", "latency -dns"];
/// Accounts the load posts as: several authors, as a real team would be.
const USERS: usize = 16;

/// What to run.
pub struct LoadSpec {
    pub seconds: u64,
    pub concurrency: usize,
    /// Upper bound on requests, so a very fast server cannot make a run unbounded in work.
    pub max_requests: usize,
}

/// One request's outcome.
struct Sample {
    route: &'static str,
    latency: Duration,
    status: Option<u16>,
    /// What went wrong when there is no status: the client's error, with its causes.
    error: Option<String>,
}

/// Refuses anything but a loopback address: this tool generates load and must never be
/// pointed at a shared service by mistake.
pub fn ensure_loopback(base: &str) -> anyhow::Result<()> {
    let rest = base.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("only http:// targets"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let addrs: Vec<IpAddr> = authority.to_socket_addrs()?.map(|a| a.ip()).collect();
    anyhow::ensure!(
        !addrs.is_empty() && addrs.iter().all(IpAddr::is_loopback),
        "refusing to load {base}: only loopback targets are allowed"
    );
    Ok(())
}

/// Starts a server on a temporary data directory on 127.0.0.1, runs the mix against it and
/// returns the figures; the error lists what failed when any request got a 5xx or no answer.
pub async fn run(spec: LoadSpec) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let (base, search) = start_server(dir.path()).await?;
    // Idle connections are dropped after 2 s, before the server's 5 s keep-alive closes
    // them: otherwise a request can be written onto a connection the server is closing at
    // that instant, and the run reports a connection error that no real client would see
    // behind a proxy with the same rule (the CI run of 2026-11-22 failed on one).
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(spec.concurrency)
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .build()?;
    let tokens = Arc::new(accounts(&client, &base).await?);
    let figures = drive(&client, &base, tokens, &spec).await;
    search.shutdown();
    // The indexer makes a last commit on shutdown; let it land before the data directory
    // is deleted under it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    figures
}

/// Starts a server in this process on a fresh SQLite database in `dir`, on 127.0.0.1;
/// returns its base URL and its search index (to shut down before `dir` goes).
pub async fn start_server(dir: &std::path::Path) -> anyhow::Result<(String, Arc<i2i::search::SearchIndex>)> {
    let config = i2i::config::Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(format!("sqlite://{}", dir.join("i2i.db").display())),
        listen: "127.0.0.1:0".into(),
        jwt_secret: Some("load-test-secret-0123456789".into()),
        log: "warn".into(),
        // 64 workers over 16 authors post far faster than a person: the run measures the
        // server, not the per-user posting limit, so the limit is off.
        posts_per_minute: 0,
        ..Default::default()
    };
    i2i::telemetry::init("warn");
    let app = i2i::startup::Application::build(config).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    ensure_loopback(&base)?;
    let search = app.search();
    tokio::spawn(app.run_until_stopped());
    Ok((base, search))
}

/// Sets up the admin and the posting accounts; returns a token per account.
async fn accounts(client: &reqwest::Client, base: &str) -> anyhow::Result<Vec<String>> {
    let setup: Value = client
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"username": "load", "password": "load-password"}))
        .send()
        .await?
        .json()
        .await?;
    let admin = setup["token"].as_str().unwrap_or_default().to_string();
    let mut tokens = vec![admin.clone()];
    for n in 1..USERS {
        let username = format!("load{n}");
        let created = client
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(&json!({"username": username, "password": "load-password"}))
            .send()
            .await?;
        anyhow::ensure!(created.status() == 201, "creating {username} answered {}", created.status());
        let login: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": "load-password"}))
            .send()
            .await?
            .json()
            .await?;
        tokens.push(login["token"].as_str().unwrap_or_default().to_string());
    }
    Ok(tokens)
}

/// The request call `i` makes: its route name, method and path (and body for a post).
fn request(i: usize) -> (&'static str, reqwest::Method, String, Option<Value>) {
    let mut slot = i % MIX_TOTAL;
    let mut route = MIX[0].0;
    for (name, share) in MIX {
        if slot < share {
            route = name;
            break;
        }
        slot -= share;
    }
    let tag = TAGS[i % TAGS.len()];
    let get = reqwest::Method::GET;
    match route {
        "post" => {
            let body = format!(
                "load note {i}: connection reset after deploy, timeout on #{tag} #{} INC-{} @load1",
                TAGS[(i / 7) % TAGS.len()],
                i % 50
            );
            (route, reqwest::Method::POST, "/api/v1/posts".into(), Some(json!({ "body": body })))
        }
        "timeline" => (route, get, "/api/v1/timeline?limit=20".into(), None),
        "search" => {
            let q: String = form_urlencoded::byte_serialize(QUERIES[i % QUERIES.len()].as_bytes()).collect();
            (route, get, format!("/api/v1/search?q={q}&limit=20"), None)
        }
        "trends" => (route, get, "/api/v1/trends/tags".into(), None),
        "tag_api" => (route, get, format!("/api/v1/tags/{tag}"), None),
        _ => (route, get, format!("/tags/{tag}"), None),
    }
}

async fn drive(
    client: &reqwest::Client,
    base: &str,
    tokens: Arc<Vec<String>>,
    spec: &LoadSpec,
) -> anyhow::Result<Value> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(spec.seconds);
    let mut tasks = Vec::new();
    for _ in 0..spec.concurrency {
        let (client, base, tokens, next) = (client.clone(), base.to_string(), tokens.clone(), next.clone());
        let max = spec.max_requests;
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max || Instant::now() >= deadline {
                    break;
                }
                let (route, method, path, body) = request(i);
                let mut builder =
                    client.request(method, format!("{base}{path}")).bearer_auth(&tokens[i % tokens.len()]);
                if let Some(body) = body {
                    builder = builder.json(&body);
                }
                let t = Instant::now();
                let outcome = match builder.send().await {
                    // Read the body: a response is not served until it has been transferred.
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.bytes().await.map(|_| status)
                    }
                    Err(error) => Err(error),
                };
                let (status, error) = match outcome {
                    Ok(status) => (Some(status), None),
                    Err(error) => (None, Some(error_chain(&error))),
                };
                samples.push(Sample { route, latency: t.elapsed(), status, error });
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await?);
    }
    let wall = started.elapsed();
    report(samples, wall)
}

/// The error and its causes on one line ("error sending request: … : connection reset").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Per-route figures; an error when any request failed at the server or the connection.
fn report(samples: Vec<Sample>, wall: Duration) -> anyhow::Result<Value> {
    let mut by_route: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for sample in &samples {
        by_route.entry(sample.route).or_default().push(sample);
    }
    let mut routes = serde_json::Map::new();
    let (mut server_errors, mut connection_errors) = (0usize, 0usize);
    for (route, taken) in &by_route {
        let mut figures = summary(taken.iter().map(|s| s.latency).collect(), wall);
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for sample in taken {
            let key = sample.status.map_or("connection_error".to_string(), |s| s.to_string());
            *statuses.entry(key).or_default() += 1;
        }
        server_errors += taken.iter().filter(|s| s.status.is_some_and(|code| code >= 500)).count();
        connection_errors += taken.iter().filter(|s| s.status.is_none()).count();
        if let Some(map) = figures.as_object_mut() {
            map.insert("statuses".into(), json!(statuses));
        }
        routes.insert((*route).to_string(), figures);
    }
    let total = summary(samples.iter().map(|s| s.latency).collect(), wall);
    // The distinct client errors, so a failed run says what failed, not only how often.
    let errors: std::collections::BTreeSet<String> = samples
        .iter()
        .filter_map(|s| {
            s.error
                .as_ref()
                .map(|e| format!("{}: {e} (after {:.0} ms)", s.route, s.latency.as_secs_f64() * 1e3))
        })
        .take(10)
        .collect();
    let figures = json!({
        "errors": errors,
        "seconds": wall.as_secs_f64(),
        "requests": samples.len(),
        "server_errors": server_errors,
        "connection_errors": connection_errors,
        "total": total,
        "routes": routes,
    });
    Ok(figures)
}

/// Prints the figures as a Markdown table.
pub fn print(figures: &Value) {
    println!(
        "load: {} requests in {:.1} s ({:.0}/s), {} server errors (5xx), {} connection errors",
        figures["requests"],
        figures["seconds"].as_f64().unwrap_or(0.0),
        figures["total"]["per_second"].as_f64().unwrap_or(0.0),
        figures["server_errors"],
        figures["connection_errors"]
    );
    if let Some(errors) = figures["errors"].as_array() {
        for error in errors {
            println!("connection error: {}", error.as_str().unwrap_or_default());
        }
    }
    println!("| route | requests | p50 ms | p99 ms | statuses |");
    println!("|---|---:|---:|---:|---|");
    if let Some(routes) = figures["routes"].as_object() {
        for (route, f) in routes {
            println!(
                "| {route} | {} | {:.1} | {:.1} | {} |",
                f["count"],
                f["p50_ms"].as_f64().unwrap_or(0.0),
                f["p99_ms"].as_f64().unwrap_or(0.0),
                f["statuses"]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(ensure_loopback("http://127.0.0.1:8080").is_ok());
        assert!(ensure_loopback("http://[::1]:8080/x").is_ok());
        assert!(ensure_loopback("http://8.8.8.8:80").is_err());
        assert!(ensure_loopback("https://127.0.0.1:80").is_err());
    }

    #[test]
    fn the_mix_follows_its_shares() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for i in 0..MIX_TOTAL * 10 {
            *counts.entry(request(i).0).or_default() += 1;
        }
        for (route, share) in MIX {
            assert_eq!(counts[route], share * 10, "{route}");
        }
    }

    #[test]
    fn a_failed_request_is_counted_and_says_why() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let wrapped = std::io::Error::other(reset);
        let samples = vec![
            Sample { route: "search", latency: Duration::from_millis(3), status: Some(200), error: None },
            Sample { route: "post", latency: Duration::from_millis(5), status: Some(503), error: None },
            Sample {
                route: "search",
                latency: Duration::from_millis(7),
                status: None,
                error: Some(error_chain(&wrapped)),
            },
        ];
        let figures = report(samples, Duration::from_secs(1)).unwrap();
        assert_eq!(figures["server_errors"], 1);
        assert_eq!(figures["connection_errors"], 1);
        assert_eq!(figures["routes"]["search"]["statuses"]["connection_error"], 1);
        let errors = figures["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].as_str().unwrap().starts_with("search: connection reset by peer"), "{errors:?}");
    }
}
