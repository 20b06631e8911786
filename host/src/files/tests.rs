//! The file operations and mappings on a real file system, in temporary folders, including the
//! escape attempts of the issue's bad-input list.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::write::Sink;
use super::*;

const SECRET: &[u8] = b"OUTSIDE - must never be read";

/// A mapped folder `root` next to a folder `outside` that holds `secret.txt` and
/// `only-outside.txt`.
struct Sandbox {
    _base: tempfile::TempDir,
    root_path: PathBuf,
    outside: PathBuf,
    root: Root,
}

impl Sandbox {
    fn new() -> Self {
        let base = tempfile::tempdir().expect("temp dir");
        let root_path = base.path().join("root");
        let outside = base.path().join("outside");
        fs::create_dir(&root_path).expect("root");
        fs::create_dir(&outside).expect("outside");
        fs::write(outside.join("secret.txt"), SECRET).expect("secret");
        fs::write(outside.join("only-outside.txt"), SECRET).expect("secret");
        let root = Root::open(&root_path).expect("open root");
        Self { _base: base, root_path, outside, root }
    }

    fn write(&self, path: &str, bytes: &[u8]) {
        let full = self.root_path.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("parents");
        }
        fs::write(full, bytes).expect("write");
    }

    fn outside_names(&self) -> Vec<String> {
        names_in(&self.outside)
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn rel(text: &str) -> RelPath {
    RelPath::parse(text).expect("valid path")
}

fn read_all(root: &Root, path: &str) -> Result<Vec<u8>, FileError> {
    let mut reader = root.open_read(&rel(path))?;
    let mut bytes = Vec::new();
    while let Some(chunk) = reader.next_chunk()? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn write_file(root: &Root, path: &str, bytes: &[u8], mode: WriteMode) -> Result<Entry, FileError> {
    let mut writer = root.create_file(&rel(path), 1 << 20, mode)?;
    writer.write(bytes)?;
    writer.commit()
}

fn listed(root: &Root, path: &str) -> Vec<String> {
    let listing = root.list(&rel(path), &ListOptions::default()).expect("list");
    listing.entries.iter().map(|e| e.name().to_owned()).collect()
}

// --- reading, listing, metadata -----------------------------------------------------------

#[test]
fn metadata_describes_files_and_folders() {
    let sandbox = Sandbox::new();
    sandbox.write("docs/a.txt", b"hello");
    let file = sandbox.root.metadata(&rel("docs/a.txt")).expect("file");
    assert_eq!((file.kind, file.size, file.name()), (EntryKind::File, 5, "a.txt"));
    assert!(file.modified.is_some());
    let dir = sandbox.root.metadata(&rel("docs")).expect("dir");
    assert_eq!((dir.kind, dir.size), (EntryKind::Directory, 0));
    assert_eq!(sandbox.root.metadata(&RelPath::root()).expect("root").kind, EntryKind::Directory);
    assert!(matches!(sandbox.root.metadata(&rel("nope")), Err(FileError::NotFound)));
    assert!(!sandbox.root.exists(&rel("docs/nope")).expect("exists"));
    assert!(sandbox.root.exists(&rel("docs")).expect("exists"));
}

#[test]
fn listing_sorts_filters_and_pages() {
    let sandbox = Sandbox::new();
    sandbox.write("big.bin", &[0; 300]);
    sandbox.write("small.txt", b"1");
    sandbox.write("sub/inner.txt", b"22");
    let options =
        ListOptions { sort: SortKey::Size, order: Order::Descending, ..ListOptions::default() };
    let listing = sandbox.root.list(&RelPath::root(), &options).expect("list");
    let names: Vec<&str> = listing.entries.iter().map(Entry::name).collect();
    assert_eq!(names, ["big.bin", "small.txt", "sub"]);
    let files_page = ListOptions {
        kinds: KindFilter::Files,
        page: Some(Page { start: 1, size: 5 }),
        ..ListOptions::default()
    };
    let page = sandbox.root.list(&RelPath::root(), &files_page).expect("list");
    assert_eq!(page.total, 2);
    assert_eq!(page.entries.iter().map(Entry::name).collect::<Vec<_>>(), ["small.txt"]);
    assert_eq!(listed(&sandbox.root, "sub"), ["inner.txt"]);
    assert_eq!(page.entries[0].path, rel("small.txt"));
    assert_eq!(
        sandbox.root.list(&rel("sub"), &ListOptions::default()).expect("sub").entries[0].path,
        rel("sub/inner.txt")
    );
    assert!(matches!(
        sandbox.root.list(&rel("small.txt"), &ListOptions::default()),
        Err(FileError::NotADirectory)
    ));
}

#[cfg(unix)]
#[test]
fn listing_leaves_out_names_the_api_cannot_address() {
    let sandbox = Sandbox::new();
    sandbox.write("ok.txt", b"");
    sandbox.write("with:colon", b"");
    sandbox.write("back\\slash", b"");
    sandbox.write(".t1c-0123456789abcdef.part", b"in progress");
    assert_eq!(listed(&sandbox.root, ""), ["ok.txt"]);
}

#[test]
fn reading_streams_in_bounded_chunks() {
    let sandbox = Sandbox::new();
    let content: Vec<u8> = (0..CHUNK_BYTES * 3 + 17).map(|i| (i % 251) as u8).collect();
    sandbox.write("data.bin", &content);
    let mut reader = sandbox.root.open_read(&rel("data.bin")).expect("open");
    assert_eq!(reader.len(), content.len() as u64);
    let mut read = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = reader.next_chunk().expect("chunk") {
        assert!(!chunk.is_empty() && chunk.len() <= CHUNK_BYTES);
        read.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert_eq!(read, content);
    assert!(chunks >= 4);
}

#[test]
fn a_folder_is_not_opened_as_a_file() {
    let sandbox = Sandbox::new();
    sandbox.write("dir/x", b"");
    assert!(matches!(sandbox.root.open_read(&rel("dir")), Err(FileError::NotAFile)));
    assert!(matches!(sandbox.root.open_read(&RelPath::root()), Err(FileError::NotAFile)));
}

#[test]
fn a_percent_encoded_traversal_is_refused_and_nothing_is_written() {
    let sandbox = Sandbox::new();
    for name in ["%2e%2e%2f", "%2e%2e%2fsecret.txt", "%2E%2E"] {
        assert!(RelPath::parse(name).is_err(), "{name} was accepted");
    }
    assert!(fs::read_dir(&sandbox.root_path).expect("list").next().is_none());
    assert_eq!(sandbox.outside_names(), ["only-outside.txt", "secret.txt"]);
}

// --- symbolic links -----------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_file_link_to_outside_is_neither_read_nor_written_through() {
    use std::os::unix::fs::symlink;
    let sandbox = Sandbox::new();
    symlink(sandbox.outside.join("secret.txt"), sandbox.root_path.join("abs-link")).expect("ln");
    symlink("../outside/secret.txt", sandbox.root_path.join("rel-link")).expect("ln");
    for link in ["abs-link", "rel-link"] {
        assert!(matches!(read_all(&sandbox.root, link), Err(FileError::AccessDenied)), "{link}");
        assert!(matches!(sandbox.root.metadata(&rel(link)), Err(FileError::AccessDenied)));
        // Replacing the link writes a new file in its place, never through it.
        write_file(&sandbox.root, link, b"new", WriteMode::Replace).expect("replace");
        assert_eq!(fs::read(sandbox.root_path.join(link)).expect("inside"), b"new");
        assert!(!fs::symlink_metadata(sandbox.root_path.join(link)).expect("meta").is_symlink());
    }
    assert_eq!(fs::read(sandbox.outside.join("secret.txt")).expect("secret"), SECRET);
}

#[cfg(unix)]
#[test]
fn a_folder_link_to_outside_leads_nowhere() {
    use std::os::unix::fs::symlink;
    let sandbox = Sandbox::new();
    symlink(&sandbox.outside, sandbox.root_path.join("out")).expect("ln");
    let root = &sandbox.root;
    assert!(matches!(read_all(root, "out/secret.txt"), Err(FileError::AccessDenied)));
    assert!(matches!(
        root.list(&rel("out"), &ListOptions::default()),
        Err(FileError::AccessDenied)
    ));
    assert!(matches!(
        root.create_file(&rel("out/new.txt"), 10, WriteMode::CreateNew),
        Err(FileError::AccessDenied)
    ));
    assert!(matches!(root.create_dir(&rel("out/made")), Err(FileError::AccessDenied)));
    assert!(matches!(root.create_dir_all(&rel("out/a/b")), Err(FileError::AccessDenied)));
    assert!(matches!(root.remove(&rel("out/secret.txt")), Err(FileError::AccessDenied)));
    assert!(matches!(
        root.rename(&rel("out/secret.txt"), &rel("stolen.txt")),
        Err(FileError::AccessDenied)
    ));
    sandbox.write("mine.txt", b"mine");
    assert!(matches!(
        root.rename(&rel("mine.txt"), &rel("out/planted.txt")),
        Err(FileError::AccessDenied)
    ));
    assert!(matches!(
        root.copy(&rel("mine.txt"), root, &rel("out/planted.txt"), WriteMode::CreateNew),
        Err(FileError::AccessDenied)
    ));
    // The listing of the root leaves the link out.
    assert_eq!(listed(root, ""), ["mine.txt"]);
    assert_eq!(sandbox.outside_names(), ["only-outside.txt", "secret.txt"]);
}

#[cfg(unix)]
#[test]
fn a_link_in_the_middle_of_a_path_cannot_lead_outside() {
    use std::os::unix::fs::symlink;
    let sandbox = Sandbox::new();
    fs::create_dir_all(sandbox.root_path.join("a")).expect("a");
    fs::create_dir_all(sandbox.outside.join("deeper")).expect("deeper");
    fs::write(sandbox.outside.join("deeper/secret.txt"), SECRET).expect("secret");
    symlink("../../outside", sandbox.root_path.join("a/b")).expect("ln");
    let root = &sandbox.root;
    assert!(matches!(read_all(root, "a/b/deeper/secret.txt"), Err(FileError::AccessDenied)));
    assert!(matches!(root.metadata(&rel("a/b/deeper")), Err(FileError::AccessDenied)));
    assert!(matches!(
        write_file(root, "a/b/deeper/planted.txt", b"x", WriteMode::Replace),
        Err(FileError::AccessDenied)
    ));
    assert_eq!(names_in(&sandbox.outside.join("deeper")), ["secret.txt"]);
}

#[cfg(unix)]
#[test]
fn links_that_stay_inside_are_followed() {
    use std::os::unix::fs::symlink;
    let sandbox = Sandbox::new();
    sandbox.write("real/file.txt", b"inside");
    symlink("real", sandbox.root_path.join("alias")).expect("ln");
    symlink("real/file.txt", sandbox.root_path.join("file-alias")).expect("ln");
    assert_eq!(read_all(&sandbox.root, "alias/file.txt").expect("read"), b"inside");
    assert_eq!(read_all(&sandbox.root, "file-alias").expect("read"), b"inside");
    assert_eq!(listed(&sandbox.root, ""), ["alias", "file-alias", "real"]);
    // A link in a subfolder to elsewhere in the mapped folder is shown too.
    symlink("../real/file.txt", sandbox.root_path.join("real/up")).expect("ln");
    fs::create_dir(sandbox.root_path.join("real/deeper")).expect("deeper");
    symlink("../../real", sandbox.root_path.join("real/deeper/back")).expect("ln");
    assert_eq!(listed(&sandbox.root, "real"), ["deeper", "file.txt", "up"]);
    assert_eq!(listed(&sandbox.root, "real/deeper"), ["back"]);
    // Removing a link removes the link only.
    sandbox.root.remove(&rel("alias")).expect("remove link");
    assert_eq!(fs::read(sandbox.root_path.join("real/file.txt")).expect("kept"), b"inside");
}

/// A thread keeps swapping `root/p` between a link to a folder inside and links to the folder
/// outside while another reads, lists, writes and creates through `p`: nothing outside is ever
/// read, listed or written.
#[cfg(unix)]
#[test]
fn a_link_swapped_between_check_and_use_never_leads_outside() {
    use std::os::unix::fs::symlink;
    const ROUNDS: usize = 2000;
    let sandbox = Sandbox::new();
    sandbox.write("inside/secret.txt", b"inside");
    let link = sandbox.root_path.join("p");
    symlink("inside", &link).expect("ln");
    let targets: [PathBuf; 3] = ["inside".into(), "../outside".into(), sandbox.outside.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let swapper = {
        let (stop, swaps, root_path) = (stop.clone(), swaps.clone(), sandbox.root_path.clone());
        std::thread::spawn(move || {
            let staging = root_path.join("p.next");
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let _ = fs::remove_file(&staging);
                symlink(&targets[round % targets.len()], &staging).expect("ln");
                fs::rename(&staging, root_path.join("p")).expect("swap");
                round += 1;
                if round == 1 {
                    started_tx.send(()).expect("started");
                }
                swaps.store(round, Ordering::Relaxed);
            }
        })
    };
    started_rx.recv().expect("swapper started");
    let root = &sandbox.root;
    let (mut reads, mut refusals) = (0, 0);
    for round in 0..ROUNDS {
        match read_all(root, "p/secret.txt") {
            Ok(bytes) => {
                assert_eq!(bytes, b"inside", "read outside in round {round}");
                reads += 1;
            }
            Err(_) => refusals += 1,
        }
        if let Ok(listing) = root.list(&rel("p"), &ListOptions::default()) {
            assert!(
                listing.entries.iter().all(|e| e.name() != "only-outside.txt"),
                "listed outside in round {round}"
            );
        }
        let _ = write_file(root, "p/written.txt", b"x", WriteMode::Replace);
        let _ = root.create_dir(&rel("p/made"));
        if let Ok(mut writer) = root.create_file(&rel("p/streamed.txt"), 8, WriteMode::Replace) {
            let _ = writer.write(b"abc");
            let _ = writer.commit();
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().expect("swapper");
    assert!(swaps.load(Ordering::Relaxed) > 0);
    assert_eq!(reads + refusals, ROUNDS);
    assert_eq!(sandbox.outside_names(), ["only-outside.txt", "secret.txt"]);
    assert_eq!(fs::read(sandbox.outside.join("secret.txt")).expect("secret"), SECRET);
    eprintln!("{} swaps; {reads} reads inside, {refusals} refused", swaps.load(Ordering::Relaxed));
}

// --- devices, FIFOs, sockets --------------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let sandbox = Sandbox::new();
    let fifo = sandbox.root_path.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // Opening a FIFO for reading would block until a writer comes: this must return at once.
    assert!(matches!(sandbox.root.open_read(&rel("pipe")), Err(FileError::NotAFile)));
    assert!(matches!(sandbox.root.metadata(&rel("pipe")), Err(FileError::NotAFile)));
    assert!(matches!(
        sandbox.root.copy(&rel("pipe"), &sandbox.root, &rel("copy"), WriteMode::CreateNew),
        Err(FileError::NotAFile)
    ));
    assert!(listed(&sandbox.root, "").is_empty());
}

#[cfg(unix)]
#[test]
fn a_socket_is_refused() {
    let sandbox = Sandbox::new();
    let _listener =
        std::os::unix::net::UnixListener::bind(sandbox.root_path.join("sock")).expect("bind");
    assert!(matches!(sandbox.root.open_read(&rel("sock")), Err(FileError::NotAFile)));
    assert!(matches!(sandbox.root.metadata(&rel("sock")), Err(FileError::NotAFile)));
    assert!(listed(&sandbox.root, "").is_empty());
}

#[cfg(unix)]
#[test]
fn a_device_is_refused() {
    // A folder full of real devices: /dev.
    let dev = Root::open(Path::new("/dev")).expect("/dev");
    for device in ["null", "zero", "tty"] {
        assert!(matches!(dev.open_read(&rel(device)), Err(FileError::NotAFile)), "{device}");
        assert!(matches!(dev.metadata(&rel(device)), Err(FileError::NotAFile)), "{device}");
    }
    let names = dev.list(&RelPath::root(), &ListOptions::default()).expect("list /dev");
    assert!(names.entries.iter().all(|e| e.name() != "null" && e.name() != "zero"));
}

// --- writing --------------------------------------------------------------------------------

#[test]
fn a_committed_write_replaces_the_target_whole() {
    let sandbox = Sandbox::new();
    sandbox.write("doc.txt", b"old");
    let mut writer = sandbox.root.create_file(&rel("doc.txt"), 100, WriteMode::Replace).expect("w");
    writer.write(b"new ").expect("write");
    // Until the commit, the old content is what is there.
    assert_eq!(fs::read(sandbox.root_path.join("doc.txt")).expect("read"), b"old");
    writer.write(b"content").expect("write");
    assert_eq!(writer.written(), 11);
    let entry = writer.commit().expect("commit");
    assert_eq!((entry.size, entry.path.as_str()), (11, "doc.txt"));
    assert_eq!(fs::read(sandbox.root_path.join("doc.txt")).expect("read"), b"new content");
    assert_eq!(names_in(&sandbox.root_path), ["doc.txt"]);
}

#[test]
fn create_new_refuses_an_existing_target() {
    let sandbox = Sandbox::new();
    sandbox.write("doc.txt", b"old");
    assert!(matches!(
        sandbox.root.create_file(&rel("doc.txt"), 100, WriteMode::CreateNew),
        Err(FileError::AlreadyExists)
    ));
    // Appearing while the write runs is caught at the commit.
    let mut writer =
        sandbox.root.create_file(&rel("late.txt"), 100, WriteMode::CreateNew).expect("w");
    writer.write(b"mine").expect("write");
    sandbox.write("late.txt", b"theirs");
    assert!(matches!(writer.commit(), Err(FileError::AlreadyExists)));
    assert_eq!(fs::read(sandbox.root_path.join("late.txt")).expect("read"), b"theirs");
    assert_eq!(names_in(&sandbox.root_path), ["doc.txt", "late.txt"]);
    assert!(matches!(
        sandbox.root.create_file(&RelPath::root(), 1, WriteMode::Replace),
        Err(FileError::NotAFile)
    ));
}

#[test]
fn the_limit_is_inclusive_and_one_byte_more_leaves_nothing() {
    const LIMIT: u64 = 50 * 1024;
    let sandbox = Sandbox::new();
    let mut exact =
        sandbox.root.create_file(&rel("exact.bin"), LIMIT, WriteMode::CreateNew).expect("w");
    exact.write(&vec![1; LIMIT as usize]).expect("exactly the limit");
    exact.commit().expect("commit");

    let mut over =
        sandbox.root.create_file(&rel("over.bin"), LIMIT, WriteMode::CreateNew).expect("w");
    over.write(&vec![1; LIMIT as usize - 10]).expect("under the limit");
    assert!(matches!(over.write(&[1; 11]), Err(FileError::TooLarge { limit: LIMIT })));
    assert!(matches!(over.write(b"more"), Err(FileError::Abandoned)));
    assert!(matches!(over.commit(), Err(FileError::Abandoned)));
    assert_eq!(names_in(&sandbox.root_path), ["exact.bin"]);
}

/// An unnamed temporary file holding `bytes`, read from its start, in `dir`: what a received
/// download is held in.
fn unnamed_file(dir: &Path, bytes: &[u8]) -> fs::File {
    use std::io::{Seek, SeekFrom};
    let mut file = tempfile::tempfile_in(dir).expect("unnamed file");
    file.write_all(bytes).expect("fill");
    file.seek(SeekFrom::Start(0)).expect("rewind");
    file
}

#[cfg(target_os = "linux")]
#[test]
fn an_unnamed_file_on_the_same_disk_is_linked_into_place_not_copied() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let sandbox = Sandbox::new();
    let missing_folder = sandbox.root.store(
        &rel("in/place.bin"),
        unnamed_file(&sandbox.outside, b"received bytes"),
        1 << 20,
        WriteMode::CreateNew,
    );
    assert!(matches!(missing_folder, Err(FileError::NotFound)), "{missing_folder:?}");

    fs::create_dir(sandbox.root_path.join("in")).expect("in");
    let spool = unnamed_file(&sandbox.outside, b"received bytes");
    let inode = spool.metadata().expect("spool metadata").ino();
    let stored = sandbox
        .root
        .store(&rel("in/place.bin"), spool, 1 << 20, WriteMode::CreateNew)
        .expect("store");
    assert_eq!(stored.size, 14);

    let on_disk = fs::metadata(sandbox.root_path.join("in/place.bin")).expect("stored file");
    assert_eq!(on_disk.ino(), inode, "the received file itself is in place, not a copy");
    assert_eq!(on_disk.permissions().mode() & 0o777, 0o666 & !super::write::creation_umask());
    assert_eq!(read_all(&sandbox.root, "in/place.bin").expect("read"), b"received bytes");
    assert_eq!(names_in(&sandbox.root_path.join("in")), ["place.bin"], "no temporary name left");
}

#[test]
fn a_named_file_is_copied_and_left_where_it_was() {
    let sandbox = Sandbox::new();
    let source = sandbox.outside.join("named.bin");
    fs::write(&source, b"copied bytes").expect("source");
    let file = fs::File::open(&source).expect("open");
    sandbox.root.store(&rel("copy.bin"), file, 1 << 20, WriteMode::CreateNew).expect("store");
    assert_eq!(read_all(&sandbox.root, "copy.bin").expect("read"), b"copied bytes");
    assert_eq!(fs::read(&source).expect("source kept"), b"copied bytes");
    assert_eq!(names_in(&sandbox.root_path), ["copy.bin"]);
}

#[test]
fn storing_keeps_the_limit_and_the_write_mode_and_leaves_nothing_when_refused() {
    let sandbox = Sandbox::new();
    sandbox.write("taken.bin", b"old");
    let store = |path: &str, bytes: &[u8], limit: u64, mode: WriteMode| {
        sandbox.root.store(&rel(path), unnamed_file(&sandbox.outside, bytes), limit, mode)
    };

    assert!(matches!(
        store("taken.bin", b"new", 10, WriteMode::CreateNew),
        Err(FileError::AlreadyExists)
    ));
    assert!(matches!(
        store("big.bin", &[7; 11], 10, WriteMode::CreateNew),
        Err(FileError::TooLarge { limit: 10 })
    ));
    assert_eq!(names_in(&sandbox.root_path), ["taken.bin"]);
    assert_eq!(fs::read(sandbox.root_path.join("taken.bin")).expect("kept"), b"old");

    store("taken.bin", &[7; 10], 10, WriteMode::Replace).expect("the limit is inclusive");
    assert_eq!(fs::read(sandbox.root_path.join("taken.bin")).expect("replaced"), [7; 10]);
    assert_eq!(names_in(&sandbox.root_path), ["taken.bin"]);
}

#[test]
fn a_dropped_or_aborted_write_leaves_nothing() {
    let sandbox = Sandbox::new();
    sandbox.write("keep.txt", b"original");
    let mut dropped =
        sandbox.root.create_file(&rel("keep.txt"), 100, WriteMode::Replace).expect("w");
    dropped.write(b"half").expect("write");
    drop(dropped);
    let mut aborted =
        sandbox.root.create_file(&rel("new.txt"), 100, WriteMode::CreateNew).expect("w");
    aborted.write(b"half").expect("write");
    aborted.abort();
    assert_eq!(names_in(&sandbox.root_path), ["keep.txt"]);
    assert_eq!(fs::read(sandbox.root_path.join("keep.txt")).expect("read"), b"original");
}

/// Accepts `budget` bytes, then fails as a full disk does.
struct FullDisk {
    inner: Box<dyn Sink>,
    budget: usize,
}

impl Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        self.inner.write(&buf[..n])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Sink for FullDisk {
    fn sync_all(&mut self) -> io::Result<()> {
        self.inner.sync_all()
    }
}

#[test]
fn a_disk_full_mid_write_leaves_nothing() {
    let sandbox = Sandbox::new();
    let mut writer =
        sandbox.root.create_file(&rel("big.bin"), 1 << 20, WriteMode::CreateNew).expect("w");
    writer.wrap_sink(|inner| Box::new(FullDisk { inner, budget: 1000 }));
    writer.write(&[7; 600]).expect("fits");
    // Half of this chunk reaches the disk before it fills up.
    assert!(matches!(writer.write(&[7; 600]), Err(FileError::NoSpace)));
    assert!(matches!(writer.commit(), Err(FileError::Abandoned)));
    assert!(names_in(&sandbox.root_path).is_empty());
}

/// The same on a real, tiny tmpfs, where the kernel says ENOSPC. Mounting needs root; where
/// the test cannot mount, it says so and checks nothing (the injected failure above still runs).
#[cfg(target_os = "linux")]
#[test]
fn a_real_full_tmpfs_mid_write_leaves_nothing() {
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let base = tempfile::tempdir().expect("temp dir");
    let mount_point = base.path().join("small");
    fs::create_dir(&mount_point).expect("mount point");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "t1c-files-test"])
        .arg(&mount_point)
        .stderr(std::process::Stdio::null())
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("not run: cannot mount a tmpfs here (needs root)");
        return;
    }
    let _unmount = Unmount(mount_point.clone());
    let root = Root::open(&mount_point).expect("open");
    let mut writer = root.create_file(&rel("big.bin"), 1 << 20, WriteMode::CreateNew).expect("w");
    let err = loop {
        match writer.write(&[7; 16 * 1024]) {
            Ok(()) => assert!(writer.written() <= 64 * 1024, "the tmpfs took more than its size"),
            Err(err) => break err,
        }
    };
    assert!(matches!(err, FileError::NoSpace), "{err:?}");
    drop(writer);
    assert!(names_in(&mount_point).is_empty());
}

