//! An AND of scored terms and unscored filters whose best hits are found without scoring
//! every match. Tantivy prunes the top-k of one term and of an OR (block-max WAND), but scores
//! every document an AND's clauses share: `da fa` over two words found in most posts scores
//! most of the index. [`Conjunction`] does block-max AND instead (Ding & Suel, 2011): it walks
//! the terms' postings a block at a time, and skips every stretch of documents where the sum
//! of the terms' block maxima cannot beat the page's lowest score. Filters decide membership
//! and add nothing to the score, so `da #sso` ranks as `da` does within `#sso`; a keyword
//! filter walks with the terms (as the sparsest list it picks the candidates), any other
//! filter is checked per candidate.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::BlockSegmentPostings;
use tantivy::query::{
    AllQuery, Bm25Weight, BooleanQuery, ConstScoreQuery, EnableScoring, Explanation, Occur, Query, Scorer,
    TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentReader, Term, TERMINATED};

/// `scored AND keywords AND filters AND NOT excluded`; the score is the sum of the scored
/// terms' BM25.
#[derive(Debug)]
pub struct Conjunction {
    scored: Vec<Term>,
    keywords: Vec<Term>,
    filters: Vec<Box<dyn Query>>,
    excluded: Vec<Box<dyn Query>>,
}

fn clone_all(queries: &[Box<dyn Query>]) -> Vec<Box<dyn Query>> {
    queries.iter().map(|q| q.box_clone()).collect()
}

impl Clone for Conjunction {
    fn clone(&self) -> Self {
        Conjunction {
            scored: self.scored.clone(),
            keywords: self.keywords.clone(),
            filters: clone_all(&self.filters),
            excluded: clone_all(&self.excluded),
        }
    }
}

impl Conjunction {
    /// `None` without a scored term: with nothing to rank by, a plain boolean query serves.
    pub fn new(
        scored: Vec<Term>,
        keywords: Vec<Term>,
        filters: Vec<Box<dyn Query>>,
        excluded: Vec<Box<dyn Query>>,
    ) -> Option<Self> {
        (!scored.is_empty()).then_some(Conjunction { scored, keywords, filters, excluded })
    }

    /// The same documents and scores as a boolean query, which every collector other than a
    /// top-k by score uses (counts, facets, snippets, explanations, newest-first pages).
    fn as_boolean(&self) -> BooleanQuery {
        boolean_of(&self.scored, Vec::new(), &self.keywords, &self.filters, &self.excluded)
    }
}

/// The boolean query of an AND's parts: `scored` terms and `ranked` queries (parts that rank
/// but are not one term) must match and add their scores; keywords and filters must match
/// and add nothing; `excluded` must not match. With nothing that must match (exclusions
/// only), it is everything but the exclusions.
pub fn boolean_of(
    scored: &[Term],
    ranked: Vec<Box<dyn Query>>,
    keywords: &[Term],
    filters: &[Box<dyn Query>],
    excluded: &[Box<dyn Query>],
) -> BooleanQuery {
    let unscored = |query: Box<dyn Query>| -> Box<dyn Query> { Box::new(ConstScoreQuery::new(query, 0.0)) };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for term in scored {
        clauses.push((Occur::Must, Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs))));
    }
    clauses.extend(ranked.into_iter().map(|query| (Occur::Must, query)));
    for term in keywords {
        clauses
            .push((Occur::Must, unscored(Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic)))));
    }
    for filter in filters {
        clauses.push((Occur::Must, unscored(filter.box_clone())));
    }
    if clauses.is_empty() {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    for query in excluded {
        clauses.push((Occur::MustNot, query.box_clone()));
    }
    BooleanQuery::new(clauses)
}

