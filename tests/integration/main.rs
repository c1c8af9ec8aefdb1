//! One integration test binary: every test drives the real app over HTTP (or the real CLI)
//! against its own SQLite file, or its own PostgreSQL database when
//! `I2I_TEST_POSTGRES_URL` is set.

mod helpers;

mod audit;
mod auth;
mod backup;
mod cli;
mod credentials;
mod csrf;
mod degraded;
mod durability;
mod errors;
mod experience;
mod exports;
mod hostile;
mod incidents;
mod inputs;
mod insights;
mod limits;
mod logs;
mod nodes;
mod openapi;
mod outage;
mod pages;
mod posts;
mod ranges;
mod redirects;
mod roles;
mod search;
mod slow_clients;
mod storage;
mod timeline;
mod trends;
mod unwritable;
mod vocabulary;
mod web;
mod xss;
