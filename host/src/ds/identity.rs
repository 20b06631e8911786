//! The device's identity and the installation key, on disk.
//!
//! - `<data dir>/ds/identity.json` (0600): the device id, its private keys and the DS keys it
//!   holds; written atomically (temp file, then rename).
//! - The installation key the installer leaves: `[ds] installation_key_file`, else
//!   `<data dir>/ds/installation-key`, else `installation-key` next to the executable. Deleted
//!   once the device is registered (a copy next to a read-only executable is left, with a
//!   warning: it only registers new devices of that version).

use std::path::{Path, PathBuf};

use t1c_ds_protocol::device::{Device, StoredIdentity};

use super::DsError;

/// The identity file in `dir` (`<data dir>/ds`).
pub(crate) fn identity_path(dir: &Path) -> PathBuf {
    dir.join("identity.json")
}

/// The stored identity, if the device is registered.
pub(crate) fn load(dir: &Path) -> Result<Option<Device>, DsError> {
    let path = identity_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DsError::Storage(format!("{}: {e}", path.display()))),
    };
    let stored: StoredIdentity = serde_json::from_str(&text)
        .map_err(|e| DsError::Storage(format!("{}: {e}", path.display())))?;
    Device::from_stored(stored)
        .map(Some)
        .map_err(|e| DsError::Storage(format!("{}: {e}", path.display())))
}

/// Writes the identity (0600).
pub(crate) fn save(dir: &Path, device: &Device) -> Result<(), DsError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| DsError::Storage(format!("{}: {e}", dir.display())))?;
    let text =
        serde_json::to_string(&device.to_stored()).map_err(|e| DsError::Storage(e.to_string()))?;
    t1c_tls::write_private(&identity_path(dir), &text).map_err(|e| DsError::Storage(e.to_string()))
}

/// Sets the identity aside (the DS says it no longer knows the device): renamed, not deleted,
/// so an operator can put it back if that answer was wrong.
pub(crate) fn set_aside(dir: &Path) -> Result<(), DsError> {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    match std::fs::rename(
        identity_path(dir),
        dir.join(format!("identity.json.{stamp}.unknown-to-ds")),
    ) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DsError::Storage(e.to_string())),
    }
}

/// Where the installation key may be, in order.
pub(crate) fn key_candidates(configured: Option<&Path>, dir: &Path) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = configured.map(Path::to_path_buf).into_iter().collect();
    candidates.push(dir.join("installation-key"));
    if let Some(exe_dir) =
        std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf))
    {
        candidates.push(exe_dir.join("installation-key"));
    }
    candidates
}

/// The installation key in `text` (surrounding whitespace trimmed), if it looks like one:
/// 1 to 256 printable ASCII characters.
pub(crate) fn key_in(text: &str) -> Option<&str> {
    let key = text.trim();
    (!key.is_empty() && key.len() <= 256 && key.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(key)
}

/// The installation key and the file it is in, from the first candidate that holds one.
pub(crate) fn installation_key(candidates: &[PathBuf]) -> Option<(String, PathBuf)> {
    candidates.iter().find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        key_in(&text).map(|key| (key.to_owned(), path.clone()))
    })
}

/// Deletes the installation key once registered.
pub(crate) fn consume_key(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        tracing::warn!(file = %path.display(), "cannot delete the installation key after registering: {err}");
    }
}
