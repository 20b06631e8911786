//! The capability granter: which host interfaces a component imports and whether it may have
//! them; [`crate::imports::linker`] then links exactly those.
//!
//! A capability counts as used when the component imports at least one function of its
//! interface. Importing only a resource type (every module sees `reader.card` and `pkcs11.slot`
//! through the `token.device` variant) grants nothing: without functions a handle is inert.

use std::collections::BTreeSet;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use t1c_sdk::Capability;

use crate::error::LoadError;
use crate::imports::PACKAGE;

/// The contract version this host implements (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.1.0";

/// What a component imports, classified.
#[derive(Debug, Default)]
pub(crate) struct Imports {
    /// Capabilities whose functions it imports.
    pub used: BTreeSet<Capability>,
}

/// Classifies the imports of `component`.
///
/// # Errors
/// [`LoadError::UnknownImport`] for anything that is neither the contract nor WASI, and
/// [`LoadError::ContractMismatch`] for a contract version this host does not implement.
pub(crate) fn inspect(engine: &Engine, component: &Component) -> Result<Imports, LoadError> {
    let mut imports = Imports::default();
    for (name, item) in component.component_type().imports(engine) {
        if name.starts_with("wasi:") {
            continue;
        }
        let Some(rest) = name.strip_prefix(PACKAGE) else {
            return Err(LoadError::UnknownImport(name.to_owned()));
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if !contract_compatible(version) {
            return Err(LoadError::ContractMismatch {
                found: version.to_owned(),
                supported: CONTRACT_VERSION,
            });
        }
        match interface {
            "types" | "log" => {}
            other => {
                let capability = Capability::from_name(other)
                    .ok_or_else(|| LoadError::UnknownImport(name.to_owned()))?;
                if imports_functions(engine, &item.ty) {
                    imports.used.insert(capability);
                }
            }
        }
    }
    Ok(imports)
}

/// Whether a module built for contract `version` can run on this host: same major version, and
/// for `0.x`, same minor version; its version no newer than the host's.
pub fn contract_compatible(version: &str) -> bool {
    let (Ok(found), Ok(host)) =
        (semver::Version::parse(version), semver::Version::parse(CONTRACT_VERSION))
    else {
        return false;
    };
    let same_line = if host.major == 0 {
        found.major == 0 && found.minor == host.minor
    } else {
        found.major == host.major
    };
    same_line && found <= host
}

fn imports_functions(engine: &Engine, item: &ComponentItem) -> bool {
    match item {
        ComponentItem::ComponentInstance(instance) => instance
            .exports(engine)
            .any(|(_, export)| matches!(export.ty, ComponentItem::ComponentFunc(_))),
        ComponentItem::ComponentFunc(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_compatibility_follows_semver() {
        assert!(contract_compatible("0.1.0"));
        assert!(!contract_compatible("0.2.0"));
        assert!(!contract_compatible("1.1.0"));
        assert!(!contract_compatible("0.1.99"));
        assert!(!contract_compatible("garbage"));
    }

    #[test]
    fn contract_version_matches_the_wit_package_and_the_sdk() {
        let wit = include_str!("../../../wit/types.wit");
        assert!(wit.contains(&format!("package t1c:card@{CONTRACT_VERSION};")));
        assert_eq!(CONTRACT_VERSION, t1c_sdk::CONTRACT_VERSION);
    }
}
