//! Trend endpoints: trending now, recurring, pairs, and per tag its history, related tags,
//! rhythm and distinctive terms; per incident its distinctive terms. Every one accepts
//! `at=` (default now) to see what the view showed at a past moment.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::app::trends::{defaults, distinctive, foreground, limit, require_tag, window};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::posts::TimelineFilter;
use crate::domain::time::parse_timestamp;
use crate::error::{invalid, AppError, ErrorBody};
use crate::http::query::NoParams;
use crate::trends::rollups::hour_of;
use crate::trends::views::{self, Interval};
use crate::trends::windows::Window;

/// The query of the trend lists (trending, recurring). Each route has a struct with exactly
/// the parameters it uses, so one it does not use (`min=` here) is refused, not ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendQuery {
    pub window: Option<String>,
    pub limit: Option<String>,
    pub at: Option<String>,
}

/// The query of related tags and pairs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairsQuery {
    pub window: Option<String>,
    pub limit: Option<String>,
    pub at: Option<String>,
    /// Least co-occurrences.
    pub min: Option<String>,
}

/// The query of a tag's rhythm: no list, so no `limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RhythmQuery {
    pub window: Option<String>,
    pub at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    pub interval: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn min_together(raw: Option<&str>, default: i64) -> Result<i64, AppError> {
    match raw {
        None => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| invalid("min", "min must be 1-1000")),
    }
}

/// Tags bursting now: distinct authors and incidents well above their own baseline.
#[utoipa::path(get, path = "/api/v1/trends/tags", operation_id = "list_trending_tags",
    params(("window" = Option<String>, Query, description = "24h (default) or 7d, any length like 12h"), ("limit" = Option<i64>, Query), ("at" = Option<String>, Query, description = "RFC 3339; default now")),
    responses((status = 200, description = "trending tags with observed, expected, score, first_seen, new, sparkline"), (status = 422, body = ErrorBody)))]
pub async fn trending(
    state: web::Data<AppState>,
    _auth: AuthUser,
    q: web::Query<TrendQuery>,
) -> Result<HttpResponse, AppError> {
    let w = window(q.window.as_deref(), defaults::TRENDING_WINDOW, q.at.as_deref())?;
    let n = limit(q.limit.as_deref())?;
    let memo = state.clone();
    let view = state.db.read(move |conn| memo.trends.trending(conn, w, n)).await?;
    Ok(HttpResponse::Ok().json(&*view))
}

/// Tags spanning the most distinct incidents, with the incidents as evidence.
#[utoipa::path(get, path = "/api/v1/trends/recurring", operation_id = "list_recurring_tags",
    params(("window" = Option<String>, Query, description = "default 90d"), ("limit" = Option<i64>, Query), ("at" = Option<String>, Query)),
    responses((status = 200, description = "recurring tags with incidents, authors, posts, last_seen, evidence"), (status = 422, body = ErrorBody)))]
pub async fn recurring(
    state: web::Data<AppState>,
    _auth: AuthUser,
    q: web::Query<TrendQuery>,
) -> Result<HttpResponse, AppError> {
    let w = window(q.window.as_deref(), defaults::RECURRING_WINDOW, q.at.as_deref())?;
    let n = limit(q.limit.as_deref())?;
    let memo = state.clone();
    let view = state.db.read(move |conn| memo.trends.recurring(conn, w, n)).await?;
    Ok(HttpResponse::Ok().json(&*view))
}

/// The strongest and the newly emerging tag pairs.
#[utoipa::path(get, path = "/api/v1/trends/pairs", operation_id = "list_tag_pairs",
    params(("window" = Option<String>, Query, description = "default 7d"), ("limit" = Option<i64>, Query), ("at" = Option<String>, Query), ("min" = Option<i64>, Query)),
    responses((status = 200, description = "strongest and emerging pairs with NPMI and counts"), (status = 422, body = ErrorBody)))]
pub async fn pairs(
    state: web::Data<AppState>,
    _auth: AuthUser,
    q: web::Query<PairsQuery>,
) -> Result<HttpResponse, AppError> {
    let w = window(q.window.as_deref(), defaults::PAIRS_WINDOW, q.at.as_deref())?;
    let n = limit(q.limit.as_deref())?;
    let min = min_together(q.min.as_deref(), defaults::API_MIN_TOGETHER)?;
    let memo = state.clone();
    let view = state.db.read(move |conn| memo.trends.pairs(conn, w, min, n)).await?;
    Ok(HttpResponse::Ok().json(&*view))
}

