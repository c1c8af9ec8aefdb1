//! Time values at the edges: RFC 3339 text in, Unix milliseconds stored, RFC 3339 out.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::error::{invalid, AppError};

/// Parses an RFC 3339 timestamp (or a bare `YYYY-MM-DD`, taken as midnight UTC) into ms.
pub fn parse_timestamp(field: &'static str, raw: &str) -> Result<i64, AppError> {
    let text = raw.trim();
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Ok(parsed.timestamp_millis());
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc().timestamp_millis());
        }
    }
    Err(invalid(field, format!("{field} must be an RFC 3339 time like 2024-03-01T12:00:00Z")))
}

/// Formats stored ms as RFC 3339 UTC with a `Z`, seconds precision unless ms are present.
pub fn format_ms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(time) if ms % 1000 == 0 => time.to_rfc3339_opts(SecondsFormat::Secs, true),
        Some(time) => time.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// A short human form for pages, e.g. `2024-03-01 12:00 UTC`.
pub fn human_ms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(time) => time.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_seconds_and_millis() {
        let ms = parse_timestamp("t", "2019-05-01T12:00:00Z").unwrap();
        assert_eq!(format_ms(ms), "2019-05-01T12:00:00Z");
        let with_ms = parse_timestamp("t", "2019-05-01T12:00:00.250+02:00").unwrap();
        assert_eq!(format_ms(with_ms), "2019-05-01T10:00:00.250Z");
        assert_eq!(parse_timestamp("t", "2024-03-01").unwrap(), 1_709_251_200_000);
        assert!(parse_timestamp("t", "yesterday").is_err());
    }
}
