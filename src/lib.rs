//! i2i, "Incident to Insight": an insight feed where incident responders post short
//! hashtagged notes that designers and analysts can follow, search and trend.
//!
//! A request flows one way, down these layers; a module names only modules below it, and
//! `tests/layers.rs` fails the build's tests when two modules use each other in a circle:
//!
//! ```text
//! main, cli, startup          the binary, the command line, the server's wiring
//!   http                      api/* and pages/* (extract, authorise, map errors), the route table
//!   transfer, corpus, backup  JSON-lines import and export (bulk/, bulk/fresh), the bench corpus,
//!                             SQLite backups
//!   app                       operations both http and the command line call: posts, login,
//!                             users, incidents, vocabulary, insights, digests, search, timelines
//!   app_state                 AppState, what every handler can reach
//!   auth                      password hashing, tokens, the user a session resolves to
//!   search, trends            the tantivy index and the trend rollups and views, over db
//!   db                        storage on SQLite and PostgreSQL, the change feed, the rollup epoch
//!   domain                    pure rules: text and hashtags, roles, times and hours, exports
//!   error, config, limits, lock, memory, telemetry   leaves
//! ```
//!
//! So [`http`] extracts and authorises, [`app`] combines [`domain`] rules with [`db`] rows,
//! the [`search`] index and the [`trends`] rollups, and [`startup`] wires them into a server;
//! [`limits`] holds the per-node rate limits on logins and posts, and [`backup`] backs up and
//! restores the SQLite database under the data directory [`lock`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod app_state;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod limits;
pub mod lock;
pub mod memory;
pub mod search;
pub mod startup;
pub mod telemetry;
pub mod transfer;
pub mod trends;
