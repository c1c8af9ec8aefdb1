//! The insights board's pages: the board by status, one insight with its chart, evidence
//! and discussion, and the forms that create insights in one click (from a tag page, a
//! trend, a search or a selection of notes), move them, pin evidence and comment. Exports:
//! an insight as Markdown (the board's CSV is the API's handler on a page route).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::cards::encode_segment;
use super::charts::bar_chart;
use super::{check_csrf, redirect, render, viewer};
use crate::app::insight_views::{board, load, markdown};
use crate::app::insights::{self, Draft, Patch};
use crate::app::vocabulary::may_curate;
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::domain::insights::Status;
use crate::error::{bad_request, AppError};
use crate::http::client::base_url;

/// `GET /insights`: the board, one column per status.
pub async fn board_page(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, AppError> {
    let items = state.db.read(|conn| board(conn, None)).await?;
    let columns: Vec<_> = Status::ALL
        .iter()
        .map(|status| {
            let cards: Vec<_> = items.iter().filter(|i| i.status == status.as_str()).collect();
            json!({"status": status.as_str(), "count": cards.len(), "items": cards})
        })
        .collect();
    render(
        &state,
        "pages/insights",
        &json!({"title": "Insights", "viewer": viewer(Some(&auth)), "columns": columns, "empty": items.is_empty()}),
    )
}

/// `GET /insights/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let view = load(&state, id, auth.user.id).await?;
    let points = daily_points(&view.history);
    let from = Status::parse(&view.status)?;
    let moves: Vec<&str> =
        Status::ALL.iter().filter(|s| **s != from && from.may_move_to(**s)).map(|s| s.as_str()).collect();
    let curator = may_curate(&auth.user);
    let tags: Vec<_> = view
        .tags
        .iter()
        .map(|t| json!({"name": t, "href": format!("/tags/{}", encode_segment(t))}))
        .collect();
    let incidents: Vec<_> = view
        .pinned_incidents
        .iter()
        .map(|i| json!({"item": i, "href": format!("/incidents/{}", encode_segment(&i.key))}))
        .collect();
    let context = json!({
        "title": view.title,
        "viewer": viewer(Some(&auth)),
        "insight": view,
        "tags": tags,
        "incidents": incidents,
        "chart": bar_chart("Matching notes per day", &points, 600, 100),
        "moves": moves,
        "curator": curator,
        "search_href": format!("/search?q={}", encode_segment(&view.query)),
    });
    render(&state, "pages/insight", &context)
}

/// Most days the insight's chart shows (the latest ones).
const CHART_DAYS: i64 = 365;

/// Posts per day from the first day with a matching post to the last, empty days included
/// (at most the last [`CHART_DAYS`]).
fn daily_points(history: &[insights::DayCount]) -> Vec<(String, i64, String)> {
    const DAY: i64 = 86_400_000;
    let parse =
        |day: &str| crate::domain::time::parse_timestamp("day", day).ok().map(|ms| ms.div_euclid(DAY));
    let days: Vec<(i64, i64)> = history.iter().filter_map(|d| Some((parse(&d.day)?, d.posts))).collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else { return Vec::new() };
    let start = first.0.max(last.0 - CHART_DAYS + 1);
    (start..=last.0)
        .map(|day| {
            let posts = days.iter().find(|d| d.0 == day).map_or(0, |d| d.1);
            let label: String = crate::domain::time::format_ms(day * DAY).chars().take(10).collect();
            (label, posts, String::new())
        })
        .collect()
}

/// Every `name=value` pair of a form body, repeated names included (a selection of notes
/// arrives as `post=3&post=9`).
fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn all<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

