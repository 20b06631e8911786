//! Signatures: which key, which PKCS#11 scheme, and the encoding of the result.
//!
//! - RSA keys: PKCS#1 v1.5 over the digest (`rsa-pkcs1(some(hash))`: the host wraps the digest
//!   in its DigestInfo, so the token only needs CKM_RSA_PKCS); RSA-PSS (`rsa-pss(hash)`,
//!   MGF1 with the same hash, salt as long as the digest, CKM_RSA_PKCS_PSS) when the request's
//!   `padding` is PSS (the API's `sha256-pss` and the like, see [`Algorithm`]).
//! - EC keys: CKM_ECDSA over the digest; the token's `r || s` is returned as the DER
//!   `ECDSA-Sig-Value`, as the contract's `token.sign` promises.
//!
//! The sequence is one session: login (with the host's PIN, or the pinpad), find the private
//! key by CKA_ID, sign, logout. `raw` requests are hashed here first.

use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use t1c_sdk::pkcs11::{KeyType, Session, SignatureScheme, Slot};
use t1c_sdk::{Error, HashAlgorithm, Padding, Pin, Result, SignRequest};

use crate::objects::{self, Role};

/// The digests this module signs over.
pub const ALGORITHMS: [HashAlgorithm; 4] =
    [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512];

/// A T1C algorithm string: a digest, and PSS padding for RSA keys.
///
/// `sha1`, `sha256`, `sha384`, `sha512` are PKCS#1 v1.5 on RSA keys and ECDSA on EC keys, as
/// T1C has always meant them. T1C names no PSS algorithm; this module (and the connector's
/// `sign` and `authenticate` routes) reads `sha256-pss` (and `sha1-pss`, `sha384-pss`,
/// `sha512-pss`, case-insensitive, `_` accepted for `-`) as RSA-PSS with MGF1 over the same
/// digest and a salt as long as the digest (`PS256` in JOSE terms):
/// [`t1c_sdk::parse_algorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithm {
    /// The digest.
    pub hash: HashAlgorithm,
    /// RSA-PSS instead of PKCS#1 v1.5.
    pub pss: bool,
}

impl Algorithm {
    /// Parses a T1C algorithm string.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for anything else.
    pub fn parse(text: &str) -> Result<Self> {
        let (hash, padding) = t1c_sdk::parse_algorithm(text).ok_or_else(|| {
            Error::invalid_input(format!(
                "unknown algorithm `{text}`; use sha1, sha256, sha384, sha512, or one of them \
                 with -pss"
            ))
        })?;
        Ok(Self { hash, pss: padding == Padding::Pss })
    }
}

/// CKM_RSA_PKCS_PSS (PKCS#11 v2.40 §2.1.14), which RSA-PSS over a digest needs.
const CKM_RSA_PKCS_PSS: u64 = 0x0D;

/// Signs `request` with the key of `role` (or the one `request.key_id` names): PKCS#1 v1.5 or
/// ECDSA, or RSA-PSS when `request.padding` asks for it.
///
/// # Errors
/// [`Error::InvalidInput`] for a digest of the wrong length or an unknown key id; PIN errors;
/// [`Error::NotSupported`] for a key that is neither RSA nor EC, and for PSS on an EC key or on
/// a token without CKM_RSA_PKCS_PSS (checked before the login, so no PIN try is spent); the
/// token's errors.
pub fn sign(
    slot: &dyn Slot,
    role: Role,
    request: &SignRequest,
    pin: Option<&Pin<'_>>,
) -> Result<Vec<u8>> {
    let digest = digest(request)?;
    let pss = match request.padding {
        Padding::Pkcs1V15 => false,
        Padding::Pss => true,
        other => return Err(Error::not_supported(format!("signature padding {other:?}"))),
    };
    if pss && !offers_pss(slot)? {
        return Err(Error::not_supported(
            "RSA-PSS: this token does not offer CKM_RSA_PKCS_PSS for signing",
        ));
    }
    let mut session = slot.open_session()?;
    // Private keys are private objects on most tokens: log in before looking for them.
    login(slot, session.as_mut(), pin)?;
    let id = match &request.key_id {
        Some(id) => objects::parse_id(id)?,
        None => {
            let certificates = objects::certificates(session.as_mut())?;
            objects::default_for(&certificates, role)
                .map(|c| c.id.clone())
                .ok_or_else(|| Error::not_supported("the token has no signing certificate"))?
        }
    };
    let key = objects::private_key(session.as_mut(), &id)?;
    let scheme = match (key.key_type, pss) {
        (KeyType::Rsa, false) => SignatureScheme::RsaPkcs1(Some(request.algorithm)),
        (KeyType::Rsa, true) => SignatureScheme::RsaPss(request.algorithm),
        (KeyType::Ec, false) => SignatureScheme::Ecdsa,
        (KeyType::Ec, true) => {
            return Err(Error::not_supported("RSA-PSS with an EC key: PSS is for RSA keys only"));
        }
        _ => return Err(Error::not_supported("keys other than RSA and EC")),
    };
    let signature = session.sign(key.handle, &scheme, &digest)?;
    // The session closes (and the host logs it out) when it is dropped; an explicit logout
    // ends the login state at once on tokens that share it across sessions.
    let _ = session.logout();
    match scheme {
        SignatureScheme::Ecdsa => ecdsa_der(&signature),
        _ => Ok(signature),
    }
}

