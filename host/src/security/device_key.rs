//! The device key: one RSA-2048 key per installation, in a file only the user can read.
//!
//! Web pages fetch its public half from `GET /device-key` and encrypt PINs to it (t1c-sdk-js
//! uses JSEncrypt: RSA PKCS#1 v1.5); the connector decrypts them here, straight into zeroised
//! memory, and signs response data with it (RSA-SHA256) so a page can tell the data came from
//! this connector. Signing goes through `ring` (constant time, and about four times faster than
//! the `rsa` crate, which matters: every signed answer pays for one).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Size of the device key.
const BITS: usize = 2048;
/// Longest PIN accepted after decryption.
const MAX_PIN_LEN: usize = 64;

/// Why the device key cannot be loaded or a PIN cannot be decrypted. Never contains the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceKeyError {
    /// The key file cannot be read or written.
    #[error("device key file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold a PKCS#8 RSA key.
    #[error("device key file {0} is not a PKCS#8 RSA private key")]
    Corrupt(std::path::PathBuf),
    /// Key generation or encoding failed.
    #[error("cannot create the device key: {0}")]
    Create(String),
    /// The encrypted PIN is not base64, not encrypted to this key, or not a plausible PIN.
    #[error("the encrypted PIN cannot be decrypted with this connector's device key")]
    PinDecryption,
}

/// Signatures kept for data signed before: t1c-sdk-js polls `/v3/readers`, whose answer rarely
/// changes, and an RSA-2048 signature costs about a millisecond.
const SIGNATURE_CACHE: usize = 256;

