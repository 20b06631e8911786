//! The operations, each over the [`Files`] of the calling application.

use t1c_sdk::files::{Directory, FileError, Files, TypeMapping};
use t1c_sdk::{Error, Result};

use crate::answer::{File, FileList, Type, TypeList, access, sort_files, sort_types};
use crate::request::{
    CopyRequest, CreateDirRequest, CreateTypeDirsRequest, CreateTypeRequest, DownloadRequest,
    EntityRequest, FileRequest, ListTypeContentRequest, MoveRequest, Page, PathRequest,
    RenameRequest, TypeRequest, UpdateTypeRequest, UploadRequest, timeout_ms,
};

/// download: stores the request's file as `relPath/fileName` in the type, creating the
/// missing directories, and answers its absolute path. The type is mapped first (the user
/// chooses a folder) when it is not and `implicitCreationType` says so. An existing file of
/// that name is replaced: a web application downloading the same file again is the common
/// case, and the host writes the new one beside it and renames it into place, so the old
/// one stays whole until the new one is.
pub fn download(files: &dyn Files, request: &DownloadRequest) -> Result<String> {
    let (entity, type_name) = (request.entity.as_str(), request.type_name.as_str());
    let mapping = match find(files, entity, type_name)? {
        Some(mapping) if mapping.available => mapping,
        _ if request.implicit_creation_type.0 => {
            files.map_type(entity, type_name, None, None).map_err(|err| in_type(err, type_name))?
        }
        _ => return Err(in_type(FileError::NotMapped, type_name)),
    };
    let directory = files.open(entity, type_name).map_err(|err| in_type(err, type_name))?;
    let path = request.rel_path.join(&request.file_name);
    // A path the host refuses is refused before any directory is created.
    if let Err(err @ FileError::InvalidPath(_)) = directory.metadata(&path) {
        return Err(in_type(err, type_name));
    }
    if !request.rel_path.is_root() {
        let folder = request.rel_path.path();
        ensure_directory(directory.as_ref(), &folder).map_err(|err| at(err, type_name, &folder))?;
    }
    let entry = directory.receive(&path, true).map_err(|err| at(err, type_name, &path))?;
    if request.notify_on_completion.0 {
        files.notify("File saved", &format!("{} in {type_name}", request.file_name.as_str()));
    }
    Ok(File::new(&mapping, &entry).path)
}

/// upload: answers the request with the file `relPath/fileName` of the type (the host sends
/// its bytes as the response); the `File` returned here describes it.
pub fn upload(files: &dyn Files, request: &UploadRequest) -> Result<File> {
    let opened = open(files, &request.entity, &request.type_name)?;
    let path = request.rel_path.join(&request.file_name);
    let entry = opened.directory.send(&path).map_err(|err| opened.at(err, &path))?;
    if request.notify_on_completion.0 {
        files.notify(
            "File sent",
            &format!("{} from {}", request.file_name.as_str(), opened.mapping.type_name),
        );
    }
    Ok(File::new(&opened.mapping, &entry))
}

/// create-type: the type, mapped to the folder the user chooses (starting at `initPath`)
/// unless it is mapped to a folder that is there already.
pub fn create_type(files: &dyn Files, request: &CreateTypeRequest) -> Result<Type> {
    let suggested = request.init_path.as_ref().and_then(|hint| hint.folder());
    let mapping = ensure_type(
        files,
        request.entity.as_str(),
        request.type_name.as_str(),
        suggested,
        timeout_ms(request.timeout)?,
    )?;
    Ok(type_answer(files, &mapping))
}

/// create-type-dirs: the type (mapped as by create-type when it is not), then the directories
/// of `relPath`; answers the directories it created.
pub fn create_type_dirs(files: &dyn Files, request: &CreateTypeDirsRequest) -> Result<FileList> {
    let (entity, type_name) = (request.entity.as_str(), request.type_name.as_str());
    let mapping = ensure_type(files, entity, type_name, None, timeout_ms(request.timeout)?)?;
    let directory = files.open(entity, type_name).map_err(|err| in_type(err, type_name))?;
    let full = request.rel_path.path();
    if full.is_empty() {
        return Ok(FileList { files: Vec::new(), total: 0 });
    }
    // A path the host refuses is refused before anything is created.
    if let Err(err @ FileError::InvalidPath(_)) = directory.metadata(&full) {
        return Err(at(err, type_name, &full));
    }
    let mut created = Vec::new();
    let mut path = String::new();
    for segment in full.split('/') {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(segment);
        match directory.create_directory(&path, false) {
            Ok(entry) => created.push(File::new(&mapping, &entry)),
            Err(FileError::AlreadyExists) => {
                let entry = directory.metadata(&path).map_err(|err| at(err, type_name, &path))?;
                if !entry.is_dir() {
                    let err = FileError::WrongKind(format!("`{path}` is a file, not a directory"));
                    return Err(at(err, type_name, &path));
                }
            }
            Err(err) => return Err(at(err, type_name, &path)),
        }
    }
    Ok(FileList { total: created.len(), files: created })
}

