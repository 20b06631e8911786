//! A PostgreSQL database per test, for the Distribution Service's tests.
//!
//! [`TestDatabase::start`] gives each test a database of its own, in one of two ways:
//!
//! - With `T1C_DS_TEST_DATABASE_URL` set (a `postgres://` URL to a server where the user may
//!   `CREATE DATABASE`), it creates `t1c_test_<random hex>` there with the `psql` client, and
//!   drops it (`WITH (FORCE)`) when the [`TestDatabase`] is dropped.
//! - Otherwise it starts a private server from Debian's `postgresql` package (the highest
//!   version under `/usr/lib/postgresql/*/bin`): a copy of a template cluster in a fresh
//!   temporary directory, listening on 127.0.0.1 on a free port and on a socket in that
//!   directory, with durability off (`fsync`, `synchronous_commit`, `full_page_writes`). Dropping
//!   the [`TestDatabase`] stops the server (immediate shutdown) and removes the directory.
//!
//! The template cluster (`initdb` plus the `t1c` database) is made once per machine, user and
//! PostgreSQL major version, under the temporary directory: built in a directory of its own and
//! renamed into place when complete, so parallel tests never see half a template; two tests that
//! race to build it each build one and the loser throws its copy away. Copying it (`cp -a`) is
//! about five times faster than `initdb`.
//!
//! PostgreSQL refuses to run as root: as root, the server runs as `nobody` (through `setpriv`,
//! util-linux) in directories under `/tmp` handed to `nobody`.
//!
//! A test killed hard (SIGKILL, a nextest timeout) cannot run `Drop`, so each server comes with a
//! watchdog: a `sh` holding the read end of a pipe whose write end only the test process holds.
//! When the test process ends, however it ends, the pipe closes and the watchdog stops the server.
//!
//! This module starts processes and touches nothing else: no environment variable is set, no
//! Rust PostgreSQL driver is linked (callers bring their own, e.g. sqlx).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The environment variable naming an existing server to create test databases on.
pub const DATABASE_URL_ENV: &str = "T1C_DS_TEST_DATABASE_URL";

/// The user the private server's superuser is called, and its database.
const USER: &str = "t1c";
const DATABASE: &str = "t1c";
/// Where Debian installs PostgreSQL's server binaries, one directory per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// How long a private server may take to accept connections.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long to wait for a stopped server to exit before killing it.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// How many free ports to try when another process takes the one picked first.
const PORT_ATTEMPTS: usize = 5;
/// Bumped when what the template holds changes, so an old template is not reused.
const TEMPLATE_FORMAT: u32 = 1;

/// What went wrong starting a [`TestDatabase`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// No `/usr/lib/postgresql/*/bin/initdb`.
    #[error(
        "PostgreSQL's server binaries were not found under {DEBIAN_ROOT}/*/bin: install Debian's \
         `postgresql` package, or set {DATABASE_URL_ENV} to the URL of a server"
    )]
    NotInstalled,
    /// `T1C_DS_TEST_DATABASE_URL` is not a `postgres://` or `postgresql://` URL.
    #[error("{DATABASE_URL_ENV} must be a postgres:// or postgresql:// URL")]
    BadUrl,
    /// A program could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command, without secrets.
        command: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A program ran and failed.
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        /// The command, without secrets.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What it printed (stdout then stderr).
        output: String,
    },
    /// A file-system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The server exited or did not become ready in time.
    #[error("the PostgreSQL server did not start: {reason}; the end of its log:\n{log_tail}")]
    ServerDidNotStart {
        /// What was seen.
        reason: String,
        /// The last lines of the server's log.
        log_tail: String,
    },
}

/// A PostgreSQL database for one test; dropping it stops the server it started (or drops the
/// database it created).
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    backing: Backing,
}

#[derive(Debug)]
enum Backing {
    /// A server of our own, stopped on drop.
    Server(Server),
    /// A database on the server of `T1C_DS_TEST_DATABASE_URL`, dropped on drop.
    Database { admin_url: String, name: String },
}

