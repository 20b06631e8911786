//! What the machine needs before the project builds and its tests run: the Debian packages of
//! `xtask/system-packages.txt` and the `wasm32-wasip2` target. `cargo xtask run` and
//! `cargo xtask test` call [`ensure`] first, so the README's two commands work on a fresh
//! Debian machine that has only rustup.
//!
//! Packages are installed with `apt-get`, through `sudo` when not root. When neither is
//! possible, or the machine is not Debian-like, the error names what is missing and the
//! command that would install it; nothing is installed behind the user's back otherwise.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Which commands a package is needed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Building and running the connector.
    Run,
    /// Building and running the Distribution Service (includes [`Need::Run`]).
    Ds,
    /// Building the connector for Windows, `cargo xtask cross` (includes [`Need::Run`]).
    Cross,
    /// Running the whole test suite (includes every other).
    Test,
}

impl Need {
    /// Whether a package of class `class` is needed for `self`.
    fn includes(self, class: Need) -> bool {
        class == Need::Run || class == self || self == Need::Test
    }
}

/// The Debian packages `need` asks for, from `system-packages.txt`.
///
/// # Errors
/// The file cannot be read or has a line that is not `<package> run|ds|cross|test`.
pub fn packages(root: &Path, need: Need) -> Result<Vec<String>> {
    let path = root.join("xtask/system-packages.txt");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut packages = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let (package, when) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            [package, "run"] => (package, Need::Run),
            [package, "ds"] => (package, Need::Ds),
            [package, "cross"] => (package, Need::Cross),
            [package, "test"] => (package, Need::Test),
            _ => bail!("{}:{}: expected `<package> run|ds|cross|test`", path.display(), number + 1),
        };
        if need.includes(when) {
            packages.push(package.to_owned());
        }
    }
    Ok(packages)
}

/// Installs the missing packages of `need` and the `wasm32-wasip2` target.
///
/// # Errors
/// A package is missing and cannot be installed (the error says what to run), or rustup
/// cannot add the target.
pub fn ensure(root: &Path, need: Need) -> Result<()> {
    ensure_packages(&packages(root, need)?)?;
    ensure_target("wasm32-wasip2")
}

/// Installs the tools `cargo xtask test` runs, when missing: rustfmt and clippy (rustup),
/// cargo-nextest, cargo-fuzz 0.13.2, cargo-deny 0.20.2, cargo-audit 0.22.2, cargo-deb 3.8.0
/// (crates.io) and
/// schemathesis 4.32.5 (PyPI).
///
/// # Errors
/// An installation fails.
pub fn ensure_tools() -> Result<()> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = |what: &str, program: &str, args: &[&str]| -> Result<()> {
        eprintln!("xtask: installing {what}");
        let status = Command::new(program)
            .args(args)
            .status()
            .with_context(|| format!("running {program}"))?;
        if !status.success() {
            bail!("installing {what} failed ({status}): {program} {}", args.join(" "));
        }
        Ok(())
    };
    if !works("cargo", &["fmt", "--version"]) || !works("cargo", &["clippy", "--version"]) {
        install("rustfmt and clippy", "rustup", &["component", "add", "rustfmt", "clippy"])?;
    }
    if !works("cargo", &["nextest", "--version"]) {
        install("cargo-nextest", "cargo", &["install", "cargo-nextest", "--locked"])?;
    }
    if !works("cargo", &["fuzz", "--version"]) {
        install(
            "cargo-fuzz",
            "cargo",
            &["install", "cargo-fuzz", "--version", "0.13.2", "--locked"],
        )?;
    }
    // The supply-chain checks (`cargo xtask supply-chain`).
    if !works("cargo", &["deny", "--version"]) {
        install(
            "cargo-deny",
            "cargo",
            &["install", "cargo-deny", "--version", "0.20.2", "--locked"],
        )?;
    }
    if !works("cargo", &["audit", "--version"]) {
        install(
            "cargo-audit",
            "cargo",
            &["install", "cargo-audit", "--version", "0.22.2", "--locked"],
        )?;
    }
    // The Debian packages (`cargo xtask package`).
    if !works("cargo", &["deb", "--version"]) {
        install("cargo-deb", "cargo", &["install", "cargo-deb", "--version", "3.8.0", "--locked"])?;
    }
    if !works("schemathesis", &["--version"]) {
        install(
            "schemathesis",
            "python3",
            &["-m", "pip", "install", "--quiet", "schemathesis==4.32.5"],
        )?;
    }
    Ok(())
}

