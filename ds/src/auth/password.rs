//! Operators' passwords: argon2id (the `argon2` crate's defaults, OWASP's minimum: 19 MiB,
//! two passes), stored as PHC strings.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The shortest password accepted for a local account.
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest (hashing cost grows with length).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// Too short or too long.
    #[error("a password has {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters")]
    Length,
    /// Hashing failed (no randomness).
    #[error("cannot hash the password")]
    Hash,
}

/// The argon2id PHC string of `password`, with a fresh salt.
///
/// # Errors
/// [`PasswordError`] when the password's length is out of bounds.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let length = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        return Err(PasswordError::Length);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| PasswordError::Hash)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::Hash)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|phc| phc.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Whether `password` matches `phc`. A malformed stored hash matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_LEN * 4 {
        return false;
    }
    PasswordHash::new(phc)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Spends the time of one verification, for logins naming an unknown account, so the answer
/// time does not tell which accounts exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("not a password of anyone").unwrap_or_default());
    let _ = verify(password, phc);
}

/// A random password for generated accounts: 24 characters of base64url (144 bits).
///
/// # Errors
/// [`PasswordError::Hash`] when the system has no randomness.
pub fn generate() -> Result<zeroize::Zeroizing<String>, PasswordError> {
    use base64::Engine as _;
    let mut bytes = zeroize::Zeroizing::new([0u8; 18]);
    getrandom::fill(bytes.as_mut()).map_err(|_| PasswordError::Hash)?;
    Ok(zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_salts_differ() {
        let a = hash("correct horse battery").expect("hash");
        let b = hash("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b);
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse battery!", &a));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn length_bounds() {
        assert_eq!(hash("short"), Err(PasswordError::Length));
        assert_eq!(hash(&"x".repeat(MAX_PASSWORD_LEN + 1)), Err(PasswordError::Length));
        assert_eq!(generate().expect("random").len(), 24);
    }
}