// --- folders, copy, move, rename, remove -----------------------------------------------------

#[test]
fn folders_are_created_one_or_all_levels() {
    let sandbox = Sandbox::new();
    let root = &sandbox.root;
    assert_eq!(root.create_dir(&rel("a")).expect("a").kind, EntryKind::Directory);
    assert!(matches!(root.create_dir(&rel("a")), Err(FileError::AlreadyExists)));
    assert!(matches!(root.create_dir(&rel("x/y")), Err(FileError::NotFound)));
    assert_eq!(root.create_dir_all(&rel("x/y/z")).expect("all").path, rel("x/y/z"));
    root.create_dir_all(&rel("x/y/z")).expect("again is fine");
    sandbox.write("f", b"");
    assert!(matches!(root.create_dir_all(&rel("f")), Err(FileError::AlreadyExists)));
    assert!(sandbox.root_path.join("x/y/z").is_dir());
}

#[test]
fn files_are_copied_moved_and_renamed_within_a_folder() {
    let sandbox = Sandbox::new();
    let root = &sandbox.root;
    sandbox.write("a.txt", b"content");
    fs::create_dir(sandbox.root_path.join("sub")).expect("sub");
    let copy =
        root.copy(&rel("a.txt"), root, &rel("sub/b.txt"), WriteMode::CreateNew).expect("copy");
    assert_eq!((copy.path.as_str(), copy.size), ("sub/b.txt", 7));
    assert!(matches!(
        root.copy(&rel("a.txt"), root, &rel("sub/b.txt"), WriteMode::CreateNew),
        Err(FileError::AlreadyExists)
    ));
    let renamed = root.rename(&rel("a.txt"), &rel("c.txt")).expect("rename");
    assert_eq!(renamed.path, rel("c.txt"));
    assert!(matches!(root.rename(&rel("c.txt"), &rel("sub/b.txt")), Err(FileError::AlreadyExists)));
    root.move_to(&rel("c.txt"), root, &rel("sub/c.txt"), WriteMode::CreateNew).expect("move");
    assert_eq!(listed(root, ""), ["sub"]);
    assert_eq!(listed(root, "sub"), ["b.txt", "c.txt"]);
    root.rename(&rel("sub"), &rel("renamed")).expect("rename a folder");
    assert_eq!(read_all(root, "renamed/c.txt").expect("read"), b"content");
    assert!(matches!(root.rename(&RelPath::root(), &rel("x")), Err(FileError::AccessDenied)));
    assert!(matches!(root.rename(&rel("nope"), &rel("x")), Err(FileError::NotFound)));
}

