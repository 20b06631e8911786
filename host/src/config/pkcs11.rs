//! `[pkcs11]`: which PKCS#11 libraries the connector loads, per operating system, and the
//! deadlines of their calls; and the override the T1C API's `POST .../pkcs11/apps/token/config`
//! saves in the data directory.
//!
//! ```toml
//! [pkcs11]
//! linux = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"   # or a list of libraries
//! macos = "/Library/OpenSC/lib/opensc-pkcs11.so"
//! win = 'C:\Windows\System32\opensc-pkcs11.dll'
//! api_config = false          # let web pages change the libraries (POST .../config)
//! call_timeout_secs = 10      # one PKCS#11 call
//! login_timeout_secs = 60     # a login (a pinpad waits for the user)
//! init_timeout_secs = 10      # loading a library and C_Initialize
//! ```
//!
//! Only the entry of the OS the connector runs on is loaded; the others are kept so one file (or
//! one `POST`) serves every platform, as in T1C.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[pkcs11]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pkcs11Config {
    /// Libraries on macOS.
    pub macos: Option<Libraries>,
    /// Libraries on Windows.
    pub win: Option<Libraries>,
    /// Libraries on Linux and other Unix systems.
    pub linux: Option<Libraries>,
    /// Whether `POST`/`PATCH .../pkcs11/apps/token/config` may change the libraries. Off by
    /// default: a page that can choose the native library the connector loads can run any
    /// library already on the disk (a download, for instance) as the user.
    pub api_config: bool,
    /// Deadline of one PKCS#11 call, seconds.
    pub call_timeout_secs: u64,
    /// Deadline of a login, seconds.
    pub login_timeout_secs: u64,
    /// Deadline of loading a library and `C_Initialize`, seconds.
    pub init_timeout_secs: u64,
}

impl Default for Pkcs11Config {
    fn default() -> Self {
        Self {
            macos: None,
            win: None,
            linux: None,
            api_config: false,
            call_timeout_secs: 10,
            login_timeout_secs: 60,
            init_timeout_secs: 10,
        }
    }
}

/// One library path, or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Libraries {
    /// One library (the T1C shape).
    One(PathBuf),
    /// Several libraries.
    Many(Vec<PathBuf>),
}

impl Libraries {
    /// The paths, in order.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            Self::One(path) => vec![path.clone()],
            Self::Many(paths) => paths.clone(),
        }
    }
}

/// The `{macos, win, linux}` of T1C's PKCS#11 configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryPaths {
    /// macOS.
    #[serde(default)]
    pub macos: Option<Libraries>,
    /// Windows.
    #[serde(default)]
    pub win: Option<Libraries>,
    /// Linux and other Unix systems.
    #[serde(default)]
    pub linux: Option<Libraries>,
}

/// Why a library configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryPathError {
    /// A path of this OS's entry is not absolute.
    #[error("the PKCS#11 library path `{0}` is not absolute")]
    NotAbsolute(PathBuf),
    /// A path of this OS's entry names no file.
    #[error("there is no PKCS#11 library at `{0}`")]
    Missing(PathBuf),
}

impl LibraryPaths {
    /// The libraries of the OS this connector runs on.
    pub fn for_this_os(&self) -> Vec<PathBuf> {
        let entry = if cfg!(target_os = "macos") {
            &self.macos
        } else if cfg!(windows) {
            &self.win
        } else {
            &self.linux
        };
        entry.as_ref().map(Libraries::paths).unwrap_or_default()
    }

    /// Checks this OS's libraries: absolute paths to existing files. Other OSes' entries are
    /// kept as given.
    ///
    /// # Errors
    /// [`LibraryPathError`] for the first path at fault.
    pub fn validate(&self) -> Result<(), LibraryPathError> {
        for path in self.for_this_os() {
            if !path.is_absolute() {
                return Err(LibraryPathError::NotAbsolute(path));
            }
            if !path.is_file() {
                return Err(LibraryPathError::Missing(path));
            }
        }
        Ok(())
    }

