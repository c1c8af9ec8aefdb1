//! Application operations: what a request (page or API) or the command line asks for, each
//! combining the domain rules with storage, the search index and the trend rollups — create,
//! edit and delete a post (rules, rows, rollups and change feed in one transaction), log in
//! and out, users, incidents, vocabulary and merges, insights, digests, search, timelines
//! and trends. The HTTP layer calls these and never its own siblings.

use std::net::IpAddr;

pub mod audit;
pub mod digest;
pub mod incidents;
pub mod insight_views;
pub mod insights;
pub mod login;
pub mod posts;
pub mod search;
pub mod suggest;
pub mod timeline;
pub mod trends;
pub mod users;
pub mod views;
pub mod vocabulary;

/// The client's address, for rate limits and the audit log (`http::client` extracts it from a
/// request); `None` only when the connection has none (test requests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address as the audit log stores it.
    pub fn text(&self) -> Option<String> {
        self.0.map(|address| address.to_string())
    }
}
