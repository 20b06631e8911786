//! The WebAssembly components of this workspace: the modules (`modules/*`) and the
//! purpose-built test modules (`tests/modules/*`), compiled for `wasm32-wasip2` with the
//! `wasm-release` profile, as `cargo xtask build-modules` ships them.
//!
//! Tests ask for a component by package name; the first request of a process builds every
//! component in one `cargo build` (a no-op when they are up to date), later ones reuse it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The target every component is built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile components are built with.
pub const PROFILE: &str = "wasm-release";

/// Why components cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A crate folder or manifest cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A crate manifest names no package.
    #[error("no package name in {0}")]
    NoName(PathBuf),
    /// `cargo` cannot be started.
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    /// `cargo build` failed (its output went to the terminal).
    #[error("building the components failed: {0}")]
    Failed(std::process::ExitStatus),
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where built components are: `<root>/target/wasm32-wasip2/wasm-release`.
pub fn artifacts(root: &Path) -> PathBuf {
    root.join("target").join(TARGET).join(PROFILE)
}

/// The file `package` is built to in `artifacts`.
pub fn artifact(artifacts: &Path, package: &str) -> PathBuf {
    artifacts.join(format!("{}.wasm", package.replace('-', "_")))
}

/// The package names of the crates directly under `dir` (one folder per crate), sorted.
///
/// # Errors
/// [`BuildError::Read`] or [`BuildError::NoName`].
pub fn crates_in(dir: &Path) -> Result<Vec<String>, BuildError> {
    let read = |path: &Path, source| BuildError::Read { path: path.to_owned(), source };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| read(dir, e))? {
        let manifest = entry.map_err(|e| read(dir, e))?.path().join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).map_err(|e| read(&manifest, e))?;
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("name = \"").and_then(|r| r.strip_suffix('"')))
            .ok_or_else(|| BuildError::NoName(manifest.clone()))?;
        names.push(name.to_owned());
    }
    names.sort();
    Ok(names)
}

/// Builds `packages` of the workspace at `root` in one `cargo build` and returns the folder
/// of the components ([`artifacts`]). `quiet` passes `--quiet` to cargo.
///
/// # Errors
/// [`BuildError::Cargo`] or [`BuildError::Failed`].
pub fn build(root: &Path, packages: &[String], quiet: bool) -> Result<PathBuf, BuildError> {
    // The cargo running this process, else the one that built it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    command.current_dir(root).args(["build", "--target", TARGET, "--profile", PROFILE]);
    if quiet {
        command.arg("--quiet");
    }
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command.status().map_err(BuildError::Cargo)?;
    if !status.success() {
        return Err(BuildError::Failed(status));
    }
    Ok(artifacts(root))
}

/// The path of a component of this workspace (a module or a test module), building every
/// component on the first call of the process.
///
/// # Panics
/// When the components cannot be built or `package` is none of them.
pub fn path(package: &str) -> PathBuf {
    static BUILT: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();
    let (dir, packages) = BUILT.get_or_init(|| {
        let root = workspace_root();
        let mut packages = crates_in(&root.join("modules")).expect("modules/");
        packages.extend(crates_in(&root.join("tests/modules")).expect("tests/modules/"));
        let dir = build(&root, &packages, true).expect("the components build");
        (dir, packages)
    });
    assert!(packages.iter().any(|p| p == package), "{package} is not a component of the workspace");
    artifact(dir, package)
}

/// The bytes of a component of this workspace; see [`path`].
///
/// # Panics
/// As [`path`], or when the file cannot be read.
pub fn bytes(package: &str) -> Vec<u8> {
    let path = path(package);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One module runtime per process (default configuration, no cache) for loading components
/// in tests: an engine reserves its instance pool and starts a ticker thread, once.
///
/// # Panics
/// When the engine cannot be created.
pub fn runtime() -> &'static t1c_runtime::Runtime {
    static RUNTIME: OnceLock<t1c_runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        t1c_runtime::Runtime::new(t1c_runtime::RuntimeConfig::default()).expect("a module runtime")
    })
}
