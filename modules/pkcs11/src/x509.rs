//! What the module reads from a certificate: names and serial for the JSON, key usage and CA
//! flag for the role, and the public key for `validate`.

use der::Decode;
use der::Encode;
use der::oid::ObjectIdentifier;
use t1c_sdk::{Error, Result};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

/// id-ce-keyUsage, 2.5.29.15.
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// id-ce-basicConstraints, 2.5.29.19.
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

/// The fields of a certificate this module uses.
#[derive(Debug, Clone)]
pub struct CertificateFields {
    /// Serial number, upper-case hex of the INTEGER's content.
    pub serial_number: String,
    /// Issuer DN, RFC 4514.
    pub issuer: String,
    /// Subject DN, RFC 4514.
    pub subject: String,
    /// The key usage bits the role depends on; `None` without the extension.
    pub usage: Option<Usage>,
    /// basicConstraints cA.
    pub ca: bool,
    /// The subject public key, DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// The key usage bits that decide a certificate's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// digitalSignature.
    pub digital_signature: bool,
    /// nonRepudiation (contentCommitment).
    pub non_repudiation: bool,
    /// keyCertSign.
    pub key_cert_sign: bool,
}

impl CertificateFields {
    /// Parses a DER certificate.
    ///
    /// # Errors
    /// [`Error::Internal`] when the bytes are not a certificate.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let certificate = Certificate::from_der(der)
            .map_err(|err| Error::internal(format!("certificate on the token: {err}")))?;
        let tbs = &certificate.tbs_certificate;
        let mut usage = None;
        let mut ca = false;
        for extension in tbs.extensions.iter().flatten() {
            let value = extension.extn_value.as_bytes();
            if extension.extn_id == KEY_USAGE {
                if let Ok(bits) = KeyUsage::from_der(value) {
                    usage = Some(Usage {
                        digital_signature: bits.digital_signature(),
                        non_repudiation: bits.non_repudiation(),
                        key_cert_sign: bits.key_cert_sign(),
                    });
                }
            } else if extension.extn_id == BASIC_CONSTRAINTS {
                ca = BasicConstraints::from_der(value).is_ok_and(|c| c.ca);
            }
        }
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|err| Error::internal(format!("certificate public key: {err}")))?;
        Ok(Self {
            serial_number: hex::encode_upper(tbs.serial_number.as_bytes()),
            issuer: tbs.issuer.to_string(),
            subject: tbs.subject.to_string(),
            usage,
            ca: ca || usage.is_some_and(|u| u.key_cert_sign),
            spki,
        })
    }

    /// Whether issuer and subject are the same name.
    pub fn self_issued(&self) -> bool {
        self.issuer == self.subject
    }
}
