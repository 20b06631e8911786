//! The real connector under continuous load: `t1c modules install` of v2 mid-stream and then
//! `t1c modules rollback` (through the admin socket) fail no request; every request started
//! after the install returned is answered by v2, and after the rollback by v1 again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use t1c_bundle::SigningKey;

/// Parallel clients driving requests.
const CLIENTS: usize = 6;

struct Connector {
    child: Child,
    config: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Connector {
    fn start(dir: &Path, key: &SigningKey) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let data = dir.join("data");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nport = {port}\n\n[modules]\ntrusted_keys = [\"{}\"]\n\
                 trust_development_key = false\n",
                key.public_key()
            ),
        )
        .expect("config");
        let child = Command::new(env!("CARGO_BIN_EXE_t1c"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("T1C_DATA_DIR", &data)
            .env("T1C_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("t1c starts");
        Self { child, config, data, port }
    }

    /// Runs `t1c modules <args>` against this connector's configuration and data directory.
    fn modules(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_t1c"))
            .arg("--config")
            .arg(&self.config)
            .arg("modules")
            .args(args)
            .env("T1C_DATA_DIR", &self.data)
            .env("T1C_LOG", "warn")
            .output()
            .expect("t1c modules runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "t1c modules {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    async fn client(&self) -> reqwest::Client {
        let ca = self.data.join("tls/ca.pem");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(pem) = std::fs::read(&ca) {
                let client = reqwest::Client::builder()
                    .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("ca"))
                    .resolve("localhost", ([127, 0, 0, 1], self.port).into())
                    .build()
                    .expect("client");
                let admin_up = self.data.join("run/admin.sock").exists();
                if admin_up && client.get(self.url("/info")).send().await.is_ok() {
                    return client;
                }
            }
            assert!(Instant::now() < deadline, "the connector did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }
}

/// One request: when it started and ended, and the version that answered (or the failure).
struct Sample {
    start: Instant,
    end: Instant,
    answer: Result<String, String>,
}

async fn version(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    body["data"]["version"].as_str().map(str::to_owned).ok_or_else(|| format!("no version: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_and_rollback_under_load_fail_no_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::generate();
    let v1 = dir.path().join("hello-0.1.0.t1cm");
    let v2 = dir.path().join("hello-0.2.0.t1cm");
    std::fs::write(&v1, t1c_testkit::bundle::signed_bundle("t1c-module-hello", &key)).expect("v1");
    std::fs::write(&v2, t1c_testkit::bundle::signed_bundle("t1c-test-hello-next", &key))
        .expect("v2");

    let connector = Arc::new(Connector::start(dir.path(), &key));
    let http = connector.client().await;
    // Only the local user reaches the admin socket; it is never on TCP.
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).expect("stat").permissions())
            & 0o777
    };
    assert_eq!(mode(&connector.data.join("run")), 0o700);
    assert_eq!(mode(&connector.data.join("run/admin.sock")), 0o600);
    let installed = connector.modules(&["install", v1.to_str().expect("utf-8")]);
    assert!(installed.contains("hello 0.1.0 installed"), "{installed}");

    let url = connector.url("/v3/modules/hello/apps/hello/version");
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (http, url, stop) = (http.clone(), url.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let answer = version(&http, &url).await;
                samples.push(Sample { start, end: Instant::now(), answer });
            }
            samples
        }));
    }

    let cli = |args: Vec<String>| {
        let connector = connector.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = connector.modules(&args);
            (out, Instant::now())
        })
    };
    let began = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let install_started = Instant::now();
    let (out, upgraded) =
        cli(vec!["install".into(), v2.to_str().expect("utf-8").into()]).await.expect("install");
    assert!(out.contains("hello 0.2.0 installed (was 0.1.0)"), "{out}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rollback_started = Instant::now();
    let (out, rolled_back) = cli(vec!["rollback".into(), "hello".into()]).await.expect("rollback");
    assert!(out.contains("hello 0.1.0 installed (was 0.2.0)"), "{out}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);

    let mut samples = Vec::new();
    for client in clients {
        samples.extend(client.await.expect("client"));
    }
    let elapsed = began.elapsed();
    let failures: Vec<&String> = samples.iter().filter_map(|s| s.answer.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} failed requests, first: {}", failures.len(), failures[0]);
    let answered = |from: Instant, to: Instant| -> Vec<&str> {
        samples
            .iter()
            .filter(|s| s.start >= from && s.end <= to)
            .filter_map(|s| s.answer.as_deref().ok())
            .collect()
    };
    let before = answered(began, install_started);
    let after_upgrade = answered(upgraded, rollback_started);
    let after_rollback = answered(rolled_back, Instant::now());
    assert!(!before.is_empty() && !after_upgrade.is_empty() && !after_rollback.is_empty());
    assert!(before.iter().all(|v| *v == "0.1.0"), "v1 before the install");
    assert!(after_upgrade.iter().all(|v| *v == "0.2.0"), "v2 after the install returned");
    assert!(after_rollback.iter().all(|v| *v == "0.1.0"), "v1 after the rollback returned");
    println!(
        "{} requests from {CLIENTS} clients in {:.1} s ({:.0}/s), none failed; \
         {} answered by v2 after the install",
        samples.len(),
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        after_upgrade.len(),
    );

    let list = connector.modules(&["list"]);
    assert!(list.contains("hello 0.1.0") && list.contains("previous 0.2.0"), "{list}");
}

#[test]
fn the_cli_works_on_the_install_state_when_no_connector_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::generate();
    let v1 = dir.path().join("v1.t1cm");
    let v2 = dir.path().join("v2.t1cm");
    std::fs::write(&v1, t1c_testkit::bundle::signed_bundle("t1c-module-hello", &key)).expect("v1");
    std::fs::write(&v2, t1c_testkit::bundle::signed_bundle("t1c-test-hello-next", &key))
        .expect("v2");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[modules]\ntrusted_keys = [\"{}\"]\ntrust_development_key = false\n",
            key.public_key()
        ),
    )
    .expect("config");
    let t1c = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_t1c"))
            .arg("--config")
            .arg(&config)
            .arg("modules")
            .args(args)
            .env("T1C_DATA_DIR", dir.path().join("data"))
            .env("T1C_LOG", "error")
            .output()
            .expect("t1c runs")
    };
    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    assert!(t1c(&["install", &path(&v2)]).status.success());
    let downgrade = t1c(&["install", &path(&v1)]);
    assert!(!downgrade.status.success());
    let stderr = String::from_utf8_lossy(&downgrade.stderr);
    assert!(stderr.contains("0.1.0 is older"), "{stderr}");
    assert!(t1c(&["install", "--pin", &path(&v1)]).status.success());
    let list = String::from_utf8_lossy(&t1c(&["list"]).stdout).into_owned();
    assert!(list.contains("hello 0.1.0 (pinned)") && list.contains("previous 0.2.0"), "{list}");
    assert!(t1c(&["remove", "hello"]).status.success());
    let list = String::from_utf8_lossy(&t1c(&["list"]).stdout).into_owned();
    assert!(list.contains("no modules installed"), "{list}");
}

