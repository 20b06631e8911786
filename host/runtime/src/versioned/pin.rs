// The host side of `types` (the `pin` resource) against one contract version's bindings:
// included by `imports/pin.rs` once per version, with that version's `types` in scope. Not a
// module of its own; see `crate::contract`.

use wasmtime::component::{Linker, Resource};

use super::{PinImports, PinSecret, PinView};
use crate::error::LoadError;
use crate::imports::link_error;
use crate::store::State;

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
