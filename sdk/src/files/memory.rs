//! [`MemoryFiles`]: the types of one application and their folders, in memory, for native unit
//! tests of a file exchange module.
//!
//! It follows the host's rules: the same path parser ([`RelPath`], an `InvalidPath` for what
//! the host refuses), the same errors for the same situations, and one `send` per call. The "disk" is
//! a set of folders by absolute path, so two types mapped to one folder share its files, and
//! a type unmapped and mapped again finds its files where they were.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::{Directory, Entry, EntryKind, FileError, Files, RelPath, TypeMapping};

/// What the "user" does when a module asks to map a folder ([`Files::map_type`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Chooser {
    /// The user picks this folder (an absolute path); it is created empty when new.
    Folder(String),
    /// There is no folder chooser, as on a machine without a desktop session (the default).
    #[default]
    NoChooser,
    /// A folder chooser for this type is open already.
    Waiting,
    /// The user closes the chooser without choosing.
    Cancelled,
    /// The user does not answer in time.
    TimedOut,
}

/// One [`Files::map_type`] call as the module made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRequest {
    /// The entity.
    pub entity: String,
    /// The type's name.
    pub type_name: String,
    /// The folder the chooser was to start at.
    pub suggested_folder: Option<String>,
    /// How long the module was willing to wait, in milliseconds.
    pub timeout_ms: Option<u32>,
}

/// The file a module answered a request with ([`Directory::send`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The entity of the type it was sent from.
    pub entity: String,
    /// The type it was sent from.
    pub type_name: String,
    /// Its path relative to the type's folder.
    pub path: String,
    /// Its content when it was sent.
    pub bytes: Vec<u8>,
}

/// A desktop notification a module showed ([`Files::notify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The summary line.
    pub summary: String,
    /// The body.
    pub body: String,
}

/// The file exchange types of one application, in memory.
///
/// Clones share their state, so a test keeps one to look at what the module did with the
/// other. Not thread-safe: one test, one thread.
///
/// ```
/// use t1c_sdk::files::{Chooser, Files, MemoryFiles};
///
/// let files = MemoryFiles::new()
///     .with_type("acme", "invoices", "/home/user/invoices")
///     .with_chooser(Chooser::Folder("/home/user/new".into()));
/// files.put_file("acme", "invoices", "2024/march.pdf", b"%PDF").unwrap();
/// let dir = files.open("acme", "invoices").unwrap();
/// assert_eq!(dir.list("2024").unwrap()[0].path, "2024/march.pdf");
/// ```
#[derive(Clone, Default)]
pub struct MemoryFiles {
    state: Rc<RefCell<State>>,
}

#[derive(Default)]
struct State {
    /// (entity, type) → mapping.
    types: BTreeMap<(String, String), Mapping>,
    /// Folder (absolute path) → its directory tree.
    disk: BTreeMap<String, Node>,
    /// The file that came with the current request, until `receive` stores it.
    content: Option<Vec<u8>>,
    /// What `send` chose in the current call.
    sent: Option<Sent>,
    chooser: Chooser,
    map_requests: Vec<MapRequest>,
    notifications: Vec<Notification>,
    /// The modification time given to what is written.
    now_ms: u64,
}

struct Mapping {
    folder: String,
    available: bool,
}

#[derive(Clone)]
struct Node {
    kind: NodeKind,
    modified_ms: u64,
    readable: bool,
    writable: bool,
}

#[derive(Clone)]
enum NodeKind {
    File(Vec<u8>),
    Directory(BTreeMap<String, Node>),
}

impl Node {
    fn directory(now_ms: u64) -> Self {
        Self {
            kind: NodeKind::Directory(BTreeMap::new()),
            modified_ms: now_ms,
            readable: true,
            writable: true,
        }
    }

    fn file(bytes: Vec<u8>, now_ms: u64) -> Self {
        Self { kind: NodeKind::File(bytes), modified_ms: now_ms, readable: true, writable: true }
    }

    fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Directory(_))
    }

    fn entry(&self, segments: &[&str]) -> Entry {
        let (kind, size) = match &self.kind {
            NodeKind::File(bytes) => (EntryKind::File, bytes.len() as u64),
            NodeKind::Directory(_) => (EntryKind::Directory, 0),
        };
        Entry {
            path: segments.join("/"),
            kind,
            size,
            modified_ms: self.modified_ms,
            readable: self.readable,
            writable: self.writable,
        }
    }
}

impl MemoryFiles {
    /// No types, no request content, and no folder chooser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the type (`entity`, `type_name`) mapped to `folder`, which is created empty when
    /// new.
    #[must_use]
    pub fn with_type(self, entity: &str, type_name: &str, folder: &str) -> Self {
        self.add_type(entity, type_name, folder);
        self
    }

    /// Sets what the user does when asked for a folder.
    #[must_use]
    pub fn with_chooser(self, chooser: Chooser) -> Self {
        self.set_chooser(chooser);
        self
    }

    /// Maps (`entity`, `type_name`) to `folder` (replacing a mapping), creating the folder
    /// empty when new, as `t1c files map` does.
    pub fn add_type(&self, entity: &str, type_name: &str, folder: &str) {
        let mut state = self.state.borrow_mut();
        state.map(entity, type_name, folder);
    }

