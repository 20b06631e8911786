//! The token's certificates and the role of each: which one is the authentication certificate,
//! which the non-repudiation one, and which private key signs for a role.
//!
//! # The role rule
//!
//! PKCS#11 has no notion of "authentication" or "non-repudiation" key, so the role is read from
//! the certificate, in this order:
//!
//! 1. A CA certificate (basicConstraints cA, or keyCertSign) is the `root` when it is self-issued,
//!    an `intermediate` otherwise.
//! 2. A certificate whose key is on the token (a private or public key object with the same
//!    CKA_ID; when the token shows no key objects before login, every certificate counts):
//!    - key usage nonRepudiation (contentCommitment): `nonRepudiation`;
//!    - otherwise key usage digitalSignature: `authentication`;
//!    - otherwise (key or data encipherment only): `encryption`;
//!    - no key usage extension: by label, `nonRepudiation` when it contains "sign" but not
//!      "auth" (OpenSC's "Signature", "Non-repudiation signing"), `authentication` otherwise.
//! 3. Any other certificate (its key is elsewhere, as the Belgian eID's National Register
//!    certificate): `encryption`.
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

    /// The key in `cert-list` and its `filter`.
    pub fn list_key(self) -> &'static str {
        match self {
            Self::Root => "rootCertificate",
            Self::Intermediate => "intermediateCertificates",
            Self::Authentication => "authenticationCertificate",
            Self::NonRepudiation => "nonRepudiationCertificate",
            Self::Encryption => "encryptionCertificate",
        }
    }

    /// The `certificateType` of an entry.
    pub fn certificate_type(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Intermediate => "intermediate",
            Self::Authentication => "authentication",
            Self::NonRepudiation => "nonRepudiation",
            Self::Encryption => "encryption",
        }
    }

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
        let der = session.value(object.handle)?;
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

/// The role rule (see the module documentation).
pub fn role(fields: &CertificateFields, label: &str, has_key: bool) -> Role {
    if fields.ca {
        return if fields.self_issued() { Role::Root } else { Role::Intermediate };
    }
    if !has_key {
        return Role::Encryption;
    }
    match fields.usage {
        Some(usage) if usage.non_repudiation => Role::NonRepudiation,
        Some(usage) if usage.digital_signature => Role::Authentication,
        Some(_) => Role::Encryption,
        None => {
            let label = label.to_lowercase();
            if label.contains("sign") && !label.contains("auth") {
                Role::NonRepudiation
            } else {
                Role::Authentication
            }
        }
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
