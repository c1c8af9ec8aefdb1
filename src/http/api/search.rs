//! Search: `GET /api/v1/search`, `GET /api/v1/search/export` (the whole result set as
//! CSV or JSON lines, streamed) and `GET /api/v1/posts/{id}/similar`.

use actix_web::{web, HttpResponse};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::search::{request, run, with_posts};
use crate::app::views::PostView;
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::posts::{self, PostDetails};
use crate::domain::rules::parse_id;
use crate::error::{invalid, AppError, ErrorBody};
use crate::http::query::NoParams;
use crate::search::searcher::{self, Facets};
use crate::search::IndexState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// `true` adds tag, incident and day counts over the whole result set.
    pub facets: Option<String>,
}

/// The query of the export: no page, so no `limit`, `cursor` or `facets` (they are refused,
/// not ignored).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub q: Option<String>,
    pub sort: Option<String>,
    /// `csv` (default) or `jsonl`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HitView {
    pub post: PostView,
    /// BM25 score (relevance order only).
    pub score: Option<f32>,
    /// HTML-safe excerpt with matches in `<mark>`.
    pub snippet: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchView {
    /// Matching posts, exact up to 10,000 (or with `facets=true`); see `total_exact`.
    pub total: usize,
    /// False when there are more matches than `total` says (the count stopped at the cap).
    pub total_exact: bool,
    /// `relevance` or `recent`.
    pub sort: String,
    pub hits: Vec<HitView>,
    /// Only with `facets=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub facets: Option<Facets>,
    /// Pass as `cursor` for the next page.
    pub next: Option<String>,
    /// `{"state": "ready"}` or, while the index is rebuilt, `{"state": "rebuilding", "indexed", "total"}`.
    #[schema(value_type = Object)]
    pub index: IndexState,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarView {
    pub items: Vec<HitView>,
}

fn hit_views(posts: Vec<(searcher::Hit, PostDetails)>) -> Vec<HitView> {
    posts
        .into_iter()
        .map(|(hit, details)| HitView {
            post: PostView::from(&details),
            score: hit.score,
            snippet: hit.snippet,
        })
        .collect()
}

/// Search posts with the query language (see the README).
#[utoipa::path(get, path = "/api/v1/search", operation_id = "search_posts",
    params(("q" = Option<String>, Query, description = "query, e.g. `#sso lockout after:2024-03-01`"),
           ("sort" = Option<String>, Query, description = "relevance (default with words) or recent"),
           ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query),
           ("facets" = Option<bool>, Query, description = "true adds tag, incident and day counts")),
    responses((status = 200, body = SearchView), (status = 400, body = ErrorBody)))]
pub async fn search(
    state: web::Data<AppState>,
    auth: AuthUser,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let mut req =
        request(query.q.as_deref(), query.sort.as_deref(), query.limit.as_deref(), query.cursor.as_deref())?;
    let with_facets = flag("facets", query.facets.as_deref())?;
    req.facets = with_facets;
    let page = run(state.search.clone(), &state.db, req, Some(auth.user.id)).await?;
    Ok(HttpResponse::Ok().json(SearchView {
        total: page.outcome.total,
        total_exact: page.outcome.total_exact,
        sort: page.outcome.sort.as_str().to_string(),
        hits: hit_views(page.posts),
        facets: with_facets.then(|| page.outcome.facets.clone()),
        next: page.next,
        index: state.search.state(),
    }))
}

/// A yes/no query parameter: `true`/`1` or `false`/`0`, absent meaning no.
fn flag(name: &'static str, raw: Option<&str>) -> Result<bool, AppError> {
    match raw {
        None | Some("") | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(invalid(name, format!("{name} must be true or false, not {other:?}"))),
    }
}

/// Posts most like this one: "the last time this happened".
#[utoipa::path(get, path = "/api/v1/posts/{id}/similar", operation_id = "list_similar_posts", responses((status = 200, body = SimilarView), (status = 404, body = ErrorBody)))]
pub async fn similar(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<String>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id)?;
    state.db.read(move |conn| crate::app::posts::require_live(conn, id)).await?;
    let search = state.search.clone();
    let hits = tokio::task::spawn_blocking(move || searcher::similar(&search, id, 10)).await??;
    let items = hit_views(with_posts(&state.db, hits, Some(auth.user.id)).await?);
    Ok(HttpResponse::Ok().json(SimilarView { items }))
}

/// One CSV record per post, written by the one CSV writer (formula cells neutralised).
fn csv_rows(posts: &[PostDetails]) -> Result<Vec<u8>, AppError> {
    crate::domain::export::csv(posts.iter().map(|details| {
        let view = PostView::from(details);
        let tags: Vec<&str> = view.tags.iter().map(|t| t.name.as_str()).collect();
        [
            view.id.to_string(),
            view.created_at.clone(),
            view.author.username.clone(),
            view.incident.clone().unwrap_or_default(),
            tags.join(" "),
            view.body.clone(),
        ]
    }))
}

fn jsonl_rows(posts: &[PostDetails]) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    for details in posts {
        serde_json::to_writer(&mut out, &PostView::from(details))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The whole result set of a query (no page limit), streamed as CSV or JSON lines.
#[utoipa::path(get, path = "/api/v1/search/export", operation_id = "export_search",
    params(("q" = Option<String>, Query), ("sort" = Option<String>, Query), ("format" = Option<String>, Query, description = "csv (default) or jsonl")),
    responses((status = 200, description = "text/csv or application/x-ndjson"), (status = 400, body = ErrorBody)))]
pub async fn export(
    state: web::Data<AppState>,
    _auth: AuthUser,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let jsonl = match query.format.as_deref() {
        None | Some("csv") => false,
        Some("jsonl") => true,
        Some(other) => return Err(invalid("format", format!("format must be csv or jsonl, not {other:?}"))),
    };
    let mut req = request(query.q.as_deref(), query.sort.as_deref(), None, None)?;
    req.query = crate::app::search::with_aliases(&state.db, req.query).await?;
    let search = state.search.clone();
    let ids = tokio::task::spawn_blocking(move || searcher::all_ids(&search, req.query.as_ref(), req.sort))
        .await??;
    let header: Vec<u8> = if jsonl {
        Vec::new()
    } else {
        crate::domain::export::csv([["id", "created_at", "author", "incident", "tags", "body"]])?
    };
    let chunks: Vec<Vec<i64>> = ids.chunks(500).map(<[i64]>::to_vec).collect();
    let db = state.db.clone();
    // Each chunk of posts is read from the database only when the client is ready for it.
    let body =
        stream::unfold((Some(header), chunks.into_iter(), db), move |(header, mut rest, db)| async move {
            if let Some(first) = header {
                return Some((Ok::<_, AppError>(web::Bytes::from(first)), (None, rest, db)));
            }
            let chunk = rest.next()?;
            let rows = db
                .read(move |conn| {
                    let order: std::collections::HashMap<i64, usize> =
                        chunk.iter().enumerate().map(|(i, id)| (*id, i)).collect();
                    let rows = posts::live_many(conn, &chunk)?;
                    let mut found = posts::details(conn, rows, None)?;
                    found.sort_by_key(|d| order.get(&d.post.id).copied().unwrap_or(usize::MAX));
                    if jsonl {
                        jsonl_rows(&found)
                    } else {
                        csv_rows(&found)
                    }
                })
                .await;
            Some((rows.map(web::Bytes::from), (None, rest, db)))
        });
    let (content_type, extension) =
        if jsonl { ("application/x-ndjson", "jsonl") } else { ("text/csv; charset=utf-8", "csv") };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"i2i-search.{extension}\"")))
        .streaming(body))
}
