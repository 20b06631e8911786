//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes tens of milliseconds per module; loading the
//! compiled artifact takes well under one. Entries are keyed by the SHA-256 of the component and
//! the engine's compatibility hash. An entry is two files: `<key>.cwasm`, exactly what
//! `Engine::precompile_component` produced, and `<key>.check`, a small header with that key and
//! the length and SHA-256 of the `.cwasm`. A truncated, corrupted, foreign or half-written entry
//! fails those checks and is recompiled and rewritten; it is never handed to wasmtime.
//!
//! The `.cwasm` stays a file of its own so that wasmtime maps it rather than copying it: its code
//! and data are then pages of the file, read in as they are used and shared with the page cache,
//! instead of anonymous memory holding a copy of every byte for the process's lifetime.
//!
//! Beside an entry, `<key>.manifest` keeps the module's manifest as its first call returned it
//! ([`ManifestFile`]), so a later start serves the module without running it: none of its code
//! is touched until a page calls it.
//!
//! The cache directory is the connector's own (created with mode 0700). A compiled artifact is
//! native code, so the cache must not be writable by anyone the connector does not trust.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use t1c_sdk::Manifest;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Identifies the check file's format; bump it when the layout changes.
const MAGIC: &[u8; 8] = b"T1CCWC02";
/// The check file: magic, key, payload length, payload digest.
const CHECK_LEN: usize = 8 + 32 + 8 + 32;

/// Where a component came from on this load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a valid cache entry.
    Hit,
    /// Compiled; no entry existed.
    Compiled,
    /// Compiled because the entry was invalid (and then replaced).
    Recompiled,
    /// Compiled; caching is off.
    Uncached,
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    /// Opens (and creates, mode 0700) a cache directory.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the compiled form of `wasm` from the cache, or compiles it and stores the result.
    ///
    /// # Errors
    /// The compilation's error when `wasm` is not a valid component. Cache I/O failures are
    /// logged and only cost a recompilation.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &[u8; 32],
    ) -> wasmtime::Result<(Component, CacheOutcome, ManifestFile)> {
        let key = entry_key(engine, wasm_sha256);
        let name = hex::encode(key);
        let payload_path = self.dir.join(format!("{name}.cwasm"));
        let check_path = self.dir.join(format!("{name}.check"));
        let manifest = ManifestFile { path: self.dir.join(format!("{name}.manifest")), key: name };
        let mut outcome = CacheOutcome::Compiled;
        match verify_entry(&check_path, &payload_path, &key) {
            Ok(()) => {
                // The payload file is byte-for-byte what `Engine::precompile_component` produced
                // for this engine configuration: the check file binds it to this wasm and this
                // engine, and its length and SHA-256 match. Only the connector writes the cache
                // directory (mode 0700), and only by renaming complete files into place.
                match deserialize_own_file(engine, &payload_path) {
                    Ok(component) => return Ok((component, CacheOutcome::Hit, manifest)),
                    Err(err) => {
                        tracing::warn!(path = %payload_path.display(), "cache entry rejected by the engine, recompiling: {err}");
                        outcome = CacheOutcome::Recompiled;
                    }
                }
            }
            Err(EntryError::Missing) => {}
            Err(EntryError::Invalid(reason)) => {
                tracing::warn!(path = %payload_path.display(), "invalid cache entry ({reason}), recompiling");
                outcome = CacheOutcome::Recompiled;
            }
            Err(EntryError::Io(err)) => {
                tracing::warn!(path = %payload_path.display(), "cannot read cache entry: {err}");
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        match self.store(&payload_path, &check_path, &key, &compiled) {
            // Load the stored file, so the code is mapped from it like on every later start.
            Ok(()) => match deserialize_own_file(engine, &payload_path) {
                Ok(component) => return Ok((component, outcome, manifest)),
                Err(err) => {
                    tracing::warn!(path = %payload_path.display(), "cannot map the stored cache entry: {err}");
                }
            },
            Err(err) => {
                tracing::warn!(path = %payload_path.display(), "cannot write cache entry: {err}");
            }
        }
        // `compiled` was produced just now by `precompile_component` on this engine.
        let component = deserialize_own(engine, &compiled)?;
        Ok((component, outcome, manifest))
    }

    /// Writes an entry: the payload, then its check file, each as a temporary file in the same
    /// directory renamed into place. A crash in between leaves a payload without a matching
    /// check file, which the next load recompiles.
    fn store(
        &self,
        payload_path: &Path,
        check_path: &Path,
        key: &[u8; 32],
        payload: &[u8],
    ) -> std::io::Result<()> {
        let mut check = Vec::with_capacity(CHECK_LEN);
        check.extend_from_slice(MAGIC);
        check.extend_from_slice(key);
        check.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        check.extend_from_slice(&Sha256::digest(payload));
        // The old check file goes first: from here until the new one is in place, the entry is
        // missing rather than pointing at a payload being replaced.
        match fs::remove_file(check_path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        write_atomically(&self.dir, payload_path, payload)?;
        write_atomically(&self.dir, check_path, &check)
    }
}

/// Writes `bytes` to a temporary file in `dir` (the cache directory), flushes it and renames it
/// to `path`.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The manifest kept beside a cache entry: written after the module's first call returned it
/// and passed every check, read instead of that call on later loads of the same entry.
#[derive(Debug)]
pub(crate) struct ManifestFile {
    /// `<key>.manifest` in the cache directory.
    path: PathBuf,
    /// The entry's key (hex), repeated in the file so a file under another name is not taken.
    key: String,
}

/// What a manifest file holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredManifest {
    key: String,
    manifest: Manifest,
}

impl ManifestFile {
    /// The kept manifest, if there is one for this entry. A missing, unreadable or foreign file
    /// is `None` (the caller then asks the module).
    pub(crate) fn read(&self) -> Option<Manifest> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!(path = %self.path.display(), "cannot read the kept manifest: {err}");
                return None;
            }
        };
        match serde_json::from_slice::<StoredManifest>(&bytes) {
            Ok(stored) if stored.key == self.key => Some(stored.manifest),
            Ok(_) => {
                tracing::warn!(path = %self.path.display(), "kept manifest of another entry, ignored");
                None
            }
            Err(err) => {
                tracing::warn!(path = %self.path.display(), "invalid kept manifest ({err}), ignored");
                None
            }
        }
    }

    /// Keeps `manifest` for later loads; a failure is logged and only costs a call then.
    pub(crate) fn write(&self, manifest: &Manifest) {
        let stored = StoredManifest { key: self.key.clone(), manifest: manifest.clone() };
        let written =
            serde_json::to_vec(&stored).map_err(std::io::Error::other).and_then(|bytes| {
                let dir = self.path.parent().unwrap_or(Path::new("."));
                write_atomically(dir, &self.path, &bytes)
            });
        if let Err(err) = written {
            tracing::warn!(path = %self.path.display(), "cannot keep the manifest: {err}");
        }
    }
}

