//! `i2i-bench login-storm`: many logins at the same moment from many addresses, against a
//! server in this process, reporting the peak resident memory next to its 300 MB target.
//!
//! Every login costs an argon2 run with 19 MiB of working memory (unknown usernames too,
//! so timing does not reveal them). Before the gate in `auth::password`, 100 parallel
//! logins left the process at 1.9 GB; this is the measurement that shows it bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::drive::summary;
use crate::load::start_server;
use crate::resources::{peak_rss_mb, reset_peak_rss, rss_split_mb, RssSampler};

/// The peak resident memory a login storm may leave the process at (issue 22).
pub const PEAK_RSS_TARGET_MB: f64 = 300.0;

const PASSWORD: &str = "storm-password-1";

/// What to run.
pub struct StormSpec {
    /// Logins sent at once.
    pub attempts: usize,
    /// Distinct client addresses (127.0.0.2 onwards) the logins come from.
    pub addresses: usize,
    /// Storms run one after another, so memory that is not reused would show as growth.
    pub rounds: usize,
}

/// Which login attempt `i` is: most are for unknown names (the probe's case), some are a
/// real user's right or wrong password.
fn attempt(i: usize) -> (String, &'static str, &'static str) {
    match i % 10 {
        0 => ("storm".to_string(), PASSWORD, "right_password"),
        1 => ("storm".to_string(), "wrong-password", "wrong_password"),
        _ => (format!("ghost{i}"), "any-password-at-all", "unknown_user"),
    }
}

/// Starts a server, sends `rounds` storms of `attempts` simultaneous logins and returns the
/// figures: statuses per kind of attempt, latencies, and the resident memory before, at the
/// peak and after.
pub async fn run(spec: StormSpec) -> anyhow::Result<Value> {
    anyhow::ensure!((1..=250).contains(&spec.addresses), "--addresses must be 1..=250");
    let dir = tempfile::tempdir()?;
    let (base, search) = start_server(dir.path()).await?;
    let setup = reqwest::Client::new()
        .post(format!("{base}/api/v1/setup"))
        .json(&json!({"username": "storm", "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(setup.status() == 201, "setup answered {}", setup.status());
    let clients = (0..spec.addresses)
        .map(|n| {
            let address: std::net::IpAddr = format!("127.0.0.{}", n + 2).parse()?;
            Ok(reqwest::Client::builder().local_address(address).timeout(Duration::from_secs(60)).build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_split_mb();
    reset_peak_rss();
    let sampler = RssSampler::start();
    let started = Instant::now();
    let mut samples: Vec<(&'static str, Duration, Option<u16>)> = Vec::new();
    let mut after_each_round = Vec::new();
    for _ in 0..spec.rounds {
        let mut tasks = Vec::new();
        for i in 0..spec.attempts {
            let client = clients[i % clients.len()].clone();
            let url = format!("{base}/api/v1/auth/login");
            tasks.push(tokio::spawn(async move {
                let (username, password, kind) = attempt(i);
                let sent = Instant::now();
                let status = match client
                    .post(url)
                    .json(&json!({"username": username, "password": password}))
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.bytes().await.ok().map(|_| status)
                    }
                    Err(error) => {
                        eprintln!("login {i}: {error:?}");
                        None
                    }
                };
                (kind, sent.elapsed(), status)
            }));
        }
        for task in tasks {
            samples.push(task.await?);
        }
        after_each_round.push(rss_split_mb());
    }
    let wall = started.elapsed();
    let peak_split = sampler.finish();
    let peak = peak_rss_mb();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_split_mb();
    search.shutdown();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut kinds: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (kind, _, status) in &samples {
        let key = status.map_or("connection_error".to_string(), |code| code.to_string());
        *kinds.entry(kind).or_default().entry(key).or_default() += 1;
    }
    let server_errors = samples.iter().filter(|(_, _, status)| status.is_none_or(|code| code >= 500)).count();
    Ok(json!({
        "attempts": spec.attempts,
        "addresses": spec.addresses,
        "rounds": spec.rounds,
        "seconds": wall.as_secs_f64(),
        "latency": summary(samples.iter().map(|(_, latency, _)| *latency).collect(), wall),
        "statuses": kinds,
        "server_errors": server_errors,
        "rss_before_mb": before,
        "rss_after_each_round_mb": after_each_round,
        "rss_after_mb": after,
        "peak_rss_mb": peak,
        "peak_rss_split_mb": peak_split,
        "peak_rss_target_mb": PEAK_RSS_TARGET_MB,
    }))
}

/// Prints the figures as a Markdown table.
pub fn print(figures: &Value) {
    let mb = |value: &Value| value.as_f64().unwrap_or(0.0);
    let total = |split: &Value| mb(&split["anon"]) + mb(&split["file"]);
    println!(
        "login storm: {} rounds of {} simultaneous logins from {} addresses in {:.1} s; {} server errors",
        figures["rounds"],
        figures["attempts"],
        figures["addresses"],
        mb(&figures["seconds"]),
        figures["server_errors"]
    );
    println!("| measure | value | target |");
    println!("|---|---:|---:|");
    println!("| resident before | {:.0} MB | |", total(&figures["rss_before_mb"]));
    println!(
        "| peak resident (VmHWM) | {:.0} MB | ≤ {:.0} MB |",
        mb(&figures["peak_rss_mb"]),
        mb(&figures["peak_rss_target_mb"])
    );
    println!("| resident 1 s after | {:.0} MB | |", total(&figures["rss_after_mb"]));
    println!(
        "| login p50 / p99 / max | {:.0} / {:.0} / {:.0} ms | |",
        mb(&figures["latency"]["p50_ms"]),
        mb(&figures["latency"]["p99_ms"]),
        mb(&figures["latency"]["max_ms"])
    );
    println!("statuses by attempt: {}", figures["statuses"]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_is_mostly_unknown_names_with_some_real_logins() {
        let kinds: Vec<&str> = (0..200).map(|i| attempt(i).2).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "unknown_user").count(), 160);
        assert_eq!(kinds.iter().filter(|k| **k == "right_password").count(), 20);
        let unknown: std::collections::BTreeSet<String> =
            (0..200).filter(|i| i % 10 > 1).map(|i| attempt(i).0).collect();
        assert_eq!(unknown.len(), 160, "each unknown attempt uses a name of its own");
    }
}
