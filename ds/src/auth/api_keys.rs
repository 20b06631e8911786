//! API keys: 256 random bits, shown once as `t1c_<base64url>`, stored as their SHA-256 (a key
//! has full entropy, so a fast hash is enough: there is nothing to brute-force), looked up by
//! that hash and compared again in constant time.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Every key starts with this, so leaked keys are easy to find in code and logs.
pub const PREFIX: &str = "t1c_";
/// Length of a key's text: the prefix and 43 base64url characters.
pub const KEY_LEN: usize = PREFIX.len() + 43;
/// Characters of a key kept as its hint.
const HINT_LEN: usize = PREFIX.len() + 4;

/// A new key: its text (shown to the operator once) and what is stored.
pub struct NewKey {
    /// The key; never stored or logged.
    pub text: Zeroizing<String>,
    /// SHA-256 of the text.
    pub hash: [u8; 32],
    /// The first characters, to tell keys apart in lists.
    pub hint: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").field("hint", &self.hint).finish_non_exhaustive()
    }
}

/// Generates a key.
///
/// # Errors
/// When the system has no randomness.
pub fn generate() -> Result<NewKey, getrandom::Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())?;
    let mut text = Zeroizing::new(String::with_capacity(KEY_LEN));
    text.push_str(PREFIX);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut text);
    let hint = text[..HINT_LEN].to_owned();
    Ok(NewKey { hash: hash(&text), hint, text })
}

/// SHA-256 of a key's text.
pub fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The hash of a presented key, or `None` when it cannot be a key (wrong length or
/// characters); such input never reaches the database.
pub fn presented(text: &str) -> Option<[u8; 32]> {
    let body = text.strip_prefix(PREFIX)?;
    let plausible = text.len() == KEY_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible.then(|| hash(text))
}

/// Constant-time equality of two hashes.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_well_formed_and_recognised() {
        let a = generate().expect("key");
        let b = generate().expect("key");
        assert_ne!(*a.text, *b.text);
        assert_eq!(a.text.len(), KEY_LEN);
        assert!(a.text.starts_with(&a.hint));
        assert_eq!(presented(&a.text), Some(a.hash));
        assert!(same(&a.hash, &hash(&a.text)));
        assert!(!same(&a.hash, &b.hash));
        assert!(!format!("{a:?}").contains(&a.text[HINT_LEN..]), "Debug must not show the key");
    }

    #[test]
    fn implausible_keys_are_refused_before_hashing() {
        for text in ["", "t1c_", "abc", "t1c_' OR 1=1 --", &format!("t1c_{}", "A".repeat(44))] {
            assert_eq!(presented(text), None, "{text}");
        }
    }
}
