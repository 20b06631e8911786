//! `cargo xtask fresh-machine`: the README's first command, `cargo xtask run`, works on a fresh
//! Debian 12 machine that has only rustup (the first check of `cargo xtask test`).
//!
//! What it does:
//! 1. A clean Debian 12 root under `target/fresh-machine/root`: `debootstrap --variant=minbase
//!    bookworm` from `http://deb.debian.org/debian` (`T1C_DEBIAN_MIRROR` overrides), plus only
//!    what a fresh machine with rustup has: `ca-certificates`, and `gcc` and `libc6-dev`, the C
//!    linker (`cc`) and C library rustc links with, which rustup requires to be installed
//!    first. The downloaded packages are cached as a debootstrap tarball in
//!    `target/fresh-machine/` so a re-run does not download them again; every run unpacks a new
//!    root from it. The host's `/etc/resolv.conf` is copied in, and the certificate
//!    authorities the host trusts beyond Debian's `ca-certificates` are added the way an
//!    administrator adds a local one (this project's machines reach crates.io through a
//!    TLS-inspecting proxy; none are added on a host that trusts only Debian's).
//! 2. A copy of the repository in `/root/t1c`: the working tree's files that git tracks or
//!    would add (`git ls-files --cached --others --exclude-standard`: the tree as a commit of
//!    it would be cloned), never the host's `target/`.
//! 3. Rust the way rustup installs it: the host's rustup home (`RUSTUP_HOME`, default
//!    `~/.rustup`) bound read-only at `/root/.rustup`, the host's `rustup` binary bound
//!    read-only at `/root/.cargo/bin/rustup` and its proxies (`cargo`, `rustc`, ... the
//!    entries of the host's `~/.cargo/bin` that are rustup) linked beside it. Nothing else of
//!    the host's cargo home: no tools installed with `cargo install`, no registry cache; the
//!    crates come from crates.io.
//! 4. In a private mount and PID namespace (`unshare`), chrooted into the root, with only
//!    `HOME=/root` and rustup's `PATH` in the environment, `rustup target add wasm32-wasip2`
//!    (what `.ci/run` runs; the target is already in the bound rustup home, so it is a no-op,
//!    which must work on a read-only rustup home) and then, in `/root/t1c`, exactly the README's
//!    first command with a free port: `cargo xtask run -- --port P`. It installs its Debian
//!    packages itself (`apt-get`, as root in the root), builds everything cold and starts the
//!    connector. From outside, `https://localhost:P/v3/readers` is asked with the connector's
//!    own local CA (`/root/.local/share/t1c/tls/ca.pem` in the root) until it lists the
//!    simulated reader holding the simulated Belgian eID.
//! 5. Then the same for the Distribution Service in the same root (it reuses the connector's
//!    build; about 5 minutes more): `cargo xtask ds -- --listen 127.0.0.1:Q` installs Node.js
//!    and npm (Debian's), builds the DS and its dashboard and starts it on SQLite with no
//!    configuration; `/readyz` must answer `ok`, and the sign-in page must load the dashboard's
//!    script (built with npm from the npm registry).
//!
//! Each command's output goes to `target/fresh-machine/<command>.log`. The namespace's processes
//! are killed and its mounts vanish with it, on failure too; then the root is deleted (a cold
//! build of both in it is about 7.5 GB). The time of each phase and the root's size at the end
//! (its largest: builds only add) are printed.
//!
//! What this does not prove: the root shares the host's kernel, network, name server and
//! devices (`/dev`, `/sys`), so nothing about other kernels or networks; the host's extra
//! certificate authorities are trusted in it; the toolchain is the host's (its version, with
//! `wasm32-wasip2` already added: rustup cannot download here), so neither that rustup
//! installs nor that another Rust version builds; `gcc` and `libc6-dev` are preinstalled, as
//! rustup requires; Debian's security and updates suites are not configured (debootstrap writes
//! the main suite only); it runs as root, so the `sudo` path of `cargo xtask run` is not
//! exercised; no smart-card service (pcscd) runs, so only the simulated reader is listed; and
//! the second command, `cargo xtask test`, is not run in it.
//!
//! It needs root (debootstrap, chroot, namespaces): when not root, it runs itself again through
//! `sudo`, with the caller's rustup home and cargo home.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{free_port, run, setup};

