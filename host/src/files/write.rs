//! [`FileWriter`]: a file written beside its target and renamed into place when complete.

use std::io::{self, Read, Write};

use cap_std::fs::{Dir, File, OpenOptions};

use super::{Entry, FileError, RelPath};

/// Names of files being written start with this and end with [`STAGING_SUFFIX`]; listings
/// leave them out.
const STAGING_PREFIX: &str = ".t1c-";
const STAGING_SUFFIX: &str = ".part";

/// What to do when the target exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail with [`FileError::AlreadyExists`] (checked when the writer is created and again
    /// just before the rename; a file created by someone else in between the second check and
    /// the rename is replaced).
    CreateNew,
    /// Replace the target atomically: a reader sees the old file or the new one, never a mix.
    Replace,
}

/// A file being written: the bytes go to a temporary file beside the target (same folder, so
/// the same disk), at most `limit` of them. [`FileWriter::commit`] flushes it to the disk and
/// renames it over the target. Anything else — dropping the writer, [`FileWriter::abort`],
/// going over the limit, a failed write (a full disk) — removes the temporary file, so nothing
/// half-written remains.
pub struct FileWriter {
    parent: Dir,
    staging: Option<String>,
    target: RelPath,
    sink: Option<Box<dyn Sink>>,
    written: u64,
    limit: u64,
    mode: WriteMode,
}

/// Where the bytes go: the temporary file (a test puts a failing one in its place).
pub(super) trait Sink: Write + Send {
    /// Flushes the data to the disk.
    fn sync_all(&mut self) -> io::Result<()>;
}

impl Sink for File {
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
}

impl Sink for std::fs::File {
    fn sync_all(&mut self) -> io::Result<()> {
        std::fs::File::sync_all(self)
    }
}

impl FileWriter {
    /// Starts writing `target`, whose folder `parent` is (opened beneath the mapped folder).
    pub(super) fn create(
        parent: Dir,
        target: RelPath,
        limit: u64,
        mode: WriteMode,
    ) -> Result<Self, FileError> {
        let name = target.file_name().ok_or(FileError::NotAFile)?;
        check_target(&parent, name, mode)?;
        let staging = staging_name()?;
        let file = parent.open_with(&staging, OpenOptions::new().write(true).create_new(true))?;
        Ok(Self {
            parent,
            staging: Some(staging),
            target,
            sink: Some(Box::new(file)),
            written: 0,
            limit,
            mode,
        })
    }

    /// Takes `file` whole as the content of `target`, without copying its bytes: `file` must be
    /// an unnamed temporary file (`O_TMPFILE`) on the same disk as `parent`, which is then
    /// linked beside the target under a temporary name, as [`FileWriter::create`]'s file is.
    /// [`FileWriter::commit`] flushes it and renames it into place.
    ///
    /// Gives `parent` and `file` back when the file cannot be linked here (another disk, a file
    /// that has or had a name, a file system without such links, no `/proc`): the caller copies
    /// it instead.
    ///
    /// # Errors
    /// [`FileError::TooLarge`] when `file` holds more than `limit` bytes, the errors of
    /// [`FileWriter::create`], and failing to read or set the file's metadata.
    #[cfg(target_os = "linux")]
    pub(super) fn adopt(
        parent: Dir,
        target: RelPath,
        limit: u64,
        mode: WriteMode,
        file: std::fs::File,
    ) -> Result<Result<Self, (Dir, std::fs::File)>, FileError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::PermissionsExt;

