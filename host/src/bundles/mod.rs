//! Signed module bundles on the connector side: which publisher keys are trusted, the install
//! state on disk, and the [`Installer`] that verifies, installs, removes and rolls back modules
//! while the connector runs.
//!
//! The bundle format itself (zip, manifest, digest, Ed25519 signature) lives in the `t1c-bundle`
//! crate, shared with the module-author CLI and the Distribution Service; see its `FORMAT.md`.
//!
//! A bundle is installed only when it is signed by a trusted key and its digest matches, its
//! contract version is one this host implements, the configuration allows every capability it
//! declares, its version policy holds (no downgrade or version reuse unless pinned), and its
//! component loads and says what its manifest says.

mod error;
mod installer;
mod store;

pub use error::InstallError;
pub use installer::{InstallOptions, InstallOutcome, Installer, ModuleStatus};
pub use store::{InstallState, ModuleEntry, Store, StoreError, StoredBundle};

use t1c_bundle::{PublicKey, TrustStore};

/// The public half of the development key that `cargo xtask build-modules` signs this
/// repository's modules with. Trusted by default only in debug builds (local runs and tests);
/// its secret half is in the repository, so a release build must never trust it by default.
pub const DEVELOPMENT_KEY: &str = include_str!("development-key.pub");

/// Why the trust store cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("modules.trusted_keys: `{key}` is not a public key: {reason}")]
pub struct TrustError {
    /// The configured text.
    pub key: String,
    /// Why it does not parse.
    pub reason: String,
}

/// The trust store from the configured public keys (one-line form, see `t1c-bundle`), plus the
/// development key when `development` is set.
///
/// # Errors
/// [`TrustError`] for a key that does not parse.
pub fn trust_store(keys: &[String], development: bool) -> Result<TrustStore, TrustError> {
    let mut trust = TrustStore::new();
    let development_key = development.then_some(DEVELOPMENT_KEY.trim());
    for key in keys.iter().map(|k| k.trim()).chain(development_key) {
        let parsed: PublicKey = key.parse().map_err(|e: t1c_bundle::BundleError| TrustError {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        trust.add(parsed);
    }
    Ok(trust)
}
