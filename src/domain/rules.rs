//! Validation of user-supplied values: post bodies, usernames, roles, incident fields.
//! Each parser returns the normalised value or a validation error naming the field.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::{bad_request, invalid, AppError};

/// Longest post body, in Unicode scalar values.
pub const MAX_BODY_CHARS: usize = 500;

/// NFC-normalises and trims a post body and checks its length. NFC first, so a decomposed
/// accent typed on one keyboard and a precomposed one typed on another are the same text.
pub fn parse_body(raw: &str) -> Result<String, AppError> {
    let normalised: String = raw.nfc().collect();
    let body = normalised.trim();
    let chars = body.chars().count();
    if chars == 0 {
        return Err(invalid("body", "body is empty"));
    }
    if chars > MAX_BODY_CHARS {
        return Err(invalid("body", format!("body is longer than {MAX_BODY_CHARS} characters ({chars})")));
    }
    // Line breaks and tabs are text; other control characters (NUL above all, which
    // PostgreSQL cannot store) are not.
    if body.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(invalid(
            "body",
            "body must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(body.to_string())
}

/// Usernames: 1–64 of `a-z 0-9 _ - .`, starting with a letter or digit; stored lower-cased.
pub fn parse_username(raw: &str) -> Result<String, AppError> {
    let name = raw.trim().to_lowercase();
    let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let starts_well = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !valid_chars || !starts_well {
        return Err(invalid(
            "username",
            "username must be 1-64 characters of a-z, 0-9, '_', '-', '.', starting with a letter or digit",
        ));
    }
    Ok(name)
}

/// Display names: 1–100 characters after trimming, no control characters.
pub fn parse_display_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > 100 || name.chars().any(char::is_control) {
        return Err(invalid("display_name", "display name must be 1-100 printable characters"));
    }
    Ok(name.to_string())
}

/// Passwords: at least 8 and at most 1024 characters (argon2 copes; the cap bounds work).
pub fn check_password(raw: &str) -> Result<(), AppError> {
    let chars = raw.chars().count();
    if !(8..=1024).contains(&chars) {
        return Err(invalid("password", "password must be 8-1024 characters"));
    }
    Ok(())
}

/// Incident keys such as `INC-2041` or `githubstatus:abc123`: 1–128 of ASCII letters,
/// digits and `- _ : . /`, kept as given (keys from other systems are case-sensitive).
pub fn parse_incident_key(raw: &str) -> Result<String, AppError> {
    let key = raw.trim();
    let valid = !key.is_empty()
        && key.len() <= 128
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
    if !valid {
        return Err(invalid(
            "incident",
            "incident key must be 1-128 characters of letters, digits and - _ : .",
        ));
    }
    Ok(key.to_string())
}

/// A short free-text field (incident title, service): trimmed, 1..=max characters.
pub fn parse_short_text(field: &'static str, raw: &str, max: usize) -> Result<String, AppError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > max || text.chars().any(char::is_control) {
        return Err(invalid(field, format!("{field} must be 1-{max} printable characters")));
    }
    Ok(text.to_string())
}

/// Defines a closed set of lower-case names stored as text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = AppError;
            fn from_str(raw: &str) -> Result<Self, AppError> {
                match raw.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(invalid($field, format!(
                        "{} must be one of: {}", $field,
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// What a user may do. Designer and analyst powers arrive with the trends and search work.
    Role, "role", { Responder => "responder", Designer => "designer", Analyst => "analyst", Admin => "admin" }
);

text_enum!(
    /// Incident severity, `sev1` the worst.
    Severity, "severity", { Sev1 => "sev1", Sev2 => "sev2", Sev3 => "sev3", Sev4 => "sev4" }
);

text_enum!(
    /// Incident lifecycle.
    IncidentStatus, "status", {
        Investigating => "investigating",
        Identified => "identified",
        Monitoring => "monitoring",
        Resolved => "resolved",
        Closed => "closed",
    }
);

impl IncidentStatus {
    /// Whether the incident is over (its resolved_at is set when it gets here).
    pub fn is_finished(self) -> bool {
        matches!(self, IncidentStatus::Resolved | IncidentStatus::Closed)
    }
}

/// Parses a post id from the path: a positive integer or 400.
pub fn parse_id(raw: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| bad_request("bad_id", format!("{raw:?} is not a post id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_trimmed_and_counted_in_scalar_values() {
        assert_eq!(parse_body("  hi  ").unwrap(), "hi");
        let exactly = "é".repeat(500);
        assert_eq!(parse_body(&exactly).unwrap().chars().count(), 500);
        let too_long = "é".repeat(501);
        let err = parse_body(&too_long).unwrap_err();
        assert!(err.to_string().contains("longer than 500"), "{err}");
        assert!(parse_body("   \n ").is_err());
    }

    #[test]
    fn body_is_nfc_normalised() {
        assert_eq!(parse_body("Cafe\u{301}").unwrap(), "Caf\u{e9}");
    }

    #[test]
    fn usernames() {
        assert_eq!(parse_username(" Alice ").unwrap(), "alice");
        assert_eq!(parse_username("therac-25").unwrap(), "therac-25");
        for bad in ["", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(parse_username(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn incident_keys() {
        assert_eq!(parse_incident_key("INC-7").unwrap(), "INC-7");
        assert_eq!(parse_incident_key("githubstatus:abc123").unwrap(), "githubstatus:abc123");
        assert!(parse_incident_key("INC 7").is_err());
        assert!(parse_incident_key("<script>").is_err());
    }

    #[test]
    fn enums_parse_case_insensitively_and_list_choices() {
        assert_eq!("Admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!("sev2".parse::<Severity>().unwrap().as_str(), "sev2");
        let err = "boss".parse::<Role>().unwrap_err();
        assert!(err.to_string().contains("responder, designer, analyst, admin"), "{err}");
        assert!(IncidentStatus::Closed.is_finished());
        assert!(!IncidentStatus::Monitoring.is_finished());
    }
}