#[test]
fn files_are_copied_and_moved_across_folders() {
    let first = Sandbox::new();
    let second = Sandbox::new();
    first.write("a.txt", b"across");
    first
        .root
        .copy(&rel("a.txt"), &second.root, &rel("copied.txt"), WriteMode::CreateNew)
        .expect("copy");
    let moved = first
        .root
        .move_to(&rel("a.txt"), &second.root, &rel("moved.txt"), WriteMode::CreateNew)
        .expect("move");
    assert_eq!(moved.size, 6);
    assert!(listed(&first.root, "").is_empty());
    assert_eq!(listed(&second.root, ""), ["copied.txt", "moved.txt"]);
    assert_eq!(read_all(&second.root, "moved.txt").expect("read"), b"across");
}

#[test]
fn a_replacing_move_swaps_files_in_one_rename_and_refuses_anything_else() {
    let sandbox = Sandbox::new();
    let root = &sandbox.root;
    sandbox.write("new.txt", b"new");
    sandbox.write("old.txt", b"old");
    sandbox.write("folder/inside.txt", b"kept");
    let move_onto = |from: &str, to: &str, mode| root.move_to(&rel(from), root, &rel(to), mode);

    assert!(matches!(
        move_onto("new.txt", "old.txt", WriteMode::CreateNew),
        Err(FileError::AlreadyExists)
    ));
    assert!(matches!(
        move_onto("new.txt", "folder", WriteMode::Replace),
        Err(FileError::AlreadyExists)
    ));
    assert!(matches!(
        move_onto("folder", "old.txt", WriteMode::Replace),
        Err(FileError::AlreadyExists)
    ));
    assert!(matches!(
        move_onto("missing.txt", "old.txt", WriteMode::Replace),
        Err(FileError::NotFound)
    ));
    assert_eq!(read_all(root, "old.txt").expect("intact"), b"old");

    let replaced = move_onto("new.txt", "old.txt", WriteMode::Replace).expect("replace");
    assert_eq!(replaced.size, 3);
    assert_eq!(read_all(root, "old.txt").expect("read"), b"new");
    assert_eq!(listed(root, ""), ["folder", "old.txt"]);
    assert_eq!(read_all(root, "folder/inside.txt").expect("kept"), b"kept");
}

