//! Counting matches up to a cap. An exact total of a common word or phrase means visiting
//! every match (for a phrase, reading every match's positions), which costs many times the
//! page itself; like most search engines, i2i counts exactly up to a cap and then says
//! "at least".

use std::sync::atomic::{AtomicUsize, Ordering};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader, TERMINATED};

/// How many matches a search counts before it stops.
#[derive(Debug)]
pub struct CappedCount {
    cap: usize,
    /// Matches counted so far over all segments, so later segments stop early.
    counted: AtomicUsize,
}

impl CappedCount {
    pub fn new(cap: usize) -> CappedCount {
        CappedCount { cap, counted: AtomicUsize::new(0) }
    }
}

/// The count, and whether it is exact (false: there are at least `count` matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: usize,
    pub exact: bool,
}

/// Unused: [`CappedCount`] walks each segment itself in `collect_segment`.
pub struct NoSegmentCollector;

impl SegmentCollector for NoSegmentCollector {
    type Fruit = usize;

    fn collect(&mut self, _doc: DocId, _score: Score) {}

    fn harvest(self) -> usize {
        0
    }
}

impl Collector for CappedCount {
    type Fruit = Total;
    type Child = NoSegmentCollector;

    fn for_segment(&self, _segment: SegmentOrdinal, _reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        Ok(NoSegmentCollector)
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, _segment_counts: Vec<usize>) -> tantivy::Result<Total> {
        let counted = self.counted.load(Ordering::Relaxed);
        Ok(Total { count: counted.min(self.cap), exact: counted <= self.cap })
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<usize> {
        // One past the cap tells "exactly the cap" from "more than the cap".
        let budget = (self.cap + 1).saturating_sub(self.counted.load(Ordering::Relaxed));
        if budget == 0 {
            return Ok(0);
        }
        let mut scorer = weight.scorer(reader, 1.0)?;
        let alive = reader.alive_bitset();
        let mut found = 0;
        let mut doc = scorer.doc();
        while doc != TERMINATED && found < budget {
            if alive.is_none_or(|bits| bits.is_alive(doc)) {
                found += 1;
            }
            doc = scorer.advance();
        }
        self.counted.fetch_add(found, Ordering::Relaxed);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::Count;
    use tantivy::query::TermQuery;
    use tantivy::schema::{IndexRecordOption, Schema, STRING};
    use tantivy::{doc, Index, Term};

    use super::*;

    /// An index of `n` documents spread over three segments, every one with word "x", and
    /// every fifth one deleted.
    fn index(n: usize) -> (Index, TermQuery) {
        let mut schema = Schema::builder();
        let word = schema.add_text_field("word", STRING);
        let id = schema.add_u64_field("id", tantivy::schema::INDEXED);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        for i in 0..n {
            writer.add_document(doc!(word => "x", id => i as u64)).expect("add");
            if i % (n / 3 + 1) == 0 {
                writer.commit().expect("commit");
            }
        }
        for i in (0..n).step_by(5) {
            writer.delete_term(Term::from_field_u64(id, i as u64));
        }
        writer.commit().expect("commit");
        (index, TermQuery::new(Term::from_field_text(word, "x"), IndexRecordOption::Basic))
    }

    #[test]
    fn counts_exactly_up_to_the_cap_and_then_says_at_least() {
        let (index, query) = index(60);
        let searcher = index.reader().expect("reader").searcher();
        assert!(searcher.segment_readers().len() > 1, "the cap must hold across segments");
        let live = searcher.search(&query, &Count).expect("count");
        assert_eq!(live, 48, "deleted documents are not counted");
        let at = |cap| searcher.search(&query, &CappedCount::new(cap)).expect("capped");
        assert_eq!(at(100), Total { count: 48, exact: true });
        assert_eq!(at(48), Total { count: 48, exact: true });
        assert_eq!(at(47), Total { count: 47, exact: false });
        assert_eq!(at(10), Total { count: 10, exact: false });
    }
}
