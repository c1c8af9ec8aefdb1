//! i2i, "Incident to Insight": an insight feed where incident responders post short
//! hashtagged notes that designers and analysts can follow, search and trend.
//!
//! A request flows one way: [`http`] (extract, authorise, map errors) → [`domain`] (rules,
//! parsing, operations) → [`db`] and [`search`], the tantivy index the database feeds. [`startup`] wires them into a server; [`cli`] is the
//! command line; [`transfer`] imports and exports JSON lines; [`limits`] holds the per-node
//! rate limits on logins and posts; [`backup`] backs up and restores the SQLite database,
//! under the data directory [`lock`].

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