    /// Makes the type's folder appear gone (`available == false`: [`Files::open`] answers
    /// [`FileError::NotMapped`]) or back; its files stay.
    ///
    /// # Errors
    /// [`FileError::NotMapped`] when there is no such type.
    pub fn set_available(
        &self,
        entity: &str,
        type_name: &str,
        available: bool,
    ) -> Result<(), FileError> {
        let mut state = self.state.borrow_mut();
        let mapping = state
            .types
            .get_mut(&(entity.to_owned(), type_name.to_owned()))
            .ok_or(FileError::NotMapped)?;
        mapping.available = available;
        Ok(())
    }

    /// Writes `bytes` to the file `path` of the type (replacing it), creating missing
    /// directories; paths follow the host's rules.
    ///
    /// # Errors
    /// [`FileError::NotMapped`], [`FileError::InvalidPath`], [`FileError::WrongKind`] when a
    /// directory is in the way.
    pub fn put_file(
        &self,
        entity: &str,
        type_name: &str,
        path: &str,
        bytes: &[u8],
    ) -> Result<(), FileError> {
        let segments = segments(path)?;
        let (name, parents) = segments.split_last().ok_or_else(|| folder_is_directory(path))?;
        let mut state = self.state.borrow_mut();
        let now_ms = state.now_ms;
        let root = state.root_of_type(entity, type_name)?;
        let parent = create_directories(root, parents, now_ms)?;
        let NodeKind::Directory(children) = &mut parent.kind else {
            return Err(not_a_directory(parents));
        };
        if children.get(*name).is_some_and(Node::is_dir) {
            return Err(is_a_directory(&segments));
        }
        children.insert((*name).to_owned(), Node::file(bytes.to_vec(), now_ms));
        Ok(())
    }

    /// The content of the file `path` of the type, if there is such a file.
    pub fn file(&self, entity: &str, type_name: &str, path: &str) -> Option<Vec<u8>> {
        let segments = segments(path).ok()?;
        let mut state = self.state.borrow_mut();
        let root = state.root_of_type(entity, type_name).ok()?;
        match &walk(root, &segments).ok()?.kind {
            NodeKind::File(bytes) => Some(bytes.clone()),
            NodeKind::Directory(_) => None,
        }
    }

    /// Sets whether the file or directory `path` of the type can be read and written.
    ///
    /// # Errors
    /// [`FileError::NotMapped`], [`FileError::NotFound`], [`FileError::InvalidPath`].
    pub fn set_access(
        &self,
        entity: &str,
        type_name: &str,
        path: &str,
        readable: bool,
        writable: bool,
    ) -> Result<(), FileError> {
        let segments = segments(path)?;
        let mut state = self.state.borrow_mut();
        let node = walk_mut(state.root_of_type(entity, type_name)?, &segments)?;
        node.readable = readable;
        node.writable = writable;
        Ok(())
    }

    /// The file that comes with the next request: one [`Directory::receive`] stores it.
    pub fn set_content(&self, bytes: &[u8]) {
        self.state.borrow_mut().content = Some(bytes.to_vec());
    }

    /// Whether request content is waiting for a [`Directory::receive`].
    pub fn has_content(&self) -> bool {
        self.state.borrow().content.is_some()
    }

    /// What [`Directory::send`] chose, which ends the current call: afterwards `send` may be
    /// called once again.
    pub fn take_sent(&self) -> Option<Sent> {
        self.state.borrow_mut().sent.take()
    }

    /// Sets what the user does when asked for a folder.
    pub fn set_chooser(&self, chooser: Chooser) {
        self.state.borrow_mut().chooser = chooser;
    }

    /// Every [`Files::map_type`] call so far, oldest first.
    pub fn map_requests(&self) -> Vec<MapRequest> {
        self.state.borrow().map_requests.clone()
    }

    /// Every notification shown so far, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        self.state.borrow().notifications.clone()
    }

    /// Sets the modification time (milliseconds since the Unix epoch) of what is written from
    /// now on; 0 until set.
    pub fn set_now_ms(&self, now_ms: u64) {
        self.state.borrow_mut().now_ms = now_ms;
    }
}

impl State {
    fn map(&mut self, entity: &str, type_name: &str, folder: &str) -> TypeMapping {
        let now_ms = self.now_ms;
        self.disk.entry(folder.to_owned()).or_insert_with(|| Node::directory(now_ms));
        self.types.insert(
            (entity.to_owned(), type_name.to_owned()),
            Mapping { folder: folder.to_owned(), available: true },
        );
        TypeMapping {
            entity: entity.to_owned(),
            type_name: type_name.to_owned(),
            folder: folder.to_owned(),
            available: true,
        }
    }

    /// The folder of a mapped type, when it is available.
    fn folder_of(&self, entity: &str, type_name: &str) -> Result<&str, FileError> {
        match self.types.get(&(entity.to_owned(), type_name.to_owned())) {
            Some(mapping) if mapping.available && self.disk.contains_key(&mapping.folder) => {
                Ok(&mapping.folder)
            }
            _ => Err(FileError::NotMapped),
        }
    }

    fn root_of_type(&mut self, entity: &str, type_name: &str) -> Result<&mut Node, FileError> {
        let folder = self.folder_of(entity, type_name)?.to_owned();
        self.disk.get_mut(&folder).ok_or(FileError::NotMapped)
    }
}

