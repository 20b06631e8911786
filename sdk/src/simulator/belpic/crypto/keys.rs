//! Key pairs of simulated cards, RSA-2048 on applet 1.7 and ECDSA P-384 on 1.8, and the
//! card-side signature of each algorithm reference (RM17 table 11, RM18 table 14).

use p384::ecdsa::signature::hazmat::PrehashSigner;
use rand_core::CryptoRngCore;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::Sha256;

use crate::simulator::belpic::AppletVersion;
use crate::simulator::belpic::error::BelpicError;

/// RSA modulus size of applet 1.7 keys.
pub const RSA_BITS: usize = 2048;

/// DigestInfo prefix of MD5 (algorithm reference 04 on 1.7).
pub const MD5_DIGEST_INFO: [u8; 18] = [
    0x30, 0x20, 0x30, 0x0C, 0x06, 0x08, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x05, 0x05, 0x00,
    0x04, 0x10,
];
/// DigestInfo prefix of SHA-1 (algorithm reference 02 on 1.7).
pub const SHA1_DIGEST_INFO: [u8; 15] =
    [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00, 0x04, 0x14];
/// DigestInfo prefix of SHA-256 (algorithm reference 08 on 1.7).
pub const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A private key inside a simulated card or test CA.
#[derive(Clone)]
pub enum PrivateKey {
    /// RSA-2048 (applet 1.7).
    Rsa(RsaPrivateKey),
    /// ECDSA on P-384 (applet 1.8).
    Ec(p384::ecdsa::SigningKey),
}

/// The public half of a [`PrivateKey`], for tests that verify the card's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA-2048.
    Rsa(RsaPublicKey),
    /// ECDSA on P-384.
    Ec(p384::ecdsa::VerifyingKey),
}

/// Why the card refused to sign: each maps to one status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignError {
    /// The data to sign has the wrong length for the algorithm (`6700`).
    WrongLength,
    /// The algorithm reference is not one of the key's (`6A80`).
    UnsupportedAlgorithm,
    /// The cryptographic library failed (`6400`).
    Failed,
}

impl PrivateKey {
    /// A fresh key of the type `version` cards carry.
    ///
    /// # Errors
    /// [`BelpicError::KeyGeneration`] if RSA key generation fails.
    pub fn generate(
        version: AppletVersion,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, BelpicError> {
        match version {
            AppletVersion::V1_7 => RsaPrivateKey::new(rng, RSA_BITS)
                .map(Self::Rsa)
                .map_err(|err| BelpicError::KeyGeneration(err.to_string())),
            AppletVersion::V1_8 => Ok(Self::Ec(p384::ecdsa::SigningKey::random(rng))),
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::Rsa(key) => PublicKey::Rsa(key.to_public_key()),
            Self::Ec(key) => PublicKey::Ec(*key.verifying_key()),
        }
    }

    /// Whether an algorithm reference of MSE:SET names a scheme this key signs with.
    pub(crate) fn supports(&self, algorithm: u8) -> bool {
        match self {
            Self::Rsa(_) => matches!(algorithm, 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20),
            Self::Ec(_) => matches!(algorithm, 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40),
        }
    }

    /// What the card returns for PSO:CDS (and INTERNAL AUTHENTICATE) with `algorithm` over
    /// the off-card hash or DigestInfo `dtbs`: a raw RSA signature, or ECDSA `r || s`.
    pub(crate) fn sign_card(
        &self,
        algorithm: u8,
        dtbs: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<u8>, SignError> {
        match self {
            Self::Rsa(key) => sign_rsa(key, algorithm, dtbs, rng),
            Self::Ec(key) => sign_ec(key, algorithm, dtbs),
        }
    }
}

impl PublicKey {
    /// The DER SubjectPublicKeyInfo (for P-384 the 120 bytes of EF(PuK#1) on 1.8 cards).
    ///
    /// # Errors
    /// [`BelpicError::Certificate`] if encoding fails.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, BelpicError> {
        let der = match self {
            Self::Rsa(key) => key.to_public_key_der(),
            Self::Ec(key) => key.to_public_key_der(),
        };
        der.map(|doc| doc.as_bytes().to_vec())
            .map_err(|err| BelpicError::Certificate(err.to_string()))
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rsa(_) => f.write_str("PrivateKey::Rsa(***)"),
            Self::Ec(_) => f.write_str("PrivateKey::Ec(***)"),
        }
    }
}