        let name = target.file_name().ok_or(FileError::NotAFile)?;
        check_target(&parent, name, mode)?;
        let written = file.metadata()?.len();
        if written > limit {
            return Err(FileError::TooLarge { limit });
        }
        // A temporary file is private (0600); a stored one gets what a new file would.
        file.set_permissions(std::fs::Permissions::from_mode(0o666 & !creation_umask()))?;
        let staging = staging_name()?;
        let unnamed = format!("/proc/self/fd/{}", file.as_raw_fd());
        let linked = rustix::fs::linkat(
            rustix::fs::CWD,
            unnamed.as_str(),
            &parent,
            staging.as_str(),
            rustix::fs::AtFlags::SYMLINK_FOLLOW,
        );
        if let Err(err) = linked {
            // Copying works wherever linking does not, and reports the real problems (a full
            // disk, a folder that refuses writes) itself.
            tracing::debug!(%err, "cannot link the received file into its folder; copying it");
            return Ok(Err((parent, file)));
        }
        Ok(Ok(Self {
            parent,
            staging: Some(staging),
            target,
            sink: Some(Box::new(file)),
            written,
            limit,
            mode,
        }))
    }

    /// Appends `chunk`.
    ///
    /// # Errors
    /// [`FileError::TooLarge`] when the file would exceed the limit, [`FileError::NoSpace`]
    /// and [`FileError::Io`] when the write fails; after any of them the temporary file is
    /// gone and further calls fail with [`FileError::Abandoned`].
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), FileError> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(FileError::Abandoned);
        };
        let total = self.written.saturating_add(chunk.len() as u64);
        if total > self.limit {
            self.discard();
            return Err(FileError::TooLarge { limit: self.limit });
        }
        if let Err(err) = sink.write_all(chunk) {
            self.discard();
            return Err(err.into());
        }
        self.written = total;
        Ok(())
    }

    /// Writes everything `source` holds, piece by piece ([`CHUNK_BYTES`](super::CHUNK_BYTES)),
    /// as [`FileWriter::write`] does.
    ///
    /// # Errors
    /// A failed read of `source` ([`FileError::Io`]; the temporary file is removed), and the
    /// errors of [`FileWriter::write`].
    pub fn write_from(&mut self, source: &mut impl Read) -> Result<(), FileError> {
        let mut chunk = vec![0; super::CHUNK_BYTES];
        loop {
            let read = match source.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    self.discard();
                    return Err(err.into());
                }
            };
            self.write(&chunk[..read])?;
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes the file to the disk and renames it over the target.
    ///
    /// # Errors
    /// [`FileError::AlreadyExists`] in [`WriteMode::CreateNew`] when the target appeared
    /// meanwhile, [`FileError::Abandoned`] after a failed write, and I/O errors. The temporary
    /// file is gone whatever the outcome.
    pub fn commit(mut self) -> Result<Entry, FileError> {
        let Some(mut sink) = self.sink.take() else {
            return Err(FileError::Abandoned);
        };
        let flushed = sink.flush().and_then(|()| sink.sync_all());
        drop(sink);
        flushed?;
        let name = self.target.file_name().ok_or(FileError::NotAFile)?.to_owned();
        check_target(&self.parent, &name, self.mode)?;
        let staging = self.staging.as_deref().ok_or(FileError::Abandoned)?;
        self.parent.rename(staging, &self.parent, &name)?;
        self.staging = None;
        sync_dir(&self.parent);
        let metadata = self.parent.metadata(&name)?;
        Entry::from_metadata(self.target.clone(), &metadata).ok_or(FileError::NotAFile)
    }

    /// Gives up: the temporary file is removed and the target left as it was.
    pub fn abort(self) {}

    /// Puts `wrap(sink)` in place of the temporary file's sink.
    #[cfg(test)]
    pub(super) fn wrap_sink(&mut self, wrap: impl FnOnce(Box<dyn Sink>) -> Box<dyn Sink>) {
        self.sink = self.sink.take().map(wrap);
    }

    fn discard(&mut self) {
        self.sink = None;
        if let Some(staging) = self.staging.take()
            && let Err(err) = self.parent.remove_file(&staging)
        {
            tracing::warn!(%err, "cannot remove the temporary file of an unfinished write");
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.discard();
    }
}

impl std::fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWriter")
            .field("target", &self.target)
            .field("written", &self.written)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is the temporary file of a write in progress.
pub(super) fn is_staging_name(name: &str) -> bool {
    name.starts_with(STAGING_PREFIX) && name.ends_with(STAGING_SUFFIX)
}

fn check_target(parent: &Dir, name: &str, mode: WriteMode) -> Result<(), FileError> {
    match parent.symlink_metadata(name) {
        Ok(metadata) if metadata.is_dir() => Err(FileError::NotAFile),
        Ok(_) if mode == WriteMode::CreateNew => Err(FileError::AlreadyExists),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// The process's umask, read once from `/proc/self/status` (setting it to read it would race
/// with other threads creating files); `022` when it cannot be read.
#[cfg(target_os = "linux")]
pub(super) fn creation_umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find_map(|line| line.strip_prefix("Umask:"))?;
                u32::from_str_radix(line.trim(), 8).ok()
            })
            .map_or(0o022, |umask| umask & 0o777)
    })
}

fn staging_name() -> Result<String, FileError> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|err| FileError::Io(io::Error::other(err.to_string())))?;
    Ok(format!("{STAGING_PREFIX}{}{STAGING_SUFFIX}", hex::encode(random)))
}

/// Makes the rename durable. A failure is logged, not returned: the file is complete and in
/// place either way.
fn sync_dir(dir: &Dir) {
    if let Err(err) = flush_dir(dir) {
        tracing::warn!(%err, "cannot flush a folder after renaming a file into it");
    }
}

/// fsync of the folder itself: opened again for reading, since cap-std's `Dir` handle is an
/// `O_PATH` descriptor on Linux, which fsync refuses (EBADF).
fn flush_dir(dir: &Dir) -> io::Result<()> {
    #[cfg(unix)]
    dir.open(".")?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod flush_tests {
    use cap_std::ambient_authority;

    use super::*;

    #[test]
    fn a_folder_handle_is_flushed_after_a_rename() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = Dir::open_ambient_dir(temp.path(), ambient_authority()).expect("dir");
        flush_dir(&dir).expect("the folder is flushed");
    }
}
