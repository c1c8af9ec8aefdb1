//! The indexer: the one task per process that writes the search index. It tails the change
//! feed, replaces each changed post's document (delete by id, then add: applying a change
//! twice is harmless), commits at most every [`COMMIT_EVERY`] with the feed position in the
//! commit payload, and reloads the reader so searches see the commit at once.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tantivy::{IndexWriter, TantivyDocument, Term};

use super::documents::document;
use super::shingles::CommonWords;
use super::{
    create_generation, current_number, highest_generation, open_generation, remove_other_generations,
    set_current, Checkpoint, Generation, IndexState, SearchIndex,
};
use crate::db::changes::{self, FeedPosition};
use crate::db::{posts, Db};
use crate::search::schema::SCHEMA_VERSION;
use crate::telemetry::Occurrence;

/// Shortest time between two commits: each commit makes a segment, so commits are
/// batched, but a post must still be searchable within a second.
pub const COMMIT_EVERY: Duration = Duration::from_millis(400);
/// How often the feed is polled when nobody nudges (writes from other processes).
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Changes read per round trip.
const BATCH: i64 = 1000;
/// Longest the final catch-up on shutdown may take; whatever it leaves is replayed from the
/// feed on the next start, so this only bounds how long stopping takes.
const FINISH_WITHIN: Duration = Duration::from_secs(3);
/// Indexing memory budget of the long-lived writer.
const WRITER_BYTES: usize = 50_000_000;
/// The common words of a new generation are chosen from this many stretches of the posts
/// table, spread over its ids, of [`SAMPLE_STRETCH`] posts each: a sample of old and new
/// posts that costs a few index range reads, not a scan.
const SAMPLE_STRETCHES: i64 = 20;
const SAMPLE_STRETCH: i64 = 1000;

/// Starts the indexer thread for `search`, fed from `db`.
pub fn start(search: Arc<SearchIndex>, db: Db) -> anyhow::Result<()> {
    let thread = std::thread::Builder::new()
        .name("i2i-indexer".into())
        .spawn({
            let search = search.clone();
            move || run(&search, &db)
        })
        .context("starting the indexer thread")?;
    // Registered here as well as in `run`, so a nudge right after start is not lost.
    search.set_indexer_thread(thread.thread().clone());
    Ok(())
}

/// Longest wait between two attempts while the index cannot be written; short enough that
/// the index catches up within seconds of the directory becoming writable again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The cause under which index failures are rate-limited in the log
/// ([`crate::telemetry::faults`]): one line when they begin, a warning a minute after.
const FAULT: &str = "search_index";

