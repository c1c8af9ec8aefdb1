//! Domain rules: pure parsing and validation of what users send (bodies, hashtags, names,
//! keys, times, roles) and the exports' text formats. Nothing here reads the database or the
//! index; the operations that combine these rules with storage live in the application layer, `app`.

pub mod export;
pub mod insights;
pub mod rules;
pub mod text;
pub mod time;
pub mod vocabulary;
