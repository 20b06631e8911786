//! The host's `files` capability seen through [`Files`] and [`Directory`].
//!
//! Only a component has a host: in a native build (a module's unit tests) [`HostFiles`] exists
//! so that the module's code compiles unchanged, and every call fails with
//! [`FileError::Io`]; tests use [`MemoryFiles`](super::MemoryFiles) instead.

use super::{Directory, FileError, Files, TypeMapping};

/// The file exchange types of the application that made the current request, through the
/// host's `files` capability. The module must be exported with it
/// (`export_module!(M, [files])`) and declare [`Capability::Files`](crate::Capability::Files).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostFiles;

#[cfg(target_family = "wasm")]
impl Files for HostFiles {
    fn list_types(&self, entity: Option<&str>) -> Result<Vec<TypeMapping>, FileError> {
        let types = wit::list_types(entity).map_err(error_from_wit)?;
        Ok(types.into_iter().map(mapping_from_wit).collect())
    }

    fn map_type(
        &self,
        entity: &str,
        type_name: &str,
        suggested_folder: Option<&str>,
        timeout_ms: Option<u32>,
    ) -> Result<TypeMapping, FileError> {
        wit::map_type(entity, type_name, suggested_folder, timeout_ms)
            .map(mapping_from_wit)
            .map_err(error_from_wit)
    }

    fn unmap_type(&self, entity: &str, type_name: &str) -> Result<bool, FileError> {
        wit::unmap_type(entity, type_name).map_err(error_from_wit)
    }

    fn open(&self, entity: &str, type_name: &str) -> Result<Box<dyn Directory>, FileError> {
        let directory = wit::open(entity, type_name).map_err(error_from_wit)?;
        Ok(Box::new(wasm::HostDirectory(directory)))
    }

    fn notify(&self, summary: &str, body: &str) {
        wit::notify(summary, body);
    }
}

#[cfg(not(target_family = "wasm"))]
impl Files for HostFiles {
    fn list_types(&self, _entity: Option<&str>) -> Result<Vec<TypeMapping>, FileError> {
        Err(outside_the_connector())
    }

    fn map_type(
        &self,
        _entity: &str,
        _type_name: &str,
        _suggested_folder: Option<&str>,
        _timeout_ms: Option<u32>,
    ) -> Result<TypeMapping, FileError> {
        Err(outside_the_connector())
    }

    fn unmap_type(&self, _entity: &str, _type_name: &str) -> Result<bool, FileError> {
        Err(outside_the_connector())
    }

    fn open(&self, _entity: &str, _type_name: &str) -> Result<Box<dyn Directory>, FileError> {
        Err(outside_the_connector())
    }

    fn notify(&self, _summary: &str, _body: &str) {}
}

/// What every call answers in a native build.
#[cfg(not(target_family = "wasm"))]
fn outside_the_connector() -> FileError {
    FileError::Io(
        "files are only available inside the connector (use MemoryFiles in native tests)".into(),
    )
}

#[cfg(target_family = "wasm")]
use crate::guest::bindings::t1c::card::files as wit;

#[cfg(target_family = "wasm")]
use wasm::{error_from_wit, mapping_from_wit};

#[cfg(target_family = "wasm")]
mod wasm {
    //! The conversions between the contract's `files` types and the SDK's.

    use std::any::Any;

    use super::wit;
    use crate::files::{Directory, Entry, EntryKind, FileError, TypeMapping};

    /// A type's folder the host opened; dropping it closes it.
    pub(super) struct HostDirectory(pub(super) wit::Directory);

    impl HostDirectory {
        /// `target` as a host directory: the host's `copy` and `move` take only its own.
        fn of(target: &dyn Directory) -> Result<&wit::Directory, FileError> {
            target.as_any().downcast_ref::<HostDirectory>().map(|d| &d.0).ok_or_else(|| {
                FileError::Io("the target directory is not one the host opened".into())
            })
        }
    }

    impl Directory for HostDirectory {
        fn list(&self, path: &str) -> Result<Vec<Entry>, FileError> {
            let entries = self.0.list(path).map_err(error_from_wit)?;
            Ok(entries.into_iter().map(entry_from_wit).collect())
        }

        fn metadata(&self, path: &str) -> Result<Entry, FileError> {
            self.0.metadata(path).map(entry_from_wit).map_err(error_from_wit)
        }

        fn create_directory(&self, path: &str, recursive: bool) -> Result<Entry, FileError> {
            self.0.create_directory(path, recursive).map(entry_from_wit).map_err(error_from_wit)
        }

        fn remove(&self, path: &str) -> Result<(), FileError> {
            self.0.remove(path).map_err(error_from_wit)
        }

        fn copy(
            &self,
            source: &str,
            target: &dyn Directory,
            destination: &str,
            overwrite: bool,
        ) -> Result<Entry, FileError> {
            let target = HostDirectory::of(target)?;
            self.0
                .copy(source, target, destination, overwrite)
                .map(entry_from_wit)
                .map_err(error_from_wit)
        }

        fn move_to(
            &self,
            source: &str,
            target: &dyn Directory,
            destination: &str,
            overwrite: bool,
        ) -> Result<Entry, FileError> {
            let target = HostDirectory::of(target)?;
            self.0
                .move_(source, target, destination, overwrite)
                .map(entry_from_wit)
                .map_err(error_from_wit)
        }

        fn receive(&self, path: &str, overwrite: bool) -> Result<Entry, FileError> {
            self.0.receive(path, overwrite).map(entry_from_wit).map_err(error_from_wit)
        }

        fn send(&self, path: &str) -> Result<Entry, FileError> {
            self.0.send(path).map(entry_from_wit).map_err(error_from_wit)
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    pub(super) fn error_from_wit(err: wit::FileError) -> FileError {
        match err {
            wit::FileError::NotMapped => FileError::NotMapped,
            wit::FileError::NotFound => FileError::NotFound,
            wit::FileError::AlreadyExists => FileError::AlreadyExists,
            wit::FileError::InvalidPath(reason) => FileError::InvalidPath(reason),
            wit::FileError::WrongKind(which) => FileError::WrongKind(which),
            wit::FileError::NotEmpty => FileError::NotEmpty,
            wit::FileError::AccessDenied => FileError::AccessDenied,
            wit::FileError::TooLarge => FileError::TooLarge,
            wit::FileError::NoSpace => FileError::NoSpace,
            wit::FileError::NoContent => FileError::NoContent,
            wit::FileError::NoChooser => FileError::NoChooser,
            wit::FileError::Waiting => FileError::Waiting,
            wit::FileError::Cancelled => FileError::Cancelled,
            wit::FileError::TimedOut => FileError::TimedOut,
            wit::FileError::Io(what) => FileError::Io(what),
        }
    }

    pub(super) fn mapping_from_wit(mapping: wit::TypeMapping) -> TypeMapping {
        TypeMapping {
            entity: mapping.entity,
            type_name: mapping.type_,
            folder: mapping.folder,
            available: mapping.available,
        }
    }

    fn entry_from_wit(entry: wit::Entry) -> Entry {
        Entry {
            path: entry.path,
            kind: match entry.kind {
                wit::EntryKind::File => EntryKind::File,
                wit::EntryKind::Directory => EntryKind::Directory,
            },
            size: entry.size,
            modified_ms: entry.modified_ms,
            readable: entry.readable,
            writable: entry.writable,
        }
    }
}
