//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// A valid hash of a random password, checked against when a username does not exist.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9lOgJz1Hl0m7m0v3rVvZ5yJ8l1dJqk8mWcQpA4Zb1aU";

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("hashing password: {err}"))
}

/// Whether `password` matches the PHC string `hash`; a malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let hashed = hash("correct horse").unwrap();
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify("correct horse", &hashed));
        assert!(!verify("wrong horse", &hashed));
        assert!(!verify("x", "not a hash"));
        assert!(!verify("anything", DUMMY_HASH));
    }

    #[test]
    fn dummy_hash_parses_so_checking_it_costs_a_real_hash() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("a well-formed PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
    }
}
