// The host side of `files` against one contract version's bindings: included by
// `imports/files.rs` into the `mod` of each version that serves `files`, with that version's
// `files` (as `wit`) and its `CONTRACT` in scope. Not a module of its own; see
// `crate::contract`.

use wasmtime::component::{Linker, Resource, ResourceType};

use t1c_sdk::files::{Entry, EntryKind, FileError, TypeMapping};

use crate::error::LoadError;
use crate::imports::link_error;
use crate::store::State;

/// Links `files` when `granted`; otherwise only its resource type, without functions.
pub(crate) fn add_to_linker(linker: &mut Linker<State>, granted: bool) -> Result<(), LoadError> {
    if granted {
        return wit::add_to_linker::<State, FilesImports>(linker, |state| FilesView {
            ctx: &mut state.files,
            table: &mut state.table,
            clock: &mut state.clock,
        })
        .map_err(link_error);
    }
    linker
        .instance(&CONTRACT.interface("files"))
        .and_then(|mut i| {
            i.resource("directory", ResourceType::host::<DirectoryResource>(), |_, _| Ok(()))
        })
        .map_err(link_error)
}

impl wit::Host for FilesView<'_> {
    fn list_types(
        &mut self,
        entity: Option<String>,
    ) -> wasmtime::Result<Result<Vec<wit::TypeMapping>, wit::FileError>> {
        Ok(FilesView::list_types(self, entity.as_deref())
            .map(|types| types.into_iter().map(mapping_to_wit).collect())
            .map_err(error_to_wit))
    }

    fn map_type(
        &mut self,
        entity: String,
        type_: String,
        suggested_folder: Option<String>,
        timeout_ms: Option<u32>,
    ) -> wasmtime::Result<Result<wit::TypeMapping, wit::FileError>> {
        Ok(FilesView::map_type(self, &entity, &type_, suggested_folder.as_deref(), timeout_ms)
            .map(mapping_to_wit)
            .map_err(error_to_wit))
    }

    fn unmap_type(
        &mut self,
        entity: String,
        type_: String,
    ) -> wasmtime::Result<Result<bool, wit::FileError>> {
        Ok(FilesView::unmap_type(self, &entity, &type_).map_err(error_to_wit))
    }

    fn open(
        &mut self,
        entity: String,
        type_: String,
    ) -> wasmtime::Result<Result<Resource<DirectoryResource>, wit::FileError>> {
        Ok(FilesView::open(self, &entity, &type_)?.map_err(error_to_wit))
    }

    fn notify(&mut self, summary: String, body: String) -> wasmtime::Result<()> {
        FilesView::notify(self, &summary, &body);
        Ok(())
    }
}

