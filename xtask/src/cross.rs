//! `cargo xtask cross`: the connector keeps building for the platforms T1C ships to besides
//! Linux (part of `cargo xtask test`).
//!
//! - Windows: `t1c.exe` built for `x86_64-pc-windows-gnu` with Debian's mingw-w64 (a debug
//!   build: OpenSSL compiled in, see host's `Cargo.toml`), and clippy over the connector for
//!   that target, so the Windows-only code (the admin channel's named pipe, the PKCS#11
//!   worker pipes) is linted too. Then, under wine: `t1c.exe --version`; `t1c.exe serve
//!   --simulate` with the supervisor tests' fake PKCS#11 token (host/tests/pkcs11_broken,
//!   built as a DLL) answering `/v3/readers` over HTTPS with the simulated reader and the
//!   token, which a PKCS#11 worker process reports through its pipes while the library's own
//!   prints go to stderr; and `t1c.exe modules list` answered by that connector through its
//!   admin named pipe (the command's fallback, the module store itself, is locked by the
//!   running connector, so only the pipe can answer it).
//! - macOS: `cargo check` for `x86_64-apple-darwin` of the crates that need no C toolchain for
//!   the target ([`MACOS_CRATES`]: the SDK with the card simulator, the bundles). The rest
//!   cannot be checked there: Debian has no macOS SDK or cross compiler, and the connector's
//!   dependencies compile C for the target (ring for TLS, OpenSSL, SQLite, PC/SC), as does
//!   wasmtime (its `helpers.c`), so the runtime and the module author's CLI cannot either.
//!
//! What wine does not prove: that the pipe's access list keeps other users out (wine runs one
//! user and does not enforce it), smart-card readers (wine's winscard is not PC/SC), a worker
//! killed on a deadline, and anything about speed. Debian 12's wine (8.0) lacks `bcryptprimitives.dll`,
//! which every Rust program on Windows loads; `xtask/wine/bcryptprimitives.c` stands in for it,
//! built into the directory the copy run under wine lives in (`target/wine`), never beside the
//! `t1c.exe` that is built.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, free_port, run, setup};

/// The Windows target, built with Debian's mingw-w64.
pub const WINDOWS: &str = "x86_64-pc-windows-gnu";
/// The macOS target the crates below are checked for.
pub const MACOS: &str = "x86_64-apple-darwin";
/// The crates that compile for macOS without a C toolchain for it.
pub const MACOS_CRATES: &[&str] = &["t1c-sdk", "t1c-bundle"];
/// Their features checked too: the SDK's card simulator and serde (what the connector uses).
const MACOS_FEATURES: &str = "t1c-sdk/simulator,t1c-sdk/serde";

/// How long the connector may take to listen under wine (the first run creates wine's prefix).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Installs what is missing (the `cross` packages, both targets), builds and lints the
/// connector for Windows and starts it under wine, and checks [`MACOS_CRATES`] for macOS.
///
/// # Errors
/// A package or target cannot be installed, or a build, lint, check or run fails.
pub fn check(root: &Path) -> Result<()> {
    setup::ensure(root, setup::Need::Cross)?;
    setup::ensure_target(WINDOWS)?;
    setup::ensure_target(MACOS)?;
    let started = Instant::now();
    run(cargo().args(["build", "-p", "t1c-host", "--bin", "t1c", "--target", WINDOWS]))?;
    run(cargo().args(["clippy", "-p", "t1c-host", "--target", WINDOWS, "--", "-D", "warnings"]))?;
    println!("cross: Windows build and clippy in {:.0?}", started.elapsed());
    let started = Instant::now();
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    run_under_wine(root, &target_dir.join(WINDOWS).join("debug/t1c.exe"))?;
    println!("cross: t1c.exe under wine in {:.0?}", started.elapsed());
    let started = Instant::now();
    let mut check = cargo();
    check.args(["check", "--target", MACOS, "--features", MACOS_FEATURES]);
    for package in MACOS_CRATES {
        check.args(["-p", package]);
    }
    run(&mut check)?;
    println!("cross: macOS check in {:.0?}", started.elapsed());
    Ok(())
}

/// Runs `exe` under wine: its version, then a simulated connector, asked over HTTPS and
/// through its admin pipe.
fn run_under_wine(root: &Path, exe: &Path) -> Result<()> {
    let dir = root.join("target/wine");
    let data = dir.join("data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let copy = dir.join("t1c.exe");
    let _ = std::fs::remove_file(&copy);
    if std::fs::hard_link(exe, &copy).is_err() {
        std::fs::copy(exe, &copy).with_context(|| format!("copying {}", exe.display()))?;
    }
    run(Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-o"])
        .arg(dir.join("bcryptprimitives.dll"))
        .arg(root.join("xtask/wine/bcryptprimitives.c"))
        .arg("-ladvapi32"))?;
    // PKCS#11 on Windows packs its structures to one byte.
    let token = dir.join("fake_token.dll");
    run(Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-fpack-struct=1", "-o"])
        .arg(&token)
        .arg(root.join("host/tests/pkcs11_broken/fake_token.c")))?;
    let prefix = dir.join("prefix");
    let wine = |args: &[&str]| {
        let mut command = Command::new("wine");
        command
            .arg(&copy)
            .args(args)
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .env("T1C_DATA_DIR", windows_path(&data))
            .env("T1C_LOG", "warn");
        command
    };
    run(&mut wine(&["--version"]))?;
    let port = free_port()?;
    let connector = wine(&["serve", "--simulate", "--port", &port.to_string()])
        .env("T1C_PKCS11_WIN", windows_path(&token))
        .spawn()
        .context("cannot start the connector under wine")?;
    let mut connector = UnderWine(connector, prefix.clone());
    let ca = data.join("tls/ca.pem");
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() || !ca.exists() {
        if Instant::now() > deadline {
            bail!("t1c.exe did not start listening on port {port} under wine");
        }
        if let Some(status) = connector.0.try_wait()? {
            bail!("t1c.exe under wine ended before listening ({status})");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The token shows once its worker has listed its slots; no event says when.
    loop {
        let readers = Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--cacert"])
            .arg(&ca)
            .arg(format!("https://localhost:{port}/v3/readers"))
            .output()
            .context("cannot run curl")?;
        let answer = String::from_utf8_lossy(&readers.stdout);
        if answer.contains("T1C Simulated Reader") && answer.contains("Fake token") {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "t1c.exe under wine: /v3/readers did not list the simulated reader and the \
                 PKCS#11 token: {answer} {}",
                String::from_utf8_lossy(&readers.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    run(&mut wine(&["modules", "list"]))
}

/// A connector under wine, stopped (with wine's server for its prefix) when dropped.
struct UnderWine(Child, PathBuf);

impl Drop for UnderWine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", &self.1)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `path` as the Windows program sees it under wine (drive `Z:` is `/`).
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}