/// `t1c modules install` killed with SIGKILL at arbitrary points: afterwards the install state
/// always names a complete, verified bundle (the old version or the new one), never half of
/// one, and the next command works.
#[test]
fn an_install_killed_at_any_point_leaves_the_old_or_the_new_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SigningKey::generate();
    let bundles = [
        (dir.path().join("v1.t1cm"), t1c_testkit::bundle::signed_bundle("t1c-module-hello", &key)),
        (
            dir.path().join("v2.t1cm"),
            t1c_testkit::bundle::signed_bundle("t1c-test-hello-next", &key),
        ),
    ];
    for (path, bytes) in &bundles {
        std::fs::write(path, bytes).expect("bundle");
    }
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[modules]\ntrusted_keys = [\"{}\"]\ntrust_development_key = false\n",
            key.public_key()
        ),
    )
    .expect("config");
    let t1c = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_t1c"));
        command
            .arg("--config")
            .arg(&config)
            .arg("modules")
            .args(args)
            .env("T1C_DATA_DIR", dir.path().join("data"))
            .env("T1C_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let list = || {
        let output = t1c(&["list"]).output().expect("list runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
        text
    };
    let mut seen_kill_before_commit = false;
    let mut seen_kill_after_commit = false;
    // Alternate v1 and v2 (pinned, so each install changes the version), killing each install
    // after a delay that sweeps the whole install (verify, compile, write, commit).
    for round in 0..16u64 {
        let (path, _) = &bundles[(round % 2) as usize];
        let before = list();
        let mut child = t1c(&["install", "--pin", path.to_str().expect("utf-8")])
            .spawn()
            .expect("install starts");
        std::thread::sleep(Duration::from_millis(round * 25));
        let _ = child.kill();
        let _ = child.wait();
        let after = list();
        assert!(!after.contains("NOT SERVED"), "round {round}: {after}");
        if after == before {
            seen_kill_before_commit = true;
        } else {
            seen_kill_after_commit = true;
            let wanted = if round % 2 == 0 { "hello 0.1.0" } else { "hello 0.2.0" };
            assert!(after.contains(wanted), "round {round}: {after}");
        }
        // Whatever happened, the next install completes.
        let done = t1c(&["install", "--pin", path.to_str().expect("utf-8")])
            .output()
            .expect("install runs");
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    }
    println!("killed before commit: {seen_kill_before_commit}, after: {seen_kill_after_commit}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data/modules/bundles"))
        .expect("store")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.len() <= 2, "only current and previous are kept: {leftovers:?}");
}
