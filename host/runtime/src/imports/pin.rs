//! `types.pin`: the PIN of a call, held by the host. A module gets a handle, can ask its length
//! and pass it on to `reader.card.verify-pin` or `pkcs11.session.login`; it never reads a digit.

use wasmtime::component::{HasData, Resource, ResourceTable};
use zeroize::Zeroizing;

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

/// `types` of contract 0.1.0.
pub(crate) mod v0_1 {
    use crate::bindings::v0_1::t1c::card::types;
    include!("../versioned/pin.rs");
}

/// `types` of contract 0.2.0.
pub(crate) mod v0_2 {
    use crate::bindings::v0_2::t1c::card::types;
    include!("../versioned/pin.rs");
}
