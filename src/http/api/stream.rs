//! `GET /api/v1/stream?tag=&incident=`: Server-Sent Events of new and changed posts. Each
//! event's id is its change-feed position, so a reconnecting client (which sends it back as
//! `Last-Event-ID`) resumes exactly after the last event it saw: nothing lost, nothing twice.

use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream;
use serde::Deserialize;

use crate::app::views::PostView;
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::changes::{self, FeedPosition};
use crate::db::posts;
use crate::db::Db;
use crate::domain::text::tag_key;
use crate::error::{bad_request, AppError, ErrorBody};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    pub tag: Option<String>,
    pub incident: Option<String>,
    /// A search query: the stream of a saved search ("search as a feed").
    pub q: Option<String>,
}

/// Formats a position as an event id, `txid.seq`.
pub fn event_id(position: FeedPosition) -> String {
    format!("{}.{}", position.txid, position.seq)
}

/// Parses an event id back into a position.
pub fn parse_event_id(raw: &str) -> Option<FeedPosition> {
    let (txid, seq) = raw.trim().split_once('.')?;
    Some(FeedPosition { txid: txid.parse().ok()?, seq: seq.parse().ok()? })
}

struct Filter {
    /// The tag asked for with its aliases (as merged when the stream started).
    tag: Option<Vec<String>>,
    incident: Option<String>,
    query: Option<crate::search::query::Node>,
}

struct Cursor {
    db: Db,
    search: std::sync::Arc<crate::search::SearchIndex>,
    position: FeedPosition,
    /// Changes that were already visible when a fresh stream started: not news.
    already_visible: Vec<i64>,
    filter: Filter,
    viewer: i64,
    /// The session the stream was opened with, checked again as the stream goes on.
    session: String,
    /// When that session was last found live.
    checked: Instant,
    last_sent: Instant,
}

/// How often the feed is polled per open stream, and how often an idle stream says it is alive.
const POLL: Duration = Duration::from_millis(300);
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often an idle stream checks that its session is still live; a round that has
/// changes to send checks every time, so nothing is sent after a logout or a disable.
const RECHECK: Duration = Duration::from_secs(5);

/// Why a stream ends without an error worth a warning.
const SIGNED_OUT: &str = "the session of this stream was revoked";

