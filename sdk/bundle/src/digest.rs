//! The digest a bundle's signature covers.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// The domain-separation prefix of the digest (version 1 of the format).
const DOMAIN: &[u8] = b"t1c-bundle-digest-v1\0";

/// SHA-256 over a domain-separated, length-prefixed encoding of the manifest bytes and the
/// component bytes (see `FORMAT.md`). Displays as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of a bundle with these manifest and component bytes:
    /// `SHA-256(DOMAIN || u64be(len(manifest)) || manifest || u64be(len(wasm)) || wasm)`.
    pub fn of(manifest: &[u8], wasm: &[u8]) -> Digest {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        hasher.update((manifest.len() as u64).to_be_bytes());
        hasher.update(manifest);
        hasher.update((wasm.len() as u64).to_be_bytes());
        hasher.update(wasm);
        Digest(hasher.finalize().into())
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// The text is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a digest is 64 hex digits")]
pub struct DigestParseError;

impl FromStr for Digest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| DigestParseError)?;
        Ok(Digest(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_bytes_between_manifest_and_wasm_changes_the_digest() {
        assert_ne!(Digest::of(b"ab", b"c"), Digest::of(b"a", b"bc"));
    }

    #[test]
    fn displays_and_parses_as_hex() {
        let d = Digest::of(b"m", b"w");
        assert_eq!(d.to_string().len(), 64);
        assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
    }
}