impl TestDatabase {
    /// Starts one: a fresh database on the server named by `T1C_DS_TEST_DATABASE_URL` when it is
    /// set, else a private server (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`PostgresError`] says which step failed; when the server did not start, it carries the
    /// end of the server's log.
    pub fn start() -> Result<TestDatabase, PostgresError> {
        match std::env::var(DATABASE_URL_ENV) {
            Ok(admin_url) if !admin_url.is_empty() => TestDatabase::on_server(admin_url),
            _ => TestDatabase::private(),
        }
    }

    /// A sqlx-compatible URL of the database: `postgres://t1c@127.0.0.1:<port>/t1c` for a private
    /// server, the `T1C_DS_TEST_DATABASE_URL` with the new database's name otherwise.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn on_server(admin_url: String) -> Result<TestDatabase, PostgresError> {
        let name = format!("t1c_test_{}", random_hex()?);
        let url = with_database(&admin_url, &name).ok_or(PostgresError::BadUrl)?;
        psql(&admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(TestDatabase { url, backing: Backing::Database { admin_url, name } })
    }

    fn private() -> Result<TestDatabase, PostgresError> {
        let bin = server_binaries()?;
        let template = template(&bin)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Server::start(&bin, &template) {
                Ok(server) => {
                    let url = format!("postgres://{USER}@127.0.0.1:{}/{DATABASE}", server.port);
                    return Ok(TestDatabase { url, backing: Backing::Server(server) });
                }
                // Another process took the port between our probe and the server's bind.
                Err(StartError::PortTaken) if attempt < PORT_ATTEMPTS => continue,
                Err(StartError::PortTaken) => {
                    return Err(PostgresError::ServerDidNotStart {
                        reason: format!("no free port after {PORT_ATTEMPTS} attempts"),
                        log_tail: String::new(),
                    });
                }
                Err(StartError::Other(e)) => return Err(e),
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &mut self.backing {
            Backing::Server(server) => server.stop(),
            Backing::Database { admin_url, name } => {
                if let Err(e) = psql(admin_url, &format!("DROP DATABASE {name} WITH (FORCE)")) {
                    eprintln!("t1c-testkit: could not drop test database {name}: {e}");
                }
            }
        }
    }
}

/// A private server: the postmaster, its watchdog, and the directory holding its data, socket
/// and log.
#[derive(Debug)]
struct Server {
    postmaster: Child,
    watchdog: Option<Watchdog>,
    port: u16,
    dir: Option<TempDir>,
}

#[derive(Debug)]
struct Watchdog {
    process: Child,
    /// The pipe's write end; closing it tells the watchdog to stop the server.
    pipe: ChildStdin,
}

enum StartError {
    PortTaken,
    Other(PostgresError),
}

impl From<PostgresError> for StartError {
    fn from(e: PostgresError) -> StartError {
        StartError::Other(e)
    }
}

impl Server {
    fn start(bin: &Path, template: &Path) -> Result<Server, StartError> {
        let dir = private_dir("t1c-pg-")?;
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        let log = dir.path().join("server.log");
        run(Command::new("cp").arg("-a").arg(template).arg(&data))?;
        fs::create_dir(&socket).map_err(io_error("creating the socket directory"))?;
        hand_over(&socket)?;
        let log_file = File::create(&log).map_err(io_error("creating the server log"))?;
        let log_err = log_file.try_clone().map_err(io_error("opening the server log"))?;

        let port = free_port()?;
        let mut command = as_server_user(&bin.join("postgres"));
        command
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(&socket)
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "shared_buffers=32MB"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let postmaster = command.spawn().map_err(spawn_error("postgres"))?;
        let mut server = Server { postmaster, watchdog: None, port, dir: Some(dir) };
        server.watchdog = Some(Watchdog::start(server.postmaster.id())?);
        server.wait_ready(bin, &log)?;
        Ok(server)
    }

