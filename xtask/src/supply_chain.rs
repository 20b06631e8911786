//! `cargo xtask supply-chain`: every crate the workspace builds (connector, DS, SDK, xtask and
//! the wasm32-wasip2 modules) checked by cargo-deny (licenses, bans, sources, advisories;
//! `deny.toml`) and by cargo-audit (advisories, with the exceptions of `deny.toml`).
//!
//! The advisory database is RustSec's git repository. Where the network reaches it, the tools
//! fetch it themselves. Where it does not (an offline build machine), point `T1C_ADVISORY_DB`
//! at a local clone or mirror of it: it is cloned into each tool's own database location and
//! both run with fetching disabled. With neither, the licenses, bans and sources checks still
//! run and fail on a finding, and the advisory checks are reported as not run, loudly: a green
//! run then says nothing about advisories.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{cargo, run};

/// The advisory database's upstream.
const ADVISORY_DB_URL: &str = "https://github.com/rustsec/advisory-db";

/// Where the advisory database comes from for this run.
enum AdvisorySource {
    /// A local clone (`T1C_ADVISORY_DB`), copied into the tools' locations.
    Local(PathBuf),
    /// The network reaches the upstream: the tools fetch it.
    Network,
    /// Neither: advisories cannot be checked.
    Unavailable,
}

/// Runs cargo-deny and cargo-audit over the workspace.
///
/// # Errors
/// A finding (a license, ban, source or advisory not explained in `deny.toml`), or a tool that
/// cannot run.
pub fn check(root: &Path) -> Result<()> {
    run(cargo().args(["deny", "--locked", "check", "licenses", "bans", "sources"]))?;
    match advisory_source()? {
        AdvisorySource::Local(db) => {
            let deny_db = cargo_home()?.join("advisory-dbs");
            refresh_clone(&db, &deny_db.join(deny_db_dir_name()))?;
            refresh_clone(&db, &cargo_home()?.join("advisory-db"))?;
            // `--frozen`: the lock file as is, and no network (the database is the local clone).
            run(cargo().args(["deny", "--frozen", "check", "advisories"]))?;
            run(cargo().args(audit_args(root)?).arg("--no-fetch"))?;
        }
        AdvisorySource::Network => {
            run(cargo().args(["deny", "--locked", "check", "advisories"]))?;
            run(cargo().args(audit_args(root)?))?;
        }
        AdvisorySource::Unavailable => {
            eprintln!(
                "xtask: ADVISORIES NOT CHECKED: {ADVISORY_DB_URL} is unreachable from this \
                 machine and T1C_ADVISORY_DB is not set (licenses, bans and sources were checked)"
            );
        }
    }
    Ok(())
}

fn advisory_source() -> Result<AdvisorySource> {
    if let Some(db) = std::env::var_os("T1C_ADVISORY_DB") {
        let db = PathBuf::from(db);
        if !db.exists() {
            bail!("T1C_ADVISORY_DB={} does not exist", db.display());
        }
        return Ok(AdvisorySource::Local(db));
    }
    let reachable = Command::new("git")
        .args(["ls-remote", "--exit-code", ADVISORY_DB_URL, "HEAD"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
        .env("GIT_HTTP_LOW_SPEED_TIME", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    Ok(if reachable { AdvisorySource::Network } else { AdvisorySource::Unavailable })
}

/// cargo-audit's arguments: the lock file, and the advisories `deny.toml` ignores (with their
/// reasons there), so both tools judge the same way.
fn audit_args(root: &Path) -> Result<Vec<String>> {
    let mut args = vec!["audit".to_owned(), "--deny".into(), "warnings".into()];
    for id in ignored_advisories(root)? {
        args.extend(["--ignore".to_owned(), id]);
    }
    Ok(args)
}

/// The advisory ids of `deny.toml`'s `[advisories] ignore`.
fn ignored_advisories(root: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(root.join("deny.toml")).context("reading deny.toml")?;
    let config: toml::Table = text.parse().context("deny.toml is not TOML")?;
    let ignore = config
        .get("advisories")
        .and_then(|a| a.get("ignore"))
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_default();
    ignore
        .iter()
        .map(|entry| {
            entry
                .get("id")
                .and_then(|id| id.as_str())
                .or_else(|| entry.as_str())
                .map(str::to_owned)
                .context("deny.toml: an [advisories] ignore entry without an id")
        })
        .collect()
}

/// cargo-deny keeps each database in `<db-path>/<last url segment>-<hash of the url>`; this is
/// the name it uses for the default upstream.
fn deny_db_dir_name() -> &'static str {
    "advisory-db-3157b0e258782691"
}

/// Makes `dest` a fresh clone of `source` (a repository or a bare mirror).
fn refresh_clone(source: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    run(Command::new("git")
        .args(["clone", "--quiet", "--local", "--no-hardlinks"])
        .arg(source)
        .arg(dest))
}

fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}
