//! Why a bundle is not installed, removed or rolled back. Every refusal leaves the installed
//! set as it was.

use t1c_bundle::{BundleError, Digest};

use super::store::StoreError;
use t1c_runtime::LoadError;

/// A refused or failed module operation. The message says why, for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The bundle itself is refused: structure, limits, manifest, signature or signer.
    #[error("the bundle is refused: {0}")]
    Bundle(#[from] BundleError),
    /// The module was built for a contract this connector does not implement.
    #[error(
        "module `{module}` is built for contract {found}; this connector implements {supported}"
    )]
    ContractUnsupported {
        /// The module.
        module: String,
        /// The contract version in its manifest.
        found: String,
        /// The contract version of this connector.
        supported: &'static str,
    },
    /// The manifest asks for a capability the configuration does not allow.
    #[error(
        "module `{module}` asks for capability `{capability}`, which this connector's \
         configuration does not allow (modules.granted)"
    )]
    CapabilityForbidden {
        /// The module.
        module: String,
        /// The capability, as the manifest names it.
        capability: String,
    },
    /// The offered version is lower than the installed one.
    #[error(
        "module `{module}` {installed} is installed; {offered} is older and is installed only \
         when pinned explicitly"
    )]
    Downgrade {
        /// The module.
        module: String,
        /// The installed version.
        installed: semver::Version,
        /// The offered version.
        offered: semver::Version,
    },
    /// The installed version is pinned.
    #[error(
        "module `{module}` is pinned at {pinned}; {offered} is installed only when pinned \
         explicitly"
    )]
    Pinned {
        /// The module.
        module: String,
        /// The pinned version.
        pinned: semver::Version,
        /// The offered version.
        offered: semver::Version,
    },
    /// Another bundle with the same version is installed: published versions do not change.
    #[error(
        "module `{module}` {version} is already installed with another digest ({installed}); \
         a published version does not change: give the new build a new version"
    )]
    VersionReused {
        /// The module.
        module: String,
        /// The version.
        version: semver::Version,
        /// The installed bundle's digest.
        installed: Digest,
    },
    /// The component does not load: not a component, no contract exports, a link error...
    #[error("the component of module `{module}` is refused: {source}")]
    Component {
        /// The module, as the bundle names it.
        module: String,
        /// Why the runtime refused it.
        source: LoadError,
    },
    /// The bundle's manifest and the component's own manifest disagree.
    #[error(
        "the bundle says module `{module}` has {field} `{bundle}`, its component says `{component}`"
    )]
    ManifestMismatch {
        /// The module, as the bundle names it.
        module: String,
        /// The field that differs.
        field: &'static str,
        /// The bundle's value.
        bundle: String,
        /// The component's value.
        component: String,
    },
    /// A stored bundle file is not the bundle the install state names (changed on disk).
    #[error(
        "the stored bundle of module `{module}` has digest {found}, not {expected} as installed; \
         reinstall the module"
    )]
    StoredBundleChanged {
        /// The module.
        module: String,
        /// The digest the install state records.
        expected: Digest,
        /// The digest of the file found.
        found: Digest,
    },
    /// No module of that name is installed.
    #[error("no module `{0}` is installed")]
    NotInstalled(String),
    /// Rollback asked, but no previous version is kept.
    #[error("module `{0}` has no previous version to roll back to")]
    NoPrevious(String),
    /// The install state on disk.
    #[error(transparent)]
    Store(#[from] StoreError),
}
