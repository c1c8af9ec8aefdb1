//! Time values at the edges: RFC 3339 text in, Unix milliseconds stored, RFC 3339 out.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};

use crate::error::{invalid, AppError};

/// Parses an RFC 3339 timestamp (or a bare `YYYY-MM-DD`, taken as midnight UTC) into ms.
pub fn parse_timestamp(field: &'static str, raw: &str) -> Result<i64, AppError> {
    let text = raw.trim();
    let parsed = DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).ok().or_else(|| {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(date.and_hms_opt(0, 0, 0)?.and_utc())
    });
    if let Some(time) = parsed {
        // chrono reads years beyond four digits and below zero (and an offset can move a time
        // at the edge of 0000 or 9999 across it), but RFC 3339 has none: such a time could be
        // stored and then never exported in a form that imports again (found by fuzzing).
        if !(0..=9999).contains(&time.year()) {
            return Err(invalid(field, format!("{field} must fall between the years 0000 and 9999 in UTC")));
        }
        return Ok(time.timestamp_millis());
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

    #[test]
    fn times_outside_four_digit_utc_years_are_refused_and_the_edges_round_trip() {
        // With its offset, this is the last hour of year -1 in UTC: it used to be stored and
        // then exported as "-0001-12-31T23:00:00Z", which no import accepts.
        assert!(parse_timestamp("t", "0000-01-01T00:00:00+01:00").is_err());
        assert!(parse_timestamp("t", "9999-12-31T23:00:00-02:00").is_err());
        assert!(parse_timestamp("t", "-44-1-4").is_err(), "a date-only year below zero");
        for edge in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
            let ms = parse_timestamp("t", edge).unwrap();
            assert_eq!(format_ms(ms), edge);
            assert_eq!(parse_timestamp("t", &format_ms(ms)).unwrap(), ms);
        }
    }
}
