//! The insights board: someone names a pattern (a title and a problem statement), defines
//! it by tags and an optional saved search, pins the notes and incidents that prove it,
//! discusses it, and moves it through `proposed → investigating → accepted → shipped` (or
//! `dismissed`, with a reason). Its live counts and daily history are read from the posts
//! that match its definition, so they grow as responders keep writing.
//!
//! Roles: responders may propose an insight from their own notes and comment; designers,
//! analysts and admins edit insights, move their status and pin any evidence.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use serde::Serialize;

use crate::app::vocabulary::may_curate;
use crate::db::insights::{self, Evidence, Insight, InsightChanges, NewInsight};
use crate::db::users::User;
use crate::db::{aliases, incidents, now_ms, tags, DbConn};
use crate::domain::insights::{
    bounded, Status, MAX_COMMENT_CHARS, MAX_PROBLEM_CHARS, MAX_REFS, MAX_TITLE_CHARS,
};
use crate::domain::text::tag_key;
use crate::error::{invalid, not_found, AppError};
use crate::trends::sql;

/// What a new insight starts with.
#[derive(Debug, Default, Clone)]
pub struct Draft {
    pub title: String,
    pub problem: String,
    pub tags: Vec<String>,
    pub query: String,
    pub posts: Vec<i64>,
    pub incidents: Vec<String>,
}

/// A change to an insight; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct Patch {
    pub title: Option<String>,
    pub problem: Option<String>,
    pub status: Option<String>,
    pub dismissed_reason: Option<String>,
    /// `Some(None)` clears the owner.
    pub owner: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    pub query: Option<String>,
}

/// Checks a saved search: it must parse (the same rules as the search box).
fn parse_query(raw: &str) -> Result<String, AppError> {
    let text = bounded("query", raw, 1_000, false)?;
    crate::search::query::parse(&text)
        .map_err(|err| AppError::QuerySyntax { message: err.message, position: err.position })?;
    Ok(text)
}

/// The tags called `names`, each as its canonical tag; unknown names are a 422.
fn tag_ids(conn: &mut DbConn, names: &[String]) -> Result<Vec<i64>, AppError> {
    if names.len() > MAX_REFS {
        return Err(invalid("tags", format!("at most {MAX_REFS} tags")));
    }
    let mut ids = BTreeSet::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let key = tag_key(name.trim_start_matches('#'))
            .ok_or_else(|| invalid("tags", format!("{name:?} is not a tag")))?;
        let tag = tags::by_key(conn, &key)?
            .ok_or_else(|| invalid("tags", format!("no posts are tagged #{key}")))?;
        ids.insert(aliases::canonical_tag(conn, tag)?.id);
    }
    Ok(ids.into_iter().collect())
}

fn require(conn: &mut DbConn, id: i64) -> Result<Insight, AppError> {
    insights::by_id(conn, id)?.ok_or_else(|| not_found(format!("no insight {id}")))
}

/// Creates an insight as `user`, with its first evidence; returns its id. Responders may
/// only propose one from their own notes.
pub fn create(conn: &mut DbConn, user: &User, draft: &Draft) -> Result<i64, AppError> {
    let title = bounded("title", &draft.title, MAX_TITLE_CHARS, true)?;
    let problem = bounded("problem", &draft.problem, MAX_PROBLEM_CHARS, false)?;
    let query = parse_query(&draft.query)?;
    let tag_ids = tag_ids(conn, &draft.tags)?;
    check_definition(conn, &query, &tag_ids)?;
    if draft.posts.len() > MAX_REFS || draft.incidents.len() > MAX_REFS {
        return Err(invalid("posts", format!("at most {MAX_REFS} notes and {MAX_REFS} incidents")));
    }
    let now = now_ms();
    let row = insights::insert(
        conn,
        &NewInsight {
            title: &title,
            problem: &problem,
            status: Status::Proposed.as_str(),
            owner_id: Some(user.id),
            query: &query,
            created_by: user.id,
            created_at: now,
            updated_at: now,
        },
    )?;
    insights::set_tags(conn, row.id, &tag_ids)?;
    for post_id in &draft.posts {
        pin_post(conn, user, &row, *post_id)?;
    }
    for key in &draft.incidents {
        pin_incident(conn, user, &row, key)?;
    }
    Ok(row.id)
}