#[test]
fn remove_takes_files_and_empty_folders_only() {
    let sandbox = Sandbox::new();
    let root = &sandbox.root;
    sandbox.write("full/f.txt", b"");
    fs::create_dir(sandbox.root_path.join("empty")).expect("empty");
    assert!(matches!(root.remove(&rel("full")), Err(FileError::NotEmpty)));
    root.remove(&rel("full/f.txt")).expect("file");
    root.remove(&rel("full")).expect("now empty");
    root.remove(&rel("empty")).expect("empty");
    assert!(matches!(root.remove(&rel("empty")), Err(FileError::NotFound)));
    assert!(matches!(root.remove(&RelPath::root()), Err(FileError::AccessDenied)));
    assert!(sandbox.root_path.is_dir());
}

// --- mappings -----------------------------------------------------------------------------

fn key(app: &str, entity: &str, type_name: &str) -> TypeKey {
    TypeKey::new(app, entity, type_name).expect("valid key")
}

#[test]
fn mappings_survive_a_restart_in_a_private_file() {
    let data = tempfile::tempdir().expect("data");
    let folder = tempfile::tempdir().expect("folder");
    let mappings = Mappings::load(data.path()).expect("load");
    let invoices = key("https://app.example", "acme", "invoices");
    let mapped = mappings.map(&invoices, folder.path()).expect("map");
    assert_eq!(mapped.status(), MappingStatus::Mapped);
    mappings.map(&key("https://app.example", "acme", "scans"), folder.path()).expect("map");
    mappings.unmap(&key("https://app.example", "acme", "scans")).expect("unmap");
    drop(mappings);

    let file = data.path().join(MAPPINGS_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&file).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let reloaded = Mappings::load(data.path()).expect("reload");
    let types = reloaded.types("https://app.example", "acme");
    assert_eq!(types.len(), 2);
    let canonical = fs::canonicalize(folder.path()).expect("canonical");
    assert_eq!(reloaded.get(&invoices).expect("get").folder, Some(canonical.clone()));
    assert_eq!(types[1].key.type_name(), "scans");
    assert_eq!(types[1].status(), MappingStatus::Unmapped);
    assert_eq!(reloaded.open(&invoices).expect("open").folder(), canonical);
    assert_eq!(names_in(data.path()), [MAPPINGS_FILE]);
}

