//! File exchange: the folders a user mapped for the calling web application (capability
//! `files`).
//!
//! A module writes its logic against [`Files`] and [`Directory`]. In a built module they are
//! the host's (`t1c_sdk::guest::HostFiles`); in a native unit test, a [`MemoryFiles`] holds the
//! types and their files in memory. The host binds every call to the calling application:
//! nothing here names it.
//!
//! File contents never cross into the module: [`Directory::receive`] stores the file that came
//! with the request and [`Directory::send`] answers the request with a file; the host streams
//! the bytes.

#[cfg(feature = "guest")]
pub(crate) mod host;
mod memory;
mod path;

use std::any::Any;

use crate::error::Error;

pub use memory::{Chooser, MapRequest, MemoryFiles, Notification, Sent};
pub use path::{
    LOOK_ALIKES, MAX_COMPONENT_BYTES, MAX_PATH_BYTES, PathError, RelPath, is_valid_name,
};

/// What can go wrong with a file operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// No folder is mapped for this (entity, type), or its folder is gone.
    #[error("no folder is mapped for this type")]
    NotMapped,
    /// The path does not exist.
    #[error("not found")]
    NotFound,
    /// The path exists already.
    #[error("already exists")]
    AlreadyExists,
    /// The path is not acceptable (the reason).
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A file was expected and this is a directory, or the other way round (which).
    #[error("{0}")]
    WrongKind(String),
    /// The directory is not empty.
    #[error("the directory is not empty")]
    NotEmpty,
    /// The operating system refused the access.
    #[error("access denied")]
    AccessDenied,
    /// The content is larger than the host accepts.
    #[error("too large")]
    TooLarge,
    /// The disk is full.
    #[error("no space left on the disk")]
    NoSpace,
    /// The request carries no file to receive, or a second `send` was asked.
    #[error("no file content in this request")]
    NoContent,
    /// Mapping needs the user and there is no folder chooser on this machine.
    #[error("no folder chooser here: map the folder with `t1c files map`")]
    NoChooser,
    /// The folder chooser for this type is open already: the user has not answered yet.
    #[error("waiting for the user to choose the folder")]
    Waiting,
    /// The user closed the folder chooser without choosing.
    #[error("the user cancelled")]
    Cancelled,
    /// The user did not answer in time.
    #[error("the user did not answer in time")]
    TimedOut,
    /// Any other I/O failure (what failed).
    #[error("I/O error: {0}")]
    Io(String),
}

impl From<FileError> for Error {
    /// The contract's module errors have no file cases: what the request asked for that cannot
    /// be (a missing type or path, a name taken, a wrong kind, a refused path or access, no or
    /// too much content, the user's refusal) is invalid input, a missing chooser is not
    /// supported, a user who did not answer is a timeout, and a full disk or another I/O
    /// failure is internal. The description keeps the file error's text.
    fn from(err: FileError) -> Self {
        match err {
            FileError::NoChooser => Error::NotSupported(err.to_string()),
            FileError::TimedOut => Error::Timeout,
            FileError::NoSpace | FileError::Io(_) => Error::Internal(err.to_string()),
            FileError::NotMapped
            | FileError::NotFound
            | FileError::AlreadyExists
            | FileError::InvalidPath(_)
            | FileError::WrongKind(_)
            | FileError::NotEmpty
            | FileError::AccessDenied
            | FileError::TooLarge
            | FileError::NoContent
            | FileError::Waiting
            | FileError::Cancelled => Error::InvalidInput(err.to_string()),
        }
    }
}

/// Kinds of directory entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the type's folder, `/`-separated.
    pub path: String,
    /// File or directory.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: u64,
    /// Whether the entry can be read.
    pub readable: bool,
    /// Whether the entry can be written (or, for a directory, written into).
    pub writable: bool,
}

impl Entry {
    /// The last segment of the path ("" for a type's folder itself).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Directory
    }
}

/// A type of the calling application and the folder it is mapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMapping {
    /// The entity the type belongs to.
    pub entity: String,
    /// The type's name.
    pub type_name: String,
    /// The absolute path of the folder; "" when the type has no folder (the user unmapped it).
    pub folder: String,
    /// Whether the type has a folder and it exists as a directory now.
    pub available: bool,
}

/// The calling application's file exchange types.
pub trait Files {
    /// The application's types, of `entity` or of every entity.
    ///
    /// # Errors
    /// [`FileError`].
    fn list_types(&self, entity: Option<&str>) -> Result<Vec<TypeMapping>, FileError>;

