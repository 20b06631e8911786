//! The installer: verifies a bundle, loads its component, records it durably, and swaps it into
//! the served module set.
//!
//! The order is what makes a refusal harmless and a crash safe: every check (bundle, signer,
//! contract, capabilities, version policy, the component itself) happens before anything is
//! written; the bundle file is written before the state mentions it; the served set changes
//! only after the state is on disk. Requests already running keep the module they started with
//! (they hold its `Arc`); new requests get the new one at once.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use t1c_bundle::{Bundle, TrustStore, VerifiedBundle};

use super::error::InstallError;
use super::store::{InstallState, ModuleEntry, Store, StoredBundle};
use t1c_runtime::{LoadedModule, ModuleRefused, ModuleSet, Runtime};

/// How an install is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstallOptions {
    /// Pin this exact version: allows a lower or an equal version with another digest, and
    /// marks the module pinned so that only another pinned install changes it.
    pub pin: bool,
}

/// What an install or a rollback did, as the admin API sends it (digest and signer in hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallOutcome {
    /// The module.
    pub module: String,
    /// The version served now.
    pub version: String,
    /// The version served before, if any.
    pub replaced: Option<String>,
    /// The digest of the bundle served now.
    pub digest: String,
    /// The key that signed it.
    pub signer: String,
    /// Whether the module is pinned.
    pub pinned: bool,
    /// False when the same bundle was already installed (nothing changed but maybe the pin).
    pub changed: bool,
}

/// One installed module, for `t1c modules list`, as the admin API sends it (digest and signer
/// in hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleStatus {
    /// The module.
    pub name: String,
    /// The installed version.
    pub version: String,
    /// Its bundle digest.
    pub digest: String,
    /// The key that signed it.
    pub signer: String,
    /// Whether it is pinned.
    pub pinned: bool,
    /// The version kept for rollback.
    pub previous: Option<String>,
    /// Whether this process serves it (false when it failed to load, see the log).
    pub served: bool,
}

/// Installs, removes and rolls back modules; owns the store and updates the served set.
pub struct Installer {
    runtime: Arc<Runtime>,
    /// The configured keys.
    configured: TrustStore,
    /// The configured keys and the DS's publisher keys: what bundles are verified against.
    trust: arc_swap::ArcSwap<TrustStore>,
    modules: Arc<ModuleSet>,
    store: Mutex<Store>,
}

impl std::fmt::Debug for Installer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installer").finish_non_exhaustive()
    }
}

impl Installer {
    /// An installer over `store` that serves into `modules` and trusts the keys of `trust`.
    /// The capabilities modules may have are the runtime's granted ones.
    pub fn new(
        runtime: Arc<Runtime>,
        trust: TrustStore,
        modules: Arc<ModuleSet>,
        store: Store,
    ) -> Self {
        Self {
            runtime,
            trust: arc_swap::ArcSwap::from_pointee(trust.clone()),
            configured: trust,
            modules,
            store: Mutex::new(store),
        }
    }

    /// Trusts `keys` (the DS's publisher keys) besides the configured ones, replacing the DS's
    /// keys trusted before. Installed modules stay served.
    pub fn set_extra_trust(&self, keys: Vec<t1c_bundle::PublicKey>) {
        let mut trust = self.configured.clone();
        for key in keys {
            trust.add(key);
        }
        self.trust.store(Arc::new(trust));
    }

    /// The set the installer serves into.
    pub fn modules(&self) -> &Arc<ModuleSet> {
        &self.modules
    }

    /// Loads every installed module into the served set (at startup). A module that no longer
    /// verifies or loads (its signer was removed from the trust store, the host changed...) is
    /// not served; the failures are returned, by module name, and logged.
    pub fn load_installed(&self) -> Vec<(String, InstallError)> {
        let store = self.store();
        let mut failures = Vec::new();
        for (name, entry) in &store.state().modules {
            match self.load_stored(&store, name, &entry.current) {
                Ok(module) => {
                    self.modules.update(|set| {
                        set.replace(module.clone());
                    });
                }
                Err(err) => {
                    tracing::error!(module = %name, "installed module not served: {err}");
                    failures.push((name.clone(), err));
                }
            }
        }
        failures
    }

