//! `cargo xtask package`: the connector's and the DS's Debian packages (cargo-deb, from the
//! release build; `packaging/`), then checks on each: its file list, lintian, and an unpacked
//! install whose binary starts and answers; the DS's package then serves the connector's as its
//! Linux installer; last, both are installed for real into a fresh Debian 12 root
//! (`fresh_install`).
//!
//! `cargo xtask test` runs the same checks on packages made from the debug binaries the test
//! run built ([`Build::TestBinaries`], stripped; minutes instead of the release build's half
//! hour), so CI checks the packaging on every change; `cargo xtask package` makes the real ones.
//!
//! What the checks prove and what they do not: the package holds the right files with the
//! right modes, lintian finds nothing unexplained, the maintainer scripts are valid shell, the
//! binary as installed starts and serves (the connector with the packaged modules, trusted
//! through the unit's publisher key), and a DS hands the connector's package out byte for byte
//! as the Linux download. Then `apt-get install` of both into a throwaway fresh Debian 12 root
//! runs the maintainer scripts for real (the Depends from Debian's mirror): the files are in
//! place, the DS's system user owns its data, the units pass `systemd-analyze verify`, the DS
//! started as its unit's user answers `/readyz`, the connector started as a new user's unit
//! would answers `/info` with the packaged modules and its CA in the user's NSS database, and
//! remove and purge take what their scripts promise. No systemd runs in the root (as in a
//! container): the units' commands are run as the units would run them, not by systemd, so
//! their sandboxing, `StateDirectory=`, the enable and start under a running systemd and the
//! start at login are not exercised. That install needs root (through sudo otherwise).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{build_modules_signed, cargo, free_port, fresh_install, run};

/// Where the packages are written.
const OUT: &str = "target/debian";

/// Which binaries go into the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// A release build (`cargo deb` builds it): the packages users install.
    Release,
    /// The debug binaries `cargo nextest run --workspace` left in target/debug, stripped:
    /// the packaging checked without a release build.
    TestBinaries,
}

/// Builds and checks both packages; returns their paths (connector, DS).
///
/// # Errors
/// A build step, a missing file, a lintian finding, an installed binary that does not start,
/// or a DS that does not serve the connector's package.
pub fn build_and_check(
    root: &Path,
    signing_key: &Path,
    build: Build,
) -> Result<(PathBuf, PathBuf)> {
    let staging = root.join("target/debian-staging/t1c");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let modules = staging.join("modules");
    let publisher = build_modules_signed(root, &modules, signing_key)?;
    let unit = std::fs::read_to_string(root.join("packaging/t1c/t1c.service"))?;
    std::fs::write(staging.join("t1c.service"), unit.replace("@PUBLISHER_KEY@", &publisher))?;

    let connector = cargo_deb(root, "t1c-host", build)?;
    let ds = cargo_deb(root, "t1c-ds", build)?;

    check_contents(
        &connector,
        &[
            "./usr/bin/t1c",
            "./usr/lib/t1c/modules/beid.t1cm",
            "./usr/lib/t1c/modules/pkcs11.t1cm",
            "./usr/lib/t1c/modules/fileexchange.t1cm",
            "./usr/lib/systemd/user/t1c.service",
        ],
    )?;
    check_contents(&ds, &["./usr/bin/t1c-ds", "./etc/t1c-ds/config.toml"])?;
    for package in [&connector, &ds] {
        check_scripts(package)?;
        lintian(root, package)?;
    }
    start_connector(&connector, &publisher)?;
    start_ds(&ds, &connector)?;
    fresh_install::check(root, &connector, &ds)?;
    println!("packages: {} and {}", connector.display(), ds.display());
    Ok((connector, ds))
}

/// `cargo deb -p PACKAGE` (a release build, or the test run's debug binaries); returns the
/// .deb it wrote.
fn cargo_deb(root: &Path, package: &str, build: Build) -> Result<PathBuf> {
    let mut command = cargo();
    command.args(["deb", "--locked", "-p", package, "--output", OUT]);
    if build == Build::TestBinaries {
        // cargo-deb warns that a dev profile is not for releases: these packages are not.
        command.args(["--profile", "dev", "--no-build", "--strip"]);
    }
    let output = command.stderr(Stdio::inherit()).output().context("cannot run cargo deb")?;
    if !output.status.success() {
        bail!("cargo deb -p {package} failed with {}", output.status);
    }
    let printed = String::from_utf8_lossy(&output.stdout);
    let path =
        printed.lines().rev().find(|l| l.trim_end().ends_with(".deb")).with_context(|| {
            format!("cargo deb -p {package} did not say which file it wrote: {printed}")
        })?;
    Ok(root.join(path.trim()))
}

