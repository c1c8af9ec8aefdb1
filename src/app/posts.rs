//! Post operations: create, edit, delete and react. Each runs inside the caller's write
//! transaction and keeps tags, mentions, reply counts and the change feed in step with
//! the post itself.

use regex::Regex;

use crate::app::audit::{self, Action, Actor};
use crate::app::incidents;
use crate::db::changes::{self, ChangeKind};
use crate::db::posts::{self, NewPost, Post, PostDetails};
use crate::db::tags::Tag;
use crate::db::users::User;
use crate::db::{now_ms, tags, users, DbConn};
use crate::domain::rules::IncidentStatus;
use crate::domain::{rules, text};
use crate::error::{invalid, not_found, AppError};
use crate::trends::rollups::{self, hour_of, Contribution};

/// What a client sends to create a post.
#[derive(Debug, Clone, Default)]
pub struct PostInput {
    pub body: String,
    pub incident: Option<String>,
    pub reply_to: Option<i64>,
    /// Original time for imports; `None` means now.
    pub created_at: Option<i64>,
    /// Natural key of an imported line, so importing it again is a no-op.
    pub import_key: Option<String>,
}

/// The parts of a body that become links.
struct Analysis {
    tags: Vec<(String, String)>,
    mentions: Vec<String>,
    incident_ref: Option<String>,
}

fn analyse(body: &str, incident_pattern: &Regex) -> Analysis {
    let tags = text::distinct_hashtags(body).into_iter().map(|tag| (tag.key, tag.display)).collect();
    let mut mentions: Vec<String> = text::mentions(body).into_iter().map(|m| m.username).collect();
    mentions.dedup();
    let incident_ref =
        text::incident_refs(body, incident_pattern).first().map(|span| body[span.clone()].to_string());
    Analysis { tags, mentions, incident_ref }
}

/// What [`link_post`] linked: the tags and the usernames mentioned.
struct Links {
    tags: Vec<Tag>,
    mentions: Vec<String>,
}

impl Links {
    fn tag_ids(&self) -> Vec<i64> {
        self.tags.iter().map(|tag| tag.id).collect()
    }
}

/// Tags and mentions of `post` rewritten from `analysis`.
fn link_post(conn: &mut DbConn, post: &Post, analysis: &Analysis, now: i64) -> Result<Links, AppError> {
    let tag_rows = tags::ensure(conn, &analysis.tags, now)?;
    let tag_ids: Vec<i64> = tag_rows.iter().map(|tag| tag.id).collect();
    tags::detach_all(conn, post.id)?;
    tags::attach(conn, post.id, post.created_at, &tag_ids)?;
    let mentioned = users::by_usernames(conn, &analysis.mentions)?;
    let mentioned_ids: Vec<i64> = mentioned.iter().map(|u| u.id).collect();
    posts::set_mentions(conn, post.id, &mentioned_ids)?;
    // Views list a post's tags by key, as `tags::of_posts` reads them.
    let mut tags_by_key = tag_rows;
    tags_by_key.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Links { tags: tags_by_key, mentions: mentioned.into_iter().map(|u| u.username).collect() })
}

/// What a live post with `tag_ids` counts for in the trend rollups.
fn contribution(post: &Post, tag_ids: Vec<i64>) -> Contribution {
    Contribution {
        hour: hour_of(post.created_at),
        author_id: post.author_id,
        incident_id: post.incident_id,
        tag_ids,
    }
}

/// The tag ids a post is linked to now.
fn linked_tags(conn: &mut DbConn, post_id: i64) -> Result<Vec<i64>, AppError> {
    Ok(tags::of_posts(conn, &[post_id])?.into_iter().map(|(_, tag)| tag.id).collect())
}

