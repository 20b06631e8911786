//! A loaded component's manifest (read from its `describe()` export into the SDK's
//! [`t1c_sdk::Manifest`] by `module.rs`), mapped to the bundle manifest (`manifest.toml`) that
//! must describe it.

use t1c_sdk::ModuleName;
use t1c_sdk::module::ManifestError;

use crate::module::LoadedModule;

/// The bundle manifest of a loaded component: what `manifest.toml` must say about it. The
/// module-author CLI and `cargo xtask build-modules` write bundles with it, and the connector's
/// installer compares a bundle's manifest with its component's the same way.
///
/// # Errors
/// [`ManifestError`] when the component's name, version or contract does not follow the rules
/// (the runtime refuses such modules at load, so only a runtime bug gets here).
pub fn manifest_of(module: &LoadedModule) -> Result<t1c_bundle::BundleManifest, ManifestError> {
    let manifest = module.manifest();
    let version = |text: &str| {
        semver::Version::parse(text).map_err(|_| ManifestError::InvalidVersion(text.to_owned()))
    };
    Ok(t1c_bundle::BundleManifest {
        name: ModuleName::new(manifest.name.clone())?,
        version: version(&manifest.version)?,
        contract: version(&manifest.contract)?,
        description: manifest.description.clone(),
        capabilities: manifest.capabilities.clone(),
        atrs: manifest.atrs.clone(),
    })
}
