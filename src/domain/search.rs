//! Searching posts: reading the request (query text, sort, page), running it on the index
//! off the async executor, and loading the hits' posts from the database, which stays the
//! source of truth (a post deleted since it was indexed is dropped from the page).

use std::collections::HashMap;
use std::sync::Arc;

use crate::db::posts::{self, PostDetails};
use crate::db::Db;
use crate::error::{invalid, AppError};
use crate::search::query::parse;
use crate::search::searcher::{self, Hit, SearchOutcome, SearchRequest, Sort};
use crate::search::SearchIndex;

/// Deepest offset a page may start at; beyond it, use an export.
const MAX_OFFSET: usize = 100_000;
pub const MAX_LIMIT: usize = 100;

/// Parses `q`, `sort`, `limit` and `cursor` into a search request.
pub fn request(
    q: Option<&str>,
    sort: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<SearchRequest, AppError> {
    let query = parse(q.unwrap_or(""))
        .map_err(|err| AppError::QuerySyntax { message: err.message, position: err.position })?;
    let sort = match sort {
        None | Some("") => None,
        Some("relevance") => Some(Sort::Relevance),
        Some("recent") => Some(Sort::Recent),
        Some(other) => {
            return Err(invalid("sort", format!("sort must be relevance or recent, not {other:?}")))
        }
    };
    let limit = match limit {
        None => 20,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(invalid("limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))),
        },
    };
    let offset = match cursor {
        None | Some("") => 0,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n <= MAX_OFFSET => n,
            _ => {
                return Err(crate::error::bad_request("bad_cursor", format!("cursor {text:?} is not valid")));
            }
        },
    };
    Ok(SearchRequest { query, sort, offset, limit, facets: false })
}

/// A page of results with the posts behind the hits.
pub struct SearchPage {
    pub outcome: SearchOutcome,
    pub posts: Vec<(Hit, PostDetails)>,
    pub next: Option<String>,
}

/// Loads the posts of `hits` in hit order, skipping any deleted since indexing.
pub async fn with_posts(
    db: &Db,
    hits: Vec<Hit>,
    viewer: Option<i64>,
) -> Result<Vec<(Hit, PostDetails)>, AppError> {
    let ids: Vec<i64> = hits.iter().map(|h| h.post_id).collect();
    let details = db
        .read(move |conn| {
            let rows = posts::live_many(conn, &ids)?;
            Ok(posts::details(conn, rows, viewer)?)
        })
        .await?;
    let mut by_id: HashMap<i64, PostDetails> = details.into_iter().map(|d| (d.post.id, d)).collect();
    Ok(hits.into_iter().filter_map(|hit| by_id.remove(&hit.post_id).map(|d| (hit, d))).collect())
}

/// Runs `request` and loads its posts.
pub async fn run(
    search: Arc<SearchIndex>,
    db: &Db,
    request: SearchRequest,
    viewer: Option<i64>,
) -> Result<SearchPage, AppError> {
    let page_end = request.offset + request.limit;
    let outcome = tokio::task::spawn_blocking(move || searcher::search(&search, &request)).await??;
    let more = page_end < outcome.total || !outcome.total_exact;
    let next = (more && page_end <= MAX_OFFSET).then(|| page_end.to_string());
    let posts = with_posts(db, outcome.hits.clone(), viewer).await?;
    Ok(SearchPage { outcome, posts, next })
}
