//! A private `pcscd` with vpcd readers, for tests that go through the real PC/SC stack.
//!
//! [`PrivatePcscd::start`] runs `/usr/sbin/pcscd` in the foreground with a `reader.conf` of its
//! own, naming only vpcd readers on free TCP ports, and its sockets in a temporary directory, so
//! it never touches the system's daemon or readers and tests can run side by side. Connect a
//! [`VpcdBridge`](super::vpcd::VpcdBridge) to [`port`](PrivatePcscd::port) to put a virtual
//! card into reader [`reader_name`](PrivatePcscd::reader_name).
//!
//! Needs Linux with the Debian packages `pcscd` and `vsmartcard-vpcd`, and `unshare`
//! (util-linux): pcsc-lite 1.9 hard-codes its socket as `/run/pcscd/pcscd.comm` (the daemon
//! ignores `PCSCLITE_CSOCK_NAME`), so the daemon runs in a private mount namespace where the
//! temporary directory is mounted over `/run` (as root directly, otherwise inside an
//! unprivileged user namespace).
//!
//! # The client side
//!
//! The PC/SC client library (`libpcsclite`) finds the daemon through the
//! `PCSCLITE_CSOCK_NAME` environment variable of the *calling process*, read once, at its first
//! call. A test must therefore set it to [`socket_path`](PrivatePcscd::socket_path) for its own
//! process before any PC/SC call, and each such test needs a process of its own: run them with
//! `cargo nextest`, which starts one process per test. After [`kill`](PrivatePcscd::kill) and
//! [`restart`](PrivatePcscd::restart) the socket path stays the same, but PC/SC contexts from
//! before are dead: establish a new one.
//!
//! # Readers and ports
//!
//! The Debian vpcd opens two slots per `reader.conf` entry, on `CHANNELID` and `CHANNELID + 1`.
//! Entry `k` is named `T1C Virtual PCD k` and pcscd lists its slots as `T1C Virtual PCD k 00 00`
//! and `T1C Virtual PCD k 00 01`. Reader `i` is slot `i % 2` of entry `i / 2`; with an odd
//! number of readers, pcscd lists one more, unused and always empty, reader.

use std::fs;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where Debian installs the daemon.
const PCSCD: &str = "/usr/sbin/pcscd";
/// Where Debian installs the vpcd driver.
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// `unshare` from util-linux.
const UNSHARE: &str = "/usr/bin/unshare";
/// pcscd handles at most 16 readers.
const MAX_READERS: usize = 16;
/// Slots the Debian vpcd opens per `reader.conf` entry.
const SLOTS_PER_ENTRY: usize = 2;
/// How long the daemon may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How often to look whether it has.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A `pcscd` of the test's own with vpcd readers; killed and cleaned up on drop.
#[derive(Debug)]
pub struct PrivatePcscd {
    dir: TempDir,
    readers: usize,
    /// First port of each `reader.conf` entry; the entry's second slot listens one above.
    entry_ports: Vec<u16>,
    child: Option<Child>,
}

