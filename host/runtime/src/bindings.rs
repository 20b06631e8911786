//! Host-side bindings of the WIT contract (`wit/`, package `t1c:card`).
//!
//! Every import is trappable: a host-side failure that is not the module's business (a lookup of
//! a handle that is not in the table) ends the call instead of being reported to the module.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "t1c:card/t1c-module",
    imports: { default: trappable },
    with: {
        "t1c:card/types.pin": crate::imports::pin::PinSecret,
        "t1c:card/reader.card": crate::imports::reader::CardHandle,
        "t1c:card/pkcs11.slot": crate::imports::pkcs11::SlotResource,
        "t1c:card/pkcs11.session": crate::imports::pkcs11::SessionResource,
    },
});
