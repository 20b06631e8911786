//! # The `fileexchange` module
//!
//! File exchange as t1c-sdk-js's `FileExchange` client speaks it
//! (`/v3/modules/fileexchange/apps/file/<operation>`, all POST): a web application keeps files
//! in *types*, names it chooses (within an *entity*) that the user mapped to folders, and
//! moves files between the browser and those folders. Nothing else on the disk is reachable:
//! the module sees the folders only through the host's `files` capability, which binds every
//! call to the calling application and checks every path.
//!
//! The operations and what they answer (`data`):
//!
//! | operation | answer |
//! |---|---|
//! | `download` (multipart: the file goes to the disk) | the file's absolute path |
//! | `upload` (the file's bytes go to the browser) | `File` (the host sends the bytes) |
//! | `create-type`, `update-type`, `list-type` | `Type` |
//! | `create-type-dirs`, `list-type-content`, `list-content` | `FileList` |
//! | `list-types` | `TypeList` |
//! | `delete-type`, `exist-type`, `exist-file` | boolean |
//! | `get-access-mode` | `rw`, `r`, `w` or "" |
//! | `get-file-info`, `create-dir`, `copy-file`, `move-file`, `rename-file` | `File` |
//!
//! Paths arrive as arrays of segments (`relPath`, `fromRelPath`, `toRelPath`), or as one
//! string with `/` or `,` between names (the download form); names are taken literally,
//! nothing is decoded, and the host refuses what its path rules refuse. Lists are sorted
//! directories first, then by name in the page's order (`ASC` by default), and `total` counts
//! before paging.
//!
//! The logic ([`handle`]) is written against [`Files`], so the unit tests run it natively
//! against [`t1c_sdk::files::MemoryFiles`].

mod answer;
mod operations;
mod request;

use serde::Serialize;
use t1c_sdk::files::Files;
use t1c_sdk::guest::HostFiles;
use t1c_sdk::{
    Capability, Device, DeviceKind, Error, Extension, HttpMethod, Manifest, Module, Operation,
    Result, Token,
};

use crate::request::parse;

/// The module.
pub struct FileExchange;

/// The counted use case of a download (a file stored on the user's disk).
const FILE_DOWNLOAD: &str = "file download";
/// The counted use case of an upload (a file read from the user's disk).
const FILE_UPLOAD: &str = "file upload";
/// The use case of every other operation, which the host does not count.
const FILE_MANAGEMENT: &str = "file management";

/// The operations: name, use case, description.
const OPERATIONS: [(&str, &str, &str); 18] = [
    ("download", FILE_DOWNLOAD, "Stores the request's file in a type's folder"),
    ("upload", FILE_UPLOAD, "Answers with a file of a type's folder"),
    ("create-type", FILE_MANAGEMENT, "Maps a type to a folder the user chooses"),
    ("create-type-dirs", FILE_MANAGEMENT, "Creates directories in a type (mapping it first)"),
    ("update-type", FILE_MANAGEMENT, "Maps a type to another folder the user chooses"),
    ("delete-type", FILE_MANAGEMENT, "Forgets a type's mapping; the folder stays"),
    ("exist-type", FILE_MANAGEMENT, "Whether a type is mapped"),
    ("list-types", FILE_MANAGEMENT, "The application's types"),
    ("list-type", FILE_MANAGEMENT, "One type"),
    ("list-type-content", FILE_MANAGEMENT, "The entries of a directory of a type"),
    ("list-content", FILE_MANAGEMENT, "The entries of the folders of an entity's types"),
    ("exist-file", FILE_MANAGEMENT, "Whether a path exists in a type"),
    ("get-access-mode", FILE_MANAGEMENT, "Whether a file can be read and written"),
    ("get-file-info", FILE_MANAGEMENT, "What a file is"),
    ("create-dir", FILE_MANAGEMENT, "Creates a directory in a type"),
    ("copy-file", FILE_MANAGEMENT, "Copies a file within or across types"),
    ("move-file", FILE_MANAGEMENT, "Moves a file within or across types"),
    ("rename-file", FILE_MANAGEMENT, "Renames a file"),
];

impl Module for FileExchange {
    fn manifest() -> Manifest {
        OPERATIONS.iter().fold(
            Manifest::new(
                "fileexchange",
                env!("CARGO_PKG_VERSION"),
                "File exchange with folders the user mapped for the web application",
            )
            .with_capability(Capability::Files),
            |manifest, (name, use_case, description)| {
                manifest.with_operation(Operation::new(
                    *name,
                    HttpMethod::Post,
                    DeviceKind::None,
                    *use_case,
                    *description,
                ))
            },
        )
    }
}

impl Token for FileExchange {}

impl Extension for FileExchange {
    fn invoke(_device: Option<Device<'_>>, operation: &str, request: &str) -> Result<String> {
        handle(&HostFiles, operation, request)
    }
}

t1c_sdk::export_module!(FileExchange, [files]);

/// Runs `operation` with its JSON `request` over `files`, answering the JSON of `data`.
///
/// # Errors
/// [`Error::InvalidInput`] for a malformed request, a missing type or path, a refused path, a
/// name that is taken, ...; [`Error::NotSupported`] for an unknown operation or a machine
/// without a folder chooser; [`Error::Timeout`] when the user did not choose a folder in time;
/// [`Error::Internal`] for a failing disk.
pub fn handle(files: &dyn Files, operation: &str, request: &str) -> Result<String> {
    match operation {
        "download" => json(&operations::download(files, &parse(operation, request)?)?),
        "upload" => json(&operations::upload(files, &parse(operation, request)?)?),
        "create-type" => json(&operations::create_type(files, &parse(operation, request)?)?),
        "create-type-dirs" => {
            json(&operations::create_type_dirs(files, &parse(operation, request)?)?)
        }
        "update-type" => json(&operations::update_type(files, &parse(operation, request)?)?),
        "delete-type" => json(&operations::delete_type(files, &parse(operation, request)?)?),
        "exist-type" => json(&operations::exist_type(files, &parse(operation, request)?)?),
        "list-types" => json(&operations::list_types(files, &parse(operation, request)?)?),
        "list-type" => json(&operations::list_type(files, &parse(operation, request)?)?),
        "list-type-content" => {
            json(&operations::list_type_content(files, &parse(operation, request)?)?)
        }
        "list-content" => json(&operations::list_content(files, &parse(operation, request)?)?),
        "exist-file" => json(&operations::exist_file(files, &parse(operation, request)?)?),
        "get-access-mode" => json(&operations::access_mode(files, &parse(operation, request)?)?),
        "get-file-info" => json(&operations::file_info(files, &parse(operation, request)?)?),
        "create-dir" => json(&operations::create_dir(files, &parse(operation, request)?)?),
        "copy-file" => json(&operations::copy_file(files, &parse(operation, request)?)?),
        "move-file" => json(&operations::move_file(files, &parse(operation, request)?)?),
        "rename-file" => json(&operations::rename_file(files, &parse(operation, request)?)?),
        other => Err(Error::NotSupported(format!("operation `{other}`"))),
    }
}

fn json<T: Serialize>(answer: &T) -> Result<String> {
    serde_json::to_string(answer).map_err(|err| Error::internal(format!("answer: {err}")))
}

#[cfg(test)]
mod tests;
