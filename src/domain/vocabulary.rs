//! The curated vocabulary's rules: a tag's description and its type.

use crate::error::{invalid, AppError};

/// Longest tag description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// The types offered; any other lower-case word of `a-z 0-9 -` (up to 32) is a custom type.
pub const KINDS: [&str; 5] = ["service", "symptom", "cause", "customer-impact", "workaround"];

/// Trims a description and checks its length and characters.
pub fn parse_description(raw: &str) -> Result<String, AppError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            "description",
            format!("description is longer than {MAX_DESCRIPTION_CHARS} characters ({chars})"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("description", "description must not contain control characters"));
    }
    Ok(text.to_string())
}

/// A type: one of [`KINDS`] or a custom lower-case word (`a-z 0-9 -`, 1–32 characters).
pub fn parse_kind(raw: &str) -> Result<String, AppError> {
    let kind = raw.trim().to_lowercase();
    let valid = !kind.is_empty()
        && kind.len() <= 32
        && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(invalid(
            "kind",
            format!("kind must be one of {} or a word of a-z, 0-9 and '-' (at most 32)", KINDS.join(", ")),
        ));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_offered_ones_or_a_custom_word() {
        for kind in KINDS {
            assert_eq!(parse_kind(kind).unwrap(), kind);
        }
        assert_eq!(parse_kind(" Vendor-API ").unwrap(), "vendor-api");
        for bad in ["", "two words", "émoji", &"x".repeat(33), "semi;colon"] {
            assert!(parse_kind(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(parse_description("  resets of SSO passwords \n").unwrap(), "resets of SSO passwords");
        assert!(parse_description(&"é".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert!(parse_description(&"é".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
        assert!(parse_description("bell\u{7}").is_err());
    }
}