/// Every path of `expected` is in the package.
fn check_contents(package: &Path, expected: &[&str]) -> Result<()> {
    let listing = output(Command::new("dpkg-deb").arg("--contents").arg(package))?;
    for path in expected {
        if !listing.lines().any(|line| line.split_whitespace().last() == Some(path)) {
            bail!("{} lacks {path}:\n{listing}", package.display());
        }
    }
    Ok(())
}

/// The maintainer scripts are valid POSIX shell.
fn check_scripts(package: &Path) -> Result<()> {
    let control = tempdir(package, "control")?;
    run(Command::new("dpkg-deb").arg("--control").arg(package).arg(&control))?;
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        let path = control.join(script);
        if path.exists() {
            run(Command::new("sh").arg("-n").arg(&path))
                .with_context(|| format!("{}: {script} is not valid shell", package.display()))?;
        }
    }
    Ok(())
}

/// lintian, with the tags explained in `packaging/lintian-overrides` suppressed.
fn lintian(root: &Path, package: &Path) -> Result<()> {
    let overrides = std::fs::read_to_string(root.join("packaging/lintian-overrides"))?;
    let explained: Vec<&str> = overrides
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let report = Command::new("lintian")
        .args(["--no-tag-display-limit", "--display-info"])
        .arg(package)
        .output()
        .context("cannot run lintian (Debian package lintian)")?;
    let text = String::from_utf8_lossy(&report.stdout);
    // Errors and warnings count; information (I:), pedantic (P:) and experimental (X:) tags
    // are shown but do not fail the check.
    print!("{text}");
    let findings: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("E: ") || line.starts_with("W: "))
        .filter(|line| {
            let tag = line.split_whitespace().nth(2).unwrap_or_default();
            !explained.contains(&tag)
        })
        .collect();
    if !findings.is_empty() {
        bail!(
            "lintian on {}: each tag must be fixed or explained in packaging/lintian-overrides:\n{}",
            package.display(),
            findings.join("\n")
        );
    }
    Ok(())
}

