//! JSON handlers under `/api/v1`, one file per resource.

pub mod admin;
pub mod auth;
pub mod health;
pub mod incidents;
pub mod me;
pub mod posts;
pub mod search;
pub mod stream;
pub mod tags;
pub mod trends;
pub mod users;