impl Query for Conjunction {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let boolean = self.as_boolean().weight(enable_scoring)?;
        let EnableScoring::Enabled { searcher, statistics_provider } = enable_scoring else {
            return Ok(boolean);
        };
        let mut terms = Vec::with_capacity(self.scored.len() + self.keywords.len());
        for term in &self.scored {
            let bm25 = Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(term))?;
            terms.push((term.clone(), Some(bm25)));
        }
        terms.extend(self.keywords.iter().map(|term| (term.clone(), None)));
        let unscored = EnableScoring::disabled_from_searcher(searcher);
        let weights = |queries: &[Box<dyn Query>]| -> tantivy::Result<Vec<Box<dyn Weight>>> {
            queries.iter().map(|q| q.weight(unscored)).collect()
        };
        Ok(Box::new(ConjunctionWeight {
            boolean,
            terms,
            filters: weights(&self.filters)?,
            excluded: weights(&self.excluded)?,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for term in self.scored.iter().chain(&self.keywords) {
            visitor(term, false);
        }
        for filter in &self.filters {
            filter.query_terms(visitor);
        }
    }
}

struct ConjunctionWeight {
    /// Everything but the pruned top-k goes through this.
    boolean: Box<dyn Weight>,
    /// The terms to walk: scored ones with their BM25 weight, keyword filters without.
    terms: Vec<(Term, Option<Bm25Weight>)>,
    filters: Vec<Box<dyn Weight>>,
    excluded: Vec<Box<dyn Weight>>,
}

/// One term's postings in a segment, a decoded block at a time.
struct Cursor {
    block: BlockSegmentPostings,
    fieldnorms: FieldNormReader,
    /// `None` for a keyword filter: it scores 0.
    bm25: Option<Bm25Weight>,
    /// Index of the current document in the loaded block.
    at: usize,
}

impl Cursor {
    /// `None` when the term is not in this segment (so nothing in it matches).
    fn open(
        reader: &SegmentReader,
        term: &Term,
        bm25: &Option<Bm25Weight>,
    ) -> tantivy::Result<Option<Cursor>> {
        let field = term.field();
        let option = if bm25.is_some() { IndexRecordOption::WithFreqs } else { IndexRecordOption::Basic };
        let Some(block) = reader.inverted_index(field)?.read_block_postings(term, option)? else {
            return Ok(None);
        };
        let fieldnorms = match bm25 {
            Some(_) => reader.get_fieldnorms_reader(field)?,
            None => FieldNormReader::constant(reader.max_doc(), 1),
        };
        Ok(Some(Cursor { block, fieldnorms, bm25: bm25.clone(), at: 0 }))
    }

    fn doc(&self) -> DocId {
        self.block.docs().get(self.at).copied().unwrap_or(TERMINATED)
    }

    /// The last document of the loaded block: the end of the stretch its maximum covers.
    fn block_end(&self) -> DocId {
        self.block.docs().last().copied().unwrap_or(TERMINATED)
    }

    /// Moves to the first document at or after `target`, loading a later block if needed.
    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc() >= target {
            return self.doc();
        }
        if self.block_end() < target {
            self.block.seek(target);
            self.at = 0;
        }
        let docs = self.block.docs();
        self.at += docs[self.at.min(docs.len())..].partition_point(|doc| *doc < target);
        self.doc()
    }

    /// The next document (the first of the next block after the last of this one).
    fn advance(&mut self) -> DocId {
        self.at += 1;
        if self.at >= self.block.docs().len() && self.block.block_len() > 0 {
            self.block.advance();
            self.at = 0;
        }
        self.doc()
    }

    fn block_max(&mut self) -> Score {
        match &self.bm25 {
            Some(bm25) => self.block.block_max_score(&self.fieldnorms, bm25),
            None => 0.0,
        }
    }

    fn score(&self) -> Score {
        match &self.bm25 {
            Some(bm25) => {
                let freq = self.block.freqs().get(self.at).copied().unwrap_or(1);
                bm25.score(self.fieldnorms.fieldnorm_id(self.doc()), freq)
            }
            None => 0.0,
        }
    }
}

/// Whether `docset` holds `doc`; moves it forward to `doc` or past it, never back.
fn holds(docset: &mut dyn Scorer, doc: DocId) -> bool {
    if docset.doc() < doc {
        docset.seek(doc);
    }
    docset.doc() == doc
}

