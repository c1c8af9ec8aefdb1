//! A tag's page: its counts, a history chart (day or week), related tags, distinctive
//! words, the incidents it spans, when it happens (hour of day, day of week), and its
//! posts newest first with a compose box prefilled with the tag. Curators describe it,
//! merge it into another tag or un-merge its aliases from a form on the page.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::cards::encode_segment;
use super::charts::bar_chart;
use super::timeline::{compose, open_incidents, page_json};
use super::{check_csrf, redirect, render, viewer};
use crate::app::audit::Actor;
use crate::app::timeline::{load_page, TimelineRequest};
use crate::app::trends::{distinctive, foreground, require_tag};
use crate::app::vocabulary::{self, may_curate, CurationPatch};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::posts::TimelineFilter;
use crate::error::{bad_request, invalid, AppError};
use crate::http::client::ClientAddr;
use crate::trends::rollups::hour_of;
use crate::trends::views::{self, Interval};
use crate::trends::windows::Window;

#[derive(Debug, Deserialize)]
pub struct TagQuery {
    pub before: Option<String>,
    /// History chart interval: `day` (default) or `week`.
    pub interval: Option<String>,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `GET /tags/{name}`.
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthUser,
    name: web::Path<String>,
    query: web::Query<TagQuery>,
) -> Result<HttpResponse, AppError> {
    let name = name.into_inner();
    let query = query.into_inner();
    // The page charts days or weeks; anything else is refused rather than shown as days.
    let interval = match query.interval.as_deref().map(str::trim) {
        None | Some("") | Some("day") => Interval::Day,
        Some("week") => Interval::Week,
        Some(other) => {
            return Err(invalid("interval", format!("interval must be day or week, not {other:?}")))
        }
    };
    let viewer_id = auth.user.id;
    let search = state.search.clone();
    let loaded = state
        .db
        .read(move |conn| {
            let tag = require_tag(conn, &name)?;
            let (view, stats) = crate::app::vocabulary::view_and_stats(conn, &tag)?;
            let request =
                TimelineRequest { tags: vec![tag.key.clone()], before: query.before, ..Default::default() };
            let page = load_page(conn, &request, Some(viewer_id))?;
            // Charts end where the tag was last active, so history shows even for old tags.
            let end_hour = hour_of(stats.last_seen.unwrap_or_else(crate::db::now_ms)) + 1;
            let span = if interval == Interval::Week { 24 * 7 * 52 } else { 24 * 90 };
            let history =
                views::history(conn, &tag, interval, Window { start_hour: end_hour - span, end_hour })?;
            let lifetime = Window { start_hour: end_hour - 24 * 36_525, end_hour };
            let related = views::related(conn, &tag, lifetime, 2, 10)?;
            let rhythm = views::rhythm(conn, &tag, lifetime)?;
            let spans = views::incidents_of(conn, tag.id, lifetime, 15)?;
            let fg = {
                let group = crate::db::aliases::group_of(conn, tag.id)?;
                foreground(conn, TimelineFilter { tags: vec![group], ..Default::default() })?
            };
            let distinct = distinctive(conn, &search, format!("#{}", tag.key), &fg, Some(&tag.key)).ok();
            let following = crate::db::follows::is_following(conn, viewer_id, tag.id)?;
            Ok((view, page, open_incidents(conn)?, history, related, rhythm, spans, distinct, following))
        })
        .await?;
    let (tag, page, open, history, related, rhythm, spans, distinct, following) = loaded;
    let base = format!("/tags/{}", encode_segment(&tag.name));
    let history_values: Vec<(String, i64, String)> = history
        .points
        .iter()
        .map(|p| (p.t.get(..10).unwrap_or(&p.t).to_string(), p.posts, String::new()))
        .collect();
    let history_title = if interval == Interval::Week { "Posts per week" } else { "Posts per day" };
    let hours: Vec<(String, i64, String)> =
        rhythm.by_hour.iter().enumerate().map(|(h, n)| (format!("{h:02}:00"), *n, String::new())).collect();
    let days: Vec<(String, i64, String)> = rhythm
        .by_weekday
        .iter()
        .enumerate()
        .map(|(d, n)| (WEEKDAYS[d].to_string(), *n, String::new()))
        .collect();
    let context = json!({
        "title": format!("#{}", tag.display),
        "viewer": viewer(Some(&auth)),
        "compose": compose(&format!("#{} ", tag.display), "", &base, open),
        "page": page_json(&state, &page, &base),
        "base": base,
        "is_week": interval == Interval::Week,
        "history": bar_chart(history_title, &history_values, 600, 100),
        "by_hour": bar_chart("By hour of day (UTC)", &hours, 300, 60),
        "by_weekday": bar_chart("By day of week (UTC)", &days, 300, 60),
        "related": related.items.iter().map(|r| json!({"item": r, "npmi": format!("{:.2}", r.npmi),
            "href": format!("/tags/{}", encode_segment(&r.tag.name))})).collect::<Vec<_>>(),
        "spans": spans.iter().map(|e| json!({"item": e, "href": format!("/incidents/{}", encode_segment(&e.key))})).collect::<Vec<_>>(),
        "distinctive": distinct.map(|d| d.words.iter().map(|w| json!({"term": w.term, "fg": w.fg_count, "bg": w.bg_count})).collect::<Vec<_>>()),
        "following": following,
        "stream": format!("/api/v1/stream?tag={}", encode_segment(&tag.name)),
        "aliases": tag.aliases.iter().map(|a| json!({"name": a, "href": format!("/tags/{}", encode_segment(a))})).collect::<Vec<_>>(),
        "may_curate": may_curate(&auth.user),
        "tag": tag,
    });
    render(&state, "pages/tag", &context)
}

