//! [`FileExchange`] and the runtime's `files` traits over the connector's file library.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use t1c_runtime::{Content, FileAccess, Folder};
use t1c_sdk::files::{Entry, EntryKind, FileError, TypeMapping};

use super::Spool;
use crate::ds::Notifier;
use crate::files::chooser::{ChooserError, FolderChooser};
use crate::files::{self, ListOptions, MappingError, Mappings, RelPath, Root, TypeKey, WriteMode};

/// Files received at once, at most (each holds a blocking thread and disk until stored).
pub const MAX_TRANSFERS: usize = 4;
/// The longest a module call waits for the user to choose a folder: well inside the module's
/// wall-time limit, so a late answer is not lost to a deadline after it was saved.
pub const MAX_CHOOSER_WAIT: Duration = Duration::from_secs(90);

/// The connector's file exchange: the mappings, the folder chooser, the notifications, where a
/// request's file waits for its module, and how large it may be. Cheap to clone.
#[derive(Clone)]
pub struct FileExchange {
    mappings: Arc<Mappings>,
    chooser: FolderChooser,
    notifier: Notifier,
    spool_dir: PathBuf,
    max_file_bytes: u64,
    transfers: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for FileExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileExchange")
            .field("spool_dir", &self.spool_dir)
            .field("max_file_bytes", &self.max_file_bytes)
            .finish_non_exhaustive()
    }
}

impl FileExchange {
    /// The file exchange over `mappings`, asking the user through `chooser`, spooling received
    /// files in `spool_dir` (created private when missing), each at most `max_file_bytes`.
    pub fn new(
        mappings: Arc<Mappings>,
        chooser: FolderChooser,
        notifier: Notifier,
        spool_dir: PathBuf,
        max_file_bytes: u64,
    ) -> Self {
        let transfers = Arc::new(tokio::sync::Semaphore::new(MAX_TRANSFERS));
        Self { mappings, chooser, notifier, spool_dir, max_file_bytes, transfers }
    }

    /// A place for one received file, if fewer than [`MAX_TRANSFERS`] are under way; held
    /// until dropped.
    pub fn start_transfer(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.transfers.clone().try_acquire_owned().ok()
    }

    /// Where received files wait for their module.
    pub fn spool_dir(&self) -> &Path {
        &self.spool_dir
    }

    /// The largest file a request may carry.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// The `files` of one call of `application` (the caller's id). `runtime` runs the folder
    /// chooser and notifications while the module waits on its blocking thread.
    pub fn for_application(
        &self,
        application: &str,
        runtime: tokio::runtime::Handle,
    ) -> ApplicationFiles {
        ApplicationFiles { exchange: self.clone(), application: application.to_owned(), runtime }
    }
}

/// One application's file exchange, for one module call.
pub struct ApplicationFiles {
    exchange: FileExchange,
    application: String,
    runtime: tokio::runtime::Handle,
}

impl ApplicationFiles {
    fn key(&self, entity: &str, type_name: &str) -> Result<TypeKey, FileError> {
        TypeKey::new(&self.application, entity, type_name).map_err(mapping_error)
    }
}

impl FileAccess for ApplicationFiles {
    fn list_types(&self, entity: Option<&str>) -> Result<Vec<TypeMapping>, FileError> {
        let mappings = &self.exchange.mappings;
        let types = match entity {
            Some(entity) => mappings.types(&self.application, entity),
            None => mappings.all(&self.application),
        };
        Ok(types.into_iter().map(type_mapping).collect())
    }

