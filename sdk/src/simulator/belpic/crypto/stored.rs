//! A [`TestPki`] kept as PEM text, so a program that simulates the same persona at every start
//! (`t1c serve --simulate`) generates its keys once instead of at every start.
//!
//! The text is a sequence of PEM documents in a fixed order: for the root, the CA, the
//! authentication, the non-repudiation and the RRN key in turn, the key (`PRIVATE KEY`,
//! PKCS#8) and then its certificate (`CERTIFICATE`); on applet 1.8 the basic card key last. The
//! applet version follows from the key type. The private keys are unencrypted: they are test
//! keys that no real eID chains to, and the file is for one user's data directory.

use der::pem::{self, LineEnding};
use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};

use super::keys::PrivateKey;
use super::pki::{CertificateRole, TestPki};
use crate::simulator::belpic::AppletVersion;
use crate::simulator::belpic::error::BelpicError;

const KEY: &str = "PRIVATE KEY";
const CERTIFICATE: &str = "CERTIFICATE";
/// The roles in the order their key and certificate are written.
const ORDER: [CertificateRole; 5] = [
    CertificateRole::Root,
    CertificateRole::Ca,
    CertificateRole::Authentication,
    CertificateRole::NonRepudiation,
    CertificateRole::Rrn,
];
/// The longest text [`TestPki::from_pem`] reads (a 1.7 PKI is about 12 KiB).
const MAX_LEN: usize = 64 * 1024;

impl TestPki {
    /// The PKI as PEM text (see the module docs); read back with [`TestPki::from_pem`].
    ///
    /// # Errors
    /// [`BelpicError::Stored`] if a key cannot be encoded.
    pub fn to_pem(&self) -> Result<String, BelpicError> {
        let mut text = String::new();
        for role in ORDER {
            text.push_str(&key_pem(self.private_key(role))?);
            text.push_str(&document(CERTIFICATE, self.certificate(role))?);
        }
        if let Some(basic) = self.basic_key() {
            text.push_str(&key_pem(basic)?);
        }
        Ok(text)
    }

    /// The PKI [`TestPki::to_pem`] wrote.
    ///
    /// # Errors
    /// [`BelpicError::Stored`] for text that is not such a PKI: not PEM, documents missing,
    /// out of order or of mixed key types, a key that does not decode, or text over 64 KiB.
    pub fn from_pem(text: &str) -> Result<Self, BelpicError> {
        if text.len() > MAX_LEN {
            return Err(stored(format!("longer than {MAX_LEN} bytes")));
        }
        let mut documents = documents(text)?.into_iter();
        let mut next = |label: &str| -> Result<Vec<u8>, BelpicError> {
            match documents.next() {
                Some((found, bytes)) if found == label => Ok(bytes),
                Some((found, _)) => Err(stored(format!("a {found} where a {label} belongs"))),
                None => Err(stored(format!("ends where a {label} belongs"))),
            }
        };
        let mut issued = Vec::with_capacity(ORDER.len());
        for _ in ORDER {
            let key = decode_key(&next(KEY)?)?;
            issued.push((key, next(CERTIFICATE)?));
        }
        let version = match issued.first() {
            Some((PrivateKey::Rsa(_), _)) => AppletVersion::V1_7,
            _ => AppletVersion::V1_8,
        };
        if issued.iter().any(|(key, _)| version_of(key) != version) {
            return Err(stored("keys of different types".into()));
        }
        let basic = match version {
            AppletVersion::V1_7 => None,
            AppletVersion::V1_8 => Some(decode_key(&next(KEY)?)?),
        };
        if basic.as_ref().is_some_and(|key| version_of(key) != version) {
            return Err(stored("keys of different types".into()));
        }
        if let Some((label, _)) = documents.next() {
            return Err(stored(format!("an unexpected {label} after the last key")));
        }
        let mut issued = issued.into_iter();
        let mut take = || issued.next().ok_or_else(|| stored("too few keys".into()));
        let (root, ca, authentication, non_repudiation, rrn) =
            (take()?, take()?, take()?, take()?, take()?);
        Ok(TestPki::from_parts(version, [root, ca, authentication, non_repudiation, rrn], basic))
    }
}

