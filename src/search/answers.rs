//! Recent search answers of the index as it is now. An answer (hits, snippets, total,
//! facets) is a pure function of the query and the searcher it ran on, so it is kept under
//! that searcher's generation and forgotten as soon as the indexer commits and reloads: never
//! stale, only cheaper. During an incident many people run and refresh the same searches;
//! each commit (at most every half second while posts arrive) starts afresh, as Solr's
//! query result cache does with each new searcher. The posts behind the hits are still read
//! from the database on every request, so an edit or a delete shows at once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::searcher::SearchOutcome;

/// Answers kept by default; each is a page of hits with their snippets.
pub const DEFAULT_CAPACITY: usize = 256;

/// Which searcher an answer came from: the install of the index generation on this node
/// (a new one after a reindex or a reopen) and tantivy's searcher generation within its
/// reader (a new one after every commit).
pub type Stamp = (u64, u64);

#[derive(Default)]
struct Kept {
    stamp: Stamp,
    answers: HashMap<String, Arc<SearchOutcome>>,
    /// Keys oldest first, for evicting beyond the capacity.
    order: VecDeque<String>,
}

/// The answers of one node's searcher; shared by every request.
#[derive(Default)]
pub struct Answers {
    kept: Mutex<Kept>,
    capacity: AtomicUsize,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

impl Answers {
    pub fn new(capacity: usize) -> Answers {
        Answers { capacity: AtomicUsize::new(capacity), ..Answers::default() }
    }

    /// How many answers may be kept; 0 keeps none (every search runs on the index).
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::Relaxed);
        if let Ok(mut kept) = self.kept.lock() {
            while kept.order.len() > capacity {
                if let Some(oldest) = kept.order.pop_front() {
                    kept.answers.remove(&oldest);
                }
            }
        }
    }

    /// Searches answered from here and searches run on the index, since start.
    pub fn counts(&self) -> (usize, usize) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// The answer kept for `key` from the searcher `stamp`, if any.
    pub fn get(&self, stamp: Stamp, key: &str) -> Option<Arc<SearchOutcome>> {
        let found = self.kept.lock().ok().and_then(|kept| {
            if kept.stamp == stamp {
                kept.answers.get(key).cloned()
            } else {
                None
            }
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `answer` for `key`; answers of any other searcher are dropped first.
    pub fn put(&self, stamp: Stamp, key: String, answer: Arc<SearchOutcome>) {
        let capacity = self.capacity.load(Ordering::Relaxed);
        if capacity == 0 {
            return;
        }
        let Ok(mut kept) = self.kept.lock() else { return };
        if kept.stamp != stamp {
            // A reload only moves forward; an answer from an older searcher (a search that
            // started before the commit) must not push out the newer ones.
            if stamp < kept.stamp {
                return;
            }
            *kept = Kept { stamp, ..Kept::default() };
        }
        if kept.answers.insert(key.clone(), answer).is_none() {
            kept.order.push_back(key);
        }
        while kept.order.len() > capacity {
            if let Some(oldest) = kept.order.pop_front() {
                kept.answers.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::searcher::{Facets, Sort};

    fn answer(total: usize) -> Arc<SearchOutcome> {
        Arc::new(SearchOutcome {
            total,
            total_exact: true,
            sort: Sort::Recent,
            hits: Vec::new(),
            facets: Facets::default(),
        })
    }

    #[test]
    fn an_answer_lasts_as_long_as_its_searcher() {
        let answers = Answers::new(8);
        assert!(answers.get((1, 1), "q").is_none());
        answers.put((1, 1), "q".into(), answer(3));
        assert_eq!(answers.get((1, 1), "q").map(|a| a.total), Some(3));
        assert!(answers.get((1, 1), "other").is_none());
        // After a commit (new searcher generation) or a reindex (new index generation) the
        // old answer is gone.
        assert!(answers.get((1, 2), "q").is_none());
        answers.put((1, 2), "q".into(), answer(4));
        assert!(answers.get((1, 1), "q").is_none());
        assert_eq!(answers.get((1, 2), "q").map(|a| a.total), Some(4));
        assert!(answers.get((2, 1), "q").is_none());
        // A late answer from an older searcher does not replace the newer ones.
        answers.put((1, 1), "late".into(), answer(9));
        assert_eq!(answers.get((1, 2), "q").map(|a| a.total), Some(4));
        assert_eq!(answers.counts(), (3, 5));
    }

    #[test]
    fn the_oldest_answers_go_beyond_the_capacity_and_zero_keeps_none() {
        let answers = Answers::new(2);
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            answers.put((1, 1), key.to_string(), answer(i));
        }
        assert!(answers.get((1, 1), "a").is_none());
        assert!(answers.get((1, 1), "b").is_some() && answers.get((1, 1), "c").is_some());
        answers.set_capacity(0);
        assert!(answers.get((1, 1), "c").is_none());
        answers.put((1, 1), "d".into(), answer(1));
        assert!(answers.get((1, 1), "d").is_none());
    }
}
