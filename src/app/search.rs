//! Searching posts: reading the request (query text, sort, page), running it on the index
//! off the async executor, and loading the hits' posts from the database, which stays the
//! source of truth (a post deleted since it was indexed is dropped from the page).

use std::collections::HashMap;
use std::sync::Arc;

use crate::db::aliases;
use crate::db::posts::{self, PostDetails};
use crate::db::{Db, DbConn};
use crate::error::{invalid, AppError};
use crate::search::query::{parse, Node};
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
    pub outcome: Arc<SearchOutcome>,
    pub posts: Vec<(Hit, PostDetails)>,
    pub next: Option<String>,
}

/// Loads the posts of `hits` in hit order, skipping any deleted since indexing.
pub async fn with_posts(
    db: &Db,
    hits: Vec<Hit>,
    viewer: Option<i64>,
) -> Result<Vec<(Hit, PostDetails)>, AppError> {
    db.read(move |conn| posts_of(conn, hits, viewer)).await
}

fn posts_of(
    conn: &mut DbConn,
    hits: Vec<Hit>,
    viewer: Option<i64>,
) -> Result<Vec<(Hit, PostDetails)>, AppError> {
    let ids: Vec<i64> = hits.iter().map(|h| h.post_id).collect();
    let rows = posts::live_many(conn, &ids)?;
    let details = posts::details(conn, rows, viewer)?;
    let mut by_id: HashMap<i64, PostDetails> = details.into_iter().map(|d| (d.post.id, d)).collect();
    Ok(hits.into_iter().filter_map(|hit| by_id.remove(&hit.post_id).map(|d| (hit, d))).collect())
}

/// Widens the query's tags to their aliases, runs it and loads its posts, in one trip to
/// the blocking pool.
pub async fn run(
    search: Arc<SearchIndex>,
    db: &Db,
    request: SearchRequest,
    viewer: Option<i64>,
) -> Result<SearchPage, AppError> {
    let mut request = request;
    let page_end = request.offset + request.limit;
    let db = db.clone();
    let (outcome, posts) = tokio::task::spawn_blocking(move || -> Result<_, AppError> {
        request.query = with_aliases_blocking(&db, request.query.take())?;
        let outcome = searcher::search(&search, &request)?;
        let posts = db.read_blocking(|conn| posts_of(conn, outcome.hits.clone(), viewer))?;
        Ok((outcome, posts))
    })
    .await??;
    let more = page_end < outcome.total || !outcome.total_exact;
    let next = (more && page_end <= MAX_OFFSET).then(|| page_end.to_string());
    Ok(SearchPage { outcome, posts, next })
}

/// Every tag of the query together with its aliases (and its canonical tag, if it is one):
/// `#pwreset` finds the posts written `#password-reset` once the two are merged. The index
/// keeps each post's own spelling, so merging and un-merging never rewrite it.
pub async fn with_aliases(db: &Db, query: Option<Node>) -> Result<Option<Node>, AppError> {
    let Some(query) = query else { return Ok(None) };
    let keys = tags_of(&query);
    if keys.is_empty() {
        return Ok(Some(query));
    }
    Ok(Some(db.read(move |conn| expand_aliases(conn, query, &keys)).await?))
}

/// [`with_aliases`] from a blocking thread.
fn with_aliases_blocking(db: &Db, query: Option<Node>) -> Result<Option<Node>, AppError> {
    let Some(query) = query else { return Ok(None) };
    let keys = tags_of(&query);
    if keys.is_empty() {
        return Ok(Some(query));
    }
    Ok(Some(db.read_blocking(|conn| expand_aliases(conn, query, &keys))?))
}

/// The query with each of its tags (`keys`) widened to its group, read on `conn`.
fn expand_aliases(conn: &mut DbConn, query: Node, keys: &[String]) -> Result<Node, AppError> {
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let groups = aliases::group_keys(conn, &refs)?;
    Ok(expand(query, &groups))
}

fn tags_of(node: &Node) -> Vec<String> {
    let mut keys = Vec::new();
    tag_keys(node, &mut keys);
    keys
}

fn tag_keys(node: &Node, out: &mut Vec<String>) {
    match node {
        Node::Tag(key) => out.push(key.clone()),
        Node::Not(inner) => tag_keys(inner, out),
        Node::And(children) | Node::Or(children) => children.iter().for_each(|c| tag_keys(c, out)),
        _ => {}
    }
}

/// `node` with each tag that has a group replaced by "any tag of the group".
fn expand(node: Node, groups: &HashMap<String, Vec<String>>) -> Node {
    match node {
        Node::Tag(key) => match groups.get(&key) {
            Some(group) if group.len() > 1 => Node::Or(group.iter().cloned().map(Node::Tag).collect()),
            _ => Node::Tag(key),
        },
        Node::Not(inner) => Node::Not(Box::new(expand(*inner, groups))),
        Node::And(children) => Node::And(children.into_iter().map(|c| expand(c, groups)).collect()),
        Node::Or(children) => Node::Or(children.into_iter().map(|c| expand(c, groups)).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_expand_to_their_group_and_nothing_else_changes() {
        let groups: HashMap<String, Vec<String>> =
            [("pwreset".to_string(), vec!["password-reset".to_string(), "pwreset".to_string()])].into();
        let query = parse("#pwreset -#sso (login OR #pwreset)").unwrap().unwrap();
        let group = Node::Or(vec![Node::Tag("password-reset".into()), Node::Tag("pwreset".into())]);
        let expected = Node::And(vec![
            group.clone(),
            Node::Not(Box::new(Node::Tag("sso".into()))),
            Node::Or(vec![Node::Word("login".into()), group]),
        ]);
        assert_eq!(expand(query, &groups), expected);
        let plain = parse("#sso login").unwrap().unwrap();
        assert_eq!(expand(plain.clone(), &groups), plain);
    }
}
