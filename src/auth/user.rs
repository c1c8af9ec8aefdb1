//! Who a request is: the logged-in user and the session their token names, and the check
//! that a session is still live. The HTTP extractor that builds them from a request lives in
//! `http::extract`.

use crate::db::sessions::{self, Session};
use crate::db::users::{self, User};
use crate::db::{now_ms, DbConn};
use crate::error::AppError;

/// The logged-in user of a request and the session their token names.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub session: Session,
}

impl AuthUser {
    /// Fails with 403 unless the user is an admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.user.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden("only admins may do this".into()))
        }
    }
}

/// The logged-in user if there is one; pages use it to choose between content and login.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<AuthUser>);

/// The user of session `session_id` if that session is still live (not revoked, not
/// expired) and belongs to `user_id`, an active user; `Ok(None)` otherwise. Every request
/// asks this through the extractor; a response that outlives its request (the event
/// stream) asks it again as it goes, so a revoked session stops it too.
pub fn signed_in(conn: &mut DbConn, session_id: &str, user_id: i64) -> Result<Option<AuthUser>, AppError> {
    let Some(session) = sessions::active(conn, session_id, now_ms())? else {
        return Ok(None);
    };
    if session.user_id != user_id {
        return Ok(None);
    }
    let user = users::by_id(conn, user_id)?;
    if user.is_disabled() {
        return Ok(None);
    }
    Ok(Some(AuthUser { user, session }))
}