#[test]
fn an_application_never_sees_another_applications_types() {
    let data = tempfile::tempdir().expect("data");
    let folder = tempfile::tempdir().expect("folder");
    let mappings = Mappings::load(data.path()).expect("load");
    mappings.map(&key("app-a", "acme", "invoices"), folder.path()).expect("map");
    assert!(mappings.types("app-b", "acme").is_empty());
    assert_eq!(mappings.types("app-a", "acme").len(), 1);
    let theirs = key("app-b", "acme", "invoices");
    assert!(matches!(mappings.get(&theirs), Err(MappingError::Unknown)));
    assert!(matches!(mappings.open(&theirs), Err(MappingError::Unknown)));
    assert!(matches!(mappings.unmap(&theirs), Err(MappingError::Unknown)));
    assert!(matches!(mappings.remove(&theirs), Err(MappingError::Unknown)));
    assert!(mappings.open(&key("app-a", "acme", "invoices")).is_ok());
}

#[test]
fn an_unmapped_removed_or_vanished_type_cannot_be_opened() {
    let data = tempfile::tempdir().expect("data");
    let folder = tempfile::tempdir().expect("folder");
    let mappings = Mappings::load(data.path()).expect("load");
    let scans = key("app", "acme", "scans");
    mappings.map(&scans, folder.path()).expect("map");
    mappings.unmap(&scans).expect("unmap");
    assert!(matches!(mappings.open(&scans), Err(MappingError::Unmapped)));
    mappings.remove(&scans).expect("remove");
    assert!(matches!(mappings.open(&scans), Err(MappingError::Unknown)));

    let gone = folder.path().join("gone");
    fs::create_dir(&gone).expect("gone");
    mappings.map(&scans, &gone).expect("map");
    fs::remove_dir(&gone).expect("remove folder");
    assert!(matches!(mappings.open(&scans), Err(MappingError::FolderMissing)));
}

