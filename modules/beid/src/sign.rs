//! Signatures with the authentication (`82`) and non-repudiation (`83`) keys (beid-card.md §5).
//!
//! The sequence is MSE:SET, VERIFY, PSO: COMPUTE DIGITAL SIGNATURE (then GET RESPONSE), as
//! eid-mw sends it: the VERIFY right before the PSO satisfies the non-repudiation key's "PIN
//! just before" rule on every applet, and the authentication key's "PIN once".
//!
//! - RSA cards (1.1, 1.7): algorithm reference `01` with the full DigestInfo, which every RSA
//!   applet accepts for every digest; the card adds the PKCS#1 v1.5 padding. RSA-PSS (a
//!   request whose `padding` is PSS): references `10` (SHA-1) and `20` (SHA-256) with the bare
//!   digest, on applet 1.7 only; other digests and applet 1.1 are refused as not supported.
//! - EC cards (1.8): ECDSA with the digest's own reference (`01` SHA-256, `02` SHA-384, `04`
//!   SHA-512, `40` for SHA-1); the card's `r || s` is returned DER-encoded (`ECDSA-Sig-Value`),
//!   the form X.509, CMS and common libraries verify. PSS is refused as not supported.

use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use t1c_sdk::apdu::Command;
use t1c_sdk::{Error, HashAlgorithm, Padding, Pin, Result, SignRequest, iso7816};

use crate::card_data::{CardData, KeyType, key_type};
use crate::files::{CardSession, CommandOutcome};
use crate::pin;

/// The card's signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKey {
    /// Key `82`, PIN once.
    Authentication,
    /// Key `83`, PIN just before each signature.
    NonRepudiation,
}

/// The digests this module signs, on every card.
pub const ALGORITHMS: [HashAlgorithm; 4] =
    [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512];

/// Signs `request` with `key`, verifying `pin` (`None`: on the pinpad) right before.
///
/// # Errors
/// [`Error::InvalidInput`] for a digest of the wrong length; the PIN errors of
/// [`pin::verify`]; the card's status word; transport errors.
pub fn sign(
    session: &mut CardSession<'_>,
    key: SigningKey,
    request: &SignRequest,
    pin: Option<&Pin<'_>>,
) -> Result<Vec<u8>> {
    let digest = digest(request)?;
    let key_type = key_type(session)?;
    let (algorithm, to_sign) = match (key_type, request.padding) {
        (KeyType::Rsa, Padding::Pkcs1V15) => {
            (0x01, [digest_info_prefix(request.algorithm), &digest].concat())
        }
        (KeyType::Rsa, Padding::Pss) => (pss_algorithm(session, request.algorithm)?, digest),
        (KeyType::Ec, Padding::Pkcs1V15) => (ec_algorithm(request.algorithm), digest),
        (KeyType::Ec, Padding::Pss) => {
            return Err(Error::not_supported(
                "RSA-PSS: this card (applet 1.8) has EC keys; PSS is for RSA keys only",
            ));
        }
        (_, other) => return Err(Error::not_supported(format!("signature padding {other:?}"))),
    };
    let key_reference = match key {
        SigningKey::Authentication => 0x82,
        SigningKey::NonRepudiation => 0x83,
    };
    let mse = Command::new(0x00, 0x22, 0x41, 0xB6).with_data([
        0x04,
        0x80,
        algorithm,
        0x84,
        key_reference,
    ])?;
    session.on_applet(|card| {
        let status = iso7816::transceive(card, &mse)?.status();
        Ok(if status.is_success() {
            CommandOutcome::Done(())
        } else {
            CommandOutcome::Refused(status)
        })
    })?;
    pin::verify(session, pin)?;
    // Case 4 without Le, as T=0 carries it: the card answers 61xx and GET RESPONSE follows.
    let pso = Command::new(0x00, 0x2A, 0x9E, 0x9A).with_data(to_sign)?;
    let signature = iso7816::transceive(session.card(), &pso)?.ok()?;
    match key_type {
        KeyType::Rsa => Ok(signature),
        KeyType::Ec => ecdsa_der(&signature),
    }
}

/// The digest to sign: the request's data, hashed first when it is raw.
fn digest(request: &SignRequest) -> Result<Vec<u8>> {
    let data = &request.data;
    if request.raw {
        return Ok(match request.algorithm {
            HashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
            other => return Err(Error::not_supported(format!("digest {other:?}"))),
        });
    }
    let expected = request.algorithm.digest_len();
    if data.len() != expected {
        return Err(Error::invalid_input(format!(
            "a {:?} digest has {expected} bytes, not {}",
            request.algorithm,
            data.len()
        )));
    }
    Ok(data.clone())
}