fn version_of(key: &PrivateKey) -> AppletVersion {
    match key {
        PrivateKey::Rsa(_) => AppletVersion::V1_7,
        PrivateKey::Ec(_) => AppletVersion::V1_8,
    }
}

fn key_pem(key: &PrivateKey) -> Result<String, BelpicError> {
    let der = match key {
        PrivateKey::Rsa(key) => key.to_pkcs8_der(),
        PrivateKey::Ec(key) => key.to_pkcs8_der(),
    }
    .map_err(|err| stored(format!("encoding a key: {err}")))?;
    document(KEY, der.as_bytes())
}

fn decode_key(der: &[u8]) -> Result<PrivateKey, BelpicError> {
    if let Ok(key) = RsaPrivateKey::from_pkcs8_der(der) {
        return Ok(PrivateKey::Rsa(key));
    }
    p384::ecdsa::SigningKey::from_pkcs8_der(der)
        .map(PrivateKey::Ec)
        .map_err(|_| stored("a key that is neither RSA nor P-384 PKCS#8".into()))
}

fn document(label: &str, der: &[u8]) -> Result<String, BelpicError> {
    pem::encode_string(label, LineEnding::LF, der)
        .map_err(|err| stored(format!("encoding a {label}: {err}")))
}

/// Every PEM document of `text`, as its label and bytes.
fn documents(text: &str) -> Result<Vec<(String, Vec<u8>)>, BelpicError> {
    const BEGIN: &str = "-----BEGIN ";
    let mut found = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if !rest.starts_with(BEGIN) {
            return Err(stored("text outside the PEM documents".into()));
        }
        let end = rest[BEGIN.len()..].find(BEGIN).map_or(rest.len(), |i| i + BEGIN.len());
        let (one, after) = rest.split_at(end);
        let (label, bytes) =
            pem::decode_vec(one.as_bytes()).map_err(|err| stored(format!("not PEM: {err}")))?;
        found.push((label.to_owned(), bytes));
        rest = after.trim_start();
    }
    Ok(found)
}

fn stored(message: String) -> BelpicError {
    BelpicError::Stored(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::belpic::Persona;

    fn pki(version: AppletVersion) -> TestPki {
        TestPki::generate_seeded(&Persona::default_citizen(), version, 7).expect("PKI")
    }

    #[test]
    fn round_trips_both_applet_versions() {
        for version in [AppletVersion::V1_7, AppletVersion::V1_8] {
            let original = pki(version);
            let read = TestPki::from_pem(&original.to_pem().expect("PEM")).expect("read back");
            assert_eq!(read.version(), version);
            for role in CertificateRole::ALL {
                assert_eq!(read.certificate(role), original.certificate(role));
                assert_eq!(read.public_key(role), original.public_key(role));
            }
            assert_eq!(read.basic_public_key(), original.basic_public_key());
        }
    }

    #[test]
    fn refuses_what_it_did_not_write() {
        let text = pki(AppletVersion::V1_8).to_pem().expect("PEM");
        let first_cert = text.find("-----BEGIN CERTIFICATE").expect("a certificate");
        let cases = [
            String::new(),
            "garbage".to_owned(),
            text[..first_cert].to_owned(),
            text[first_cert..].to_owned(),
            format!("{text}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            text.replace("PRIVATE KEY", "CERTIFICATE"),
            text.replacen("MI", "!!", 1),
            "x".repeat(MAX_LEN + 1),
        ];
        for case in cases {
            assert!(
                matches!(TestPki::from_pem(&case), Err(BelpicError::Stored(_))),
                "accepted {:?}",
                &case[..case.len().min(60)]
            );
        }
    }
}