/// Applies `patch` as `user` (designers, analysts and admins).
pub fn update(conn: &mut DbConn, user: &User, id: i64, patch: &Patch) -> Result<(), AppError> {
    if !may_curate(user) {
        return Err(AppError::Forbidden("only designers, analysts and admins change insights".into()));
    }
    let insight = require(conn, id)?;
    let mut changes = InsightChanges { updated_at: Some(now_ms()), ..Default::default() };
    if let Some(title) = &patch.title {
        changes.title = Some(bounded("title", title, MAX_TITLE_CHARS, true)?);
    }
    if let Some(problem) = &patch.problem {
        changes.problem = Some(bounded("problem", problem, MAX_PROBLEM_CHARS, false)?);
    }
    if let Some(query) = &patch.query {
        changes.query = Some(parse_query(query)?);
    }
    if let Some(raw) = &patch.status {
        let from = Status::parse(&insight.status)?;
        let to = Status::parse(raw)?;
        if !from.may_move_to(to) {
            return Err(invalid(
                "status",
                format!("an insight cannot move from {} to {}", from.as_str(), to.as_str()),
            ));
        }
        if to == Status::Dismissed {
            let reason =
                bounded("dismissed_reason", patch.dismissed_reason.as_deref().unwrap_or(""), 1_000, false)?;
            if reason.is_empty() {
                return Err(invalid("dismissed_reason", "say why the insight is dismissed"));
            }
            changes.dismissed_reason = Some(Some(reason));
        } else {
            changes.dismissed_reason = Some(None);
        }
        changes.status = Some(to.as_str().to_string());
    }
    if let Some(owner) = &patch.owner {
        changes.owner_id = Some(match owner.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
            None => None,
            Some(name) => {
                let name = name.trim_start_matches('@').to_lowercase();
                let owner = crate::db::users::by_username(conn, &name)?
                    .ok_or_else(|| invalid("owner", format!("no user {name:?}")))?;
                Some(owner.id)
            }
        });
    }
    let new_tags = match &patch.tags {
        Some(names) => Some(tag_ids(conn, names)?),
        None => None,
    };
    if changes.query.is_some() || new_tags.is_some() {
        let current: Vec<i64> = insights::tags_of(conn, id)?.into_iter().map(|t| t.id).collect();
        let query = changes.query.clone().unwrap_or_else(|| insight.query.clone());
        check_definition(conn, &query, new_tags.as_deref().unwrap_or(&current))?;
    }
    if let Some(ids) = &new_tags {
        insights::set_tags(conn, id, ids)?;
    }
    insights::update(conn, id, &changes)?;
    Ok(())
}

/// Pins a note as evidence and tells its author (when someone else pinned it). Responders
/// may pin only their own notes, to insights they created.
pub fn pin_post(conn: &mut DbConn, user: &User, insight: &Insight, post_id: i64) -> Result<(), AppError> {
    let post = crate::db::posts::live(conn, post_id)?
        .ok_or_else(|| invalid("posts", format!("no note {post_id}")))?;
    if !may_curate(user) && (post.author_id != user.id || insight.created_by != user.id) {
        return Err(AppError::Forbidden("responders pin only their own notes, to their own insights".into()));
    }
    let now = now_ms();
    let row = Evidence {
        insight_id: insight.id,
        kind: "post".into(),
        ref_id: post.id,
        pinned_by: user.id,
        pinned_at: now,
    };
    if insights::pin(conn, &row)? && post.author_id != user.id {
        insights::notify(conn, post.author_id, "evidence", insight.id, post.id, user.id, now)?;
    }
    Ok(())
}

/// Pins an incident as evidence (curators, or the responder who created the insight).
pub fn pin_incident(conn: &mut DbConn, user: &User, insight: &Insight, key: &str) -> Result<(), AppError> {
    if !may_curate(user) && insight.created_by != user.id {
        return Err(AppError::Forbidden("only designers, analysts and admins pin evidence here".into()));
    }
    let incident = incidents::by_key(conn, key.trim())?
        .ok_or_else(|| invalid("incidents", format!("no incident {key:?}")))?;
    let row = Evidence {
        insight_id: insight.id,
        kind: "incident".into(),
        ref_id: incident.id,
        pinned_by: user.id,
        pinned_at: now_ms(),
    };
    insights::pin(conn, &row)?;
    Ok(())
}

