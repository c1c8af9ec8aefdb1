//! Running searches: the page of hits, the total and, when asked, facets (tags, incidents,
//! days) over the whole result set; snippets are HTML-escaped with matches in `<mark>`. Also "similar
//! posts" (more-like-this) and the id stream behind exports.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggregationCollector, AggregationLimitsGuard};
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{AllQuery, EmptyQuery, MoreLikeThisQuery, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DateTime, DocAddress, Order, Searcher, TantivyDocument, Term};

use super::count::{CappedCount, Total};
use super::plan::{self, compile, Analyzers};
use super::query::{has_text, Node};
use super::{Generation, SearchIndex};
use crate::error::AppError;

/// Matches counted exactly before a total becomes "at least".
pub const TOTAL_CAP: usize = 10_000;

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// BM25 relevance; the default when the query has words.
    Relevance,
    /// Newest first; the default for filters only.
    Recent,
}

impl Sort {
    /// The order a query gets when none is asked for: relevance with words, newest first
    /// for filters alone.
    pub fn default_for(query: Option<&Node>) -> Sort {
        match query {
            Some(node) if has_text(node) => Sort::Relevance,
            _ => Sort::Recent,
        }
    }
}

/// `page` ordered newest first (by the `created_at` fast field) instead of by score.
pub fn newest_first(page: TopDocs) -> impl Collector<Fruit = Vec<(DateTime, DocAddress)>> {
    page.order_by_fast_field::<DateTime>("created_at", Order::Desc)
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Recent => "recent",
        }
    }
}

/// A search to run.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: Option<Node>,
    pub sort: Option<Sort>,
    pub offset: usize,
    pub limit: usize,
    /// Count tags, incidents and days over the whole result set. Off unless asked for: on a
    /// common word that is a pass over most of the index, dozens of times the page's cost.
    pub facets: bool,
}

/// One hit: the post id, its score (relevance order only) and an HTML-safe snippet.
#[derive(Debug, Clone)]
pub struct Hit {
    pub post_id: i64,
    pub score: Option<f32>,
    pub snippet: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DayBucket {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub count: u64,
}

/// Counts over the whole result set, not just the page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    pub tags: Vec<Bucket>,
    pub incidents: Vec<Bucket>,
    pub days: Vec<DayBucket>,
}

#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Matches, counted exactly up to [`TOTAL_CAP`] (or the end of the page) unless facets
    /// were asked for.
    pub total: usize,
    /// False when there are more than `total` matches.
    pub total_exact: bool,
    pub sort: Sort,
    pub hits: Vec<Hit>,
    pub facets: Facets,
}

fn internal(err: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("search: {err}"))
}

fn generation(search: &SearchIndex) -> Result<Generation, AppError> {
    search
        .current()
        .ok_or_else(|| AppError::Unavailable("the search index is still opening; try again".into()))
}

fn analyzers(search: &SearchIndex, generation: &Generation) -> Result<Analyzers, AppError> {
    Analyzers::of(generation, &search.fields).map_err(internal)
}

/// The tantivy query of `node` (every document without one).
fn compile_with(search: &SearchIndex, analyzers: &mut Analyzers, node: Option<&Node>) -> Box<dyn Query> {
    match node {
        None => Box::new(AllQuery),
        Some(node) => compile(node, &search.fields, analyzers),
    }
}

fn compiled(
    search: &SearchIndex,
    generation: &Generation,
    node: Option<&Node>,
) -> Result<Box<dyn Query>, AppError> {
    Ok(compile_with(search, &mut analyzers(search, generation)?, node))
}

/// The snippet cutter of a search: it highlights the query's words and phrases
/// ([`plan::highlight`]).
fn snippets(
    search: &SearchIndex,
    searcher: &Searcher,
    analyzers: &mut Analyzers,
    node: Option<&Node>,
) -> Result<SnippetGenerator, AppError> {
    let words = node.and_then(|node| plan::highlight(node, &search.fields, analyzers));
    let words = words.unwrap_or_else(|| Box::new(EmptyQuery));
    SnippetGenerator::create(searcher, words.as_ref(), search.fields.body).map_err(internal)
}

fn facet_request() -> Result<Aggregations, AppError> {
    serde_json::from_value(json!({
        "tags": {"terms": {"field": "tags", "size": 15}},
        "incidents": {"terms": {"field": "incident", "size": 10}},
        "days": {"date_histogram": {"field": "created_at", "fixed_interval": "1d", "min_doc_count": 1}},
    }))
    .map_err(internal)
}

