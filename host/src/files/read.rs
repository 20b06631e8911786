//! [`FileReader`]: a regular file beneath a mapped folder, read in chunks.

use std::io::{self, Read};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::fs::{Dir, File, OpenOptions};

use super::{FileError, RelPath};

/// Bytes one [`FileReader::next_chunk`] returns at most.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// An open regular file, read from the start in chunks of at most [`CHUNK_BYTES`]; never held
/// in memory whole.
#[derive(Debug)]
pub struct FileReader {
    file: File,
    len: u64,
}

impl FileReader {
    /// Opens `path` beneath `dir` for reading: a regular file only.
    ///
    /// The type is checked on the path first, so that a device or FIFO is never opened (an
    /// open can have effects of its own), and again on the opened handle, so that a file
    /// swapped for one in between is refused too. The open does not block on a FIFO
    /// (`O_NONBLOCK`) and never takes a terminal as controlling terminal (`O_NOCTTY`).
    pub(super) fn open(dir: &Dir, path: &RelPath) -> Result<Self, FileError> {
        if path.is_root() {
            return Err(FileError::NotAFile);
        }
        let fs_path = path.to_fs_path();
        if !dir.metadata(&fs_path)?.is_file() {
            return Err(FileError::NotAFile);
        }
        let mut options = OpenOptions::new();
        options.read(true).nonblock(true).follow(FollowSymlinks::Yes);
        #[cfg(unix)]
        cap_std::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOCTTY);
        let file = dir.open_with(&fs_path, &options)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(FileError::NotAFile);
        }
        Ok(Self { file, len: metadata.len() })
    }

    /// The size of the file when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file was empty when it was opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next chunk; `None` at the end of the file.
    ///
    /// # Errors
    /// [`FileError::Io`] when the read fails.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, FileError> {
        let mut chunk = vec![0; CHUNK_BYTES];
        let read = loop {
            match self.file.read(&mut chunk) {
                Ok(read) => break read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            }
        };
        if read == 0 {
            return Ok(None);
        }
        chunk.truncate(read);
        Ok(Some(chunk))
    }

    /// The open file, for an asynchronous runtime to stream (`tokio::fs::File::from_std`).
    pub fn into_std(self) -> std::fs::File {
        self.file.into_std()
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}
