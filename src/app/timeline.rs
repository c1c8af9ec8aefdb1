//! Timelines: turning a request (tag names, incident key, author, cursor) into a database
//! filter and loading one keyset page. Shared by the JSON API and the pages.

use diesel::prelude::*;

use crate::db::posts::{self, PostDetails, TimelineFilter};
use crate::db::schema::posts as posts_table;
use crate::db::{aliases, incidents, tags, users, DbConn};
use crate::domain::text;
use crate::error::{bad_request, invalid, AppError};

/// Largest page a client may ask for.
pub const MAX_LIMIT: i64 = 100;
pub const DEFAULT_LIMIT: i64 = 20;

/// A timeline as asked for, before any lookup.
#[derive(Debug, Clone, Default)]
pub struct TimelineRequest {
    pub tags: Vec<String>,
    pub tags_all: bool,
    pub not_tags: Vec<String>,
    pub incident: Option<String>,
    pub author: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
    pub oldest_first: bool,
    pub top_level_only: bool,
}

/// One page and the cursor of the next (the id to pass as `before`).
pub struct TimelinePage {
    pub posts: Vec<PostDetails>,
    pub next: Option<i64>,
}

/// Parses the page size: 1..=100, default 20.
pub fn parse_limit(raw: Option<&str>) -> Result<i64, AppError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(invalid("limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))),
        },
    }
}

fn parse_tag(name: &str) -> Result<String, AppError> {
    text::tag_key(name.trim()).ok_or_else(|| invalid("tag", format!("{name:?} is not a valid tag")))
}

fn tag_ids(conn: &mut DbConn, keys: &[String]) -> Result<Vec<i64>, AppError> {
    Ok(tag_groups(conn, keys)?.into_iter().flatten().collect())
}

/// The groups (tag and aliases, see [`aliases::group_of`]) of the tags called `keys`;
/// unknown keys are left out.
fn tag_groups(conn: &mut DbConn, keys: &[String]) -> Result<Vec<Vec<i64>>, AppError> {
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut groups = Vec::new();
    for tag in tags::by_keys(conn, &refs)? {
        groups.push(aliases::group_of(conn, tag.id)?);
    }
    Ok(groups)
}

/// The position a `before` cursor (a post id) names, `(created_at, id)`; a cursor that is not
/// a post id, or names no post, is a 400 `bad_cursor`. Pages that may skip [`load_page`]
/// (nothing to show) check their cursor here, so a bad one is never silently ignored.
pub fn cursor(conn: &mut DbConn, raw: Option<&str>) -> Result<Option<(i64, i64)>, AppError> {
    let Some(cursor) = raw else { return Ok(None) };
    let id: i64 = cursor
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad_request("bad_cursor", format!("cursor {cursor:?} is not a post id")))?;
    // Deleted posts keep their row, so a cursor stays valid when its post is deleted.
    let created_at: i64 = posts_table::table
        .find(id)
        .select(posts_table::created_at)
        .first(conn)
        .optional()?
        .ok_or_else(|| bad_request("bad_cursor", format!("cursor {cursor:?} names no post")))?;
    Ok(Some((created_at, id)))
}

/// Loads one page of the timeline described by `request`, as seen by `viewer_id`.
pub fn load_page(
    conn: &mut DbConn,
    request: &TimelineRequest,
    viewer_id: Option<i64>,
) -> Result<TimelinePage, AppError> {
    let limit = parse_limit(request.limit.as_deref())?;
    let tag_keys = request.tags.iter().map(|t| parse_tag(t)).collect::<Result<Vec<_>, _>>()?;
    let not_keys = request.not_tags.iter().map(|t| parse_tag(t)).collect::<Result<Vec<_>, _>>()?;
    let before = cursor(conn, request.before.as_deref())?;
    let empty = TimelinePage { posts: Vec::new(), next: None };
    let mut filter = TimelineFilter {
        tags_all: request.tags_all,
        before,
        oldest_first: request.oldest_first,
        top_level_only: request.top_level_only,
        limit: limit + 1,
        ..Default::default()
    };
    if !tag_keys.is_empty() {
        filter.tags = tag_groups(conn, &tag_keys)?;
        let missing_some = filter.tags.len() < tag_keys.len();
        if filter.tags.is_empty() || (request.tags_all && missing_some) {
            return Ok(empty);
        }
    }
    filter.not_tags = tag_ids(conn, &not_keys)?;
    if let Some(key) = &request.incident {
        match incidents::by_key(conn, key.trim())? {
            Some(incident) => filter.incident_id = Some(incident.id),
            None => return Ok(empty),
        }
    }
    if let Some(name) = &request.author {
        match users::by_username(conn, &name.trim().to_lowercase())? {
            Some(user) => filter.author_id = Some(user.id),
            None => return Ok(empty),
        }
    }
    let mut rows = posts::timeline(conn, &filter)?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if has_more { rows.last().map(|p| p.id) } else { None };
    Ok(TimelinePage { posts: posts::details(conn, rows, viewer_id)?, next })
}
