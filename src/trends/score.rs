//! Pure scoring functions behind the trend views. Each returns the numbers it used, so a
//! designer can see why a tag is on a list.

use serde::Serialize;

/// Inputs of the trending score: this window's activity and the same-length windows before.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrendScore {
    /// Activity in the window: distinct authors + distinct incidents.
    pub observed: u64,
    /// Mean activity of the baseline windows.
    pub expected: f64,
    /// Standard deviation of the baseline windows.
    pub stddev: f64,
    /// How unusual `observed` is for this tag: see [`trend_score`].
    pub score: f64,
    /// `observed` clears the floors and the score is positive.
    pub trending: bool,
}

/// Least activity (distinct authors + incidents) a tag needs to trend.
pub const MIN_ACTIVITY: u64 = 4;
/// A trending tag is at least this many times its usual activity.
pub const MIN_RATIO: f64 = 2.0;

/// Scores a window against the tag's own history.
///
/// `score = (o − μ) / √(σ² + μ + 1)`: how many "noise widths" the window is above the
/// baseline mean μ, where the noise is the tag's own variance σ² across the baseline
/// windows (busy tags swing more than a Poisson count would) plus Poisson noise μ, plus
/// one so a brand-new tag is not divided by zero. Activity counts distinct authors *and*
/// distinct incidents, so one chatty responder cannot make a trend, while a problem that
/// shows up across many incidents does even when the same two responders report it.
pub fn trend_score(observed: u64, baseline: &[u64]) -> TrendScore {
    let n = baseline.len().max(1) as f64;
    let mean = baseline.iter().sum::<u64>() as f64 / n;
    let variance = baseline.iter().map(|b| (*b as f64 - mean).powi(2)).sum::<f64>() / n;
    let o = observed as f64;
    let score = (o - mean) / (variance + mean + 1.0).sqrt();
    let trending = observed >= MIN_ACTIVITY && o >= MIN_RATIO * mean && score > 0.0;
    TrendScore { observed, expected: mean, stddev: variance.sqrt(), score, trending }
}

/// Mastodon's tag trend score, as the reference to beat: `(o − e)² / e` over distinct
/// accounts, `e` floored at 1, zero below 5 accounts or when `o ≤ e`, and decayed with a
/// 4-hour half-life from the hour of the peak.
pub fn mastodon_score(accounts: u64, expected_accounts: f64, hours_since_peak: f64) -> f64 {
    let expected = expected_accounts.max(1.0);
    let observed = accounts as f64;
    if accounts < 5 || observed <= expected {
        return 0.0;
    }
    let raw = (observed - expected).powi(2) / expected;
    raw * 0.5f64.powf(hours_since_peak.max(0.0) / 4.0)
}

/// Normalised pointwise mutual information of two tags over `n` posts: 1 when they always
/// appear together, 0 when independent, −1 when never together. `None` without data.
pub fn npmi(n: u64, a: u64, b: u64, ab: u64) -> Option<f64> {
    if n == 0 || a == 0 || b == 0 || ab == 0 {
        return None;
    }
    let (n, a, b, ab) = (n as f64, a as f64, b as f64, ab as f64);
    let p_ab = ab / n;
    if p_ab >= 1.0 {
        return Some(1.0);
    }
    let pmi = (p_ab / ((a / n) * (b / n))).ln();
    Some(pmi / -p_ab.ln())
}

/// Lift: how many times more often two tags appear together than if independent.
pub fn lift(n: u64, a: u64, b: u64, ab: u64) -> Option<f64> {
    if n == 0 || a == 0 || b == 0 {
        return None;
    }
    Some((ab as f64 * n as f64) / (a as f64 * b as f64))
}

/// JLH significance (Elasticsearch's `significant_terms` default): how over-represented a
/// term is in a foreground set against the background, `(fg% − bg%) · fg% / bg%`; zero
/// when it is not more frequent in the foreground.
pub fn jlh(fg_count: u64, fg_total: u64, bg_count: u64, bg_total: u64) -> f64 {
    if fg_total == 0 || bg_total == 0 || bg_count == 0 {
        return 0.0;
    }
    let fg = fg_count as f64 / fg_total as f64;
    let bg = bg_count as f64 / bg_total as f64;
    if fg <= bg {
        return 0.0;
    }
    (fg - bg) * (fg / bg)
}

/// Share of the first `k` of `ranked` that are in `truth`.
pub fn precision_at_k<T: PartialEq>(ranked: &[T], truth: &[T], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let hits = ranked.iter().take(k).filter(|item| truth.contains(item)).count();
    hits as f64 / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_over_a_quiet_baseline_trends() {
        let quiet = [0, 1, 0, 0, 1, 0, 0];
        let burst = trend_score(9, &quiet);
        assert!(burst.trending);
        assert!((burst.expected - 2.0 / 7.0).abs() < 1e-9);
        assert!(burst.score > 6.0, "{burst:?}");
    }

    #[test]
    fn a_busy_tag_swinging_as_usual_does_not_trend_but_a_burst_outranks_it() {
        let busy = [90, 110, 95, 120, 85, 105, 100];
        let normal_day = trend_score(125, &busy);
        assert!(!normal_day.trending, "{normal_day:?}");
        let small_burst = trend_score(6, &[0, 0, 1, 0, 0, 0, 0]);
        let big_bump = trend_score(140, &busy);
        assert!(small_burst.score > big_bump.score, "{small_burst:?} vs {big_bump:?}");
    }

    #[test]
    fn floors_keep_noise_and_chatter_out() {
        assert!(!trend_score(3, &[0; 28]).trending, "below the activity floor");
        assert!(!trend_score(8, &[5, 5, 5, 5]).trending, "less than twice the usual");
        assert!(trend_score(4, &[0; 28]).trending, "a new tag across four incidents");
        assert!(!trend_score(0, &[]).trending, "no activity, no history");
    }

    #[test]
    fn mastodon_reference_matches_its_definition() {
        assert_eq!(mastodon_score(4, 0.0, 0.0), 0.0, "fewer than 5 accounts");
        assert_eq!(mastodon_score(6, 0.2, 0.0), 25.0, "expected floored at 1");
        assert_eq!(mastodon_score(6, 0.2, 4.0), 12.5, "one half-life later");
        assert_eq!(mastodon_score(10, 12.0, 0.0), 0.0, "not above expectation");
    }

    #[test]
    fn npmi_and_lift() {
        assert_eq!(npmi(100, 10, 10, 10).map(|v| (v * 1e6).round() / 1e6), Some(1.0));
        let independent = npmi(100, 10, 10, 1).unwrap();
        assert!(independent.abs() < 1e-9, "{independent}");
        assert!(npmi(100, 50, 50, 10).unwrap() < 0.0);
        assert_eq!(npmi(100, 10, 0, 0), None);
        assert_eq!(lift(100, 10, 10, 5), Some(5.0));
    }

    #[test]
    fn jlh_rewards_terms_common_here_and_rare_elsewhere() {
        let distinctive = jlh(8, 10, 20, 10_000);
        let common = jlh(8, 10, 6_000, 10_000);
        assert!(distinctive > 100.0 * common.max(1e-9) || common == 0.0);
        assert!(distinctive > 3.0);
        assert_eq!(jlh(1, 10, 5_000, 10_000), 0.0, "rarer in the foreground");
    }

    #[test]
    fn precision() {
        assert_eq!(precision_at_k(&["a", "b", "c", "d"], &["a", "c"], 4), 0.5);
        assert_eq!(precision_at_k(&["a"], &["a"], 1), 1.0);
    }
}
