//! `cargo xtask footprint`: what the connector costs a user's machine, measured on the release
//! build (issue 17's targets: under 20 MB installed, idle RSS under 20 MB with the three
//! modules, a start under 150 ms).
//!
//! - Installed: the stripped `t1c`, the three signed module bundles and the README. The package
//!   also carries the example `hello` bundle (about 40 KB) and the systemd unit; its
//!   `Installed-Size`, as dpkg counts it, is what `cargo xtask package` builds.
//! - Start: `t1c serve` with the three bundles, first with an empty data folder (the modules are
//!   compiled and cached), then five times more with the cache warm; the time from spawning the
//!   process to its HTTPS port accepting a connection.
//! - Idle memory: after the last start and two quiet seconds, the process's resident set
//!   (`/proc/<pid>/smaps_rollup`): all of it, its anonymous part (what only this process holds),
//!   and its proportional share. File pages (the binary's code, shared libraries, the mapped
//!   compiled modules) count in the resident set as the kernel maps them, which depends on the
//!   page cache: the figure is lower after a reboot than right after a build.
//!
//! Linux only (it reads `/proc`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{build_modules, cargo, free_port, run};

/// The modules a package installs (the example `hello` is not counted).
const MODULES: [&str; 3] = ["beid", "pkcs11", "fileexchange"];

/// Builds the release connector and the modules, and prints the footprint.
///
/// # Errors
/// A build fails, or the connector does not start.
pub fn measure(root: &Path) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "t1c-host", "--bin", "t1c"]))?;
    let modules = root.join("target/modules");
    build_modules(root, &modules)?;
    let binary = root.join("target/release/t1c");

    let work = root.join("target/footprint");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let bundles = work.join("bundles");
    std::fs::create_dir_all(&bundles)?;
    let mut installed = file_size(&binary)? + file_size(&root.join("README.md"))?;
    for module in MODULES {
        let bundle = modules.join(format!("{module}.t1cm"));
        installed += file_size(&bundle)?;
        std::fs::copy(&bundle, bundles.join(format!("{module}.t1cm")))?;
    }
    println!(
        "installed: {} (t1c {}, the three module bundles and the README)",
        megabytes(installed),
        megabytes(file_size(&binary)?)
    );

    let trusted = std::fs::read_to_string(root.join("host/src/bundles/development-key.pub"))?;
    let connector = Connector { binary, home: work.join("home"), bundles, trusted };
    let (first, running) = connector.start()?;
    drop(running);
    println!("first start (compiles the three modules): {} ms", first.as_millis());
    let mut starts = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        // The previous one stops before the next starts.
        drop(last.take());
        let (took, running) = connector.start()?;
        starts.push(took.as_millis());
        last = Some(running);
    }
    let running = last.context("no start")?;
    println!("start with the modules cached: {starts:?} ms");
    // Idle: nothing is asked of it for a while.
    std::thread::sleep(Duration::from_secs(2));
    let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", running.0.id()))
        .context("reading the connector's smaps_rollup")?;
    let field = |name: &str| -> Result<u64> {
        rollup
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in smaps_rollup"))
    };
    println!(
        "idle memory with the three modules: resident {} (anonymous {}, proportional {})",
        kibibytes(field("Rss")?),
        kibibytes(field("Anonymous")?),
        kibibytes(field("Pss")?)
    );
    drop(running);
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

/// How to start the connector being measured.
struct Connector {
    binary: PathBuf,
    home: PathBuf,
    bundles: PathBuf,
    trusted: String,
}

impl Connector {
    /// Starts `t1c serve` and returns once its port accepts a connection, with the time that
    /// took.
    fn start(&self) -> Result<(Duration, Running)> {
        let port = free_port()?;
        let started = Instant::now();
        let mut running = Running(
            Command::new(&self.binary)
                .args(["serve", "--port", &port.to_string(), "--bundles"])
                .arg(&self.bundles)
                .env("HOME", &self.home)
                .env("XDG_DATA_HOME", self.home.join("data"))
                .env("XDG_CONFIG_HOME", self.home.join("config"))
                .env("T1C_MODULES_TRUSTED_KEYS", self.trusted.trim())
                .env("T1C_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| format!("cannot start {}", self.binary.display()))?,
        );
        let deadline = started + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = running.0.try_wait()? {
                bail!("the connector exited with {status}");
            }
            if Instant::now() > deadline {
                bail!("the connector does not listen after 60 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok((started.elapsed(), running))
    }
}

/// A started connector, stopped when dropped (on an error too).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("{}", path.display()))?.len())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB ({:.2} MiB)", bytes as f64 / 1e6, bytes as f64 / 1048576.0)
}

fn kibibytes(kib: u64) -> String {
    format!("{:.1} MiB ({kib} kB)", kib as f64 / 1024.0)
}