/// update-type: maps an existing type to a folder the user chooses anew (starting at its
/// current one).
pub fn update_type(files: &dyn Files, request: &UpdateTypeRequest) -> Result<Type> {
    let (entity, type_name) = (request.entity.as_str(), request.type_name.as_str());
    let current = mapping(files, entity, type_name)?;
    let mapping = files
        .map_type(entity, type_name, Some(&current.folder), timeout_ms(request.timeout)?)
        .map_err(|err| in_type(err, type_name))?;
    Ok(type_answer(files, &mapping))
}

/// delete-type: forgets the mapping (the folder and its files stay); false when there was
/// none.
pub fn delete_type(files: &dyn Files, request: &TypeRequest) -> Result<bool> {
    let type_name = request.type_name.as_str();
    files.unmap_type(request.entity.as_str(), type_name).map_err(|err| in_type(err, type_name))
}

/// exist-type: whether the type is mapped (its folder may be gone: see list-type's status).
pub fn exist_type(files: &dyn Files, request: &TypeRequest) -> Result<bool> {
    Ok(find(files, request.entity.as_str(), request.type_name.as_str())?.is_some())
}

/// list-types: the application's types, of the entity or of all.
pub fn list_types(files: &dyn Files, request: &EntityRequest) -> Result<TypeList> {
    let order = Page::order(request.page.as_ref())?;
    let entity = request.entity.as_ref().map(|e| e.as_str());
    let mappings = files.list_types(entity).map_err(Error::from)?;
    let mut types: Vec<Type> = mappings.iter().map(|m| type_answer(files, m)).collect();
    sort_types(&mut types, order);
    let total = types.len();
    Ok(TypeList { types: Page::cut(request.page.as_ref(), types)?, total })
}

/// list-type: one type.
pub fn list_type(files: &dyn Files, request: &TypeRequest) -> Result<Type> {
    let mapping = mapping(files, request.entity.as_str(), request.type_name.as_str())?;
    Ok(type_answer(files, &mapping))
}

/// list-type-content: the entries directly in the directory `relPath` of the type.
pub fn list_type_content(files: &dyn Files, request: &ListTypeContentRequest) -> Result<FileList> {
    let order = Page::order(request.page.as_ref())?;
    let opened = open(files, &request.entity, &request.type_name)?;
    let path = request.rel_path.path();
    let entries = opened.directory.list(&path).map_err(|err| opened.at(err, &path))?;
    let files = entries.iter().map(|entry| File::new(&opened.mapping, entry)).collect();
    file_list(files, request.page.as_ref(), order)
}

/// list-content: the entries directly in the folders of every available type of the entity.
pub fn list_content(files: &dyn Files, request: &EntityRequest) -> Result<FileList> {
    let order = Page::order(request.page.as_ref())?;
    let entity = request
        .entity
        .as_ref()
        .ok_or_else(|| Error::invalid_input("`list-content` request: missing field `entity`"))?;
    let mut all = Vec::new();
    for mapping in files.list_types(Some(entity.as_str())).map_err(Error::from)? {
        if !mapping.available {
            continue;
        }
        let type_name = mapping.type_name.as_str();
        let directory = match files.open(entity.as_str(), type_name) {
            Ok(directory) => directory,
            // Gone since it was listed.
            Err(FileError::NotMapped) => continue,
            Err(err) => return Err(in_type(err, type_name)),
        };
        let entries = directory.list("").map_err(|err| in_type(err, type_name))?;
        all.extend(entries.iter().map(|entry| File::new(&mapping, entry)));
    }
    file_list(all, request.page.as_ref(), order)
}

/// exist-file: whether `relPath` (the file's own path) names a file or a directory in the
/// type.
pub fn exist_file(files: &dyn Files, request: &PathRequest) -> Result<bool> {
    let opened = open(files, &request.entity, &request.type_name)?;
    let path = request.rel_path.path();
    if path.is_empty() {
        return Err(Error::invalid_input("`exist-file` request: relPath names no file"));
    }
    match opened.directory.metadata(&path) {
        Ok(_) => Ok(true),
        Err(FileError::NotFound | FileError::WrongKind(_)) => Ok(false),
        Err(err) => Err(opened.at(err, &path)),
    }
}

