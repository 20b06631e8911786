//! [`Mappings`]: which folder the user chose for each (application, entity, type).
//!
//! Kept in [`MAPPINGS_FILE`] in the data directory, mode 0600, rewritten whole and atomically
//! (a temporary file, flushed, renamed) on every change, and read back at start. Every look-up
//! takes the application id, so one application never sees another's types.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::{FileError, Root};

/// The file, in the data directory, that keeps the mappings.
pub const MAPPINGS_FILE: &str = "file-exchange.json";
/// Longest application id, entity or type name, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
const FORMAT_VERSION: u32 = 1;

/// A type as the API names it: the caller's application id, an entity and a type name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeKey {
    application: String,
    entity: String,
    type_name: String,
}

/// A type and the folder it is mapped to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypeMapping {
    /// Which type.
    pub key: TypeKey,
    /// The absolute, canonical folder; `None` once unmapped.
    pub folder: Option<PathBuf>,
}

/// Whether a type has a folder (the API's `MAPPED` / `UNMAPPED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingStatus {
    /// The type has a folder.
    Mapped,
    /// The type exists but has no folder.
    Unmapped,
}

/// Why a mapping operation failed. Messages name no folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// An application id, entity or type name is empty, too long or has control characters.
    #[error(
        "the {field} is empty, longer than {MAX_KEY_BYTES} bytes or has control or bidirectional-override characters"
    )]
    InvalidKey {
        /// `application`, `entity` or `type`.
        field: &'static str,
    },
    /// No such type for this application and entity.
    #[error("no such type")]
    Unknown,
    /// The type exists but has no folder.
    #[error("the type is not mapped to a folder")]
    Unmapped,
    /// The mapped folder is gone (or is no longer a folder).
    #[error("the folder does not exist (or is not a folder)")]
    FolderMissing,
    /// The folder to map is not an absolute path.
    #[error("the folder must be an absolute path")]
    NotAbsolute,
    /// The folder to map is a file.
    #[error("the path is not a folder")]
    NotADirectory,
    /// The folder is the file system's root, or holds or is inside the connector's own data
    /// directory (its keys, certificates and these mappings).
    #[error("this folder holds the connector's own data or the whole disk: choose another")]
    ProtectedFolder,
    /// The folder's path is not valid Unicode, so it cannot be stored or shown.
    #[error("the folder's path is not valid Unicode")]
    FolderNotUnicode,
    /// The mapped folder cannot be opened.
    #[error("cannot open the type's folder: {0}")]
    Folder(#[source] FileError),
    /// The mappings file is not what this host writes.
    #[error("the file exchange mappings are corrupt: {0}")]
    Corrupt(String),
    /// The mappings file cannot be read or written.
    #[error("cannot read or write the file exchange mappings: {0}")]
    Storage(#[source] io::Error),
}

/// The mappings of every application, persisted.
#[derive(Debug)]
pub struct Mappings {
    file: PathBuf,
    types: Mutex<BTreeMap<TypeKey, Option<PathBuf>>>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    types: Vec<StoredType>,
}

#[derive(Serialize, Deserialize)]
struct StoredType {
    application: String,
    entity: String,
    #[serde(rename = "type")]
    type_name: String,
    folder: Option<PathBuf>,
}

impl TypeKey {
    /// The key of `type_name` of `entity` for `application` (the caller's id, never taken from
    /// a request body).
    ///
    /// # Errors
    /// [`MappingError::InvalidKey`].
    pub fn new(application: &str, entity: &str, type_name: &str) -> Result<Self, MappingError> {
        Ok(Self {
            application: key_field("application", application)?,
            entity: key_field("entity", entity)?,
            type_name: key_field("type", type_name)?,
        })
    }

    /// The application id.
    pub fn application(&self) -> &str {
        &self.application
    }

    /// The entity.
    pub fn entity(&self) -> &str {
        &self.entity
    }

    /// The type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }
}

impl TypeMapping {
    /// `Mapped` when the type has a folder.
    pub fn status(&self) -> MappingStatus {
        if self.folder.is_some() { MappingStatus::Mapped } else { MappingStatus::Unmapped }
    }
}

impl Mappings {
    /// Reads the mappings kept in `data_dir` (none when the file does not exist yet).
    ///
    /// # Errors
    /// [`MappingError::Corrupt`], [`MappingError::Storage`].
    pub fn load(data_dir: &Path) -> Result<Self, MappingError> {
        let file = data_dir.join(MAPPINGS_FILE);
        let types = match std::fs::read(&file) {
            Ok(bytes) => parse(&bytes)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(err) => return Err(MappingError::Storage(err)),
        };
        Ok(Self { file, types: Mutex::new(types) })
    }

    /// The types of `entity` for `application`, by name.
    pub fn types(&self, application: &str, entity: &str) -> Vec<TypeMapping> {
        self.lock()
            .iter()
            .filter(|(key, _)| key.application == application && key.entity == entity)
            .map(|(key, folder)| TypeMapping { key: key.clone(), folder: folder.clone() })
            .collect()
    }

    /// Every type of `application`, by entity and name.
    pub fn all(&self, application: &str) -> Vec<TypeMapping> {
        self.lock()
            .iter()
            .filter(|(key, _)| key.application == application)
            .map(|(key, folder)| TypeMapping { key: key.clone(), folder: folder.clone() })
            .collect()
    }

    /// The type `key`.
    ///
    /// # Errors
    /// [`MappingError::Unknown`].
    pub fn get(&self, key: &TypeKey) -> Result<TypeMapping, MappingError> {
        let folder = self.lock().get(key).cloned().ok_or(MappingError::Unknown)?;
        Ok(TypeMapping { key: key.clone(), folder })
    }

    /// Maps `key` to the existing folder `folder` (made canonical), creating the type or
    /// replacing its folder, and saves.
    ///
    /// # Errors
    /// [`MappingError::NotAbsolute`], [`MappingError::FolderMissing`],
    /// [`MappingError::NotADirectory`], [`MappingError::FolderNotUnicode`],
    /// [`MappingError::Storage`].
    pub fn map(&self, key: &TypeKey, folder: &Path) -> Result<TypeMapping, MappingError> {
        if !folder.is_absolute() {
            return Err(MappingError::NotAbsolute);
        }
        let folder = std::fs::canonicalize(folder).map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => MappingError::FolderMissing,
            _ => MappingError::Storage(err),
        })?;
        if !folder.is_dir() {
            return Err(MappingError::NotADirectory);
        }
        if self.is_protected(&folder) {
            return Err(MappingError::ProtectedFolder);
        }
        if folder.to_str().is_none() {
            return Err(MappingError::FolderNotUnicode);
        }
        self.change(|types| {
            types.insert(key.clone(), Some(folder.clone()));
            Ok(())
        })?;
        Ok(TypeMapping { key: key.clone(), folder: Some(folder) })
    }

    /// Whether `folder` (canonical) is the root of the file system, or the data directory, or
    /// holds it, or is inside it: a page must never reach the device key, the certificates or
    /// this file through a mapping.
    fn is_protected(&self, folder: &Path) -> bool {
        if folder.parent().is_none() {
            return true;
        }
        let Some(data) = self.file.parent() else {
            return false;
        };
        let data = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
        data.starts_with(folder) || folder.starts_with(&data)
    }

    /// Takes the folder away from `key`; the type stays, `Unmapped`.
    ///
    /// # Errors
    /// [`MappingError::Unknown`], [`MappingError::Storage`].
    pub fn unmap(&self, key: &TypeKey) -> Result<TypeMapping, MappingError> {
        self.change(|types| {
            *types.get_mut(key).ok_or(MappingError::Unknown)? = None;
            Ok(())
        })?;
        Ok(TypeMapping { key: key.clone(), folder: None })
    }

    /// Forgets the type `key` (the folder itself is left alone).
    ///
    /// # Errors
    /// [`MappingError::Unknown`], [`MappingError::Storage`].
    pub fn remove(&self, key: &TypeKey) -> Result<(), MappingError> {
        self.change(|types| types.remove(key).map(drop).ok_or(MappingError::Unknown))
    }

    /// Opens the folder of `key`.
    ///
    /// # Errors
    /// [`MappingError::Unknown`], [`MappingError::Unmapped`], [`MappingError::FolderMissing`],
    /// [`MappingError::Folder`].
    pub fn open(&self, key: &TypeKey) -> Result<Root, MappingError> {
        let folder = self.get(key)?.folder.ok_or(MappingError::Unmapped)?;
        Root::open(&folder).map_err(|err| match err {
            FileError::NotFound | FileError::NotADirectory => MappingError::FolderMissing,
            other => MappingError::Folder(other),
        })
    }

    /// Applies `edit` to a copy, saves the copy, and keeps it only when saved.
    fn change(
        &self,
        edit: impl FnOnce(&mut BTreeMap<TypeKey, Option<PathBuf>>) -> Result<(), MappingError>,
    ) -> Result<(), MappingError> {
        let mut types = self.lock();
        let mut edited = types.clone();
        edit(&mut edited)?;
        save(&self.file, &edited).map_err(MappingError::Storage)?;
        *types = edited;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<TypeKey, Option<PathBuf>>> {
        // The map is replaced whole after a successful save, so a panic elsewhere cannot have
        // left it half-edited.
        self.types.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key_field(field: &'static str, value: &str) -> Result<String, MappingError> {
    // Bidirectional overrides would make a name (shown in the folder chooser's title) read as
    // another.
    let misleading =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if value.is_empty() || value.len() > MAX_KEY_BYTES || value.chars().any(misleading) {
        return Err(MappingError::InvalidKey { field });
    }
    Ok(value.to_owned())
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<TypeKey, Option<PathBuf>>, MappingError> {
    let stored: Stored =
        serde_json::from_slice(bytes).map_err(|err| MappingError::Corrupt(err.to_string()))?;
    if stored.version != FORMAT_VERSION {
        return Err(MappingError::Corrupt(format!("unknown format version {}", stored.version)));
    }
    let mut types = BTreeMap::new();
    for entry in stored.types {
        let key = TypeKey::new(&entry.application, &entry.entity, &entry.type_name)
            .map_err(|err| MappingError::Corrupt(err.to_string()))?;
        if entry.folder.as_deref().is_some_and(|folder| !folder.is_absolute()) {
            return Err(MappingError::Corrupt("a folder is not an absolute path".to_owned()));
        }
        types.insert(key, entry.folder);
    }
    Ok(types)
}

fn save(file: &Path, types: &BTreeMap<TypeKey, Option<PathBuf>>) -> io::Result<()> {
    let stored = Stored {
        version: FORMAT_VERSION,
        types: types
            .iter()
            .map(|(key, folder)| StoredType {
                application: key.application.clone(),
                entity: key.entity.clone(),
                type_name: key.type_name.clone(),
                folder: folder.clone(),
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&stored).map_err(io::Error::other)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".file-exchange-").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let mut temporary = builder.tempfile_in(dir)?;
    temporary.write_all(&json)?;
    temporary.as_file().sync_all()?;
    temporary.persist(file).map_err(|err| err.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
