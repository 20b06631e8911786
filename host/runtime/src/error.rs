//! Errors of the runtime: loading a module ([`LoadError`]) and calling it ([`CallError`]).

use std::path::PathBuf;
use std::time::Duration;

use t1c_sdk::Capability;
use t1c_sdk::module::ManifestError;

/// Why a module could not be loaded. The module is not served; every other module is unaffected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read module file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid WebAssembly component for this engine.
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    /// The component imports something the host never provides.
    #[error("the component imports `{0}`, which T1C does not provide")]
    UnknownImport(String),
    /// The component was built against a contract version this host cannot serve.
    #[error(
        "the component uses contract {found}, this host serves {}",
        supported.join(", ")
    )]
    ContractMismatch {
        /// The version the component imports or exports.
        found: String,
        /// The contract versions this host serves.
        supported: &'static [&'static str],
    },
    /// The component's imports and exports name more than one contract version.
    #[error(
        "the component mixes contract versions {} in its imports and exports; a module is \
         built against one",
        .0.join(", ")
    )]
    MixedContracts(Vec<String>),
    /// The manifest names another contract version than the component's imports and exports.
    #[error(
        "module `{module}`: its manifest says contract {manifest}, its component is built \
         against {component}"
    )]
    ManifestContract {
        /// The module.
        module: String,
        /// The version in the manifest.
        manifest: String,
        /// The version of the component's imports and exports.
        component: &'static str,
    },
    /// The component lacks an export of the contract or exports it with the wrong types.
    #[error("the component does not export the T1C contract: {0}")]
    MissingExport(String),
    /// The component imports a capability its manifest does not declare.
    #[error(
        "module `{module}` imports capability `{capability}` but its manifest does not declare it"
    )]
    UndeclaredCapability {
        /// The module's name (or file, when the manifest could not be read yet).
        module: String,
        /// The capability.
        capability: Capability,
    },
    /// The module needs a capability the connector's configuration does not grant it.
    #[error("module `{module}` needs capability `{capability}`, which is not granted to it")]
    CapabilityNotGranted {
        /// The module.
        module: String,
        /// The capability.
        capability: Capability,
    },
    /// The capability exists in the contract but this connector build does not provide it yet.
    #[error(
        "module `{module}` needs capability `{capability}`, which this connector does not provide"
    )]
    CapabilityUnavailable {
        /// The module.
        module: String,
        /// The capability.
        capability: Capability,
    },
    /// The manifest the module exports is invalid.
    #[error("module `{module}` has an invalid manifest: {source}")]
    InvalidManifest {
        /// The module's declared name.
        module: String,
        /// What is wrong.
        source: ManifestError,
    },
    /// Reading the manifest failed (the module trapped, looped or ran out of memory).
    #[error("reading the manifest failed: {0}")]
    ManifestCall(#[source] Box<CallError>),
    /// Linking or pre-instantiation failed for another reason.
    #[error("cannot link the component: {0}")]
    Link(String),
    /// A module with the same name is already loaded.
    #[error("a module named `{0}` is already loaded")]
    Duplicate(String),
}

/// Why a call into a module failed. Only this call is affected: the instance is discarded and
/// the next call gets a fresh one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The module ran and returned one of the contract's typed errors.
    #[error("module `{module}`: {error}")]
    Module {
        /// The module.
        module: String,
        /// Its error.
        error: t1c_sdk::Error,
    },
    /// The module used more CPU time, or the whole call more wall time, than allowed.
    #[error("module `{module}` did not finish within its {limit:?} deadline")]
    DeadlineExceeded {
        /// The module.
        module: String,
        /// The limit that was reached.
        limit: Duration,
    },
    /// The module tried to grow its memory past the cap.
    #[error("module `{module}` exceeded its memory limit of {limit} bytes")]
    MemoryExhausted {
        /// The module.
        module: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The module trapped (a panic, an unreachable, an out-of-bounds access...).
    #[error("module `{module}` crashed: {trap}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Trapped {
        /// The module.
        module: String,
        /// The trap as wasmtime reports it.
        trap: String,
        /// The module's last line on stderr (a Rust panic message), if any.
        message: Option<String>,
    },
    /// Every instance slot of the pool is in use.
    #[error("module `{module}` is busy: every instance slot is in use")]
    Busy {
        /// The module.
        module: String,
    },
    /// The request needs something the contract version the module was built against cannot
    /// express (RSA-PSS for a `t1c:card@0.1.0` module). The module was not called.
    #[error("module `{module}`: {what} is not supported by this module's contract ({contract})")]
    NotInContract {
        /// The module.
        module: String,
        /// What was asked.
        what: &'static str,
        /// The module's contract, `t1c:card@0.1.0`.
        contract: &'static str,
    },
    /// The call needs a kind of device this connector cannot pass yet.
    #[error("module `{module}`: {what} is not supported by this connector")]
    Unsupported {
        /// The module.
        module: String,
        /// What was asked.
        what: &'static str,
    },
    /// A host-side failure (instantiation, resource table).
    #[error("module `{module}`: host error: {message}")]
    Host {
        /// The module.
        module: String,
        /// What failed.
        message: String,
    },
}

impl CallError {
    /// The module's own typed error, when it returned one.
    pub fn module_error(&self) -> Option<&t1c_sdk::Error> {
        match self {
            CallError::Module { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why the runtime could not be created ([`Runtime::new`](crate::Runtime::new)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// wasmtime refused the engine configuration (for instance not enough virtual address
    /// space for the instance pool).
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
    /// The thread that advances the engine's epoch (every deadline depends on it) did not start.
    #[error("cannot start the WebAssembly deadline ticker: {0}")]
    EpochTicker(#[source] std::io::Error),
    /// The compiled-component cache directory cannot be created or opened.
    #[error("cannot open the compiled-component cache {path}: {source}")]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
