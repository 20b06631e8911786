//! The install state on disk: which bundle of each module is served, which one came before it,
//! and the bundle files themselves.
//!
//! ```text
//! <modules dir>/
//!   installed.toml            the state: one entry per module (current + previous)
//!   bundles/<name>-<digest>.t1cm
//!   .lock                     held exclusively by the process that owns the store
//! ```
//!
//! Crash safety: a bundle file is written to a temporary name, synced and renamed before the
//! state mentions it; the state is replaced the same way (write, fsync, rename, fsync the
//! directory). A crash at any point leaves either the old state or the new one, each pointing
//! only at complete files. Files no state mentions (left by a crash) are removed on open.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use t1c_bundle::{Digest, KeyId};

/// The state file's name.
const STATE_FILE: &str = "installed.toml";
/// The folder of kept bundles.
const BUNDLES: &str = "bundles";
/// The state format this build reads and writes.
const FORMAT: u32 = 1;
/// The action of the one failure that comes after a rename (see [`Store::commit`]).
const SYNC_DIR: &str = "cannot sync the folder";

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (a running connector, or another `t1c modules` command) owns the store.
    #[error(
        "the module store {0} is in use by another process (a running connector?); \
         use its admin socket or stop it first"
    )]
    Locked(PathBuf),
    /// The state file is not valid.
    #[error("the install state {path} is damaged: {reason}")]
    Damaged {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// One installed bundle of a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredBundle {
    /// The module version.
    pub version: semver::Version,
    /// The bundle digest (hex SHA-256 in the state file, see the bundle format).
    #[serde(with = "as_text")]
    pub digest: Digest,
    /// The id of the key that signed it (hex in the state file).
    #[serde(with = "as_text")]
    pub signer: KeyId,
    /// The file under `bundles/`.
    pub file: String,
}

/// What is installed of one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleEntry {
    /// The bundle served.
    pub current: StoredBundle,
    /// The bundle served before, kept for rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<StoredBundle>,
    /// Whether the operator pinned this version: another version is then installed only when
    /// pinned explicitly, and a lower version only that way.
    #[serde(default)]
    pub pinned: bool,
}

/// The install state: every installed module, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallState {
    /// The state format.
    pub format: u32,
    /// Installed modules by name.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleEntry>,
}

