//! Ed25519 keys: the signer's secret key, public keys in their one-line text form, key ids and
//! the trust store.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{Signer as _, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::{BundleError, Digest};

/// The prefix of a public key's text form.
const PUBLIC_KEY_PREFIX: &str = "t1c-ed25519:";
/// What an Ed25519 signature over a bundle signs: this context, then the 32-byte digest.
const SIGNATURE_CONTEXT: &[u8] = b"t1c-bundle-signature-v1\0";

/// A key's id: the first 8 bytes of SHA-256 of the 32-byte Ed25519 public key. Displays (and
/// parses) as 16 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The 8 bytes.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = BundleError;

    /// Parses 16 lowercase hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 8];
        if s.len() != 16 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(BundleError::KeyMalformed(format!(
                "key id `{}` is not 16 lowercase hex digits",
                s.escape_debug()
            )));
        }
        hex::decode_to_slice(s, &mut bytes).map_err(|_| {
            BundleError::KeyMalformed(format!(
                "key id `{}` is not 16 lowercase hex digits",
                s.escape_debug()
            ))
        })?;
        Ok(KeyId(bytes))
    }
}

/// An Ed25519 public key. Its text form is one line: `t1c-ed25519:<base64 of the 32 bytes>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key's id.
    pub fn id(&self) -> KeyId {
        let hash = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&hash[..8]);
        KeyId(id)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Verifies a bundle signature (strict Ed25519: no malleable or small-order signatures).
    pub(crate) fn verify_digest(
        &self,
        digest: &Digest,
        signature: &ed25519_dalek::Signature,
    ) -> Result<(), BundleError> {
        self.0
            .verify_strict(&signed_message(digest), signature)
            .map_err(|_| BundleError::SignatureMismatch { key_id: self.id() })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX}{}", BASE64.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self}, id {})", self.id())
    }
}

impl FromStr for PublicKey {
    type Err = BundleError;

    /// Parses the one-line text form (surrounding whitespace ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let encoded = s.strip_prefix(PUBLIC_KEY_PREFIX).ok_or_else(|| {
            BundleError::KeyMalformed(format!(
                "a public key starts with `{PUBLIC_KEY_PREFIX}` followed by base64"
            ))
        })?;
        let bytes = BASE64
            .decode(encoded)
            .map_err(|e| BundleError::KeyMalformed(format!("public key is not base64: {e}")))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            BundleError::KeyMalformed(format!("an Ed25519 public key is 32 bytes, not {}", b.len()))
        })?;
        PublicKey::from_bytes(&bytes)
    }
}

impl PublicKey {
    /// A key from its 32 bytes (as the Distribution Service stores publisher keys).
    ///
    /// # Errors
    /// [`BundleError::KeyMalformed`] for a point off the curve or a weak (small-order) key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, BundleError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| {
            BundleError::KeyMalformed("not a valid Ed25519 public key (not a curve point)".into())
        })?;
        if key.is_weak() {
            return Err(BundleError::KeyMalformed("a weak (small-order) Ed25519 key".into()));
        }
        Ok(PublicKey(key))
    }
}

/// An Ed25519 secret key for signing bundles. Zeroised on drop; never printed.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Parses a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) Ed25519 key.
    ///
    /// # Errors
    /// [`BundleError::KeyMalformed`] when it is not one.
    pub fn from_pem(pem: &str) -> Result<SigningKey, BundleError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey)
            .map_err(|e| BundleError::KeyMalformed(format!("not a PKCS#8 PEM Ed25519 key: {e}")))
    }

    /// The key as PKCS#8 PEM.
    ///
    /// # Errors
    /// [`BundleError::KeyMalformed`] if encoding fails (it does not for valid keys).
    pub fn to_pem(&self) -> Result<Zeroizing<String>, BundleError> {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| BundleError::KeyMalformed(format!("cannot encode the key: {e}")))
    }

    /// Reads a PKCS#8 PEM key file.
    ///
    /// # Errors
    /// [`BundleError::Io`] or [`BundleError::KeyMalformed`].
    pub fn read_pem_file(path: &Path) -> Result<SigningKey, BundleError> {
        let pem = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|source| BundleError::Io { path: path.to_owned(), source })?,
        );
        SigningKey::from_pem(&pem)
    }

    /// Writes the key as PKCS#8 PEM to a new file, readable by its owner only (0600 on Unix).
    /// Never overwrites an existing file.
    ///
    /// # Errors
    /// [`BundleError::Io`], including when the file exists.
    pub fn write_pem_file(&self, path: &Path) -> Result<(), BundleError> {
        let pem = self.to_pem()?;
        let io = |source| BundleError::Io { path: path.to_owned(), source };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(pem.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Signs a bundle digest.
    pub(crate) fn sign_digest(&self, digest: &Digest) -> ed25519_dalek::Signature {
        self.0.sign(&signed_message(digest))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(id {}, secret ***)", self.public_key().id())
    }
}

/// The public keys whose signatures a verifier accepts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: BTreeMap<KeyId, PublicKey>,
}

