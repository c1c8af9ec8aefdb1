//! The analysts' search page: query box with syntax help, highlighted results, facets that
//! refine the query when clicked, a histogram of matching notes over time, and export links.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cards::encode_segment;
use super::{render, viewer};
use crate::app::search::{request, run};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::domain::time::{format_ms, human_ms};
use crate::error::AppError;
use crate::search::searcher::DayBucket;
use crate::search::searcher::SearchRequest;

#[derive(Debug, Deserialize)]
pub struct SearchForm {
    pub q: Option<String>,
    pub sort: Option<String>,
    pub cursor: Option<String>,
}

/// One bar of the histogram, laid out for an inline SVG.
#[derive(Debug, Serialize, PartialEq)]
pub struct Bar {
    pub label: String,
    pub count: u64,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub href: String,
}

const CHART_WIDTH: u32 = 600;
const CHART_HEIGHT: u32 = 80;

/// Groups day counts into days, months or years so a chart has at most a few dozen bars,
/// and lays the bars out; each links to the query narrowed to its period.
pub fn histogram(days: &[DayBucket], query: &str) -> Vec<Bar> {
    let span = |from: &str, to: &str| {
        let parse = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
        match (parse(from), parse(to)) {
            (Some(a), Some(b)) => (b - a).num_days(),
            _ => 0,
        }
    };
    let (Some(first), Some(last)) = (days.first(), days.last()) else { return Vec::new() };
    let period_len = match span(&first.day, &last.day) {
        0..=60 => 10,   // YYYY-MM-DD
        61..=1825 => 7, // YYYY-MM
        _ => 4,         // YYYY
    };
    let mut periods: Vec<(String, u64)> = Vec::new();
    for bucket in days {
        let period = bucket.day.get(..period_len).unwrap_or(&bucket.day).to_string();
        match periods.last_mut() {
            Some((last, count)) if *last == period => *count += bucket.count,
            _ => periods.push((period, bucket.count)),
        }
    }
    let max = periods.iter().map(|(_, c)| *c).max().unwrap_or(1).max(1);
    let slot = (CHART_WIDTH / periods.len().max(1) as u32).clamp(2, 40);
    periods
        .into_iter()
        .enumerate()
        .map(|(i, (label, count))| {
            let height = ((count * CHART_HEIGHT as u64) / max).max(1) as u32;
            let narrowed = format!("{query} during:{label}").trim().to_string();
            Bar {
                href: format!("/search?q={}", encode_segment(&narrowed)),
                x: i as u32 * slot,
                y: CHART_HEIGHT - height,
                width: slot.saturating_sub(1).max(1),
                height,
                count,
                label,
            }
        })
        .collect()
}

fn refine(query: &str, term: &str) -> String {
    let refined = format!("{query} {term}").trim().to_string();
    format!("/search?q={}", encode_segment(&refined))
}

/// `GET /search`.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    form: web::Query<SearchForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let q = form.q.unwrap_or_default();
    let sort = form.sort.filter(|s| !s.is_empty());
    let base = json!({
        "title": if q.is_empty() { "Search".to_string() } else { format!("{q} · Search") },
        "viewer": viewer(Some(&auth)),
        "q": q,
        "sort": sort.clone().unwrap_or_default(),
        "export_csv": format!("/api/v1/search/export?q={}&format=csv", encode_segment(&q)),
        "export_jsonl": format!("/api/v1/search/export?q={}&format=jsonl", encode_segment(&q)),
    });
    let req = match request(Some(&q), sort.as_deref(), None, form.cursor.as_deref()) {
        // The page shows the facets and the day histogram.
        Ok(req) => SearchRequest { facets: true, ..req },
        Err(AppError::QuerySyntax { message, position }) => {
            let mut context = base;
            context["error"] = json!({"message": message, "position": position,
                                      "caret": format!("{}^", " ".repeat(position))});
            context["results"] = json!(null);
            let mut page = render(&state, "pages/search", &context)?;
            *page.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
            return Ok(page);
        }
        Err(other) => return Err(other),
    };
    let page = run(state.search.clone(), &state.db, req, Some(auth.user.id)).await?;
    let hits: Vec<_> = page
        .posts
        .iter()
        .map(|(hit, details)| {
            json!({
                "id": details.post.id,
                "author_username": details.author.username,
                "author_name": details.author.display_name,
                "created_iso": format_ms(details.post.created_at),
                "created_human": human_ms(details.post.created_at),
                "snippet": crate::domain::text::without_bidi_controls(&hit.snippet),
                "incident": details.incident.as_ref().map(|i| i.key.clone()),
                "incident_href": details.incident.as_ref().map(|i| format!("/incidents/{}", encode_segment(&i.key))),
                "tags": details.tags.iter().map(|t| json!({"name": t.key, "display": t.display})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let facets = &page.outcome.facets;
    let bars = histogram(&facets.days, &q);
    let range = match (bars.first(), bars.last()) {
        (Some(first), Some(last)) if first.label != last.label => {
            format!("{} to {}", first.label, last.label)
        }
        (Some(only), _) => only.label.clone(),
        _ => String::new(),
    };
    let mut context = base;
    context["error"] = json!(null);
    context["results"] = json!({
        "total": page.outcome.total,
        "sort": page.outcome.sort.as_str(),
        "hits": hits,
        "tags": facets.tags.iter().map(|b| json!({"name": b.name, "count": b.count, "href": refine(&q, &format!("#{}", b.name))})).collect::<Vec<_>>(),
        "incidents": facets.incidents.iter().map(|b| json!({"name": b.name, "count": b.count, "href": refine(&q, &format!("incident:{}", b.name))})).collect::<Vec<_>>(),
        "bars": bars,
        "range": range,
        "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
        "next": page.next.map(|cursor| format!("/search?q={}&sort={}&cursor={cursor}", encode_segment(&q), sort.clone().unwrap_or_default())),
        "rebuilding": !matches!(state.search.state(), crate::search::IndexState::Ready),
        "stream": format!("/api/v1/stream?q={}", encode_segment(&q)),
    });
    render(&state, "pages/search", &context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: &str, count: u64) -> DayBucket {
        DayBucket { day: day.into(), count }
    }

    #[test]
    fn short_spans_chart_days_long_spans_months_or_years() {
        let bars = histogram(&[day("2024-03-01", 2), day("2024-03-03", 4)], "#sso");
        assert_eq!(bars.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(), ["2024-03-01", "2024-03-03"]);
        assert_eq!(bars[1].height, CHART_HEIGHT, "the largest bar fills the chart");
        assert_eq!(bars[0].height, CHART_HEIGHT / 2);
        assert_eq!(bars[0].href, "/search?q=%23sso+during%3A2024-03-01");

        let months = histogram(&[day("2024-01-05", 1), day("2024-01-20", 2), day("2024-06-01", 3)], "");
        assert_eq!(
            months.iter().map(|b| (b.label.as_str(), b.count)).collect::<Vec<_>>(),
            [("2024-01", 3), ("2024-06", 3)]
        );
        let years = histogram(&[day("1993-07-01", 1), day("2023-01-01", 5), day("2023-09-01", 1)], "");
        assert_eq!(
            years.iter().map(|b| (b.label.as_str(), b.count)).collect::<Vec<_>>(),
            [("1993", 1), ("2023", 6)]
        );
        assert!(histogram(&[], "x").is_empty());
    }
}
