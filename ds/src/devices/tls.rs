//! TLS keystores for connectors' local HTTPS listeners: what an upload must be (a chain whose
//! leaf is unexpired, names at least one DNS name and matches the key), and which keystore a
//! device is sent at a sync. Storing them is the store's; who may upload is the API's.

use std::sync::Arc;

use der::Decode as _;
use rustls::pki_types::pem::{PemObject as _, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::store::{KeystoreScope, PrivateKeyPem, TlsKeystoreRecord};

/// Default of `[devices] tls_renew_before_secs`: a device whose certificate expires within 30
/// days gets the current one.
pub const DEFAULT_RENEW_BEFORE_SECS: i64 = 30 * 86_400;

/// Why an uploaded keystore is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The chain is not PEM certificates, or a certificate does not parse.
    #[error("chain_pem: {0}")]
    Chain(String),
    /// The key is not one PEM private key of a supported type.
    #[error("key_pem: {0}")]
    Key(String),
    /// The key is not the leaf certificate's.
    #[error("key_pem does not match the leaf certificate's public key")]
    Mismatch,
    /// The leaf certificate has expired.
    #[error("the leaf certificate expired")]
    Expired,
}

/// An uploaded keystore that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedKeystore {
    /// The chain as uploaded.
    pub chain_pem: String,
    /// The key as uploaded.
    pub key_pem: PrivateKeyPem,
    /// The leaf's DNS names.
    pub dns_names: Vec<String>,
    /// The leaf's expiry, seconds since the epoch.
    pub not_after: i64,
    /// SHA-256 of the leaf's DER, hex.
    pub fingerprint: String,
}

/// Checks an upload at `now`: PEM certificates (leaf first) and one PEM private key that is
/// the leaf's, the leaf unexpired and naming at least one DNS name.
///
/// # Errors
/// [`KeystoreError`] naming what is wrong; the key's bytes never appear in it.
pub fn check(chain_pem: &str, key_pem: &str, now: i64) -> Result<CheckedKeystore, KeystoreError> {
    let chain = certificates(chain_pem)?;
    let key = private_key(key_pem)?;
    let leaf = Certificate::from_der(&chain[0])
        .map_err(|e| KeystoreError::Chain(format!("the leaf certificate does not parse: {e}")))?;
    for (n, cert) in chain.iter().enumerate().skip(1) {
        Certificate::from_der(cert).map_err(|e| {
            KeystoreError::Chain(format!("certificate {} does not parse: {e}", n + 1))
        })?;
    }
    let not_after =
        i64::try_from(leaf.tbs_certificate.validity.not_after.to_unix_duration().as_secs())
            .unwrap_or(i64::MAX);
    if not_after <= now {
        return Err(KeystoreError::Expired);
    }
    let dns_names = dns_names(&leaf)?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|_| KeystoreError::Key("not an RSA, ECDSA or Ed25519 key".into()))?;
    let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(KeystoreError::Mismatch);
        }
        Err(e) => return Err(KeystoreError::Chain(format!("cannot compare with the key: {e}"))),
    }
    Ok(CheckedKeystore {
        chain_pem: chain_pem.to_owned(),
        key_pem: PrivateKeyPem::new(key_pem.to_owned()),
        dns_names,
        not_after,
        fingerprint: hex::encode(Sha256::digest(chain[0].as_ref())),
    })
}

/// The unrevoked keystores a sync chooses from, shared by every sync (they are part of the
/// cached sections).
#[derive(Debug, Clone, Default)]
pub struct Keystores(Arc<Vec<TlsKeystoreRecord>>);

impl Keystores {
    /// From every stored keystore: the revoked ones are dropped, the latest expiry first.
    pub fn new(mut all: Vec<TlsKeystoreRecord>) -> Self {
        all.retain(|k| k.revoked_at.is_none());
        all.sort_by(|a, b| b.not_after.cmp(&a.not_after).then(b.created_at.cmp(&a.created_at)));
        Self(Arc::new(all))
    }

    /// The keystore for a device running `version`, serving the labels of `organisations`
    /// (sorted), at `now`: its version's if there is one, else the first of its organisations'
    /// that has one, else the default one; unexpired, the latest expiry first.
    pub fn current(
        &self,
        version: &str,
        organisations: &[String],
        now: i64,
    ) -> Option<&TlsKeystoreRecord> {
        let live = || self.0.iter().filter(move |k| k.not_after > now);
        live()
            .find(|k| matches!(&k.scope, KeystoreScope::Version(v) if v == version))
            .or_else(|| {
                organisations.iter().find_map(|org| {
                    live().find(|k| matches!(&k.scope, KeystoreScope::Organisation(o) if o == org))
                })
            })
            .or_else(|| live().find(|k| k.scope == KeystoreScope::Default))
    }

    /// What to send a device running `version` (serving `organisations`) that holds the certificate `held` (its
    /// fingerprint): the current keystore when the device has none, holds one this DS does not
    /// hand out (its own, or a revoked one), or holds one expiring within `renew_before`
    /// seconds; `None` otherwise.
    pub fn to_send(
        &self,
        version: &str,
        organisations: &[String],
        held: Option<&str>,
        now: i64,
        renew_before: i64,
    ) -> Option<&TlsKeystoreRecord> {
        let current = self.current(version, organisations, now)?;
        if held == Some(current.fingerprint.as_str()) {
            return None;
        }
        match held.and_then(|f| self.0.iter().find(|k| k.fingerprint == f)) {
            // A keystore of a more specific scope than the one held replaces it at once.
            Some(known)
                if known.not_after.saturating_sub(now) > renew_before
                    && rank(&known.scope) >= rank(&current.scope) =>
            {
                None
            }
            _ => Some(current),
        }
    }
}

