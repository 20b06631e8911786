//! [`Spool`]: a request's file, held in an unnamed temporary file until a module stores it.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

/// Why a request's file could not be received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// The file is larger than the limit.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The disk is full.
    #[error("no space left on the disk")]
    NoSpace,
    /// Any other I/O failure.
    #[error("cannot hold the received file: {0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for SpoolError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::NoSpace,
            _ => Self::Io(err),
        }
    }
}

/// Bytes gathered before one write to the file: a form's file arrives in HTTP/2 frames of
/// 16 KiB, and each write is a trip to a blocking thread.
const WRITE_BYTES: usize = 1 << 20;

/// A file being received: bytes go to an unnamed temporary file (gone as soon as it is
/// closed, whatever happens to the connector), at most `limit` of them, written in pieces of
/// [`WRITE_BYTES`]. Each piece is handed whole to a blocking thread, which writes it through
/// a second handle of the file and gives the emptied buffer back (no copy into another
/// buffer on the way, as tokio's file would make).
pub struct SpoolWriter {
    file: std::fs::File,
    pending: Vec<u8>,
    len: u64,
    limit: u64,
}

/// A received file, complete, read from its start.
#[derive(Debug)]
pub struct Spool {
    file: std::fs::File,
}

impl SpoolWriter {
    /// Starts receiving into `dir` (created, private to the user, when missing).
    ///
    /// # Errors
    /// [`SpoolError::Io`] when the folder or the file cannot be created.
    pub fn create(dir: &Path, limit: u64) -> Result<Self, SpoolError> {
        create_private_dir(dir)?;
        let file = tempfile::tempfile_in(dir)?;
        Ok(Self { file, pending: Vec::with_capacity(WRITE_BYTES), len: 0, limit })
    }

    /// Appends `chunk`.
    ///
    /// # Errors
    /// [`SpoolError::TooLarge`] past the limit (nothing more is written), [`SpoolError::NoSpace`],
    /// [`SpoolError::Io`].
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), SpoolError> {
        let len = self.len.saturating_add(chunk.len() as u64);
        if len > self.limit {
            return Err(SpoolError::TooLarge { limit: self.limit });
        }
        self.pending.extend_from_slice(chunk);
        self.len = len;
        if self.pending.len() >= WRITE_BYTES {
            self.flush_pending().await?;
        }
        Ok(())
    }

    /// Writes the gathered bytes on a blocking thread and takes the buffer back.
    async fn flush_pending(&mut self) -> io::Result<()> {
        let mut file = self.file.try_clone()?;
        let mut pending = std::mem::take(&mut self.pending);
        let written = tokio::task::spawn_blocking(move || {
            let written = file.write_all(&pending);
            pending.clear();
            (written, pending)
        })
        .await;
        let (written, pending) = written.map_err(io::Error::other)?;
        self.pending = pending;
        written
    }

    /// Ends the file and rewinds it for reading.
    ///
    /// # Errors
    /// [`SpoolError::NoSpace`], [`SpoolError::Io`].
    pub async fn finish(mut self) -> Result<Spool, SpoolError> {
        self.flush_pending().await?;
        let mut file = self.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(Spool { file })
    }
}

impl Spool {
    /// The file, positioned at its start.
    pub fn into_file(self) -> std::fs::File {
        self.file
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[tokio::test]
    async fn a_received_file_reads_back_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = SpoolWriter::create(&dir.path().join("spool"), 10).expect("writer");
        writer.write(b"hello ").await.expect("write");
        writer.write(b"you").await.expect("write");
        let mut file = writer.finish().await.expect("finish").into_file();
        assert_eq!(file.metadata().expect("metadata").len(), 9);
        let mut text = String::new();
        file.read_to_string(&mut text).expect("read");
        assert_eq!(text, "hello you");
        assert_eq!(std::fs::read_dir(dir.path().join("spool")).expect("list").count(), 0);
    }

    #[tokio::test]
    async fn frames_are_gathered_and_all_reach_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let content: Vec<u8> = (0..(5 * WRITE_BYTES / 2)).map(|i| (i % 241) as u8).collect();
        let mut writer = SpoolWriter::create(dir.path(), content.len() as u64).expect("writer");
        for frame in content.chunks(16 * 1024) {
            writer.write(frame).await.expect("write");
        }
        let mut file = writer.finish().await.expect("finish").into_file();
        let mut back = Vec::new();
        file.read_to_end(&mut back).expect("read");
        assert_eq!(back, content);
    }

    #[tokio::test]
    async fn one_byte_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = SpoolWriter::create(dir.path(), 4).expect("writer");
        writer.write(b"1234").await.expect("at the limit");
        assert!(matches!(writer.write(b"5").await, Err(SpoolError::TooLarge { limit: 4 })));
        let file = writer.finish().await.expect("finish").into_file();
        assert_eq!(file.metadata().expect("metadata").len(), 4);
    }
}