/// The module store, owned exclusively by this process while it is open.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    state: InstallState,
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, takes its lock, reads the state, and
    /// removes files that no state mentions.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process holds it, [`StoreError::Damaged`] for an
    /// unreadable state, [`StoreError::Io`] for file errors.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { action, path, source }
        };
        create_private_dir(&dir.join(BUNDLES)).map_err(io("cannot create", dir))?;
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("cannot open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked(dir.to_owned())),
            Err(TryLockError::Error(source)) => {
                return Err(StoreError::Io { action: "cannot lock", path: lock_path, source });
            }
        }
        let state_path = dir.join(STATE_FILE);
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => parse_state(&text)
                .map_err(|reason| StoreError::Damaged { path: state_path.clone(), reason })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                InstallState { format: FORMAT, modules: BTreeMap::new() }
            }
            Err(source) => {
                return Err(StoreError::Io { action: "cannot read", path: state_path, source });
            }
        };
        let store = Self { dir: dir.to_owned(), state, _lock: lock };
        store.collect_garbage();
        Ok(store)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state as last committed.
    pub fn state(&self) -> &InstallState {
        &self.state
    }

    /// The bytes of a stored bundle.
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn read(&self, bundle: &StoredBundle) -> Result<Vec<u8>, StoreError> {
        let path = self.bundle_path(&bundle.file)?;
        std::fs::read(&path).map_err(|source| StoreError::Io {
            action: "cannot read",
            path,
            source,
        })
    }

    /// Writes a bundle's bytes durably, as `<name>-<digest>.t1cm`, and returns its entry; the
    /// state does not mention it until [`Store::commit`].
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn put(
        &self,
        name: &str,
        version: &semver::Version,
        digest: &Digest,
        signer: &KeyId,
        bytes: &[u8],
    ) -> Result<StoredBundle, StoreError> {
        let file = format!("{name}-{digest}.t1cm");
        let path = self.bundle_path(&file)?;
        write_atomically(&path, bytes)?;
        Ok(StoredBundle { version: version.clone(), digest: *digest, signer: signer.clone(), file })
    }

    /// Replaces the state durably, then removes the bundle files it no longer mentions.
    ///
    /// # Errors
    /// The state cannot be written; the previous state is then still the one on disk.
    pub fn commit(&mut self, state: InstallState) -> Result<(), StoreError> {
        let text = toml::to_string(&state).map_err(|e| StoreError::Damaged {
            path: self.dir.join(STATE_FILE),
            reason: format!("cannot serialise: {e}"),
        })?;
        let header = "# Written by t1c; change it with `t1c modules ...`, not by hand.\n";
        let path = self.dir.join(STATE_FILE);
        let outcome = write_atomically(&path, format!("{header}{text}").as_bytes());
        if let Err(StoreError::Io { action: SYNC_DIR, .. }) = &outcome {
            // The rename happened: the new state is the one on disk, only its durability
            // across a power cut is in doubt. Treat it as committed, so what is served and
            // what the next start serves agree.
            tracing::warn!(state = %path.display(), "install state replaced but not synced");
        } else {
            outcome?;
        }
        self.state = state;
        // Safe only because `put` and `commit` both run under the store's owner (the
        // installer's mutex, and the `.lock` file across processes).
        self.collect_garbage();
        Ok(())
    }

    fn bundle_path(&self, file: &str) -> Result<PathBuf, StoreError> {
        let plain = !file.is_empty()
            && file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
            && !file.starts_with('.');
        if !plain {
            return Err(StoreError::Damaged {
                path: self.dir.join(STATE_FILE),
                reason: format!("bundle file name `{file}` is not a plain file name"),
            });
        }
        Ok(self.dir.join(BUNDLES).join(file))
    }

    /// Removes bundle files and temporary files the state does not mention. Best effort.
    fn collect_garbage(&self) {
        let keep: Vec<&str> = self
            .state
            .modules
            .values()
            .flat_map(|entry| std::iter::once(&entry.current).chain(entry.previous.as_ref()))
            .map(|bundle| bundle.file.as_str())
            .collect();
        let Ok(entries) = std::fs::read_dir(self.dir.join(BUNDLES)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !keep.contains(&name.as_ref())
                && let Err(err) = std::fs::remove_file(entry.path())
            {
                tracing::warn!(file = %entry.path().display(), "cannot remove: {err}");
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

fn parse_state(text: &str) -> Result<InstallState, String> {
    let state: InstallState = toml::from_str(text).map_err(|e| e.to_string())?;
    if state.format != FORMAT {
        return Err(format!("format {} (this connector reads format {FORMAT})", state.format));
    }
    Ok(state)
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the whole new one:
/// a temporary file in the same directory, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { action, path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut file = File::create(&temporary).map_err(io("cannot create", &temporary))?;
    file.write_all(bytes).map_err(io("cannot write", &temporary))?;
    file.sync_all().map_err(io("cannot sync", &temporary))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io("cannot rename into place", path))?;
    sync_dir(dir).map_err(io(SYNC_DIR, dir))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Creates `dir` (and its parents); on Unix the store's own folders are private to the user.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// A field kept in the state file as its text form (`Display`, `FromStr`): the digest and
/// key id are hex there, typed everywhere else.
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer, de};

    pub(super) fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str) -> semver::Version {
        semver::Version::parse(v).expect("version")
    }

    fn digest(byte: u8) -> Digest {
        Digest::from([byte; 32])
    }

    fn signer() -> KeyId {
        "0123456789abcdef".parse().expect("key id")
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = Store::open(dir.path()).expect("first");
        assert!(matches!(Store::open(dir.path()), Err(StoreError::Locked(_))));
    }

    #[test]
    fn committed_state_survives_reopening_and_unreferenced_files_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = Store::open(dir.path()).expect("open");
            let current =
                store.put("demo", &version("1.0.0"), &digest(0xab), &signer(), b"v1").expect("put");
            let orphan =
                store.put("demo", &version("2.0.0"), &digest(0xcd), &signer(), b"v2").expect("put");
            let mut state = store.state().clone();
            state.modules.insert(
                "demo".into(),
                ModuleEntry { current: current.clone(), previous: None, pinned: false },
            );
            store.commit(state).expect("commit");
            assert!(!dir.path().join(BUNDLES).join(&orphan.file).exists());
            assert_eq!(store.read(&current).expect("read"), b"v1");
        }
        // A crash between `put` and `commit` leaves a file the state does not mention.
        std::fs::write(dir.path().join(BUNDLES).join("demo-3.0.0-ffff.t1cm"), b"half").unwrap();
        std::fs::write(dir.path().join(".installed.toml.1.tmp"), b"half").unwrap();
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.state().modules["demo"].current.version, version("1.0.0"));
        assert!(!dir.path().join(BUNDLES).join("demo-3.0.0-ffff.t1cm").exists());
        assert!(!dir.path().join(".installed.toml.1.tmp").exists());
    }

    #[test]
    fn digest_and_signer_are_hex_in_the_state_file_and_checked_on_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = Store::open(dir.path()).expect("open");
            let current =
                store.put("demo", &version("1.0.0"), &digest(0xab), &signer(), b"v1").expect("put");
            let mut state = store.state().clone();
            state
                .modules
                .insert("demo".into(), ModuleEntry { current, previous: None, pinned: false });
            store.commit(state).expect("commit");
        }
        let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).expect("state");
        assert!(text.contains(&format!("digest = \"{}\"", "ab".repeat(32))), "{text}");
        assert!(text.contains("signer = \"0123456789abcdef\""), "{text}");
        let reopened = Store::open(dir.path()).expect("reopen");
        assert_eq!(reopened.state().modules["demo"].current.digest, digest(0xab));
        drop(reopened);
        std::fs::write(dir.path().join(STATE_FILE), text.replace("0123456789abcdef", "k1"))
            .expect("write");
        assert!(matches!(Store::open(dir.path()), Err(StoreError::Damaged { .. })));
    }

    #[test]
    fn a_damaged_state_is_reported_not_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(STATE_FILE), "format = 1\nmodules = 7\n").unwrap();
        assert!(matches!(Store::open(dir.path()), Err(StoreError::Damaged { .. })));
        std::fs::write(dir.path().join(STATE_FILE), "format = 99\n").unwrap();
        let err = Store::open(dir.path()).expect_err("unknown format");
        assert!(err.to_string().contains("format 99"), "{err}");
    }

    #[test]
    fn a_file_name_from_the_state_cannot_leave_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        for file in ["../x", "/etc/passwd", "", ".hidden", "a/b"] {
            let bundle = StoredBundle {
                version: version("1.0.0"),
                digest: digest(0),
                signer: signer(),
                file: file.into(),
            };
            assert!(matches!(store.read(&bundle), Err(StoreError::Damaged { .. })), "{file}");
        }
    }
}
