//! The capability granter: which host interfaces a component imports, whether it may have them,
//! and a linker that provides exactly those.
//!
//! A capability counts as used when the component imports at least one function of its
//! interface. Importing only a resource type (every module sees `reader.card` and `pkcs11.slot`
//! through the `token.device` variant) grants nothing: without functions a handle is inert.

use std::collections::BTreeSet;

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker, ResourceType};

use t1c_sdk::Capability;

use super::bindings;
use super::error::LoadError;
use super::state::{CardHandle, SessionResource, SlotResource, State};

/// The contract version this host implements (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The contract package's interfaces, as `t1c:card/<name>@<version>` imports.
const PACKAGE: &str = "t1c:card/";

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

/// A linker with WASI (nothing granted), `types`, `log`, and the granted capabilities. The
/// resource types of capabilities not granted are defined without any function, so the
/// contract's `device` variant still type-checks.
///
/// # Errors
/// [`LoadError::Link`] if wasmtime refuses a definition (a host bug).
pub(crate) fn linker(
    engine: &Engine,
    granted: &BTreeSet<Capability>,
) -> Result<Linker<State>, LoadError> {
    let link = |e: wasmtime::Error| LoadError::Link(format!("{e:#}"));
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link)?;
    bindings::t1c::card::types::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        .map_err(link)?;
    bindings::t1c::card::log::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        .map_err(link)?;
    if granted.contains(&Capability::Reader) {
        bindings::t1c::card::reader::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(link)?;
    } else {
        linker
            .instance(&format!("{PACKAGE}reader@{CONTRACT_VERSION}"))
            .and_then(|mut i| i.resource("card", ResourceType::host::<CardHandle>(), |_, _| Ok(())))
            .map_err(link)?;
    }
    if granted.contains(&Capability::Pkcs11) {
        bindings::t1c::card::pkcs11::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
            .map_err(link)?;
    } else {
        let mut pkcs11_instance =
            linker.instance(&format!("{PACKAGE}pkcs11@{CONTRACT_VERSION}")).map_err(link)?;
        pkcs11_instance
            .resource("slot", ResourceType::host::<SlotResource>(), |_, _| Ok(()))
            .map_err(link)?;
        pkcs11_instance
            .resource("session", ResourceType::host::<SessionResource>(), |_, _| Ok(()))
            .map_err(link)?;
    }
    // File access has no host side in this build: only its resource type exists.
    {
        use bindings::t1c::card::files;
        linker
            .instance(&format!("{PACKAGE}files@{CONTRACT_VERSION}"))
            .and_then(|mut i| {
                i.resource("directory", ResourceType::host::<files::Directory>(), |_, _| Ok(()))
            })
            .map_err(link)?;
    }
    Ok(linker)
}

/// The capabilities this build provides a host side for. `pkcs11` is always linkable: a host
/// without PKCS#11 libraries simply never has a slot to pass.
pub(crate) fn available() -> BTreeSet<Capability> {
    BTreeSet::from([Capability::Reader, Capability::Pkcs11])
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
