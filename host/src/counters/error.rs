//! The one error type of the counters store. Every variant names the database file, so a log line
//! or an API error tells an administrator which file to look at.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::ErrorCode;

/// Why the counters store could not open, record, read or drain.
///
/// It is `Clone` because one failed group commit fails every caller whose increment was in it;
/// sources are shared behind an [`Arc`] for that reason, and are type-erased so that SQLite stays
/// an implementation detail.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CountersError {
    /// The database file or its folder could not be created or opened: missing permissions, a
    /// directory in its place, a read-only or full file system.
    #[error("cannot open the transaction counters database {}", .path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong underneath.
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The file is not a SQLite database, or its content is damaged. Moving it aside lets the
    /// connector start with empty counters; the transactions it held are then lost.
    #[error(
        "the transaction counters database {} is corrupt or not a database: {detail}",
        .path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// The database was written by a newer connector, with a schema this one does not know.
    #[error(
        "the transaction counters database {} has schema version {found}; this connector \
         understands up to {supported}",
        .path.display()
    )]
    UnsupportedSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// A read or write failed on a database that opened fine: an I/O error, a full disk, a lock
    /// held too long by another process.
    #[error("transaction counters database {}: {operation} failed", .path.display())]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What the store was doing, e.g. `"commit increments"`.
        operation: &'static str,
        /// What went wrong underneath.
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The writer thread is gone (it could not start, or stopped after a bug), so nothing more
    /// can be recorded through this handle.
    #[error("the writer of the transaction counters database {} has stopped", .path.display())]
    WriterStopped {
        /// The database file.
        path: PathBuf,
    },
}

impl CountersError {
    /// The database file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            CountersError::Open { path, .. }
            | CountersError::Corrupt { path, .. }
            | CountersError::UnsupportedSchema { path, .. }
            | CountersError::Storage { path, .. }
            | CountersError::WriterStopped { path } => path,
        }
    }

    /// `err`, raised while opening `path`: corrupt if SQLite says so, otherwise an open error.
    pub(super) fn opening(path: &Path, err: rusqlite::Error) -> Self {
        Self::corrupt_or(path, err, |path, err| CountersError::Open { path, source: Arc::new(err) })
    }

    /// `err`, raised by `operation` on the open database at `path`.
    pub(super) fn storage(path: &Path, operation: &'static str, err: rusqlite::Error) -> Self {
        Self::corrupt_or(path, err, |path, err| CountersError::Storage {
            path,
            operation,
            source: Arc::new(err),
        })
    }

    /// A row that SQLite returned fine but that this store could never have written.
    pub(super) fn bad_row(path: &Path, detail: String) -> Self {
        CountersError::Corrupt { path: path.to_owned(), detail }
    }

    fn corrupt_or(
        path: &Path,
        err: rusqlite::Error,
        otherwise: impl FnOnce(PathBuf, rusqlite::Error) -> Self,
    ) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                CountersError::Corrupt { path: path.to_owned(), detail: err.to_string() }
            }
            _ => otherwise(path.to_owned(), err),
        }
    }
}
