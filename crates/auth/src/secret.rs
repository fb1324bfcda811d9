//! Passwords (argon2id) and random secrets (tokens, generated passwords).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest as _;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    fill(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).unwrap_or_else(|_| SaltString::from_b64("c2FsdHNhbHQ").expect("static salt"));
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
}

/// Checks a password against a PHC hash (the comparison is constant-time).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash to compare a password against when the account does not exist, so that the answer takes
/// as long as for a real account.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password, only for timing"))
}

pub fn fill(buf: &mut [u8]) {
    // The system generator only fails when the OS has no randomness at all.
    if SystemRandom::new().fill(buf).is_err() {
        panic!("the operating system's random generator failed");
    }
}

/// `n` random bytes, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    fill(&mut b);
    hex::encode(b)
}

/// A new personal access token or robot token: `berth_<64 hex>`.
pub fn new_token() -> String {
    format!("berth_{}", random_hex(32))
}

/// A generated password (for the first admin account).
pub fn new_password() -> String {
    random_hex(12)
}

/// How tokens are stored: their SHA-256 (they are 256-bit random, so a fast hash is enough).
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Whether a string has the shape of a berth token (used to tell a token from a password).
pub fn looks_like_token(s: &str) -> bool {
    s.strip_prefix("berth_").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(hash_password("same"), hash_password("same"), "salted");
        assert!(!verify_password("x", dummy_hash()));
    }

    #[test]
    fn tokens() {
        let t = new_token();
        assert!(looks_like_token(&t), "{t}");
        assert!(!looks_like_token("berth_xyz"));
        assert_ne!(new_token(), t);
        assert_eq!(token_hash(&t).len(), 64);
        assert_eq!(new_password().len(), 24);
    }
}