/// How specific a scope is: version over organisation over default.
fn rank(scope: &KeystoreScope) -> u8 {
    match scope {
        KeystoreScope::Default => 0,
        KeystoreScope::Organisation(_) => 1,
        KeystoreScope::Version(_) => 2,
    }
}

fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, KeystoreError> {
    let mut chain = Vec::new();
    for item in pem_sections(pem) {
        match item {
            Ok((SectionKind::Certificate, der)) => chain.push(CertificateDer::from(der)),
            Ok(_) => {
                return Err(KeystoreError::Chain("holds something other than certificates".into()));
            }
            Err(_) => return Err(KeystoreError::Chain("not PEM".into())),
        }
    }
    if chain.is_empty() {
        return Err(KeystoreError::Chain("no PEM certificate".into()));
    }
    Ok(chain)
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, KeystoreError> {
    let mut keys = Vec::new();
    for item in pem_sections(pem) {
        match item.map(|(kind, der)| PrivateKeyDer::from_pem(kind, der)) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) | Err(_) => return Err(KeystoreError::Key("not one PEM private key".into())),
        }
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        _ => Err(KeystoreError::Key("not one PEM private key".into())),
    }
}

/// The PEM sections of `pem`, in order, each as its kind and DER bytes.
fn pem_sections(
    pem: &str,
) -> impl Iterator<Item = Result<(SectionKind, Vec<u8>), rustls::pki_types::pem::Error>> + '_ {
    let mut reader = pem.as_bytes();
    std::iter::from_fn(move || rustls::pki_types::pem::from_buf(&mut reader).transpose())
}

fn dns_names(leaf: &Certificate) -> Result<Vec<String>, KeystoreError> {
    let san = leaf
        .tbs_certificate
        .get::<SubjectAltName>()
        .map_err(|e| KeystoreError::Chain(format!("subject alternative names: {e}")))?;
    let names: Vec<String> = san
        .map(|(_, san)| san.0)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| match name {
            GeneralName::DnsName(dns) => Some(dns.to_string()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err(KeystoreError::Chain("the leaf certificate names no DNS name".into()));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn keystore(id: &str, scope: KeystoreScope, not_after: i64) -> TlsKeystoreRecord {
        TlsKeystoreRecord {
            id: id.into(),
            scope,
            dns_names: vec!["t1c.local".into()],
            chain_pem: String::new(),
            key_pem: PrivateKeyPem::new(String::new()),
            not_after,
            fingerprint: format!("fp-{id}"),
            created_at: 0,
            revoked_at: None,
        }
    }

    fn fleet() -> Keystores {
        let mut revoked = keystore("revoked", KeystoreScope::Default, 900 * DAY);
        revoked.revoked_at = Some(1);
        Keystores::new(vec![
            keystore("old", KeystoreScope::Default, 20 * DAY),
            keystore("new", KeystoreScope::Default, 365 * DAY),
            keystore("v3", KeystoreScope::Version("3.1.0".into()), 100 * DAY),
            keystore("org-b", KeystoreScope::Organisation("b".into()), 200 * DAY),
            revoked,
        ])
    }

    #[test]
    fn a_version_keystore_wins_over_the_organisation_and_the_default() {
        let fleet = fleet();
        let none: &[String] = &[];
        let orgs = ["a".to_owned(), "b".to_owned()];
        let id = |k: Option<&TlsKeystoreRecord>| k.map(|k| k.id.clone());
        assert_eq!(id(fleet.current("3.1.0", &orgs, 0)).as_deref(), Some("v3"));
        assert_eq!(id(fleet.current("3.0.0", &orgs, 0)).as_deref(), Some("org-b"));
        assert_eq!(id(fleet.current("3.0.0", &orgs[..1], 0)).as_deref(), Some("new"));
        assert_eq!(id(fleet.current("3.0.0", none, 0)).as_deref(), Some("new"));
        assert_eq!(id(fleet.current("3.1.0", none, 101 * DAY)).as_deref(), Some("new"));
        assert_eq!(id(fleet.current("3.0.0", &orgs, 201 * DAY)).as_deref(), Some("new"));
        assert!(fleet.current("3.0.0", &orgs, 400 * DAY).is_none(), "every keystore expired");
    }

    #[test]
    fn only_missing_unknown_or_expiring_certificates_are_replaced() {
        let fleet = fleet();
        let send = |held: Option<&str>| {
            fleet.to_send("3.0.0", &[], held, 0, 30 * DAY).map(|k| k.id.clone())
        };
        assert_eq!(send(None).as_deref(), Some("new"), "none held");
        assert_eq!(send(Some("self-signed")).as_deref(), Some("new"), "unknown");
        assert_eq!(send(Some("fp-revoked")).as_deref(), Some("new"), "revoked");
        assert_eq!(send(Some("fp-old")).as_deref(), Some("new"), "expires within the window");
        assert_eq!(send(Some("fp-new")), None, "the current one");
        assert_eq!(send(Some("fp-v3")), None, "valid for long enough");
        assert!(Keystores::default().to_send("3.0.0", &[], None, 0, DAY).is_none(), "none stored");
        assert_eq!(
            fleet.to_send("3.1.0", &[], Some("fp-new"), 0, 30 * DAY).map(|k| k.id.as_str()),
            Some("v3"),
            "a more specific scope replaces a default keystore at once"
        );
    }
}
