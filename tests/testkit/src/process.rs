//! The connector as a process: `t1c serve` started by a [`Command`] the test prepares, ready
//! once its log says so, killed when dropped.
//!
//! ```no_run
//! let mut command = std::process::Command::new("target/debug/t1c");
//! command.args(["serve", "--simulate", "--port", "51999"]);
//! let connector = t1c_testkit::process::ConnectorProcess::start(command);
//! // ... talk to https://localhost:51999 ...
//! drop(connector);
//! ```

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The log line `t1c serve` writes once its listeners and admin socket serve.
pub const READY_LINE: &str = "admin API listening";

/// How long a connector may take to start (it compiles its modules on a cold cache).
const START_DEADLINE: Duration = Duration::from_secs(180);

/// A running `t1c serve` process and the log it wrote.
pub struct ConnectorProcess {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl ConnectorProcess {
    /// Starts `command` (a `t1c serve`, or a shell that `exec`s one) with its standard error
    /// read by this kit, and returns once the process logged [`READY_LINE`].
    ///
    /// # Panics
    /// When the process does not start, exits, or is not ready within three minutes; the
    /// message holds its log.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the connector starts");
        let stderr = child.stderr.take().expect("piped standard error");
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let writer = log.clone();
        // Reads the log to its end, so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let ready = line.contains(READY_LINE);
                if let Ok(mut log) = writer.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                if ready {
                    let _ = ready_tx.send(());
                }
            }
        });
        let mut process = Self { child, log };
        let deadline = Instant::now() + START_DEADLINE;
        match ready_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => process,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = process.child.wait().expect("wait");
                panic!("the connector exited with {status} before it was ready:\n{}", process.log())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = process.child.kill();
                panic!("the connector was not ready within {START_DEADLINE:?}:\n{}", process.log())
            }
        }
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

impl Drop for ConnectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
