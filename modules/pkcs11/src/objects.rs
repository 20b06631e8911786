//! The token's certificates and the role of each: which one is the authentication certificate,
//! which the non-repudiation one, and which private key signs for a role.
//!
//! # The role rule
//!
//! PKCS#11 has no notion of "authentication" or "non-repudiation" key, so the role is read from
//! the certificate, in this order:
//!
//! 1. A certificate whose key is on the token (a private or public key object with the same
//!    CKA_ID; when the token shows no key objects before login, every certificate counts):
//!    - key usage nonRepudiation (contentCommitment): `nonRepudiation`;
//!    - otherwise key usage digitalSignature: `authentication`;
//!    - no key usage extension: by label, `nonRepudiation` when it contains "sign" but not
//!      "auth" (OpenSC's "Signature"), `authentication` otherwise (self-signed test and
//!      HSM certificates, which often carry cA but no key usage, sign as well);
//!    - other key usages (keyCertSign, encipherment only): as a certificate without key.
//! 2. A certificate without key on the token: a CA certificate (basicConstraints cA, or
//!    keyCertSign) is the `root` when self-issued, an `intermediate` otherwise; any other one
//!    (its key is elsewhere, as the Belgian eID's National Register certificate) is
//!    `encryption`.
//!
//! Within a role, certificates are ordered by CKA_ID; the first is the role's default key.
//! `sign` uses the non-repudiation key and falls back to the authentication key on tokens that
//! have none (a single-key token signs with its only key); `authenticate` does the reverse. A
//! caller picks any other key by passing the certificate's `id` (hex CKA_ID).

use std::collections::BTreeSet;

use t1c_sdk::pkcs11::{KeyType, ObjectClass, ObjectQuery, Session};
use t1c_sdk::{CertificateKind, Error, Result, log};

use crate::x509::CertificateFields;

/// A certificate's role, as T1C names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `authenticationCertificate`.
    Authentication,
    /// `intermediateCertificates`.
    Intermediate,
    /// `nonRepudiationCertificate`.
    NonRepudiation,
    /// `rootCertificate`.
    Root,
    /// `encryptionCertificate`.
    Encryption,
}

impl Role {
    /// Every role, in the order of the `cert-list` response.
    pub const ALL: [Self; 5] = [
        Self::Authentication,
        Self::Intermediate,
        Self::NonRepudiation,
        Self::Root,
        Self::Encryption,
    ];

    /// The contract's certificate kind.
    pub fn kind(self) -> CertificateKind {
        match self {
            Self::Root => CertificateKind::Root,
            Self::Intermediate => CertificateKind::Intermediate,
            Self::Authentication => CertificateKind::Authentication,
            Self::NonRepudiation => CertificateKind::NonRepudiation,
            Self::Encryption => CertificateKind::Encryption,
        }
    }

    /// The role of a contract certificate kind; `None` for `issuer`, which a PKCS#11 token does
    /// not tell apart.
    pub fn from_kind(kind: CertificateKind) -> Option<Self> {
        match kind {
            CertificateKind::Root => Some(Self::Root),
            CertificateKind::Intermediate => Some(Self::Intermediate),
            CertificateKind::Authentication => Some(Self::Authentication),
            CertificateKind::NonRepudiation => Some(Self::NonRepudiation),
            CertificateKind::Encryption => Some(Self::Encryption),
            _ => None,
        }
    }
}

/// A certificate found on the token.
#[derive(Debug, Clone)]
pub struct TokenCertificate {
    /// CKA_ID.
    pub id: Vec<u8>,
    /// CKA_LABEL.
    pub label: String,
    /// DER.
    pub der: Vec<u8>,
    /// Parsed fields.
    pub fields: CertificateFields,
    /// Its role.
    pub role: Role,
}

impl TokenCertificate {
    /// The id callers use: CKA_ID in lower-case hex.
    pub fn id_hex(&self) -> String {
        hex::encode(&self.id)
    }
}