#[test]
fn only_existing_absolute_folders_are_mapped() {
    let data = tempfile::tempdir().expect("data");
    let mappings = Mappings::load(data.path()).expect("load");
    let k = key("app", "acme", "t");
    assert!(matches!(mappings.map(&k, Path::new("relative/dir")), Err(MappingError::NotAbsolute)));
    let missing = data.path().join("missing");
    assert!(matches!(mappings.map(&k, &missing), Err(MappingError::FolderMissing)));
    let file = data.path().join("a-file");
    fs::write(&file, b"").expect("file");
    assert!(matches!(mappings.map(&k, &file), Err(MappingError::NotADirectory)));
    assert!(matches!(mappings.get(&k), Err(MappingError::Unknown)));
}

#[test]
fn the_data_directory_its_parents_and_the_root_are_never_mapped() {
    let home = tempfile::tempdir().expect("home");
    let data = home.path().join(".local/share/t1c");
    fs::create_dir_all(data.join("tls")).expect("data");
    let documents = home.path().join("Documents");
    fs::create_dir(&documents).expect("documents");
    let mappings = Mappings::load(&data).expect("load");
    let k = key("app", "acme", "t");

    for folder in [home.path(), data.as_path(), &data.join("tls"), Path::new("/")] {
        assert!(
            matches!(mappings.map(&k, folder), Err(MappingError::ProtectedFolder)),
            "{} was mapped",
            folder.display()
        );
    }
    assert!(matches!(mappings.get(&k), Err(MappingError::Unknown)));
    mappings.map(&k, &documents).expect("a folder beside the data is fine");
}

