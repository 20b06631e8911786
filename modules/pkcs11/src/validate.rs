//! `validate`: checks a signature against a certificate's public key, inside the module.
//!
//! Request (T1C `TokenValidateSignatureRequest`): `{algorithm, hash, signedHash, id?}`, `hash`
//! the base64 digest and `signedHash` the base64 signature. The certificate is the one with
//! CKA_ID `id`, else the default signing certificate (non-repudiation, then authentication).
//! RSA: PKCS#1 v1.5, or PSS for a `-pss` algorithm ([`crate::sign::Algorithm`]). EC (P-256,
//! P-384): ECDSA, the signature either DER or `r || s`. Answer: `{"valid": true|false}`; a
//! signature that does not even parse is `false`, a malformed request is an error.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use t1c_sdk::pkcs11::Slot;
use t1c_sdk::{Error, HashAlgorithm, Result};

use crate::objects::{self, Role};
use crate::sign::Algorithm;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    algorithm: String,
    hash: String,
    signed_hash: String,
    #[serde(default)]
    id: Option<String>,
}

/// Runs `validate` on the token in `slot`.
///
/// # Errors
/// [`Error::InvalidInput`] for a malformed request, an unknown id or a digest of the wrong
/// length; [`Error::NotSupported`] for a key type it cannot check; the token's errors.
pub fn validate(slot: &dyn Slot, request: &str) -> Result<bool> {
    let request: Request = serde_json::from_str(request)
        .map_err(|err| Error::invalid_input(format!("validate: {err}")))?;
    let algorithm = Algorithm::parse(&request.algorithm)?;
    let digest = BASE64
        .decode(request.hash.trim())
        .map_err(|_| Error::invalid_input("`hash` must be base64"))?;
    if digest.len() != algorithm.hash.digest_len() {
        return Err(Error::invalid_input(format!(
            "a {:?} digest has {} bytes, not {}",
            algorithm.hash,
            algorithm.hash.digest_len(),
            digest.len()
        )));
    }
    let signature = BASE64
        .decode(request.signed_hash.trim())
        .map_err(|_| Error::invalid_input("`signedHash` must be base64"))?;
    let mut session = slot.open_session()?;
    let certificates = objects::certificates(session.as_mut())?;
    let certificate = match request.id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => {
            let id = objects::parse_id(id)?;
            certificates.iter().find(|c| c.id == id).ok_or_else(|| {
                Error::invalid_input(format!("no certificate with id `{}`", hex::encode(&id)))
            })?
        }
        None => objects::default_for(&certificates, Role::NonRepudiation)
            .ok_or_else(|| Error::not_supported("the token has no signing certificate"))?,
    };
    verify(&certificate.fields.spki, algorithm, &digest, &signature)
}

/// Verifies `signature` over `digest` with the key in `spki` (DER SubjectPublicKeyInfo).
///
/// # Errors
/// [`Error::NotSupported`] for a key other than RSA, P-256 and P-384, and PSS on an EC key.
pub fn verify(spki: &[u8], algorithm: Algorithm, digest: &[u8], signature: &[u8]) -> Result<bool> {
    if let Ok(key) = RsaPublicKey::from_public_key_der(spki) {
        let scheme_result = match (algorithm.pss, algorithm.hash) {
            (false, HashAlgorithm::Sha1) => {
                key.verify(Pkcs1v15Sign::new::<Sha1>(), digest, signature)
            }
            (false, HashAlgorithm::Sha256) => {
                key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature)
            }
            (false, HashAlgorithm::Sha384) => {
                key.verify(Pkcs1v15Sign::new::<Sha384>(), digest, signature)
            }
            (false, _) => key.verify(Pkcs1v15Sign::new::<Sha512>(), digest, signature),
            (true, HashAlgorithm::Sha1) => key.verify(Pss::new::<Sha1>(), digest, signature),
            (true, HashAlgorithm::Sha256) => key.verify(Pss::new::<Sha256>(), digest, signature),
            (true, HashAlgorithm::Sha384) => key.verify(Pss::new::<Sha384>(), digest, signature),
            (true, _) => key.verify(Pss::new::<Sha512>(), digest, signature),
        };
        return Ok(scheme_result.is_ok());
    }
    if algorithm.pss {
        return Err(Error::invalid_input("PSS is for RSA keys only"));
    }
    if let Ok(key) = p256::PublicKey::from_public_key_der(spki) {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let key = p256::ecdsa::VerifyingKey::from(key);
        let parsed = p256::ecdsa::Signature::from_der(signature)
            .or_else(|_| p256::ecdsa::Signature::from_slice(signature));
        return Ok(parsed.is_ok_and(|s| key.verify_prehash(digest, &s).is_ok()));
    }
    if let Ok(key) = p384::PublicKey::from_public_key_der(spki) {
        use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
        let key = p384::ecdsa::VerifyingKey::from(key);
        let parsed = p384::ecdsa::Signature::from_der(signature)
            .or_else(|_| p384::ecdsa::Signature::from_slice(signature));
        // A digest shorter than the order (SHA-1) is an integer as it is: left-pad it, as the
        // crate takes at least half the order's size.
        let mut prehash = vec![0u8; 48usize.saturating_sub(digest.len())];
        prehash.extend_from_slice(digest);
        return Ok(parsed.is_ok_and(|s| key.verify_prehash(&prehash, &s).is_ok()));
    }
    Err(Error::not_supported("validating signatures of keys other than RSA, P-256 and P-384"))
}
