//! One integration test binary: every test drives the real app over HTTP (or the real CLI)
//! against its own SQLite file, or its own PostgreSQL database when
//! `I2I_TEST_POSTGRES_URL` is set.

mod helpers;

mod audit;
mod auth;
mod cli;
mod degraded;
mod durability;
mod errors;
mod experience;
mod incidents;
mod limits;
mod pages;
mod posts;
mod search;
mod timeline;
mod trends;
