//! Generating signing keys of the configured algorithm and describing their public half as a
//! JWK (RFC 7517).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

/// The algorithms application tokens may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256: the default, understood by every JOSE library.
    #[default]
    ES256,
    /// Ed25519: the fastest to sign and verify.
    EdDSA,
    /// RSA-2048 PKCS#1 v1.5: for connectors that only know RSA.
    RS256,
}

impl SigningAlgorithm {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
            SigningAlgorithm::RS256 => "RS256",
        }
    }

    /// From a JOSE name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::ES256, Self::EdDSA, Self::RS256].into_iter().find(|a| a.as_str() == name)
    }
}

/// Why a key cannot be generated or loaded.
#[derive(Debug, thiserror::Error)]
#[error("signing key: {0}")]
pub struct KeyError(pub String);

fn fail(e: impl std::fmt::Display) -> KeyError {
    KeyError(e.to_string())
}

/// A fresh key: the private half (PKCS#8 DER) and the public JWK (without `kid`, which the
/// caller adds).
pub fn generate(algorithm: SigningAlgorithm) -> Result<(Vec<u8>, serde_json::Value), KeyError> {
    use rand_core::OsRng;
    match algorithm {
        SigningAlgorithm::ES256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::EncodePrivateKey;
            let key = p256::SecretKey::random(&mut OsRng);
            let point = key.public_key().to_encoded_point(false);
            let (x, y) =
                (point.x().ok_or_else(|| fail("no x"))?, point.y().ok_or_else(|| fail("no y"))?);
            let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y)});
            Ok((key.to_pkcs8_der().map_err(fail)?.as_bytes().to_vec(), jwk))
        }
        SigningAlgorithm::EdDSA => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(key.verifying_key().as_bytes())});
            Ok((key.to_pkcs8_der().map_err(fail)?.as_bytes().to_vec(), jwk))
        }
        SigningAlgorithm::RS256 => {
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(fail)?;
            let jwk = serde_json::json!({
                "kty": "RSA",
                "n": B64.encode(key.n().to_bytes_be()),
                "e": B64.encode(key.e().to_bytes_be()),
            });
            Ok((key.to_pkcs8_der().map_err(fail)?.as_bytes().to_vec(), jwk))
        }
    }
}

/// A loaded private key that signs JWS payloads (ring: constant-time, and several times faster
/// than the pure-Rust implementations on this hot path).
pub enum Signer {
    /// ES256: ECDSA P-256, fixed-length `r || s` signatures as JWS wants them.
    Es256(ring::signature::EcdsaKeyPair),
    /// EdDSA over Ed25519.
    EdDsa(ring::signature::Ed25519KeyPair),
    /// RS256: RSA PKCS#1 v1.5 with SHA-256.
    Rs256(ring::signature::RsaKeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Es256(_) => "Signer(ES256)",
            Signer::EdDsa(_) => "Signer(EdDSA)",
            Signer::Rs256(_) => "Signer(RS256)",
        })
    }
}

impl Signer {
    /// Loads a stored private half (PKCS#8 DER).
    pub fn load(algorithm: SigningAlgorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        use ring::signature as sig;
        let rng = ring::rand::SystemRandom::new();
        Ok(match algorithm {
            SigningAlgorithm::ES256 => Signer::Es256(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                    .map_err(fail)?,
            ),
            SigningAlgorithm::EdDSA => {
                Signer::EdDsa(sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(fail)?)
            }
            SigningAlgorithm::RS256 => {
                Signer::Rs256(sig::RsaKeyPair::from_pkcs8(pkcs8).map_err(fail)?)
            }
        })
    }

    /// The JWS signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        match self {
            Signer::Es256(key) => Ok(key.sign(&rng, message).map_err(fail)?.as_ref().to_vec()),
            Signer::EdDsa(key) => Ok(key.sign(message).as_ref().to_vec()),
            Signer::Rs256(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(fail)?;
                Ok(signature)
            }
        }
    }
}

/// A fresh key id: 16 random bytes, hex.
pub fn new_kid() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(fail)?;
    Ok(hex::encode(bytes))
}
