//! [`Root`]: a mapped folder, and every file operation beneath it.

use std::io;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::listing::MAX_LISTED_ENTRIES;
use super::write::is_staging_name;
use super::{
    Entry, EntryKind, FileError, FileReader, FileWriter, ListOptions, Listing, RelPath, WriteMode,
};
use t1c_sdk::files::is_valid_name;

/// An open mapped folder. Every path given to it is resolved beneath it by `cap-std` (with
/// `openat2(RESOLVE_BENEATH)` on Linux where the kernel has it, component by component with
/// `O_NOFOLLOW` elsewhere), so neither `..` nor a symbolic link — also one swapped in while an
/// operation runs — reaches a file outside. Symbolic links that stay inside are followed.
///
/// Only regular files and folders are shown and opened; devices, FIFOs and sockets are refused
/// with [`FileError::NotAFile`].
#[derive(Debug)]
pub struct Root {
    dir: Dir,
    folder: PathBuf,
}

impl Root {
    /// Opens the folder at the absolute path `folder`.
    ///
    /// # Errors
    /// [`FileError::NotFound`], [`FileError::NotADirectory`], [`FileError::AccessDenied`].
    pub fn open(folder: &Path) -> Result<Self, FileError> {
        let dir = Dir::open_ambient_dir(folder, ambient_authority())?;
        Ok(Self { dir, folder: folder.to_owned() })
    }

    /// The folder's absolute path, as it was opened.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// What `path` is.
    ///
    /// # Errors
    /// [`FileError::NotFound`], [`FileError::AccessDenied`] (also for a link that leads
    /// outside), [`FileError::NotAFile`] for a device, FIFO or socket.
    pub fn metadata(&self, path: &RelPath) -> Result<Entry, FileError> {
        let metadata = if path.is_root() {
            self.dir.dir_metadata()?
        } else {
            self.dir.metadata(path.to_fs_path())?
        };
        Entry::from_metadata(path.clone(), &metadata).ok_or(FileError::NotAFile)
    }

