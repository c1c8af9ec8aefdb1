//! [`AppState`], everything a handler can reach, shared by all workers (crates.io's
//! `App`). It sits below the layers that use it; `startup` opens it.

use std::sync::Arc;

use handlebars::Handlebars;
use regex::Regex;

use crate::auth::Keys;
use crate::config::Config;
use crate::db::Db;
use crate::limits::RateLimits;
use crate::search::SearchIndex;
use crate::trends::memo::TrendMemo;

/// Everything a handler can reach, shared by all workers.
pub struct AppState {
    pub db: Db,
    pub search: Arc<SearchIndex>,
    pub config: Config,
    pub keys: Keys,
    pub templates: Handlebars<'static>,
    pub incident_pattern: Regex,
    pub limits: RateLimits,
    /// Trend answers remembered until the data changes.
    pub trends: Arc<TrendMemo>,
}

impl AppState {
    /// Tells the indexer that posts changed, so they are searchable sooner than its next poll.
    pub fn changed(&self) {
        self.search.nudge();
    }
}
