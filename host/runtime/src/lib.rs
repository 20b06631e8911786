//! # t1c-runtime: the T1C WebAssembly runtime
//!
//! One engine, the compiled-component cache, the capability granter, the host side of the
//! contract's imports, and [`LoadedModule`]s whose exports can be called with a device. Used by
//! the connector, the module author's CLI (`t1c-module`), `cargo xtask` and the Distribution
//! Service; it needs no system library.
//!
//! Loading a module: read and hash it, compile it (or load it from the cache), check its imports
//! against the contract, link only the capabilities it may have, pre-instantiate it, and read
//! its manifest in a first sandboxed call (kept beside the cache entry, so later starts do not
//! run the module to serve it). Calling a module: a fresh instance from the pooling
//! allocator, the call's device and PIN as resource handles, a CPU and wall-time deadline
//! enforced through epochs, a memory cap, and the module's output sent to the log.
//!
//! This crate knows nothing about HTTP, PC/SC or PKCS#11 libraries: callers hand it a
//! [`t1c_sdk::Card`] or a [`Pkcs11Slot`].
//!
//! - [`imports`]: one file per contract interface (`pin`, `log`, `reader`, `pkcs11`, `files`).
//! - `store`: what one call's `Store` holds, composed of the interfaces' contexts.
//! - `contract`: the contract versions this host serves (0.1.0 and 0.2.0), and how the host
//!   links and calls each through its own generated bindings (`bindings`) from one source
//!   (`src/versioned/`): read it before changing the contract.
//! - `capabilities`: which capabilities and which contract version a component uses.
//! - `module`, `registry`, `manifest`: loaded modules, the served set, their manifests.
//! - `bundle_check`: what a signed bundle's module must be to load ([`ModuleRefused`]).
#![deny(missing_docs)]

mod bindings;
mod bundle_check;
mod cache;
mod capabilities;
mod contract;
mod engine;
mod error;
pub mod imports;
mod limits;
mod manifest;
mod module;
mod registry;
mod store;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

use t1c_sdk::Capability;

use crate::contract::Contract;

pub use bundle_check::ModuleRefused;
pub use cache::{CacheOutcome, ComponentCache};
pub use contract::{CONTRACT_VERSION, SUPPORTED_CONTRACTS, contract_compatible};
pub use error::{CallError, LoadError, RuntimeError};
pub use imports::files::{Content, FileAccess, FileCall, Folder, Outgoing};
pub use imports::pin::PinSecret;
pub use imports::pkcs11::{Session as Pkcs11Session, Slot as Pkcs11Slot};
pub use limits::CallLimits;
pub use manifest::manifest_of;
pub use module::{Device, LoadedModule};
pub use registry::{ModuleSet, Registry};

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Capabilities modules may be granted. A module needing another one does not load.
    pub granted: BTreeSet<Capability>,
    /// Limits of every call.
    pub limits: CallLimits,
    /// Instances that may exist at once across all modules (calls in flight).
    pub max_instances: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            granted: Capability::ALL.into_iter().collect(),
            limits: CallLimits::default(),
            max_instances: 64,
        }
    }
}

