//! Full-text search, a projection of the database: [`schema`] declares the fields,
//! [`documents`] turns a post into a document, [`indexer`] is the one writer that tails the
//! change feed, [`query`] parses the analysts' query language, [`plan`] turns it into a
//! tantivy query and [`searcher`] runs it with snippets, a [`count`] and facets.
//!
//! On disk, `<data_dir>/index/` holds generations `gen-<n>/` and a `CURRENT` file naming
//! the live one. Every commit's payload records the schema version, the feed position the
//! index reflects and whether the generation is complete, so a restart resumes where it
//! stopped and a missing, corrupt or outdated index is rebuilt.

pub mod answers;
pub mod conjunction;
pub mod count;
pub mod documents;
pub mod ids;
pub mod indexer;
pub mod plan;
pub mod query;
pub mod reindex;
pub mod schema;
pub mod searcher;
pub mod shingles;
pub mod stems;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::Thread;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, ReloadPolicy};

use crate::db::changes::FeedPosition;
use schema::{Fields, SCHEMA_VERSION};

/// What each commit stores next to the documents.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub schema: u32,
    /// Every change up to here is reflected in the index.
    pub position: FeedPosition,
    /// False while a rebuild is still reading the posts table.
    pub complete: bool,
}

impl Checkpoint {
    pub fn parse(payload: Option<&str>) -> Option<Checkpoint> {
        serde_json::from_str(payload?).ok()
    }
}

/// An open generation: its index, a reader searches use, and the words it pairs.
#[derive(Clone)]
pub struct Generation {
    pub number: u64,
    /// Which install on this node this is (1, 2, …; 0 until installed). Reopening the same
    /// generation after a failure gives a new reader whose searcher ids start again from 0,
    /// so answers are kept under this, never under `number` ([`Generation::stamp`]).
    pub installed: u64,
    pub index: Index,
    pub reader: IndexReader,
    /// The words whose adjacent pairs this generation indexes ([`shingles`]); queries read it
    /// to know whether a phrase's pairs exist.
    pub common: Arc<shingles::CommonWords>,
}

impl Generation {
    /// Names the answers `searcher` (a searcher of this generation's reader) gives: unique
    /// per reader and growing with every install and every reload, as [`answers`] needs.
    pub fn stamp(&self, searcher: &tantivy::Searcher) -> answers::Stamp {
        (self.installed, searcher.generation().generation_id())
    }
}

/// Where the indexer stands, for search responses and `/readyz`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IndexState {
    /// Following the change feed.
    Ready,
    /// Rebuilding from the posts table: results are incomplete until it ends.
    Rebuilding { indexed: u64, total: u64 },
    /// The index cannot be written (directory unwritable, missing or full): posting goes on,
    /// searches show what was last committed, and the indexer retries and catches up.
    Degraded {
        /// The kind of fault, for `/readyz` and search responses: no file paths or other
        /// detail of the machine, which the log has.
        error: String,
    },
}

/// The search side of the app state, shared by request handlers and the indexer thread.
pub struct SearchIndex {
    root: PathBuf,
    pub fields: Fields,
    generation: RwLock<Option<Generation>>,
    /// Installs so far, to number each installed generation.
    installs: AtomicU64,
    /// Recent answers of the current searcher ([`answers`]).
    pub answers: answers::Answers,
    state: Mutex<IndexState>,
    position: Mutex<FeedPosition>,
    indexer: Mutex<Option<Thread>>,
    stopping: AtomicBool,
    /// Set once the indexer has first read the feed to its end and committed: from then on
    /// searches on this node reflect what was in the database when it started.
    caught_up: AtomicBool,
    /// Set by the indexer thread as it exits, so shutdown can wait for its final commit.
    stopped: (Mutex<bool>, Condvar),
}

