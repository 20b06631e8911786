//! The National Register's integrity checks (beid-card.md §6, CONT18 §6.2, ADD17):
//!
//! - EF(SGN#ID) is the RRN key's signature over the whole identity file;
//! - EF(SGN#Address) is its signature over the address file without its trailing zero bytes,
//!   followed by the identity signature file as read (zero padding included);
//! - the identity file's photo hash (tag 11) is the hash of the whole photo file: SHA-1,
//!   SHA-256 or SHA-384 by its length.
//!
//! RSA RRN keys (applet 1.1, 1.7) sign with PKCS#1 v1.5 over SHA-1 or SHA-256 (both are
//! tried, as the generation is not written anywhere reliable); EC keys (re-keyed 1.7, 1.8) sign
//! with ECDSA P-384 over SHA-384, DER-encoded and zero-padded.
//!
//! What this proves: the files agree with the RRN certificate on the card. It does not prove
//! that certificate chains to a Belgian root; the caller has the certificate (`encryption-cert`)
//! to check that against its trust store.

use p384::ecdsa::signature::Verifier as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384};

use crate::files::der_length;
use crate::x509::{CertificateFields, PublicKey};

/// The outcome of one check, as JSON writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// The data matches its signature or hash.
    Valid,
    /// It does not: the file was altered, or the signature, hash or RRN certificate is
    /// damaged or missing.
    Invalid,
    /// Not checked by this operation (or the RRN key is of an algorithm no card uses).
    Unchecked,
}

/// The `integrity` object of the `biometric`, `address`, `picture` and `all-data` responses.
///
/// The photo is trustworthy only when `photo` and `identity` are both valid (its hash is in the
/// identity file), and the address binds to the identity through the identity signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// EF(ID#RN) against EF(SGN#ID).
    pub identity: Check,
    /// EF(ID#Address) (+ EF(SGN#ID)) against EF(SGN#Address).
    pub address: Check,
    /// EF(ID#Photo) against the identity file's photo hash.
    pub photo: Check,
}

impl Default for Integrity {
    fn default() -> Self {
        Self { identity: Check::Unchecked, address: Check::Unchecked, photo: Check::Unchecked }
    }
}

/// The National Register's verification key, from its certificate.
pub struct RrnKey(Option<PublicKey>);

impl RrnKey {
    /// A key read from elsewhere than a certificate.
    pub fn new(key: PublicKey) -> Self {
        Self(Some(key))
    }

    /// The key of the RRN certificate `der`; a missing or unreadable certificate makes every
    /// signature check [`Check::Invalid`].
    pub fn from_certificate(der: Option<&[u8]>) -> Self {
        Self(der.and_then(|der| CertificateFields::parse(der).ok()).map(|c| c.public_key))
    }

    /// Checks the identity file against EF(SGN#ID).
    pub fn check_identity(&self, identity: &[u8], signature_file: &[u8]) -> Check {
        self.check(identity, signature_file)
    }

    /// Checks the address file against EF(SGN#Address), given EF(SGN#ID) as read.
    pub fn check_address(
        &self,
        address: &[u8],
        identity_signature_file: &[u8],
        signature_file: &[u8],
    ) -> Check {
        let signed = [trim_zeros(address), identity_signature_file].concat();
        self.check(&signed, signature_file)
    }

    fn check(&self, data: &[u8], signature_file: &[u8]) -> Check {
        let verified = match &self.0 {
            None => false,
            Some(PublicKey::Rsa { modulus, exponent }) => {
                verify_rsa(modulus, exponent, data, signature_file)
            }
            Some(PublicKey::P384(point)) => verify_p384(point, data, signature_file),
            Some(PublicKey::Other) => return Check::Unchecked,
        };
        if verified { Check::Valid } else { Check::Invalid }
    }
}

/// Checks the photo file against the identity file's photo hash.
pub fn check_photo(photo: &[u8], photo_hash: &[u8]) -> Check {
    let actual = match photo_hash.len() {
        20 => Sha1::digest(photo).to_vec(),
        32 => Sha256::digest(photo).to_vec(),
        48 => Sha384::digest(photo).to_vec(),
        _ => return Check::Invalid,
    };
    if actual == photo_hash { Check::Valid } else { Check::Invalid }
}

/// RSASSA-PKCS1-v1.5 with SHA-256 or SHA-1. The signature is the file's first modulus-length
/// bytes (the file holds exactly one).
fn verify_rsa(modulus: &[u8], exponent: &[u8], data: &[u8], signature_file: &[u8]) -> bool {
    let Ok(key) =
        RsaPublicKey::new(BigUint::from_bytes_be(modulus), BigUint::from_bytes_be(exponent))
    else {
        return false;
    };
    let modulus_len = modulus.iter().skip_while(|b| **b == 0).count();
    let Some(signature) = signature_file.get(..modulus_len) else { return false };
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data), signature).is_ok()
        || key.verify(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(data), signature).is_ok()
}

/// ECDSA P-384 with SHA-384; the DER signature's own length says where the padding starts.
fn verify_p384(point: &[u8], data: &[u8], signature_file: &[u8]) -> bool {
    let Ok(key) = p384::ecdsa::VerifyingKey::from_sec1_bytes(point) else { return false };
    let Some(signature) = der_length(signature_file).and_then(|len| signature_file.get(..len))
    else {
        return false;
    };
    let Ok(signature) = p384::ecdsa::Signature::from_der(signature) else { return false };
    key.verify(data, &signature).is_ok()
}

/// `bytes` without trailing zero bytes.
fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |last| last + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_hash_length_picks_the_digest() {
        let photo = b"jpeg bytes";
        assert_eq!(check_photo(photo, &Sha1::digest(photo)), Check::Valid);
        assert_eq!(check_photo(photo, &Sha256::digest(photo)), Check::Valid);
        assert_eq!(check_photo(photo, &Sha384::digest(photo)), Check::Valid);
        assert_eq!(check_photo(b"other", &Sha256::digest(photo)), Check::Invalid);
        assert_eq!(check_photo(photo, &[0; 7]), Check::Invalid);
    }

    #[test]
    fn no_certificate_means_invalid() {
        assert_eq!(RrnKey::from_certificate(None).check_identity(b"id", &[0; 256]), Check::Invalid);
    }

    /// Applet 1.1 and early 1.7 cards: RSA PKCS#1 v1.5 over SHA-1.
    #[test]
    fn sha1_rrn_signatures_of_old_cards_verify() {
        use rand_chacha::ChaCha20Rng;
        use rand_chacha::rand_core::SeedableRng as _;
        use rsa::RsaPrivateKey;
        use rsa::traits::PublicKeyParts as _;

        let key = RsaPrivateKey::new(&mut ChaCha20Rng::seed_from_u64(3), 1024).expect("key");
        let rrn = RrnKey::new(PublicKey::Rsa {
            modulus: key.n().to_bytes_be(),
            exponent: key.e().to_bytes_be(),
        });
        let identity = b"\x01\x0c592000001266";
        let signature =
            key.sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(identity)).expect("signature");
        assert_eq!(signature.len(), 128);
        assert_eq!(rrn.check_identity(identity, &signature), Check::Valid);
        assert_eq!(rrn.check_identity(b"\x01\x0c592000001267", &signature), Check::Invalid);
        assert_eq!(rrn.check_identity(identity, &signature[..100]), Check::Invalid);
    }

    #[test]
    fn serializes_lowercase() {
        let json = serde_json::to_string(&Integrity::default()).expect("json");
        assert_eq!(json, r#"{"identity":"unchecked","address":"unchecked","photo":"unchecked"}"#);
    }
}
