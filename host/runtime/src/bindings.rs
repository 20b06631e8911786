//! Host-side bindings of the WIT contract (package `t1c:card`), one module per served version
//! (see [`crate::contract`]): `v0_1` from the frozen `wit/since_v0.1.0`, `v0_2` from `wit/`.
//!
//! Every version maps the contract's resources to the same host types, so a card, a slot or a
//! PIN is the same value whichever version a module speaks. Every import is trappable: a
//! host-side failure that is not the module's business (a lookup of a handle that is not in the
//! table) ends the call instead of being reported to the module.

/// `t1c:card@0.1.0`.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/since_v0.1.0",
        world: "t1c:card/t1c-module",
        imports: { default: trappable },
        with: {
            "t1c:card/types.pin": crate::imports::pin::PinSecret,
            "t1c:card/reader.card": crate::imports::reader::CardHandle,
            "t1c:card/pkcs11.slot": crate::imports::pkcs11::SlotResource,
            "t1c:card/pkcs11.session": crate::imports::pkcs11::SessionResource,
        },
    });
}

/// `t1c:card@0.2.0`, the latest version.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "t1c:card/t1c-module",
        imports: { default: trappable },
        with: {
            "t1c:card/types.pin": crate::imports::pin::PinSecret,
            "t1c:card/reader.card": crate::imports::reader::CardHandle,
            "t1c:card/pkcs11.slot": crate::imports::pkcs11::SlotResource,
            "t1c:card/pkcs11.session": crate::imports::pkcs11::SessionResource,
            "t1c:card/files.directory": crate::imports::files::DirectoryResource,
        },
    });
}
