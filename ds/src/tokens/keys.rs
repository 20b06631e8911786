//! Generating signing keys of the configured algorithm and describing their public half as a
//! JWK (RFC 7517).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey};
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

    /// jsonwebtoken's name for it.
    pub fn jose(self) -> Algorithm {
        match self {
            SigningAlgorithm::ES256 => Algorithm::ES256,
            SigningAlgorithm::EdDSA => Algorithm::EdDSA,
            SigningAlgorithm::RS256 => Algorithm::RS256,
        }
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

/// The jsonwebtoken signing key for a stored private half.
pub fn encoding_key(algorithm: SigningAlgorithm, pkcs8: &[u8]) -> Result<EncodingKey, KeyError> {
    match algorithm {
        SigningAlgorithm::ES256 => Ok(EncodingKey::from_ec_der(pkcs8)),
        SigningAlgorithm::EdDSA => Ok(EncodingKey::from_ed_der(pkcs8)),
        SigningAlgorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::DecodePrivateKey;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(fail)?;
            Ok(EncodingKey::from_rsa_der(key.to_pkcs1_der().map_err(fail)?.as_bytes()))
        }
    }
}

/// A fresh key id: 16 random bytes, hex.
pub fn new_kid() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(fail)?;
    Ok(hex::encode(bytes))
}
