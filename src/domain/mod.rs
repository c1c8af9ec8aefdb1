//! Domain rules: parsing and validating what users send (bodies, hashtags, names, keys,
//! times) and the operations on posts, incidents and users that combine those rules with
//! storage. Pure parsing lives in `text`, `rules` and `time`; `posts`, `incidents` and
//! `users` orchestrate a change inside one write transaction.

pub mod audit;
pub mod digest;
pub mod export;
pub mod incidents;
pub mod insights;
pub mod posts;
pub mod rules;
pub mod search;
pub mod suggest;
pub mod text;
pub mod time;
pub mod timeline;
pub mod trends;
pub mod users;
pub mod vocabulary;