/// Posts per hour, day or week for charts.
#[utoipa::path(get, path = "/api/v1/tags/{name}/history", operation_id = "get_tag_history",
    params(("interval" = Option<String>, Query, description = "hour, day (default) or week"), ("from" = Option<String>, Query, description = "default: 90 days before `to`"), ("to" = Option<String>, Query, description = "default now")),
    responses((status = 200, description = "points [{t, posts}]"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    _auth: AuthUser,
    name: web::Path<String>,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AppError> {
    let interval = Interval::parse(q.interval.as_deref())?;
    let to = match q.to.as_deref() {
        Some(text) => parse_timestamp("to", text)?,
        None => crate::db::now_ms(),
    };
    let from = match q.from.as_deref() {
        Some(text) => parse_timestamp("from", text)?,
        None => to - 90 * 24 * 3_600_000,
    };
    if from >= to {
        return Err(invalid("from", "from must be before to"));
    }
    // Whole buckets: the last one includes the hour `to` falls in.
    let w = Window { start_hour: hour_of(from), end_hour: hour_of(to - 1) + 1 };
    let view = state
        .db
        .read(move |conn| {
            let tag = require_tag(conn, &name)?;
            views::history(conn, &tag, interval, w)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Tags that go with this one, by NPMI, with the counts.
#[utoipa::path(get, path = "/api/v1/tags/{name}/related", operation_id = "list_related_tags",
    params(("window" = Option<String>, Query, description = "default 365d"), ("at" = Option<String>, Query), ("limit" = Option<i64>, Query), ("min" = Option<i64>, Query, description = "least posts together, default 2")),
    responses((status = 200, description = "related tags with together, posts, npmi, lift"), (status = 404, body = ErrorBody)))]
pub async fn related(
    state: web::Data<AppState>,
    _auth: AuthUser,
    name: web::Path<String>,
    q: web::Query<PairsQuery>,
) -> Result<HttpResponse, AppError> {
    let w = window(q.window.as_deref(), "365d", q.at.as_deref())?;
    let n = limit(q.limit.as_deref())?;
    let min = min_together(q.min.as_deref(), 2)?;
    let view = state
        .db
        .read(move |conn| {
            let tag = require_tag(conn, &name)?;
            views::related(conn, &tag, w, min, n)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Posts by hour of day and day of week.
#[utoipa::path(get, path = "/api/v1/tags/{name}/rhythm", operation_id = "get_tag_rhythm",
    params(("window" = Option<String>, Query, description = "default 365d"), ("at" = Option<String>, Query)),
    responses((status = 200, description = "by_hour[24], by_weekday[7] (Monday first, UTC)"), (status = 404, body = ErrorBody)))]
pub async fn rhythm(
    state: web::Data<AppState>,
    _auth: AuthUser,
    name: web::Path<String>,
    q: web::Query<RhythmQuery>,
) -> Result<HttpResponse, AppError> {
    let w = window(q.window.as_deref(), "365d", q.at.as_deref())?;
    let view = state
        .db
        .read(move |conn| {
            let tag = require_tag(conn, &name)?;
            views::rhythm(conn, &tag, w)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Words and tags over-represented in this tag's notes against all notes.
#[utoipa::path(get, path = "/api/v1/tags/{name}/distinctive", operation_id = "get_tag_distinctive_terms",
    responses((status = 200, description = "words and tags with fg/bg counts and JLH score"), (status = 404, body = ErrorBody)))]
pub async fn tag_distinctive(
    state: web::Data<AppState>,
    _auth: AuthUser,
    name: web::Path<String>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let search = state.search.clone();
    let view = state
        .db
        .read(move |conn| {
            let tag = require_tag(conn, &name)?;
            let posts = {
                let group = crate::db::aliases::group_of(conn, tag.id)?;
                foreground(conn, TimelineFilter { tags: vec![group], ..Default::default() })?
            };
            distinctive(conn, &search, format!("#{}", tag.key), &posts, Some(&tag.key))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Words and tags over-represented in this incident's notes against all notes.
#[utoipa::path(get, path = "/api/v1/incidents/{key}/distinctive", operation_id = "get_incident_distinctive_terms",
    responses((status = 200, description = "words and tags with fg/bg counts and JLH score"), (status = 404, body = ErrorBody)))]
pub async fn incident_distinctive(
    state: web::Data<AppState>,
    _auth: AuthUser,
    key: web::Path<String>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let search = state.search.clone();
    let view = state
        .db
        .read(move |conn| {
            let incident = crate::app::incidents::require(conn, &key)?;
            let posts =
                foreground(conn, TimelineFilter { incident_id: Some(incident.id), ..Default::default() })?;
            distinctive(conn, &search, incident.key, &posts, None)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
