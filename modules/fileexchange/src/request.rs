//! The request bodies of the operations, as t1c-sdk-js sends them, and the values inside them
//! that need more than serde's defaults: relative paths given as segments or as one string,
//! flags given as booleans or as the strings of a multipart form, names and pages.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, de::DeserializeOwned};
use t1c_sdk::{Error, Result};

/// The largest page a request may ask for; a larger one is a client bug.
pub const MAX_PAGE_SIZE: i64 = 1_000_000;

/// Parses the JSON `request` of `operation`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the operation and what is missing or malformed.
pub fn parse<T: DeserializeOwned>(operation: &str, request: &str) -> Result<T> {
    let invalid = |what: String| Error::invalid_input(format!("`{operation}` request: {what}"));
    let value: serde_json::Value =
        serde_json::from_str(request).map_err(|err| invalid(err.to_string()))?;
    if !value.is_object() {
        return Err(invalid("expected a JSON object".to_owned()));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // A missing field has no path of its own: the message names it.
        if path == "." { invalid(inner.to_string()) } else { invalid(format!("{path}: {inner}")) }
    })
}

/// `{entity, type}`: one type (delete-type, exist-type, list-type).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
}

/// create-type: `{entity, type, initPath?, timeout?, modal?}` (`modal` is ignored: the folder
/// chooser is the desktop's).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTypeRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    #[serde(default)]
    pub init_path: Option<FolderHint>,
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// create-type-dirs: `{entity, type, relPath, timeout?, modal?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTypeDirsRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    pub rel_path: RelPath,
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// update-type: `{entity, type, timeout?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTypeRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// list-types and list-content: `{entity?, page?}` (list-content needs the entity).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRequest {
    #[serde(default)]
    pub entity: Option<Name>,
    #[serde(default)]
    pub page: Option<Page>,
}

/// list-type-content: `{entity, type, relPath?, page?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTypeContentRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    #[serde(default)]
    pub rel_path: RelPath,
    #[serde(default)]
    pub page: Option<Page>,
}

/// exist-file: `{entity, type, relPath}`, the path of the file itself.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    pub rel_path: RelPath,
}

/// create-dir: `{entity, type, relPath, recursive?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDirRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    pub rel_path: RelPath,
    #[serde(default)]
    pub recursive: Flag,
}

/// get-file-info and get-access-mode: `{entity, type, fileName, relPath?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    pub file_name: FileName,
    #[serde(default)]
    pub rel_path: RelPath,
}

/// copy-file: `{entity, fromType, toType, fileName, newFileName, fromRelPath?, toRelPath?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyRequest {
    pub entity: Name,
    pub from_type: Name,
    pub to_type: Name,
    pub file_name: FileName,
    pub new_file_name: FileName,
    #[serde(default)]
    pub from_rel_path: RelPath,
    #[serde(default)]
    pub to_rel_path: RelPath,
}

/// move-file: `{entity, fromType, toType, fileName, fromRelPath?, toRelPath?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoveRequest {
    pub entity: Name,
    pub from_type: Name,
    pub to_type: Name,
    pub file_name: FileName,
    #[serde(default)]
    pub from_rel_path: RelPath,
    #[serde(default)]
    pub to_rel_path: RelPath,
}

/// rename-file: `{entity, type, fileName, newFileName, relPath?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    pub file_name: FileName,
    pub new_file_name: FileName,
    #[serde(default)]
    pub rel_path: RelPath,
}

/// download (a multipart form; the host gives its text fields as strings):
/// `{entity, type, fileName, relPath?, implicitCreationType?, notifyOnCompletion?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    pub file_name: FileName,
    #[serde(default)]
    pub rel_path: RelPath,
    #[serde(default)]
    pub implicit_creation_type: Flag,
    #[serde(default)]
    pub notify_on_completion: Flag,
}

/// upload: `{entity, type, fileName, relPath?, notifyOnCompletion?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadRequest {
    pub entity: Name,
    #[serde(rename = "type")]
    pub type_name: Name,
    pub file_name: FileName,
    #[serde(default)]
    pub rel_path: RelPath,
    #[serde(default)]
    pub notify_on_completion: Flag,
}

/// An entity's or a type's name: any non-empty string (the host decides what it accepts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(String);

impl TryFrom<String> for Name {
    type Error = &'static str;

    fn try_from(name: String) -> std::result::Result<Self, Self::Error> {
        if name.is_empty() {
            Err("an entity or type name must not be empty")
        } else {
            Ok(Self(name))
        }
    }
}

impl Name {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A file's name: one non-empty path segment (no `/`). Everything else about it is the
/// host's to check, literally: nothing is decoded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FileName(String);

impl TryFrom<String> for FileName {
    type Error = &'static str;

    fn try_from(name: String) -> std::result::Result<Self, Self::Error> {
        if name.is_empty() {
            Err("a file name must not be empty")
        } else if name.contains('/') {
            Err("a file name is one name, without `/` (the directory goes in relPath)")
        } else {
            Ok(Self(name))
        }
    }
}

impl FileName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A path relative to a type's folder, as segments. t1c-sdk-js sends an array of segments in
/// JSON bodies, and (from 3.5) one comma-joined string in the download form; a `/`-separated
/// string is taken too. The segments are joined with `/` as they are: the host refuses `..`,
/// empty names and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelPath(Vec<String>);

impl RelPath {
    /// The path, `/`-separated; "" for the folder itself.
    pub fn path(&self) -> String {
        self.0.join("/")
    }

