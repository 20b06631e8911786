//! A private D-Bus session bus per test: `dbus-daemon` (Debian package `dbus-daemon`) on a
//! socket in a temporary directory, with a configuration of its own, so no service of the
//! machine is ever activated on it and the developer's desktop is never reached.
//!
//! ```no_run
//! let bus = t1c_testkit::session_bus::SessionBus::start();
//! println!("connect to {}", bus.address());
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The bus's configuration: a session bus on one socket, every local connection of this user
/// allowed, no service directories (so nothing is activated).
const CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// A running private session bus; stopped when dropped.
pub struct SessionBus {
    daemon: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl SessionBus {
    /// Starts the bus and returns once it accepts connections (the daemon prints its address
    /// when it listens).
    ///
    /// # Panics
    /// When `dbus-daemon` is missing or does not start.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        let socket_text = socket.to_str().expect("a UTF-8 temporary path");
        std::fs::write(&config, CONFIG.replace("SOCKET", socket_text)).expect("the bus config");
        let mut daemon = Command::new("dbus-daemon")
            .arg("--nofork")
            .arg("--nopidfile")
            .arg("--print-address=1")
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon (Debian package dbus-daemon)");
        let stdout = daemon.stdout.take().expect("the daemon's stdout");
        let mut address = String::new();
        BufReader::new(stdout).read_line(&mut address).expect("the bus address");
        assert!(!address.trim().is_empty(), "dbus-daemon did not start");
        Self { daemon, address: address.trim().to_owned(), _dir: dir }
    }

    /// The bus's D-Bus address (`unix:path=...,guid=...`).
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
