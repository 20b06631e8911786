//! `files`: scoped access to folders the user mapped. This build has no host side for it yet:
//! only the `directory` resource type is defined, so a module declaring `files` does not load
//! ([`LoadError::CapabilityUnavailable`](crate::LoadError::CapabilityUnavailable)).

use wasmtime::component::{Linker, ResourceType};

use super::{interface_name, link_error};
use crate::bindings::t1c::card::files;
use crate::error::LoadError;
use crate::store::State;

/// Defines the `directory` resource type, without functions.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<(), LoadError> {
    linker
        .instance(&interface_name("files"))
        .and_then(|mut i| {
            i.resource("directory", ResourceType::host::<files::Directory>(), |_, _| Ok(()))
        })
        .map_err(link_error)
}
