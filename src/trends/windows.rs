//! Time windows of the trend views. Rollups are hourly, so a window is a whole number of
//! hours ending at the start of the hour of `at`: asking later about a past moment gives
//! exactly the answer that moment gave. [`Window::pieces`] cuts a window into the weeks,
//! days and hours whose rollup rows add up to it.

use serde::Serialize;

use super::rollups::{hour_of, Period, HOUR_MS};
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

/// A window cut into the coarsest rollup periods that fit: whole weeks in the middle, whole
/// days around them and the hours left at either end. Each is a list of `[start, end)`
/// ranges numbered as [`Period::of`] numbers them; empty ranges are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces {
    pub weeks: Vec<(i64, i64)>,
    pub days: Vec<(i64, i64)>,
    pub hours: Vec<(i64, i64)>,
}

impl Window {
    pub fn pieces(&self) -> Pieces {
        let mut out = Pieces::default();
        let (start, end) = (self.start_hour, self.end_hour);
        if start >= end {
            return out;
        }
        let day = Period::Day.hours();
        let (first_day, end_day) = (ceil_div(start, day), end.div_euclid(day));
        if first_day >= end_day {
            out.hours.push((start, end));
            return out;
        }
        push_range(&mut out.hours, start, first_day * day);
        push_range(&mut out.hours, end_day * day, end);
        let days_per_week = Period::Week.hours() / day;
        let (first_week, end_week) = (ceil_div(first_day, days_per_week), end_day.div_euclid(days_per_week));
        if first_week >= end_week {
            out.days.push((first_day, end_day));
            return out;
        }
        push_range(&mut out.days, first_day, first_week * days_per_week);
        push_range(&mut out.days, end_week * days_per_week, end_day);
        out.weeks.push((first_week, end_week));
        out
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -(-a).div_euclid(b)
}

fn push_range(ranges: &mut Vec<(i64, i64)>, start: i64, end: i64) {
    if start < end {
        ranges.push((start, end));
    }
}

/// Parses a window length like `24h`, `7d`, `90d` (at most a century) into hours.
pub fn parse_length(raw: &str) -> Result<i64, AppError> {
    let text = raw.trim();
    // Split before the last character, not the last byte: it may be multi-byte (`7é`).
    let unit_at = text.char_indices().last().map_or(0, |(at, _)| at);
    let (number, unit) = text.split_at(unit_at);
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
        for bad in ["", "d", "7x", "-1d", "0h", "99999d", "7é", "€", "\u{fffd}\u{fffd}"] {
            assert!(parse_length(bad).is_err(), "{bad:?}");
        }
        let at = parse_at(Some("2024-03-01T10:45:00Z")).unwrap();
        let window = ending_at(at, 24);
        assert_eq!(window.to_text(), "2024-03-01T10:00:00Z", "ends at the start of the hour");
        assert_eq!(window.from_text(), "2024-02-29T10:00:00Z");
        assert_eq!(window.earlier(1).to_text(), "2024-02-29T10:00:00Z");
    }

    /// Every hour of the window in exactly one piece, and no hour outside it.
    #[test]
    fn pieces_cover_the_window_exactly() {
        let hours_of = |p: &Pieces| {
            let mut hours = Vec::new();
            for (period, ranges) in [(Period::Week, &p.weeks), (Period::Day, &p.days)] {
                for (a, b) in ranges {
                    hours.extend(a * period.hours()..b * period.hours());
                }
            }
            for (a, b) in &p.hours {
                hours.extend(*a..*b);
            }
            hours.sort_unstable();
            hours
        };
        for start in -400..-200 {
            for length in [0, 1, 5, 23, 24, 25, 47, 48, 167, 168, 169, 200, 400, 700] {
                let w = Window { start_hour: start * 7 + 3, end_hour: start * 7 + 3 + length };
                let p = w.pieces();
                assert_eq!(hours_of(&p), (w.start_hour..w.end_hour).collect::<Vec<_>>(), "{w:?}");
                assert!(p.hours.len() <= 2 && p.days.len() <= 2 && p.weeks.len() <= 1);
                // Hours only at the ends of whole days, or for a window without one.
                let whole = !p.days.is_empty() || !p.weeks.is_empty();
                assert!(p.hours.iter().all(|(a, b)| b - a < if whole { 24 } else { 48 }), "{p:?}");
                assert!(p.days.iter().all(|(a, b)| b - a < 7 || p.weeks.is_empty()), "{p:?}");
            }
        }
        let aligned = Window { start_hour: 7 * 24 * 100, end_hour: 7 * 24 * 103 + 24 };
        assert_eq!(
            aligned.pieces(),
            Pieces { weeks: vec![(100, 103)], days: vec![(721, 722)], hours: vec![] }
        );
        let all = Window { start_hour: i64::MIN / 4, end_hour: i64::MAX / 4 };
        assert_eq!(all.pieces().weeks.len(), 1);
    }
}
