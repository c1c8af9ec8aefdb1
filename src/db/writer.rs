//! Group commit for the server's SQLite writes. SQLite has one writer at a time, so instead
//! of each request taking the write lock, running its statements and committing on its own,
//! requests queue here and one thread runs whatever is waiting (up to [`MAX_BATCH`]) in a
//! single `BEGIN IMMEDIATE … COMMIT`, each request inside its own savepoint: a request that
//! fails rolls back alone, and nobody hears "done" before the commit that makes it durable.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use diesel::r2d2::{ConnectionManager, Pool};
use diesel::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{write_transaction, DbConn};
use crate::error::AppError;

/// Most requests committed together; enough to amortise a commit, small enough that one
/// slow request cannot hold many others for long.
pub const MAX_BATCH: usize = 64;
/// Requests waiting beyond this make callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// Tells one request how its batch ended: its own outcome if the batch committed.
type Completion = Box<dyn FnOnce(Result<(), &AppError>) + Send>;
/// One queued request: runs inside the batch's transaction and returns its completion, and
/// whether it failed on a full disk.
type Job = Box<dyn FnOnce(&mut DbConn) -> (Completion, bool) + Send>;

/// The sending side, kept in [`super::Db`]; the thread stops when the last copy is dropped.
#[derive(Clone)]
pub struct WriteQueue {
    jobs: mpsc::Sender<Job>,
    /// Transactions committed (or rolled back) so far, for tests and diagnostics.
    batches: Arc<AtomicU64>,
}

impl WriteQueue {
    /// Starts the writer thread over `pool` (the write pool, one connection on SQLite).
    pub fn start(pool: Pool<ConnectionManager<DbConn>>) -> anyhow::Result<WriteQueue> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let batches = Arc::new(AtomicU64::new(0));
        let counter = batches.clone();
        std::thread::Builder::new().name("i2i-writer".into()).spawn(move || run(pool, queue, &counter))?;
        Ok(WriteQueue { jobs, batches })
    }

    /// How many transactions the writer has run.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Runs `f` in the next batch; answers once that batch has committed (or failed).
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, AppError>>();
        let job: Job = Box::new(move |conn: &mut DbConn| {
            // The savepoint: diesel nests a transaction inside the batch's as one.
            let mut full = false;
            let outcome = conn.transaction(|conn| {
                let outcome = f(conn);
                full = matches!(outcome, Err(AppError::StorageFull));
                outcome
            });
            // SQLite may have rolled the whole transaction back on SQLITE_FULL, and then
            // the savepoint's rollback fails "outside of a transaction"; the cause is the disk.
            let outcome = if full { Err(AppError::StorageFull) } else { outcome };
            let completion = Box::new(move |committed: Result<(), &AppError>| {
                let answer = match committed {
                    Ok(()) => outcome,
                    Err(failure) => Err(batch_failed(failure)),
                };
                // The caller may have gone away (client disconnected); nothing to tell then.
                let _ = reply.send(answer);
            }) as Completion;
            (completion, full)
        });
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Each request's answer when its batch did not commit: the batch's own refusal when it is
/// one a client should see (a full disk, a lost database), else an internal error.
fn batch_failed(failure: &AppError) -> AppError {
    match failure {
        AppError::StorageFull => AppError::StorageFull,
        AppError::Unavailable(message) => AppError::Unavailable(message.clone()),
        other => AppError::Internal(anyhow::anyhow!("write batch failed: {other}")),
    }
}

/// The answer when a request never ran: the writer stopped, or an earlier request in its
/// batch panicked and the batch was abandoned. Nothing of it was written.
fn stopped() -> AppError {
    AppError::Unavailable("the write was not run; try again".into())
}

fn run(pool: Pool<ConnectionManager<DbConn>>, mut queue: mpsc::Receiver<Job>, batches: &AtomicU64) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(err) => {
                tracing::error!(error = %err, "no database connection for a write batch");
                fail_all(Vec::new(), batch, &AppError::Unavailable("the database is not reachable".into()));
                continue;
            }
        };
        run_batch(&mut conn, batch);
        batches.fetch_add(1, Ordering::Relaxed);
    }
    tracing::debug!("database writer stopped");
}

/// Runs `batch` in one transaction and tells each request how it ended.
fn run_batch(conn: &mut DbConn, batch: Vec<Job>) {
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut full = false;
    let committed = write_transaction(conn, |conn| {
        for job in jobs.by_ref() {
            // A panic would leave the transaction half-done; roll the whole batch back.
            let (completion, hit_full) = catch_unwind(AssertUnwindSafe(|| job(conn)))
                .map_err(|_| AppError::Internal(anyhow::anyhow!("a write panicked")))?;
            full |= hit_full;
            completions.push(completion);
        }
        Ok(())
    });
    // On SQLITE_FULL SQLite may roll the whole transaction back by itself; the commit then
    // fails as "outside of a transaction", and the cause every request should hear is the
    // full disk.
    let committed = match committed {
        Err(_) if full => Err(AppError::StorageFull),
        other => other,
    };
    match committed {
        Ok(()) => completions.into_iter().for_each(|done| done(Ok(()))),
        Err(err) => {
            // A full disk was logged (rate-limited) where it was recognised.
            if !matches!(err, AppError::StorageFull) {
                tracing::error!(error = format!("{err:#}"), "write batch rolled back");
            }
            fail_all(completions, jobs.collect(), &err);
        }
    }
}

/// Tells every request of a batch that did not commit.
fn fail_all(completions: Vec<Completion>, unrun: Vec<Job>, failure: &AppError) {
    for done in completions {
        done(Err(failure));
    }
    // Requests that never ran are answered without running them: dropping a job drops its
    // reply sender, which the waiting caller sees as "the writer stopped".
    drop(unrun);
}

#[cfg(test)]
mod tests {
    use crate::db::{tags, Db};
    use crate::error::AppError;

    fn tag(key: &str) -> Vec<(String, String)> {
        vec![(key.to_string(), key.to_string())]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_request_commits_or_rolls_back_alone_within_a_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("w.db").display())).expect("db");
        // Many writes in flight at once so they share batches; every third one writes a tag
        // and then fails, which must take its tag with it and nothing else.
        let mut tasks = Vec::new();
        for n in 0..150 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.write(move |conn| {
                    tags::ensure(conn, &tag(&format!("t{n}")), 0)?;
                    if n % 3 == 0 {
                        return Err(AppError::Conflict(format!("request {n} fails after writing")));
                    }
                    Ok(n)
                })
                .await
            }));
        }
        let mut answered = 0;
        for (n, task) in tasks.into_iter().enumerate() {
            match task.await.expect("task") {
                Ok(value) => assert_eq!(value, n),
                Err(AppError::Conflict(message)) => assert!(n % 3 == 0, "{message}"),
                Err(other) => panic!("request {n}: {other}"),
            }
            answered += 1;
        }
        assert_eq!(answered, 150);
        let batches = db.write_batches().expect("sqlite servers group their commits");
        assert!(batches < 150, "150 concurrent writes took {batches} transactions: no grouping");
        let keys: Vec<String> = (0..150).map(|n| format!("t{n}")).collect();
        let stored = db
            .read(move |conn| Ok(tags::by_keys(conn, &keys.iter().map(String::as_str).collect::<Vec<_>>())?))
            .await
            .expect("read");
        let mut found: Vec<String> = stored.into_iter().map(|t| t.key).collect();
        found.sort();
        let mut expected: Vec<String> = (0..150).filter(|n| n % 3 != 0).map(|n| format!("t{n}")).collect();
        expected.sort();
        assert_eq!(found, expected);
    }
}
