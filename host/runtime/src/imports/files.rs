//! `files`: the folders the user mapped for the calling application, for file exchange.
//!
//! The runtime does not open files. The caller hands a call a [`FileCall`]: its
//! [`FileAccess`], already bound to the application that made the request (the connector's
//! implementation sits on its mappings and its kernel-checked folders; a test can implement it
//! in memory), and the file that came with the request, if any. The module reaches them through
//! the contract's `files` functions and `directory` resources. What this file enforces whatever
//! the implementation: bounded path and name arguments, at most [`MAX_OPEN_DIRECTORIES`]
//! directories open at once, the request's file received at most once, and at most one file
//! sent back. File contents never cross into the module: [`Content`] is the host's own.

use std::any::Any;
use std::time::Duration;

use wasmtime::component::{HasData, Resource, ResourceTable};

use t1c_sdk::files::{Entry, FileError, TypeMapping};

use crate::store::CallClock;

/// Directories a call may hold open at once.
pub const MAX_OPEN_DIRECTORIES: u32 = 16;
/// Longest path, entity or type name a module may pass, in bytes (the connector's own rules
/// are stricter; this bound only keeps absurd arguments out).
const MAX_ARGUMENT_BYTES: usize = 8192;
/// Longest notification summary or body, in bytes.
const MAX_NOTIFICATION_BYTES: usize = 1024;

/// A file's content as the host holds it: the file that came with a request, or the file a
/// module chose to answer with. The runtime never looks inside; the [`FileAccess`] that made it
/// knows its type.
pub type Content = Box<dyn Any + Send>;

/// The file exchange of the application that made the request, handed to one call.
///
/// Errors are the contract's [`FileError`]s; an implementation keeps details that could name
/// a folder out of them and in its own log.
pub trait FileAccess: Send {
    /// The application's types, of `entity` or of every entity.
    ///
    /// # Errors
    /// [`FileError`].
    fn list_types(&self, entity: Option<&str>) -> Result<Vec<TypeMapping>, FileError>;

    /// Maps (`entity`, `type_name`) to a folder the user chooses, starting at `suggested`,
    /// waiting for the user at most `wait` (the implementation's default when `None`).
    ///
    /// # Errors
    /// [`FileError::NoChooser`], [`FileError::Waiting`], [`FileError::Cancelled`],
    /// [`FileError::TimedOut`], ...
    fn map_type(
        &self,
        entity: &str,
        type_name: &str,
        suggested: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<TypeMapping, FileError>;

    /// Forgets the type (its folder stays); `false` when there was none.
    ///
    /// # Errors
    /// [`FileError`].
    fn unmap_type(&self, entity: &str, type_name: &str) -> Result<bool, FileError>;

    /// Opens the folder of (`entity`, `type_name`).
    ///
    /// # Errors
    /// [`FileError::NotMapped`], ...
    fn open(&self, entity: &str, type_name: &str) -> Result<Box<dyn Folder>, FileError>;

    /// Shows a desktop notification where there is a desktop session.
    fn notify(&self, summary: &str, body: &str);
}

/// A type's folder, opened for one call. Paths are relative to it, `/`-separated, "" for the
/// folder itself; the implementation parses and checks them.
pub trait Folder: Send {
    /// The entries directly inside the directory `path`.
    ///
    /// # Errors
    /// [`FileError`].
    fn list(&self, path: &str) -> Result<Vec<Entry>, FileError>;

    /// What `path` is.
    ///
    /// # Errors
    /// [`FileError`].
    fn metadata(&self, path: &str) -> Result<Entry, FileError>;

    /// Creates the directory `path` (and its missing parents when `recursive`).
    ///
    /// # Errors
    /// [`FileError`].
    fn create_directory(&self, path: &str, recursive: bool) -> Result<Entry, FileError>;

    /// Removes a file or an empty directory.
    ///
    /// # Errors
    /// [`FileError`].
    fn remove(&self, path: &str) -> Result<(), FileError>;

