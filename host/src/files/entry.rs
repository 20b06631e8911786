//! [`Entry`]: what the host tells about one file or folder.

use std::time::SystemTime;

use super::RelPath;

/// A file or folder beneath a mapped folder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Where it is, relative to the mapped folder.
    pub path: RelPath,
    /// File or folder.
    pub kind: EntryKind,
    /// Size in bytes; 0 for folders.
    pub size: u64,
    /// Last modification, when the file system keeps it.
    pub modified: Option<SystemTime>,
    /// Whether the permissions forbid writing.
    pub readonly: bool,
}

impl Entry {
    /// Its name: the last component of its path (`""` for the mapped folder itself).
    pub fn name(&self) -> &str {
        self.path.file_name().unwrap_or("")
    }

    /// Describes what `metadata` tells about `path`; `None` for anything but a regular file or
    /// a folder (devices, FIFOs, sockets, unresolved symbolic links).
    pub(super) fn from_metadata(path: RelPath, metadata: &cap_std::fs::Metadata) -> Option<Self> {
        let kind = if metadata.is_file() {
            EntryKind::File
        } else if metadata.is_dir() {
            EntryKind::Directory
        } else {
            return None;
        };
        Some(Self {
            path,
            kind,
            size: if kind == EntryKind::File { metadata.len() } else { 0 },
            modified: metadata.modified().ok().map(cap_std::time::SystemTime::into_std),
            readonly: metadata.permissions().readonly(),
        })
    }
}

/// Kinds of entries. Nothing else (devices, FIFOs, sockets) is ever shown or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Directory,
}