/// get-access-mode: `rw`, `r`, `w` or "" for `relPath/fileName`.
pub fn access_mode(files: &dyn Files, request: &FileRequest) -> Result<String> {
    let opened = open(files, &request.entity, &request.type_name)?;
    let path = request.rel_path.join(&request.file_name);
    let entry = opened.directory.metadata(&path).map_err(|err| opened.at(err, &path))?;
    Ok(access(entry.readable, entry.writable).to_owned())
}

/// get-file-info: the `File` of `relPath/fileName`.
pub fn file_info(files: &dyn Files, request: &FileRequest) -> Result<File> {
    let opened = open(files, &request.entity, &request.type_name)?;
    let path = request.rel_path.join(&request.file_name);
    let entry = opened.directory.metadata(&path).map_err(|err| opened.at(err, &path))?;
    Ok(File::new(&opened.mapping, &entry))
}

/// create-dir: creates the directory `relPath` (and its missing parents when `recursive`).
pub fn create_dir(files: &dyn Files, request: &CreateDirRequest) -> Result<File> {
    let opened = open(files, &request.entity, &request.type_name)?;
    let path = request.rel_path.path();
    if path.is_empty() {
        return Err(Error::invalid_input("`create-dir` request: relPath names no directory"));
    }
    let entry = opened
        .directory
        .create_directory(&path, request.recursive.0)
        .map_err(|err| opened.at(err, &path))?;
    Ok(File::new(&opened.mapping, &entry))
}

/// copy-file: copies `fromRelPath/fileName` of `fromType` to `toRelPath/newFileName` of
/// `toType`; an existing file there is never replaced.
pub fn copy_file(files: &dyn Files, request: &CopyRequest) -> Result<File> {
    let from = open(files, &request.entity, &request.from_type)?;
    let to = open_target(files, &from, &request.entity, &request.to_type)?;
    let source = request.from_rel_path.join(&request.file_name);
    let destination = request.to_rel_path.join(&request.new_file_name);
    let target = to.as_ref().map_or(from.directory.as_ref(), |to| to.directory.as_ref());
    let entry = from
        .directory
        .copy(&source, target, &destination, false)
        .map_err(|err| from.at(err, &source))?;
    Ok(File::new(to.as_ref().map_or(&from.mapping, |to| &to.mapping), &entry))
}

/// move-file: moves `fromRelPath/fileName` of `fromType` to `toRelPath` of `toType`, keeping
/// its name; an existing file there is never replaced.
pub fn move_file(files: &dyn Files, request: &MoveRequest) -> Result<File> {
    let from = open(files, &request.entity, &request.from_type)?;
    let to = open_target(files, &from, &request.entity, &request.to_type)?;
    let source = request.from_rel_path.join(&request.file_name);
    let destination = request.to_rel_path.join(&request.file_name);
    let target = to.as_ref().map_or(from.directory.as_ref(), |to| to.directory.as_ref());
    let entry = from
        .directory
        .move_to(&source, target, &destination, false)
        .map_err(|err| from.at(err, &source))?;
    Ok(File::new(to.as_ref().map_or(&from.mapping, |to| &to.mapping), &entry))
}

/// rename-file: renames `relPath/fileName` to `relPath/newFileName`; an existing file of the
/// new name is never replaced.
pub fn rename_file(files: &dyn Files, request: &RenameRequest) -> Result<File> {
    let opened = open(files, &request.entity, &request.type_name)?;
    let source = request.rel_path.join(&request.file_name);
    let destination = request.rel_path.join(&request.new_file_name);
    let directory = opened.directory.as_ref();
    let entry = directory
        .move_to(&source, directory, &destination, false)
        .map_err(|err| opened.at(err, &source))?;
    Ok(File::new(&opened.mapping, &entry))
}

/// A type and its opened folder.
struct Opened {
    mapping: TypeMapping,
    directory: Box<dyn Directory>,
}

impl Opened {
    /// `err` about `path` of this type.
    fn at(&self, err: FileError, path: &str) -> Error {
        at(err, &self.mapping.type_name, path)
    }
}