/// Whether the token signs with CKM_RSA_PKCS_PSS.
fn offers_pss(slot: &dyn Slot) -> Result<bool> {
    Ok(slot.mechanisms()?.iter().any(|m| m.code == CKM_RSA_PKCS_PSS && m.flags.sign))
}

/// Verifies the PIN: a login and a logout.
///
/// # Errors
/// PIN errors and the token's errors.
pub fn verify_pin(slot: &dyn Slot, pin: Option<&Pin<'_>>) -> Result<()> {
    let mut session = slot.open_session()?;
    login(slot, session.as_mut(), pin)?;
    let _ = session.logout();
    Ok(())
}

/// Logs in with `pin`; without one only on a token with a protected authentication path (a
/// pinpad), since any other token would fail the login with a bare library error.
fn login(slot: &dyn Slot, session: &mut dyn Session, pin: Option<&Pin<'_>>) -> Result<()> {
    if pin.is_none() && !slot.info()?.flags.protected_authentication_path {
        return Err(Error::invalid_input("this token needs a PIN"));
    }
    session.login(pin)?;
    Ok(())
}

/// The digest to sign: the request's data, hashed first when it is raw.
///
/// # Errors
/// [`Error::InvalidInput`] for a digest of the wrong length.
pub fn digest(request: &SignRequest) -> Result<Vec<u8>> {
    if request.raw {
        return Ok(hash(request.algorithm, &request.data));
    }
    let expected = request.algorithm.digest_len();
    if request.data.len() != expected {
        return Err(Error::invalid_input(format!(
            "a {:?} digest has {expected} bytes, not {}",
            request.algorithm,
            request.data.len()
        )));
    }
    Ok(request.data.clone())
}

/// `data` hashed with `algorithm`.
pub fn hash(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        _ => Sha512::digest(data).to_vec(),
    }
}

/// `r || s` (two equal halves) as DER `SEQUENCE { INTEGER r, INTEGER s }`.
///
/// # Errors
/// [`Error::Internal`] for an empty or odd-length token answer.
pub fn ecdsa_der(plain: &[u8]) -> Result<Vec<u8>> {
    if plain.is_empty() || !plain.len().is_multiple_of(2) || plain.len() > 2 * 66 {
        return Err(Error::internal(format!(
            "the token returned a {}-byte ECDSA signature",
            plain.len()
        )));
    }
    let (r, s) = plain.split_at(plain.len() / 2);
    let mut body = Vec::with_capacity(plain.len() + 8);
    for half in [r, s] {
        let trimmed = match half.iter().position(|b| *b != 0) {
            Some(start) => &half[start..],
            None => &[0u8][..],
        };
        let pad = trimmed[0] & 0x80 != 0;
        body.push(0x02);
        push_length(&mut body, trimmed.len() + usize::from(pad));
        if pad {
            body.push(0);
        }
        body.extend_from_slice(trimmed);
    }
    let mut der = vec![0x30];
    push_length(&mut der, body.len());
    der.extend_from_slice(&body);
    Ok(der)
}

fn push_length(out: &mut Vec<u8>, length: usize) {
    // Two halves of at most 66 bytes (P-521) keep every length below 256.
    if length < 0x80 {
        out.push(length as u8);
    } else {
        out.push(0x81);
        out.push((length & 0xFF) as u8);
    }
}

#[cfg(test)]
mod tests {
    use t1c_sdk::pkcs11::TokenError;

    use super::*;