/// Pins a note (`post`) or an incident (`incident`) to insight `id`.
pub fn pin(
    conn: &mut DbConn,
    user: &User,
    id: i64,
    post: Option<i64>,
    incident: Option<&str>,
) -> Result<(), AppError> {
    let insight = require(conn, id)?;
    match (post, incident) {
        (Some(post_id), None) => pin_post(conn, user, &insight, post_id)?,
        (None, Some(key)) => pin_incident(conn, user, &insight, key)?,
        _ => return Err(invalid("post", "name either a post or an incident")),
    }
    insights::update(conn, id, &InsightChanges { updated_at: Some(now_ms()), ..Default::default() })?;
    Ok(())
}

/// Unpins evidence (curators only); 404 when it was not pinned.
pub fn unpin(conn: &mut DbConn, user: &User, id: i64, kind: &str, reference: &str) -> Result<(), AppError> {
    if !may_curate(user) {
        return Err(AppError::Forbidden("only designers, analysts and admins unpin evidence".into()));
    }
    require(conn, id)?;
    let ref_id = match kind {
        "posts" => reference.parse::<i64>().map_err(|_| not_found(format!("no note {reference:?}")))?,
        "incidents" => incidents::by_key(conn, reference)?
            .map(|i| i.id)
            .ok_or_else(|| not_found(format!("no incident {reference:?}")))?,
        _ => return Err(not_found(format!("no evidence kind {kind:?}"))),
    };
    let kind = if kind == "posts" { "post" } else { "incident" };
    if !insights::unpin(conn, id, kind, ref_id)? {
        return Err(not_found("that is not pinned to this insight"));
    }
    Ok(())
}

/// Adds a comment by `user` (anyone signed in).
pub fn comment(conn: &mut DbConn, user: &User, id: i64, body: &str) -> Result<(), AppError> {
    require(conn, id)?;
    let text = bounded("body", body, MAX_COMMENT_CHARS, true)?;
    let now = now_ms();
    insights::add_comment(conn, id, user.id, &text, now)?;
    insights::update(conn, id, &InsightChanges { updated_at: Some(now), ..Default::default() })?;
    Ok(())
}

/// Matching posts per day (UTC): posts, distinct incidents, distinct responders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayCount {
    pub day: String,
    pub posts: i64,
    pub incidents: i64,
    pub responders: i64,
}

/// The live numbers behind an insight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Counts {
    pub posts: i64,
    pub incidents: i64,
    pub responders: i64,
    /// False when a search matched more than [`MAX_MATCHING`](crate::domain::insights::MAX_MATCHING) posts and only those were counted.
    pub exact: bool,
    pub history: Vec<DayCount>,
    /// The newest matching posts (at most [`LATEST`]), newest first.
    pub latest: Vec<i64>,
}

/// How many of the newest matching posts an insight offers to pin.
pub const LATEST: usize = 10;

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    posts: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    incidents: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    responders: i64,
}