/// Opens (or rebuilds) the live generation, then follows the feed; on any failure it marks
/// the index degraded, logs (rate-limited), backs off and starts over from the last commit,
/// which the payload makes safe. Posting never waits for this thread, so a broken index
/// directory stops search from updating but not people from writing.
///
/// A degraded index becomes ready again only once a commit has succeeded ([`written`]):
/// opening an existing generation reads, and reads succeed in a directory that cannot be
/// written, so an open alone proves nothing.
fn run(search: &Arc<SearchIndex>, db: &Db) {
    search.set_indexer_thread(std::thread::current());
    // Signals `wait_stopped` however this thread ends, a panic included.
    let _stopped = StoppedOnDrop(search);
    let mut backoff = Duration::from_millis(250);
    while !search.is_stopping() {
        let outcome = open(search, db).and_then(|mut session| {
            if search.is_degraded() {
                // Prove the directory writable before saying so.
                session.commit(search)?;
            }
            session.follow(search, db)
        });
        match outcome {
            Ok(()) => backoff = Duration::from_millis(250),
            // A failure while shutting down (the data directory may already be going away)
            // is not a degraded index; the next start resumes from the last commit.
            Err(err) if search.is_stopping() => {
                tracing::info!(
                    error = format!("{err:#}"),
                    "indexer stopped before finishing; the next start resumes from its last commit"
                )
            }
            Err(err) => {
                failed(search, &err);
                // Waits out the whole back-off: posts nudge this thread, and each retry
                // while the fault lasts would otherwise cost a reopen of the index.
                let until = Instant::now() + backoff;
                while !search.is_stopping() && Instant::now() < until {
                    std::thread::park_timeout(until.saturating_duration_since(Instant::now()));
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Marks the index degraded after `err` and logs it: in full when the fault begins, then at
/// most a warning a minute with the count of failed attempts in between.
fn failed(search: &SearchIndex, err: &anyhow::Error) {
    let error = format!("{err:#}");
    search.set_state(IndexState::Degraded { error: public_reason(err) });
    match crate::telemetry::faults().occurred(FAULT) {
        Occurrence::First => tracing::error!(
            error,
            path = %search.root().display(),
            "search index cannot be written; posts are still saved and will be indexed once it \
             can (check the directory's permissions and free space)"
        ),
        Occurrence::Again { suppressed, since } => tracing::warn!(
            error,
            failed_attempts = suppressed,
            seconds = since.as_secs(),
            path = %search.root().display(),
            "search index still cannot be written"
        ),
        Occurrence::Quiet => {}
    }
}

/// After a successful commit: a degraded index is ready again, said once in the log.
fn written(search: &SearchIndex) {
    if search.is_degraded() {
        search.set_state(IndexState::Ready);
        let seconds = crate::telemetry::faults().ended(FAULT).map(|lasted| lasted.as_secs());
        tracing::info!(seconds, "search index writable again; catching up");
    }
}

/// What `/readyz` and search answers may say about an index failure: the kind of fault,
/// without file paths or other detail of the machine (those are in the log).
fn public_reason(err: &anyhow::Error) -> String {
    let io = err.chain().find_map(|cause| cause.downcast_ref::<std::io::Error>());
    match io.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::StorageFull) => "the search index's disk is full".to_string(),
        Some(kind) => format!("the search index cannot be written ({kind})"),
        None => "the search index cannot be written; the server log has the cause".to_string(),
    }
}

/// Marks the indexer stopped when the thread's `run` returns or unwinds.
struct StoppedOnDrop<'a>(&'a SearchIndex);

impl Drop for StoppedOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_stopped();
    }
}

/// An open generation with its writer and the feed position it reflects.
struct Session {
    generation: Generation,
    writer: IndexWriter<TantivyDocument>,
    position: FeedPosition,
}

fn writer_of(generation: &Generation) -> anyhow::Result<IndexWriter<TantivyDocument>> {
    generation.index.writer_with_num_threads(1, WRITER_BYTES).context("opening the index writer")
}

/// Opens the generation `CURRENT` names, or builds a new one when it is missing, corrupt,
/// outdated or an unfinished rebuild.
fn open(search: &Arc<SearchIndex>, db: &Db) -> anyhow::Result<Session> {
    let root = search.root().to_path_buf();
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    if let Some(number) = current_number(&root) {
        if let Some((generation, checkpoint)) = open_generation(&root, number) {
            // A checkpoint beyond the database's feed comes from another database (a restored
            // backup, a copied data directory): resuming from it would skip every change up
            // to it and leave the index silently diverged, so rebuild instead.
            let beyond = db.read_blocking(|conn| Ok(changes::is_beyond_feed(conn, checkpoint.position)?))?;
            if beyond {
                tracing::warn!(
                    generation = number,
                    position = ?checkpoint.position,
                    "search index is ahead of the database; rebuilding"
                );
            }
            if checkpoint.complete && !beyond {
                let writer = writer_of(&generation)?;
                search.install(generation.clone());
                search.set_position(checkpoint.position);
                search.set_state_unless_degraded(IndexState::Ready);
                remove_other_generations(&root, number);
                tracing::info!(generation = number, position = ?checkpoint.position, "search index opened");
                return Ok(Session { generation, writer, position: checkpoint.position });
            }
        }
    }
    let number = highest_generation(&root) + 1;
    let generation = create_generation(&root, number, sample_common_words(db)?)?;
    set_current(&root, number)?;
    remove_other_generations(&root, number);
    search.install(generation.clone());
    let mut writer = writer_of(&generation)?;
    let position = rebuild(search, db, &generation, &mut writer, |indexed, total| {
        search.set_state_unless_degraded(IndexState::Rebuilding { indexed, total });
    })?;
    search.set_position(position);
    // The rebuild ended with a commit.
    written(search);
    search.set_state(IndexState::Ready);
    Ok(Session { generation, writer, position })
}