/// Unpacks the connector's package and starts its `t1c` the way its unit does; it must serve
/// `/info` and have installed the packaged modules.
fn start_connector(package: &Path, publisher: &str) -> Result<()> {
    let unpacked = tempdir(package, "root")?;
    run(Command::new("dpkg-deb").arg("--extract").arg(package).arg(&unpacked))?;
    let data = unpacked.join("home/user/.local/share/t1c");
    let port = free_port()?;
    let mut child = Command::new(unpacked.join("usr/bin/t1c"))
        .arg("--config")
        .arg(unpacked.join("no-config.toml"))
        .args(["serve", "--port", &port.to_string()])
        .env("T1C_DATA_DIR", &data)
        .env("T1C_MODULES_BUNDLES", unpacked.join("usr/lib/t1c/modules"))
        .env("T1C_MODULES_TRUSTED_KEYS", publisher)
        .env("T1C_LOG", "warn")
        .spawn()
        .context("cannot start the packaged t1c")?;
    let outcome = (|| {
        let ca = data.join("tls/ca.pem");
        wait_for(port, &ca)?;
        let info = output(
            Command::new("curl")
                .args(["--silent", "--fail", "--cacert"])
                .arg(&ca)
                .arg(format!("https://localhost:{port}/info")),
        )?;
        if !info.contains("\"t1CInfoAPI\"") {
            bail!("the packaged connector's /info is not T1C's: {info}");
        }
        let modules = output(
            Command::new(unpacked.join("usr/bin/t1c"))
                .arg("--config")
                .arg(unpacked.join("no-config.toml"))
                .args(["modules", "list"])
                .env("T1C_DATA_DIR", &data),
        )?;
        for module in ["beid", "pkcs11"] {
            if !modules.contains(module) {
                bail!("the packaged connector did not install its {module} module: {modules}");
            }
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    outcome.context("starting the installed connector")
}

/// Unpacks the DS's package and starts its `t1c-ds` with its packaged configuration (data
/// directory and port moved to temporary ones); it must answer `/healthz`, and serve
/// `installer` (the connector's package), published as a version's Linux installer, byte for
/// byte from its public download route.
fn start_ds(package: &Path, installer: &Path) -> Result<()> {
    let unpacked = tempdir(package, "root")?;
    run(Command::new("dpkg-deb").arg("--extract").arg(package).arg(&unpacked))?;
    let data = unpacked.join("var/lib/t1c-ds");
    let installers = data.join("installers");
    std::fs::create_dir_all(&installers)?;
    let file_name =
        installer.file_name().and_then(|n| n.to_str()).context("the installer's file name")?;
    std::fs::copy(installer, installers.join(file_name))?;
    let port = free_port()?;
    let mut child = Command::new(unpacked.join("usr/bin/t1c-ds"))
        .arg("serve")
        .arg("--config")
        .arg(unpacked.join("etc/t1c-ds/config.toml"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("T1C_DS_LOG", "warn")
        .spawn()
        .context("cannot start the packaged t1c-ds")?;
    let outcome = (|| {
        let ca = data.join("tls/ca.pem");
        wait_for(port, &ca)?;
        let base = format!("https://localhost:{port}");
        let curl = || {
            let mut command = Command::new("curl");
            command.args(["--silent", "--show-error", "--fail-with-body", "--cacert"]).arg(&ca);
            command
        };
        output(curl().arg(format!("{base}/healthz")))?;
        let token = admin_token(&data, &base, curl)?;
        let version = serde_json::json!({
            "id": "0.1.0", "recommended": true, "mandatory": false, "allowed": true,
            "uris": [{"os": "unix", "uri": file_name}],
        });
        output(
            curl()
                .args(["-X", "PUT", "-H", "content-type: application/json", "-H"])
                .arg(format!("authorization: Bearer {token}"))
                .arg("--data")
                .arg(version.to_string())
                .arg(format!("{base}/v3_5/versions")),
        )?;
        let downloaded = tempdir(package, "download")?.join(file_name);
        output(
            curl()
                .arg("--output")
                .arg(&downloaded)
                .arg(format!("{base}/v3_5/downloads/installers/unix")),
        )?;
        if std::fs::read(&downloaded)? != std::fs::read(installer)? {
            bail!("the DS's Linux download is not the connector's package");
        }
        output(Command::new("dpkg-deb").arg("--info").arg(&downloaded)).map(drop)
    })();
    let _ = child.kill();
    let _ = child.wait();
    outcome.context("starting the installed DS and downloading the connector's package from it")
}

/// A session token of the DS's bootstrap administrator (`bootstrap-admin.txt` in `data`),
/// logging in at `base` with the commands `curl` makes (which trust the DS's CA).
///
/// # Errors
/// No bootstrap file within 30 s, no password in it, or a login that fails.
pub fn admin_token(data: &Path, base: &str, curl: impl Fn() -> Command) -> Result<String> {
    let file = data.join("bootstrap-admin.txt");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        if Instant::now() > deadline {
            bail!("the DS wrote no bootstrap-admin.txt within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let bootstrap = std::fs::read_to_string(&file).context("the DS's bootstrap-admin.txt")?;
    let password = bootstrap
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .context("no password in bootstrap-admin.txt")?;
    let login = serde_json::json!({"username": "admin", "password": password}).to_string();
    let answer = output(
        curl()
            .args(["-H", "content-type: application/json", "--data", &login])
            .arg(format!("{base}/v3_5/auth/token")),
    )?;
    let answer: serde_json::Value =
        serde_json::from_str(&answer).context("the DS's login answer is not JSON")?;
    answer["data"]["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the DS's login answer has no session token")
}

/// Waits until `port` accepts connections and `ca` exists (the server's first start).
///
/// # Errors
/// Nothing listens within 60 s.
pub fn wait_for(port: u16, ca: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !ca.exists() {
        if Instant::now() > deadline {
            bail!("nothing listens on port {port} after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn output(command: &mut Command) -> Result<String> {
    let out = command.output().with_context(|| format!("cannot run {command:?}"))?;
    if !out.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A fresh directory beside `package` for one check.
fn tempdir(package: &Path, what: &str) -> Result<PathBuf> {
    let name = package.file_stem().and_then(|s| s.to_str()).unwrap_or("package");
    let dir = package.with_file_name(format!("{name}.{what}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