/// Debian's mirror, unless `T1C_DEBIAN_MIRROR` names another.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// The packages a fresh machine with rustup has on top of debootstrap's minimal base.
const INCLUDE: &str = "ca-certificates,gcc,libc6-dev";
/// The environment inside: what a login shell of a rustup user has, nothing of the host's.
const PATH: &str = "/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Room a run needs: the root with both builds was 7.4 GB, plus a margin.
const NEEDED_MIB: u64 = 9 * 1024;
/// How long a cold `cargo xtask run` (packages, crates, build) may take to answer.
const CONNECTOR_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How long `cargo xtask ds` may take after it (its own packages and crates, the dashboard).
const DS_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Between two questions to a server that is still building: no event says when it listens.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The simulated reader's name (`t1c_host::connector::SIMULATED_READER`).
const SIMULATED_READER: &str = "T1C Simulated Reader";

/// Builds a fresh Debian 12 root, runs the README's first command in it and then
/// `cargo xtask ds`, checks that the connector and the DS answer, and deletes the root.
///
/// # Errors
/// Not root and no sudo, debootstrap fails, a command inside fails or does not answer in time,
/// or an answer is not the expected one.
pub fn check(root: &Path) -> Result<()> {
    if !setup::is_root() {
        return rerun_as_root();
    }
    let work = root.join("target/fresh-machine");
    fs::create_dir_all(&work)?;
    let machine = Machine::new(work.join("root"))?;
    ensure_room(&work, NEEDED_MIB)?;
    let mut phases = Vec::new();

    let started = Instant::now();
    let (tarball, downloaded) = tarball(&work)?;
    if downloaded {
        phase(
            &mut phases,
            "download Debian 12 (minbase, ca-certificates, gcc, libc6-dev)",
            started,
        );
    }
    let started = Instant::now();
    unpack(&tarball, &machine.path)?;
    phase(&mut phases, "unpack a pristine Debian 12 root", started);

    let started = Instant::now();
    copy_repository(root, &machine.path.join("root/t1c"))?;
    let rustup = install_rustup_proxies(&machine.path)?;
    fs::copy("/etc/resolv.conf", machine.path.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf")?;
    trust_the_host_s_extra_authorities(&machine.path)?;
    phase(&mut phases, "copy the repository, link rustup", started);

    let started = Instant::now();
    let port = free_port()?;
    let log = work.join("connector.log");
    println!("fresh-machine: cargo xtask run -- --port {port} (output in {})", log.display());
    let shell =
        "rustup target add wasm32-wasip2 && cd /root/t1c && exec cargo xtask run -- --port \"$1\"";
    let mut connector =
        Inside::start(&machine.path, Some(&rustup), shell, &port.to_string(), &log)?;
    let ca = machine.path.join("root/.local/share/t1c/tls/ca.pem");
    let url = format!("https://localhost:{port}/v3/readers");
    let answer = poll(&mut connector, &ca, &url, CONNECTOR_DEADLINE, names_the_simulated_eid)?;
    println!("fresh-machine: {url} answered {answer}");
    connector.stop();
    phase(&mut phases, "cargo xtask run until /v3/readers lists the simulated eID", started);

    let started = Instant::now();
    let port = free_port()?;
    let log = work.join("ds.log");
    println!(
        "fresh-machine: cargo xtask ds -- --listen 127.0.0.1:{port} (output in {})",
        log.display()
    );
    let shell = "cd /root/t1c && exec cargo xtask ds -- --listen \"127.0.0.1:$1\"";
    let mut ds = Inside::start(&machine.path, Some(&rustup), shell, &port.to_string(), &log)?;
    let ca = machine.path.join("root/.local/share/t1c-ds/tls/ca.pem");
    let base = format!("https://localhost:{port}");
    let ready = |answer: &str| {
        serde_json::from_str::<serde_json::Value>(answer).is_ok_and(|json| json["status"] == "ok")
    };
    let answer = poll(&mut ds, &ca, &format!("{base}/readyz"), DS_DEADLINE, ready)?;
    println!("fresh-machine: {base}/readyz answered {answer}");
    // The sign-in page, and the script it loads: the dashboard's front end, built with npm.
    let page = curl(&ca, &format!("{base}/dashboard/login"))?;
    let script = page
        .split("<script src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .with_context(|| format!("the DS's sign-in page loads no script: {page}"))?;
    if curl(&ca, &format!("{base}{script}"))?.is_empty() {
        bail!("the DS's dashboard script {script} is empty");
    }
    println!("fresh-machine: {base}/dashboard/login loads {script}");
    ds.stop();
    phase(&mut phases, "cargo xtask ds until /readyz is ok", started);

    let peak = machine.size_mib()?;
    let started = Instant::now();
    drop(machine);
    phase(&mut phases, "delete the root", started);
    println!("fresh-machine: the README's first command works on a fresh Debian 12 with rustup");
    for (phase, took) in &phases {
        println!("  {:>8.1?}  {phase}", took);
    }
    println!("  the root at its largest: {peak} MiB");
    Ok(())
}

/// Notes how long a phase took, and says so.
fn phase(phases: &mut Vec<(&'static str, Duration)>, name: &'static str, started: Instant) {
    let took = started.elapsed();
    println!("fresh-machine: {took:.1?}: {name}");
    phases.push((name, took));
}

/// Runs this command again through `sudo`, with the caller's rustup and cargo homes.
fn rerun_as_root() -> Result<()> {
    let home = std::env::var_os("HOME").map(PathBuf::from).context("HOME is not set")?;
    let rustup_home =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| home.join(".rustup"), PathBuf::from);
    let cargo_home =
        std::env::var_os("CARGO_HOME").map_or_else(|| home.join(".cargo"), PathBuf::from);
    let mut sudo = Command::new("sudo");
    sudo.arg("env")
        .arg(format!("RUSTUP_HOME={}", rustup_home.display()))
        .arg(format!("CARGO_HOME={}", cargo_home.display()));
    if let Ok(mirror) = std::env::var("T1C_DEBIAN_MIRROR") {
        sudo.arg(format!("T1C_DEBIAN_MIRROR={mirror}"));
    }
    sudo.arg(std::env::current_exe()?).arg("fresh-machine");
    run(&mut sudo).context("cargo xtask fresh-machine needs root (debootstrap, chroot, namespaces)")
}

/// Debian's mirror to install from.
fn mirror() -> String {
    std::env::var("T1C_DEBIAN_MIRROR").unwrap_or_else(|_| DEFAULT_MIRROR.into())
}

/// The debootstrap tarball of the root's packages cached in `work`, downloaded first when
/// missing; whether it was.
pub(crate) fn tarball(work: &Path) -> Result<(PathBuf, bool)> {
    let tarball = work.join(format!("bookworm-minbase+{}.tgz", INCLUDE.replace(',', "+")));
    if tarball.exists() {
        return Ok((tarball, false));
    }
    make_tarball(work, &tarball)?;
    Ok((tarball, true))
}

/// Unpacks a pristine Debian 12 root from `tarball` (see [`tarball`]) at `machine`.
pub(crate) fn unpack(tarball: &Path, machine: &Path) -> Result<()> {
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={INCLUDE}")])
        .arg(format!("--unpack-tarball={}", tarball.display()))
        .arg("bookworm")
        .arg(machine)
        .arg(mirror())
        .stdout(Stdio::null()))
}

/// Fails early when `dir`'s file system has less than `needed_mib` free (the tree is shared:
/// a full disk would break every build on it, not only this one).
pub(crate) fn ensure_room(dir: &Path, needed_mib: u64) -> Result<()> {
    let output = Command::new("df")
        .args(["--output=avail", "--block-size=1M"])
        .arg(dir)
        .output()
        .context("running df")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let free: u64 = text
        .lines()
        .nth(1)
        .and_then(|line| line.trim().parse().ok())
        .with_context(|| format!("df said {text}"))?;
    if free < needed_mib {
        bail!("{} has {free} MiB free; this needs about {needed_mib} MiB", dir.display());
    }
    Ok(())
}

/// Downloads the packages of the root into a debootstrap tarball.
fn make_tarball(work: &Path, tarball: &Path) -> Result<()> {
    let scratch = work.join("download");
    let _ = fs::remove_dir_all(&scratch);
    let partial = tarball.with_extension("partial.tgz");
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={INCLUDE}")])
        .arg(format!("--make-tarball={}", partial.display()))
        .arg("bookworm")
        .arg(&scratch)
        .arg(mirror())
        .stdout(Stdio::null()))?;
    // debootstrap removes its scratch folder after packing the tarball.
    let _ = fs::remove_dir_all(&scratch);
    fs::rename(&partial, tarball)?;
    Ok(())
}