    /// Whether `path` is a file or folder here.
    ///
    /// # Errors
    /// As [`Root::metadata`], except [`FileError::NotFound`], which is `false`.
    pub fn exists(&self, path: &RelPath) -> Result<bool, FileError> {
        match self.metadata(path) {
            Ok(_) => Ok(true),
            Err(FileError::NotFound) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The files and folders directly inside the folder `path`, filtered, sorted and paged.
    ///
    /// Left out: devices, FIFOs, sockets, links that lead outside or nowhere, names a
    /// [`RelPath`] cannot express (not UTF-8, with `:`, …), and the temporary files of writes
    /// in progress.
    ///
    /// # Errors
    /// [`FileError::NotFound`], [`FileError::NotADirectory`], [`FileError::AccessDenied`],
    /// [`FileError::TooManyEntries`].
    pub fn list(&self, path: &RelPath, options: &ListOptions) -> Result<Listing, FileError> {
        let dir = self.open_dir(path)?;
        let mut entries = Vec::new();
        for (count, item) in dir.entries()?.enumerate() {
            if count >= MAX_LISTED_ENTRIES {
                return Err(FileError::TooManyEntries { max: MAX_LISTED_ENTRIES });
            }
            let item = item?;
            let Ok(name) = item.file_name().into_string() else {
                continue;
            };
            if !is_valid_name(&name) || is_staging_name(&name) {
                continue;
            }
            let Ok(child) = path.join(&name) else {
                continue;
            };
            // A link is described by what it leads to, resolved beneath the mapped folder (not
            // just this subfolder); anything that vanished since the folder was read is skipped.
            let metadata = match item.file_type() {
                Ok(kind) if kind.is_symlink() => self.dir.metadata(child.to_fs_path()),
                Ok(_) => item.metadata(),
                Err(err) => Err(err),
            };
            if let Some(entry) = metadata.ok().and_then(|m| Entry::from_metadata(child, &m)) {
                entries.push(entry);
            }
        }
        Ok(options.apply(entries))
    }

    /// Opens the regular file `path` for reading.
    ///
    /// # Errors
    /// As [`Root::metadata`], and [`FileError::NotAFile`] for a folder.
    pub fn open_read(&self, path: &RelPath) -> Result<FileReader, FileError> {
        FileReader::open(&self.dir, path)
    }

    /// Starts writing the file `path` (its folder must exist), at most `limit` bytes.
    ///
    /// # Errors
    /// [`FileError::AlreadyExists`] in [`WriteMode::CreateNew`] when `path` exists,
    /// [`FileError::NotAFile`] when it is a folder, and the errors of opening its folder.
    pub fn create_file(
        &self,
        path: &RelPath,
        limit: u64,
        mode: WriteMode,
    ) -> Result<FileWriter, FileError> {
        let parent = path.parent().ok_or(FileError::NotAFile)?;
        FileWriter::create(self.open_dir(&parent)?, path.clone(), limit, mode)
    }

    /// Stores `file`, read from its start, as the file `path` (its folder must exist), at most
    /// `limit` bytes, as a [`FileWriter`] would: complete or not at all. An unnamed temporary
    /// file on the same disk (a received download) is linked into place instead of copied.
    ///
    /// # Errors
    /// As [`Root::create_file`], [`FileError::TooLarge`], [`FileError::NoSpace`].
    pub fn store(
        &self,
        path: &RelPath,
        file: std::fs::File,
        limit: u64,
        mode: WriteMode,
    ) -> Result<Entry, FileError> {
        let parent = self.open_dir(&path.parent().ok_or(FileError::NotAFile)?)?;
        #[cfg(target_os = "linux")]
        let (parent, file) = match FileWriter::adopt(parent, path.clone(), limit, mode, file)? {
            Ok(linked) => return linked.commit(),
            Err(unlinked) => unlinked,
        };
        let mut writer = FileWriter::create(parent, path.clone(), limit, mode)?;
        writer.write_from(&mut &file)?;
        writer.commit()
    }

    /// Creates the folder `path`; its parent must exist.
    ///
    /// # Errors
    /// [`FileError::AlreadyExists`], [`FileError::NotFound`] for a missing parent.
    pub fn create_dir(&self, path: &RelPath) -> Result<Entry, FileError> {
        if path.is_root() {
            return Err(FileError::AlreadyExists);
        }
        self.dir.create_dir(path.to_fs_path())?;
        self.metadata(path)
    }

    /// Creates the folder `path` and any missing parents; a folder that exists is fine.
    ///
    /// # Errors
    /// [`FileError::AlreadyExists`] when `path` or a parent is a file.
    pub fn create_dir_all(&self, path: &RelPath) -> Result<Entry, FileError> {
        if !path.is_root() {
            self.dir.create_dir_all(path.to_fs_path())?;
        }
        let entry = self.metadata(path)?;
        match entry.kind {
            EntryKind::Directory => Ok(entry),
            EntryKind::File => Err(FileError::AlreadyExists),
        }
    }

    /// Copies the regular file `from` to `to` beneath `target` (this root or another), through
    /// a [`FileWriter`]: an interrupted copy leaves nothing.
    ///
    /// # Errors
    /// As [`Root::open_read`] and [`Root::create_file`]; [`FileError::NoSpace`].
    pub fn copy(
        &self,
        from: &RelPath,
        target: &Root,
        to: &RelPath,
        mode: WriteMode,
    ) -> Result<Entry, FileError> {
        let mut reader = self.open_read(from)?;
        let mut writer = target.create_file(to, u64::MAX, mode)?;
        writer.write_from(&mut reader)?;
        writer.commit()
    }

    /// Moves the file or folder `from` to `to` beneath `target` (this root or another). With
    /// [`WriteMode::CreateNew`] the target must not exist (checked just before the rename; one
    /// created by someone else in between is replaced); with [`WriteMode::Replace`] a file
    /// moved onto a file replaces it atomically (one rename), and anything else that exists
    /// there is refused. On one disk this is one rename; a file moved to another disk is copied,
    /// then removed here.
    ///
    /// # Errors
    /// [`FileError::AlreadyExists`], [`FileError::NotFound`], [`FileError::AccessDenied`]
    /// (also for the mapped folder itself), [`FileError::CrossDeviceFolder`].
    pub fn move_to(
        &self,
        from: &RelPath,
        target: &Root,
        to: &RelPath,
        mode: WriteMode,
    ) -> Result<Entry, FileError> {
        let (Some(from_parent), Some(from_name)) = (from.parent(), from.file_name()) else {
            return Err(FileError::AccessDenied);
        };
        let (Some(to_parent), Some(to_name)) = (to.parent(), to.file_name()) else {
            return Err(FileError::AlreadyExists);
        };
        let source = self.metadata(from)?;
        match target.metadata(to) {
            Err(FileError::NotFound) => {}
            Ok(existing)
                if mode == WriteMode::Replace
                    && existing.kind == EntryKind::File
                    && source.kind == EntryKind::File => {}
            Ok(_) => return Err(FileError::AlreadyExists),
            Err(err) => return Err(err),
        }
        let source_dir = self.open_dir(&from_parent)?;
        let target_dir = target.open_dir(&to_parent)?;
        match source_dir.rename(from_name, &target_dir, to_name) {
            Ok(()) => target.metadata(to),
            Err(err) if err.kind() == io::ErrorKind::CrossesDevices => match source.kind {
                EntryKind::File => {
                    let entry = self.copy(from, target, to, mode)?;
                    source_dir.remove_file(from_name)?;
                    Ok(entry)
                }
                EntryKind::Directory => Err(FileError::CrossDeviceFolder),
            },
            Err(err) => Err(err.into()),
        }
    }

    /// Renames `from` to `to` within this folder ([`Root::move_to`] onto itself, never
    /// replacing).
    ///
    /// # Errors
    /// As [`Root::move_to`].
    pub fn rename(&self, from: &RelPath, to: &RelPath) -> Result<Entry, FileError> {
        self.move_to(from, self, to, WriteMode::CreateNew)
    }

    /// Removes the file or empty folder `path`. A link is removed, not what it leads to.
    ///
    /// # Errors
    /// [`FileError::NotFound`], [`FileError::NotEmpty`], [`FileError::AccessDenied`] (also
    /// for the mapped folder itself).
    pub fn remove(&self, path: &RelPath) -> Result<(), FileError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(FileError::AccessDenied);
        };
        let dir = self.open_dir(&parent)?;
        if dir.symlink_metadata(name)?.is_dir() {
            dir.remove_dir(name)?;
        } else {
            dir.remove_file(name)?;
        }
        Ok(())
    }

    fn open_dir(&self, path: &RelPath) -> Result<Dir, FileError> {
        Ok(if path.is_root() {
            self.dir.try_clone()?
        } else {
            self.dir.open_dir(path.to_fs_path())?
        })
    }
}