impl Files for MemoryFiles {
    fn list_types(&self, entity: Option<&str>) -> Result<Vec<TypeMapping>, FileError> {
        let state = self.state.borrow();
        Ok(state
            .types
            .iter()
            .filter(|((e, _), _)| entity.is_none_or(|entity| entity == e))
            .map(|((e, t), mapping)| TypeMapping {
                entity: e.clone(),
                type_name: t.clone(),
                folder: mapping.folder.clone(),
                available: mapping.available && state.disk.contains_key(&mapping.folder),
            })
            .collect())
    }

    fn map_type(
        &self,
        entity: &str,
        type_name: &str,
        suggested_folder: Option<&str>,
        timeout_ms: Option<u32>,
    ) -> Result<TypeMapping, FileError> {
        let mut state = self.state.borrow_mut();
        state.map_requests.push(MapRequest {
            entity: entity.to_owned(),
            type_name: type_name.to_owned(),
            suggested_folder: suggested_folder.map(str::to_owned),
            timeout_ms,
        });
        match state.chooser.clone() {
            Chooser::Folder(folder) => Ok(state.map(entity, type_name, &folder)),
            Chooser::NoChooser => Err(FileError::NoChooser),
            Chooser::Waiting => Err(FileError::Waiting),
            Chooser::Cancelled => Err(FileError::Cancelled),
            Chooser::TimedOut => Err(FileError::TimedOut),
        }
    }

    fn unmap_type(&self, entity: &str, type_name: &str) -> Result<bool, FileError> {
        let mut state = self.state.borrow_mut();
        Ok(state.types.remove(&(entity.to_owned(), type_name.to_owned())).is_some())
    }

    fn open(&self, entity: &str, type_name: &str) -> Result<Box<dyn Directory>, FileError> {
        let folder = self.state.borrow().folder_of(entity, type_name)?.to_owned();
        Ok(Box::new(MemoryDirectory {
            state: Rc::clone(&self.state),
            entity: entity.to_owned(),
            type_name: type_name.to_owned(),
            folder,
        }))
    }

    fn notify(&self, summary: &str, body: &str) {
        self.state
            .borrow_mut()
            .notifications
            .push(Notification { summary: summary.to_owned(), body: body.to_owned() });
    }
}

/// A type's folder in a [`MemoryFiles`].
struct MemoryDirectory {
    state: Rc<RefCell<State>>,
    entity: String,
    type_name: String,
    folder: String,
}

impl MemoryDirectory {
    /// Runs `f` on the folder's tree with the current time.
    fn with_root<R>(
        &self,
        f: impl FnOnce(&mut Node, u64) -> Result<R, FileError>,
    ) -> Result<R, FileError> {
        let mut state = self.state.borrow_mut();
        let now_ms = state.now_ms;
        let root = state.disk.get_mut(&self.folder).ok_or(FileError::NotMapped)?;
        f(root, now_ms)
    }

    fn is_same_folder(&self, other: &MemoryDirectory) -> bool {
        Rc::ptr_eq(&self.state, &other.state) && self.folder == other.folder
    }
}

/// `target` as a directory of a [`MemoryFiles`].
fn memory_directory(target: &dyn Directory) -> Result<&MemoryDirectory, FileError> {
    target
        .as_any()
        .downcast_ref::<MemoryDirectory>()
        .ok_or_else(|| FileError::Io("the target directory is not a MemoryFiles directory".into()))
}

impl Directory for MemoryDirectory {
    fn list(&self, path: &str) -> Result<Vec<Entry>, FileError> {
        let segments = segments(path)?;
        self.with_root(|root, _| {
            let node = walk(root, &segments)?;
            let NodeKind::Directory(children) = &node.kind else {
                return Err(not_a_directory(&segments));
            };
            if !node.readable {
                return Err(FileError::AccessDenied);
            }
            Ok(children
                .iter()
                .map(|(name, child)| {
                    let mut path = segments.clone();
                    path.push(name);
                    child.entry(&path)
                })
                .collect())
        })
    }

    fn metadata(&self, path: &str) -> Result<Entry, FileError> {
        let segments = segments(path)?;
        self.with_root(|root, _| Ok(walk(root, &segments)?.entry(&segments)))
    }

    fn create_directory(&self, path: &str, recursive: bool) -> Result<Entry, FileError> {
        let segments = segments(path)?;
        self.with_root(|root, now_ms| {
            let Some((name, parents)) = segments.split_last() else {
                // The folder itself exists.
                return if recursive {
                    Ok(root.entry(&segments))
                } else {
                    Err(FileError::AlreadyExists)
                };
            };
            let parent = if recursive {
                create_directories(root, parents, now_ms)?
            } else {
                walk_mut(root, parents)?
            };
            if let NodeKind::Directory(children) = &parent.kind
                && let Some(existing) = children.get(*name)
            {
                // Like `mkdir -p`: an existing directory is fine when recursive.
                return if recursive && existing.is_dir() {
                    Ok(existing.entry(&segments))
                } else {
                    Err(FileError::AlreadyExists)
                };
            }
            insert(parent, &segments, Node::directory(now_ms), false, now_ms)
        })
    }

