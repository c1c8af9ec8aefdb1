//! Login tokens: HS256 JWTs whose `jti` names a row in `sessions`, so logout and disabling
//! a user revoke a token before it expires.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims i2i puts in a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: i64,
    /// Session id (a row in `sessions`).
    pub jti: String,
    pub iat: i64,
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

    /// The claims of a well-signed, unexpired token.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        decode::<Claims>(token, &self.decoding, &validation).ok().map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: 7, jti: "s1".into(), iat: 0, exp }
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
}