fn ensure_packages(packages: &[String]) -> Result<()> {
    if !has("dpkg-query") {
        eprintln!(
            "xtask: not a Debian-like system; make sure these are installed: {}",
            packages.join(" ")
        );
        return Ok(());
    }
    let present = installed_packages();
    let missing: Vec<&String> = packages.iter().filter(|p| !present.contains(p.as_str())).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ");
    let root = is_root();
    let sudo = !root && has("sudo");
    if !root && !sudo {
        bail!(
            "missing Debian packages: {list}\n\
             install them as root: apt-get install --no-install-recommends {list}"
        );
    }
    eprintln!("xtask: installing the missing Debian packages: {list}");
    let apt = |args: &[&str]| {
        let mut command = if sudo { Command::new("sudo") } else { Command::new("apt-get") };
        if sudo {
            command.arg("apt-get");
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    let status = apt(&["update", "-qq"]).status().context("running apt-get update")?;
    if !status.success() {
        bail!("apt-get update failed ({status}); install by hand: apt-get install {list}");
    }
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(missing.iter().map(|p| p.as_str()));
    let status = install.status().context("running apt-get install")?;
    if !status.success() {
        bail!("apt-get install {list} failed ({status})");
    }
    Ok(())
}

/// Adds the Rust target `target` with rustup when it is not installed.
///
/// # Errors
/// rustup cannot list or add the target.
pub fn ensure_target(target: &str) -> Result<()> {
    if !has("rustup") {
        eprintln!("xtask: no rustup; make sure the {target} target is installed");
        return Ok(());
    }
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup target list")?;
    if String::from_utf8_lossy(&listed.stdout).lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", target])
        .status()
        .context("running rustup target add")?;
    if !status.success() {
        bail!("rustup target add {target} failed ({status})");
    }
    Ok(())
}

/// Whether `package` is installed (dpkg's status says so).
/// The installed packages, and what they provide: a package counts as present when another
/// one provides it (NodeSource's `nodejs` provides `npm`, which Debian's `npm` conflicts with).
fn installed_packages() -> std::collections::BTreeSet<String> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}|${Package}|${Provides}\n"])
        .stderr(Stdio::null())
        .output();
    let Ok(output) = output else { return Default::default() };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with("ii"))
        .flat_map(|line| {
            let mut fields = line.splitn(3, '|').skip(1);
            let package = fields.next().unwrap_or_default().to_owned();
            let provides = fields.next().unwrap_or_default();
            let provided = provides
                .split(',')
                .filter_map(|p| p.split_whitespace().next())
                .map(str::to_owned)
                .collect::<Vec<_>>();
            std::iter::once(package).chain(provided)
        })
        .collect()
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn the_run_packages_are_a_subset_of_the_test_packages() {
        let run = packages(&root(), Need::Run).unwrap();
        let test = packages(&root(), Need::Test).unwrap();
        assert!(run.contains(&"libpcsclite-dev".to_owned()), "{run:?}");
        assert!(run.iter().all(|p| test.contains(p)));
        assert!(test.contains(&"softhsm2".to_owned()) && !run.contains(&"softhsm2".to_owned()));
        let cross = packages(&root(), Need::Cross).unwrap();
        assert!(cross.contains(&"gcc-mingw-w64-x86-64".to_owned()), "{cross:?}");
        assert!(run.iter().all(|p| cross.contains(p)));
        assert!(cross.iter().all(|p| test.contains(p)));
        assert!(!cross.contains(&"softhsm2".to_owned()));
    }
}
