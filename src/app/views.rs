//! The JSON shapes the API returns, built from database rows.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::audit::AuditEvent;
use crate::db::curation::Curation;
use crate::db::incidents::Incident;
use crate::db::posts::PostDetails;
use crate::db::tags::{Tag, TagStats};
use crate::db::users::User;
use crate::domain::time::format_ms;

/// A user as shown next to a post.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserRef {
    pub username: String,
    pub display_name: String,
}

/// A tag on a post: `name` is the normalised key, `display` the first spelling seen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TagRef {
    pub name: String,
    pub display: String,
}

impl From<&Tag> for TagRef {
    fn from(tag: &Tag) -> Self {
        TagRef { name: tag.key.clone(), display: tag.display.clone() }
    }
}

/// A post.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PostView {
    pub id: i64,
    pub author: UserRef,
    pub body: String,
    pub tags: Vec<TagRef>,
    /// Usernames of mentioned users that exist.
    pub mentions: Vec<String>,
    /// Incident key, or null.
    pub incident: Option<String>,
    pub reply_to: Option<i64>,
    pub created_at: String,
    pub edited_at: Option<String>,
    pub replies_count: i32,
    pub reactions_count: i32,
    /// Whether the requesting user has reacted.
    pub reacted: bool,
}

impl From<&PostDetails> for PostView {
    fn from(details: &PostDetails) -> Self {
        let post = &details.post;
        PostView {
            id: post.id,
            author: UserRef {
                username: details.author.username.clone(),
                display_name: details.author.display_name.clone(),
            },
            body: post.body.clone(),
            tags: details.tags.iter().map(TagRef::from).collect(),
            mentions: details.mentions.clone(),
            incident: details.incident.as_ref().map(|i| i.key.clone()),
            reply_to: post.reply_to,
            created_at: format_ms(post.created_at),
            edited_at: post.edited_at.map(format_ms),
            replies_count: post.replies_count,
            reactions_count: post.reactions_count,
            reacted: details.reacted,
        }
    }
}

/// A page of posts; pass `next` as `before` to get the following page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PostPage {
    pub items: Vec<PostView>,
    pub next: Option<String>,
}

/// A thread: its posts oldest first, the root first of all.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadView {
    pub root: i64,
    pub items: Vec<PostView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentView {
    pub key: String,
    pub title: String,
    pub severity: Option<String>,
    pub status: String,
    pub service: Option<String>,
    pub started_at: String,
    pub resolved_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Incident> for IncidentView {
    fn from(incident: &Incident) -> Self {
        IncidentView {
            key: incident.key.clone(),
            title: incident.title.clone(),
            severity: incident.severity.clone(),
            status: incident.status.clone(),
            service: incident.service.clone(),
            started_at: format_ms(incident.started_at),
            resolved_at: incident.resolved_at.map(format_ms),
            created_at: format_ms(incident.created_at),
            updated_at: format_ms(incident.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub items: Vec<IncidentView>,
}

/// A tag with its counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub name: String,
    pub display: String,
    pub posts: i64,
    /// Distinct incidents among the tag's posts.
    pub incidents: i64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// What designers and analysts wrote about the tag ("" until someone does).
    pub description: String,
    /// `service`, `symptom`, `cause`, `customer-impact`, `workaround` or a custom word.
    pub kind: Option<String>,
    /// Left out of trending, recurring and pairs (noise tags).
    pub hidden_from_trends: bool,
    /// When its curation last changed.
    pub curated_at: Option<String>,
    /// The tag this one was merged into; its counts and curation are then that tag's.
    pub alias_of: Option<String>,
    /// Tags merged into this one (their posts count here).
    pub aliases: Vec<String>,
}

impl TagView {
    pub fn new(tag: &Tag, stats: &TagStats, curation: Option<&Curation>) -> TagView {
        TagView {
            alias_of: None,
            aliases: Vec::new(),
            name: tag.key.clone(),
            display: tag.display.clone(),
            posts: stats.posts,
            incidents: stats.incidents,
            first_seen: stats.first_seen.map(format_ms),
            last_seen: stats.last_seen.map(format_ms),
            description: curation.map(|c| c.description.clone()).unwrap_or_default(),
            kind: curation.and_then(|c| c.kind.clone()),
            hidden_from_trends: curation.is_some_and(|c| c.hidden_from_trends != 0),
            curated_at: curation.map(|c| format_ms(c.updated_at)),
        }
    }
}

/// A user as admins and the user themself see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub disabled: bool,
    /// False for imported authors, who have no password.
    pub can_login: bool,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            role: user.role.clone(),
            disabled: user.is_disabled(),
            can_login: user.password_hash.is_some(),
            created_at: format_ms(user.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
}

/// A successful login.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginView {
    /// JWT to send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: String,
    pub user: UserView,
}

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    pub at: String,
    /// Username of whoever acted; null for a failed login or the command line.
    pub actor: Option<String>,
    /// e.g. `login`, `login_failed`, `role_changed`, `post_deleted`.
    pub action: String,
    /// What was acted on, e.g. `user:alice` or `post:42`.
    pub target: String,
    /// Client address, when the action came over HTTP.
    pub ip: Option<String>,
    /// Details of the action (a JSON object, e.g. `{"from": "responder", "to": "admin"}`).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<&(AuditEvent, Option<String>)> for AuditEventView {
    fn from((event, actor): &(AuditEvent, Option<String>)) -> Self {
        AuditEventView {
            id: event.id,
            at: format_ms(event.at),
            actor: actor.clone(),
            action: event.action.clone(),
            target: event.target.clone(),
            ip: event.ip.clone(),
            // Written by `app::audit::record`, so it parses; a hand-edited row still shows.
            detail: serde_json::from_str(&event.detail)
                .unwrap_or_else(|_| serde_json::Value::String(event.detail.clone())),
        }
    }
}

/// A page of the audit log, newest first; pass `next` as `before` to get the following page.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageView {
    pub items: Vec<AuditEventView>,
    pub next: Option<String>,
}
