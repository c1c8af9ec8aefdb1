//! Authentication: password hashing, JWT login tokens backed by a revocable session row,
//! and the [`AuthUser`] a request resolves to. Logging in and out are operations in
//! `app::login`; the extractor every protected handler takes lives in `http::extract`.

pub mod password;
pub mod tokens;
pub mod user;

pub use tokens::Keys;
pub use user::{signed_in, AuthUser, MaybeUser};

/// Name of the cookie that carries the token for the web UI.
pub const SESSION_COOKIE: &str = "i2i_session";