    /// The path of `name` inside this directory.
    pub fn join(&self, name: &FileName) -> String {
        if self.is_root() {
            name.as_str().to_owned()
        } else {
            format!("{}/{}", self.path(), name.0)
        }
    }

    /// Whether this is the folder itself (no segments, or one empty one).
    pub fn is_root(&self) -> bool {
        self.path().is_empty()
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct RelPathVisitor;

        impl<'de> Visitor<'de> for RelPathVisitor {
            type Value = RelPath;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of path segments, or a path with `/` or `,` between names")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<RelPath, E> {
                if text.is_empty() {
                    return Ok(RelPath::default());
                }
                Ok(RelPath(text.split([',', '/']).map(str::to_owned).collect()))
            }

            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<RelPath, A::Error> {
                let mut segments = Vec::new();
                while let Some(segment) = seq.next_element::<String>()? {
                    segments.push(segment);
                }
                Ok(RelPath(segments))
            }

            fn visit_unit<E: de::Error>(self) -> std::result::Result<RelPath, E> {
                Ok(RelPath::default())
            }

            fn visit_none<E: de::Error>(self) -> std::result::Result<RelPath, E> {
                Ok(RelPath::default())
            }

            fn visit_some<D: Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> std::result::Result<RelPath, D::Error> {
                deserializer.deserialize_any(self)
            }
        }

        deserializer.deserialize_any(RelPathVisitor)
    }
}

/// create-type's `initPath`, where the folder chooser starts: an absolute path as a string,
/// or its segments (joined with `/`, with a leading `/` when the first lacks one). Only a
/// hint to the chooser, which the host may ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderHint(String);

impl FolderHint {
    /// The folder, or `None` when the hint is empty.
    pub fn folder(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for FolderHint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Hint {
            Path(String),
            Segments(Vec<String>),
        }
        let hint = Hint::deserialize(deserializer).map_err(|_| {
            de::Error::custom("initPath: expected a folder path or an array of its segments")
        })?;
        Ok(Self(match hint {
            Hint::Path(path) => path,
            Hint::Segments(segments) => {
                let joined = segments.join("/");
                if joined.is_empty() || joined.starts_with('/') {
                    joined
                } else {
                    format!("/{joined}")
                }
            }
        }))
    }
}

/// A yes/no field: a JSON boolean, or `"true"` / `"false"` from a multipart form; absent or
/// null is no.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct FlagVisitor;

        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = Flag;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false (a boolean or a string)")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> std::result::Result<Flag, E> {
                Ok(Flag(value))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Flag, E> {
                match text {
                    "true" => Ok(Flag(true)),
                    "false" | "" => Ok(Flag(false)),
                    _ => Err(E::custom("expected true or false")),
                }
            }

            fn visit_unit<E: de::Error>(self) -> std::result::Result<Flag, E> {
                Ok(Flag(false))
            }

            fn visit_none<E: de::Error>(self) -> std::result::Result<Flag, E> {
                Ok(Flag(false))
            }

            fn visit_some<D: Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> std::result::Result<Flag, D::Error> {
                deserializer.deserialize_any(self)
            }
        }

        deserializer.deserialize_any(FlagVisitor)
    }
}

/// `{start, size, sort}`: which part of a sorted list to answer. Missing fields: from the
/// first, everything, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Page {
    #[serde(default)]
    start: Option<i64>,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    sort: Option<String>,
}

/// The order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By name, A to Z.
    Ascending,
    /// By name, Z to A.
    Descending,
}

impl Page {
    /// The order asked for (ascending by default).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a sort other than `ASC` or `DESC` (in any case).
    pub fn order(page: Option<&Page>) -> Result<Order> {
        match page.and_then(|p| p.sort.as_deref()) {
            None => Ok(Order::Ascending),
            Some(sort) if sort.eq_ignore_ascii_case("asc") => Ok(Order::Ascending),
            Some(sort) if sort.eq_ignore_ascii_case("desc") => Ok(Order::Descending),
            Some(_) => Err(Error::invalid_input("page.sort must be ASC or DESC")),
        }
    }

    /// `items` cut to the page (all of them without one).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a negative start, or a size under 1 or over
    /// [`MAX_PAGE_SIZE`].
    pub fn cut<T>(page: Option<&Page>, items: Vec<T>) -> Result<Vec<T>> {
        let Some(page) = page else {
            return Ok(items);
        };
        let start = page.start.unwrap_or(0);
        if start < 0 {
            return Err(Error::invalid_input("page.start must not be negative"));
        }
        let size = page.size.unwrap_or(MAX_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(Error::invalid_input(format!(
                "page.size must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        // Both are within usize on every target: start is at most i64::MAX, but an index past
        // the end is simply an empty page.
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        Ok(items.into_iter().skip(start).take(size).collect())
    }
}

/// A timeout in seconds (t1c-sdk-js) as the milliseconds the host takes.
///
/// # Errors
/// [`Error::InvalidInput`] when it does not fit (over 49 days).
pub fn timeout_ms(seconds: Option<u64>) -> Result<Option<u32>> {
    seconds
        .map(|s| {
            s.checked_mul(1000)
                .and_then(|ms| u32::try_from(ms).ok())
                .ok_or_else(|| Error::invalid_input("timeout is too long (seconds)"))
        })
        .transpose()
}
