//! TLS keystores for connectors' local HTTPS listeners, as stored: the chain and its private
//! key, for one connector version, one organisation's devices, or every device.

use serde::Serialize;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// Which devices a keystore is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum KeystoreScope {
    /// Every device without a keystore of its own version or organisation.
    Default,
    /// Devices running this connector version.
    Version(String),
    /// Devices serving this organisation's labels (when no version keystore applies).
    Organisation(String),
}

/// A private key in PEM: wiped from memory when dropped, printed as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(Zeroizing<String>);

impl PrivateKeyPem {
    /// Wraps a PEM text.
    pub fn new(pem: String) -> Self {
        Self(Zeroizing::new(pem))
    }

    /// The PEM text, for the store and for a sealed sync answer only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A stored TLS keystore. Serialises without its chain and key: what operators see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TlsKeystoreRecord {
    /// Opaque id.
    pub id: String,
    /// Which devices it is for.
    pub scope: KeystoreScope,
    /// The DNS names of the leaf certificate (its subject alternative names).
    pub dns_names: Vec<String>,
    /// The chain, leaf first, PEM.
    #[serde(skip)]
    pub chain_pem: String,
    /// The leaf's private key, PEM. Never serialised.
    #[serde(skip)]
    pub key_pem: PrivateKeyPem,
    /// When the leaf expires, seconds since the epoch.
    pub not_after: i64,
    /// SHA-256 of the leaf's DER, hex: what a device echoes as its `tls` digest.
    pub fingerprint: String,
    /// Uploaded.
    pub created_at: i64,
    /// When it stopped being handed out, if it did.
    pub revoked_at: Option<i64>,
}
