//! The designers' Trends page: what bursts now (with sparklines and "new" badges), what
//! recurs across incidents, and which tag pairs are emerging.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::cards::encode_segment;
use super::charts::sparkline;
use super::{render, viewer};
use crate::app::trends::{defaults, window};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::error::{invalid, AppError};

#[derive(Debug, Deserialize)]
pub struct TrendsForm {
    /// `24h` (default) or `7d` for "trending now".
    pub window: Option<String>,
    pub at: Option<String>,
}

/// `GET /trends`.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    form: web::Query<TrendsForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    // The page offers the last day or week; another length is refused rather than shown as a day.
    let length = match form.window.as_deref().map(str::trim) {
        None | Some("") => defaults::TRENDING_WINDOW,
        Some("7d") => "7d",
        Some("24h") => "24h",
        Some(other) => return Err(invalid("window", format!("window must be 24h or 7d, not {other:?}"))),
    };
    let at = form.at.clone();
    let now_window = window(Some(length), length, at.as_deref())?;
    let recurring_window = window(None, defaults::RECURRING_WINDOW, at.as_deref())?;
    let pairs_window = window(None, defaults::PAIRS_WINDOW, at.as_deref())?;
    let memo = state.clone();
    let (trending, recurring, pairs) = state
        .db
        .read(move |conn| {
            Ok((
                memo.trends.trending(conn, now_window, defaults::PAGE_LIMIT)?,
                memo.trends.recurring(conn, recurring_window, defaults::PAGE_LIMIT)?,
                memo.trends.pairs(
                    conn,
                    pairs_window,
                    defaults::PAGE_PAIRS_MIN,
                    defaults::PAGE_PAIRS_LIMIT,
                )?,
            ))
        })
        .await?;
    let trending_rows: Vec<_> = trending
        .items
        .iter()
        .map(|t| {
            json!({
                "item": t,
                "href": format!("/tags/{}", encode_segment(&t.tag.name)),
                "spark": sparkline(&t.sparkline.points, 120, 24),
                "score": format!("{:.1}", t.score.score),
                "expected": format!("{:.1}", t.score.expected),
            })
        })
        .collect();
    let max_incidents = recurring.items.first().map(|r| r.incidents).unwrap_or(1).max(1);
    let recurring_rows: Vec<_> = recurring
        .items
        .iter()
        .map(|r| {
            json!({
                "item": r,
                "href": format!("/tags/{}", encode_segment(&r.tag.name)),
                "bar": (r.incidents * 200) / max_incidents,
                "evidence": r.evidence.iter().take(3).map(|e| json!({"key": e.key, "href": format!("/incidents/{}", encode_segment(&e.key))})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let pair_rows: Vec<_> = pairs
        .emerging
        .iter()
        .map(|p| {
            json!({"pair": p, "npmi": format!("{:.2}", p.npmi),
                        "a_href": format!("/tags/{}", encode_segment(&p.a.name)),
                        "b_href": format!("/tags/{}", encode_segment(&p.b.name))})
        })
        .collect();
    let context = json!({
        "title": "Trends",
        "viewer": viewer(Some(&auth)),
        "length": length,
        "is_week": length == "7d",
        "trending": {"window": trending.window, "formula": trending.formula, "rows": trending_rows},
        "recurring": {"window": recurring.window, "rows": recurring_rows},
        "pairs": {"window": pairs.window, "rows": pair_rows},
    });
    render(&state, "pages/trends", &context)
}