impl Weight for ConjunctionWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.boolean.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.boolean.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        self.boolean.count(reader)
    }

    fn for_each_no_score(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        self.boolean.for_each_no_score(reader, callback)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        let mut cursors = Vec::with_capacity(self.terms.len());
        for (term, bm25) in &self.terms {
            match Cursor::open(reader, term, bm25)? {
                Some(cursor) => cursors.push(cursor),
                None => return Ok(()),
            }
        }
        // The sparsest list proposes candidates; the others are asked about them.
        cursors.sort_by_key(|c| c.block.doc_freq());
        let scorers = |weights: &[Box<dyn Weight>]| -> tantivy::Result<Vec<Box<dyn Scorer>>> {
            weights.iter().map(|w| w.scorer(reader, 1.0)).collect()
        };
        let mut filters = scorers(&self.filters)?;
        let mut excluded = scorers(&self.excluded)?;
        let mut threshold = threshold;
        let mut target: DocId = 0;
        // Per stretch, each term's block maximum, and in `after[i]` what the terms after the
        // `i`th can add at most.
        let mut maxes: Vec<Score> = vec![0.0; cursors.len()];
        let mut after: Vec<Score> = vec![0.0; cursors.len()];
        loop {
            // One stretch: from `target` to the first end of a block among the terms. Within
            // it each term's block maximum bounds its score.
            let mut end = TERMINATED;
            for (i, cursor) in cursors.iter_mut().enumerate() {
                if cursor.seek(target) == TERMINATED {
                    return Ok(());
                }
                maxes[i] = cursor.block_max();
                end = end.min(cursor.block_end());
            }
            let mut bound: Score = 0.0;
            for i in (0..maxes.len()).rev() {
                after[i] = bound;
                bound += maxes[i];
            }
            if bound > threshold {
                let mut doc = cursors[0].doc();
                'docs: while doc <= end && doc != TERMINATED {
                    // Scores are added one term at a time, and a document is dropped as soon
                    // as what it has plus what the rest could add cannot beat the page.
                    let mut score = cursors[0].score();
                    if score + after[0] <= threshold {
                        doc = cursors[0].advance();
                        continue;
                    }
                    for i in 1..cursors.len() {
                        let at = cursors[i].seek(doc);
                        if at > doc {
                            doc = cursors[0].seek(at);
                            continue 'docs;
                        }
                        score += cursors[i].score();
                        if score + after[i] <= threshold {
                            doc = cursors[0].advance();
                            continue 'docs;
                        }
                    }
                    let member = filters.iter_mut().all(|f| holds(f.as_mut(), doc))
                        && !excluded.iter_mut().any(|e| holds(e.as_mut(), doc));
                    if member && score > threshold {
                        threshold = callback(doc, score);
                    }
                    doc = cursors[0].advance();
                }
            }
            if end == TERMINATED {
                return Ok(());
            }
            target = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::{RangeQuery, TermQuery};
    use tantivy::schema::{Schema, FAST, INDEXED, STRING, TEXT};
    use tantivy::{doc, Index, IndexWriter, Searcher};

    use super::*;

    struct Fixture {
        searcher: Searcher,
        body: tantivy::schema::Field,
        tag: tantivy::schema::Field,
        n: tantivy::schema::Field,
    }

    /// Documents of varied length and word counts over a tiny vocabulary in four segments,
    /// with every seventh deleted, so scores tie and differ and blocks get pruned.
    fn fixture() -> Fixture {
        let mut schema = Schema::builder();
        let body = schema.add_text_field("body", TEXT);
        let tag = schema.add_text_field("tag", STRING);
        let n = schema.add_u64_field("n", INDEXED | FAST);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).expect("writer");
        let words = ["da", "fa", "ga", "da", "ka", "fa", "da"];
        let mut seed: u64 = 7;
        for i in 0..6_000u64 {
            let mut text = Vec::new();
            for _ in 0..(1 + i % 13) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                text.push(words[(seed >> 33) as usize % words.len()]);
            }
            let tag_value = if i % 3 == 0 { "sso" } else { "dns" };
            writer.add_document(doc!(body => text.join(" "), tag => tag_value, n => i)).expect("add");
            if i % 1_500 == 1_499 {
                writer.commit().expect("commit");
            }
        }
        for i in (0..6_000u64).step_by(7) {
            writer.delete_term(Term::from_field_u64(n, i));
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        Fixture { searcher, body, tag, n }
    }

    fn word(f: &Fixture, w: &str) -> Term {
        Term::from_field_text(f.body, w)
    }

    /// The top hits by score, compared by score and document address.
    fn top(searcher: &Searcher, query: &dyn Query, k: usize) -> Vec<(Score, tantivy::DocAddress)> {
        searcher.search(query, &TopDocs::with_limit(k)).expect("search")
    }

    #[test]
    fn pruned_top_hits_equal_the_boolean_querys() {
        let f = fixture();
        assert!(f.searcher.segment_readers().len() > 1);
        let sso = Term::from_field_text(f.tag, "sso");
        let tag: Box<dyn Query> =
            Box::new(TermQuery::new(Term::from_field_text(f.tag, "dns"), IndexRecordOption::Basic));
        let range: Box<dyn Query> = Box::new(RangeQuery::new(
            std::ops::Bound::Included(Term::from_field_u64(f.n, 1_000)),
            std::ops::Bound::Excluded(Term::from_field_u64(f.n, 4_000)),
        ));
        let ka: Box<dyn Query> = Box::new(TermQuery::new(word(&f, "ka"), IndexRecordOption::Basic));
        let cases: Vec<Conjunction> = vec![
            Conjunction::new(vec![word(&f, "da")], vec![], vec![], vec![]),
            Conjunction::new(vec![word(&f, "da"), word(&f, "fa")], vec![], vec![], vec![]),
            Conjunction::new(vec![word(&f, "da"), word(&f, "fa"), word(&f, "ga")], vec![], vec![], vec![]),
            Conjunction::new(vec![word(&f, "da")], vec![sso.clone()], vec![], vec![]),
            Conjunction::new(vec![word(&f, "fa")], vec![], vec![range.box_clone()], vec![]),
            Conjunction::new(
                vec![word(&f, "da"), word(&f, "ga")],
                vec![sso.clone()],
                vec![range.box_clone()],
                vec![],
            ),
            Conjunction::new(vec![word(&f, "da"), word(&f, "ga")], vec![], vec![tag, range], vec![ka]),
        ]
        .into_iter()
        .map(|c| c.expect("has a scored term"))
        .collect();
        for case in &cases {
            let boolean = case.as_boolean();
            for k in [1, 10, 50] {
                let pruned = top(&f.searcher, case, k);
                let plain = top(&f.searcher, &boolean, k);
                assert_eq!(pruned.len(), plain.len(), "{case:?} k={k}");
                for (a, b) in pruned.iter().zip(&plain) {
                    assert!((a.0 - b.0).abs() < 1e-5, "{case:?} k={k}: scores {} and {}", a.0, b.0);
                }
                // Ties at the page's last score may be broken either way; above it, the same
                // documents must be there.
                let cut = plain.last().map(|h| h.0).unwrap_or_default() + 1e-5;
                assert_eq!(above(&pruned, cut), above(&plain, cut), "{case:?} k={k}");
            }
        }
    }

    fn above(hits: &[(Score, tantivy::DocAddress)], cut: Score) -> Vec<tantivy::DocAddress> {
        let mut docs: Vec<_> = hits.iter().filter(|h| h.0 > cut).map(|h| h.1).collect();
        docs.sort();
        docs
    }

    #[test]
    fn filters_and_exclusions_decide_membership_only() {
        let f = fixture();
        let tag: Box<dyn Query> =
            Box::new(TermQuery::new(Term::from_field_text(f.tag, "sso"), IndexRecordOption::Basic));
        let ka: Box<dyn Query> = Box::new(TermQuery::new(word(&f, "ka"), IndexRecordOption::Basic));
        let alone = Conjunction::new(vec![word(&f, "da")], vec![], vec![], vec![]).expect("scored");
        let sso = Term::from_field_text(f.tag, "sso");
        let filtered =
            Conjunction::new(vec![word(&f, "da")], vec![sso], vec![tag], vec![ka]).expect("scored");
        let count = |q: &dyn Query| f.searcher.search(q, &tantivy::collector::Count).expect("count");
        assert!(count(&filtered) < count(&alone) && count(&filtered) > 0);
        // A document found by both has the same score in both: the filter adds nothing.
        let scores = |q: &dyn Query| -> std::collections::HashMap<tantivy::DocAddress, Score> {
            top(&f.searcher, q, 10_000).into_iter().map(|(s, a)| (a, s)).collect()
        };
        let (all, some) = (scores(&alone), scores(&filtered));
        assert_eq!(some.len(), count(&filtered));
        for (address, score) in &some {
            assert_eq!(all.get(address), Some(score));
        }
        assert!(Conjunction::new(vec![], vec![], vec![], vec![]).is_none());
    }
}
