//! The audit log: which security-relevant actions are recorded, who did them from where,
//! and reading them back a page at a time. Callers record inside the action's own write
//! transaction, so an action and its audit row commit (or roll back) together.

use serde_json::{json, Value};

use crate::db::audit::{self, AuditEvent, NewAuditEvent};
use crate::db::users::User;
use crate::db::{now_ms, DbConn};
use crate::error::{bad_request, invalid, AppError};

/// What happened. The stored text is [`Action::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    LoginFailed,
    Logout,
    UserCreated,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    PasswordChanged,
    /// Someone (an admin) deleted another user's post; authors deleting their own are not
    /// security-relevant and not recorded.
    PostDeleted,
    /// A designer, analyst or admin changed a tag's description, type or trends flag.
    TagCurated,
    /// A tag was merged into another as its alias.
    TagMerged,
    /// An alias became a tag of its own again.
    TagUnmerged,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Login,
        Action::LoginFailed,
        Action::Logout,
        Action::UserCreated,
        Action::RoleChanged,
        Action::UserDisabled,
        Action::UserEnabled,
        Action::PasswordChanged,
        Action::PostDeleted,
        Action::TagCurated,
        Action::TagMerged,
        Action::TagUnmerged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
            Action::UserCreated => "user_created",
            Action::RoleChanged => "role_changed",
            Action::UserDisabled => "user_disabled",
            Action::UserEnabled => "user_enabled",
            Action::PasswordChanged => "password_changed",
            Action::PostDeleted => "post_deleted",
            Action::TagCurated => "tag_curated",
            Action::TagMerged => "tag_merged",
            Action::TagUnmerged => "tag_unmerged",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = AppError;

    fn from_str(text: &str) -> Result<Action, AppError> {
        Action::ALL.iter().copied().find(|action| action.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            invalid("action", format!("unknown action {text:?}; known: {}", known.join(", ")))
        })
    }
}

/// Who acted and from where: a logged-in user, an anonymous client (a failed login), or
/// the command line (no user, no address).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub ip: Option<String>,
    pub via_cli: bool,
}

impl Actor {
    pub fn user(user: &User, ip: Option<String>) -> Actor {
        Actor { user_id: Some(user.id), ip, via_cli: false }
    }

    pub fn anonymous(ip: Option<String>) -> Actor {
        Actor { user_id: None, ip, via_cli: false }
    }

    pub fn cli() -> Actor {
        Actor { user_id: None, ip: None, via_cli: true }
    }
}

/// The target text of a user.
pub fn user_target(username: &str) -> String {
    format!("user:{username}")
}

/// Longest username kept from a failed login; anything longer was not a real username.
const MAX_TRIED_NAME_CHARS: usize = 64;

/// Appends one event. `detail` is a JSON object; command-line actions get `"via": "cli"`.
pub fn record(
    conn: &mut DbConn,
    actor: &Actor,
    action: Action,
    target: &str,
    mut detail: Value,
) -> Result<(), AppError> {
    debug_assert!(detail.is_object(), "audit detail is a JSON object");
    if actor.via_cli {
        detail["via"] = json!("cli");
    }
    let detail_text = detail.to_string();
    audit::insert(
        conn,
        &NewAuditEvent {
            at: now_ms(),
            actor_id: actor.user_id,
            action: action.as_str(),
            target,
            ip: actor.ip.as_deref(),
            detail: &detail_text,
        },
    )?;
    Ok(())
}

/// Records a failed login: the username as tried (normalised, cut short) and why it
/// failed. The password is never passed here, so it cannot end up in the log.
pub fn record_failed_login(
    conn: &mut DbConn,
    actor: &Actor,
    username_tried: &str,
    reason: &str,
) -> Result<(), AppError> {
    // Control characters (a NUL above all, which PostgreSQL cannot store) are shown escaped.
    let name: String = username_tried
        .trim()
        .to_lowercase()
        .chars()
        .take(MAX_TRIED_NAME_CHARS)
        .flat_map(|c| if c.is_control() { c.escape_unicode().collect::<Vec<_>>() } else { vec![c] })
        .collect();
    record(conn, actor, Action::LoginFailed, &user_target(&name), json!({"reason": reason}))
}

/// A page of the log as asked for, before parsing.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    pub action: Option<String>,
    pub before: Option<String>,
    pub limit: Option<String>,
}

/// Events newest first, each with its actor's username, and the cursor of the next page.
pub struct AuditPage {
    pub events: Vec<(AuditEvent, Option<String>)>,
    pub next: Option<i64>,
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// Loads one page: `before` is the `next` of the previous page, `limit` 1..=200.
pub fn load_page(conn: &mut DbConn, request: &AuditRequest) -> Result<AuditPage, AppError> {
    let action = request.action.as_deref().map(str::parse::<Action>).transpose()?;
    let limit = match request.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => {
            raw.trim().parse::<i64>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                invalid("limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
            })?
        }
    };
    let before =
        match request.before.as_deref() {
            None => None,
            Some(raw) => Some(raw.trim().parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                bad_request("bad_cursor", format!("{raw:?} is not a cursor from this log"))
            })?),
        };
    let mut events = audit::page(conn, action.map(Action::as_str), before, limit + 1)?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next = if has_more { events.last().map(|(event, _)| event.id) } else { None };
    Ok(AuditPage { events, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_and_unknown_ones_are_a_validation_error() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>().unwrap(), *action);
        }
        assert!(matches!("nope".parse::<Action>(), Err(AppError::Validation { field: Some("action"), .. })));
    }
}