    #[test]
    fn algorithm_strings_name_digest_and_padding() {
        let parse = |s| Algorithm::parse(s).expect(s);
        assert_eq!(parse("sha256"), Algorithm { hash: HashAlgorithm::Sha256, pss: false });
        assert_eq!(parse("SHA384"), Algorithm { hash: HashAlgorithm::Sha384, pss: false });
        assert_eq!(parse("sha256-pss"), Algorithm { hash: HashAlgorithm::Sha256, pss: true });
        assert_eq!(parse("SHA512_PSS"), Algorithm { hash: HashAlgorithm::Sha512, pss: true });
        assert!(Algorithm::parse("md5").is_err());
        assert!(Algorithm::parse("pss").is_err());
    }

    #[test]
    fn ecdsa_der_trims_and_pads_integers() {
        let mut plain = vec![0u8; 64];
        plain[0] = 0x00;
        plain[1] = 0x7F;
        plain[32] = 0x80;
        let der = ecdsa_der(&plain).expect("der");
        // r: 31 bytes from 0x7F, s: 0x00 pad then 32 bytes.
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..4], &[0x02, 31]);
        assert_eq!(der[4], 0x7F);
        assert_eq!(&der[35..38], &[0x02, 33, 0x00]);
        let signature = p256::ecdsa::Signature::from_der(&der).expect("parses as ECDSA-Sig-Value");
        assert_eq!(signature.to_bytes().as_slice(), plain.as_slice());
    }

    #[test]
    fn lengths_take_the_long_form_past_127_bytes() {
        let p384 = ecdsa_der(&[0x80u8; 96]).expect("der");
        assert_eq!(&p384[..2], &[0x30, 2 * (2 + 49)]);
        p384::ecdsa::Signature::from_der(&p384).expect("parses");
        let p521 = ecdsa_der(&[0x80u8; 132]).expect("der");
        assert_eq!(&p521[..3], &[0x30, 0x81, 2 * (2 + 67)]);
    }

    /// A token offering only `mechanisms`, on which a session must not be opened.
    struct NoSession(Vec<t1c_sdk::pkcs11::MechanismInfo>);

    impl Slot for NoSession {
        fn info(&self) -> std::result::Result<t1c_sdk::pkcs11::TokenInfo, TokenError> {
            Ok(t1c_sdk::pkcs11::TokenInfo::default())
        }

        fn mechanisms(
            &self,
        ) -> std::result::Result<Vec<t1c_sdk::pkcs11::MechanismInfo>, TokenError> {
            Ok(self.0.clone())
        }

        fn open_session(&self) -> std::result::Result<Box<dyn Session + '_>, TokenError> {
            Err(TokenError::Library("CKR_FUNCTION_FAILED (a session was opened)".into()))
        }
    }

    #[test]
    fn pss_on_a_token_without_ckm_rsa_pkcs_pss_is_not_supported_before_any_login() {
        let mechanism = |name: &str, code, sign| t1c_sdk::pkcs11::MechanismInfo {
            name: name.into(),
            code,
            min_key_size: 1024,
            max_key_size: 4096,
            flags: t1c_sdk::pkcs11::MechanismFlags { sign, ..Default::default() },
        };
        let request = SignRequest {
            algorithm: HashAlgorithm::Sha256,
            data: vec![0; 32],
            raw: false,
            key_id: None,
            padding: Padding::Pss,
        };
        for token in [
            NoSession(vec![mechanism("CKM_RSA_PKCS", 0x01, true)]),
            NoSession(vec![mechanism("CKM_RSA_PKCS_PSS", 0x0D, false)]),
        ] {
            let err = sign(&token, Role::NonRepudiation, &request, None);
            assert!(
                matches!(&err, Err(Error::NotSupported(m)) if m.contains("CKM_RSA_PKCS_PSS")),
                "{err:?}"
            );
        }
        // With the mechanism, the module goes on to the token (here: the session fails).
        let token = NoSession(vec![mechanism("CKM_RSA_PKCS_PSS", 0x0D, true)]);
        let err = sign(&token, Role::NonRepudiation, &request, None);
        assert!(!matches!(err, Err(Error::NotSupported(_))), "{err:?}");
    }

    #[test]
    fn raw_data_is_hashed_and_digests_are_checked() {
        let raw = SignRequest {
            algorithm: HashAlgorithm::Sha256,
            data: b"abc".to_vec(),
            raw: true,
            key_id: None,
            padding: Padding::Pkcs1V15,
        };
        assert_eq!(digest(&raw).expect("hash"), Sha256::digest(b"abc").to_vec());
        let short = SignRequest { raw: false, ..raw };
        assert!(matches!(digest(&short), Err(Error::InvalidInput(_))));
    }
}
