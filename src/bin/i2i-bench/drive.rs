//! Load generators and latency summaries shared by every measurement, so i2i, its floors and
//! its peers are all timed by the same code and their figures are directly comparable.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::mix::QUERIES;

/// Latency summary of a set of samples taken over `wall` time.
pub fn summary(mut samples: Vec<Duration>, wall: Duration) -> Value {
    samples.sort();
    let pick = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
    };
    json!({
        "count": samples.len(),
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "max_ms": pick(1.0),
        "per_second": samples.len() as f64 / wall.as_secs_f64().max(1e-9),
    })
}

/// The latencies of a run, each with the index of its call, so a run of the search mix can
/// also be broken down per query (call `i` runs `QUERIES[i % QUERIES.len()]`).
pub struct Samples {
    pub taken: Vec<(usize, Duration)>,
    pub wall: Duration,
}

impl Samples {
    pub fn summary(self) -> Value {
        summary(self.taken.into_iter().map(|(_, d)| d).collect(), self.wall)
    }

    /// The summary plus `by_query`: each query's p50 and p99, which show where a mix's time
    /// goes (one common-term query can dominate an engine's p99).
    pub fn mix(self) -> Value {
        let mut per_query = vec![Vec::new(); QUERIES.len()];
        for (i, d) in &self.taken {
            per_query[i % QUERIES.len()].push(*d);
        }
        let by_query: serde_json::Map<String, Value> = QUERIES
            .iter()
            .zip(per_query)
            .map(|(q, samples)| {
                let mut figures = summary(samples, self.wall);
                if let Some(map) = figures.as_object_mut() {
                    // A per-query rate over the whole run's wall time would mislead.
                    map.remove("per_second");
                }
                (q.name.to_string(), figures)
            })
            .collect();
        let mut figures = self.summary();
        if let Some(map) = figures.as_object_mut() {
            map.insert("by_query".into(), Value::Object(by_query));
        }
        figures
    }
}

/// `concurrency` tasks share `total` calls of `call(i)`; returns the latency summary.
pub async fn concurrent<F, Fut>(concurrency: usize, total: usize, call: F) -> anyhow::Result<Samples>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    spread(concurrency, total, None, call).await
}

/// Like [`concurrent`], but open-loop: call `i` is due at `i / rate` seconds after the start,
/// whether or not earlier calls have answered, and `concurrency` tasks send the calls that are
/// due. A call that waited for a free task is timed from the moment it was due, so it counts
/// its wait (no coordinated omission); one sent on time is timed from when it was sent, so the
/// timer's own wake-up delay (tokio's ticks are a millisecond) is not counted. This is how a
/// team of people loads a server below its capacity, where a closed loop measures the queue
/// at saturation.
pub async fn paced<F, Fut>(concurrency: usize, total: usize, rate: f64, call: F) -> anyhow::Result<Samples>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    anyhow::ensure!(rate > 0.0, "a paced run needs a positive rate, not {rate}");
    spread(concurrency, total, Some(rate), call).await
}

/// `concurrency` tasks take the calls in order, each as soon as it is free (closed loop, no
/// `rate`) or not before the call is due (open loop at `rate` calls a second).
async fn spread<F, Fut>(
    concurrency: usize,
    total: usize,
    rate: Option<f64>,
    call: F,
) -> anyhow::Result<Samples>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    use tokio::time::Instant;
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let due = rate.map(|rate| started + Duration::from_secs_f64(i as f64 / rate));
                let sent = match due {
                    Some(due) if Instant::now() >= due => due,
                    Some(due) => {
                        tokio::time::sleep_until(due).await;
                        Instant::now()
                    }
                    None => Instant::now(),
                };
                call(i).await?;
                samples.push((i, sent.elapsed()));
            }
            anyhow::Ok(samples)
        }));
    }
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await??);
    }
    Ok(Samples { taken, wall: started.elapsed() })
}

/// Longest a peer's query mix may run: at 1M posts a full-text peer can take a second or
/// more per common-word query, and 2,000 of them would take hours. Past it no new call starts
/// and the figures are over the calls made (their count is in the report).
pub const PEER_BUDGET: Duration = Duration::from_secs(90);