/// RSA schemes of applet 1.7. The card pads; for 02/04/08 it prepends the DigestInfo.
fn sign_rsa(
    key: &RsaPrivateKey,
    algorithm: u8,
    dtbs: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SignError> {
    // PKCS#1 v1.5 type 1 padding needs at least 11 bytes: 245 is the most for RSA-2048.
    const MAX_RAW: usize = RSA_BITS / 8 - 11;
    let with_prefix = |prefix: &[u8], len: usize| {
        if dtbs.len() != len {
            return Err(SignError::WrongLength);
        }
        Ok([prefix, dtbs].concat())
    };
    let signed = match algorithm {
        0x01 if dtbs.is_empty() || dtbs.len() > MAX_RAW => return Err(SignError::WrongLength),
        0x01 => key.sign(Pkcs1v15Sign::new_unprefixed(), dtbs),
        0x02 => key.sign(Pkcs1v15Sign::new_unprefixed(), &with_prefix(&SHA1_DIGEST_INFO, 20)?),
        0x04 => key.sign(Pkcs1v15Sign::new_unprefixed(), &with_prefix(&MD5_DIGEST_INFO, 16)?),
        0x08 => key.sign(Pkcs1v15Sign::new_unprefixed(), &with_prefix(&SHA256_DIGEST_INFO, 32)?),
        0x10 if dtbs.len() != 20 => return Err(SignError::WrongLength),
        0x10 => key.sign_with_rng(rng, Pss::new_with_salt::<Sha1>(20), dtbs),
        0x20 if dtbs.len() != 32 => return Err(SignError::WrongLength),
        0x20 => key.sign_with_rng(rng, Pss::new_with_salt::<Sha256>(32), dtbs),
        _ => return Err(SignError::UnsupportedAlgorithm),
    };
    signed.map_err(|_| SignError::Failed)
}

/// ECDSA schemes of applet 1.8: the hash comes from outside, the result is plain `r || s`.
fn sign_ec(
    key: &p384::ecdsa::SigningKey,
    algorithm: u8,
    dtbs: &[u8],
) -> Result<Vec<u8>, SignError> {
    let expected: &[usize] = match algorithm {
        0x01 | 0x08 => &[32],
        0x02 | 0x10 => &[48],
        0x04 | 0x20 => &[64],
        0x40 => &[20, 28, 32, 48, 64],
        _ => return Err(SignError::UnsupportedAlgorithm),
    };
    if !expected.contains(&dtbs.len()) {
        return Err(SignError::WrongLength);
    }
    let signature: p384::ecdsa::Signature =
        key.sign_prehash(&ec_prehash(dtbs)).map_err(|_| SignError::Failed)?;
    Ok(signature.to_bytes().to_vec())
}

/// The hash as the ECDSA integer `e` needs it: shorter hashes are left-padded with zeros to
/// the 48-byte field (same integer), longer ones are truncated by the signer (FIPS 186-4).
pub fn ec_prehash(hash: &[u8]) -> Vec<u8> {
    const FIELD: usize = 48;
    if hash.len() >= FIELD {
        return hash.to_vec();
    }
    let mut padded = vec![0u8; FIELD - hash.len()];
    padded.extend_from_slice(hash);
    padded
}

/// Length of EF(SGN#ID) and EF(SGN#Address) holding an ECDSA signature: DER, zero-padded.
pub const EC_SIGNATURE_FILE_LEN: usize = 256;

impl PrivateKey {
    /// The National Register's signature over a file as EF(SGN#ID) and EF(SGN#Address) hold
    /// it: RSASSA-PKCS1-v1.5 with SHA-256 (256 bytes, 1.7 "CA4" cards) or ECDSA with SHA-384,
    /// DER-encoded and zero-padded to [`EC_SIGNATURE_FILE_LEN`] bytes (1.8).
    ///
    /// # Errors
    /// [`BelpicError::Signing`] if the signature cannot be computed.
    pub(crate) fn sign_file(&self, data: &[u8]) -> Result<Vec<u8>, BelpicError> {
        use p384::ecdsa::signature::Signer as _;
        use sha2::Digest as _;
        match self {
            Self::Rsa(key) => key
                .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data))
                .map_err(|err| BelpicError::Signing(err.to_string())),
            Self::Ec(key) => {
                let signature: p384::ecdsa::Signature =
                    key.try_sign(data).map_err(|err| BelpicError::Signing(err.to_string()))?;
                let mut file = signature.to_der().as_bytes().to_vec();
                file.resize(EC_SIGNATURE_FILE_LEN.max(file.len()), 0);
                Ok(file)
            }
        }
    }
}