/// The runtime. Cheap to share behind an [`Arc`]; loading and calling take `&self`.
pub struct Runtime {
    engine: Engine,
    cache: Option<ComponentCache>,
    config: RuntimeConfig,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, starts its epoch ticker and opens the cache.
    ///
    /// # Errors
    /// [`RuntimeError`]: the engine cannot be created (for instance not enough virtual address
    /// space for the pool), the ticker thread cannot start, or the cache directory cannot be
    /// created.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = engine::build(config.max_instances, config.limits.memory_bytes)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        engine::start_epoch_ticker(&engine).map_err(RuntimeError::EpochTicker)?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(
                ComponentCache::open(dir)
                    .map_err(|source| RuntimeError::Cache { path: dir.clone(), source })?,
            ),
            None => None,
        };
        Ok(Self { engine, cache, config })
    }

    /// The configuration the runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Loads a component from a file.
    ///
    /// # Errors
    /// [`LoadError`] saying why the module cannot be served.
    pub fn load_file(&self, path: &Path) -> Result<LoadedModule, LoadError> {
        let wasm = std::fs::read(path)
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        self.load(&wasm, &path.display().to_string())
    }

    /// Loads a component from its bytes; `label` names it in errors until its manifest is read.
    ///
    /// # Errors
    /// [`LoadError`] saying why the module cannot be served.
    pub fn load(&self, wasm: &[u8], label: &str) -> Result<LoadedModule, LoadError> {
        let sha256: [u8; 32] = Sha256::digest(wasm).into();
        let compile = |e: wasmtime::Error| LoadError::Compile(format!("{e:#}"));
        let (component, outcome, manifest_file) = match &self.cache {
            Some(cache) => {
                let (component, outcome, manifest_file) =
                    cache.load_or_compile(&self.engine, wasm, &sha256).map_err(compile)?;
                (component, outcome, Some(manifest_file))
            }
            None => (
                wasmtime::component::Component::new(&self.engine, wasm).map_err(compile)?,
                CacheOutcome::Uncached,
                None,
            ),
        };
        let inspected = capabilities::inspect(&self.engine, &component)?;
        let available = imports::available(inspected.contract);
        for capability in &inspected.used {
            if !self.config.granted.contains(capability) {
                return Err(LoadError::CapabilityNotGranted {
                    module: label.to_owned(),
                    capability: *capability,
                });
            }
            if !available.contains(capability) {
                return Err(LoadError::CapabilityUnavailable {
                    module: label.to_owned(),
                    capability: *capability,
                });
            }
        }
        let mut linker = imports::linker(&self.engine, &inspected.used, inspected.contract)?;
        // Whatever else of WASI it imports (files, sockets) traps when called.
        imports::wasi::trap_unprovided(&mut linker, &self.engine, &component)
            .map_err(imports::link_error)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(imports::link_error)?;
        let exports = module::Exports::new(inspected.contract, instance_pre)?;

        // A compiled entry loaded from the cache comes with the manifest its first call returned
        // (and that passed the checks below then): the module is not run to be served.
        let kept = match (&manifest_file, outcome) {
            (Some(file), CacheOutcome::Hit) => file.read().filter(|m| m.validate().is_ok()),
            _ => None,
        };
        let asked = kept.is_none();
        let manifest = match kept {
            Some(manifest) => manifest,
            None => {
                let caller = module::Caller::new(&self.engine, label.into(), &self.config.limits);
                exports.describe(&caller).map_err(|e| LoadError::ManifestCall(Box::new(e)))?
            }
        };
        manifest.validate().map_err(|source| LoadError::InvalidManifest {
            module: manifest.name.clone(),
            source,
        })?;
        match Contract::of(&manifest.contract) {
            None => {
                return Err(LoadError::ContractMismatch {
                    found: manifest.contract.clone(),
                    supported: SUPPORTED_CONTRACTS,
                });
            }
            Some(contract) if contract != inspected.contract => {
                return Err(LoadError::ManifestContract {
                    module: manifest.name.clone(),
                    manifest: manifest.contract.clone(),
                    component: inspected.contract.version(),
                });
            }
            Some(_) => {}
        }
        if let Some(capability) = inspected.used.iter().find(|c| !manifest.capabilities.contains(c))
        {
            return Err(LoadError::UndeclaredCapability {
                module: manifest.name.clone(),
                capability: *capability,
            });
        }
        if let Some(capability) =
            manifest.capabilities.iter().find(|c| !self.config.granted.contains(c))
        {
            return Err(LoadError::CapabilityNotGranted {
                module: manifest.name.clone(),
                capability: *capability,
            });
        }
        if asked && let Some(file) = &manifest_file {
            file.write(&manifest);
        }
        tracing::info!(
            module = %manifest.name,
            version = %manifest.version,
            contract = inspected.contract.version(),
            cache = ?outcome,
            "module loaded"
        );
        Ok(LoadedModule::new(
            manifest,
            exports,
            self.engine.clone(),
            self.config.limits.clone(),
            sha256,
            inspected.used,
            outcome,
        ))
    }
}