/// The blocking twin of [`concurrent`] for the database peers: one OS thread per connection
/// in `connections` (opened by the caller, so connecting is not timed), sharing `total` calls
/// of `call(conn, i)` in the same order, for at most `budget`. Blocking drivers on threads are how those engines are
/// normally used; wrapping them in async tasks would only add scheduling noise.
pub fn threaded<C, F>(connections: Vec<C>, total: usize, budget: Duration, call: F) -> anyhow::Result<Samples>
where
    C: Send,
    F: Fn(&mut C, usize) -> anyhow::Result<()> + Sync,
{
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let per_thread: Vec<anyhow::Result<Vec<(usize, Duration)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = connections
            .into_iter()
            .map(|mut conn| {
                let (next, call) = (&next, &call);
                scope.spawn(move || {
                    let mut samples = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= total || started.elapsed() > budget {
                            break;
                        }
                        let t = Instant::now();
                        call(&mut conn, i)?;
                        samples.push((i, t.elapsed()));
                    }
                    // The connection drops here, on its own thread, before the scope ends.
                    anyhow::Ok(samples)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a load thread panicked"))))
            .collect()
    });
    let wall = started.elapsed();
    let mut taken = Vec::new();
    for result in per_thread {
        taken.extend(result?);
    }
    Ok(Samples { taken, wall })
}

/// The running i2i server as the benchmark's HTTP client sees it.
pub struct Target {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Target {
    pub async fn post(&self, body: &str) -> anyhow::Result<Value> {
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

    /// Like [`Target::get`], but `None` while the server answers 503: right after startup the
    /// search index may still be opening, which is a state to wait out, not a failure.
    pub async fn get_when_ready(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let response =
            self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Ok(None);
        }
        anyhow::ensure!(response.status().is_success(), "{path} answered {}", response.status());
        Ok(Some(response.json().await?))
    }

    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "PATCH {path} answered {}", response.status());
        Ok(response.json().await?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response =
            self.client.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        anyhow::ensure!(response.status().is_success(), "{path} answered {}", response.status());
        Ok(response.json().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_ms(samples: &Samples) -> f64 {
        samples.taken.iter().map(|(_, d)| d.as_secs_f64() * 1000.0).fold(0.0, f64::max)
    }

    #[tokio::test]
    async fn a_paced_run_sends_no_faster_than_its_rate() {
        // 10 calls at 100/s: the last is due at 90 ms, whatever the concurrency.
        let samples = paced(4, 10, 100.0, |_| async { Ok(()) }).await.expect("paced run");
        assert_eq!(samples.taken.len(), 10);
        assert!(samples.wall >= Duration::from_millis(90), "finished in {:?}", samples.wall);
    }

    #[tokio::test]
    async fn a_paced_run_counts_the_wait_for_a_free_sender() {
        // One sender, calls due every millisecond, each taking 5 ms: the calls fall behind,
        // and the later ones wait for the sender. Their latency includes that wait, where a
        // closed loop would report 5 ms for every call.
        let slow = |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        };
        let open = paced(1, 20, 1000.0, slow).await.expect("paced run");
        let closed = concurrent(1, 20, slow).await.expect("closed run");
        assert!(max_ms(&open) >= 60.0, "the last call's wait is missing: {} ms", max_ms(&open));
        assert!(max_ms(&closed) < 40.0, "a closed loop has no wait: {} ms", max_ms(&closed));
    }

    #[tokio::test]
    async fn a_paced_call_sent_on_time_counts_only_itself() {
        // Calls due every 10 ms, each taking 1 ms, two senders: none waits, so none may
        // count the time since the run started (up to 90 ms) or the timer's tick.
        let quick = |_| async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(())
        };
        let samples = paced(2, 10, 100.0, quick).await.expect("paced run");
        assert!(
            max_ms(&samples) < 30.0,
            "an on-time call was timed from before it was sent: {} ms",
            max_ms(&samples)
        );
    }
}