    fn remove(&self, path: &str) -> Result<(), FileError> {
        let segments = segments(path)?;
        let Some((name, parents)) = segments.split_last() else {
            return Err(FileError::InvalidPath(
                "the type's folder itself cannot be removed".into(),
            ));
        };
        self.with_root(|root, now_ms| {
            let parent = walk_mut(root, parents)?;
            let writable = parent.writable;
            let NodeKind::Directory(children) = &mut parent.kind else {
                return Err(not_a_directory(parents));
            };
            let node = children.get(*name).ok_or(FileError::NotFound)?;
            if let NodeKind::Directory(grandchildren) = &node.kind
                && !grandchildren.is_empty()
            {
                return Err(FileError::NotEmpty);
            }
            if !writable {
                return Err(FileError::AccessDenied);
            }
            children.remove(*name);
            parent.modified_ms = now_ms;
            Ok(())
        })
    }

    fn copy(
        &self,
        source: &str,
        target: &dyn Directory,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError> {
        let target = memory_directory(target)?;
        let source = segments(source)?;
        let destination = segments(destination)?;
        let bytes = self.with_root(|root, _| {
            let node = walk(root, &source)?;
            match &node.kind {
                NodeKind::Directory(_) => Err(is_a_directory(&source)),
                NodeKind::File(_) if !node.readable => Err(FileError::AccessDenied),
                NodeKind::File(bytes) => Ok(bytes.clone()),
            }
        })?;
        target.with_root(|root, now_ms| {
            let parent = parent_of(root, &destination)?;
            insert(parent, &destination, Node::file(bytes, now_ms), overwrite, now_ms)
        })
    }

    fn move_to(
        &self,
        source: &str,
        target: &dyn Directory,
        destination: &str,
        overwrite: bool,
    ) -> Result<Entry, FileError> {
        let target = memory_directory(target)?;
        let source = segments(source)?;
        let destination = segments(destination)?;
        let Some((name, parents)) = source.split_last() else {
            return Err(FileError::InvalidPath("the type's folder itself cannot be moved".into()));
        };
        // Check the source, then place its copy, then take it away: an error leaves both
        // sides as they were.
        let node = self.with_root(|root, _| {
            let parent = walk(root, parents)?;
            let NodeKind::Directory(children) = &parent.kind else {
                return Err(not_a_directory(parents));
            };
            let node = children.get(*name).ok_or(FileError::NotFound)?;
            if !parent.writable {
                return Err(FileError::AccessDenied);
            }
            Ok(node.clone())
        })?;
        if destination.is_empty() || (self.is_same_folder(target) && destination == source) {
            return Err(FileError::AlreadyExists);
        }
        if self.is_same_folder(target) && destination.starts_with(&source) {
            return Err(FileError::InvalidPath("a directory cannot be moved into itself".into()));
        }
        let entry = target.with_root(|root, now_ms| {
            let parent = parent_of(root, &destination)?;
            insert(parent, &destination, node, overwrite, now_ms)
        })?;
        self.with_root(|root, now_ms| {
            let parent = walk_mut(root, parents)?;
            if let NodeKind::Directory(children) = &mut parent.kind {
                children.remove(*name);
                parent.modified_ms = now_ms;
            }
            Ok(())
        })?;
        Ok(entry)
    }

    fn receive(&self, path: &str, overwrite: bool) -> Result<Entry, FileError> {
        let segments = segments(path)?;
        let mut state = self.state.borrow_mut();
        let State { disk, content, now_ms, .. } = &mut *state;
        let Some(bytes) = content.as_ref() else {
            return Err(FileError::NoContent);
        };
        let root = disk.get_mut(&self.folder).ok_or(FileError::NotMapped)?;
        let parent = parent_of(root, &segments)?;
        let entry =
            insert(parent, &segments, Node::file(bytes.clone(), *now_ms), overwrite, *now_ms)?;
        *content = None;
        Ok(entry)
    }

    fn send(&self, path: &str) -> Result<Entry, FileError> {
        let segments = segments(path)?;
        let mut state = self.state.borrow_mut();
        let State { disk, sent, .. } = &mut *state;
        if sent.is_some() {
            return Err(FileError::NoContent);
        }
        let root = disk.get(&self.folder).ok_or(FileError::NotMapped)?;
        let node = walk(root, &segments)?;
        let NodeKind::File(bytes) = &node.kind else {
            return Err(is_a_directory(&segments));
        };
        if !node.readable {
            return Err(FileError::AccessDenied);
        }
        *sent = Some(Sent {
            entity: self.entity.clone(),
            type_name: self.type_name.clone(),
            path: segments.join("/"),
            bytes: bytes.clone(),
        });
        Ok(node.entry(&segments))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The segments of a relative path, checked by [`RelPath`], the connector's own parser: ""
/// is the folder itself and `/` separates names.
fn segments(path: &str) -> Result<Vec<&str>, FileError> {
    RelPath::parse(path).map_err(|err| FileError::InvalidPath(err.to_string()))?;
    Ok(if path.is_empty() { Vec::new() } else { path.split('/').collect() })
}

fn not_a_directory(segments: &[&str]) -> FileError {
    FileError::WrongKind(format!("`{}` is a file, not a directory", segments.join("/")))
}

fn is_a_directory(segments: &[&str]) -> FileError {
    FileError::WrongKind(format!("`{}` is a directory, not a file", segments.join("/")))
}

fn folder_is_directory(path: &str) -> FileError {
    FileError::WrongKind(format!("`{path}` is the type's folder, not a file"))
}

fn walk<'a>(root: &'a Node, segments: &[&str]) -> Result<&'a Node, FileError> {
    let mut node = root;
    for (i, segment) in segments.iter().enumerate() {
        let NodeKind::Directory(children) = &node.kind else {
            return Err(not_a_directory(&segments[..i]));
        };
        node = children.get(*segment).ok_or(FileError::NotFound)?;
    }
    Ok(node)
}

fn walk_mut<'a>(root: &'a mut Node, segments: &[&str]) -> Result<&'a mut Node, FileError> {
    let mut node = root;
    for (i, segment) in segments.iter().enumerate() {
        let NodeKind::Directory(children) = &mut node.kind else {
            return Err(not_a_directory(&segments[..i]));
        };
        node = children.get_mut(*segment).ok_or(FileError::NotFound)?;
    }
    Ok(node)
}