    /// Verifies and installs a bundle, and serves it from now on.
    ///
    /// # Errors
    /// [`InstallError`] saying why; the installed and served sets are then unchanged.
    pub fn install(
        &self,
        bytes: &[u8],
        options: InstallOptions,
    ) -> Result<InstallOutcome, InstallError> {
        let outcome = self.install_bundle(bytes, options);
        // The bundle, its component and the compilation were transient.
        crate::heap::release_free();
        outcome
    }

    fn install_bundle(
        &self,
        bytes: &[u8],
        options: InstallOptions,
    ) -> Result<InstallOutcome, InstallError> {
        let bundle = Bundle::read(bytes)?.verify(&self.trust.load())?;
        self.runtime.check_bundle_manifest(&bundle)?;
        let manifest = bundle.manifest();
        let name = manifest.name.to_string();
        let digest = bundle.digest();
        let signer = bundle.signer().clone();

        let mut store = self.store();
        let existing = store.state().modules.get(&name).cloned();
        if let Some(entry) = &existing {
            let installed = &entry.current;
            if installed.digest == digest {
                // Already installed; serve it if it is not served (it failed at startup).
                let served = self.modules.snapshot().get(&name).is_some_and(|m| {
                    m.manifest().version == installed.version.to_string()
                        && m.sha256() == bundle_wasm_sha256(&bundle)
                });
                if !served {
                    let module = self.load_component(&bundle)?;
                    self.modules.update(|set| {
                        set.replace(module.clone());
                    });
                }
                let pinned = entry.pinned || options.pin;
                if pinned != entry.pinned {
                    let mut state = store.state().clone();
                    state.modules.insert(name.clone(), ModuleEntry { pinned, ..entry.clone() });
                    store.commit(state)?;
                }
                return Ok(outcome(&name, installed, None, pinned, !served));
            }
            if !options.pin {
                if entry.pinned {
                    return Err(InstallError::Pinned {
                        module: name,
                        pinned: installed.version.clone(),
                        offered: manifest.version.clone(),
                    });
                }
                // Build metadata (`+...`) does not make another version: compare precedence.
                let order = manifest.version.cmp_precedence(&installed.version);
                if order == std::cmp::Ordering::Equal {
                    return Err(InstallError::VersionReused {
                        module: name,
                        version: installed.version.clone(),
                        installed: installed.digest,
                    });
                }
                if order == std::cmp::Ordering::Less {
                    return Err(InstallError::Downgrade {
                        module: name,
                        installed: installed.version.clone(),
                        offered: manifest.version.clone(),
                    });
                }
            }
        }

        let module = self.load_component(&bundle)?;
        let stored = store.put(&name, &manifest.version, &digest, &signer, bytes)?;
        let replaced = existing.as_ref().map(|entry| entry.current.clone());
        let mut state: InstallState = store.state().clone();
        state.modules.insert(
            name.clone(),
            ModuleEntry {
                current: stored.clone(),
                previous: replaced.clone(),
                pinned: options.pin,
            },
        );
        store.commit(state)?;
        self.modules.update(|set| {
            set.replace(module.clone());
        });
        tracing::info!(
            module = %name,
            version = %stored.version,
            replaced = ?replaced.as_ref().map(|b| b.version.to_string()),
            signer = %signer,
            pinned = options.pin,
            "module installed"
        );
        Ok(outcome(&name, &stored, replaced.as_ref(), options.pin, true))
    }

    /// Stops serving `name` and forgets it (and its previous version).
    ///
    /// # Errors
    /// [`InstallError::NotInstalled`], or the state cannot be written (nothing changed).
    pub fn remove(&self, name: &str) -> Result<(), InstallError> {
        let mut store = self.store();
        let mut state = store.state().clone();
        if state.modules.remove(name).is_none() {
            return Err(InstallError::NotInstalled(name.to_owned()));
        }
        store.commit(state)?;
        self.modules.update(|set| {
            set.remove(name);
        });
        tracing::info!(module = %name, "module removed");
        Ok(())
    }

