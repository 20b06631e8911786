//! The `t1c-ds` binary: `config show` hides secrets and names bad keys, `admin create-user`
//! makes accounts that can log in, and `serve` writes the bootstrap credential once and shuts
//! down cleanly on SIGTERM.

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_t1c-ds");
/// How long a child process gets to start or stop.
const DEADLINE: Duration = Duration::from_secs(60);

/// `t1c-ds` with a clean environment: none of the caller's `T1C_DS_*` settings leak in.
fn t1c_ds() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("T1C_DS_") {
            command.env_remove(name);
        }
    }
    command.env("T1C_DS_LOG", "warn").stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("t1c-ds runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `t1c-ds serve` on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `serve` on `data` and waits until it answers over HTTPS with its local CA.
    async fn start(data: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").expect("binds").local_addr().expect("a").port();
        let log = std::fs::File::create(data.with_extension("log")).expect("log file");
        let child = t1c_ds()
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("serve starts");
        let mut server = Server {
            child,
            url: format!("https://localhost:{port}"),
            client: reqwest::Client::new(),
        };
        let ca = data.join("tls").join("ca.pem");
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().expect("wait") {
                let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
                panic!("serve exited early with {status}: {log}");
            }
            if let Some(client) = trusting(&ca)
                && client
                    .get(format!("{}/healthz", server.url))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            {
                server.client = client;
                return server;
            }
            assert!(started.elapsed() < DEADLINE, "serve did not answer on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Logs in; returns the HTTP status.
    async fn login(&self, username: &str, password: &str) -> reqwest::StatusCode {
        let response = self
            .client
            .post(format!("{}/v3_5/auth/token", self.url))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login answers");
        response.status()
    }

    /// Sends SIGTERM and waits for the exit.
    async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < DEADLINE, "serve did not stop after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A client trusting the CA at `ca`, once the file is there and complete.
fn trusting(ca: &Path) -> Option<reqwest::Client> {
    let pem = std::fs::read(ca).ok()?;
    let certificate = reqwest::Certificate::from_pem(&pem).ok()?;
    reqwest::Client::builder().no_proxy().add_root_certificate(certificate).build().ok()
}

fn password_line(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| l.strip_prefix("password: ")).map(str::to_owned)
}

#[test]
fn config_show_hides_the_database_password() {
    let data = tempfile::tempdir().expect("tempdir");
    let output = run(t1c_ds()
        .env("T1C_DS_DATABASE_URL", "postgres://u:secretpw@h/db")
        .arg("--data-dir")
        .arg(data.path())
        .args(["config", "show"]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("postgres://u:***@h/db"), "{stdout}");
    assert!(!stdout.contains("secretpw") && !stderr.contains("secretpw"), "{stdout}{stderr}");
    let parsed: toml::Value = toml::from_str(&stdout).expect("config show prints TOML");
    assert_eq!(parsed["database"]["url"].as_str(), Some("postgres://u:***@h/db"));
}

#[test]
fn an_unknown_key_in_the_config_file_is_named_with_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ds.toml");
    std::fs::write(&file, "[server]\nplain_http = true\nlisten_adress = [\"127.0.0.1:1\"]\n")
        .expect("write");
    let output = run(t1c_ds().arg("--config").arg(&file).args(["config", "show"]));
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("listen_adress"), "{stderr}");
    assert!(stderr.contains(&*file.to_string_lossy()), "{stderr}");
}

#[tokio::test]
async fn create_user_prints_a_generated_password_that_logs_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let output = run(t1c_ds()
        .args(["admin", "create-user", "--username", "ops", "--role", "analyst", "--data-dir"])
        .arg(&data));
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(stdout.matches("password: ").count(), 1, "{stdout}");
    let password = password_line(&stdout).expect("a password line");
    assert!(password.len() >= 16, "{password}");
    assert!(!text(&output.stderr).contains(&password), "the password goes to stdout only");

    let server = Server::start(&data).await;
    assert_eq!(server.login("ops", &password).await, 200);
    assert_eq!(server.login("ops", "not-the-password").await, 401);
    drop(server);
}

#[tokio::test]
async fn create_user_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let password = "correct horse battery staple 42";
    let mut child = t1c_ds()
        .args(["admin", "create-user", "--username", "ops", "--password-stdin", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("t1c-ds runs");
    child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("w");
    let output = child.wait_with_output().expect("exits");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(password_line(&stdout), None, "nothing generated, nothing printed: {stdout}");
    assert!(!stdout.contains(password));

    let server = Server::start(&data).await;
    assert_eq!(server.login("ops", password).await, 200);
    drop(server);
}

#[tokio::test]
async fn first_start_writes_the_bootstrap_credential_once_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = data.join("bootstrap-admin.txt");

    let server = Server::start(&data).await;
    let mode = std::fs::metadata(&file).expect("bootstrap file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let written = std::fs::read_to_string(&file).expect("read");
    let password = password_line(&written).expect("a password line");
    assert_eq!(server.login("admin", &password).await, 200);
    assert!(server.terminate().await.success());
    let modified = std::fs::metadata(&file).expect("file").modified().expect("mtime");

    let server = Server::start(&data).await;
    assert_eq!(std::fs::read_to_string(&file).expect("read"), written);
    assert_eq!(std::fs::metadata(&file).expect("file").modified().expect("mtime"), modified);
    assert_eq!(server.login("admin", &password).await, 200);
    drop(server);
}

#[tokio::test]
async fn sigterm_stops_serve_gracefully_with_exit_code_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data")).await;
    // The client keeps its connection open: an idle connection must not hold up the exit
    // for the whole grace period (10 s).
    let asked = Instant::now();
    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(asked.elapsed() < Duration::from_secs(5), "took {:?}", asked.elapsed());
}
