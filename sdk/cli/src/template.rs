//! `t1c-module new`: a module crate from the files in `sdk/cli/template/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const CARGO_TOML: &str = include_str!("../template/Cargo.toml.in");
const LIB_RS: &str = include_str!("../template/src/lib.rs");
const GITIGNORE: &str = include_str!("../template/gitignore.in");

/// The SDK's version, for crates created outside this repository.
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// This repository's `sdk/`, when the tool runs where it was built.
pub(crate) fn repository_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.to_path_buf();
    let manifest = std::fs::read_to_string(sdk.join("Cargo.toml")).ok()?;
    manifest.lines().any(|l| l.trim() == "name = \"t1c-sdk\"").then_some(sdk)
}

/// Writes the crate `name` into `dir`, which must not exist or be empty.
pub(crate) fn create(name: &str, dir: &Path, sdk: Option<&Path>) -> Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        bail!("invalid module name `{name}`: use 1-64 of a-z, 0-9, '-' and '_'");
    }
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let (sdk, sdk_simulator) = match sdk {
        Some(path) => {
            let path = std::path::absolute(path)?;
            let path = toml_string(&path.display().to_string());
            (
                format!("{{ path = {path} }}"),
                format!("{{ path = {path}, features = [\"simulator\"] }}"),
            )
        }
        None => (
            format!("\"{SDK_VERSION}\""),
            format!("{{ version = \"{SDK_VERSION}\", features = [\"simulator\"] }}"),
        ),
    };
    let cargo_toml = CARGO_TOML
        .replace("{{name}}", name)
        .replace("{{sdk}}", &sdk)
        .replace("{{sdk_simulator}}", &sdk_simulator);
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("{}", dir.display()))?;
    std::fs::write(dir.join("Cargo.toml"), cargo_toml)?;
    std::fs::write(dir.join("src/lib.rs"), LIB_RS.replace("{{name}}", name))?;
    std::fs::write(dir.join(".gitignore"), GITIGNORE)?;
    Ok(())
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
