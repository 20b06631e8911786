//! The answers' shapes, as t1c-sdk-js's `FileExchangeModel` declares them: `File`,
//! `FileList`, `Type` and `TypeList`.

use std::cmp::Ordering;

use serde::Serialize;
use t1c_sdk::files::{Entry, TypeMapping};

use crate::request::Order;

/// `File`: an entry of a type's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    /// What follows the name's last `.` ("" for none, for a leading dot only, and for
    /// directories).
    pub extension: String,
    /// The last segment of the path.
    pub name: String,
    /// The absolute path on the disk: the type's folder and the relative path.
    pub path: String,
    /// The segments of the directory it is in, relative to the type's folder.
    pub rel_path: Vec<String>,
    /// The type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The entity.
    pub entity: String,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Last modification, ISO 8601 in UTC with milliseconds (`2024-03-01T09:30:00.000Z`).
    pub last_modification_time: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// `rw`, `r`, `w` or "".
    pub access: String,
}

impl File {
    /// The `File` of `entry` in the folder of `mapping`.
    pub fn new(mapping: &TypeMapping, entry: &Entry) -> Self {
        let name = entry.name().to_owned();
        let extension = if entry.is_dir() { "" } else { extension(&name) }.to_owned();
        let mut rel_path: Vec<String> = entry.path.split('/').map(str::to_owned).collect();
        rel_path.pop();
        Self {
            extension,
            name,
            path: absolute(&mapping.folder, &entry.path),
            rel_path,
            type_name: mapping.type_name.clone(),
            entity: mapping.entity.clone(),
            size: entry.size,
            last_modification_time: iso_8601(entry.modified_ms),
            is_dir: entry.is_dir(),
            access: access(entry.readable, entry.writable).to_owned(),
        }
    }
}

/// `FileList`: a page of files and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileList {
    /// The page.
    pub files: Vec<File>,
    /// How many before paging.
    pub total: usize,
}

/// `Type`: a type and its folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Type {
    /// The entity.
    pub entity: String,
    /// The type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The folder (absolute).
    pub path: String,
    /// The folder's access, `rw`, `r`, `w` or "" (also when it is unavailable).
    pub access: String,
    /// `MAPPED` when the folder is there, `UNMAPPED` when it is gone.
    pub status: &'static str,
    /// How many entries are directly in the folder (0 when it is unavailable).
    pub files: usize,
}

/// `TypeList`: a page of types and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeList {
    /// The page.
    pub types: Vec<Type>,
    /// How many before paging.
    pub total: usize,
}

/// `rw`, `r`, `w` or "".
pub fn access(readable: bool, writable: bool) -> &'static str {
    match (readable, writable) {
        (true, true) => "rw",
        (true, false) => "r",
        (false, true) => "w",
        (false, false) => "",
    }
}

/// The order of file lists: directories first, then files, each by name (byte order) in the
/// page's order; the same name in two types by type.
pub fn sort_files(files: &mut [File], order: Order) {
    files.sort_by(|a, b| {
        let by_name = a.name.cmp(&b.name).then_with(|| a.type_name.cmp(&b.type_name));
        let by_name = match order {
            Order::Ascending => by_name,
            Order::Descending => by_name.reverse(),
        };
        b.is_dir.cmp(&a.is_dir).then(by_name).then_with(|| a.path.cmp(&b.path))
    });
}

/// The order of type lists: by entity, then type name, in the page's order.
pub fn sort_types(types: &mut [Type], order: Order) {
    types.sort_by(|a, b| {
        let ordering: Ordering =
            a.entity.cmp(&b.entity).then_with(|| a.type_name.cmp(&b.type_name));
        match order {
            Order::Ascending => ordering,
            Order::Descending => ordering.reverse(),
        }
    });
}

/// `folder` and the relative `path` joined with `/`.
fn absolute(folder: &str, path: &str) -> String {
    if path.is_empty() {
        return folder.to_owned();
    }
    format!("{}/{path}", folder.trim_end_matches('/'))
}

fn extension(name: &str) -> &str {
    match name.rfind('.') {
        Some(0) | None => "",
        Some(dot) => &name[dot + 1..],
    }
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (what JavaScript's
/// `Date.toISOString` writes); beyond year 9999, the last millisecond of 9999.
fn iso_8601(modified_ms: u64) -> String {
    let nanos = i128::from(modified_ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) if t.year() <= 9999 => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        _ => "9999-12-31T23:59:59.999Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_8601_utc_with_milliseconds() {
        assert_eq!(iso_8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_8601(1_709_285_400_123), "2024-03-01T09:30:00.123Z");
        assert_eq!(iso_8601(u64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn extensions_follow_the_last_dot() {
        assert_eq!(extension("a.tar.gz"), "gz");
        assert_eq!(extension(".bashrc"), "");
        assert_eq!(extension("README"), "");
        assert_eq!(extension("trailing."), "");
    }

    #[test]
    fn absolute_paths_join_folder_and_relative_path() {
        assert_eq!(absolute("/home/u/docs", "a/b.txt"), "/home/u/docs/a/b.txt");
        assert_eq!(absolute("/home/u/docs/", "b.txt"), "/home/u/docs/b.txt");
        assert_eq!(absolute("/", "b.txt"), "/b.txt");
        assert_eq!(absolute("/home/u/docs", ""), "/home/u/docs");
    }
}