impl wit::HostDirectory for FilesView<'_> {
    fn list(
        &mut self,
        directory: Resource<DirectoryResource>,
        path: String,
    ) -> wasmtime::Result<Result<Vec<wit::Entry>, wit::FileError>> {
        Ok(self
            .directory_op(&directory, &[("path", &path)], |folder| folder.list(&path))?
            .map(|entries| entries.into_iter().map(entry_to_wit).collect())
            .map_err(error_to_wit))
    }

    fn metadata(
        &mut self,
        directory: Resource<DirectoryResource>,
        path: String,
    ) -> wasmtime::Result<Result<wit::Entry, wit::FileError>> {
        Ok(self
            .directory_op(&directory, &[("path", &path)], |folder| folder.metadata(&path))?
            .map(entry_to_wit)
            .map_err(error_to_wit))
    }

    fn create_directory(
        &mut self,
        directory: Resource<DirectoryResource>,
        path: String,
        recursive: bool,
    ) -> wasmtime::Result<Result<wit::Entry, wit::FileError>> {
        Ok(self
            .directory_op(&directory, &[("path", &path)], |folder| {
                folder.create_directory(&path, recursive)
            })?
            .map(entry_to_wit)
            .map_err(error_to_wit))
    }

    fn remove(
        &mut self,
        directory: Resource<DirectoryResource>,
        path: String,
    ) -> wasmtime::Result<Result<(), wit::FileError>> {
        Ok(self
            .directory_op(&directory, &[("path", &path)], |folder| folder.remove(&path))?
            .map_err(error_to_wit))
    }

    fn copy(
        &mut self,
        directory: Resource<DirectoryResource>,
        source: String,
        target: Resource<DirectoryResource>,
        destination: String,
        overwrite: bool,
    ) -> wasmtime::Result<Result<wit::Entry, wit::FileError>> {
        Ok(self
            .transfer(&directory, &source, &target, &destination, |from, s, to, d| {
                from.copy_to(s, to, d, overwrite)
            })?
            .map(entry_to_wit)
            .map_err(error_to_wit))
    }

    fn move_(
        &mut self,
        directory: Resource<DirectoryResource>,
        source: String,
        target: Resource<DirectoryResource>,
        destination: String,
        overwrite: bool,
    ) -> wasmtime::Result<Result<wit::Entry, wit::FileError>> {
        Ok(self
            .transfer(&directory, &source, &target, &destination, |from, s, to, d| {
                from.move_to(s, to, d, overwrite)
            })?
            .map(entry_to_wit)
            .map_err(error_to_wit))
    }

    fn receive(
        &mut self,
        directory: Resource<DirectoryResource>,
        path: String,
        overwrite: bool,
    ) -> wasmtime::Result<Result<wit::Entry, wit::FileError>> {
        Ok(FilesView::receive(self, &directory, &path, overwrite)?
            .map(entry_to_wit)
            .map_err(error_to_wit))
    }

    fn send(
        &mut self,
        directory: Resource<DirectoryResource>,
        path: String,
    ) -> wasmtime::Result<Result<wit::Entry, wit::FileError>> {
        Ok(FilesView::send(self, &directory, &path)?.map(entry_to_wit).map_err(error_to_wit))
    }

    fn drop(&mut self, directory: Resource<DirectoryResource>) -> wasmtime::Result<()> {
        self.drop_directory(directory)
    }
}

fn entry_to_wit(entry: Entry) -> wit::Entry {
    wit::Entry {
        path: entry.path,
        kind: match entry.kind {
            EntryKind::File => wit::EntryKind::File,
            EntryKind::Directory => wit::EntryKind::Directory,
        },
        size: entry.size,
        modified_ms: entry.modified_ms,
        readable: entry.readable,
        writable: entry.writable,
    }
}

fn mapping_to_wit(mapping: TypeMapping) -> wit::TypeMapping {
    wit::TypeMapping {
        entity: mapping.entity,
        type_: mapping.type_name,
        folder: mapping.folder,
        available: mapping.available,
    }
}

fn error_to_wit(error: FileError) -> wit::FileError {
    match error {
        FileError::NotMapped => wit::FileError::NotMapped,
        FileError::NotFound => wit::FileError::NotFound,
        FileError::AlreadyExists => wit::FileError::AlreadyExists,
        FileError::InvalidPath(reason) => wit::FileError::InvalidPath(reason),
        FileError::WrongKind(which) => wit::FileError::WrongKind(which),
        FileError::NotEmpty => wit::FileError::NotEmpty,
        FileError::AccessDenied => wit::FileError::AccessDenied,
        FileError::TooLarge => wit::FileError::TooLarge,
        FileError::NoSpace => wit::FileError::NoSpace,
        FileError::NoContent => wit::FileError::NoContent,
        FileError::NoChooser => wit::FileError::NoChooser,
        FileError::Waiting => wit::FileError::Waiting,
        FileError::Cancelled => wit::FileError::Cancelled,
        FileError::TimedOut => wit::FileError::TimedOut,
        FileError::Io(what) => wit::FileError::Io(what),
        other => wit::FileError::Io(other.to_string()),
    }
}