impl PrivatePcscd {
    /// Starts a private `pcscd` with `readers` vpcd readers and waits until it serves them.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] when `pcscd`, the vpcd driver or `unshare` is not installed;
    /// [`io::ErrorKind::InvalidInput`] for 0 or more than 16 readers; any error creating the
    /// directory or the process; [`io::ErrorKind::TimedOut`] or `Other` (with the daemon's log)
    /// when it does not come up.
    pub fn start(readers: usize) -> io::Result<Self> {
        if readers == 0 || readers > MAX_READERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a private pcscd serves 1 to {MAX_READERS} readers, not {readers}"),
            ));
        }
        for (path, what) in
            [(PCSCD, "pcscd"), (VPCD_DRIVER, "the vpcd driver"), (UNSHARE, "unshare")]
        {
            if !Path::new(path).exists() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{what} not found at {path}: install the Debian packages \
                         `pcscd vsmartcard-vpcd` (and util-linux for unshare)"
                    ),
                ));
            }
        }
        let dir = tempfile::Builder::new().prefix("t1c-pcscd-").tempdir()?;
        let entry_ports = free_port_pairs(readers.div_ceil(SLOTS_PER_ENTRY))?;
        fs::create_dir(dir.path().join("run"))?;
        fs::write(dir.path().join("reader.conf"), reader_conf(&entry_ports))?;
        let mut pcscd = Self { dir, readers, entry_ports, child: None };
        pcscd.spawn()?;
        Ok(pcscd)
    }

    /// The daemon's socket: what `PCSCLITE_CSOCK_NAME` must name for PC/SC clients.
    pub fn socket_path(&self) -> PathBuf {
        self.run_dir().join("pcscd.comm")
    }

    /// Points this process's PC/SC client library (libpcsclite) at this daemon, through
    /// `PCSCLITE_CSOCK_NAME`. libpcsclite reads the variable once, so a process can only ever
    /// use one daemon: tests that call this run one per process (cargo nextest).
    ///
    /// # Safety
    /// It sets an environment variable, which is sound only while no other thread reads or
    /// writes the environment (`std::env::set_var`). Call it before the process starts any
    /// other thread (a test harness thread that only waits is fine) or makes any PC/SC call.
    ///
    /// # Panics
    /// When another private daemon was chosen before in this process (a test run with plain
    /// `cargo test`); the message says to use nextest.
    #[allow(unsafe_code)]
    pub unsafe fn use_for_this_process(&self) {
        static SOCKET: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        let socket = self.socket_path();
        let chosen = SOCKET.get_or_init(|| {
            // SAFETY: the caller guarantees no other thread touches the environment now (this
            // function's contract); the OnceLock makes it happen once per process.
            unsafe { std::env::set_var("PCSCLITE_CSOCK_NAME", &socket) };
            socket.clone()
        });
        assert_eq!(
            chosen, &socket,
            "one private pcscd per process: run these tests with cargo nextest"
        );
    }

    /// Number of readers asked for.
    pub fn readers(&self) -> usize {
        self.readers
    }

    /// The TCP port vpcd listens on for reader `i`'s card, if there is such a reader.
    pub fn port(&self, i: usize) -> Option<u16> {
        if i >= self.readers {
            return None;
        }
        let first = *self.entry_ports.get(i / SLOTS_PER_ENTRY)?;
        let slot = u16::try_from(i % SLOTS_PER_ENTRY).ok()?;
        first.checked_add(slot)
    }

    /// The name pcscd lists reader `i` under, if there is such a reader.
    pub fn reader_name(&self, i: usize) -> Option<String> {
        (i < self.readers)
            .then(|| format!("{} 00 {:02X}", entry_name(i / SLOTS_PER_ENTRY), i % SLOTS_PER_ENTRY))
    }

    /// The daemon's log (standard output and error, across restarts), for failing tests.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("pcscd.log")
    }

    /// Whether the daemon process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the daemon (SIGKILL, as a crash would) and waits for it to exit. Does nothing
    /// when it is not running.
    ///
    /// # Errors
    /// When the process cannot be signalled or waited for.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                child.kill()?;
            }
            child.wait()?;
        }
        Ok(())
    }

    /// Kills the daemon if it runs and starts it again with the same readers, ports and socket
    /// path, waiting until it serves them.
    ///
    /// # Errors
    /// As [`kill`](Self::kill) and [`start`](Self::start).
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill()?;
        // A killed daemon leaves its socket and pid file behind; a new one refuses to start
        // next to them.
        for stale in ["pcscd.comm", "pcscd.pid"] {
            match fs::remove_file(self.run_dir().join(stale)) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
        self.spawn()
    }

    /// `/run/pcscd` as the daemon sees it.
    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run").join("pcscd")
    }

    fn spawn(&mut self) -> io::Result<()> {
        let log = fs::OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let mut command = Command::new(UNSHARE);
        if fs::metadata("/proc/self")?.uid() != 0 {
            command.args(["--user", "--map-root-user"]);
        }
        // unshare and sh exec in turn, so the child's pid ends up being pcscd's.
        command
            .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
            .arg(r#"mount --bind "$1" /run && exec "$2" --foreground --config "$3""#)
            .arg("sh")
            .arg(self.dir.path().join("run"))
            .arg(PCSCD)
            .arg(self.dir.path().join("reader.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.child = Some(command.spawn()?);
        self.wait_until_ready()
    }

    /// Polls until the daemon accepts clients and vpcd listens on every port, or fails with
    /// the daemon's log when it exits or the deadline passes.
    fn wait_until_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let ports: Vec<u16> = (0..self.readers).filter_map(|i| self.port(i)).collect();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "pcscd exited during start-up ({status}); its log:\n{}",
                    self.log()
                )));
            }
            if UnixStream::connect(self.socket_path()).is_ok() && listening(&ports)? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = self.log();
                self.kill()?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("pcscd did not come up within {START_TIMEOUT:?}; its log:\n{log}"),
                ));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn log(&self) -> String {
        let mut log = String::new();
        // The log only decorates an error; an unreadable one is left out.
        let _ = fs::File::open(self.log_path()).and_then(|mut file| file.read_to_string(&mut log));
        log
    }
}

impl Drop for PrivatePcscd {
    fn drop(&mut self) {
        // Nothing to report to from a destructor; the directory goes either way.
        let _ = self.kill();
    }
}

fn entry_name(entry: usize) -> String {
    format!("T1C Virtual PCD {entry}")
}

/// A `reader.conf` with one vpcd entry per first port.
fn reader_conf(entry_ports: &[u16]) -> String {
    entry_ports
        .iter()
        .enumerate()
        .map(|(entry, port)| {
            format!(
                "FRIENDLYNAME \"{}\"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\n\
                 CHANNELID {port}\n\n",
                entry_name(entry)
            )
        })
        .collect()
}

/// `count` ports `p` such that `p` and `p + 1` are both free on all interfaces (vpcd binds
/// `0.0.0.0`). The listeners are held until all are chosen, so no two pairs overlap, and
/// released on return for vpcd to bind.
fn free_port_pairs(count: usize) -> io::Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(count);
    let mut attempts = 0;
    while ports.len() < count {
        attempts += 1;
        if attempts > 100 {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no pair of adjacent free TCP ports found",
            ));
        }
        let first = TcpListener::bind(("0.0.0.0", 0))?;
        let port = first.local_addr()?.port();
        let Some(next) = port.checked_add(1) else { continue };
        match TcpListener::bind(("0.0.0.0", next)) {
            Ok(second) => {
                ports.push(port);
                held.push(first);
                held.push(second);
            }
            // Keep `first` bound so the next attempt gets another port.
            Err(_) => held.push(first),
        }
    }
    Ok(ports)
}

/// Whether something listens on each of `ports` (IPv4), per `/proc/net/tcp`. Reading the
/// table instead of connecting keeps probes from looking like a card to vpcd.
fn listening(ports: &[u16]) -> io::Result<bool> {
    const LISTEN: &str = "0A";
    let table = fs::read_to_string("/proc/net/tcp")?;
    let listening: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            let (_, port) = local.split_once(':')?;
            (state == LISTEN).then(|| u16::from_str_radix(port, 16).ok()).flatten()
        })
        .collect();
    Ok(ports.iter().all(|port| listening.contains(port)))
}
