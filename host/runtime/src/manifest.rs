//! A loaded component's manifest: read from its `describe()` export into the SDK's
//! [`Manifest`], and mapped to the bundle manifest (`manifest.toml`) that must describe it.

use t1c_sdk::module::ManifestError;
use t1c_sdk::{AtrPattern, Capability, DeviceKind, HttpMethod, Manifest, ModuleName, Operation};

use crate::bindings::exports::t1c::card::module as wit_module;
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

/// Converts and validates a manifest read from a component.
pub(crate) fn from_wit(manifest: wit_module::Manifest) -> Manifest {
    Manifest {
        name: manifest.name,
        version: manifest.version,
        contract: manifest.contract,
        description: manifest.description,
        capabilities: manifest
            .capabilities
            .into_iter()
            .map(|c| match c {
                wit_module::Capability::Reader => Capability::Reader,
                wit_module::Capability::Pkcs11 => Capability::Pkcs11,
                wit_module::Capability::Files => Capability::Files,
            })
            .collect(),
        atrs: manifest.atrs.into_iter().map(|p| AtrPattern::new(p.value, p.mask)).collect(),
        token: manifest.token,
        operations: manifest
            .operations
            .into_iter()
            .map(|o| {
                Operation::new(
                    o.name,
                    match o.method {
                        wit_module::HttpMethod::Get => HttpMethod::Get,
                        wit_module::HttpMethod::Post => HttpMethod::Post,
                        wit_module::HttpMethod::Put => HttpMethod::Put,
                        wit_module::HttpMethod::Patch => HttpMethod::Patch,
                        wit_module::HttpMethod::Delete => HttpMethod::Delete,
                    },
                    match o.device {
                        wit_module::DeviceKind::Card => DeviceKind::Card,
                        wit_module::DeviceKind::Slot => DeviceKind::Slot,
                        wit_module::DeviceKind::None => DeviceKind::None,
                    },
                    o.use_case,
                    o.description,
                )
            })
            .collect(),
    }
}
