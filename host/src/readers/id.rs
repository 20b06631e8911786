//! [`ReaderId`]: the stable name of a reader in the REST API.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Identifies a reader across listings and restarts: the first 8 bytes of the SHA-256 of the
/// reader's name, as 16 lowercase hexadecimal characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReaderId(String);

/// A string that is not a reader id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reader id is 16 lowercase hexadecimal characters")]
pub struct ReaderIdError;

impl ReaderId {
    /// The id of the reader called `name`.
    pub fn from_name(name: &str) -> Self {
        let digest = Sha256::digest(name.as_bytes());
        Self(hex::encode(&digest[..8]))
    }

    /// An id made of the first 8 bytes of `digest`: PKCS#11 token slots hash their library and
    /// token (with a domain tag that keeps them apart from reader names) and are served under
    /// the same kind of id as PC/SC readers.
    ///
    /// # Panics
    /// When `digest` is shorter than 8 bytes (a SHA-256 is 32).
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        Self(hex::encode(&digest[..8]))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReaderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ReaderId {
    type Err = ReaderIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid =
            text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if valid { Ok(Self(text.to_owned())) } else { Err(ReaderIdError) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_the_first_eight_bytes_of_the_name_digest() {
        // printf 'Virtual PCD 00 00' | sha256sum
        let id = ReaderId::from_name("Virtual PCD 00 00");
        let digest = hex::encode(Sha256::digest(b"Virtual PCD 00 00"));
        assert_eq!(id.as_str(), &digest[..16]);
    }

    #[test]
    fn same_name_gives_same_id_and_different_names_differ() {
        assert_eq!(ReaderId::from_name("Reader A"), ReaderId::from_name("Reader A"));
        assert_ne!(ReaderId::from_name("Reader A"), ReaderId::from_name("Reader B"));
    }

    #[test]
    fn display_round_trips_through_from_str() {
        let id = ReaderId::from_name("ACS ACR38U 00 00");
        assert_eq!(id.to_string().parse::<ReaderId>(), Ok(id));
    }

    #[test]
    fn from_str_rejects_anything_but_sixteen_lowercase_hex() {
        for bad in
            ["", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "0123456789abcdeg"]
        {
            assert_eq!(bad.parse::<ReaderId>(), Err(ReaderIdError), "{bad:?}");
        }
        assert!("0123456789abcdef".parse::<ReaderId>().is_ok());
    }
}