/// The installation's RSA key.
pub struct DeviceKey {
    private: RsaPrivateKey,
    signer: ring::signature::RsaKeyPair,
    rng: ring::rand::SystemRandom,
    public_pem: String,
    signatures: std::sync::Mutex<std::collections::HashMap<[u8; 32], String>>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey").field("public_pem", &self.public_pem).finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// Loads the key from `path`, creating it (mode 0600) on first use.
    ///
    /// # Errors
    /// [`DeviceKeyError`] when the file cannot be read, parsed or written.
    pub fn load_or_create(path: &Path) -> Result<Self, DeviceKeyError> {
        let io = |source| DeviceKeyError::Io { path: path.to_owned(), source };
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                let private = RsaPrivateKey::from_pkcs8_pem(&pem)
                    .map_err(|_| DeviceKeyError::Corrupt(path.to_owned()))?;
                Self::from_private(private)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, BITS)
                    .map_err(|e| DeviceKeyError::Create(e.to_string()))?;
                let pem = private
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| DeviceKeyError::Create(e.to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                super::tls::write_private(path, &pem).map_err(|e| match e {
                    super::tls::TlsError::Io { source, .. } => io(source),
                    other => DeviceKeyError::Create(other.to_string()),
                })?;
                Self::from_private(private)
            }
            Err(err) => Err(io(err)),
        }
    }

    fn from_private(private: RsaPrivateKey) -> Result<Self, DeviceKeyError> {
        let public_pem = RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| DeviceKeyError::Create(e.to_string()))?;
        let der = private.to_pkcs8_der().map_err(|e| DeviceKeyError::Create(e.to_string()))?;
        let signer = ring::signature::RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(|e| {
            DeviceKeyError::Create(format!("the key is not usable for signing: {e}"))
        })?;
        Ok(Self {
            private,
            signer,
            rng: ring::rand::SystemRandom::new(),
            public_pem,
            signatures: Default::default(),
        })
    }

    /// The public key, PEM (SPKI), as `GET /device-key` serves it.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Decrypts a PIN sent as t1c-sdk-js sends it: base64 of RSA PKCS#1 v1.5 ciphertext.
    ///
    /// # Errors
    /// [`DeviceKeyError::PinDecryption`] when the text is not base64, does not decrypt, or is
    /// not 1 to 64 printable ASCII characters. The error never contains the PIN or the input.
    pub fn decrypt_pin(&self, encrypted: &str) -> Result<Zeroizing<String>, DeviceKeyError> {
        let ciphertext = Zeroizing::new(
            STANDARD.decode(encrypted.trim()).map_err(|_| DeviceKeyError::PinDecryption)?,
        );
        let plain = Zeroizing::new(
            self.private
                .decrypt(Pkcs1v15Encrypt, &ciphertext)
                .map_err(|_| DeviceKeyError::PinDecryption)?,
        );
        if plain.is_empty()
            || plain.len() > MAX_PIN_LEN
            || !plain.iter().all(|b| b.is_ascii_graphic())
        {
            return Err(DeviceKeyError::PinDecryption);
        }
        let mut pin = Zeroizing::new(String::with_capacity(plain.len()));
        pin.extend(plain.iter().map(|b| char::from(*b)));
        Ok(pin)
    }

    /// Signs `data` (the compact JSON of a response's `data`) with RSA-SHA256, base64.
    /// PKCS#1 v1.5 signatures are deterministic, so a signature made before for the same bytes
    /// is reused.
    pub fn sign(&self, data: &[u8]) -> String {
        use sha2::Digest;
        let digest: [u8; 32] = Sha256::digest(data).into();
        let cache = self.signatures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(signature) = cache.get(&digest) {
            return signature.clone();
        }
        drop(cache);
        let mut signature = vec![0; self.signer.public().modulus_len()];
        if self
            .signer
            .sign(&ring::signature::RSA_PKCS1_SHA256, &self.rng, data, &mut signature)
            .is_err()
        {
            // ring fails only when the system random source does (it blinds with it).
            tracing::error!("the device key could not sign a response: no system randomness");
            return String::new();
        }
        let signature = STANDARD.encode(signature);
        let mut cache = self.signatures.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= SIGNATURE_CACHE {
            cache.clear();
        }
        cache.insert(digest, signature.clone());
        signature
    }

    /// Verifies a signature made by [`DeviceKey::sign`] (for tests and diagnostics).
    pub fn verify(&self, data: &[u8], signature_b64: &str) -> bool {
        use sha2::Digest;
        let Ok(signature) = STANDARD.decode(signature_b64) else { return false };
        RsaPublicKey::from(&self.private)
            .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data), &signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use rsa::pkcs8::DecodePublicKey;

    use super::*;

    fn key() -> (tempfile::TempDir, DeviceKey) {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = DeviceKey::load_or_create(&dir.path().join("device-key.pem")).expect("key");
        (dir, key)
    }

    fn encrypt(key: &DeviceKey, pin: &[u8]) -> String {
        let public = RsaPublicKey::from_public_key_pem(key.public_pem()).expect("pem");
        STANDARD.encode(
            public.encrypt(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, pin).expect("encrypt"),
        )
    }

    #[test]
    fn key_is_created_private_and_reloaded() {
        let (dir, key) = key();
        let path = dir.path().join("device-key.pem");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o077, 0);
        }
        let again = DeviceKey::load_or_create(&path).expect("reload");
        assert_eq!(again.public_pem(), key.public_pem());
    }

    #[test]
    fn pin_encrypted_like_jsencrypt_decrypts() {
        let (_dir, key) = key();
        let pin = key.decrypt_pin(&encrypt(&key, b"1234")).expect("decrypts");
        assert_eq!(pin.as_str(), "1234");
    }

    #[test]
    fn garbage_and_foreign_ciphertexts_are_rejected_without_echo() {
        let (_dir, key) = key();
        let (_other_dir, other) = self::key();
        for input in
            ["", "not base64!", "AAAA", &encrypt(&other, b"1234"), &encrypt(&key, b"12\x0034")]
        {
            let err = key.decrypt_pin(input).expect_err("rejected");
            assert!(matches!(err, DeviceKeyError::PinDecryption));
            assert!(!err.to_string().contains("1234"));
        }
    }

    #[test]
    fn signatures_verify_over_the_exact_bytes() {
        let (_dir, key) = key();
        let signature = key.sign(br#"{"a":1}"#);
        assert!(key.verify(br#"{"a":1}"#, &signature));
        assert!(!key.verify(br#"{"a":2}"#, &signature));
    }

    #[test]
    fn corrupt_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("device-key.pem");
        std::fs::write(&path, "garbage").expect("write");
        assert!(matches!(DeviceKey::load_or_create(&path), Err(DeviceKeyError::Corrupt(_))));
    }
}