/// The next chunk of events after `cursor.position` (waits until there is one, or a
/// keep-alive is due).
async fn next_chunk(cursor: &mut Cursor) -> Result<String, AppError> {
    loop {
        let from = cursor.position;
        let viewer = cursor.viewer;
        // A search feed can only judge posts the index already has: wait for the indexer.
        if cursor.filter.query.is_some() && cursor.search.position() <= from {
            tokio::time::sleep(POLL).await;
            if cursor.last_sent.elapsed() >= KEEP_ALIVE {
                cursor.last_sent = Instant::now();
                return Ok(": keep-alive\n\n".to_string());
            }
            continue;
        }
        let indexed_up_to = cursor.search.position();
        let session = cursor.session.clone();
        let recheck_due = cursor.checked.elapsed() >= RECHECK;
        let batch = cursor
            .db
            .read(move |conn| {
                let batch = changes::after(conn, from, 200)?;
                // The credential is checked in the same read as what it would be shown.
                let check = recheck_due || !batch.is_empty();
                if check && crate::auth::signed_in(conn, &session, viewer)?.is_none() {
                    return Err(AppError::Unauthorized(SIGNED_OUT.into()));
                }
                let ids: Vec<i64> = batch.iter().filter(|c| c.kind == "upsert").map(|c| c.post_id).collect();
                let live = posts::live_many(conn, &ids)?;
                Ok((batch, posts::details(conn, live, Some(viewer))?, check))
            })
            .await?;
        let (changes, details, checked) = batch;
        if checked {
            cursor.checked = Instant::now();
        }
        let matched = match &cursor.filter.query {
            Some(node) => {
                let search = cursor.search.clone();
                let node = node.clone();
                let ids: Vec<i64> = details.iter().map(|d| d.post.id).collect();
                Some(
                    tokio::task::spawn_blocking(move || {
                        crate::search::searcher::matching(&search, &node, &ids)
                    })
                    .await??,
                )
            }
            None => None,
        };
        let mut out = String::new();
        for change in &changes {
            if cursor.filter.query.is_some() && change.position() > indexed_up_to {
                // Not indexed yet: judge it on a later round.
                break;
            }
            cursor.position = change.position();
            let id = event_id(change.position());
            if cursor.already_visible.contains(&change.seq) {
                out.push_str(&format!("id: {id}\n: seen\n\n"));
                continue;
            }
            if change.kind == "delete" {
                out.push_str(&format!("id: {id}\nevent: delete\ndata: {{\"id\":{}}}\n\n", change.post_id));
                continue;
            }
            let Some(found) = details.iter().find(|d| d.post.id == change.post_id) else {
                // Deleted since: its delete event follows.
                out.push_str(&format!("id: {id}\n: skipped\n\n"));
                continue;
            };
            let matches_tag = cursor
                .filter
                .tag
                .as_ref()
                .is_none_or(|group| found.tags.iter().any(|x| group.contains(&x.key)));
            let matches_incident = cursor
                .filter
                .incident
                .as_ref()
                .is_none_or(|k| found.incident.as_ref().is_some_and(|i| &i.key == k));
            let matches_query = matched.as_ref().is_none_or(|ids| ids.contains(&found.post.id));
            if matches_tag && matches_incident && matches_query {
                let data = serde_json::to_string(&PostView::from(found))?;
                out.push_str(&format!("id: {id}\nevent: post\ndata: {data}\n\n"));
            } else {
                // Still advance the client's Last-Event-ID past changes it does not want.
                out.push_str(&format!("id: {id}\n: filtered\n\n"));
            }
        }
        if !out.is_empty() {
            cursor.last_sent = Instant::now();
            return Ok(out);
        }
        if cursor.last_sent.elapsed() >= KEEP_ALIVE {
            cursor.last_sent = Instant::now();
            return Ok(": keep-alive\n\n".to_string());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Live posts as Server-Sent Events (`event: post` with a post's JSON, `event: delete`).
#[utoipa::path(get, path = "/api/v1/stream", operation_id = "stream_posts",
    params(("tag" = Option<String>, Query), ("incident" = Option<String>, Query), ("q" = Option<String>, Query, description = "a search query: a live search feed"),
           ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses((status = 200, description = "text/event-stream"), (status = 400, body = ErrorBody)))]
pub async fn stream_posts(
    state: web::Data<AppState>,
    auth: AuthUser,
    req: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let tag = match query.tag.as_deref() {
        Some(name) => Some(
            tag_key(name).ok_or_else(|| crate::error::invalid("tag", format!("{name:?} is not a tag")))?,
        ),
        None => None,
    };
    let tag = match tag {
        None => None,
        Some(key) => {
            let groups = state
                .db
                .read({
                    let key = key.clone();
                    move |conn| Ok(crate::db::aliases::group_keys(conn, &[key.as_str()])?)
                })
                .await?;
            Some(groups.get(&key).cloned().unwrap_or_else(|| vec![key]))
        }
    };
    let search_query = match query.q.as_deref().filter(|q| !q.trim().is_empty()) {
        Some(text) => crate::search::query::parse(text)
            .map_err(|err| AppError::QuerySyntax { message: err.message, position: err.position })?,
        None => None,
    };
    let search_query = crate::app::search::with_aliases(&state.db, search_query).await?;
    let resume =
        match req.headers().get("Last-Event-ID") {
            Some(value) => Some(value.to_str().ok().and_then(parse_event_id).ok_or_else(|| {
                bad_request("bad_cursor", "Last-Event-ID is not an event id of this stream")
            })?),
            None => None,
        };
    let (position, already_visible) = match resume {
        Some(position) => (position, Vec::new()),
        None => {
            state
                .db
                .read(|conn| {
                    let head = changes::safe_head(conn)?;
                    Ok((head, changes::visible_after(conn, head)?))
                })
                .await?
        }
    };
    let cursor = Cursor {
        db: state.db.clone(),
        search: state.search.clone(),
        position,
        already_visible,
        filter: Filter { tag, incident: query.incident, query: search_query },
        viewer: auth.user.id,
        session: auth.session.id.clone(),
        checked: Instant::now(),
        last_sent: Instant::now(),
    };
    // The first chunk names the starting position, so even a client that saw no event yet
    // can resume from here.
    let hello = format!("id: {}\nretry: 2000\n: connected\n\n", event_id(position));
    let body = stream::unfold((Some(hello), cursor), |(hello, mut cursor)| async move {
        if let Some(first) = hello {
            return Some((Ok::<_, AppError>(web::Bytes::from(first)), (None, cursor)));
        }
        match next_chunk(&mut cursor).await {
            Ok(chunk) => Some((Ok(web::Bytes::from(chunk)), (None, cursor))),
            Err(AppError::Unauthorized(_)) => {
                tracing::debug!("event stream ended: {SIGNED_OUT}");
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "event stream ended");
                None
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Compression would hold events back until a block fills up.
        .insert_header((actix_web::http::header::CONTENT_ENCODING, "identity"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip() {
        let position = FeedPosition { txid: 42, seq: 7 };
        assert_eq!(parse_event_id(&event_id(position)), Some(position));
        assert_eq!(parse_event_id("nonsense"), None);
        assert_eq!(parse_event_id("1.x"), None);
    }
}