    /// Serves the previous version of `name` again; the version it replaces becomes the
    /// previous one (so a second rollback undoes the first).
    ///
    /// # Errors
    /// [`InstallError::NotInstalled`], [`InstallError::NoPrevious`], or the previous bundle no
    /// longer verifies or loads (nothing changed).
    pub fn rollback(&self, name: &str) -> Result<InstallOutcome, InstallError> {
        let mut store = self.store();
        let entry = store
            .state()
            .modules
            .get(name)
            .cloned()
            .ok_or_else(|| InstallError::NotInstalled(name.to_owned()))?;
        let previous =
            entry.previous.clone().ok_or_else(|| InstallError::NoPrevious(name.into()))?;
        let module = self.load_stored(&store, name, &previous)?;
        let mut state = store.state().clone();
        state.modules.insert(
            name.to_owned(),
            ModuleEntry {
                current: previous.clone(),
                previous: Some(entry.current.clone()),
                pinned: entry.pinned,
            },
        );
        store.commit(state)?;
        self.modules.update(|set| {
            set.replace(module.clone());
        });
        tracing::info!(
            module = %name,
            version = %previous.version,
            from = %entry.current.version,
            "module rolled back"
        );
        Ok(outcome(name, &previous, Some(&entry.current), entry.pinned, true))
    }

    /// Every installed module.
    pub fn list(&self) -> Vec<ModuleStatus> {
        let store = self.store();
        let served = self.modules.snapshot();
        store
            .state()
            .modules
            .iter()
            .map(|(name, entry)| ModuleStatus {
                name: name.clone(),
                version: entry.current.version.to_string(),
                digest: entry.current.digest.to_string(),
                signer: entry.current.signer.to_string(),
                pinned: entry.pinned,
                previous: entry.previous.as_ref().map(|b| b.version.to_string()),
                served: served
                    .get(name)
                    .is_some_and(|m| m.manifest().version == entry.current.version.to_string()),
            })
            .collect()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads, re-verifies and loads a stored bundle.
    fn load_stored(
        &self,
        store: &Store,
        name: &str,
        stored: &StoredBundle,
    ) -> Result<Arc<LoadedModule>, InstallError> {
        let bytes = store.read(stored)?;
        let bundle = Bundle::read(&bytes)?.verify(&self.trust.load())?;
        if bundle.digest() != stored.digest {
            return Err(InstallError::StoredBundleChanged {
                module: name.to_owned(),
                expected: stored.digest,
                found: bundle.digest(),
            });
        }
        if bundle.manifest().name != name {
            return Err(ModuleRefused::ManifestMismatch {
                module: name.to_owned(),
                field: "name",
                bundle: bundle.manifest().name.to_string(),
                component: name.to_owned(),
            }
            .into());
        }
        self.load_component(&bundle)
    }

    /// Checks the bundle's module as every T1C runtime does, and loads it.
    fn load_component(&self, bundle: &VerifiedBundle) -> Result<Arc<LoadedModule>, InstallError> {
        Ok(Arc::new(self.runtime.load_bundle(bundle)?))
    }
}

/// SHA-256 of a bundle's component, as the runtime reports it for a loaded module.
fn bundle_wasm_sha256(bundle: &VerifiedBundle) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bundle.wasm()).into()
}

fn outcome(
    name: &str,
    current: &StoredBundle,
    replaced: Option<&StoredBundle>,
    pinned: bool,
    changed: bool,
) -> InstallOutcome {
    InstallOutcome {
        module: name.to_owned(),
        version: current.version.to_string(),
        replaced: replaced.map(|b| b.version.to_string()),
        digest: current.digest.to_string(),
        signer: current.signer.to_string(),
        pinned,
        changed,
    }
}