/// Every certificate on the token, with its role, ordered by role then CKA_ID. Certificates
/// that do not parse are logged and left out.
///
/// # Errors
/// The token's errors.
pub fn certificates(session: &mut dyn Session) -> Result<Vec<TokenCertificate>> {
    let found = session.find_objects(&ObjectQuery::class(ObjectClass::Certificate))?;
    let mut key_ids = BTreeSet::new();
    for class in [ObjectClass::PrivateKey, ObjectClass::PublicKey] {
        for key in session.find_objects(&ObjectQuery::class(class))? {
            key_ids.insert(key.id);
        }
    }
    let mut certificates = Vec::with_capacity(found.len());
    for object in found {
        let mut der = session.value(object.handle)?;
        // Some drivers return the whole certificate file, zero padding included.
        der.truncate(der_length(&der).unwrap_or(der.len()));
        let fields = match CertificateFields::parse(&der) {
            Ok(fields) => fields,
            Err(err) => {
                log::warn(&format!("certificate `{}` left out: {err}", object.label));
                continue;
            }
        };
        let has_key = key_ids.is_empty() || key_ids.contains(&object.id);
        let role = role(&fields, &object.label, has_key);
        certificates.push(TokenCertificate {
            id: object.id,
            label: object.label,
            der,
            fields,
            role,
        });
    }
    certificates.sort_by(|a, b| (a.role, &a.id, &a.label).cmp(&(b.role, &b.id, &b.label)));
    Ok(certificates)
}

/// The length of the DER element at the start of `bytes` (header and content), if its header
/// is complete and it fits.
fn der_length(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    let (header, content) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 {
            return None;
        }
        let length =
            bytes.get(2..2 + count)?.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (2 + count, length)
    };
    let total = header.checked_add(content)?;
    (total <= bytes.len()).then_some(total)
}

/// The role rule (see the module documentation).
pub fn role(fields: &CertificateFields, label: &str, has_key: bool) -> Role {
    if has_key {
        match fields.usage {
            Some(usage) if usage.non_repudiation => return Role::NonRepudiation,
            Some(usage) if usage.digital_signature => return Role::Authentication,
            Some(_) => {}
            None => {
                let label = label.to_lowercase();
                return if label.contains("sign") && !label.contains("auth") {
                    Role::NonRepudiation
                } else {
                    Role::Authentication
                };
            }
        }
    }
    match (fields.ca, fields.self_issued()) {
        (true, true) => Role::Root,
        (true, false) => Role::Intermediate,
        (false, _) => Role::Encryption,
    }
}

/// The certificate a signature with `role` uses by default: the role's first, else the other
/// signing role's first.
pub fn default_for(certificates: &[TokenCertificate], role: Role) -> Option<&TokenCertificate> {
    let other = match role {
        Role::NonRepudiation => Role::Authentication,
        _ => Role::NonRepudiation,
    };
    certificates
        .iter()
        .find(|c| c.role == role)
        .or_else(|| certificates.iter().find(|c| c.role == other))
}

/// A private key ready to sign.
#[derive(Debug, Clone, Copy)]
pub struct SigningKey {
    /// Its handle in the session.
    pub handle: u64,
    /// RSA or EC.
    pub key_type: KeyType,
}

/// The private key with CKA_ID `id`. Needs a logged-in session on most tokens.
///
/// # Errors
/// [`Error::InvalidInput`] when the token has no such key; the token's errors.
pub fn private_key(session: &mut dyn Session, id: &[u8]) -> Result<SigningKey> {
    let keys = session.find_objects(&ObjectQuery::class(ObjectClass::PrivateKey).with_id(id))?;
    let key = keys.first().ok_or_else(|| {
        Error::invalid_input(format!("the token has no private key with id `{}`", hex::encode(id)))
    })?;
    Ok(SigningKey { handle: key.handle, key_type: key.key_type.unwrap_or(KeyType::Other) })
}

