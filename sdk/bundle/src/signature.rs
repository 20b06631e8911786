//! `signature.toml`: the detached signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::{BundleError, Digest, KeyId, SigningKey, limits};

/// The signature file format this crate reads and writes.
const FORMAT: u32 = 1;
/// The only algorithm of format 1.
const ALGORITHM: &str = "ed25519";

/// A parsed `signature.toml`.
#[derive(Debug, Clone)]
pub(crate) struct SignatureFile {
    pub(crate) key_id: KeyId,
    pub(crate) digest: Digest,
    pub(crate) signature: ed25519_dalek::Signature,
}

/// The file as TOML.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    format: u32,
    algorithm: String,
    key_id: String,
    digest: String,
    signature: String,
}

impl SignatureFile {
    /// Signs `digest` with `key`.
    pub(crate) fn sign(digest: &Digest, key: &SigningKey) -> SignatureFile {
        SignatureFile {
            key_id: key.public_key().id(),
            digest: *digest,
            signature: key.sign_digest(digest),
        }
    }

    /// Parses and checks the file's syntax (not the signature).
    pub(crate) fn parse(bytes: &[u8]) -> Result<SignatureFile, BundleError> {
        let malformed = |reason: String| BundleError::SignatureMalformed(reason);
        if bytes.len() as u64 > limits::SIGNATURE {
            return Err(BundleError::EntryTooLarge {
                name: crate::SIGNATURE_ENTRY.to_owned(),
                limit: limits::SIGNATURE,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| malformed(format!("not UTF-8: {e}")))?;
        let raw: Raw = toml::from_str(text).map_err(|e| malformed(e.to_string()))?;
        if raw.format != FORMAT {
            return Err(malformed(format!(
                "signature format {} is not supported (this reader knows format {FORMAT})",
                raw.format
            )));
        }
        if raw.algorithm != ALGORITHM {
            return Err(malformed(format!(
                "algorithm `{}` is not supported (expected `{ALGORITHM}`)",
                raw.algorithm.escape_debug()
            )));
        }
        let key_id = raw.key_id.parse::<KeyId>().map_err(|e| malformed(format!("key-id: {e}")))?;
        let digest = raw
            .digest
            .parse::<Digest>()
            .map_err(|_| malformed("digest: not 64 lowercase hex digits".to_owned()))?;
        if raw.digest != digest.to_string() {
            return Err(malformed("digest: not 64 lowercase hex digits".to_owned()));
        }
        let signature = BASE64
            .decode(&raw.signature)
            .map_err(|e| malformed(format!("signature is not base64: {e}")))?;
        let signature = ed25519_dalek::Signature::from_slice(&signature).map_err(|_| {
            malformed(format!("an Ed25519 signature is 64 bytes, not {}", signature.len()))
        })?;
        Ok(SignatureFile { key_id, digest, signature })
    }

    /// The file's text.
    pub(crate) fn to_toml(&self) -> Result<String, BundleError> {
        let raw = Raw {
            format: FORMAT,
            algorithm: ALGORITHM.to_owned(),
            key_id: self.key_id.to_string(),
            digest: self.digest.to_string(),
            signature: BASE64.encode(self.signature.to_bytes()),
        };
        toml::to_string(&raw).map_err(|e| BundleError::SignatureMalformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let key = SigningKey::generate();
        let file = SignatureFile::sign(&Digest::of(b"m", b"w"), &key);
        let text = file.to_toml().unwrap();
        assert!(text.contains("algorithm = \"ed25519\""), "{text}");
        let back = SignatureFile::parse(text.as_bytes()).unwrap();
        assert_eq!(back.key_id, key.public_key().id());
        assert_eq!(back.signature, file.signature);
    }

    #[test]
    fn other_formats_and_algorithms_are_refused() {
        let key = SigningKey::generate();
        let text = SignatureFile::sign(&Digest::of(b"m", b"w"), &key).to_toml().unwrap();
        for (from, to) in [("format = 1", "format = 2"), ("\"ed25519\"", "\"rsa\"")] {
            let err = SignatureFile::parse(text.replace(from, to).as_bytes()).unwrap_err();
            assert!(matches!(err, BundleError::SignatureMalformed(_)), "{err}");
        }
    }
}
