//! What the trend API and the Trends page show when nothing is chosen: one place, so the
//! warmer ([`super::warmer`]) computes exactly the answers they will ask for.

/// Window of "trending now".
pub const TRENDING_WINDOW: &str = "24h";
/// Window of "recurring".
pub const RECURRING_WINDOW: &str = "90d";
/// Window of the tag pairs.
pub const PAIRS_WINDOW: &str = "7d";
/// List size of the API when `limit` is not given.
pub const API_LIMIT: usize = 10;
/// Least co-occurrences of a pair in the API when `min` is not given.
pub const API_MIN_TOGETHER: i64 = 3;
/// List size of trending and recurring on the Trends page.
pub const PAGE_LIMIT: usize = 15;
/// Least co-occurrences and list size of the pairs on the Trends page.
pub const PAGE_PAIRS_MIN: i64 = 2;
pub const PAGE_PAIRS_LIMIT: usize = 10;
