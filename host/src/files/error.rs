//! [`FileError`]: what can go wrong with a file operation beneath a mapped folder.

use std::io;

use super::PathError;

/// Why a file operation failed. Messages name no path: they are safe to return to the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The path text is not a valid relative path.
    #[error("invalid path: {0}")]
    InvalidPath(#[from] PathError),
    /// The path does not exist.
    #[error("no such file or folder")]
    NotFound,
    /// The path exists already.
    #[error("the file or folder exists already")]
    AlreadyExists,
    /// The operating system refused the access, or the path (through a symbolic link) leads
    /// outside the mapped folder.
    #[error("access denied")]
    AccessDenied,
    /// A regular file was expected: the path is a folder, a device, a FIFO or a socket.
    #[error("not a regular file")]
    NotAFile,
    /// A folder was expected.
    #[error("not a folder")]
    NotADirectory,
    /// The folder to remove is not empty.
    #[error("the folder is not empty")]
    NotEmpty,
    /// The data is larger than the limit of the operation.
    #[error("larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The folder holds more entries than a listing reads.
    #[error("the folder holds more than {max} entries")]
    TooManyEntries {
        /// The most a listing reads.
        max: usize,
    },
    /// The disk is full.
    #[error("no space left on the disk")]
    NoSpace,
    /// A folder cannot be moved to another disk.
    #[error("a folder cannot be moved to another disk")]
    CrossDeviceFolder,
    /// The write was abandoned after an earlier error; nothing of it remains.
    #[error("the write was abandoned after an earlier error")]
    Abandoned,
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for FileError {
    fn from(err: io::Error) -> Self {
        #[cfg(unix)]
        if err.raw_os_error() == Some(libc::ELOOP) {
            // A symbolic link where none may be followed (O_NOFOLLOW), or a loop of them.
            return Self::AccessDenied;
        }
        match err.kind() {
            io::ErrorKind::NotFound => Self::NotFound,
            io::ErrorKind::AlreadyExists => Self::AlreadyExists,
            // cap-std reports a path that leads out of the folder as PermissionDenied.
            io::ErrorKind::PermissionDenied => Self::AccessDenied,
            io::ErrorKind::NotADirectory => Self::NotADirectory,
            io::ErrorKind::IsADirectory => Self::NotAFile,
            io::ErrorKind::DirectoryNotEmpty => Self::NotEmpty,
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::NoSpace,
            _ => Self::Io(err),
        }
    }
}
