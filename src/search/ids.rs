//! Collecting the post ids of a search's matches, up to a cap, from the `id` fast field
//! (no stored document is read): what an insight defined by a saved search counts.

use std::sync::Mutex;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader, TERMINATED};

/// The ids of the first `cap` live matches (in index order), and whether that was all.
#[derive(Debug)]
pub struct CappedIds {
    cap: usize,
    found: Mutex<Vec<i64>>,
}

impl CappedIds {
    pub fn new(cap: usize) -> CappedIds {
        CappedIds { cap, found: Mutex::new(Vec::new()) }
    }
}

/// Unused: [`CappedIds`] walks each segment itself in `collect_segment`.
pub struct NoSegmentCollector;

impl SegmentCollector for NoSegmentCollector {
    type Fruit = ();

    fn collect(&mut self, _doc: DocId, _score: Score) {}

    fn harvest(self) {}
}

impl Collector for CappedIds {
    /// The ids, and true when every match is among them.
    type Fruit = (Vec<i64>, bool);
    type Child = NoSegmentCollector;

    fn for_segment(&self, _segment: SegmentOrdinal, _reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        Ok(NoSegmentCollector)
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, _segments: Vec<()>) -> tantivy::Result<(Vec<i64>, bool)> {
        let mut found = std::mem::take(&mut *self.found.lock().unwrap_or_else(|e| e.into_inner()));
        // One past the cap was collected to tell "exactly the cap" from "more".
        let complete = found.len() <= self.cap;
        found.truncate(self.cap);
        Ok((found, complete))
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<()> {
        let budget =
            (self.cap + 1).saturating_sub(self.found.lock().unwrap_or_else(|e| e.into_inner()).len());
        if budget == 0 {
            return Ok(());
        }
        let ids = reader.fast_fields().u64("id")?;
        let alive = reader.alive_bitset();
        let mut scorer = weight.scorer(reader, 1.0)?;
        let mut mine = Vec::new();
        let mut doc = scorer.doc();
        while doc != TERMINATED && mine.len() < budget {
            if alive.is_none_or(|bits| bits.is_alive(doc)) {
                mine.extend(ids.first(doc).map(|id| id as i64));
            }
            doc = scorer.advance();
        }
        self.found.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tantivy::query::TermQuery;
    use tantivy::schema::{IndexRecordOption, Schema, FAST, INDEXED, STRING};
    use tantivy::{doc, Index, Term};

    use super::*;

    #[test]
    fn collects_live_ids_up_to_the_cap_and_says_whether_that_was_all() {
        let mut schema = Schema::builder();
        let word = schema.add_text_field("word", STRING);
        let id = schema.add_u64_field("id", INDEXED | FAST);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        for i in 0..30u64 {
            let text = if i % 3 == 0 { "x" } else { "y" };
            writer.add_document(doc!(word => text, id => i)).expect("add");
            if i % 10 == 9 {
                writer.commit().expect("commit");
            }
        }
        writer.delete_term(Term::from_field_u64(id, 6));
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let query = TermQuery::new(Term::from_field_text(word, "x"), IndexRecordOption::Basic);
        let (mut all, complete) = searcher.search(&query, &CappedIds::new(100)).expect("search");
        all.sort_unstable();
        assert_eq!((all, complete), (vec![0, 3, 9, 12, 15, 18, 21, 24, 27], true));
        let (some, complete) = searcher.search(&query, &CappedIds::new(4)).expect("search");
        assert_eq!((some.len(), complete), (4, false));
        let (exact, complete) = searcher.search(&query, &CappedIds::new(9)).expect("search");
        assert_eq!((exact.len(), complete), (9, true));
    }
}
