//! Module delivery: bundles operators upload, checked as a connector checks them
//! ([`BundleChecker`]), and rollouts that assign them to devices in steps ([`rollout`]).

pub mod rollout;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// Its record, `created_at` the time of the check.
    pub record: BundleRecord,
}

/// Checks uploads with the connector's bundle reader and runtime: a bundle the DS accepts is
/// one a connector (granting every capability) installs. The runtime starts on first use (and
/// again on the next upload if it could not).
#[derive(Default)]
pub struct BundleChecker {
    runtime: Mutex<Option<Arc<Runtime>>>,
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
        let runtime = {
            let mut slot = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some(runtime) => runtime.clone(),
                None => {
                    let config = RuntimeConfig { max_instances: 2, ..RuntimeConfig::default() };
                    let runtime = Arc::new(
                        Runtime::new(config)
                            .map_err(|e| UploadError::Unavailable(e.to_string()))?,
                    );
                    *slot = Some(runtime.clone());
                    runtime
                }
            }
        };
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

/// Bundle files kept in memory for downloads (they never change), up to [`Self::BUDGET`] bytes;
/// when a new file would exceed it, the cache starts afresh. Every connector of a rollout
/// downloads the same few files: they are read from the database once per process.
#[derive(Debug, Default)]
pub struct BundleFiles {
    files: Mutex<(HashMap<String, axum::body::Bytes>, usize)>,
}

impl BundleFiles {
    /// Bytes kept at most.
    pub const BUDGET: usize = 256 * 1024 * 1024;

    /// The file of `digest`, if kept.
    pub fn get(&self, digest: &str) -> Option<axum::body::Bytes> {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).0.get(digest).cloned()
    }

    /// Keeps the file of `digest`.
    pub fn keep(&self, digest: &str, file: axum::body::Bytes) {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if files.1 + file.len() > Self::BUDGET {
            *files = (HashMap::new(), 0);
        }
        files.1 += file.len();
        files.0.insert(digest.to_owned(), file);
    }
}
