//! The device key: one RSA-2048 key per installation, in a file only the user can read.
//!
//! Web pages fetch its public half from `GET /device-key` and encrypt PINs to it (t1c-sdk-js
//! uses JSEncrypt: RSA PKCS#1 v1.5); the connector decrypts them here, straight into zeroised
//! memory, with no timing or error difference between a bad ciphertext and a good one until the
//! decision (`device_key/pin.rs` says what that guarantees and what it does not). It also signs
//! response data with the key (RSA-SHA256) so a page can tell the data came from this
//! connector. Signing goes through `ring` (constant time, and about four times faster than the
//! `rsa` crate, which matters: every signed answer pays for one). The key file is PKCS#8 PEM,
//! written by the `rsa` crate when the key is created.

mod pin;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use zeroize::Zeroizing;

use self::pin::PinDecryptor;

/// Size of the device key.
const BITS: usize = 2048;

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
    pin: PinDecryptor,
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
        let pin = PinDecryptor::from_pkcs8(der.as_bytes(), private.size());
        Ok(Self {
            pin,
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
    /// not 1 to 64 printable ASCII characters: one error for all, after the same work for a
    /// ciphertext of the key's size. The error never contains the PIN or the input.
    pub fn decrypt_pin(&self, encrypted: &str) -> Result<Zeroizing<String>, DeviceKeyError> {
        let ciphertext = Zeroizing::new(
            STANDARD.decode(encrypted.trim()).map_err(|_| DeviceKeyError::PinDecryption)?,
        );
        self.pin.decrypt(&ciphertext).ok_or(DeviceKeyError::PinDecryption)
    }

    /// Signs `data` (the compact JSON of a response's `data`) with RSA-SHA256, base64.
    /// PKCS#1 v1.5 signatures are deterministic, so a signature made before for the same bytes
    /// is reused.
    pub fn sign(&self, data: &[u8]) -> String {
        use sha2::{Digest, Sha256};
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
        use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
        let Ok(signature) = STANDARD.decode(signature_b64) else { return false };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.signer.public_key().as_ref())
            .verify(data, &signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use openssl::rsa::{Padding, Rsa};
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rsa::Pkcs1v15Encrypt;
    use rsa::pkcs8::DecodePublicKey;

    use super::*;

    fn key() -> (tempfile::TempDir, DeviceKey) {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = DeviceKey::load_or_create(&dir.path().join("device-key.pem")).expect("key");
        (dir, key)
    }

    /// One key for the tests that only decrypt (RSA key generation takes a while).
    fn shared() -> &'static DeviceKey {
        static KEY: OnceLock<DeviceKey> = OnceLock::new();
        KEY.get_or_init(|| key().1)
    }

    /// RSA PKCS#1 v1.5 ciphertext of `pin` to `key`, as JSEncrypt makes it, unencoded.
    fn ciphertext(key: &DeviceKey, pin: &[u8], rng: &mut ChaCha20Rng) -> Vec<u8> {
        let public = RsaPublicKey::from_public_key_pem(key.public_pem()).expect("pem");
        public.encrypt(rng, Pkcs1v15Encrypt, pin).expect("encrypt")
    }

    fn encrypt(key: &DeviceKey, pin: &[u8]) -> String {
        STANDARD.encode(ciphertext(key, pin, &mut ChaCha20Rng::seed_from_u64(1)))
    }

    /// `block` encrypted to `key` with no padding: the encoded message is exactly `block`.
    fn raw(key: &DeviceKey, block: &[u8]) -> String {
        let public = Rsa::public_key_from_pem(key.public_pem().as_bytes()).expect("pem");
        let mut out = vec![0; 256];
        let len = public.public_encrypt(block, &mut out, Padding::NONE).expect("raw RSA");
        STANDARD.encode(&out[..len])
    }

    fn assert_refused(key: &DeviceKey, input: &str) {
        let err = key.decrypt_pin(input).expect_err("refused");
        assert!(matches!(err, DeviceKeyError::PinDecryption), "{err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("1234"), "{text}");
            assert!(input.len() < 4 || !text.contains(input), "{text}");
        }
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
        // A PIN encrypted to the key before the reload still decrypts after it.
        assert_eq!(again.decrypt_pin(&encrypt(&key, b"1234")).expect("decrypts").as_str(), "1234");
    }

    #[test]
    fn pin_encrypted_like_jsencrypt_decrypts() {
        let key = shared();
        let pin = key.decrypt_pin(&encrypt(key, b"1234")).expect("decrypts");
        assert_eq!(pin.as_str(), "1234");
        let longest = "~!0aZ".repeat(13)[..64].to_owned();
        let pin = key.decrypt_pin(&encrypt(key, longest.as_bytes())).expect("decrypts");
        assert_eq!(pin.as_str(), longest);
    }

    #[test]
    fn ciphertext_without_its_leading_zero_byte_decrypts() {
        // JSEncrypt writes the ciphertext as a number: one in 256 comes out a byte short.
        let key = shared();
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let short = std::iter::repeat_with(|| ciphertext(key, b"987654", &mut rng))
            .find(|c| c[0] == 0)
            .expect("a ciphertext with a leading zero byte");
        let pin = key.decrypt_pin(&STANDARD.encode(&short[1..])).expect("decrypts");
        assert_eq!(pin.as_str(), "987654");
    }

    #[test]
    fn every_refusal_is_the_same_error_without_the_pin() {
        let key = shared();
        let (_other_dir, other) = self::key();
        let good = ciphertext(key, b"1234", &mut ChaCha20Rng::seed_from_u64(2));
        assert_ne!(good[0], 0, "the seed gives a full-length ciphertext");
        let mut garbage = vec![0; 256];
        ChaCha20Rng::seed_from_u64(3).fill_bytes(&mut garbage);
        garbage[0] = 0;
        for input in [
            String::new(),
            "not base64!".to_owned(),
            "AAAA".to_owned(),
            encrypt(&other, b"1234"),
            STANDARD.encode(&good[..255]),
            STANDARD.encode(&good[..128]),
            STANDARD.encode(&good[1..]),
            STANDARD.encode([good.as_slice(), &[0]].concat()),
            STANDARD.encode([&[0], good.as_slice()].concat()),
            STANDARD.encode([0xFF; 256]),
            STANDARD.encode(&garbage),
        ] {
            assert_refused(key, &input);
        }
    }

    #[test]
    fn well_padded_plaintexts_that_are_not_pins_get_the_same_error() {
        let key = shared();
        for plaintext in
            [&b""[..], b"12\x0034", b"1234 ", b"1234\n", "1234\u{e9}".as_bytes(), &[b'1'; 65]]
        {
            assert_refused(key, &encrypt(key, plaintext));
        }
    }

    #[test]
    fn malformed_padding_gets_the_same_error_as_a_non_pin() {
        let key = shared();
        let block = |header: [u8; 2], padding: &[u8], message: &[u8]| {
            [&header[..], padding, message].concat()
        };
        // The well-formed block decrypts, so the raw encryption is right.
        let valid = block([0, 2], &[0x11; 249], b"\x001234");
        assert_eq!(key.decrypt_pin(&raw(key, &valid)).expect("decrypts").as_str(), "1234");
        for encoded in [
            block([0, 1], &[0x11; 249], b"\x001234"),
            block([1, 2], &[0x11; 249], b"\x001234"),
            block([0, 2], &[0x11; 7], &[&[0][..], &[b'5'; 242], b"1234"].concat()),
            block([0, 2], &[0x11; 250], b"1234"),
            block([0, 2], &[0x11; 249], b"\x0012\x7f4"),
        ] {
            assert_eq!(encoded.len(), 256);
            assert_refused(key, &raw(key, &encoded));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_ciphertexts_are_refused_alike(bytes in proptest::collection::vec(any::<u8>(), 0..=300)) {
            let err = shared().decrypt_pin(&STANDARD.encode(&bytes)).expect_err("refused");
            prop_assert!(matches!(err, DeviceKeyError::PinDecryption));
        }

        #[test]
        fn random_text_is_refused_alike(text in ".{0,400}") {
            let err = shared().decrypt_pin(&text).expect_err("refused");
            prop_assert!(matches!(err, DeviceKeyError::PinDecryption));
        }
    }

    #[test]
    fn linked_openssl_has_constant_time_rsa_decryption() {
        // CVE-2022-4304 (timing of RSA decryption in every padding mode) is fixed from 3.0.8
        // and 1.1.1t on; the guarantees in `pin` rely on it.
        let number = openssl::version::number();
        assert!(
            number >= 0x3000_0080 || (0x1010_114F..0x3000_0000).contains(&number),
            "OpenSSL {} is too old for constant-time RSA decryption",
            openssl::version::version()
        );
    }

    #[test]
    fn signatures_verify_over_the_exact_bytes() {
        let key = shared();
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