/// Copies the files of the working tree git knows or would add (not ignored ones) to `to`.
fn copy_repository(root: &Path, to: &Path) -> Result<()> {
    let listed = Command::new("git")
        .arg("-c")
        .arg(format!("safe.directory={}", root.display()))
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()
        .context("running git ls-files")?;
    if !listed.status.success() {
        bail!("git ls-files failed: {}", String::from_utf8_lossy(&listed.stderr));
    }
    let mut files = 0;
    for name in listed.stdout.split(|b| *b == 0).filter(|name| !name.is_empty()) {
        let name = std::str::from_utf8(name).context("a file name that is not UTF-8")?;
        let from = root.join(name);
        // Listed by the index but deleted in the working tree: a commit would not have it.
        let Ok(metadata) = fs::symlink_metadata(&from) else { continue };
        let target = to.join(name);
        fs::create_dir_all(target.parent().context("a file without a folder")?)?;
        if metadata.is_symlink() {
            symlink(fs::read_link(&from)?, &target)?;
        } else {
            fs::copy(&from, &target).with_context(|| format!("copying {name}"))?;
        }
        files += 1;
    }
    println!("fresh-machine: copied {files} files of the repository");
    Ok(())
}

/// The system's trust store.
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Adds the certificate authorities the host trusts and Debian's `ca-certificates` does not
/// ship (a network that inspects TLS, as this project's machines do, re-signs crates.io with
/// its own) to `machine`'s trust store, the way an administrator adds a local authority
/// (`/usr/local/share/ca-certificates`, `update-ca-certificates`): apt's later runs of
/// `update-ca-certificates` keep them. None on a host that trusts only Debian's authorities.
fn trust_the_host_s_extra_authorities(machine: &Path) -> Result<()> {
    let certificates = |bundle: &Path| -> Result<Vec<String>> {
        let text =
            fs::read_to_string(bundle).with_context(|| format!("reading {}", bundle.display()))?;
        Ok(text
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .filter_map(|rest| rest.split("-----END CERTIFICATE-----").next())
            .map(|body| body.split_whitespace().collect())
            .collect())
    };
    let debian = certificates(&machine.join(CA_BUNDLE))?;
    let extra: Vec<String> = certificates(&Path::new("/").join(CA_BUNDLE))?
        .into_iter()
        .filter(|certificate| !debian.contains(certificate))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let local = machine.join("usr/local/share/ca-certificates");
    fs::create_dir_all(&local)?;
    for (index, certificate) in extra.iter().enumerate() {
        let lines: Vec<&str> = certificate
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap_or_default())
            .collect();
        fs::write(
            local.join(format!("host-{index}.crt")),
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            ),
        )?;
    }
    println!(
        "fresh-machine: trusting {} authorities of the host's that Debian does not ship",
        extra.len()
    );
    // Its output (a warning about the bundle file among others) only matters when it fails.
    let output = Command::new("chroot")
        .arg(machine)
        .arg("update-ca-certificates")
        .output()
        .context("running update-ca-certificates in the root")?;
    if !output.status.success() {
        bail!(
            "update-ca-certificates in the root failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Makes `/root/.cargo/bin` in `machine` as rustup's installer does: `rustup` (a mount point
/// for the host's binary) and its proxies beside it; returns the host's rustup binary and home.
fn install_rustup_proxies(machine: &Path) -> Result<Rustup> {
    let home = std::env::var_os("HOME").map(PathBuf::from).context("HOME is not set")?;
    let rustup_home =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| home.join(".rustup"), PathBuf::from);
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map_or_else(|| home.join(".cargo"), PathBuf::from)
        .join("bin");
    let binary = cargo_bin.join("rustup");
    let rustup = fs::metadata(&binary)
        .with_context(|| format!("no rustup at {}: install Rust with rustup", binary.display()))?;
    let bin = machine.join("root/.cargo/bin");
    fs::create_dir_all(&bin)?;
    fs::create_dir_all(machine.join("root/.rustup"))?;
    fs::write(bin.join("rustup"), b"")?;
    for entry in fs::read_dir(&cargo_bin)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "rustup" {
            continue;
        }
        let path = entry.path();
        let links_to_rustup =
            fs::read_link(&path).is_ok_and(|to| to.file_name() == Some("rustup".as_ref()));
        let is_rustup =
            fs::metadata(&path).is_ok_and(|m| m.dev() == rustup.dev() && m.ino() == rustup.ino());
        if links_to_rustup || is_rustup {
            symlink("rustup", bin.join(name))?;
        }
    }
    Ok(Rustup { binary, home: rustup_home })
}

