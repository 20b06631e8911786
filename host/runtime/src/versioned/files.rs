// The `files` resource type against one contract version's bindings: included by
// `imports/files.rs` once per version, with that version's `files` and its `CONTRACT` in scope.
// Not a module of its own; see `crate::contract`.

use wasmtime::component::{Linker, ResourceType};

use crate::error::LoadError;
use crate::imports::link_error;
use crate::store::State;

/// Defines the `directory` resource type, without functions.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<(), LoadError> {
    linker
        .instance(&CONTRACT.interface("files"))
        .and_then(|mut i| {
            i.resource("directory", ResourceType::host::<files::Directory>(), |_, _| Ok(()))
        })
        .map_err(link_error)
}