impl SearchIndex {
    /// A handle on `<data_dir>/index`; nothing is opened until the indexer starts.
    pub fn new(data_dir: &Path) -> Arc<SearchIndex> {
        let (_, fields) = schema::build();
        Arc::new(SearchIndex {
            root: data_dir.join("index"),
            fields,
            generation: RwLock::new(None),
            installs: AtomicU64::new(0),
            answers: answers::Answers::new(answers::DEFAULT_CAPACITY),
            state: Mutex::new(IndexState::Ready),
            position: Mutex::new(FeedPosition::default()),
            indexer: Mutex::new(None),
            stopping: AtomicBool::new(false),
            caught_up: AtomicBool::new(false),
            stopped: (Mutex::new(false), Condvar::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Wakes the indexer after a local write so the change is searchable sooner than the
    /// next poll (writes from other processes are found by polling).
    pub fn nudge(&self) {
        if let Ok(guard) = self.indexer.lock() {
            if let Some(thread) = guard.as_ref() {
                thread.unpark();
            }
        }
    }

    /// Asks the indexer to apply what is committed, commit it and stop; does not wait.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.nudge();
    }

    /// Waits until the indexer thread has exited (after its final commit), at most `within`.
    /// True when it has, or when no indexer was ever started.
    pub fn wait_stopped(&self, within: Duration) -> bool {
        let started = self.indexer.lock().map(|guard| guard.is_some()).unwrap_or(false);
        if !started {
            return true;
        }
        let (lock, condvar) = &self.stopped;
        let Ok(guard) = lock.lock() else { return false };
        match condvar.wait_timeout_while(guard, within, |stopped| !*stopped) {
            Ok((guard, _)) => *guard,
            Err(_) => false,
        }
    }

    /// Called by the indexer thread as its last act.
    pub(crate) fn set_stopped(&self) {
        let (lock, condvar) = &self.stopped;
        if let Ok(mut guard) = lock.lock() {
            *guard = true;
        }
        condvar.notify_all();
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn set_indexer_thread(&self, thread: Thread) {
        if let Ok(mut guard) = self.indexer.lock() {
            *guard = Some(thread);
        }
    }

    /// The generation searches read, if one is open.
    pub fn current(&self) -> Option<Generation> {
        self.generation.read().ok().and_then(|g| g.clone())
    }

    /// Makes `generation` the one searches read, numbered as this node's latest install.
    pub(crate) fn install(&self, mut generation: Generation) {
        generation.installed = self.installs.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut guard) = self.generation.write() {
            *guard = Some(generation);
        }
    }

    pub fn state(&self) -> IndexState {
        self.state.lock().map(|s| s.clone()).unwrap_or(IndexState::Ready)
    }

    pub(crate) fn set_state(&self, state: IndexState) {
        if let Ok(mut guard) = self.state.lock() {
            *guard = state;
        }
    }

    /// Sets `state` unless the index is degraded, which only a successful commit ends.
    pub(crate) fn set_state_unless_degraded(&self, state: IndexState) {
        if let Ok(mut guard) = self.state.lock() {
            if !matches!(*guard, IndexState::Degraded { .. }) {
                *guard = state;
            }
        }
    }

    /// Whether the last attempt to write the index failed and no commit has succeeded since.
    pub fn is_degraded(&self) -> bool {
        matches!(self.state(), IndexState::Degraded { .. })
    }

    /// The feed position the searchable index reflects.
    pub fn position(&self) -> FeedPosition {
        self.position.lock().map(|p| *p).unwrap_or_default()
    }

    pub(crate) fn set_position(&self, position: FeedPosition) {
        if let Ok(mut guard) = self.position.lock() {
            *guard = position;
        }
    }

    /// Whether the index has caught up with the database since this process started (a new
    /// node with an empty index directory is not, until its rebuild and the replay after it
    /// are done); `/readyz` answers 503 until then.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::SeqCst)
    }

    pub(crate) fn set_caught_up(&self) {
        if !self.caught_up.swap(true, Ordering::SeqCst) {
            tracing::info!(position = ?self.position(), "search index caught up with the database");
        }
    }
}

/// The file in the index root that names the live generation.
pub const CURRENT_FILE: &str = "CURRENT";

/// The generation number named by `CURRENT`, if any.
pub fn current_number(root: &Path) -> Option<u64> {
    std::fs::read_to_string(root.join(CURRENT_FILE)).ok()?.trim().parse().ok()
}

pub fn generation_dir(root: &Path, number: u64) -> PathBuf {
    root.join(format!("gen-{number}"))
}

/// Points `CURRENT` at `number` atomically (write a temporary file, then rename).
pub fn set_current(root: &Path, number: u64) -> anyhow::Result<()> {
    let tmp = root.join("CURRENT.tmp");
    std::fs::write(&tmp, format!("{number}\n")).context("writing CURRENT.tmp")?;
    std::fs::rename(&tmp, root.join(CURRENT_FILE)).context("replacing CURRENT")?;
    Ok(())
}

/// Removes every generation directory except `keep`.
pub fn remove_other_generations(root: &Path, keep: u64) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(number) = name.strip_prefix("gen-").and_then(|n| n.parse::<u64>().ok()) else { continue };
        if number != keep {
            if let Err(err) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(dir = %entry.path().display(), error = %err, "could not remove old index");
            }
        }
    }
}

/// The highest generation number present on disk (0 when none).
pub fn highest_generation(root: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(root) else { return 0 };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().strip_prefix("gen-").and_then(|n| n.parse().ok()))
        .max()
        .unwrap_or(0)
}