/// The curation form of the tag page: one of its three buttons.
#[derive(Debug, Deserialize)]
pub struct CurateForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
    /// `describe`, `merge` or `unmerge`.
    pub action: String,
    pub description: Option<String>,
    pub kind: Option<String>,
    /// A checkbox: present when ticked.
    pub hidden_from_trends: Option<String>,
    /// `merge`: the tag to merge into.
    pub into: Option<String>,
    /// `unmerge`: the alias to make a tag of its own again.
    pub alias: Option<String>,
}

/// `POST /tags/{name}/curate`: describe the tag, merge it into another, or un-merge one of
/// its aliases; back to the (canonical) tag's page.
pub async fn curate(
    state: web::Data<AppState>,
    auth: AuthUser,
    client: ClientAddr,
    name: web::Path<String>,
    form: web::Form<CurateForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&auth, &form.csrf)?;
    let (name, form) = (name.into_inner(), form.into_inner());
    let (user, actor) = (auth.user.clone(), Actor::user(&auth.user, client.text()));
    let shown = state
        .db
        .write(move |conn| match form.action.as_str() {
            "describe" => {
                let kind = form.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()).map(str::to_string);
                let patch = CurationPatch {
                    description: Some(form.description.unwrap_or_default()),
                    kind: Some(kind),
                    hidden_from_trends: Some(form.hidden_from_trends.is_some()),
                };
                Ok(vocabulary::curate(conn, &user, &actor, &name, &patch)?.0.key)
            }
            "merge" => {
                let into = form.into.unwrap_or_default();
                Ok(vocabulary::merge(conn, &user, &actor, &name, &into)?.key)
            }
            "unmerge" => {
                let alias = form.alias.unwrap_or_default();
                vocabulary::unmerge(conn, &user, &actor, &alias)?;
                Ok(vocabulary::named(conn, &name)?.key)
            }
            other => Err(bad_request("bad_action", format!("unknown action {other:?}"))),
        })
        .await?;
    Ok(redirect(&format!("/tags/{}", encode_segment(&shown))))
}
