//! The host side of the contract's imports, one file per interface, composed by the call's
//! [`State`](crate::store::State) and linked per granted capability.
//!
//! Each interface follows wasmtime-wasi's shape: a context (what the interface keeps for one
//! call), a view (the context plus the resource table and the call's clock, borrowed from the
//! store), the resource types, and the `Host` trait impls on the view. [`linker`] links `types`
//! and `log` always, and each capability's functions only when it is granted; a capability that
//! is not granted still defines its resource types, without functions, so the contract's
//! `device` variant type-checks and a handle of that type is inert.
//!
//! - [`pin`]: `types.pin`, the host-held PIN a module passes on but never reads.
//! - [`log`]: `log`, the module's log lines, tagged and bounded.
//! - [`reader`]: `reader.card`, a PC/SC (or simulated) card held for the call.
//! - [`pkcs11`]: `pkcs11.slot` and `pkcs11.session` over the host's [`pkcs11::Slot`] trait.
//! - [`files`]: `files` and `files.directory` over the host's [`files::FileAccess`] trait
//!   (contract 0.2.0 on; 0.1.0's `files` never had a host).
//!
//! Each file holds what is the same in every contract version (the resource types, the view,
//! the work in the SDK's types) and a `mod v0_1` and `mod v0_2` that compile the `Host` trait
//! impls and the conversions of `src/versioned/<interface>.rs` against that version's bindings
//! (see [`crate::contract`]). [`linker`] links the version a component was built for.

pub mod files;
pub mod log;
pub mod pin;
pub mod pkcs11;
pub mod reader;
pub(crate) mod wasi;

use std::collections::BTreeSet;

use wasmtime::Engine;
use wasmtime::component::Linker;

use t1c_sdk::Capability;

use crate::contract::Contract;
use crate::error::LoadError;
use crate::store::State;

/// The contract package's interfaces, as `t1c:card/<name>@<version>` imports.
pub(crate) const PACKAGE: &str = "t1c:card/";

/// A linker with WASI (nothing granted, see [`wasi`]), `types`, `log`, and the `granted`
/// capabilities, under the interface names of `contract`.
///
/// # Errors
/// [`LoadError::Link`] if wasmtime refuses a definition (a host bug).
pub(crate) fn linker(
    engine: &Engine,
    granted: &BTreeSet<Capability>,
    contract: Contract,
) -> Result<Linker<State>, LoadError> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker).map_err(link_error)?;
    let reader = granted.contains(&Capability::Reader);
    let pkcs11 = granted.contains(&Capability::Pkcs11);
    let files = granted.contains(&Capability::Files);
    // The same calls for every version, each into that version's `mod` of every interface.
    macro_rules! link_version {
        ($version:ident) => {{
            pin::$version::add_to_linker(&mut linker)?;
            log::$version::add_to_linker(&mut linker)?;
            reader::$version::add_to_linker(&mut linker, reader)?;
            pkcs11::$version::add_to_linker(&mut linker, pkcs11)?;
        }};
    }
    match contract {
        Contract::V0_1 => {
            link_version!(v0_1);
            files::v0_1::add_to_linker(&mut linker)?;
        }
        Contract::V0_2 => {
            link_version!(v0_2);
            files::v0_2::add_to_linker(&mut linker, files)?;
        }
    }
    Ok(linker)
}

/// The capabilities this build provides a host side for, for modules of `contract`. `pkcs11`
/// is always linkable: a host without PKCS#11 libraries simply never has a slot to pass; the
/// same for `files` and a host that hands no [`files::FileCall`]. Contract 0.1.0's `files`
/// (reads and writes at offsets) never had a host.
pub(crate) fn available(contract: Contract) -> BTreeSet<Capability> {
    match contract {
        Contract::V0_1 => BTreeSet::from([Capability::Reader, Capability::Pkcs11]),
        Contract::V0_2 => {
            BTreeSet::from([Capability::Reader, Capability::Pkcs11, Capability::Files])
        }
    }
}

pub(crate) fn link_error(e: wasmtime::Error) -> LoadError {
    LoadError::Link(format!("{e:#}"))
}
