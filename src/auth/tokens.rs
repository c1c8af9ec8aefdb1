//! Login tokens: HS256 JWTs whose `jti` names a row in `sessions`, so logout and disabling
//! a user revoke a token before it expires.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::db::{now_ms, settings, Db};

/// Name of the shared setting that holds a generated signing secret.
const SECRET_SETTING: &str = "jwt_secret";

/// The signing secret: the configured `jwt_secret` if set; otherwise the one kept in the
/// database, which the first node to start generated (or adopted from the
/// `<data_dir>/jwt-secret` file earlier versions wrote, so their tokens stay valid). Every
/// node on one database thus signs and verifies with the same secret without configuring it.
pub fn signing_secret(config: &Config, db: &Db) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = config.configured_jwt_secret()? {
        return Ok(secret);
    }
    let proposed = match config.legacy_jwt_secret()? {
        Some(existing) => existing,
        None => hex::encode(rand::random::<[u8; 32]>()),
    };
    let secret = db.write_blocking(move |conn| {
        Ok(settings::get_or_insert(conn, SECRET_SETTING, &proposed, now_ms())?)
    })?;
    Ok(secret.into_bytes())
}

/// How far (seconds) a token's `iat` or `nbf` may lie ahead of this node's clock: the clocks
/// of the nodes sharing one database differ a little, and no more than that is forgiven.
pub const CLOCK_LEEWAY_SECS: i64 = 60;

/// The claims i2i puts in a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: i64,
    /// Session id (a row in `sessions`).
    pub jti: String,
    /// Issued at, seconds since the epoch; a token issued in the future is refused.
    pub iat: i64,
    /// Not before, seconds since the epoch; i2i does not set it, but one that is set is honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// Signing and verifying keys derived from the configured secret.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(encode(&Header::new(Algorithm::HS256), claims, &self.encoding)?)
    }

    /// The claims of a well-signed, unexpired token that is already valid (`iat` and `nbf`
    /// not in the future beyond [`CLOCK_LEEWAY_SECS`]).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`Keys::verify`] as of `now` (seconds since the epoch). The library checks the
    /// signature and `exp` (against the real clock, without leeway); `iat` and `nbf` are
    /// checked here, because the library ignores `iat` and would apply one leeway to both
    /// `exp` and `nbf`, and an expired token gets none.
    fn verify_at(&self, token: &str, now: i64) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_nbf = false;
        let claims = decode::<Claims>(token, &self.decoding, &validation).ok()?.claims;
        let latest = now.saturating_add(CLOCK_LEEWAY_SECS);
        if claims.iat > latest || claims.nbf.is_some_and(|nbf| nbf > latest) {
            return None;
        }
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(dir: &std::path::Path) -> (Config, Db) {
        let config = Config { data_dir: dir.to_path_buf(), ..Config::default() };
        let db = Db::connect_for_tool(&config.database_url()).unwrap();
        (config, db)
    }

    #[test]
    fn a_generated_secret_lives_in_the_database_and_is_shared() {
        let dir = tempfile::tempdir().unwrap();
        let (config, db) = scratch(dir.path());
        let first = signing_secret(&config, &db).unwrap();
        assert_eq!(first.len(), 64, "32 random bytes in hex");
        // Another node on the same database, with its own (empty) data directory.
        let other_dir = tempfile::tempdir().unwrap();
        let other = Config { data_dir: other_dir.path().to_path_buf(), ..Config::default() };
        assert_eq!(signing_secret(&other, &db).unwrap(), first);
        assert!(!dir.path().join("jwt-secret").exists(), "nothing secret is written beside the data");
    }

    #[test]
    fn a_configured_secret_wins_and_a_short_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut config, db) = scratch(dir.path());
        config.jwt_secret = Some("configured-secret-long-enough".into());
        assert_eq!(signing_secret(&config, &db).unwrap(), b"configured-secret-long-enough");
        config.jwt_secret = Some("short".into());
        assert!(signing_secret(&config, &db).is_err());
    }

    #[test]
    fn an_earlier_versions_secret_file_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = "a".repeat(64);
        std::fs::write(dir.path().join("jwt-secret"), format!("{legacy}\n")).unwrap();
        let (config, db) = scratch(dir.path());
        assert_eq!(signing_secret(&config, &db).unwrap(), legacy.as_bytes());
        std::fs::remove_file(dir.path().join("jwt-secret")).unwrap();
        assert_eq!(signing_secret(&config, &db).unwrap(), legacy.as_bytes(), "kept in the database");
    }

    fn claims(exp: i64) -> Claims {
        Claims { sub: 7, jti: "s1".into(), iat: 0, nbf: None, exp }
    }

    #[test]
    fn signed_token_round_trips_and_other_keys_fail() {
        let keys = Keys::new(b"secret-one");
        let far = chrono::Utc::now().timestamp() + 3600;
        let token = keys.sign(&claims(far)).unwrap();
        assert_eq!(keys.verify(&token).unwrap().sub, 7);
        assert!(Keys::new(b"secret-two").verify(&token).is_none());
        assert!(keys.verify("garbage").is_none());
    }

    #[test]
    fn expired_token_is_rejected() {
        let keys = Keys::new(b"k");
        let token = keys.sign(&claims(chrono::Utc::now().timestamp() - 5)).unwrap();
        assert!(keys.verify(&token).is_none());
    }

    #[test]
    fn a_token_issued_or_valid_only_in_the_future_is_rejected() {
        let keys = Keys::new(b"k");
        let now = chrono::Utc::now().timestamp();
        let far = now + 7200;
        let issued_ahead = Claims { iat: now + 3600, ..claims(far) };
        assert!(keys.verify(&keys.sign(&issued_ahead).unwrap()).is_none(), "iat an hour ahead");
        let not_yet = Claims { iat: now, nbf: Some(now + 3600), ..claims(far) };
        assert!(keys.verify(&keys.sign(&not_yet).unwrap()).is_none(), "nbf an hour ahead");
        // A little skew between nodes is forgiven, and a past nbf is fine.
        let skewed = Claims { iat: now + 10, nbf: Some(now + 10), ..claims(far) };
        assert!(keys.verify(&keys.sign(&skewed).unwrap()).is_some(), "10 s of skew");
        let started = Claims { iat: now - 10, nbf: Some(now - 10), ..claims(far) };
        assert!(keys.verify(&keys.sign(&started).unwrap()).is_some());
        // The edge of the leeway, on a fixed clock.
        let edge = Claims { iat: 1_000 + CLOCK_LEEWAY_SECS, ..claims(far) };
        let token = keys.sign(&edge).unwrap();
        assert!(keys.verify_at(&token, 1_000).is_some());
        assert!(keys.verify_at(&token, 999).is_none());
    }
}
