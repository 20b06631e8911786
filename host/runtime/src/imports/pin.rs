//! `types.pin`: the PIN of a call, held by the host. A module gets a handle, can ask its length
//! and pass it on to `reader.card.verify-pin` or `pkcs11.session.login`; it never reads a digit.

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use zeroize::Zeroizing;

use super::link_error;
use crate::bindings::t1c::card::types;
use crate::error::LoadError;
use crate::store::State;

/// A PIN held by the host for one call. The module only ever sees a handle to it.
pub struct PinSecret(Zeroizing<String>);

impl PinSecret {
    /// Takes ownership of `pin`; it is wiped from memory when the secret is dropped.
    pub fn new(pin: Zeroizing<String>) -> Self {
        Self(pin)
    }

    /// The digits, for the host's card and token calls only.
    pub(crate) fn digits(&self) -> &Zeroizing<String> {
        &self.0
    }
}

impl std::fmt::Debug for PinSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinSecret(***)")
    }
}

/// The digits of the PIN behind `pin`, copied into zeroised memory, when the module passed one.
///
/// # Errors
/// The handle is not in the call's table (the call ends).
pub(crate) fn digits_of(
    table: &ResourceTable,
    pin: Option<Resource<PinSecret>>,
) -> wasmtime::Result<Option<Zeroizing<String>>> {
    pin.map(|pin| Ok(table.get(&pin)?.digits().clone())).transpose()
}

/// What `types` sees of a call: only the resource table.
pub(crate) struct PinView<'a> {
    table: &'a mut ResourceTable,
}

struct PinImports;

impl HasData for PinImports {
    type Data<'a> = PinView<'a>;
}

/// Links `types` (always granted).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<(), LoadError> {
    types::add_to_linker::<State, PinImports>(linker, |state| PinView { table: &mut state.table })
        .map_err(link_error)
}

impl types::Host for PinView<'_> {}

impl types::HostPin for PinView<'_> {
    fn length(&mut self, pin: Resource<PinSecret>) -> wasmtime::Result<u32> {
        let pin = self.table.get(&pin)?;
        Ok(u32::try_from(pin.0.chars().count()).unwrap_or(u32::MAX))
    }

    fn drop(&mut self, pin: Resource<PinSecret>) -> wasmtime::Result<()> {
        self.table.delete(pin)?;
        Ok(())
    }
}
