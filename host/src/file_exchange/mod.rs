//! The `files` capability of modules, served over the connector's file library
//! ([`crate::files`]): what a module call of the calling application may reach, and how a
//! request's file gets to the disk and a file back to the caller.
//!
//! - [`FileExchange`]: the connector-wide part (the mappings, the folder chooser, where
//!   incoming files are spooled, the size limit), held by the API.
//! - [`ApplicationFiles`] ([`FileExchange::for_application`]): the runtime's
//!   [`t1c_runtime::FileAccess`] for one call, bound to the caller's application id, which
//!   comes from the caller (JWT label or origin), never from the request body.
//! - [`Spool`]: a request's file, received whole (and bounded) into an unnamed temporary file
//!   before the module runs; `receive` copies it beside its target and renames it into place.
//!
//! The HTTP side (multipart parsing, streaming the answer) is in `api::modules::file_exchange`.

mod access;
mod spool;

pub use access::{ApplicationFiles, FileExchange, TypeFolder};
pub use spool::{Spool, SpoolError, SpoolWriter};