/// Why an entry cannot be used.
enum EntryError {
    /// There is no entry (no check file).
    Missing,
    /// The entry is there but does not check out.
    Invalid(&'static str),
    /// The entry could not be read.
    Io(std::io::Error),
}

/// The cache key: SHA-256 over the component's SHA-256 and the engine's compatibility hash.
fn entry_key(engine: &Engine, wasm_sha256: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256Hasher(Sha256::new());
    wasm_sha256.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

/// Checks an entry: its check file must be ours, for `key`, and describe the payload file's
/// length and SHA-256. The payload is hashed by reading it in pieces, so checking it does not
/// make the whole file resident in this process.
fn verify_entry(check_path: &Path, payload_path: &Path, key: &[u8; 32]) -> Result<(), EntryError> {
    let check = match fs::read(check_path) {
        Ok(check) => check,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(EntryError::Missing),
        Err(err) => return Err(EntryError::Io(err)),
    };
    if check.len() != CHECK_LEN {
        return Err(EntryError::Invalid("check file of the wrong length"));
    }
    if &check[..8] != MAGIC {
        return Err(EntryError::Invalid("not a T1C cache entry"));
    }
    if &check[8..40] != key {
        return Err(EntryError::Invalid("entry for another component or engine"));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&check[40..48]);
    let mut payload = match fs::File::open(payload_path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(EntryError::Invalid("payload missing"));
        }
        Err(err) => return Err(EntryError::Io(err)),
    };
    let mut hasher = Sha256::new();
    let read = std::io::copy(&mut payload, &mut hasher).map_err(EntryError::Io)?;
    if read != u64::from_le_bytes(len) {
        return Err(EntryError::Invalid("payload of the wrong length"));
    }
    if hasher.finalize().as_slice() != &check[48..80] {
        return Err(EntryError::Invalid("payload digest mismatch"));
    }
    Ok(())
}

/// Feeds `Hash` output into SHA-256, so the key is stable across processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Loads native code this process's engine compiled, from memory.
///
/// Callers pass only bytes that `Engine::precompile_component` produced for `engine`'s
/// configuration just now: without a cache, or when the entry could not be stored or mapped.
#[allow(unsafe_code)]
fn deserialize_own(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` requires bytes produced by a compatible engine's
    // `precompile_component`, unmodified; wasmtime checks the engine compatibility itself and
    // the callers guarantee the rest (see above): these bytes never left this process.
    unsafe { Component::deserialize(engine, compiled) }
}

/// Maps native code this process's engine compiled, from a cache file.
///
/// Callers pass only a file whose check file binds it to this engine and this wasm and whose
/// length and SHA-256 were just verified, in the connector's own cache directory.
#[allow(unsafe_code)]
fn deserialize_own_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: as for `deserialize_own`, the file holds what a compatible engine's
    // `precompile_component` produced (just verified against its check file). wasmtime maps it
    // privately, so the mapping must not change while the component lives: only the connector
    // writes the cache directory (mode 0700), and it never writes a file in place, it renames a
    // complete new file over the name, which leaves an existing mapping's file untouched.
    unsafe { Component::deserialize_file(engine, path) }
}