    fn map_type(
        &self,
        entity: &str,
        type_name: &str,
        suggested: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<TypeMapping, FileError> {
        let key = self.key(entity, type_name)?;
        // The dialog names who asks: the page chooses the entity and type, not the application.
        let title = format!("{} asks for a folder for “{type_name}” ({entity})", self.application);
        let chooser = &self.exchange.chooser;
        let start = suggested.map(Path::new);
        let wait = wait.map_or(MAX_CHOOSER_WAIT, |wait| wait.min(MAX_CHOOSER_WAIT));
        // Runs on the module call's blocking thread (never on the runtime's own threads, where
        // `block_on` would panic): the dialog's task runs on the runtime meanwhile.
        let chosen = self.runtime.block_on(async {
            tokio::time::timeout(wait, chooser.choose_from(&key, &title, start))
                .await
                .unwrap_or(Err(ChooserError::NoAnswer { waited: wait }))
        });
        let folder = chosen.map_err(|err| match err {
            ChooserError::NoChooser { .. } => FileError::NoChooser,
            ChooserError::Waiting => FileError::Waiting,
            ChooserError::Cancelled => FileError::Cancelled,
            ChooserError::NoAnswer { .. } => FileError::TimedOut,
            other => {
                tracing::warn!("folder chooser: {other}");
                FileError::Io("the folder chooser failed".to_owned())
            }
        })?;
        let mapping = self.exchange.mappings.map(&key, &folder).map_err(mapping_error)?;
        tracing::info!(application = %self.application, entity, type_name, "type mapped by the user");
        Ok(type_mapping(mapping))
    }

    fn unmap_type(&self, entity: &str, type_name: &str) -> Result<bool, FileError> {
        let key = self.key(entity, type_name)?;
        match self.exchange.mappings.remove(&key) {
            Ok(()) => Ok(true),
            Err(MappingError::Unknown) => Ok(false),
            Err(err) => Err(mapping_error(err)),
        }
    }

    fn open(&self, entity: &str, type_name: &str) -> Result<Box<dyn Folder>, FileError> {
        let key = self.key(entity, type_name)?;
        let root = self.exchange.mappings.open(&key).map_err(mapping_error)?;
        Ok(Box::new(TypeFolder { root, max_file_bytes: self.exchange.max_file_bytes }))
    }

    fn notify(&self, summary: &str, body: &str) {
        let notifier = self.exchange.notifier.clone();
        let (summary, body) = (summary.to_owned(), body.to_owned());
        // Not waited for: the answer to the web page does not depend on it.
        self.runtime.spawn(async move { notifier.notify(&summary, &body, false).await });
    }
}

/// A type's folder opened for a module call.
pub struct TypeFolder {
    root: Root,
    max_file_bytes: u64,
}

impl TypeFolder {
    fn target(target: &dyn Folder) -> Result<&TypeFolder, FileError> {
        target
            .as_any()
            .downcast_ref::<TypeFolder>()
            .ok_or_else(|| FileError::Io("the target is not a folder of this connector".into()))
    }
}

impl Folder for TypeFolder {
    fn list(&self, path: &str) -> Result<Vec<Entry>, FileError> {
        let listing = self.root.list(&parse(path)?, &ListOptions::default()).map_err(file_error)?;
        Ok(listing.entries.into_iter().map(entry).collect())
    }

    fn metadata(&self, path: &str) -> Result<Entry, FileError> {
        self.root.metadata(&parse(path)?).map(entry).map_err(file_error)
    }

    fn create_directory(&self, path: &str, recursive: bool) -> Result<Entry, FileError> {
        let path = parse(path)?;
        let created =
            if recursive { self.root.create_dir_all(&path) } else { self.root.create_dir(&path) };
        created.map(entry).map_err(file_error)
    }

    fn remove(&self, path: &str) -> Result<(), FileError> {
        self.root.remove(&parse(path)?).map_err(file_error)
    }

