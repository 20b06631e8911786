//! Module delivery: bundles operators upload, checked as a connector checks them
//! ([`BundleChecker`]), and rollouts that assign them to devices in steps ([`rollout`]).

pub mod rollout;

use std::sync::OnceLock;

use base64::Engine as _;
use t1c_bundle::{Bundle, BundleError, PublicKey, TrustStore};
use t1c_runtime::{ModuleRefused, Runtime, RuntimeConfig};

use crate::store::BundleRecord;

/// Why an uploaded bundle is refused: the connector's own errors, word for word.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The bundle itself: structure, limits, manifest, signature or signer (the connector's
    /// `t1c-bundle` reader).
    #[error("the bundle is refused: {0}")]
    Bundle(#[from] BundleError),
    /// The module inside: contract, capabilities, or the component (the connector's runtime).
    #[error(transparent)]
    Module(#[from] ModuleRefused),
    /// The DS cannot run the check (its WebAssembly engine failed to start).
    #[error("the bundle cannot be checked: {0}")]
    Unavailable(String),
}

/// A bundle that passed every check a connector makes.
#[derive(Debug, Clone)]
pub struct CheckedBundle {
    /// Its record (without `created_at`, set by the caller).
    pub record: BundleRecord,
}

/// Checks uploads with the connector's bundle reader and runtime: a bundle the DS accepts is
/// one a connector (granting every capability) installs. The runtime starts on first use.
#[derive(Default)]
pub struct BundleChecker {
    runtime: OnceLock<Result<Runtime, String>>,
}

impl std::fmt::Debug for BundleChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleChecker").finish_non_exhaustive()
    }
}

impl BundleChecker {
    /// Reads `bytes` as a bundle, verifies its signature against `publisher_keys` (base64
    /// Ed25519 keys, the DS's trusted publisher keys), checks its manifest and loads its
    /// component. CPU-bound (it compiles the component): call it off the async runtime.
    ///
    /// # Errors
    /// [`UploadError`] with the connector's reason.
    pub fn check(
        &self,
        bytes: &[u8],
        publisher_keys: &[String],
        now: i64,
    ) -> Result<CheckedBundle, UploadError> {
        let mut trust = TrustStore::new();
        for key in publisher_keys {
            let decoded = base64::engine::general_purpose::STANDARD.decode(key).ok();
            if let Some(key) = decoded.and_then(|d| <[u8; 32]>::try_from(d).ok())
                && let Ok(key) = PublicKey::from_bytes(&key)
            {
                trust.add(key);
            }
        }
        let bundle = Bundle::read(bytes)?.verify(&trust)?;
        let runtime = self
            .runtime
            .get_or_init(|| {
                Runtime::new(RuntimeConfig { max_instances: 2, ..RuntimeConfig::default() })
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| UploadError::Unavailable(e.clone()))?;
        runtime.load_bundle(&bundle)?;
        let manifest = bundle.manifest();
        Ok(CheckedBundle {
            record: BundleRecord {
                digest: bundle.digest().to_string(),
                module: manifest.name.to_string(),
                version: manifest.version.to_string(),
                signer: bundle.signer().to_string(),
                contract: manifest.contract.to_string(),
                capabilities: manifest.capabilities.iter().map(ToString::to_string).collect(),
                description: manifest.description.clone(),
                size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
                created_at: now,
            },
        })
    }
}
