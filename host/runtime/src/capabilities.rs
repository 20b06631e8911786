//! The capability granter: which host interfaces a component imports and whether it may have
//! them; [`crate::imports::linker`] then links exactly those.
//!
//! A capability counts as used when the component imports at least one function of its
//! interface. Importing only a resource type (every module sees `reader.card` and `pkcs11.slot`
//! through the `token.device` variant) grants nothing: without functions a handle is inert.
//!
//! Every contract import and export names a version (`t1c:card/reader@0.1.0`); they must all
//! name the same served version ([`crate::contract`]), which the loader then links and calls.

use std::collections::BTreeSet;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use t1c_sdk::Capability;

use crate::contract::{Contract, SUPPORTED_CONTRACTS};
use crate::error::LoadError;
use crate::imports::PACKAGE;

/// What a component imports, classified.
#[derive(Debug)]
pub(crate) struct Imports {
    /// Capabilities whose functions it imports.
    pub used: BTreeSet<Capability>,
    /// The contract version its imports and exports name.
    pub contract: Contract,
}

/// Classifies the imports of `component` and finds the contract version it was built for.
///
/// # Errors
/// [`LoadError::UnknownImport`] for anything that is neither the contract nor WASI,
/// [`LoadError::ContractMismatch`] for a contract version this host does not serve,
/// [`LoadError::MixedContracts`] for imports and exports of more than one version, and
/// [`LoadError::MissingExport`] for a component that exports no contract interface.
pub(crate) fn inspect(engine: &Engine, component: &Component) -> Result<Imports, LoadError> {
    let component_type = component.component_type();
    let mut used = BTreeSet::new();
    let mut versions = BTreeSet::new();
    for (name, item) in component_type.imports(engine) {
        if name.starts_with("wasi:") {
            continue;
        }
        let Some(rest) = name.strip_prefix(PACKAGE) else {
            return Err(LoadError::UnknownImport(name.to_owned()));
        };
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        versions.insert(version.to_owned());
        match interface {
            "types" | "log" => {}
            other => {
                let capability = Capability::from_name(other)
                    .ok_or_else(|| LoadError::UnknownImport(name.to_owned()))?;
                if imports_functions(engine, &item.ty) {
                    used.insert(capability);
                }
            }
        }
    }
    for (name, _) in component_type.exports(engine) {
        if let Some(rest) = name.strip_prefix(PACKAGE) {
            versions.insert(rest.split_once('@').map(|(_, v)| v).unwrap_or_default().to_owned());
        }
    }
    let contracts: BTreeSet<Contract> = versions
        .iter()
        .map(|version| {
            Contract::of(version).ok_or_else(|| LoadError::ContractMismatch {
                found: version.clone(),
                supported: SUPPORTED_CONTRACTS,
            })
        })
        .collect::<Result<_, _>>()?;
    let mut contracts = contracts.into_iter();
    match (contracts.next(), contracts.next()) {
        (Some(contract), None) => Ok(Imports { used, contract }),
        (None, _) => Err(LoadError::MissingExport(format!(
            "the component neither imports nor exports any `{PACKAGE}` interface"
        ))),
        (Some(_), Some(_)) => Err(LoadError::MixedContracts(versions.into_iter().collect())),
    }
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