    fn copy_to(
        &self,
        source: &str,
        target: &dyn Folder,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError> {
        let target = Self::target(target)?;
        self.root
            .copy(&parse(source)?, &target.root, &parse(destination)?, write_mode(overwrite))
            .map(entry)
            .map_err(file_error)
    }

    fn move_to(
        &self,
        source: &str,
        target: &dyn Folder,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError> {
        let target = Self::target(target)?;
        self.root
            .move_to(&parse(source)?, &target.root, &parse(destination)?, write_mode(overwrite))
            .map(entry)
            .map_err(file_error)
    }

    fn receive(&self, path: &str, overwrite: bool, content: Content) -> Result<Entry, FileError> {
        let path = parse(path)?;
        let spool = content.downcast::<Spool>().map_err(|_| {
            FileError::Io("the request's file is not held by this connector".into())
        })?;
        self.root
            .store(&path, spool.into_file(), self.max_file_bytes, write_mode(overwrite))
            .map(entry)
            .map_err(file_error)
    }

    fn open_to_send(&self, path: &str) -> Result<(Entry, Content), FileError> {
        let path = parse(path)?;
        let reader = self.root.open_read(&path).map_err(file_error)?;
        let mut metadata = self.root.metadata(&path).map(entry).map_err(file_error)?;
        // What is sent is the open file, whatever replaced the name since.
        metadata.size = reader.len();
        Ok((metadata, Box::new(reader)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn parse(path: &str) -> Result<RelPath, FileError> {
    RelPath::parse(path).map_err(|err| FileError::InvalidPath(err.to_string()))
}

fn write_mode(overwrite: bool) -> WriteMode {
    if overwrite { WriteMode::Replace } else { WriteMode::CreateNew }
}

fn entry(entry: files::Entry) -> Entry {
    let modified_ms = entry
        .modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Entry {
        path: entry.path.as_str().to_owned(),
        kind: match entry.kind {
            files::EntryKind::File => EntryKind::File,
            files::EntryKind::Directory => EntryKind::Directory,
        },
        size: entry.size,
        modified_ms,
        readable: true,
        writable: !entry.readonly,
    }
}

fn type_mapping(mapping: files::TypeMapping) -> TypeMapping {
    let available = mapping.folder.as_deref().is_some_and(Path::is_dir);
    TypeMapping {
        entity: mapping.key.entity().to_owned(),
        type_name: mapping.key.type_name().to_owned(),
        folder: mapping.folder.map(|f| f.display().to_string()).unwrap_or_default(),
        available,
    }
}

/// The library's error in the contract's terms. Its messages name no path.
fn file_error(err: files::FileError) -> FileError {
    match err {
        files::FileError::InvalidPath(reason) => FileError::InvalidPath(reason.to_string()),
        files::FileError::NotFound => FileError::NotFound,
        files::FileError::AlreadyExists => FileError::AlreadyExists,
        files::FileError::AccessDenied => FileError::AccessDenied,
        files::FileError::NotAFile => FileError::WrongKind("not a regular file".into()),
        files::FileError::NotADirectory => FileError::WrongKind("not a folder".into()),
        files::FileError::NotEmpty => FileError::NotEmpty,
        files::FileError::TooLarge { .. } => FileError::TooLarge,
        files::FileError::NoSpace => FileError::NoSpace,
        other => FileError::Io(other.to_string()),
    }
}

fn mapping_error(err: MappingError) -> FileError {
    match err {
        MappingError::Unknown | MappingError::Unmapped | MappingError::FolderMissing => {
            FileError::NotMapped
        }
        MappingError::InvalidKey { .. } | MappingError::ProtectedFolder => {
            FileError::InvalidPath(err.to_string())
        }
        MappingError::Folder(inner) => file_error(inner),
        other => {
            tracing::warn!("file exchange mappings: {other}");
            FileError::Io("the file exchange mappings cannot be used".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_few_files_are_received_at_once() {
        let data = tempfile::tempdir().expect("data");
        let mappings = Arc::new(Mappings::load(data.path()).expect("mappings"));
        let exchange = FileExchange::new(
            mappings,
            FolderChooser::at(None, MAX_CHOOSER_WAIT),
            Notifier::at(None),
            data.path().join("tmp"),
            1024,
        );
        let held: Vec<_> = (0..MAX_TRANSFERS).map(|_| exchange.start_transfer()).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(exchange.start_transfer().is_none(), "one more than the limit");
        drop(held);
        assert!(exchange.start_transfer().is_some(), "free again once they end");
    }
}