    /// Maps (`entity`, `type_name`) to a folder the user chooses, starting at
    /// `suggested_folder`; waits at most `timeout_ms` (the host's default when `None`).
    ///
    /// # Errors
    /// [`FileError::NoChooser`], [`FileError::Cancelled`], [`FileError::TimedOut`], ...
    fn map_type(
        &self,
        entity: &str,
        type_name: &str,
        suggested_folder: Option<&str>,
        timeout_ms: Option<u32>,
    ) -> Result<TypeMapping, FileError>;

    /// Forgets a mapping (the folder stays); `false` when there was none.
    ///
    /// # Errors
    /// [`FileError`].
    fn unmap_type(&self, entity: &str, type_name: &str) -> Result<bool, FileError>;

    /// Opens the folder of (`entity`, `type_name`).
    ///
    /// # Errors
    /// [`FileError::NotMapped`] when there is no such type, or its folder is gone.
    fn open(&self, entity: &str, type_name: &str) -> Result<Box<dyn Directory>, FileError>;

    /// Shows a desktop notification where there is a desktop session.
    fn notify(&self, summary: &str, body: &str);
}

/// A type's folder, opened for one call. Paths are relative to it, `/`-separated; "" is the
/// folder itself.
pub trait Directory {
    /// The entries directly inside the directory `path`, in no particular order.
    ///
    /// # Errors
    /// [`FileError`].
    fn list(&self, path: &str) -> Result<Vec<Entry>, FileError>;

    /// What `path` is.
    ///
    /// # Errors
    /// [`FileError::NotFound`], ...
    fn metadata(&self, path: &str) -> Result<Entry, FileError>;

    /// Creates the directory `path` (and its missing parents when `recursive`).
    ///
    /// # Errors
    /// [`FileError::AlreadyExists`], [`FileError::NotFound`] (a missing parent), ...
    fn create_directory(&self, path: &str, recursive: bool) -> Result<Entry, FileError>;

    /// Removes a file or an empty directory.
    ///
    /// # Errors
    /// [`FileError::NotEmpty`], [`FileError::NotFound`], ...
    fn remove(&self, path: &str) -> Result<(), FileError>;

    /// Copies the file `source` to `destination` in `target` (this directory or another
    /// type's), replacing an existing file only when `overwrite`.
    ///
    /// # Errors
    /// [`FileError`].
    fn copy(
        &self,
        source: &str,
        target: &dyn Directory,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError>;

    /// Moves (or renames) `source` to `destination` in `target`, replacing an existing file
    /// only when `overwrite`.
    ///
    /// # Errors
    /// [`FileError`].
    fn move_to(
        &self,
        source: &str,
        target: &dyn Directory,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError>;

    /// Stores the file that came with the request at `path`, replacing an existing file only
    /// when `overwrite`; it appears whole or not at all.
    ///
    /// # Errors
    /// [`FileError::NoContent`] when the request carries no file, [`FileError::TooLarge`], ...
    fn receive(&self, path: &str, overwrite: bool) -> Result<Entry, FileError>;

    /// Answers the request with the content of the file `path` (once per call).
    ///
    /// # Errors
    /// [`FileError::NoContent`] on a second call, [`FileError::WrongKind`] for a directory, ...
    fn send(&self, path: &str) -> Result<Entry, FileError>;

    /// The implementation, so that `copy` and `move_to` can reach a target of their own kind.
    fn as_any(&self) -> &dyn Any;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_become_module_errors() {
        assert_eq!(Error::from(FileError::NotFound), Error::InvalidInput("not found".into()));
        assert!(matches!(Error::from(FileError::Cancelled), Error::InvalidInput(_)));
        assert!(matches!(Error::from(FileError::NoChooser), Error::NotSupported(_)));
        assert_eq!(Error::from(FileError::TimedOut), Error::Timeout);
        assert!(matches!(Error::from(FileError::Io("disk".into())), Error::Internal(_)));
    }

    #[test]
    fn an_entry_names_its_last_segment() {
        let entry = |path: &str| Entry {
            path: path.into(),
            kind: EntryKind::File,
            size: 0,
            modified_ms: 0,
            readable: true,
            writable: true,
        };
        assert_eq!(entry("a/b/c.txt").name(), "c.txt");
        assert_eq!(entry("c.txt").name(), "c.txt");
        assert_eq!(entry("").name(), "");
    }
}
