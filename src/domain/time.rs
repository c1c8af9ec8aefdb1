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

/// The earliest time a note (or an incident) may carry: 1970-01-01T00:00:00Z. Operations
/// notes predate nothing older, and a time before it is a wrong clock or a wrong column.
pub const EARLIEST_NOTE_MS: i64 = 0;

/// How far past this server's clock a note may be dated: a day, for clock skew and time zones
/// gone wrong. A note from further ahead would sit on top of the timeline for years and be
/// every tag's `last_seen`.
pub const FUTURE_ALLOWANCE_MS: i64 = 24 * 3_600_000;

/// The one range of acceptable note and incident times, `[1970-01-01, now + 1 day]`: import
/// (plain and bulk) and every API that takes such a time refuse anything outside it, with a
/// message that names the range.
pub fn check_note_time(field: &'static str, ms: i64, now_ms: i64) -> Result<i64, AppError> {
    let latest = now_ms.saturating_add(FUTURE_ALLOWANCE_MS);
    if (EARLIEST_NOTE_MS..=latest).contains(&ms) {
        return Ok(ms);
    }
    Err(invalid(
        field,
        format!(
            "{field} must fall between {} and one day from now ({}), not {}",
            format_ms(EARLIEST_NOTE_MS),
            format_ms(latest),
            format_ms(ms)
        ),
    ))
}

/// The earliest and latest times the search index can hold: it stores dates as i64
/// nanoseconds, which end at 2262-04-11T23:47:16.854Z (and begin 1677-09-21).
pub const INDEX_TIME_MS: (i64, i64) = (i64::MIN / 1_000_000 + 1, i64::MAX / 1_000_000);

/// `ms` moved into [`INDEX_TIME_MS`]. Every note time lies inside (see [`check_note_time`]),
/// so a search bound beyond either end means the same as that end: `after:1600` matches every
/// note, `before:9999` every note, `after:2263` none. Without it the nanoseconds overflowed
/// and those three answered the opposite.
pub fn clamp_to_index(ms: i64) -> i64 {
    ms.clamp(INDEX_TIME_MS.0, INDEX_TIME_MS.1)
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

/// Milliseconds in an hour, the unit of the trend rollups.
pub const HOUR_MS: i64 = 3_600_000;

/// The hour (since the epoch, UTC) a time in ms falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS)
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
    fn note_times_are_from_1970_to_a_day_ahead() {
        let now = parse_timestamp("t", "2024-03-01T12:00:00Z").unwrap();
        for good in ["1970-01-01T00:00:00Z", "2024-03-02T12:00:00Z", "1999-12-31"] {
            assert!(check_note_time("t", parse_timestamp("t", good).unwrap(), now).is_ok(), "{good}");
        }
        for bad in ["1900-01-01", "1969-12-31T23:59:59Z", "2024-03-02T12:00:01Z", "3000-01-01"] {
            let err = check_note_time("t", parse_timestamp("t", bad).unwrap(), now).unwrap_err();
            assert!(err.to_string().contains("between 1970-01-01T00:00:00Z and one day from now"), "{err}");
        }
    }

    #[test]
    fn index_bounds_clamp_and_stay_in_nanoseconds() {
        assert_eq!(clamp_to_index(0), 0);
        assert_eq!(format_ms(clamp_to_index(i64::MAX)), "2262-04-11T23:47:16.854Z");
        assert!(clamp_to_index(i64::MIN).checked_mul(1_000_000).is_some());
        assert!(clamp_to_index(i64::MAX).checked_mul(1_000_000).is_some());
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
