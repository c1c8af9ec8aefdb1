//! Trends: what bursts now, what recurs across incidents, what goes together and what is
//! distinctive. [`rollups`] keeps hourly counters in the post's transaction, [`score`]
//! holds the pure scoring functions, [`windows`] resolves time windows, and [`views`]
//! runs the queries behind each endpoint — on rollups only, so their cost follows the
//! window, not the number of posts.

pub mod rollups;
pub mod score;
pub mod views;
pub mod windows;