    /// Polls `pg_isready` until the server accepts connections, it exits, or the deadline passes.
    fn wait_ready(&mut self, bin: &Path, log: &Path) -> Result<(), StartError> {
        let deadline = Instant::now() + READY_DEADLINE;
        let port = self.port.to_string();
        loop {
            if let Ok(Some(status)) = self.postmaster.try_wait() {
                let log_tail = tail(log);
                if log_tail.contains("Address already in use") {
                    return Err(StartError::PortTaken);
                }
                let reason = format!("it exited ({status})");
                return Err(PostgresError::ServerDidNotStart { reason, log_tail }.into());
            }
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port, "-U", USER, "-d", DATABASE])
                .stdin(Stdio::null())
                .status()
                .map_err(spawn_error("pg_isready"))?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let reason = format!("not ready after {READY_DEADLINE:?}");
                return Err(PostgresError::ServerDidNotStart { reason, log_tail: tail(log) }.into());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Immediate shutdown (SIGQUIT, sent by the watchdog), then removes the directory.
    fn stop(&mut self) {
        // Closing the pipe makes the watchdog signal the postmaster, which is our child and not
        // yet reaped, so its pid cannot have been reused. One that exited and was reaped
        // already (a failed start) must not be signalled: the watchdog is killed instead.
        let reaped = matches!(self.postmaster.try_wait(), Ok(Some(_)));
        match self.watchdog.take() {
            Some(watchdog) => {
                let mut process = watchdog.process;
                if reaped {
                    let _ = process.kill();
                }
                drop(watchdog.pipe);
                let _ = process.wait();
            }
            // The watchdog did not start: no graceful way left.
            None if !reaped => {
                let _ = self.postmaster.kill();
            }
            None => {}
        }
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            match self.postmaster.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.postmaster.kill();
                    let _ = self.postmaster.wait();
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
            }
        }
        if let Some(dir) = self.dir.take()
            && let Err(e) = dir.close()
        {
            eprintln!("t1c-testkit: could not remove a test server's directory: {e}");
        }
    }
}

/// Also when a start fails half-way; stopping twice is harmless.
impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Watchdog {
    /// A `sh` that sends SIGQUIT to `postmaster` once its stdin reaches end of file, which
    /// happens when the test process closes the pipe or ends.
    fn start(postmaster: u32) -> Result<Watchdog, PostgresError> {
        let mut process = Command::new("sh")
            .args(["-c", "read _; kill -QUIT \"$1\" 2>/dev/null", "t1c-pg-watchdog"])
            .arg(postmaster.to_string())
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(spawn_error("sh (watchdog)"))?;
        match process.stdin.take() {
            Some(pipe) => Ok(Watchdog { process, pipe }),
            None => Err(PostgresError::Spawn {
                command: "sh (watchdog)".into(),
                source: io::Error::other("no stdin pipe"),
            }),
        }
    }
}

/// The `bin` directory of the highest PostgreSQL version Debian installed.
fn server_binaries() -> Result<PathBuf, PostgresError> {
    let entries = fs::read_dir(DEBIAN_ROOT).map_err(|_| PostgresError::NotInstalled)?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: f64 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, bin)| bin)
        .ok_or(PostgresError::NotInstalled)
}