/// The mapped type (entity, `type_name`), opened.
fn open(
    files: &dyn Files,
    entity: &crate::request::Name,
    type_name: &crate::request::Name,
) -> Result<Opened> {
    let (entity, type_name) = (entity.as_str(), type_name.as_str());
    let mapping = mapping(files, entity, type_name)?;
    let directory = files.open(entity, type_name).map_err(|err| in_type(err, type_name))?;
    Ok(Opened { mapping, directory })
}

/// The target type of a copy or move: `None` when it is the source's own.
fn open_target(
    files: &dyn Files,
    from: &Opened,
    entity: &crate::request::Name,
    type_name: &crate::request::Name,
) -> Result<Option<Opened>> {
    if type_name.as_str() == from.mapping.type_name {
        Ok(None)
    } else {
        open(files, entity, type_name).map(Some)
    }
}

/// The mapping of (entity, `type_name`), if there is one.
fn find(files: &dyn Files, entity: &str, type_name: &str) -> Result<Option<TypeMapping>> {
    let types = files.list_types(Some(entity)).map_err(|err| in_type(err, type_name))?;
    Ok(types.into_iter().find(|t| t.entity == entity && t.type_name == type_name))
}

/// The mapping of (entity, `type_name`).
fn mapping(files: &dyn Files, entity: &str, type_name: &str) -> Result<TypeMapping> {
    find(files, entity, type_name)?.ok_or_else(|| in_type(FileError::NotMapped, type_name))
}

/// The type mapped to a folder that is there, asking the user for one when it is not.
fn ensure_type(
    files: &dyn Files,
    entity: &str,
    type_name: &str,
    suggested_folder: Option<&str>,
    timeout_ms: Option<u32>,
) -> Result<TypeMapping> {
    match find(files, entity, type_name)? {
        Some(mapping) if mapping.available => Ok(mapping),
        _ => files
            .map_type(entity, type_name, suggested_folder, timeout_ms)
            .map_err(|err| in_type(err, type_name)),
    }
}

/// The directory `path` with its missing parents created; one that exists already is fine
/// (whether or not the host's recursive creation says so).
fn ensure_directory(directory: &dyn Directory, path: &str) -> Result<(), FileError> {
    match directory.create_directory(path, true) {
        Ok(_) => Ok(()),
        Err(FileError::AlreadyExists) if directory.metadata(path)?.is_dir() => Ok(()),
        Err(err) => Err(err),
    }
}

/// The `Type` of `mapping`: what cannot be read of its folder counts as nothing.
fn type_answer(files: &dyn Files, mapping: &TypeMapping) -> Type {
    let folder =
        mapping.available.then(|| files.open(&mapping.entity, &mapping.type_name).ok()).flatten();
    let (access_mode, count) = match folder {
        Some(directory) => (
            directory.metadata("").map_or("", |e| access(e.readable, e.writable)),
            directory.list("").map_or(0, |entries| entries.len()),
        ),
        None => ("", 0),
    };
    Type {
        entity: mapping.entity.clone(),
        type_name: mapping.type_name.clone(),
        path: mapping.folder.clone(),
        access: access_mode.to_owned(),
        status: if mapping.available { "MAPPED" } else { "UNMAPPED" },
        files: count,
    }
}

fn file_list(
    mut files: Vec<File>,
    page: Option<&Page>,
    order: crate::request::Order,
) -> Result<FileList> {
    sort_files(&mut files, order);
    let total = files.len();
    Ok(FileList { files: Page::cut(page, files)?, total })
}

/// `err` about the type `type_name`.
fn in_type(err: FileError, type_name: &str) -> Error {
    with_context(err, &format!("type {}", shown(type_name)))
}

/// `err` about `path` in the type `type_name`; a refused path is not repeated (the host's
/// reason says what is wrong with it).
fn at(err: FileError, type_name: &str, path: &str) -> Error {
    if matches!(err, FileError::InvalidPath(_)) {
        return in_type(err, type_name);
    }
    with_context(err, &format!("type {}, {path:?}", shown(type_name)))
}

/// A name from the request as an error shows it: quoted with control characters escaped, and
/// cut after 64 characters.
fn shown(name: &str) -> String {
    const SHOWN_CHARS: usize = 64;
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}...", &name[..cut]),
        None => format!("{name:?}"),
    }
}

fn with_context(err: FileError, context: &str) -> Error {
    match Error::from(err) {
        Error::InvalidInput(what) => Error::InvalidInput(format!("{context}: {what}")),
        Error::NotSupported(what) => Error::NotSupported(format!("{context}: {what}")),
        Error::Internal(what) => Error::Internal(format!("{context}: {what}")),
        other => other,
    }
}
