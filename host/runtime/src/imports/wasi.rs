//! The WASI a module gets: `wasi:cli` (no arguments, no environment, stdin empty, stdout and
//! stderr captured per call), `wasi:io`, `wasi:clocks` and `wasi:random` ([`add_to_linker`]).
//! The rest of WASI (`wasi:filesystem`, `wasi:sockets`) is not implemented at all: a module
//! reaches files and devices only through the contract's handles. A component that imports it
//! still loads (a dependency may reference `std::fs` or `std::net` on a path the module never
//! takes), but each of those functions traps when called ([`trap_unprovided`]), which fails that
//! call only.
//!
//! Linking only these interfaces also leaves wasmtime-wasi's file system and socket hosts out of
//! the connector's binary.

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, Linker, ResourceTable, ResourceType};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::random::WasiRandom;

use crate::store::State;

/// The resource table, the `wasi:io` hosts' view of a store.
struct Io;

impl HasData for Io {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds the WASI interfaces a module gets (see the module's documentation) to `linker`.
///
/// # Errors
/// wasmtime refuses a definition (a host bug).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    let l = linker;
    sync::io::error::add_to_linker::<State, Io>(l, |s| s.ctx().table)?;
    sync::io::poll::add_to_linker::<State, Io>(l, |s| s.ctx().table)?;
    sync::io::streams::add_to_linker::<State, Io>(l, |s| s.ctx().table)?;
    clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?;
    random::random::add_to_linker::<State, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    random::insecure::add_to_linker::<State, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<State, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)?;
    Ok(())
}

/// Whether `import` (an interface name such as `wasi:sockets/tcp@0.2.6`) is WASI that
/// [`add_to_linker`] does not provide.
fn unprovided(import: &str) -> bool {
    const PROVIDED: [&str; 4] = ["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/"];
    import.starts_with("wasi:") && !PROVIDED.iter().any(|p| import.starts_with(p))
}

/// What a call of a WASI function that modules do not get ends with; the call is then reported
/// as trapped, with this text.
#[derive(Debug, thiserror::Error)]
#[error(
    "the module called `{0}`, which modules do not get: they reach files and devices only through the T1C contract"
)]
pub(crate) struct Unavailable(String);

/// The resources of WASI interfaces modules do not get: never created, since every function
/// that could create one traps.
struct Unprovided;

/// Defines every function of the WASI interfaces `component` imports but [`add_to_linker`]
/// does not provide as a trap naming it, and their own resource types as inert host types.
/// Types those interfaces take from provided ones (`wasi:io`'s streams and pollables) are left
/// to the provided definitions.
///
/// # Errors
/// wasmtime refuses a definition.
pub(crate) fn trap_unprovided(
    linker: &mut Linker<State>,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<()> {
    let component_type = component.component_type();
    let mut provided_resources = Vec::new();
    let mut unprovided_instances = Vec::new();
    for (name, import) in component_type.imports(engine) {
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            continue;
        };
        if unprovided(name) {
            unprovided_instances.push((name, instance));
        } else {
            provided_resources.extend(instance.exports(engine).filter_map(|(_, export)| {
                match export.ty {
                    ComponentItem::Resource(resource) => Some(resource),
                    _ => None,
                }
            }));
        }
    }
    for (name, instance) in unprovided_instances {
        let mut definitions = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let function = format!("{name}#{export}");
                    definitions.func_new(export, move |_, _, _, _| {
                        Err(wasmtime::Error::new(Unavailable(function.clone())))
                    })?;
                }
                ComponentItem::Resource(resource) if !provided_resources.contains(&resource) => {
                    definitions
                        .resource(export, ResourceType::host::<Unprovided>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