/// Opens an existing generation with its checkpoint; `None` if it is missing, unreadable
/// or of another schema version.
pub fn open_generation(root: &Path, number: u64) -> Option<(Generation, Checkpoint)> {
    let dir = generation_dir(root, number);
    let index = match Index::open_in_dir(&dir) {
        Ok(index) => index,
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "search index unreadable; it will be rebuilt");
            return None;
        }
    };
    let checkpoint = Checkpoint::parse(index.load_metas().ok()?.payload.as_deref())?;
    if checkpoint.schema != SCHEMA_VERSION {
        tracing::info!(
            found = checkpoint.schema,
            wanted = SCHEMA_VERSION,
            "search index schema changed; rebuilding"
        );
        return None;
    }
    let common = match shingles::CommonWords::load(&dir) {
        Ok(common) => Arc::new(common),
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "search index incomplete; it will be rebuilt");
            return None;
        }
    };
    shingles::register(&index, common.clone());
    let reader = reader_of(&index).ok()?;
    Some((Generation { number, installed: 0, index, reader, common }, checkpoint))
}

/// Creates an empty generation directory with the current schema, pairing the words of
/// `common` (chosen from a sample of the posts it will hold: [`shingles::CommonWords`]).
pub fn create_generation(
    root: &Path,
    number: u64,
    common: shingles::CommonWords,
) -> anyhow::Result<Generation> {
    let dir = generation_dir(root, number);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (schema, _) = schema::build();
    // Written before the index, so a generation with a commit always has its words.
    common.save(&dir)?;
    let index = Index::create_in_dir(&dir, schema).context("creating the search index")?;
    let common = Arc::new(common);
    shingles::register(&index, common.clone());
    let reader = reader_of(&index)?;
    tracing::info!(generation = number, common_words = common.len(), "search index generation created");
    Ok(Generation { number, installed: 0, index, reader, common })
}

fn reader_of(index: &Index) -> anyhow::Result<IndexReader> {
    // Reloaded by the indexer right after each commit, so searches see a post at once.
    Ok(index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generation committed as complete at the current schema, pairing `words`.
    fn committed(root: &Path, number: u64, words: &[&str]) {
        let generation = create_generation(root, number, shingles::CommonWords::of(words)).expect("created");
        let mut writer = generation.index.writer_with_num_threads(1, 15_000_000).expect("writer");
        let checkpoint =
            Checkpoint { schema: SCHEMA_VERSION, position: FeedPosition::default(), complete: true };
        indexer::commit(&generation, &mut writer, checkpoint).expect("committed");
    }

    #[test]
    fn a_generation_opens_with_the_words_it_was_built_with() {
        let root = tempfile::tempdir().expect("temp dir");
        committed(root.path(), 1, &["vpn", "tunnel"]);
        let (generation, checkpoint) = open_generation(root.path(), 1).expect("opens");
        assert!(checkpoint.complete);
        assert_eq!(*generation.common, shingles::CommonWords::of(&["vpn", "tunnel"]));
    }

    /// The fault behind a stale search after the index came back: a generation reopened
    /// after a failure has a new reader whose searcher ids restart, so once it had reloaded
    /// as often as the old one, it was given the old reader's remembered answers.
    #[test]
    fn a_reopened_generation_never_shares_a_stamp_with_its_earlier_opening() {
        let root = tempfile::tempdir().expect("temp dir");
        committed(&root.path().join("index"), 1, &["vpn"]);
        let search = SearchIndex::new(root.path());
        let stamp_after_reloads = |reloads: usize| {
            let (generation, _) = open_generation(search.root(), 1).expect("opens");
            search.install(generation);
            let installed = search.current().expect("installed");
            for _ in 0..reloads {
                installed.reader.reload().expect("reloaded");
            }
            installed.stamp(&installed.reader.searcher())
        };
        let first = stamp_after_reloads(2);
        let second = stamp_after_reloads(2);
        assert_eq!(first.1, second.1, "the readers' own searcher ids coincide");
        assert!(second > first, "the later opening's answers are newer: {first:?} then {second:?}");
    }

    #[test]
    fn a_generation_without_its_common_words_is_not_opened() {
        let root = tempfile::tempdir().expect("temp dir");
        committed(root.path(), 1, &["vpn"]);
        std::fs::remove_file(generation_dir(root.path(), 1).join(shingles::COMMON_WORDS_FILE))
            .expect("removed");
        assert!(open_generation(root.path(), 1).is_none(), "its phrases could not be planned: rebuild it");
    }
}
