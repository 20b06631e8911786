//! The last check of `cargo xtask package`: both packages installed for real, with `apt-get`,
//! into a throwaway fresh Debian 12 root (unpacked from `fresh_machine`'s cached debootstrap
//! tarball), their maintainer scripts run by dpkg, no systemd running (as in a container).
//!
//! In the root, in private mount and PID namespaces: `apt-get install ./t1c_*.deb
//! ./t1c-ds_*.deb` (the Depends come from Debian's mirror); the installed files, the `t1c-ds`
//! system user owning `/var/lib/t1c-ds` and the configuration's group are checked; the units
//! pass `systemd-analyze verify` against the root; the DS is started as its unit starts it
//! (its `User=`, `Environment=` and `ExecStart=`, on a free port) and must answer `/readyz`;
//! the connector is started as its user unit starts it for a new user (`useradd`), on a free
//! port, and must answer `/info` and have installed the packaged modules. Then
//! `apt-get remove t1c` must take the binary and keep the user's data, and `apt-get purge
//! t1c-ds` must take the DS's data, configuration and system user. The root is deleted after,
//! on failure too. Each command's output goes to `target/fresh-machine/install-*.log`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::fresh_machine::{self, Inside, Machine};
use crate::{free_port, run, setup};

/// Room an install needs: the root with both packages and their Depends, plus a margin.
const NEEDED_MIB: u64 = 2 * 1024;
/// How long a started server may take to answer (its first start makes its TLS files).
const START_DEADLINE: Duration = Duration::from_secs(120);
/// The modules the connector's package holds (`usr/lib/t1c/modules/<name>.t1cm`).
const PACKAGED_MODULES: [&str; 3] = ["beid", "pkcs11", "fileexchange"];
/// The ordinary user the connector runs as.
const USER: &str = "tester";
/// The environment of a command inside, before the unit's own.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Installs `connector` and `ds` (their .deb files) into a fresh Debian 12 root, checks the
/// installed result, starts both, removes and purges them, and deletes the root.
///
/// # Errors
/// Not root and no sudo, the root cannot be made, a maintainer script or a check fails, or a
/// server does not answer in time.
pub fn check(root: &Path, connector: &Path, ds: &Path) -> Result<()> {
    if !setup::is_root() {
        return run(Command::new("sudo")
            .arg("--preserve-env=T1C_DEBIAN_MIRROR")
            .arg(std::env::current_exe()?)
            .arg("fresh-install")
            .arg(connector)
            .arg(ds))
        .context("the install into a fresh root needs root (debootstrap, chroot, namespaces)");
    }
    let work = root.join("target/fresh-machine");
    fs::create_dir_all(&work)?;
    let machine = Machine::new(work.join("install-root"))?;
    fresh_machine::ensure_room(&work, NEEDED_MIB)?;
    let mut steps = Steps { done: Vec::new(), since: Instant::now() };

    let (tarball, _) = fresh_machine::tarball(&work)?;
    fresh_machine::unpack(&tarball, &machine.path)?;
    fs::copy("/etc/resolv.conf", machine.path.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf")?;
    let packages = machine.path.join("tmp/packages");
    fs::create_dir_all(&packages)?;
    for package in [connector, ds] {
        let name = package.file_name().context("a package without a file name")?;
        fs::copy(package, packages.join(name))?;
    }
    steps.done("unpack a fresh Debian 12 root");

    let inside = |shell: &str, log: &str| {
        let log = work.join(format!("install-{log}.log"));
        Inside::start(&machine.path, None, &with_path(shell), "", &log)?.finish()
    };
    inside(
        "export DEBIAN_FRONTEND=noninteractive && apt-get update && \
         cd /tmp/packages && apt-get install -y ./t1c_*.deb ./t1c-ds_*.deb && \
         dpkg-query -W -f '${Package} ${Status}\\n' t1c t1c-ds",
        "apt",
    )?;
    steps.done("apt-get install both packages");

    check_installed(&machine.path)?;
    verify_units(&machine.path, &work)?;
    steps.done("check the installed files, the DS's user and the units");

    start_ds(&machine.path, &work)?;
    steps.done("start the installed DS as its unit does until /readyz is ok");

    inside(&format!("useradd --create-home {USER}"), "useradd")?;
    start_connector(&machine.path, &work)?;
    // The unit's `t1c trust` added the connector's CA to the user's NSS database.
    let ca_listed = format!(
        "list=$(runuser -u {USER} -- certutil -L -d sql:/home/{USER}/.pki/nssdb) && \
         printf '%s' \"$list\" | grep -q 'T1C local CA'"
    );
    inside(&ca_listed, "trusted")
        .context("the connector's CA is not in the user's NSS database")?;
    steps.done("start the installed connector as a user's unit does until /info answers");

    inside("DEBIAN_FRONTEND=noninteractive apt-get remove -y t1c", "remove")?;
    // The prerm took the CA out of the database `t1c trust` added it to.
    inside(&ca_listed.replace("printf", "! printf"), "untrusted")
        .context("after apt-get remove t1c, the connector's CA is still trusted by the user")?;
    let home_data = format!("home/{USER}/.local/share/t1c");
    for (gone, path) in
        [(true, "usr/bin/t1c"), (true, "usr/lib/systemd/user/t1c.service"), (false, &home_data)]
    {
        if machine.path.join(path).exists() == gone {
            let state = if gone { "still there" } else { "gone" };
            bail!("after apt-get remove t1c, /{path} is {state}");
        }
    }
    inside("DEBIAN_FRONTEND=noninteractive apt-get purge -y t1c-ds", "purge")?;
    for path in ["usr/bin/t1c-ds", "var/lib/t1c-ds", "etc/t1c-ds/config.toml"] {
        if machine.path.join(path).exists() {
            bail!("after apt-get purge t1c-ds, /{path} is still there");
        }
    }
    for database in ["etc/passwd", "etc/group"] {
        if entry(&machine.path, database, "t1c-ds")?.is_some() {
            bail!("after apt-get purge t1c-ds, /{database} still has t1c-ds");
        }
    }
    steps.done("apt-get remove t1c, apt-get purge t1c-ds");

    let size = machine.size_mib()?;
    drop(machine);
    steps.done("delete the root");
    println!("fresh-install: both packages install, start, remove and purge in a fresh Debian 12");
    for (step, took) in &steps.done {
        println!("  {took:>8.1?}  {step}");
    }
    println!("  the root with both packages installed: {size} MiB");
    Ok(())
}

/// The steps done so far and how long each took.
struct Steps {
    done: Vec<(&'static str, Duration)>,
    since: Instant,
}

impl Steps {
    fn done(&mut self, step: &'static str) {
        let took = self.since.elapsed();
        println!("fresh-install: {took:.1?}: {step}");
        self.done.push((step, took));
        self.since = Instant::now();
    }
}

/// `shell` with a system's `PATH` (the namespace's command has an empty environment).
fn with_path(shell: &str) -> String {
    format!("export PATH={PATH}\n{shell}")
}

/// The installed files are in place, and the DS's system user owns its data.
fn check_installed(machine: &Path) -> Result<()> {
    for path in [
        "usr/bin/t1c",
        "usr/lib/systemd/user/t1c.service",
        "usr/bin/t1c-ds",
        "usr/lib/systemd/system/t1c-ds.service",
        "etc/t1c-ds/config.toml",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(PACKAGED_MODULES.map(|module| format!("usr/lib/t1c/modules/{module}.t1cm")))
    {
        if !machine.join(&path).is_file() {
            bail!("the installed packages lack /{path}");
        }
    }
    let user = entry(machine, "etc/passwd", "t1c-ds")?.context("no t1c-ds user after install")?;
    let group = entry(machine, "etc/group", "t1c-ds")?.context("no t1c-ds group after install")?;
    let id = |fields: &[String]| fields.get(2).and_then(|id| id.parse::<u32>().ok());
    let (uid, gid) = (id(&user), id(&group));
    if uid.is_none_or(|uid| uid >= 1000) {
        bail!("t1c-ds is not a system user: {}", user.join(":"));
    }
    let data = fs::metadata(machine.join("var/lib/t1c-ds"))?;
    if Some(data.uid()) != uid || Some(data.gid()) != gid || data.mode() & 0o777 != 0o750 {
        bail!(
            "/var/lib/t1c-ds is {}:{} {:o}, not t1c-ds's with mode 750",
            data.uid(),
            data.gid(),
            data.permissions().mode()
        );
    }
    let config = fs::metadata(machine.join("etc/t1c-ds/config.toml"))?;
    if config.uid() != 0 || Some(config.gid()) != gid || config.mode() & 0o777 != 0o640 {
        bail!("/etc/t1c-ds/config.toml is not root:t1c-ds with mode 640");
    }
    Ok(())
}

/// The line for `name` in the root's `database` (`etc/passwd`, `etc/group`), split at `:`.
fn entry(machine: &Path, database: &str, name: &str) -> Result<Option<Vec<String>>> {
    let text = fs::read_to_string(machine.join(database))?;
    Ok(text
        .lines()
        .map(|line| line.split(':').map(str::to_owned).collect::<Vec<_>>())
        .find(|fields| fields.first().is_some_and(|first| first == name)))
}

/// `systemd-analyze verify` (the host's) of both installed units; any finding fails. The
/// system unit is verified against the root (`--root`; the root has no systemd, so the targets
/// it orders itself after are missing: `--recursive-errors=no`). `--root` does not work for
/// user units, so the user unit is verified as a copy whose `/usr/bin/` paths point into the
/// root.
fn verify_units(machine: &Path, work: &Path) -> Result<()> {
    let verify = |command: &mut Command| -> Result<()> {
        let output = command.output().context("cannot run systemd-analyze")?;
        let findings = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || !findings.trim().is_empty() {
            bail!("systemd-analyze verify of an installed unit ({}):\n{findings}", output.status);
        }
        Ok(())
    };
    verify(
        Command::new("systemd-analyze")
            .args(["verify", "--recursive-errors=no"])
            .arg(format!("--root={}", machine.display()))
            .arg("/usr/lib/systemd/system/t1c-ds.service"),
    )?;
    let scratch = work.join("install-user-unit");
    let _ = fs::remove_dir_all(&scratch);
    let runtime = scratch.join("runtime");
    fs::create_dir_all(&runtime)?;
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700))?;
    let unit = fs::read_to_string(machine.join("usr/lib/systemd/user/t1c.service"))?;
    let copy = scratch.join("t1c.service");
    fs::write(&copy, unit.replace("/usr/bin/", &format!("{}/usr/bin/", machine.display())))?;
    let outcome = verify(
        Command::new("systemd-analyze")
            .args(["verify", "--user"])
            .arg(&copy)
            .env("XDG_RUNTIME_DIR", &runtime),
    );
    fs::remove_dir_all(&scratch)?;
    outcome
}

/// A unit file's settings: every `Key=value` line, in order.
fn unit_settings(machine: &Path, unit: &str) -> Result<Vec<(String, String)>> {
    let text =
        fs::read_to_string(machine.join(unit)).with_context(|| format!("reading /{unit}"))?;
    Ok(text
        .lines()
        .filter(|line| !line.starts_with(['#', ';', '[']))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect())
}

/// The one value of `key` in `settings`.
fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Result<&'a str> {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.as_str())
        .with_context(|| format!("the unit has no {key}="))
}

