//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes tens of milliseconds per module; loading the
//! compiled artifact takes well under one. Entries are keyed by the SHA-256 of the component and
//! the engine's compatibility hash, and every entry carries a header with that key and the
//! SHA-256 of its payload. A truncated, corrupted or foreign entry fails those checks and is
//! recompiled and rewritten; it is never handed to wasmtime.
//!
//! The cache directory is the connector's own (created with mode 0700). A compiled artifact is
//! native code, so the cache must not be writable by anyone the connector does not trust.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Identifies the entry format; bump it when the layout changes.
const MAGIC: &[u8; 8] = b"T1CCWC01";
/// Magic, key, payload length, payload digest.
const HEADER_LEN: usize = 8 + 32 + 8 + 32;

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
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let key = entry_key(engine, wasm_sha256);
        let path = self.dir.join(format!("{}.cwasm", hex::encode(key)));
        let mut outcome = CacheOutcome::Compiled;
        match fs::read(&path) {
            Ok(bytes) => match verified_payload(&bytes, &key) {
                Ok(payload) => {
                    // `payload` is byte-for-byte what `Engine::precompile_component` produced
                    // for this engine configuration: the header's key binds it to this wasm and
                    // this engine, and its SHA-256 matches. Only the connector writes the cache
                    // directory (mode 0700).
                    match deserialize_own(engine, payload) {
                        Ok(component) => return Ok((component, CacheOutcome::Hit)),
                        Err(err) => {
                            tracing::warn!(path = %path.display(), "cache entry rejected by the engine, recompiling: {err}");
                            outcome = CacheOutcome::Recompiled;
                        }
                    }
                }
                Err(reason) => {
                    tracing::warn!(path = %path.display(), "invalid cache entry ({reason}), recompiling");
                    outcome = CacheOutcome::Recompiled;
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(path = %path.display(), "cannot read cache entry: {err}"),
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Err(err) = self.store(&path, &key, &compiled) {
            tracing::warn!(path = %path.display(), "cannot write cache entry: {err}");
        }
        // `compiled` was produced just now by `precompile_component` on this engine.
        let component = deserialize_own(engine, &compiled)?;
        Ok((component, outcome))
    }

    /// Writes an entry atomically: a temporary file in the same directory, then a rename.
    fn store(&self, path: &Path, key: &[u8; 32], payload: &[u8]) -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(MAGIC)?;
        file.write_all(key)?;
        file.write_all(&(payload.len() as u64).to_le_bytes())?;
        file.write_all(&Sha256::digest(payload))?;
        file.write_all(payload)?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The cache key: SHA-256 over the component's SHA-256 and the engine's compatibility hash.
fn entry_key(engine: &Engine, wasm_sha256: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256Hasher(Sha256::new());
    wasm_sha256.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

/// Checks an entry's header and returns its payload.
fn verified_payload<'a>(bytes: &'a [u8], key: &[u8; 32]) -> Result<&'a [u8], &'static str> {
    if bytes.len() < HEADER_LEN {
        return Err("truncated header");
    }
    let (header, payload) = bytes.split_at(HEADER_LEN);
    if &header[..8] != MAGIC {
        return Err("not a T1C cache entry");
    }
    if &header[8..40] != key {
        return Err("entry for another component or engine");
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[40..48]);
    if u64::from_le_bytes(len) != payload.len() as u64 {
        return Err("truncated payload");
    }
    if Sha256::digest(payload).as_slice() != &header[48..80] {
        return Err("payload digest mismatch");
    }
    Ok(payload)
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

/// Loads native code this process's engine compiled: the one `unsafe` of the runtime.
///
/// Callers pass only bytes that `Engine::precompile_component` produced for `engine`'s
/// configuration, either just now or read back from a cache entry whose checksummed header
/// binds it to this wasm and this engine.
#[allow(unsafe_code)]
fn deserialize_own(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` requires bytes produced by a compatible engine's
    // `precompile_component`, unmodified; wasmtime checks the engine compatibility itself and
    // the callers guarantee the rest (see above). Arbitrary bytes never get here: an entry that
    // fails its header or checksum is recompiled instead.
    unsafe { Component::deserialize(engine, compiled) }
}
