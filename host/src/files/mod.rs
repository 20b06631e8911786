//! File exchange: the folders the user mapped for web applications, and every file operation
//! inside them.
//!
//! This concern owns three things:
//! - [`RelPath`] (from the SDK, so module tests meet the same rules): the one parser of paths
//!   from outside. It refuses anything that could name a
//!   place outside a folder or mean something else on another system; [`PathError`] lists the
//!   rules. Unicode look-alikes of `/`, `\`, `.` and `:` ([`LOOK_ALIKES`]) are refused, not
//!   kept as ordinary characters, because another program's code-page conversion can turn them
//!   into the real ones.
//! - [`Root`]: an open mapped folder. Every operation on it — metadata, listing with
//!   [`ListOptions`], reading ([`FileReader`]), writing ([`FileWriter`], atomic and bounded),
//!   creating folders, copying, moving, renaming, removing, within one folder or across two —
//!   resolves its path beneath the folder with the kernel's help (`cap-std`), so a symbolic link
//!   cannot lead outside, even one swapped in while the operation runs. Only regular files and
//!   folders are ever opened: never a device, FIFO or socket.
//! - [`Mappings`]: (application id, entity, type) → folder, persisted in the data directory.
//!
//! [`chooser`] asks the user for a folder through the desktop portal; the rest does not know how
//! a folder was chosen (portal or `t1c files map`), nor about HTTP, the API's JSON shapes or
//! modules: the routes and the runtime's `files` binding build on it.
//! All operations are blocking; an asynchronous caller runs them on a blocking thread.

pub mod chooser;
mod entry;
mod error;
mod listing;
mod mappings;
mod read;
mod root;
mod write;

pub use entry::{Entry, EntryKind};
pub use error::FileError;
pub use listing::{KindFilter, ListOptions, Listing, MAX_LISTED_ENTRIES, Order, Page, SortKey};
pub use mappings::{
    MAPPINGS_FILE, MAX_KEY_BYTES, MappingError, MappingStatus, Mappings, TypeKey, TypeMapping,
};
pub use read::{CHUNK_BYTES, FileReader};
pub use root::Root;
pub use t1c_sdk::files::{LOOK_ALIKES, MAX_COMPONENT_BYTES, MAX_PATH_BYTES, PathError, RelPath};
pub use write::{FileWriter, WriteMode};

#[cfg(test)]
mod tests;