/// The host's rustup: its binary and its home.
pub(crate) struct Rustup {
    binary: PathBuf,
    home: PathBuf,
}

/// Whether a `/v3/readers` answer lists the simulated reader with the simulated Belgian eID in
/// it, for the `beid` module.
fn names_the_simulated_eid(answer: &str) -> bool {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(answer) else { return false };
    let readers = json["data"].as_array().map(Vec::as_slice).unwrap_or_default();
    json["success"] == true
        && readers.iter().any(|reader| {
            let card = &reader["card"];
            let listed = |field: &str, wanted: &str| {
                card[field].as_array().is_some_and(|values| {
                    values.iter().any(|v| v.as_str().is_some_and(|v| v.contains(wanted)))
                })
            };
            reader["name"] == SIMULATED_READER
                && listed("description", "Belgian eID")
                && listed("modules", "beid")
        })
}

/// Asks `url` (trusting `ca`) until `expected` holds for the answer; returns it.
pub(crate) fn poll(
    inside: &mut Inside,
    ca: &Path,
    url: &str,
    deadline: Duration,
    expected: impl Fn(&str) -> bool,
) -> Result<String> {
    let deadline = Instant::now() + deadline;
    let mut last = String::new();
    loop {
        if let Some(status) = inside.child.try_wait()? {
            bail!("{} ended ({status}) before {url} answered:\n{}", inside.what(), inside.tail());
        }
        if ca.exists() {
            match curl(ca, url) {
                Ok(answer) if expected(&answer) => return Ok(answer),
                Ok(answer) => last = answer,
                Err(err) => last = format!("{err:#}"),
            }
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer as expected in time; last: {last}\n{}", inside.tail());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// `GET url` with curl, trusting `ca`; the body of a 2xx answer.
pub(crate) fn curl(ca: &Path, url: &str) -> Result<String> {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg(url)
        .output()
        .context("cannot run curl")?;
    if !output.status.success() {
        bail!("curl {url}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A command running in the root, in its own mount and PID namespaces; killed, with every
/// process of the namespace, when stopped or dropped.
pub(crate) struct Inside {
    child: Child,
    log: PathBuf,
}

impl Inside {
    /// Starts `shell` (a `sh -c` script, `$1` is `argument`) as root in `machine`, its output to
    /// `log`; with the host's `rustup` bound in when given (see `install_rustup_proxies`).
    pub(crate) fn start(
        machine: &Path,
        rustup: Option<&Rustup>,
        shell: &str,
        argument: &str,
        log: &Path,
    ) -> Result<Self> {
        // The mounts are made in the new mount namespace (private: nothing propagates to the
        // host) and vanish with its last process.
        let setup = r#"set -e
m="$1"
mount -t proc proc "$m/proc"
mount --rbind /dev "$m/dev"
mount --rbind /sys "$m/sys"
if [ -n "$2" ]; then
    mount --bind -o ro "$2" "$m/root/.rustup"
    mount --bind -o ro "$3" "$m/root/.cargo/bin/rustup"
fi
shift 3
chroot "$m" /usr/bin/env -i HOME=/root PATH="$PATH_INSIDE" /bin/sh -c "$SHELL_INSIDE" sh "$@"
"#;
        let output = fs::File::create(log)?;
        let child = Command::new("unshare")
            .args(["--mount", "--pid", "--fork", "--kill-child", "--propagation", "private"])
            .args(["/bin/sh", "-c", setup, "sh"])
            .arg(machine)
            .arg(rustup.map(|r| r.home.as_os_str()).unwrap_or_default())
            .arg(rustup.map(|r| r.binary.as_os_str()).unwrap_or_default())
            .arg(argument)
            .env("PATH_INSIDE", PATH)
            .env("SHELL_INSIDE", shell)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .context("cannot start unshare")?;
        Ok(Self { child, log: log.to_owned() })
    }

    fn what(&self) -> String {
        format!("the command in the root (log {})", self.log.display())
    }

    /// The last lines of the command's output.
    fn tail(&self) -> String {
        let Ok(file) = fs::File::open(&self.log) else { return String::new() };
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits for the command to end; fails, with the end of its output, unless it succeeded.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let status = self.child.wait()?;
        if !status.success() {
            bail!("{} failed ({status}):\n{}", self.what(), self.tail());
        }
        Ok(())
    }

    /// Kills the namespace's first process, which takes every other one of the namespace with
    /// it (the kernel's rule for PID namespaces), and waits for `unshare`, which returns once
    /// they are all gone.
    pub(crate) fn stop(&mut self) {
        // Once waited for, its process id may belong to another process.
        if self.child.try_wait().is_ok_and(|status| status.is_some()) {
            return;
        }
        let pid = self.child.id();
        let children =
            fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for first in children.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", first]).status();
        }
        // unshare's own end kills its child too (--kill-child).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The root, deleted when dropped, unless something is still mounted in it.
pub(crate) struct Machine {
    /// Where the root is.
    pub(crate) path: PathBuf,
}

impl Machine {
    /// A new root at `path`; what a previous run left there is deleted first.
    pub(crate) fn new(path: PathBuf) -> Result<Self> {
        let machine = Self { path };
        machine.delete()?;
        Ok(machine)
    }

    /// The root's size on disk, in MiB.
    pub(crate) fn size_mib(&self) -> Result<u64> {
        let output = Command::new("du")
            .args(["-sx", "--block-size=1M"])
            .arg(&self.path)
            .output()
            .context("running du")?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace()
            .next()
            .and_then(|size| size.parse().ok())
            .with_context(|| format!("du said {text}"))
    }

    fn delete(&self) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo")?;
        let prefix = self.path.display().to_string();
        if let Some(mount) = mounts
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .find(|point| point.starts_with(&prefix))
        {
            bail!("{mount} is mounted: unmount it before {prefix} is deleted");
        }
        // Never across a file system: a mount missed above keeps what is under it.
        run(Command::new("rm").args(["-rf", "--one-file-system"]).arg(&self.path))
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Err(err) = self.delete() {
            eprintln!("fresh-machine: cannot delete {}: {err:#}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readers_answer_names_the_simulated_eid_only_with_the_card_in_the_simulated_reader() {
        let answer = |name: &str, description: &str| {
            serde_json::json!({
                "data": [{
                    "id": "cbaca527b9d3feb0",
                    "name": name,
                    "pinpad": false,
                    "card": {
                        "atr": "3B9813400AA503010101AD1311",
                        "description": [description],
                        "modules": ["beid"],
                    },
                }],
                "success": true,
            })
            .to_string()
        };
        let eid = "Belgian eID (Belpic applet 1.1, 1.7, 1.8)";
        assert!(names_the_simulated_eid(&answer(SIMULATED_READER, eid)));
        assert!(!names_the_simulated_eid(&answer("Some PC/SC reader", eid)));
        assert!(!names_the_simulated_eid(&answer(SIMULATED_READER, "Unknown card")));
        assert!(!names_the_simulated_eid(r#"{"data":[],"success":true}"#));
        assert!(!names_the_simulated_eid("not json"));
    }
}
