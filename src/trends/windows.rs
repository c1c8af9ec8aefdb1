//! Time windows of the trend views. Rollups are hourly, so a window is a whole number of
//! hours ending at the start of the hour of `at`: asking later about a past moment gives
//! exactly the answer that moment gave.

use serde::Serialize;

use super::rollups::{hour_of, HOUR_MS};
use crate::domain::time::{format_ms, parse_timestamp};
use crate::error::{invalid, AppError};

/// `[start_hour, end_hour)` in hours since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start_hour: i64,
    pub end_hour: i64,
}

impl Window {
    pub fn hours(&self) -> i64 {
        self.end_hour - self.start_hour
    }

    /// The same-length window `n` windows earlier.
    pub fn earlier(&self, n: i64) -> Window {
        let shift = self.hours() * n;
        Window { start_hour: self.start_hour - shift, end_hour: self.end_hour - shift }
    }

    pub fn from_text(&self) -> String {
        format_ms(self.start_hour * HOUR_MS)
    }

    pub fn to_text(&self) -> String {
        format_ms(self.end_hour * HOUR_MS)
    }
}

/// Parses a window length like `24h`, `7d`, `90d` (at most a century) into hours.
pub fn parse_length(raw: &str) -> Result<i64, AppError> {
    let text = raw.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let hours = match (number.parse::<i64>(), unit) {
        (Ok(n), "h") => n,
        (Ok(n), "d") => n.saturating_mul(24),
        (Ok(n), "w") => n.saturating_mul(24 * 7),
        _ => return Err(invalid("window", format!("window must look like 24h, 7d or 12w, not {raw:?}"))),
    };
    if !(1..=24 * 36525).contains(&hours) {
        return Err(invalid("window", "window must be between 1 hour and 100 years"));
    }
    Ok(hours)
}

/// The moment a view is computed for: `at` (RFC 3339 or a date) or now.
pub fn parse_at(at: Option<&str>) -> Result<i64, AppError> {
    match at {
        None | Some("") => Ok(crate::db::now_ms()),
        Some(text) => parse_timestamp("at", text),
    }
}

/// The window of `length` hours ending at the start of the hour of `at_ms`.
pub fn ending_at(at_ms: i64, length_hours: i64) -> Window {
    let end_hour = hour_of(at_ms);
    Window { start_hour: end_hour - length_hours, end_hour }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_alignment() {
        assert_eq!(parse_length("24h").unwrap(), 24);
        assert_eq!(parse_length("7d").unwrap(), 168);
        assert_eq!(parse_length("2w").unwrap(), 336);
        for bad in ["", "d", "7x", "-1d", "0h", "99999d"] {
            assert!(parse_length(bad).is_err(), "{bad:?}");
        }
        let at = parse_at(Some("2024-03-01T10:45:00Z")).unwrap();
        let window = ending_at(at, 24);
        assert_eq!(window.to_text(), "2024-03-01T10:00:00Z", "ends at the start of the hour");
        assert_eq!(window.from_text(), "2024-02-29T10:00:00Z");
        assert_eq!(window.earlier(1).to_text(), "2024-02-29T10:00:00Z");
    }
}
