//! The checks a connector makes on a verified bundle before it serves the module inside: the
//! contract version and capabilities its manifest names, then the component itself, which must
//! load and say what the bundle says. The connector's installer and the Distribution Service's
//! bundle upload both call these, so the DS refuses exactly what a connector would refuse.

use std::collections::BTreeSet;

use t1c_bundle::VerifiedBundle;

use crate::{LoadError, LoadedModule, Runtime, SUPPORTED_CONTRACTS, contract_compatible};

/// Why the module of a (signature-checked) bundle is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleRefused {
    /// The module was built for a contract this runtime does not implement.
    #[error(
        "module `{module}` is built for contract {found}; this connector serves {}",
        supported.join(", ")
    )]
    ContractUnsupported {
        /// The module.
        module: String,
        /// The contract version in its manifest.
        found: String,
        /// The contract versions this runtime serves.
        supported: &'static [&'static str],
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
}

impl Runtime {
    /// What the bundle's manifest alone decides: the contract version and the capabilities
    /// (against [`crate::RuntimeConfig::granted`]).
    ///
    /// # Errors
    /// [`ModuleRefused::ContractUnsupported`] or [`ModuleRefused::CapabilityForbidden`].
    pub fn check_bundle_manifest(&self, bundle: &VerifiedBundle) -> Result<(), ModuleRefused> {
        let manifest = bundle.manifest();
        if !contract_compatible(&manifest.contract.to_string()) {
            return Err(ModuleRefused::ContractUnsupported {
                module: manifest.name.to_string(),
                found: manifest.contract.to_string(),
                supported: SUPPORTED_CONTRACTS,
            });
        }
        if let Some(capability) =
            manifest.capabilities.iter().find(|c| !self.config().granted.contains(c))
        {
            return Err(ModuleRefused::CapabilityForbidden {
                module: manifest.name.to_string(),
                capability: capability.to_string(),
            });
        }
        Ok(())
    }

    /// Checks the manifest ([`Runtime::check_bundle_manifest`]), loads the component and checks
    /// that it says what the bundle says (name, version, contract, capabilities).
    ///
    /// # Errors
    /// [`ModuleRefused`] naming the first difference.
    pub fn load_bundle(&self, bundle: &VerifiedBundle) -> Result<LoadedModule, ModuleRefused> {
        self.check_bundle_manifest(bundle)?;
        let manifest = bundle.manifest();
        let module = self.load(bundle.wasm(), manifest.name.as_str()).map_err(|source| {
            ModuleRefused::Component { module: manifest.name.to_string(), source }
        })?;
        let component = module.manifest();
        let mismatch = |field, bundle: String, component: String| {
            Err(ModuleRefused::ManifestMismatch {
                module: manifest.name.to_string(),
                field,
                bundle,
                component,
            })
        };
        if component.name != manifest.name.as_str() {
            return mismatch("name", manifest.name.to_string(), component.name.clone());
        }
        if component.version != manifest.version.to_string() {
            return mismatch("version", manifest.version.to_string(), component.version.clone());
        }
        if component.contract != manifest.contract.to_string() {
            return mismatch("contract", manifest.contract.to_string(), component.contract.clone());
        }
        let declared: BTreeSet<&str> = manifest.capabilities.iter().map(|c| c.name()).collect();
        let actual: BTreeSet<&str> = component.capabilities.iter().map(|c| c.name()).collect();
        if declared != actual {
            let list = |set: BTreeSet<&str>| set.into_iter().collect::<Vec<_>>().join(", ");
            return mismatch("capabilities", list(declared), list(actual));
        }
        Ok(module)
    }
}