/// The parent directory of `segments` ("" is refused as a file's place: it is the folder).
fn parent_of<'a>(root: &'a mut Node, segments: &[&str]) -> Result<&'a mut Node, FileError> {
    match segments.split_last() {
        Some((_, parents)) => walk_mut(root, parents),
        None => Err(FileError::WrongKind("the type's folder is a directory, not a file".into())),
    }
}

/// The directory `segments`, with the missing ones created.
fn create_directories<'a>(
    root: &'a mut Node,
    segments: &[&str],
    now_ms: u64,
) -> Result<&'a mut Node, FileError> {
    let mut node = root;
    for (i, segment) in segments.iter().enumerate() {
        let writable = node.writable;
        let NodeKind::Directory(children) = &mut node.kind else {
            return Err(not_a_directory(&segments[..i]));
        };
        if !writable && !children.contains_key(*segment) {
            return Err(FileError::AccessDenied);
        }
        node = children.entry((*segment).to_owned()).or_insert_with(|| Node::directory(now_ms));
    }
    Ok(node)
}

/// Puts `node` at `segments` (the last name) in `parent`: an existing directory there is
/// never replaced, an existing file only by a file and when `overwrite`.
fn insert(
    parent: &mut Node,
    segments: &[&str],
    node: Node,
    overwrite: bool,
    now_ms: u64,
) -> Result<Entry, FileError> {
    let Some((name, parents)) = segments.split_last() else {
        return Err(FileError::AlreadyExists);
    };
    let writable = parent.writable;
    let NodeKind::Directory(children) = &mut parent.kind else {
        return Err(not_a_directory(parents));
    };
    match children.get(*name) {
        Some(existing) if existing.is_dir() => {
            return Err(if node.is_dir() {
                FileError::AlreadyExists
            } else {
                is_a_directory(segments)
            });
        }
        Some(_) if node.is_dir() => {
            return Err(FileError::WrongKind(format!(
                "`{}` is a file, not a directory",
                segments.join("/")
            )));
        }
        Some(_) if !overwrite => return Err(FileError::AlreadyExists),
        _ => {}
    }
    if !writable {
        return Err(FileError::AccessDenied);
    }
    let entry = node.entry(segments);
    children.insert((*name).to_owned(), node);
    parent.modified_ms = now_ms;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTITY: &str = "acme";

    fn files() -> MemoryFiles {
        MemoryFiles::new().with_type(ENTITY, "docs", "/home/u/docs").with_type(
            ENTITY,
            "out",
            "/home/u/out",
        )
    }

    fn open(files: &MemoryFiles, type_name: &str) -> Box<dyn Directory> {
        files.open(ENTITY, type_name).expect("open")
    }

    fn invalid(result: Result<Entry, FileError>) -> String {
        match result {
            Err(FileError::InvalidPath(reason)) => reason,
            other => panic!("expected an invalid path, got {other:?}"),
        }
    }

    #[test]
    fn the_path_rules_refuse_what_the_host_refuses() {
        let files = files();
        let dir = open(&files, "docs");
        let long_name = "x".repeat(256);
        let long_path = ["y"; 2049].join("/");
        for (path, reason) in [
            ("/etc/passwd", "absolute"),
            ("//server/share", "UNC"),
            ("\\\\server\\share", "UNC"),
            ("..", "`..`"),
            ("a/../..", "`..`"),
            ("./a", "`.`"),
            ("a//b", "empty name"),
            ("a/", "empty name"),
            ("a\\..\\b", "backslash"),
            ("a\0b", "control"),
            ("a\nb", "control"),
            ("a\u{202E}b", "control"),
            ("C:", "drive letter"),
            ("c:x/y", "drive letter"),
            ("a/b:stream", "`:`"),
            ("a\u{2215}b", "look-alike"),
            ("\u{FF0E}\u{FF0E}", "look-alike"),
            ("name.", "ending"),
            ("name ", "ending"),
            ("%2e%2e", "percent-encoded"),
            ("a%2Fb", "percent-encoded"),
            ("x%5cy", "percent-encoded"),
            ("con", "device"),
            ("NUL.txt", "device"),
            ("com1", "device"),
            ("LPT\u{B9}", "device"),
            (long_name.as_str(), "255 bytes"),
            (long_path.as_str(), "4096 bytes"),
        ] {
            // The rules themselves are RelPath's (tested in path.rs); here: they apply.
            let reason_given = invalid(dir.metadata(path));
            assert!(!reason_given.is_empty(), "{path:?} ({reason})");
            if path.len() > 5 {
                assert!(!reason_given.contains(path), "the reason repeats {path:?}");
            }
            assert!(matches!(dir.create_directory(path, true), Err(FileError::InvalidPath(_))));
        }
        assert!(dir.list("").expect("list").is_empty());
        // What is not refused is a literal name: nothing is decoded.
        for name in ["%41", "console", "com10", "a.b", ".hidden", "caf\u{E9}", "%2"] {
            dir.create_directory(name, false).expect(name);
        }
        dir.create_directory(&"x".repeat(255), false).expect("255 bytes is fine");
        assert_eq!(dir.list("").expect("list").len(), 8);
    }

    #[test]
    fn directories_are_created_listed_and_removed() {
        let files = files();
        let dir = open(&files, "docs");
        assert_eq!(dir.create_directory("a/b", false), Err(FileError::NotFound));
        let created = dir.create_directory("a/b", true).expect("recursive");
        assert_eq!(created.path, "a/b");
        assert!(created.is_dir());
        assert_eq!(created.name(), "b");
        // mkdir -p: an existing directory is fine when recursive, taken otherwise.
        assert_eq!(dir.create_directory("a/b", true).expect("again").path, "a/b");
        assert_eq!(dir.create_directory("a/b", false), Err(FileError::AlreadyExists));
        assert_eq!(dir.create_directory("", false), Err(FileError::AlreadyExists));
        assert_eq!(dir.create_directory("", true).expect("the folder").path, "");

        files.put_file(ENTITY, "docs", "a/f.txt", b"hello").expect("put");
        assert_eq!(dir.create_directory("a/f.txt", false), Err(FileError::AlreadyExists));
        assert_eq!(dir.create_directory("a/f.txt", true), Err(FileError::AlreadyExists));
        assert!(matches!(dir.create_directory("a/f.txt/x", true), Err(FileError::WrongKind(_))));

        let mut listed = dir.list("a").expect("list");
        listed.sort_by(|x, y| x.path.cmp(&y.path));
        let paths: Vec<_> = listed.iter().map(|e| (e.path.as_str(), e.kind, e.size)).collect();
        assert_eq!(paths, [("a/b", EntryKind::Directory, 0), ("a/f.txt", EntryKind::File, 5)]);
        assert!(matches!(dir.list("a/f.txt"), Err(FileError::WrongKind(_))));
        assert_eq!(dir.list("nope"), Err(FileError::NotFound));

        assert_eq!(dir.remove("a"), Err(FileError::NotEmpty));
        assert!(matches!(dir.remove(""), Err(FileError::InvalidPath(_))));
        dir.remove("a/b").expect("empty directory");
        dir.remove("a/f.txt").expect("file");
        dir.remove("a").expect("now empty");
        assert_eq!(dir.remove("a"), Err(FileError::NotFound));
        assert!(dir.list("").expect("list").is_empty());
    }

    #[test]
    fn metadata_tells_kind_size_time_and_access() {
        let files = files();
        files.set_now_ms(1_700_000_000_000);
        files.put_file(ENTITY, "docs", "r/o.txt", b"12345678").expect("put");
        files.set_access(ENTITY, "docs", "r/o.txt", true, false).expect("access");
        let dir = open(&files, "docs");
        let entry = dir.metadata("r/o.txt").expect("metadata");
        assert_eq!(
            entry,
            Entry {
                path: "r/o.txt".into(),
                kind: EntryKind::File,
                size: 8,
                modified_ms: 1_700_000_000_000,
                readable: true,
                writable: false,
            }
        );
        assert_eq!(dir.metadata("").expect("folder").kind, EntryKind::Directory);
        assert_eq!(dir.metadata("r/x"), Err(FileError::NotFound));
        assert!(matches!(dir.metadata("r/o.txt/x"), Err(FileError::WrongKind(_))));
    }

    #[test]
    fn copy_within_and_across_types_never_overwrites_unless_asked() {
        let files = files();
        files.put_file(ENTITY, "docs", "in/a.txt", b"A").expect("put");
        files.put_file(ENTITY, "out", "b.txt", b"B").expect("put");
        let docs = open(&files, "docs");
        let out = open(&files, "out");

        let copied = docs.copy("in/a.txt", out.as_ref(), "a.txt", false).expect("across");
        assert_eq!((copied.path.as_str(), copied.size), ("a.txt", 1));
        assert_eq!(files.file(ENTITY, "out", "a.txt").as_deref(), Some(&b"A"[..]));
        assert_eq!(files.file(ENTITY, "docs", "in/a.txt").as_deref(), Some(&b"A"[..]));

        docs.copy("in/a.txt", docs.as_ref(), "in/c.txt", false).expect("within");
        assert_eq!(files.file(ENTITY, "docs", "in/c.txt").as_deref(), Some(&b"A"[..]));

        assert_eq!(
            docs.copy("in/a.txt", out.as_ref(), "b.txt", false),
            Err(FileError::AlreadyExists)
        );
        assert_eq!(files.file(ENTITY, "out", "b.txt").as_deref(), Some(&b"B"[..]));
        docs.copy("in/a.txt", out.as_ref(), "b.txt", true).expect("overwrite");
        assert_eq!(files.file(ENTITY, "out", "b.txt").as_deref(), Some(&b"A"[..]));

        assert!(matches!(docs.copy("in", out.as_ref(), "x", false), Err(FileError::WrongKind(_))));
        assert_eq!(docs.copy("nope", out.as_ref(), "x", false), Err(FileError::NotFound));
        assert_eq!(docs.copy("in/a.txt", out.as_ref(), "no/x", false), Err(FileError::NotFound));
        assert!(matches!(
            docs.copy("in/a.txt", out.as_ref(), "", true),
            Err(FileError::WrongKind(_))
        ));
        out.create_directory("d", false).expect("mkdir");
        assert!(matches!(
            docs.copy("in/a.txt", out.as_ref(), "d", true),
            Err(FileError::WrongKind(_))
        ));
        assert!(matches!(
            docs.copy("in/a.txt", out.as_ref(), "../x", false),
            Err(FileError::InvalidPath(_))
        ));
    }

    #[test]
    fn copy_reaches_another_memory_files() {
        let one = files();
        let other = MemoryFiles::new().with_type(ENTITY, "elsewhere", "/mnt/x");
        one.put_file(ENTITY, "docs", "a", b"A").expect("put");
        let from = open(&one, "docs");
        let to = other.open(ENTITY, "elsewhere").expect("open");
        from.copy("a", to.as_ref(), "a", false).expect("copy");
        from.move_to("a", to.as_ref(), "b", false).expect("move");
        assert_eq!(other.file(ENTITY, "elsewhere", "a").as_deref(), Some(&b"A"[..]));
        assert_eq!(other.file(ENTITY, "elsewhere", "b").as_deref(), Some(&b"A"[..]));
        assert_eq!(one.file(ENTITY, "docs", "a"), None);
    }

    #[test]
    fn move_renames_files_and_directories_or_changes_nothing() {
        let files = files();
        files.put_file(ENTITY, "docs", "d/a.txt", b"A").expect("put");
        files.put_file(ENTITY, "docs", "b.txt", b"B").expect("put");
        let docs = open(&files, "docs");
        let out = open(&files, "out");

        assert_eq!(
            docs.move_to("d/a.txt", docs.as_ref(), "b.txt", false),
            Err(FileError::AlreadyExists)
        );
        assert_eq!(
            docs.move_to("d/a.txt", docs.as_ref(), "d/a.txt", true),
            Err(FileError::AlreadyExists)
        );
        assert!(matches!(
            docs.move_to("d", docs.as_ref(), "d/e", false),
            Err(FileError::InvalidPath(_))
        ));
        assert!(matches!(
            docs.move_to("", out.as_ref(), "x", false),
            Err(FileError::InvalidPath(_))
        ));
        assert!(matches!(
            docs.move_to("d", docs.as_ref(), "b.txt", true),
            Err(FileError::WrongKind(_))
        ));
        assert_eq!(docs.move_to("nope", out.as_ref(), "x", false), Err(FileError::NotFound));
        assert_eq!(docs.move_to("b.txt", out.as_ref(), "no/x", false), Err(FileError::NotFound));
        assert_eq!(files.file(ENTITY, "docs", "d/a.txt").as_deref(), Some(&b"A"[..]));
        assert_eq!(files.file(ENTITY, "docs", "b.txt").as_deref(), Some(&b"B"[..]));

        let renamed =
            docs.move_to("d/a.txt", docs.as_ref(), "d/renamed.txt", false).expect("rename");
        assert_eq!(renamed.path, "d/renamed.txt");
        docs.move_to("d/renamed.txt", docs.as_ref(), "b.txt", true).expect("replace");
        assert_eq!(files.file(ENTITY, "docs", "b.txt").as_deref(), Some(&b"A"[..]));

        let moved = docs.move_to("d", out.as_ref(), "d2", false).expect("a directory across types");
        assert!(moved.is_dir());
        assert_eq!(docs.metadata("d"), Err(FileError::NotFound));
        assert!(out.metadata("d2").expect("moved").is_dir());
    }

    #[test]
    fn receive_stores_the_request_content_once() {
        let files = files();
        let dir = open(&files, "docs");
        assert_eq!(dir.receive("a.bin", false), Err(FileError::NoContent));
        files.set_content(b"content");
        assert!(matches!(dir.receive("../a.bin", true), Err(FileError::InvalidPath(_))));
        assert_eq!(dir.receive("no/a.bin", true), Err(FileError::NotFound));
        assert!(files.has_content(), "a failed receive leaves the content");
        let entry = dir.receive("a.bin", false).expect("receive");
        assert_eq!((entry.path.as_str(), entry.size), ("a.bin", 7));
        assert!(!files.has_content());
        assert_eq!(dir.receive("b.bin", false), Err(FileError::NoContent));

        files.set_content(b"new");
        assert_eq!(dir.receive("a.bin", false), Err(FileError::AlreadyExists));
        dir.receive("a.bin", true).expect("overwrite");
        assert_eq!(files.file(ENTITY, "docs", "a.bin").as_deref(), Some(&b"new"[..]));
        files.set_content(b"x");
        assert!(matches!(dir.receive("", true), Err(FileError::WrongKind(_))));
    }

    #[test]
    fn send_answers_once_per_call() {
        let files = files();
        files.put_file(ENTITY, "docs", "d/a.bin", b"bytes").expect("put");
        let dir = open(&files, "docs");
        assert!(matches!(dir.send("d"), Err(FileError::WrongKind(_))));
        assert_eq!(dir.send("d/x"), Err(FileError::NotFound));
        assert_eq!(dir.send("d/a.bin").expect("send").size, 5);
        assert_eq!(dir.send("d/a.bin"), Err(FileError::NoContent));
        let sent = files.take_sent().expect("sent");
        assert_eq!((sent.type_name.as_str(), sent.path.as_str()), ("docs", "d/a.bin"));
        assert_eq!(sent.bytes, b"bytes");
        assert!(files.take_sent().is_none());
        files.set_access(ENTITY, "docs", "d/a.bin", false, true).expect("access");
        assert_eq!(dir.send("d/a.bin"), Err(FileError::AccessDenied));
    }

    #[test]
    fn access_flags_are_enforced() {
        let files = files();
        files.put_file(ENTITY, "docs", "ro/a", b"A").expect("put");
        files.set_access(ENTITY, "docs", "ro", true, false).expect("access");
        let dir = open(&files, "docs");
        assert_eq!(dir.create_directory("ro/x", false), Err(FileError::AccessDenied));
        assert_eq!(dir.create_directory("ro/x/y", true), Err(FileError::AccessDenied));
        assert_eq!(dir.remove("ro/a"), Err(FileError::AccessDenied));
        assert_eq!(dir.move_to("ro/a", dir.as_ref(), "a", false), Err(FileError::AccessDenied));
        dir.copy("ro/a", dir.as_ref(), "a", false).expect("reading is allowed");
        files.set_access(ENTITY, "docs", "ro", false, false).expect("access");
        assert_eq!(dir.list("ro"), Err(FileError::AccessDenied));
    }

    #[test]
    fn types_are_mapped_by_the_chooser_and_unmapped() {
        let files = files();
        assert_eq!(
            files.map_type(ENTITY, "new", Some("/suggested"), Some(5000)),
            Err(FileError::NoChooser)
        );
        files.set_chooser(Chooser::Cancelled);
        assert_eq!(files.map_type(ENTITY, "new", None, None), Err(FileError::Cancelled));
        files.set_chooser(Chooser::TimedOut);
        assert_eq!(files.map_type(ENTITY, "new", None, None), Err(FileError::TimedOut));
        files.set_chooser(Chooser::Waiting);
        assert_eq!(files.map_type(ENTITY, "new", None, None), Err(FileError::Waiting));
        assert_eq!(files.open(ENTITY, "new").err(), Some(FileError::NotMapped));

        files.set_chooser(Chooser::Folder("/home/u/new".into()));
        let mapping = files.map_type(ENTITY, "new", None, Some(1)).expect("mapped");
        assert_eq!(mapping.folder, "/home/u/new");
        assert!(mapping.available);
        assert_eq!(files.map_requests().len(), 5);
        assert_eq!(files.map_requests()[0].suggested_folder.as_deref(), Some("/suggested"));
        assert_eq!(files.map_requests()[0].timeout_ms, Some(5000));

        let names = |entity| {
            files
                .list_types(entity)
                .expect("list")
                .into_iter()
                .map(|t| t.type_name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Some(ENTITY)), ["docs", "new", "out"]);
        assert!(names(Some("other")).is_empty());
        files.add_type("other", "t", "/x");
        assert_eq!(names(None).len(), 4);

        files.put_file(ENTITY, "docs", "kept", b"K").expect("put");
        assert_eq!(files.unmap_type(ENTITY, "docs"), Ok(true));
        assert_eq!(files.unmap_type(ENTITY, "docs"), Ok(false));
        assert_eq!(files.open(ENTITY, "docs").err(), Some(FileError::NotMapped));
        files.add_type(ENTITY, "docs", "/home/u/docs");
        assert_eq!(
            files.file(ENTITY, "docs", "kept").as_deref(),
            Some(&b"K"[..]),
            "the folder stays"
        );
    }

    #[test]
    fn an_unavailable_folder_is_not_opened() {
        let files = files();
        files.set_available(ENTITY, "docs", false).expect("type");
        let mapping = files.list_types(Some(ENTITY)).expect("list");
        assert!(!mapping[0].available);
        assert_eq!(files.open(ENTITY, "docs").err(), Some(FileError::NotMapped));
        assert_eq!(files.set_available(ENTITY, "nope", false), Err(FileError::NotMapped));
    }

    #[test]
    fn notifications_are_recorded() {
        let files = files();
        files.notify("File saved", "a.txt in docs");
        assert_eq!(
            files.notifications(),
            [Notification { summary: "File saved".into(), body: "a.txt in docs".into() }]
        );
    }
}