/// The template cluster for `bin`'s version, built if missing: `initdb` and the `t1c` database.
fn template(bin: &Path) -> Result<PathBuf, PostgresError> {
    let version = bin
        .parent()
        .and_then(Path::file_name)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let euid = euid();
    let name = format!("t1c-pg-template-{version}-f{TEMPLATE_FORMAT}-u{euid}");
    let template = temp_root().join(&name);
    if template.join("PG_VERSION").is_file() {
        return Ok(template);
    }

    let staging = private_dir(&format!("{name}.building-"))?;
    let data = staging.path().join("data");
    run(as_server_user(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", USER, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        .current_dir(staging.path()))?;
    // Single-user mode makes the database without starting a server.
    let mut single = as_server_user(&bin.join("postgres"));
    single.args(["--single", "-F", "-D"]).arg(&data).arg("postgres").current_dir(staging.path());
    run_with_input(&mut single, &format!("CREATE DATABASE {DATABASE};\n"))?;

    // Renaming onto a template another test completed meanwhile fails (the directory is not
    // empty): use theirs, and dropping `staging` removes ours.
    match fs::rename(&data, &template) {
        Ok(()) => Ok(template),
        Err(_) if template.join("PG_VERSION").is_file() => Ok(template),
        Err(source) => {
            Err(PostgresError::Io { what: format!("renaming the template to {name}"), source })
        }
    }
}

/// Are we root, so the server must run as `nobody`?
fn is_root() -> bool {
    euid() == 0
}

#[allow(unsafe_code)] // geteuid: FFI without preconditions, cannot fail.
fn euid() -> u32 {
    // SAFETY: geteuid(2) takes nothing and always succeeds.
    unsafe { libc::geteuid() }
}

/// Where test directories go: `/tmp` as root (the system temporary directory may not be
/// traversable by `nobody`), the temporary directory otherwise.
fn temp_root() -> PathBuf {
    if is_root() { PathBuf::from("/tmp") } else { std::env::temp_dir() }
}

/// A fresh directory under [`temp_root`] that the server's user owns.
fn private_dir(prefix: &str) -> Result<TempDir, PostgresError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(temp_root())
        .map_err(io_error("creating a temporary directory"))?;
    hand_over(dir.path())?;
    Ok(dir)
}

/// As root, gives `path` to `nobody`; otherwise nothing.
fn hand_over(path: &Path) -> Result<(), PostgresError> {
    if is_root() {
        run(Command::new("chown").arg("nobody:nogroup").arg(path))?;
    }
    Ok(())
}

/// `program`, run as `nobody` when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A port nobody listens on now (the server may still lose it to another process).
fn free_port() -> Result<u16, PostgresError> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(io_error("finding a free port"))?;
    let port = listener.local_addr().map_err(io_error("finding a free port"))?.port();
    Ok(port)
}

/// Runs `psql` on `url` with one SQL command.
fn psql(url: &str, sql: &str) -> Result<(), PostgresError> {
    // The URL may hold a password: the command as reported leaves it out.
    let shown = format!("psql -c '{sql}'");
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PostgresError::Spawn {
            command: format!("{shown} (Debian package `postgresql-client`)"),
            source,
        })?;
    check(shown, output)
}

fn run(command: &mut Command) -> Result<(), PostgresError> {
    let shown = format!("{command:?}");
    let output = command.stdin(Stdio::null()).output().map_err(spawn_error(&shown))?;
    check(shown, output)
}

fn run_with_input(command: &mut Command, input: &str) -> Result<(), PostgresError> {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error(&shown))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(io_error("writing to postgres --single"))?;
    }
    let output = child.wait_with_output().map_err(spawn_error(&shown))?;
    check(shown, output)
}

fn check(command: String, output: Output) -> Result<(), PostgresError> {
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(PostgresError::Failed { command, status: output.status, output: text })
}

/// `url` with its path (the database) replaced by `database`; `None` if it is not a
/// `postgres://` URL.
fn with_database(url: &str, database: &str) -> Option<String> {
    let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://"))?;
    let scheme_len = url.len() - rest.len();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (head, path_and_query) = url.split_at(scheme_len + authority_end);
    let query = path_and_query.find('?').map_or("", |i| &path_and_query[i..]);
    Some(format!("{head}/{database}{query}"))
}

/// 16 random hex digits, from the kernel.
fn random_hex() -> Result<String, PostgresError> {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io_error("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The last 30 lines of the server's log.
fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn io_error(what: &str) -> impl FnOnce(io::Error) -> PostgresError + '_ {
    move |source| PostgresError::Io { what: what.to_owned(), source }
}

fn spawn_error(command: &str) -> impl FnOnce(io::Error) -> PostgresError + '_ {
    move |source| PostgresError::Spawn { command: command.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn url_gets_the_new_database_and_keeps_the_rest() {
        let cases = [
            ("postgres://u:p@h:5432/postgres", "postgres://u:p@h:5432/db"),
            ("postgresql://u@h", "postgresql://u@h/db"),
            ("postgres://u@h/x?sslmode=disable", "postgres://u@h/db?sslmode=disable"),
            ("postgres://u@h?host=/run/pg", "postgres://u@h/db?host=/run/pg"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "db").as_deref(), Some(expected), "{url}");
        }
        assert_eq!(with_database("host=h dbname=x", "db"), None);
    }
}