/// The DER DigestInfo header of `algorithm` (PKCS#1 v2.2 §9.2 note 1).
fn digest_info_prefix(algorithm: HashAlgorithm) -> &'static [u8] {
    match algorithm {
        HashAlgorithm::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00, 0x04,
            0x14,
        ],
        HashAlgorithm::Sha384 => &[
            0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlgorithm::Sha512 => &[
            0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
        // SHA-256; `digest` refused every algorithm it does not know.
        _ => &[
            0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
    }
}

/// The applet 1.7 algorithm reference for RSASSA-PSS over `algorithm`'s digest: `10` for SHA-1
/// and `20` for SHA-256, with MGF1 over the same digest and a salt as long as it (RM17 §1.7,
/// Table 11). Checked before the PIN is verified, so a refusal costs no PIN try.
///
/// # Errors
/// [`Error::NotSupported`] for other digests and for applet 1.1 cards (PKCS#1 v1.5 only); the
/// errors of [`CardData::read`].
fn pss_algorithm(session: &mut CardSession<'_>, algorithm: HashAlgorithm) -> Result<u8> {
    let reference = match algorithm {
        HashAlgorithm::Sha1 => 0x10,
        HashAlgorithm::Sha256 => 0x20,
        other => {
            return Err(Error::not_supported(format!(
                "RSA-PSS over {other:?}: the Belgian eID signs RSA-PSS over SHA-1 and SHA-256 only"
            )));
        }
    };
    let data = CardData::read(session)?;
    if data.applet_version < 0x17 {
        return Err(Error::not_supported(format!(
            "RSA-PSS: this card's applet {} signs PKCS#1 v1.5 only",
            data.version_text()
        )));
    }
    Ok(reference)
}

/// The applet 1.8 algorithm reference for an ECDSA signature over `algorithm`'s digest.
fn ec_algorithm(algorithm: HashAlgorithm) -> u8 {
    match algorithm {
        HashAlgorithm::Sha256 => 0x01,
        HashAlgorithm::Sha384 => 0x02,
        HashAlgorithm::Sha512 => 0x04,
        // "Hash not specified": any of 20, 28, 32, 48 and 64 bytes.
        _ => 0x40,
    }
}

/// `r || s` (two equal halves) as DER `SEQUENCE { INTEGER r, INTEGER s }`.
///
/// # Errors
/// [`Error::Internal`] for an empty or odd-length card answer.
pub fn ecdsa_der(plain: &[u8]) -> Result<Vec<u8>> {
    if plain.is_empty() || !plain.len().is_multiple_of(2) {
        return Err(Error::internal(format!(
            "the card returned a {}-byte ECDSA signature",
            plain.len()
        )));
    }
    let (r, s) = plain.split_at(plain.len() / 2);
    let mut body = Vec::with_capacity(plain.len() + 8);
    for half in [r, s] {
        let trimmed = match half.iter().position(|b| *b != 0) {
            Some(first) => &half[first..],
            None => &[0][..],
        };
        let pad = trimmed.first().is_some_and(|b| b & 0x80 != 0);
        body.push(0x02);
        push_length(&mut body, trimmed.len() + usize::from(pad));
        if pad {
            body.push(0x00);
        }
        body.extend_from_slice(trimmed);
    }
    let mut der = Vec::with_capacity(body.len() + 4);
    der.push(0x30);
    push_length(&mut der, body.len());
    der.extend_from_slice(&body);
    Ok(der)
}

/// A DER definite length (short form, or `81`/`82` long form).
fn push_length(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_integers_are_minimal_and_positive() {
        let mut plain = vec![0u8; 96];
        plain[0] = 0x80; // r needs a leading zero
        plain[48..50].copy_from_slice(&[0x00, 0x01]); // s has a leading zero to drop
        let der = ecdsa_der(&plain).expect("der");
        assert_eq!(der[..4], [0x30, 0x64, 0x02, 0x31]);
        assert_eq!(der[4..6], [0x00, 0x80]);
        assert_eq!(der[53..55], [0x02, 0x2F]);
        assert_eq!(der[55], 0x01);
    }

    #[test]
    fn zero_halves_encode_as_zero() {
        assert_eq!(
            ecdsa_der(&[0; 4]).expect("der"),
            [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
        );
        assert!(ecdsa_der(&[1, 2, 3]).is_err());
    }

    #[test]
    fn a_digest_of_the_wrong_length_is_refused() {
        let request = SignRequest {
            algorithm: HashAlgorithm::Sha256,
            data: vec![0; 20],
            raw: false,
            key_id: None,
            padding: Padding::Pkcs1V15,
        };
        assert!(matches!(digest(&request), Err(Error::InvalidInput(_))));
    }
}