#[derive(QueryableByName)]
struct Newest {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// What an insight's definition matches.
pub enum Matching<'a> {
    /// Posts with any of these tags (each tag's whole alias group is added here).
    Tags(&'a [i64]),
    /// These posts (a saved search's matches, at most [`MAX_MATCHING`](crate::domain::insights::MAX_MATCHING)).
    Posts(&'a [i64]),
}

/// The UTC day (since the epoch, floored) of `p.created_at`, on both backends.
const DAY_OF: &str = "((p.created_at - ((p.created_at % 86400000) + 86400000) % 86400000) / 86400000)";

/// Counts, per-day history and newest posts of what `matching` matches, aggregated in SQL
/// (one pass each over the tag group's index range or the listed posts; a post with two
/// tags of the insight counts once). Only integers are written into the statements.
pub fn counts(conn: &mut DbConn, matching: Matching, exact: bool) -> QueryResult<Counts> {
    let from = match matching {
        Matching::Tags(tag_ids) => {
            let mut ids = BTreeSet::new();
            for id in tag_ids {
                ids.extend(aliases::group_of(conn, *id)?);
            }
            if ids.is_empty() {
                return Ok(Counts { exact, ..Default::default() });
            }
            let ids: Vec<i64> = ids.into_iter().collect();
            format!(
                "FROM post_tags pt JOIN posts p ON p.id = pt.post_id \
                 WHERE pt.tag_id IN ({}) AND p.deleted_at IS NULL",
                sql::list(&ids)
            )
        }
        Matching::Posts([]) => return Ok(Counts { exact, ..Default::default() }),
        Matching::Posts(ids) => {
            format!("FROM posts p WHERE p.id IN ({}) AND p.deleted_at IS NULL", sql::list(ids))
        }
    };
    let distinct = "COUNT(DISTINCT p.id) AS posts, COUNT(DISTINCT p.incident_id) AS incidents, \
                    COUNT(DISTINCT p.author_id) AS responders";
    let totals: Vec<Totals> = sql::load(conn, &format!("SELECT {distinct} {from}"))?;
    let days: Vec<(i64, i64, i64, i64)> = {
        #[derive(QueryableByName)]
        struct Day {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            day: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            posts: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            incidents: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            responders: i64,
        }
        let rows: Vec<Day> = sql::load(
            conn,
            &format!("SELECT {DAY_OF} AS day, {distinct} {from} GROUP BY {DAY_OF} ORDER BY day"),
        )?;
        rows.into_iter().map(|d| (d.day, d.posts, d.incidents, d.responders)).collect()
    };
    let newest: Vec<Newest> = sql::load(
        conn,
        &format!(
            "SELECT DISTINCT p.id AS id, p.created_at AS at {from} ORDER BY at DESC, id DESC LIMIT {LATEST}"
        ),
    )?;
    let total = totals.first();
    Ok(Counts {
        posts: total.map_or(0, |t| t.posts),
        incidents: total.map_or(0, |t| t.incidents),
        responders: total.map_or(0, |t| t.responders),
        exact,
        history: days
            .into_iter()
            .map(|(day, posts, incidents, responders)| DayCount {
                day: crate::domain::time::format_ms(day * 86_400_000).chars().take(10).collect(),
                posts,
                incidents,
                responders,
            })
            .collect(),
        latest: newest.into_iter().map(|n| n.id).collect(),
    })
}

/// The search an insight with a saved query runs: its query, and `(#a OR #b)` for its tags.
pub fn search_text(insight: &Insight, tag_keys: &[String]) -> Option<String> {
    definition_search(&insight.query, tag_keys)
}

fn definition_search(query: &str, tag_keys: &[String]) -> Option<String> {
    if query.trim().is_empty() {
        return None;
    }
    let mut parts = vec![format!("({query})")];
    if !tag_keys.is_empty() {
        let tags: Vec<String> = tag_keys.iter().map(|k| format!("#{k}")).collect();
        parts.push(format!("({})", tags.join(" OR ")));
    }
    Some(parts.join(" "))
}

/// Checks that a saved search together with the tags is still one valid search (the
/// parser bounds terms and nesting): otherwise the insight could be stored but never read.
fn check_definition(conn: &mut DbConn, query: &str, tag_ids: &[i64]) -> Result<(), AppError> {
    let keys: Vec<String> = tags_by_ids(conn, tag_ids)?;
    if let Some(text) = definition_search(query, &keys) {
        crate::search::query::parse(&text).map_err(|err| {
            invalid(
                "query",
                format!("the saved search together with the tags is not a valid search: {}", err.message),
            )
        })?;
    }
    Ok(())
}

fn tags_by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<String>> {
    use crate::db::schema::tags;
    tags::table.filter(tags::id.eq_any(ids)).order(tags::key.asc()).select(tags::key).load(conn)
}

/// The authors of notes: user id to username (for views and exports).
pub fn usernames(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, String>> {
    use crate::db::schema::users;
    let rows: Vec<(i64, String)> =
        users::table.filter(users::id.eq_any(ids)).select((users::id, users::username)).load(conn)?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_trimmed_bounded_and_required_where_needed() {
        assert_eq!(bounded("title", "  Reset links expire  ", 200, true).unwrap(), "Reset links expire");
        assert!(bounded("title", "   ", 200, true).is_err());
        assert!(bounded("title", &"é".repeat(201), 200, true).is_err());
        assert!(bounded("problem", "bell\u{7}", 200, false).is_err());
        assert_eq!(bounded("problem", "", 200, false).unwrap(), "");
        assert!(parse_query("#sso AND (").is_err());
        assert_eq!(parse_query(" #sso login ").unwrap(), "#sso login");
    }

    #[test]
    fn a_saved_search_is_narrowed_to_the_tags() {
        let keys = vec!["password-reset".to_string(), "sso".to_string()];
        assert_eq!(definition_search("expired", &keys).unwrap(), "(expired) (#password-reset OR #sso)");
        assert_eq!(definition_search("expired", &[]).unwrap(), "(expired)");
        assert_eq!(definition_search("  ", &keys), None);
    }
}
