//! Why a bundle is not installed, removed or rolled back. Every refusal leaves the installed
//! set as it was.

use t1c_bundle::{BundleError, Digest};

use super::store::StoreError;
use t1c_runtime::ModuleRefused;

/// A refused or failed module operation. The message says why, for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The bundle itself is refused: structure, limits, manifest, signature or signer.
    #[error("the bundle is refused: {0}")]
    Bundle(#[from] BundleError),
    /// The module is refused by the runtime: contract, capabilities, or the component itself.
    #[error(transparent)]
    Module(#[from] ModuleRefused),
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