#[test]
fn type_keys_refuse_empty_long_and_control_text() {
    assert!(matches!(
        TypeKey::new("", "e", "t"),
        Err(MappingError::InvalidKey { field: "application" })
    ));
    assert!(matches!(
        TypeKey::new("a", "e\n", "t"),
        Err(MappingError::InvalidKey { field: "entity" })
    ));
    let long = "t".repeat(MAX_KEY_BYTES + 1);
    assert!(matches!(
        TypeKey::new("a", "e", &long),
        Err(MappingError::InvalidKey { field: "type" })
    ));
    // A bidirectional override would make the chooser's title read as another name.
    assert!(matches!(
        TypeKey::new("a", "e", "invoices\u{202E}fdp.exe"),
        Err(MappingError::InvalidKey { field: "type" })
    ));
}

#[test]
fn a_corrupt_mappings_file_is_an_error_not_an_empty_store() {
    let data = tempfile::tempdir().expect("data");
    let file = data.path().join(MAPPINGS_FILE);
    fs::write(&file, b"{not json").expect("write");
    assert!(matches!(Mappings::load(data.path()), Err(MappingError::Corrupt(_))));
    fs::write(&file, br#"{"version": 99, "types": []}"#).expect("write");
    assert!(matches!(Mappings::load(data.path()), Err(MappingError::Corrupt(_))));
    fs::write(
        &file,
        br#"{"version": 1, "types": [{"application": "a", "entity": "e", "type": "t", "folder": "relative"}]}"#,
    )
    .expect("write");
    assert!(matches!(Mappings::load(data.path()), Err(MappingError::Corrupt(_))));
}
