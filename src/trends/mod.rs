//! Trends: what bursts now, what recurs across incidents, what goes together and what is
//! distinctive. [`rollups`] keeps hourly counters, and daily and weekly ones above them, in
//! the post's transaction, [`score`] holds the pure scoring functions, [`windows`] resolves
//! time windows and cuts them into weeks, days and hours, and [`views`] runs the queries
//! behind each endpoint — on rollups only, so their cost follows the window, not the number
//! of posts. [`memo`] keeps their answers until the data changes and [`warmer`] keeps the
//! default ones computed ahead of the people who open them; [`slots`] counts distinct
//! members per baseline window, and [`sliding`] keeps those counts for every window of a
//! length across a range of hours, so a settled window costs no member rows at all.
//! [`sql`] holds the few raw-SQL helpers both need.

pub mod defaults;
pub mod memo;
pub mod rollups;
pub mod score;
pub mod sliding;
pub mod slots;
pub mod sql;
pub mod views;
pub mod warmer;
pub mod windows;