/// Parses a certificate id given by a caller (hex CKA_ID).
///
/// # Errors
/// [`Error::InvalidInput`] for anything but hex.
pub fn parse_id(id: &str) -> Result<Vec<u8>> {
    hex::decode(id.trim())
        .map_err(|_| Error::invalid_input("a certificate id is the hex of its CKA_ID"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::Usage;

    fn fields(usage: Option<Usage>, ca: bool, self_issued: bool) -> CertificateFields {
        CertificateFields {
            serial_number: "01".into(),
            issuer: if self_issued { "CN=a".into() } else { "CN=ca".into() },
            subject: "CN=a".into(),
            usage,
            ca,
            spki: Vec::new(),
        }
    }

    const SIGNATURE: Usage =
        Usage { digital_signature: false, non_repudiation: true, key_cert_sign: false };
    const AUTHENTICATION: Usage =
        Usage { digital_signature: true, non_repudiation: false, key_cert_sign: false };
    const ENCIPHERMENT: Usage =
        Usage { digital_signature: false, non_repudiation: false, key_cert_sign: false };
    const CA: Usage =
        Usage { digital_signature: false, non_repudiation: false, key_cert_sign: true };

    #[test]
    fn key_usage_decides_for_certificates_with_a_key() {
        assert_eq!(role(&fields(Some(SIGNATURE), false, false), "x", true), Role::NonRepudiation);
        assert_eq!(
            role(&fields(Some(AUTHENTICATION), false, false), "x", true),
            Role::Authentication
        );
        let both = Usage { digital_signature: true, non_repudiation: true, key_cert_sign: false };
        assert_eq!(role(&fields(Some(both), false, false), "x", true), Role::NonRepudiation);
        assert_eq!(role(&fields(Some(ENCIPHERMENT), false, false), "x", true), Role::Encryption);
    }

    #[test]
    fn labels_decide_without_key_usage() {
        assert_eq!(role(&fields(None, false, false), "Signature", true), Role::NonRepudiation);
        assert_eq!(role(&fields(None, false, false), "Authentication", true), Role::Authentication);
        assert_eq!(
            role(&fields(None, false, false), "Auth signing key", true),
            Role::Authentication
        );
        // A self-signed certificate with cA set and a key on the token signs.
        assert_eq!(role(&fields(None, true, true), "rsa-2048", true), Role::Authentication);
    }

    #[test]
    fn certificates_without_a_key_are_ca_or_encryption() {
        assert_eq!(role(&fields(Some(CA), true, true), "Root", false), Role::Root);
        assert_eq!(role(&fields(Some(CA), true, false), "CA", false), Role::Intermediate);
        assert_eq!(role(&fields(Some(CA), true, true), "Root", true), Role::Root);
        assert_eq!(role(&fields(Some(SIGNATURE), false, false), "RRN", false), Role::Encryption);
    }

    #[test]
    fn der_padding_is_cut_off() {
        assert_eq!(der_length(&[0x30, 0x03, 1, 2, 3, 0, 0, 0]), Some(5));
        assert_eq!(der_length(&[0x30, 0x82, 0x01, 0x00]), None, "longer than given");
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.resize(4 + 256 + 10, 0);
        assert_eq!(der_length(&long), Some(260));
        assert_eq!(der_length(&[0x30]), None);
    }

    #[test]
    fn signing_falls_back_to_the_other_role() {
        let certificate = |role| TokenCertificate {
            id: vec![1],
            label: String::new(),
            der: Vec::new(),
            fields: fields(None, false, false),
            role,
        };
        let only_auth = [certificate(Role::Root), certificate(Role::Authentication)];
        assert_eq!(
            default_for(&only_auth, Role::NonRepudiation).map(|c| c.role),
            Some(Role::Authentication)
        );
        assert!(default_for(&[certificate(Role::Root)], Role::Authentication).is_none());
    }
}