/// The unit's `Environment=` assignments, each quoted for the shell.
fn environment(settings: &[(String, String)]) -> String {
    settings
        .iter()
        .filter(|(key, _)| key == "Environment")
        .map(|(_, value)| format!("'{}'", value.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts the installed DS as its system unit does (as its `User=`, with its `Environment=`,
/// running its `ExecStart=`), listening on a free loopback port; `/readyz` must answer ok.
fn start_ds(machine: &Path, work: &Path) -> Result<()> {
    let unit = unit_settings(machine, "usr/lib/systemd/system/t1c-ds.service")?;
    let port = free_port()?;
    let shell = format!(
        "exec runuser -u {} -- env -i PATH={PATH} HOME=/var/lib/t1c-ds {} {} --listen \"127.0.0.1:$1\"",
        setting(&unit, "User")?,
        environment(&unit),
        setting(&unit, "ExecStart")?,
    );
    let log = work.join("install-ds.log");
    let mut ds = Inside::start(machine, None, &with_path(&shell), &port.to_string(), &log)?;
    let ca = machine.join("var/lib/t1c-ds/tls/ca.pem");
    let url = format!("https://localhost:{port}/readyz");
    let ready = |answer: &str| {
        serde_json::from_str::<serde_json::Value>(answer).is_ok_and(|json| json["status"] == "ok")
    };
    let answer = fresh_machine::poll(&mut ds, &ca, &url, START_DEADLINE, ready)?;
    println!("fresh-install: the installed DS's {url} answered {answer}");
    ds.stop();
    Ok(())
}

/// Starts the installed connector as its user unit does for a new user (its `Environment=`,
/// `ExecStartPre=` allowed to fail, `ExecStart=`), on a free port; `/info` must answer and list
/// the packaged modules as installed.
fn start_connector(machine: &Path, work: &Path) -> Result<()> {
    let unit = unit_settings(machine, "usr/lib/systemd/user/t1c.service")?;
    let as_user =
        format!("runuser -u {USER} -- env -i PATH={PATH} HOME=/home/{USER} {}", environment(&unit));
    // `ExecStartPre=-...`: its failure does not stop the unit.
    let before = setting(&unit, "ExecStartPre")?.trim_start_matches('-');
    let shell = format!(
        "{as_user} {before} || true\nexec {as_user} {} --port \"$1\"",
        setting(&unit, "ExecStart")?
    );
    let port = free_port()?;
    let log = work.join("install-connector.log");
    let mut connector = Inside::start(machine, None, &with_path(&shell), &port.to_string(), &log)?;
    let ca = machine.join(format!("home/{USER}/.local/share/t1c/tls/ca.pem"));
    let url = format!("https://localhost:{port}/info");
    let modules = |answer: &str| -> Option<Vec<String>> {
        let json = serde_json::from_str::<serde_json::Value>(answer).ok()?;
        let listed = json["data"]["t1CInfoAPI"]["modules"].as_array()?;
        Some(listed.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect())
    };
    let answer =
        fresh_machine::poll(&mut connector, &ca, &url, START_DEADLINE, |a| modules(a).is_some())?;
    connector.stop();
    let installed = modules(&answer).unwrap_or_default();
    println!("fresh-install: the installed connector's {url} lists the modules {installed:?}");
    for packaged in PACKAGED_MODULES {
        if !installed.iter().any(|m| m == packaged) {
            bail!("the installed connector did not install its packaged {packaged} module");
        }
    }
    Ok(())
}