/// The common words of a generation to be built from the posts table now
/// ([`CommonWords::from_sample`]).
pub fn sample_common_words(db: &Db) -> anyhow::Result<CommonWords> {
    let bodies = db.read_blocking(|conn| {
        let Some((low, high)) = posts::live_id_range(conn)? else { return Ok(Vec::new()) };
        let step = ((high - low) / SAMPLE_STRETCHES).max(SAMPLE_STRETCH);
        let mut bodies = Vec::new();
        let mut start = low - 1;
        while start < high {
            bodies.extend(posts::page_for_export(conn, start, SAMPLE_STRETCH)?.into_iter().map(|p| p.body));
            start += step;
        }
        Ok(bodies)
    })?;
    Ok(CommonWords::from_sample(bodies.iter().map(String::as_str)))
}

/// Fills an empty generation from the posts table. The feed position is taken *before*
/// reading, so every change after it is replayed afterwards and nothing is missed.
pub fn rebuild(
    search: &SearchIndex,
    db: &Db,
    generation: &Generation,
    writer: &mut IndexWriter<TantivyDocument>,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<FeedPosition> {
    let started = Instant::now();
    let position = db.read_blocking(|conn| Ok(changes::safe_head(conn)?))?;
    let total = db.read_blocking(|conn| Ok(posts::count_live(conn)?))? as u64;
    let mut indexed = 0u64;
    let mut after_id = 0;
    let mut last_commit = Instant::now();
    progress(0, total);
    loop {
        let page = db.read_blocking(|conn| {
            let rows = posts::page_for_export(conn, after_id, 1000)?;
            Ok(posts::details(conn, rows, None)?)
        })?;
        // A server shutting down must not wait for a long rebuild; the generation is not
        // marked complete, so the next start rebuilds it.
        anyhow::ensure!(!search.is_stopping(), "stopping in the middle of a rebuild");
        let Some(last) = page.last() else { break };
        after_id = last.post.id;
        for details in &page {
            writer.add_document(document(&search.fields, details))?;
        }
        indexed += page.len() as u64;
        progress(indexed, total.max(indexed));
        // Intermediate commits make a partial index searchable and bound the work a crash
        // loses; they are marked incomplete, so a restart rebuilds rather than trusts them.
        if last_commit.elapsed() > Duration::from_secs(5) {
            commit(generation, writer, Checkpoint { schema: SCHEMA_VERSION, position, complete: false })?;
            last_commit = Instant::now();
        }
    }
    commit(generation, writer, Checkpoint { schema: SCHEMA_VERSION, position, complete: true })?;
    tracing::info!(posts = indexed, seconds = started.elapsed().as_secs_f64(), "search index rebuilt");
    Ok(position)
}

/// Merges every committed segment of a finished bulk build into one (a search visits each
/// segment, and a rebuilt index would otherwise be several times slower to search than one
/// grown and merged over time). The merge keeps the last commit's payload.
pub fn merge_all(generation: &Generation, writer: &mut IndexWriter<TantivyDocument>) -> anyhow::Result<()> {
    let segments = generation.index.searchable_segment_ids().context("listing segments")?;
    if segments.len() > 1 {
        writer.merge(&segments).wait().context("merging the segments")?;
        generation.reader.reload().context("reloading the reader")?;
    }
    Ok(())
}

/// Commits with the checkpoint as payload, then makes the commit visible to searches.
pub fn commit(
    generation: &Generation,
    writer: &mut IndexWriter<TantivyDocument>,
    checkpoint: Checkpoint,
) -> anyhow::Result<()> {
    let payload = serde_json::to_string(&checkpoint)?;
    let mut prepared = writer.prepare_commit().context("preparing commit")?;
    prepared.set_payload(&payload);
    prepared.commit().context("committing")?;
    generation.reader.reload().context("reloading the reader")?;
    Ok(())
}

impl Session {
    /// Tails the feed until asked to stop or until `CURRENT` names another generation
    /// (`i2i reindex` built a new one); returns so the caller reopens.
    fn follow(&mut self, search: &Arc<SearchIndex>, db: &Db) -> anyhow::Result<()> {
        let root = search.root().to_path_buf();
        let mut dirty = false;
        let mut last_commit = Instant::now() - COMMIT_EVERY;
        loop {
            if search.is_stopping() {
                return self.finish(search, db, dirty);
            }
            if current_number(&root) != Some(self.generation.number) {
                if dirty {
                    self.commit(search)?;
                }
                return Ok(());
            }
            let batch = db.read_blocking(|conn| Ok(changes::after(conn, self.position, BATCH)?))?;
            if let Some(last) = batch.last() {
                self.apply(search, db, &batch)?;
                self.position = last.position();
                dirty = true;
            }
            if dirty && last_commit.elapsed() >= COMMIT_EVERY {
                self.commit(search)?;
                dirty = false;
                last_commit = Instant::now();
            }
            if (batch.len() as i64) < BATCH && !dirty {
                search.set_caught_up();
            }
            if (batch.len() as i64) < BATCH {
                let wait =
                    if dirty { COMMIT_EVERY.saturating_sub(last_commit.elapsed()) } else { POLL_EVERY };
                std::thread::park_timeout(wait.max(Duration::from_millis(5)));
            }
        }
    }

    /// The last act on shutdown: applies every change already committed (the HTTP server
    /// has stopped, so this process adds none) and commits, so the stored checkpoint covers
    /// every change made before the stop and a restart has nothing to replay. Bounded by
    /// [`FINISH_WITHIN`].
    fn finish(&mut self, search: &SearchIndex, db: &Db, mut dirty: bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + FINISH_WITHIN;
        // On PostgreSQL a committed change stays unreadable while an older transaction
        // anywhere in the cluster runs; these are the ones to wait for. Later ones (other
        // nodes keep writing) are left to the next start.
        let position = self.position;
        let mut waiting: HashSet<i64> =
            db.read_blocking(|conn| Ok(changes::visible_after(conn, position)?))?.into_iter().collect();
        loop {
            let batch = db.read_blocking(|conn| Ok(changes::after(conn, self.position, BATCH)?))?;
            if let Some(last) = batch.last() {
                self.apply(search, db, &batch)?;
                self.position = last.position();
                dirty = true;
                for change in &batch {
                    waiting.remove(&change.seq);
                }
            }
            let more = batch.len() as i64 == BATCH || !waiting.is_empty();
            if !more {
                break;
            }
            if Instant::now() > deadline {
                tracing::warn!(
                    unread = waiting.len(),
                    "changes still unreadable at shutdown; the next start applies them"
                );
                break;
            }
            if (batch.len() as i64) < BATCH {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if dirty {
            self.commit(search)?;
        }
        tracing::info!(position = ?self.position, "indexer committed and stopped");
        Ok(())
    }

    /// Replaces the documents of every post a batch touches by its current state.
    fn apply(&mut self, search: &SearchIndex, db: &Db, batch: &[changes::Change]) -> anyhow::Result<()> {
        let ids: Vec<i64> = batch.iter().map(|c| c.post_id).collect::<BTreeSet<_>>().into_iter().collect();
        for id in &ids {
            self.writer.delete_term(Term::from_field_u64(search.fields.id, *id as u64));
        }
        let live = db.read_blocking(|conn| {
            let rows = posts::live_many(conn, &ids)?;
            Ok(posts::details(conn, rows, None)?)
        })?;
        for details in &live {
            self.writer.add_document(document(&search.fields, details))?;
        }
        Ok(())
    }

    fn commit(&mut self, search: &SearchIndex) -> anyhow::Result<()> {
        let checkpoint = Checkpoint { schema: SCHEMA_VERSION, position: self.position, complete: true };
        commit(&self.generation, &mut self.writer, checkpoint)?;
        search.set_position(self.position);
        written(search);
        Ok(())
    }
}
