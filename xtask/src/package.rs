//! `cargo xtask package`: the connector's and the DS's Debian packages (cargo-deb, from the
//! release build; `packaging/`), then checks on each: its file list, lintian, and an unpacked
//! install whose binary starts and answers.
//!
//! What the checks prove and what they do not: the package holds the right files with the
//! right modes, lintian finds nothing unexplained, the maintainer scripts are valid shell, and
//! the binary as installed starts and serves (the connector with the packaged modules, trusted
//! through the unit's publisher key). The maintainer scripts and units are not run by a real
//! `dpkg -i` and systemd here (that needs a whole system; the packages were installed by hand on
//! a Debian 12 machine, see the README).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{build_modules_signed, cargo, free_port, run};

/// Where the packages are written.
const OUT: &str = "target/debian";

/// Builds and checks both packages; returns their paths (connector, DS).
///
/// # Errors
/// A build step, a missing file, a lintian finding, or an installed binary that does not start.
pub fn build_and_check(root: &Path, signing_key: &Path) -> Result<(PathBuf, PathBuf)> {
    let staging = root.join("target/debian-staging/t1c");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let modules = staging.join("modules");
    let publisher = build_modules_signed(root, &modules, signing_key)?;
    let unit = std::fs::read_to_string(root.join("packaging/t1c/t1c.service"))?;
    std::fs::write(staging.join("t1c.service"), unit.replace("@PUBLISHER_KEY@", &publisher))?;

    let connector = cargo_deb(root, "t1c-host")?;
    let ds = cargo_deb(root, "t1c-ds")?;

    check_contents(
        &connector,
        &[
            "./usr/bin/t1c",
            "./usr/lib/t1c/modules/beid.t1cm",
            "./usr/lib/t1c/modules/pkcs11.t1cm",
            "./usr/lib/systemd/user/t1c.service",
        ],
    )?;
    check_contents(&ds, &["./usr/bin/t1c-ds", "./etc/t1c-ds/config.toml"])?;
    for package in [&connector, &ds] {
        check_scripts(package)?;
        lintian(root, package)?;
    }
    start_connector(&connector, &publisher)?;
    start_ds(&ds)?;
    println!("packages: {} and {}", connector.display(), ds.display());
    Ok((connector, ds))
}

/// `cargo deb -p PACKAGE` (a release build); returns the .deb it wrote.
fn cargo_deb(root: &Path, package: &str) -> Result<PathBuf> {
    let output = cargo()
        .args(["deb", "--locked", "-p", package, "--output", OUT])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo deb")?;
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
/// directory and port moved to temporary ones); it must answer `/healthz`.
fn start_ds(package: &Path) -> Result<()> {
    let unpacked = tempdir(package, "root")?;
    run(Command::new("dpkg-deb").arg("--extract").arg(package).arg(&unpacked))?;
    let data = unpacked.join("var/lib/t1c-ds");
    std::fs::create_dir_all(&data)?;
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
        output(
            Command::new("curl")
                .args(["--silent", "--fail", "--cacert"])
                .arg(&ca)
                .arg(format!("https://localhost:{port}/healthz")),
        )
        .map(drop)
    })();
    let _ = child.kill();
    let _ = child.wait();
    outcome.context("starting the installed DS")
}

/// Waits until `port` accepts connections and `ca` exists (the server's first start).
fn wait_for(port: u16, ca: &Path) -> Result<()> {
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