fn buckets(results: &Value, name: &str) -> Vec<Bucket> {
    results[name]["buckets"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|b| {
                    Some(Bucket { name: b["key"].as_str()?.to_string(), count: b["doc_count"].as_u64()? })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn day_buckets(results: &Value) -> Vec<DayBucket> {
    results["days"]["buckets"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|b| {
                    let ms = b["key"].as_f64()? as i64;
                    let day = chrono::DateTime::from_timestamp_millis(ms)?.format("%Y-%m-%d").to_string();
                    Some(DayBucket { day, count: b["doc_count"].as_u64()? })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Escapes text for HTML (used where no snippet highlights exist).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

fn post_id_of(doc: &TantivyDocument, search: &SearchIndex) -> Option<i64> {
    doc.get_first(search.fields.id).and_then(|v| v.as_u64()).map(|id| id as i64)
}

fn hit(
    searcher: &Searcher,
    search: &SearchIndex,
    generator: &SnippetGenerator,
    address: DocAddress,
    score: Option<f32>,
) -> Result<Option<Hit>, AppError> {
    let doc: TantivyDocument = searcher.doc(address).map_err(internal)?;
    let Some(post_id) = post_id_of(&doc, search) else { return Ok(None) };
    let mut snippet = generator.snippet_from_doc(&doc);
    snippet.set_snippet_prefix_postfix("<mark>", "</mark>");
    let html = if snippet.highlighted().is_empty() {
        let body = doc.get_first(search.fields.body).and_then(|v| v.as_str()).unwrap_or_default();
        escape(&body.chars().take(200).collect::<String>())
    } else {
        snippet.to_html()
    };
    Ok(Some(Hit { post_id, score, snippet: html }))
}

/// Runs a search: one page of hits, the total and (if requested) facets; answered from the
/// searcher's recent answers when the same search ran on it before.
pub fn search(search: &SearchIndex, request: &SearchRequest) -> Result<Arc<SearchOutcome>, AppError> {
    let generation = generation(search)?;
    let searcher = generation.reader.searcher();
    let stamp = generation.stamp(&searcher);
    let key = format!(
        "{:?}|{:?}|{}|{}|{}",
        request.query, request.sort, request.offset, request.limit, request.facets
    );
    if let Some(answer) = search.answers.get(stamp, &key) {
        return Ok(answer);
    }
    let answer = Arc::new(run(search, &generation, &searcher, request)?);
    search.answers.put(stamp, key, answer.clone());
    Ok(answer)
}

fn run(
    search: &SearchIndex,
    generation: &Generation,
    searcher: &Searcher,
    request: &SearchRequest,
) -> Result<SearchOutcome, AppError> {
    // One set of analysers plans the query and its highlights.
    let mut analyzers = analyzers(search, generation)?;
    let query = compile_with(search, &mut analyzers, request.query.as_ref());
    let sort = request.sort.unwrap_or_else(|| Sort::default_for(request.query.as_ref()));
    let page = TopDocs::with_limit(request.limit.max(1)).and_offset(request.offset);
    // The page and the total are separate passes on purpose: alone, TopDocs by relevance
    // skips blocks that cannot reach the page (block-max WAND) and Count reads posting
    // list lengths, where one combined pass would score every matching document.
    let scored: Vec<(Option<f32>, DocAddress)> = match sort {
        Sort::Relevance => {
            let top = searcher.search(&query, &page).map_err(internal)?;
            top.into_iter().map(|(s, a)| (Some(s), a)).collect()
        }
        Sort::Recent => {
            let top = searcher.search(&query, &newest_first(page)).map_err(internal)?;
            top.into_iter().map(|(_, a)| (None, a)).collect()
        }
    };
    // Facets visit every match anyway, so with them the total is exact too.
    let (total, facets) = if request.facets {
        let count = searcher.search(&query, &Count).map_err(internal)?;
        (Total { count, exact: true }, facets_of(searcher, &query)?)
    } else {
        let cap = TOTAL_CAP.max(request.offset + request.limit);
        (searcher.search(&query, &CappedCount::new(cap)).map_err(internal)?, Facets::default())
    };
    let generator = snippets(search, searcher, &mut analyzers, request.query.as_ref())?;
    let mut hits = Vec::with_capacity(scored.len());
    for (score, address) in scored {
        if let Some(found) = hit(searcher, search, &generator, address, score)? {
            hits.push(found);
        }
    }
    Ok(SearchOutcome { total: total.count, total_exact: total.exact, sort, hits, facets })
}

/// Tag, incident and day counts over everything `query` matches.
fn facets_of(searcher: &Searcher, query: &dyn Query) -> Result<Facets, AppError> {
    let collector = AggregationCollector::from_aggs(facet_request()?, AggregationLimitsGuard::default());
    let aggregations = searcher.search(query, &collector).map_err(internal)?;
    let results = serde_json::to_value(&aggregations).map_err(internal)?;
    Ok(Facets {
        tags: buckets(&results, "tags"),
        incidents: buckets(&results, "incidents"),
        days: day_buckets(&results),
    })
}

/// The post ids of the first `cap` matches (in index order, read from the `id` fast field)
/// and whether those are all of them.
pub fn matching_ids(
    search: &SearchIndex,
    node: Option<&Node>,
    cap: usize,
) -> Result<(Vec<i64>, bool), AppError> {
    let generation = generation(search)?;
    let query = compiled(search, &generation, node)?;
    let searcher = generation.reader.searcher();
    searcher.search(&query, &crate::search::ids::CappedIds::new(cap)).map_err(internal)
}

/// Every matching post id in result order, for exports (no page limit).
pub fn all_ids(search: &SearchIndex, node: Option<&Node>, sort: Option<Sort>) -> Result<Vec<i64>, AppError> {
    let generation = generation(search)?;
    let query = compiled(search, &generation, node)?;
    let searcher = generation.reader.searcher();
    let total = searcher.search(&query, &Count).map_err(internal)?;
    let sort = sort.unwrap_or_else(|| Sort::default_for(node));
    let limit = TopDocs::with_limit(total.max(1));
    let addresses: Vec<DocAddress> = match sort {
        Sort::Relevance => {
            searcher.search(&query, &limit).map_err(internal)?.into_iter().map(|(_, a)| a).collect()
        }
        Sort::Recent => searcher
            .search(&query, &newest_first(limit))
            .map_err(internal)?
            .into_iter()
            .map(|(_, a)| a)
            .collect(),
    };
    let mut ids = Vec::with_capacity(addresses.len());
    for address in addresses {
        let doc: TantivyDocument = searcher.doc(address).map_err(internal)?;
        ids.extend(post_id_of(&doc, search));
    }
    Ok(ids)
}

/// Posts most like `post_id` (shared distinctive words), best first, without itself.
pub fn similar(search: &SearchIndex, post_id: i64, limit: usize) -> Result<Vec<Hit>, AppError> {
    let generation = generation(search)?;
    let searcher = generation.reader.searcher();
    let id_term = Term::from_field_u64(search.fields.id, post_id as u64);
    let own = searcher
        .search(&TermQuery::new(id_term, IndexRecordOption::Basic), &TopDocs::with_limit(1))
        .map_err(internal)?;
    let Some((_, address)) = own.first() else {
        return Err(AppError::Unavailable("this post is not indexed yet; try again in a moment".into()));
    };
    let query = MoreLikeThisQuery::builder()
        .with_min_doc_frequency(1)
        .with_min_term_frequency(1)
        .with_min_word_length(3)
        .with_max_query_terms(25)
        .with_document(*address);
    let top = searcher.search(&query, &TopDocs::with_limit(limit + 1)).map_err(internal)?;
    let generator = SnippetGenerator::create(&searcher, &query, search.fields.body).map_err(internal)?;
    let mut hits = Vec::new();
    for (score, found) in top {
        if found == *address {
            continue;
        }
        if let Some(h) = hit(&searcher, search, &generator, found, Some(score))? {
            hits.push(h);
        }
    }
    hits.truncate(limit);
    Ok(hits)
}

/// Which of `post_ids` match `node` in the index as it is now (for live search feeds).
pub fn matching(search: &SearchIndex, node: &Node, post_ids: &[i64]) -> Result<Vec<i64>, AppError> {
    use tantivy::collector::DocSetCollector;
    use tantivy::query::{BooleanQuery, Occur, TermSetQuery};
    if post_ids.is_empty() {
        return Ok(Vec::new());
    }
    let generation = generation(search)?;
    let query = compiled(search, &generation, Some(node))?;
    let ids = TermSetQuery::new(post_ids.iter().map(|id| Term::from_field_u64(search.fields.id, *id as u64)));
    let both = BooleanQuery::new(vec![(Occur::Must, query), (Occur::Must, Box::new(ids) as Box<dyn Query>)]);
    let searcher = generation.reader.searcher();
    let found = searcher.search(&both, &DocSetCollector).map_err(internal)?;
    let mut out = Vec::new();
    for address in found {
        let doc: TantivyDocument = searcher.doc(address).map_err(internal)?;
        out.extend(post_id_of(&doc, search));
    }
    Ok(out)
}