impl TrustStore {
    /// An empty store: trusts nothing.
    pub fn new() -> TrustStore {
        TrustStore::default()
    }

    /// Parses a list of one-line public keys; blank lines and lines starting with `#` are
    /// skipped.
    ///
    /// # Errors
    /// [`BundleError::KeyMalformed`] naming the first bad line.
    pub fn from_lines(text: &str) -> Result<TrustStore, BundleError> {
        let mut store = TrustStore::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line
                .parse::<PublicKey>()
                .map_err(|e| BundleError::KeyMalformed(format!("line {}: {e}", number + 1)))?;
            store.add(key);
        }
        Ok(store)
    }

    /// Trusts `key`.
    pub fn add(&mut self, key: PublicKey) {
        self.keys.insert(key.id(), key);
    }

    /// Whether a key with this id is trusted.
    pub fn contains(&self, id: &KeyId) -> bool {
        self.keys.contains_key(id)
    }

    /// The trusted key with this id.
    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.keys.get(id)
    }

    /// Every trusted key, ordered by id.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl FromIterator<PublicKey> for TrustStore {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(iter: I) -> Self {
        let mut store = TrustStore::new();
        iter.into_iter().for_each(|key| store.add(key));
        store
    }
}

fn signed_message(digest: &Digest) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_CONTEXT.len() + 32);
    message.extend_from_slice(SIGNATURE_CONTEXT);
    message.extend_from_slice(digest.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_round_trip_through_text() {
        let key = SigningKey::generate().public_key();
        let text = key.to_string();
        assert!(text.starts_with("t1c-ed25519:"));
        assert_eq!(text.parse::<PublicKey>().unwrap(), key);
    }

    #[test]
    fn key_id_is_sha256_prefix_of_the_public_key() {
        let key = SigningKey::generate().public_key();
        let expected = hex::encode(&Sha256::digest(key.as_bytes())[..8]);
        assert_eq!(key.id().to_string(), expected);
        assert_eq!(expected.parse::<KeyId>().unwrap(), key.id());
    }

    #[test]
    fn secret_keys_round_trip_through_pem_and_never_print() {
        let key = SigningKey::generate();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(format!("{key:?}").contains("***"));
        assert!(!format!("{key:?}").contains(pem.lines().nth(1).unwrap()));
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_owner_only_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let key = SigningKey::generate();
        key.write_pem_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(key.write_pem_file(&path), Err(BundleError::Io { .. })));
        assert_eq!(SigningKey::read_pem_file(&path).unwrap().public_key(), key.public_key());
    }

    #[test]
    fn trust_lists_skip_comments_and_name_bad_lines() {
        let key = SigningKey::generate().public_key();
        let store = TrustStore::from_lines(&format!("# dev key\n\n{key}\n")).unwrap();
        assert!(store.contains(&key.id()));
        let err = TrustStore::from_lines(&format!("{key}\nnonsense\n")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        for bad in ["", "t1c-ed25519:", "t1c-ed25519:AAAA", "ssh-ed25519 AAAA", "t1c-ed25519:!!"] {
            assert!(bad.parse::<PublicKey>().is_err(), "{bad}");
        }
    }
}
