//! The connector under a Distribution Service (`[ds]` in the configuration): registration with
//! the installer's installation key, then one periodic sync that brings the CORS allowlist, the
//! JWT keys, the trusted publisher keys, the DS's own keys, the TLS certificate and the module
//! assignment, and applies each changed section live. Without `[ds] url` none of this runs and
//! the connector works from its local configuration alone.
//!
//! - `client`: the DS's HTTP routes (registration, sync, bundle download).
//! - `identity`: the device's keys and id, and the installation key, on disk.
//! - `link`: what the rest of the connector sees: the sync status, whether module calls are
//!   refused (an upgrade the DS requires, or too many failed syncs), and the labels and
//!   browsers seen since the last sync.
//! - `sync`: the loop and the application of each section.
//! - `notify`: desktop notifications (a newer version, a required upgrade).
//! - `os_release`: the operating system's release, reported with the platform.
//!
//! The protocol itself (sealing, opening, assignments) is `t1c_ds_protocol::device`.

mod client;
mod identity;
mod link;
mod notify;
mod os_release;
mod sync;

pub use client::DsError;
pub use link::{DsLink, DsStatus, Refusal};
pub use notify::Notifier;
pub use sync::{DsSync, SyncTargets};

use std::path::{Path, PathBuf};

/// Where the sync keeps its state: `<data dir>/ds`.
pub fn ds_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ds")
}

/// The status file a running connector writes after each sync (in `dir`, [`ds_dir`]).
fn status_path(dir: &Path) -> PathBuf {
    dir.join("status.json")
}

/// The sync's status as the connector last wrote it (`t1c ds status`); `None` before its first
/// sync.
///
/// # Errors
/// [`DsError::Storage`] for an unreadable file.
pub fn read_status(data_dir: &Path) -> Result<Option<DsStatus>, DsError> {
    let path = status_path(&ds_dir(data_dir));
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| DsError::Storage(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DsError::Storage(format!("{}: {e}", path.display()))),
    }
}

/// Stores an installation key where the connector looks for one (`t1c ds register
/// --key-file`), readable by the connector's user alone; returns the file.
///
/// # Errors
/// [`DsError::Config`] for text that is not a key, [`DsError::Storage`] when it cannot be
/// written.
pub fn store_installation_key(data_dir: &Path, key: &str) -> Result<PathBuf, DsError> {
    let key = identity::key_in(key)
        .ok_or_else(|| DsError::Config("the file does not hold an installation key".into()))?;
    let dir = ds_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| DsError::Storage(format!("{}: {e}", dir.display())))?;
    let path = dir.join("installation-key");
    t1c_tls::write_private(&path, key).map_err(|e| DsError::Storage(e.to_string()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installation_key_is_stored_privately_and_garbage_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = store_installation_key(dir.path(), "  t1c_abc123\n").expect("stored");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "t1c_abc123");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0);
        }
        for garbage in ["", "two words", &"k".repeat(300), "bell\u{7}"] {
            assert!(matches!(store_installation_key(dir.path(), garbage), Err(DsError::Config(_))));
        }
        assert_eq!(read_status(dir.path()).expect("none yet"), None);
    }
}