    /// Copies the file `source` to `destination` in `target` (this folder or another).
    ///
    /// # Errors
    /// [`FileError`].
    fn copy_to(
        &self,
        source: &str,
        target: &dyn Folder,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError>;

    /// Moves `source` to `destination` in `target` (this folder or another).
    ///
    /// # Errors
    /// [`FileError`].
    fn move_to(
        &self,
        source: &str,
        target: &dyn Folder,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError>;

    /// Stores `content` (the request's file) at `path`, whole or not at all.
    ///
    /// # Errors
    /// [`FileError`].
    fn receive(&self, path: &str, overwrite: bool, content: Content) -> Result<Entry, FileError>;

    /// Opens the file `path` to answer the request with.
    ///
    /// # Errors
    /// [`FileError`].
    fn open_to_send(&self, path: &str) -> Result<(Entry, Content), FileError>;

    /// The implementation, so that `copy_to` and `move_to` can reach a target of their own
    /// kind.
    fn as_any(&self) -> &dyn Any;
}

/// What a call with the `files` capability gets besides its JSON request.
pub struct FileCall {
    /// The calling application's file exchange.
    pub access: Box<dyn FileAccess>,
    /// The file that came with the request (a download's file), if any.
    pub incoming: Option<Content>,
}

/// A file the module chose to answer the request with ([`FileAccess`]'s own content).
pub struct Outgoing {
    /// What the file is.
    pub entry: Entry,
    /// Its content, as [`Folder::open_to_send`] made it.
    pub content: Content,
}

/// The `directory` resource: an open folder in the call's table.
pub struct DirectoryResource(Box<dyn Folder>);

/// The files context of one call.
#[derive(Default)]
pub(crate) struct FilesCtx {
    access: Option<Box<dyn FileAccess>>,
    incoming: Option<Content>,
    outgoing: Option<Outgoing>,
    sent: bool,
    open: u32,
}

impl FilesCtx {
    /// Gives the call its files.
    pub(crate) fn grant(&mut self, call: FileCall) {
        self.access = Some(call.access);
        self.incoming = call.incoming;
    }

    /// The file the module chose to send, taken out when the call ends.
    pub(crate) fn take_outgoing(&mut self) -> Option<Outgoing> {
        self.outgoing.take()
    }
}

pub(crate) struct FilesView<'a> {
    ctx: &'a mut FilesCtx,
    table: &'a mut ResourceTable,
    clock: &'a mut CallClock,
}

struct FilesImports;

impl HasData for FilesImports {
    type Data<'a> = FilesView<'a>;
}

/// A call that was given no files: every function answers that nothing is mapped.
fn no_access() -> FileError {
    FileError::NotMapped
}

fn check_argument(what: &str, value: &str) -> Result<(), FileError> {
    if value.len() > MAX_ARGUMENT_BYTES {
        return Err(FileError::InvalidPath(format!(
            "the {what} is longer than {MAX_ARGUMENT_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The functions in the SDK's types, with the bounds this file enforces; each contract
/// version's `Host` impls convert and call these.
impl FilesView<'_> {
    fn access(&self) -> Result<&dyn FileAccess, FileError> {
        self.ctx.access.as_deref().ok_or_else(no_access)
    }

    fn list_types(&mut self, entity: Option<&str>) -> Result<Vec<TypeMapping>, FileError> {
        if let Some(entity) = entity {
            check_argument("entity", entity)?;
        }
        let access = self.ctx.access.as_deref().ok_or_else(no_access)?;
        self.clock.host_time(|| access.list_types(entity))
    }

    fn map_type(
        &mut self,
        entity: &str,
        type_name: &str,
        suggested: Option<&str>,
        timeout_ms: Option<u32>,
    ) -> Result<TypeMapping, FileError> {
        check_argument("entity", entity)?;
        check_argument("type", type_name)?;
        if let Some(suggested) = suggested {
            check_argument("suggested folder", suggested)?;
        }
        let wait = timeout_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        let access = self.ctx.access.as_deref().ok_or_else(no_access)?;
        self.clock.host_time(|| access.map_type(entity, type_name, suggested, wait))
    }

    fn unmap_type(&mut self, entity: &str, type_name: &str) -> Result<bool, FileError> {
        check_argument("entity", entity)?;
        check_argument("type", type_name)?;
        let access = self.access()?;
        access.unmap_type(entity, type_name)
    }

    fn open(
        &mut self,
        entity: &str,
        type_name: &str,
    ) -> wasmtime::Result<Result<Resource<DirectoryResource>, FileError>> {
        if let Err(err) = check_argument("entity", entity).and(check_argument("type", type_name)) {
            return Ok(Err(err));
        }
        if self.ctx.open >= MAX_OPEN_DIRECTORIES {
            return Ok(Err(FileError::Io(format!(
                "more than {MAX_OPEN_DIRECTORIES} directories open at once"
            ))));
        }
        let Some(access) = self.ctx.access.as_deref() else {
            return Ok(Err(no_access()));
        };
        let folder = match self.clock.host_time(|| access.open(entity, type_name)) {
            Ok(folder) => folder,
            Err(err) => return Ok(Err(err)),
        };
        let handle = self.table.push(DirectoryResource(folder))?;
        self.ctx.open += 1;
        Ok(Ok(handle))
    }

    fn notify(&mut self, summary: &str, body: &str) {
        let Some(access) = self.ctx.access.as_deref() else {
            return;
        };
        let summary = crate::imports::log::truncate_to(summary, MAX_NOTIFICATION_BYTES);
        let body = crate::imports::log::truncate_to(body, MAX_NOTIFICATION_BYTES);
        access.notify(summary, body);
    }

    fn directory_op<R>(
        &mut self,
        directory: &Resource<DirectoryResource>,
        paths: &[(&str, &str)],
        op: impl FnOnce(&dyn Folder) -> Result<R, FileError>,
    ) -> wasmtime::Result<Result<R, FileError>> {
        for (what, path) in paths {
            if let Err(err) = check_argument(what, path) {
                return Ok(Err(err));
            }
        }
        let folder = self.table.get(directory)?.0.as_ref();
        Ok(self.clock.host_time(|| op(folder)))
    }

    fn transfer(
        &mut self,
        source_dir: &Resource<DirectoryResource>,
        source: &str,
        target_dir: &Resource<DirectoryResource>,
        destination: &str,
        op: impl FnOnce(&dyn Folder, &str, &dyn Folder, &str) -> Result<Entry, FileError>,
    ) -> wasmtime::Result<Result<Entry, FileError>> {
        if let Err(err) =
            check_argument("source", source).and(check_argument("destination", destination))
        {
            return Ok(Err(err));
        }
        let from = self.table.get(source_dir)?.0.as_ref();
        let to = self.table.get(target_dir)?.0.as_ref();
        Ok(self.clock.host_time(|| op(from, source, to, destination)))
    }

    fn receive(
        &mut self,
        directory: &Resource<DirectoryResource>,
        path: &str,
        overwrite: bool,
    ) -> wasmtime::Result<Result<Entry, FileError>> {
        if let Err(err) = check_argument("path", path) {
            return Ok(Err(err));
        }
        let Some(content) = self.ctx.incoming.take() else {
            return Ok(Err(FileError::NoContent));
        };
        let folder = self.table.get(directory)?.0.as_ref();
        Ok(self.clock.host_time(|| folder.receive(path, overwrite, content)))
    }

    fn send(
        &mut self,
        directory: &Resource<DirectoryResource>,
        path: &str,
    ) -> wasmtime::Result<Result<Entry, FileError>> {
        if let Err(err) = check_argument("path", path) {
            return Ok(Err(err));
        }
        if self.ctx.sent {
            return Ok(Err(FileError::NoContent));
        }
        let folder = self.table.get(directory)?.0.as_ref();
        let opened = self.clock.host_time(|| folder.open_to_send(path));
        Ok(opened.map(|(entry, content)| {
            self.ctx.sent = true;
            self.ctx.outgoing = Some(Outgoing { entry: entry.clone(), content });
            entry
        }))
    }

    fn drop_directory(&mut self, directory: Resource<DirectoryResource>) -> wasmtime::Result<()> {
        self.table.delete(directory)?;
        self.ctx.open = self.ctx.open.saturating_sub(1);
        Ok(())
    }
}

/// `files` of contract 0.1.0: its `directory` is defined, without functions, and no module
/// of that version can import it (0.1.0's `files` had no host; see [`crate::imports::available`]).
pub(crate) mod v0_1 {
    use wasmtime::component::{Linker, ResourceType};

    use crate::bindings::v0_1::t1c::card::files;
    use crate::contract::Contract;
    use crate::error::LoadError;
    use crate::imports::link_error;
    use crate::store::State;

    const CONTRACT: Contract = Contract::V0_1;

    /// Defines the `directory` resource type, without functions.
    pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> Result<(), LoadError> {
        linker
            .instance(&CONTRACT.interface("files"))
            .and_then(|mut i| {
                i.resource("directory", ResourceType::host::<files::Directory>(), |_, _| Ok(()))
            })
            .map_err(link_error)
    }
}

/// `files` of contract 0.2.0.
pub(crate) mod v0_2 {
    use super::{DirectoryResource, FilesImports, FilesView};
    use crate::bindings::v0_2::t1c::card::files as wit;
    const CONTRACT: crate::contract::Contract = crate::contract::Contract::V0_2;
    include!("../versioned/files.rs");
}
