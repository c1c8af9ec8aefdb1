//! The one error type of i2i and how it reaches a client.
//!
//! Policy: user mistakes are 4xx with a stable `code` and a message that says what to fix;
//! only faults of the service itself are 500, and their detail goes to the log, not the client.
//! Every error is JSON of one shape, `{"error": {"code", "message", "field"?}}`; the page
//! middleware in `http::pages` turns the same errors into HTML for browsers.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that could not be read at all (malformed JSON, bad id or cursor).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Input that was read but breaks a rule; `field` names the offending field.
    #[error("{message}")]
    Validation { field: Option<&'static str>, message: String },
    /// A search query that does not parse; `position` is a character offset into it.
    #[error("{message} at position {position}")]
    QuerySyntax { message: String, position: usize },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request target is longer than {limit} bytes")]
    UriTooLong { limit: usize },
    /// The request body did not arrive within `body_timeout_secs`.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// Over a rate limit; the client may try again after `retry_after_secs` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// The disk under the database is full: nothing was saved, the client may retry later.
    #[error("the server's storage is full; nothing was saved, try again later")]
    StorageFull,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The JSON shape of every error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For query syntax errors: the character offset of the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

/// Shorthand for a validation error on one field.
pub fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
    AppError::Validation { field: Some(field), message: message.into() }
}

/// Shorthand for a 400 with a code.
pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
    AppError::BadRequest { code, message: message.into() }
}

/// Shorthand for a 404 naming what was missing.
pub fn not_found(what: impl Into<String>) -> AppError {
    AppError::NotFound(what.into())
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Validation { .. } => "validation_failed",
            AppError::QuerySyntax { .. } => "query_syntax",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::UriTooLong { .. } => "uri_too_long",
            AppError::RequestTimeout => "request_timeout",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::StorageFull => "storage_full",
            AppError::Internal(_) => "internal",
        }
    }

    /// The message shown to the client; internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "internal error; the details are in the server log".to_string(),
            other => other.to_string(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        let field = match self {
            AppError::Validation { field, .. } => field.map(str::to_string),
            _ => None,
        };
        let position = match self {
            AppError::QuerySyntax { position, .. } => Some(*position),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.public_message(),
                field,
                position,
            },
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } | AppError::QuerySyntax { .. } => StatusCode::BAD_REQUEST,
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::StorageFull => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(err) = self {
            tracing::error!(error = ?err, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            AppError::Unauthorized(_) => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            AppError::TooManyRequests { retry_after_secs, .. } => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            AppError::StorageFull => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, "60"));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match err {
            Error::NotFound => not_found("not found"),
            full if disk_full(&full).is_some() => {
                storage_full("database", &disk_full(&full).unwrap_or_default());
                AppError::StorageFull
            }
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                AppError::Conflict(format!("already exists ({})", info.message()))
            }
            // The database went away mid-request (a restart, a network cut): the client may
            // retry, and the pool replaces the broken connection.
            lost @ (Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )
            | Error::BrokenTransactionManager) => {
                tracing::error!(error = %lost, "lost the database connection");
                AppError::Unavailable("the database is not reachable".to_string())
            }
            other => AppError::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

/// The database's own words when `err` says its disk is full, also when it struck the
/// commit (SQLite fails the `COMMIT` when the log cannot grow) and the rollback after it.
fn disk_full(err: &diesel::result::Error) -> Option<String> {
    use diesel::result::Error;
    match err {
        Error::DatabaseError(_, info) if is_disk_full(info.message(), info.hint()) => {
            Some(info.message().to_string())
        }
        Error::RollbackErrorOnCommit { rollback_error, commit_error } => {
            disk_full(commit_error).or_else(|| disk_full(rollback_error))
        }
        _ => None,
    }
}

/// Whether a database error says its disk is full: SQLite's SQLITE_FULL ("database or disk
/// is full"), PostgreSQL's `53100 disk_full` ("could not extend file …: No space left on
/// device", hint "Check free disk space."). Diesel keeps no SQLSTATE, so the text decides.
pub fn is_disk_full(message: &str, hint: Option<&str>) -> bool {
    message.contains("database or disk is full")
        || message.contains("No space left on device")
        || hint.is_some_and(|hint| hint.contains("free disk space"))
}

/// Logs that `what` (the database, the search index) ran out of space, with its own error:
/// in full when the fault begins, then at most a reminder a minute with the count of
/// repeats ([`crate::telemetry::Repeats`]).
pub fn storage_full(what: &'static str, error: &str) {
    use crate::telemetry::{faults, Occurrence};
    match faults().occurred(what) {
        Occurrence::First => tracing::error!(
            error,
            "the {what}'s disk is full: writes are refused with 503 storage_full until space is freed"
        ),
        Occurrence::Again { suppressed, since } => {
            tracing::warn!(error, suppressed, seconds = since.as_secs(), "the {what}'s disk is still full")
        }
        Occurrence::Quiet => {}
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        tracing::error!(error = %err, "no database connection");
        AppError::Unavailable("the database is not reachable".to_string())
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("blocking task"))
    }
}

/// Maps actix's JSON extractor failures onto our codes (so they are never 500).
pub fn json_error(err: actix_web::error::JsonPayloadError) -> AppError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => AppError::PayloadTooLarge { limit },
        E::ContentType => bad_request("unsupported_media_type", "send the body as application/json"),
        E::Deserialize(inner) if inner.is_data() => {
            AppError::Validation { field: None, message: inner.to_string() }
        }
        E::Deserialize(inner) => bad_request("malformed_json", format!("malformed JSON: {inner}")),
        other => bad_request("malformed_json", other.to_string()),
    }
}

impl From<serde_json::Error> for AppError {
    fn from(err: serde_json::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("json"))
    }
}

#[cfg(test)]
mod tests {
    use super::is_disk_full;

    #[test]
    fn full_disks_are_recognised_on_both_backends() {
        assert!(is_disk_full("database or disk is full", None), "SQLITE_FULL");
        assert!(
            is_disk_full(
                "could not extend file \"base/16384/16385\": No space left on device",
                Some("Check free disk space.")
            ),
            "PostgreSQL 53100"
        );
        assert!(is_disk_full("could not write to file", Some("Check free disk space.")));
        assert!(!is_disk_full("UNIQUE constraint failed: users.username", None));
    }
}