/// Creates a post for `author` and returns it with everything a view shows (so nobody
/// has to read it back). Returns `None` when `import_key` was imported before.
pub fn create_post(
    conn: &mut DbConn,
    incident_pattern: &Regex,
    author: &User,
    input: &PostInput,
) -> Result<Option<PostDetails>, AppError> {
    if let Some(key) = &input.import_key {
        if posts::import_key_exists(conn, key)? {
            return Ok(None);
        }
    }
    let body = rules::parse_body(&input.body)?;
    let now = now_ms();
    let created_at = match input.created_at {
        Some(at) => crate::domain::time::check_note_time("created_at", at, now)?,
        None => now,
    };
    let analysis = analyse(&body, incident_pattern);
    let parent = match input.reply_to {
        Some(parent_id) => Some(
            posts::live(conn, parent_id)?
                .ok_or_else(|| invalid("reply_to", format!("post {parent_id} does not exist")))?,
        ),
        None => None,
    };
    // Incidents first named by imported history are over; a new one named live is open.
    let new_status = match input.import_key {
        Some(_) => IncidentStatus::Resolved,
        None => IncidentStatus::Investigating,
    };
    // An explicit incident wins, then the thread's incident, then a key written in the text.
    let thread_incident = parent.as_ref().and_then(|p| p.incident_id);
    let incident = match (&input.incident, thread_incident, &analysis.incident_ref) {
        (Some(key), _, _) => Some(incidents::get_or_create(conn, key, created_at, new_status)?),
        (None, Some(id), _) => crate::db::incidents::by_ids(conn, &[id])?.into_iter().next(),
        (None, None, Some(key)) => Some(incidents::get_or_create(conn, key, created_at, new_status)?),
        (None, None, None) => None,
    };
    let incident_id = incident.as_ref().map(|i| i.id);
    let post = posts::insert(
        conn,
        &NewPost {
            author_id: author.id,
            body: &body,
            incident_id,
            reply_to: parent.as_ref().map(|p| p.id),
            created_at,
            import_key: input.import_key.as_deref(),
        },
    )?;
    let links = link_post(conn, &post, &analysis, now)?;
    rollups::add(conn, &contribution(&post, links.tag_ids()))?;
    if let Some(parent) = &parent {
        posts::add_replies(conn, parent.id, 1)?;
    }
    changes::record(conn, post.id, ChangeKind::Upsert, now)?;
    Ok(Some(PostDetails {
        post,
        author: author.clone(),
        tags: links.tags,
        mentions: links.mentions,
        incident,
        reacted: false,
    }))
}

/// A post that exists and is not deleted, or 404.
pub fn require_live(conn: &mut DbConn, post_id: i64) -> Result<Post, AppError> {
    posts::live(conn, post_id)?.ok_or_else(|| not_found(format!("post {post_id} not found")))
}

/// Loads a live post that `actor` may change (its author or an admin).
fn editable(conn: &mut DbConn, actor: &User, post_id: i64) -> Result<Post, AppError> {
    let post = require_live(conn, post_id)?;
    if post.author_id != actor.id && !actor.is_admin() {
        return Err(AppError::Forbidden("only the author or an admin may change this post".into()));
    }
    Ok(post)
}

/// Replaces a post's body, keeping the previous text as a version.
pub fn edit_post(
    conn: &mut DbConn,
    incident_pattern: &Regex,
    actor: &User,
    post_id: i64,
    new_body: &str,
) -> Result<Post, AppError> {
    let post = editable(conn, actor, post_id)?;
    let body = rules::parse_body(new_body)?;
    if body == post.body {
        return Ok(post);
    }
    let now = now_ms();
    // The trend rollups count the post as it was; take that out before it changes.
    let old_tags = linked_tags(conn, post.id)?;
    rollups::remove(conn, &contribution(&post, old_tags))?;
    posts::replace_body(conn, &post, &body, now)?;
    let analysis = analyse(&body, incident_pattern);
    if post.incident_id.is_none() {
        if let Some(key) = &analysis.incident_ref {
            let incident =
                incidents::get_or_create(conn, key, post.created_at, IncidentStatus::Investigating)?;
            crate::db::posts::set_incident(conn, post.id, incident.id)?;
        }
    }
    let links = link_post(conn, &post, &analysis, now)?;
    let edited = require_live(conn, post.id)?;
    rollups::add(conn, &contribution(&edited, links.tag_ids()))?;
    changes::record(conn, post.id, ChangeKind::Upsert, now)?;
    Ok(edited)
}

/// Soft-deletes a post: the row stays as a tombstone the change feed carries. Deleting
/// someone else's post (only admins may) goes to the audit log, recorded as done `by`.
pub fn delete_post(conn: &mut DbConn, actor: &User, by: &Actor, post_id: i64) -> Result<(), AppError> {
    let post = editable(conn, actor, post_id)?;
    if post.author_id != actor.id {
        let author = users::by_id(conn, post.author_id)?;
        let detail = serde_json::json!({"author": author.username});
        audit::record(conn, by, Action::PostDeleted, &format!("post:{}", post.id), detail)?;
    }
    let now = now_ms();
    let old_tags = linked_tags(conn, post.id)?;
    rollups::remove(conn, &contribution(&post, old_tags))?;
    posts::mark_deleted(conn, post.id, now)?;
    tags::detach_all(conn, post.id)?;
    posts::set_mentions(conn, post.id, &[])?;
    if let Some(parent_id) = post.reply_to {
        posts::add_replies(conn, parent_id, -1)?;
    }
    changes::record(conn, post.id, ChangeKind::Delete, now)?;
    Ok(())
}

/// Adds (`on = true`) or removes the viewer's "+1 / seen this too". Idempotent.
pub fn set_reaction(conn: &mut DbConn, viewer: &User, post_id: i64, on: bool) -> Result<Post, AppError> {
    let post = require_live(conn, post_id)?;
    if on {
        posts::add_reaction(conn, post.id, viewer.id, now_ms())?;
    } else {
        posts::remove_reaction(conn, post.id, viewer.id)?;
    }
    require_live(conn, post.id)
}