/// Words of a space- or comma-separated field.
fn words(text: &str) -> Vec<String> {
    text.split([' ', ',']).map(str::trim).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// `POST /insights`: creates an insight from a form (title, problem, tags, query, the
/// notes and incidents to pin) and opens it.
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let form = pairs(&body);
    check_csrf(&auth, first(&form, "_csrf"))?;
    let mut posts = Vec::new();
    for raw in all(&form, "post") {
        posts.push(
            raw.trim()
                .parse::<i64>()
                .map_err(|_| bad_request("bad_form", format!("{raw:?} is not a note id")))?,
        );
    }
    let draft = Draft {
        title: first(&form, "title").to_string(),
        problem: first(&form, "problem").to_string(),
        tags: words(first(&form, "tags")),
        query: first(&form, "query").to_string(),
        posts,
        incidents: all(&form, "incident").into_iter().flat_map(words).collect(),
    };
    let user = auth.user.clone();
    let id = state.db.write(move |conn| insights::create(conn, &user, &draft)).await?;
    Ok(redirect(&format!("/insights/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
    pub status: Option<String>,
    pub dismissed_reason: Option<String>,
    pub title: Option<String>,
    pub problem: Option<String>,
    pub owner: Option<String>,
    pub tags: Option<String>,
    pub query: Option<String>,
}

/// `POST /insights/{id}/update`: moves the status or edits the fields sent.
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    form: web::Form<UpdateForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    let (id, form) = (id.into_inner(), form.into_inner());
    let patch = Patch {
        title: form.title,
        problem: form.problem,
        status: form.status,
        dismissed_reason: form.dismissed_reason,
        owner: form.owner.map(|o| Some(o).filter(|o| !o.trim().is_empty())),
        tags: form.tags.as_deref().map(words),
        query: form.query,
    };
    let user = auth.user.clone();
    state.db.write(move |conn| insights::update(conn, &user, id, &patch)).await?;
    Ok(redirect(&format!("/insights/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct EvidenceForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
    /// `pin` or `unpin`.
    pub action: String,
    pub post: Option<String>,
    pub incident: Option<String>,
}

/// `POST /insights/{id}/evidence`: pins or unpins a note or an incident.
pub async fn evidence(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    form: web::Form<EvidenceForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    let (id, form) = (id.into_inner(), form.into_inner());
    let post = match form.post.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>().map_err(|_| bad_request("bad_form", format!("{raw:?} is not a note id")))?,
        ),
    };
    let incident = form.incident.map(|i| i.trim().to_string()).filter(|i| !i.is_empty());
    let user = auth.user.clone();
    state
        .db
        .write(move |conn| match (form.action.as_str(), post, incident) {
            ("pin", post, incident) => insights::pin(conn, &user, id, post, incident.as_deref()),
            ("unpin", Some(post), None) => insights::unpin(conn, &user, id, "posts", &post.to_string()),
            ("unpin", None, Some(key)) => insights::unpin(conn, &user, id, "incidents", &key),
            _ => Err(bad_request("bad_action", "pin or unpin one note or one incident")),
        })
        .await?;
    Ok(redirect(&format!("/insights/{id}")))
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
    pub body: String,
}

/// `POST /insights/{id}/comments`.
pub async fn comment(
    state: web::Data<AppState>,
    auth: AuthUser,
    id: web::Path<i64>,
    form: web::Form<CommentForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    let (id, form) = (id.into_inner(), form.into_inner());
    let user = auth.user.clone();
    state.db.write(move |conn| insights::comment(conn, &user, id, &form.body)).await?;
    Ok(redirect(&format!("/insights/{id}#discussion")))
}

/// `GET /insights/{id}/export.md`: the insight as a Markdown file.
pub async fn export_markdown(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let view = load(&state, id, auth.user.id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/markdown; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"insight-{id}.md\"")))
        .body(markdown(&view, &base_url(&state.config, &req))))
}

#[derive(Debug, Deserialize)]
pub struct ReadForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// `POST /notifications/read`: marks the visitor's notifications read; back to the timeline.
pub async fn mark_read(
    state: web::Data<AppState>,
    auth: AuthUser,
    form: web::Form<ReadForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    let user_id = auth.user.id;
    state
        .db
        .write(move |conn| Ok(crate::db::insights::mark_read(conn, user_id, crate::db::now_ms())?))
        .await?;
    Ok(redirect("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_form_fields_are_all_kept() {
        let form = pairs(b"_csrf=x&post=3&post=9&title=Reset+links&tags=%23sso%2C+pw");
        assert_eq!(all(&form, "post"), vec!["3", "9"]);
        assert_eq!(first(&form, "title"), "Reset links");
        assert_eq!(words(first(&form, "tags")), vec!["#sso", "pw"]);
        assert_eq!(first(&form, "missing"), "");
    }

    #[test]
    fn the_chart_fills_empty_days_between_the_first_and_the_last() {
        let day = |d: &str, posts| insights::DayCount { day: d.into(), posts, incidents: 0, responders: 0 };
        let points = daily_points(&[day("2025-03-30", 2), day("2025-04-02", 5)]);
        let got: Vec<(&str, i64)> = points.iter().map(|p| (p.0.as_str(), p.1)).collect();
        assert_eq!(got, vec![("2025-03-30", 2), ("2025-03-31", 0), ("2025-04-01", 0), ("2025-04-02", 5)]);
        assert!(daily_points(&[]).is_empty());
    }
}