    /// Reads the override saved by [`LibraryPaths::save`]; `None` when there is none or it
    /// does not parse (logged).
    pub fn load(file: &Path) -> Option<Self> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!(file = %file.display(), "cannot read the PKCS#11 override: {err}");
                return None;
            }
        };
        serde_json::from_str(&text)
            .inspect_err(|err| {
                tracing::warn!(file = %file.display(), "ignoring the PKCS#11 override: {err}");
            })
            .ok()
    }

    /// Saves these paths as the override, atomically (a temporary file renamed over it).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = file.with_extension("json.tmp");
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, file)
    }

    /// Removes the override.
    ///
    /// # Errors
    /// The file exists and cannot be removed.
    pub fn clear(file: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(file) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

impl Pkcs11Config {
    /// The libraries of the configuration file (and environment), in the T1C shape.
    pub fn libraries(&self) -> LibraryPaths {
        LibraryPaths { macos: self.macos.clone(), win: self.win.clone(), linux: self.linux.clone() }
    }

    /// The call deadline.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_secs(self.call_timeout_secs)
    }

    /// The login deadline.
    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs)
    }

    /// The library loading deadline.
    pub fn init_timeout(&self) -> Duration {
        Duration::from_secs(self.init_timeout_secs)
    }

    /// The file in `data_dir` where the API's override is kept.
    pub fn override_file(data_dir: &Path) -> PathBuf {
        data_dir.join("pkcs11.json")
    }
}

/// Parses a comma-separated list of paths from an environment variable.
pub(super) fn libraries_from_env(value: &str) -> Option<Libraries> {
    let paths: Vec<PathBuf> =
        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect();
    match paths.len() {
        0 => None,
        1 => paths.into_iter().next().map(Libraries::One),
        _ => Some(Libraries::Many(paths)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t1c_shape_takes_one_path_or_a_list_per_os() {
        let paths: LibraryPaths = serde_json::from_str(
            r#"{"linux": "/usr/lib/a.so", "macos": ["/a.dylib", "/b.dylib"], "win": null}"#,
        )
        .expect("parses");
        assert_eq!(paths.linux, Some(Libraries::One("/usr/lib/a.so".into())));
        assert_eq!(paths.macos.as_ref().map(Libraries::paths).map(|p| p.len()), Some(2));
        let echoed = serde_json::to_value(&paths).expect("json");
        assert_eq!(echoed["linux"], "/usr/lib/a.so");
        assert!(serde_json::from_str::<LibraryPaths>(r#"{"bsd": "/x.so"}"#).is_err());
    }

    #[test]
    fn validation_names_the_missing_library() {
        let dir = tempfile::tempdir().expect("dir");
        let present = dir.path().join("lib.so");
        std::fs::write(&present, b"").expect("write");
        let missing = dir.path().join("nope.so");
        let entry = |p: &Path| Some(Libraries::One(p.to_owned()));
        let ok =
            LibraryPaths { macos: entry(&present), win: entry(&present), linux: entry(&present) };
        assert_eq!(ok.validate(), Ok(()));
        let bad =
            LibraryPaths { macos: entry(&missing), win: entry(&missing), linux: entry(&missing) };
        assert_eq!(bad.validate(), Err(LibraryPathError::Missing(missing)));
        let relative = LibraryPaths {
            linux: entry(Path::new("lib.so")),
            macos: entry(Path::new("lib.so")),
            win: entry(Path::new("lib.so")),
        };
        assert!(matches!(relative.validate(), Err(LibraryPathError::NotAbsolute(_))));
    }

    #[test]
    fn override_round_trips_and_clears() {
        let dir = tempfile::tempdir().expect("dir");
        let file = Pkcs11Config::override_file(dir.path());
        assert_eq!(LibraryPaths::load(&file), None);
        let paths =
            LibraryPaths { linux: Some(Libraries::One("/x.so".into())), ..Default::default() };
        paths.save(&file).expect("save");
        assert_eq!(LibraryPaths::load(&file), Some(paths));
        LibraryPaths::clear(&file).expect("clear");
        LibraryPaths::clear(&file).expect("clearing twice is fine");
        assert_eq!(LibraryPaths::load(&file), None);
    }

    #[test]
    fn env_lists_are_comma_separated() {
        assert_eq!(libraries_from_env(" "), None);
        assert_eq!(libraries_from_env("/a.so"), Some(Libraries::One("/a.so".into())));
        assert_eq!(
            libraries_from_env("/a.so, /b.so"),
            Some(Libraries::Many(vec!["/a.so".into(), "/b.so".into()]))
        );
    }
}
