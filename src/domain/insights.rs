//! The insights board's rules: how long its texts may be, how many references one request
//! may name, and the statuses an insight moves through.

use serde::Serialize;

use crate::error::{invalid, AppError};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_PROBLEM_CHARS: usize = 5_000;
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Most tags, pinned notes and pinned incidents one request may name.
pub const MAX_REFS: usize = 100;
/// Most matching posts counted for an insight defined by a search (the index's answer).
pub const MAX_MATCHING: usize = 50_000;

/// Where an insight stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Proposed,
    Investigating,
    Accepted,
    Shipped,
    Dismissed,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Proposed, Status::Investigating, Status::Accepted, Status::Shipped, Status::Dismissed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::Investigating => "investigating",
            Status::Accepted => "accepted",
            Status::Shipped => "shipped",
            Status::Dismissed => "dismissed",
        }
    }

    pub fn parse(raw: &str) -> Result<Status, AppError> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw.trim()).ok_or_else(|| {
            invalid("status", "status must be proposed, investigating, accepted, shipped or dismissed")
        })
    }

    /// The moves the board allows: forward one step or more, back one step (a second look),
    /// dismissing anything not shipped, and reopening a dismissed insight as proposed.
    pub fn may_move_to(self, to: Status) -> bool {
        use Status::*;
        let rank = |s: Status| match s {
            Proposed => 0,
            Investigating => 1,
            Accepted => 2,
            Shipped => 3,
            Dismissed => -1,
        };
        match (self, to) {
            (from, to) if from == to => true,
            (Shipped, Dismissed) => false,
            (_, Dismissed) => true,
            (Dismissed, Proposed) => true,
            (Dismissed, _) => false,
            (from, to) => rank(to) > rank(from) || rank(to) == rank(from) - 1,
        }
    }
}

/// `raw` trimmed, at most `max` characters and without control characters (but line
/// breaks and tabs); not empty when `required`.
pub fn bounded(field: &'static str, raw: &str, max: usize, required: bool) -> Result<String, AppError> {
    let text = raw.trim();
    if required && text.is_empty() {
        return Err(invalid(field, format!("{field} must not be empty")));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(invalid(field, format!("{field} is longer than {max} characters ({chars})")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_move_forward_back_one_step_and_dismiss_with_reopen() {
        use Status::*;
        assert!(Proposed.may_move_to(Investigating));
        assert!(Proposed.may_move_to(Accepted), "a clear case may skip a step");
        assert!(Accepted.may_move_to(Investigating), "back one step");
        assert!(!Shipped.may_move_to(Proposed), "not back two steps");
        assert!(Investigating.may_move_to(Dismissed));
        assert!(!Shipped.may_move_to(Dismissed), "shipped stays shipped");
        assert!(Dismissed.may_move_to(Proposed), "reopened");
        assert!(!Dismissed.may_move_to(Accepted));
        for s in Status::ALL {
            assert!(s.may_move_to(s));
            assert_eq!(Status::parse(s.as_str()).unwrap(), s);
        }
        assert!(Status::parse("done").is_err());
    }
}
