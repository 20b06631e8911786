//! The connector under a Distribution Service, end to end over real HTTPS: the DS in process
//! (its own composition root, SQLite), the connector through its own composition root, and
//! nothing between them but the device protocol.

use reqwest::{Method, StatusCode};
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use t1c_host::counters::{Transaction, UseCase};
use t1c_testkit::TestConnector;
use t1c_testkit::bundle::{development_key, signed_bundle};
use t1c_testkit::desktop::{Notification, Notifications};
use t1c_testkit::ds::{DsBackend, TestDs};
use t1c_testkit::session_bus::SessionBus;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const SHOP: &str = "https://shop.example";
const BANK: &str = "https://bank.example";

/// A DS with this connector's version, its installation key, an organisation, a label `shop`
/// for [`SHOP`] and its API key, and the development key trusted for bundles.
async fn ds() -> (TestDs, String, String, String) {
    prepared(TestDs::start(DsBackend::Sqlite).await.expect("DS")).await
}

/// `ds` set up as [`ds`] describes.
async fn prepared(ds: TestDs) -> (TestDs, String, String, String) {
    let admin = ds.admin_token().await;
    let installation_key = ds
        .version_with_key(&admin, json!({"id": VERSION, "recommended": false, "allowed": true}))
        .await;
    let org = ds.organisation(&admin, "Shops").await;
    let (_, label_key) = ds.label_with_key(&admin, &org, "shop", &[SHOP]).await;
    ds.label_with_key(&admin, &org, "bank", &[BANK]).await;
    use base64::Engine as _;
    let public =
        base64::engine::general_purpose::STANDARD.encode(development_key().public_key().as_bytes());
    let (status, answer) = ds
        .call(
            Method::POST,
            "/v3_5/publisher-keys",
            Some(&admin),
            Some(json!({"name": "development", "public_key": public})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    (ds, admin, installation_key, label_key)
}

/// A connector configured for `ds`, with the installation key where the installer leaves it.
async fn connector(ds: &TestDs, installation_key: &str) -> TestConnector {
    connector_at(ds.url(), ds, installation_key).await
}

/// As [`connector`], reaching the DS at `url` (a relay in front of it).
async fn connector_at(url: &str, ds: &TestDs, installation_key: &str) -> TestConnector {
    let ca = ds.ca_certificate().expect("the DS's CA");
    connector_with(TestConnector::builder(), url, &ca, installation_key).await
}

/// `builder` configured for the DS at `url`, whose certificate `ca` issued, with the
/// installation key where the installer leaves it; the test drives each sync.
async fn connector_with(
    builder: t1c_testkit::TestConnectorBuilder,
    url: &str,
    ca: &std::path::Path,
    installation_key: &str,
) -> TestConnector {
    let key_dir = builder.dir().join("ds");
    std::fs::create_dir_all(&key_dir).expect("ds dir");
    std::fs::write(key_dir.join("installation-key"), installation_key).expect("key file");
    let (url, ca) = (url.to_owned(), ca.to_owned());
    builder
        .config(move |c| {
            c.ds.url = Some(url);
            c.ds.ca_certificate = Some(ca);
        })
        .manual_ds_sync()
        .start()
        .await
}

async fn upload(ds: &TestDs, admin: &str, package: &str) -> String {
    let response = ds
        .client()
        .post(format!("{}/v3_5/bundles", ds.url()))
        .bearer_auth(admin)
        .header("content-type", "application/octet-stream")
        .body(signed_bundle(package, &development_key()))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    body["data"]["digest"].as_str().expect("digest").to_owned()
}

async fn rollout(ds: &TestDs, admin: &str, digest: &str) -> String {
    let body = json!({"bundle": digest, "percent": 100});
    let (status, answer) = ds.call(Method::POST, "/v3_5/rollouts", Some(admin), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["data"]["id"].as_str().expect("id").to_owned()
}

/// An application token for the label of `label_key`, from the DS.
async fn token(ds: &TestDs, label_key: &str) -> String {
    let answer: Value = ds
        .client()
        .get(format!("{}/v3_5/tokens/application", ds.url()))
        .header("apikey", label_key)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    answer["data"].as_str().expect("a JWT").to_owned()
}

async fn sync(connector: &TestConnector) {
    connector.connector().ds().expect("a DS sync").sync_now().await.expect("the sync succeeds");
}

async fn get(
    connector: &TestConnector,
    path: &str,
    origin: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = connector.client().get(connector.url(path)).header("origin", origin);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the connector answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_connector_registers_and_takes_its_policy_keys_and_modules_from_the_ds() {
    let (ds, admin, installation_key, label_key) = ds().await;
    // A bundle rolled out to every device before the connector even exists.
    let bundle = signed_bundle("t1c-module-hello", &development_key());
    let response = ds
        .client()
        .post(format!("{}/v3_5/bundles", ds.url()))
        .bearer_auth(&admin)
        .header("content-type", "application/octet-stream")
        .body(bundle)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    let digest = response.json::<Value>().await.expect("json")["data"]["digest"].clone();
    let (status, answer) = ds
        .call(
            Method::POST,
            "/v3_5/rollouts",
            Some(&admin),
            Some(json!({"bundle": digest, "percent": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let connector = connector(&ds, &installation_key).await;
    sync(&connector).await;
    let data_dir = connector.data_dir().to_owned();
    assert!(!data_dir.join("ds/installation-key").exists(), "the installation key is consumed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data_dir.join("ds/identity.json"))
            .expect("identity")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the identity is the connector's alone");
    }

    // What `t1c ds status` shows, written by the running connector.
    let status = t1c_host::ds::read_status(&data_dir).expect("readable").expect("written");
    assert!(status.device_id.is_some() && status.last_sync.is_some(), "{status:?}");
    assert_eq!((status.consecutive_failures, status.assignment_serial.is_some()), (0, true));
    assert!(status.digests.config.is_some() && status.digests.modules.is_some());

    // CORS from the label's domains; JWT keys from the DS's JWKS.
    let (code, info) = get(&connector, "/info", SHOP, None).await;
    assert_eq!(code, StatusCode::OK, "{info}");
    let api = &info["data"]["t1CInfoAPI"];
    assert_eq!(api["service"]["dsRegistryActivated"], true);
    assert!(api["uid"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(api["jwtEnabled"], true);
    assert_eq!(
        get(&connector, "/info", "https://evil.example", None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(get(&connector, "/v3/readers", SHOP, None).await.0, StatusCode::UNAUTHORIZED);
    let token = ds
        .client()
        .get(format!("{}/v3_5/tokens/application", ds.url()))
        .header("apikey", &label_key)
        .send()
        .await
        .expect("token")
        .json::<Value>()
        .await
        .expect("json")["data"]
        .as_str()
        .expect("a JWT")
        .to_owned();
    let (code, readers) = get(&connector, "/v3/readers", SHOP, Some(&token)).await;
    assert_eq!(code, StatusCode::OK, "{readers}");
    assert_eq!(get(&connector, "/info", BANK, None).await.0, StatusCode::OK, "allowlisted too");
    let (code, replayed) = get(&connector, "/v3/readers", BANK, Some(&token)).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "shop's token from bank's page: {replayed}");

    // The rolled-out module is served, with no restart.
    let modules = connector.connector().installer().list();
    assert!(modules.iter().any(|m| m.name == "hello" && m.version == "0.1.0"), "{modules:?}");
    let (code, version) =
        get(&connector, "/v3/modules/hello/apps/hello/version", SHOP, Some(&token)).await;
    assert_eq!(code, StatusCode::OK, "{version}");

    // Usage: shipped as day totals, acknowledged, never counted twice.
    let usage = || usage(&ds, &admin, "shop");
    let count = |n: usize| {
        let counters = connector.connector().counters().clone();
        for _ in 0..n {
            let mut read = Transaction::today("beid", UseCase::IdentityRead);
            read.label = Some("shop".into());
            counters.record(read).expect("counted");
        }
    };
    count(2);
    sync(&connector).await;
    assert_eq!(usage().await, 2);
    sync(&connector).await;
    assert_eq!(usage().await, 2, "acknowledged: not sent again");
    count(3);
    sync(&connector).await;
    assert_eq!(usage().await, 5, "a total, not a delta");
    assert!(connector.connector().counters().snapshot().expect("snapshot").is_empty());

    // A mandatory newer version: module calls refused with the link, the rest still answers.
    let body = json!({"id": "99.0.0", "mandatory": true, "allowed": true, "uris": [{"os": "unix", "uri": "t1c-99.deb"}]});
    let (code, answer) = ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(body)).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);
    sync(&connector).await;
    let (code, refused) =
        get(&connector, "/v3/modules/hello/apps/hello/version", SHOP, Some(&token)).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["code"], "113426");
    assert!(
        refused["description"].as_str().is_some_and(|d| d.contains("99.0.0")
            && d.contains("/v3_5/downloads/installers/unix/versions/99.0.0")),
        "{refused}"
    );
    assert_eq!(get(&connector, "/v3/readers", SHOP, Some(&token)).await.0, StatusCode::OK);
    let (_, info) = get(&connector, "/info", SHOP, None).await;
    assert_eq!(info["data"]["t1CInfoAPI"]["status"], "UPGRADE_REQUIRED");
    connector.shutdown().await;
    ds.stop().await;
}

#[tokio::test]
async fn a_rollback_at_the_ds_rolls_the_connector_back_and_a_certificate_rotates_under_load() {
    let (ds, admin, installation_key, label_key) = ds().await;
    let first = upload(&ds, &admin, "t1c-module-hello").await;
    rollout(&ds, &admin, &first).await;
    let connector = connector(&ds, &installation_key).await;
    sync(&connector).await;
    let token = token(&ds, &label_key).await;
    let served = |connector: &TestConnector| {
        let list = connector.connector().installer().list();
        list.into_iter().find(|m| m.name == "hello").map(|m| (m.version, m.pinned))
    };
    // The DS decides the version: its modules are installed pinned.
    assert_eq!(served(&connector), Some(("0.1.0".into(), true)));

    let next = upload(&ds, &admin, "t1c-test-hello-next").await;
    let next_rollout = rollout(&ds, &admin, &next).await;
    sync(&connector).await;
    assert_eq!(served(&connector), Some(("0.2.0".into(), true)), "rolled out");
    let (code, version) =
        get(&connector, "/v3/modules/hello/apps/hello/version", SHOP, Some(&token)).await;
    assert_eq!(code, StatusCode::OK, "{version}");
    assert!(version.to_string().contains("0.2.0"), "the new version answers: {version}");

    let path = format!("/v3_5/rollouts/{next_rollout}/rollback");
    let (code, answer) = ds.call(Method::POST, &path, Some(&admin), None).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    sync(&connector).await;
    assert_eq!(served(&connector), Some(("0.1.0".into(), true)), "rolled back");
    let (_, version) =
        get(&connector, "/v3/modules/hello/apps/hello/version", SHOP, Some(&token)).await;
    assert!(version.to_string().contains("0.1.0"), "the old version answers again: {version}");

    // A certificate pushed by the DS, swapped in while requests keep coming.
    let (chain, key, ca) = t1c_testkit::ds::keystore(90);
    let body = json!({"scope": "default", "chain_pem": chain, "key_pem": key});
    let (code, answer) =
        ds.call(Method::POST, "/v3_5/tls-keystores", Some(&admin), Some(body)).await;
    assert_eq!(code, StatusCode::CREATED, "{answer}");
    ds.clock().advance(t1c_ds::devices::SECTIONS_TTL);
    let both = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(connector.ca_pem().as_bytes()).expect("CA"),
        )
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"))
        .tls_built_in_root_certs(false)
        .resolve("localhost", connector.address())
        .build()
        .expect("client");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (both, url, stop) = (both.clone(), connector.url("/info"), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || ok < 20 {
                // A fresh connection each time: every request is a new TLS handshake.
                let client = both.clone();
                match client
                    .get(&url)
                    .header("connection", "close")
                    .header("origin", SHOP)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        })
    };
    sync(&connector).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.await.expect("load");
    assert_eq!(failed, 0, "{ok} requests answered, none failed");
    let leaf = connector.connector().certificates().chain()[0].clone();
    let uploaded = rustls::pki_types::CertificateDer::pem_slice_iter(chain.as_bytes())
        .next()
        .expect("a PEM")
        .expect("DER");
    assert_eq!(leaf.as_ref(), uploaded.as_ref(), "the DS's certificate is served");
    assert!(connector.data_dir().join("ds/tls/chain.pem").is_file(), "and kept for restarts");
    connector.shutdown().await;
    ds.stop().await;
}

/// A TCP relay to the DS that can be cut (every connection dropped, new ones refused) and
/// restored: the DS unreachable from the connector, for real, while it keeps running.
struct Relay {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// While true, the DS's answers to requests are not passed on (its handshake bytes are).
    hold: tokio::sync::watch::Sender<bool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn to(target: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (hold, held) = tokio::sync::watch::channel(false);
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = {
            let (open, connections) = (open.clone(), connections.clone());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if !open.load(std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    let mut held = held.clone();
                    let task = tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                        let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        let (mut from_connector, mut to_connector) = inbound.into_split();
                        let (mut from_ds, mut to_ds) = outbound.into_split();
                        // Bytes the connector sent: past its TLS handshake (under 2 KiB) it
                        // has sent a request, whose answer a hold keeps back.
                        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
                        let up = {
                            let sent = sent.clone();
                            tokio::spawn(async move {
                                let mut buffer = vec![0u8; 16 * 1024];
                                while let Ok(n) = from_connector.read(&mut buffer).await {
                                    if n == 0 || to_ds.write_all(&buffer[..n]).await.is_err() {
                                        break;
                                    }
                                    sent.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                                }
                            })
                        };
                        let mut buffer = vec![0u8; 16 * 1024];
                        while let Ok(n) = from_ds.read(&mut buffer).await {
                            if n == 0 {
                                break;
                            }
                            let requested = sent.load(std::sync::atomic::Ordering::SeqCst) >= 2048;
                            if requested && held.wait_for(|hold| !*hold).await.is_err() {
                                break;
                            }
                            if to_connector.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                        up.abort();
                    });
                    connections.lock().expect("lock").push(task);
                }
            })
        };
        Relay { port, open, hold, connections, accept }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for task in self.connections.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Holds back (or, `false`, passes on again) the DS's answers.
    fn hold_answers(&self, hold: bool) {
        self.hold.send_replace(hold);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[tokio::test]
async fn module_calls_stop_after_the_failure_limit_and_resume_with_the_ds() {
    let (ds, admin, installation_key, label_key) = ds().await;
    let digest = upload(&ds, &admin, "t1c-module-hello").await;
    rollout(&ds, &admin, &digest).await;
    let port: u16 = ds.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let relay = Relay::to(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await;
    let url = format!("https://localhost:{}", relay.port);
    let connector = connector_at(&url, &ds, &installation_key).await;
    sync(&connector).await;
    let token = token(&ds, &label_key).await;
    let call = || get(&connector, "/v3/modules/hello/apps/hello/version", SHOP, Some(&token));
    assert_eq!(call().await.0, StatusCode::OK);

    relay.cut();
    let sync_now = || connector.connector().ds().expect("ds").sync_now();
    for failures in 1..=3 {
        let err = sync_now().await.expect_err("the DS is unreachable");
        let status = connector.connector().ds().expect("ds").status();
        assert_eq!(status.consecutive_failures, failures, "{err}: {status:?}");
        let expected = if failures < 3 { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        assert_eq!(call().await.0, expected, "after {failures} failed syncs");
    }
    let (_, refused) = call().await;
    assert_eq!(refused["code"], "113503", "{refused}");
    let (code, info) = get(&connector, "/info", SHOP, None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(info["data"]["t1CInfoAPI"]["status"], "DS_UNREACHABLE");
    assert_eq!(info["data"]["t1CInfoDS"]["consecutive_failures"], 3);
    assert_eq!(get(&connector, "/v3/readers", SHOP, Some(&token)).await.0, StatusCode::OK);

    // Usage counted while the DS was away is kept and shipped once it is back, exactly once.
    for _ in 0..3 {
        let mut read = Transaction::today("beid", UseCase::IdentityRead);
        read.label = Some("shop".into());
        connector.connector().counters().record(read).expect("counted");
    }
    relay.restore();
    sync(&connector).await;
    assert_eq!(call().await.0, StatusCode::OK, "served again once a sync succeeds");
    sync(&connector).await;
    assert_eq!(usage(&ds, &admin, "shop").await, 3);
    connector.shutdown().await;
    ds.stop().await;
}

/// The real `t1c` binary, as a process, syncing with `ds_url`.
struct Process {
    child: std::process::Child,
}

impl Process {
    fn start(data: &std::path::Path, ds_url: &str, ds_ca: &std::path::Path) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_t1c"))
            .args(["serve", "--port", &port.to_string()])
            .env("T1C_DATA_DIR", data)
            .env("T1C_DS_URL", ds_url)
            .env("T1C_DS_CA_CERTIFICATE", ds_ca)
            .env("T1C_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("t1c starts");
        Process { child }
    }

    fn sigkill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `done` holds: a process's progress is observed, not timed.
async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Usage counted at the DS today under `label`.
async fn usage(ds: &TestDs, admin: &str, label: &str) -> i64 {
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let path = format!("/v3_5/usage?from={today}&to={today}");
    let (code, body) = ds.call(Method::GET, &path, Some(admin), None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body["data"].as_array().map_or(0, |rows| {
        rows.iter().filter(|r| r["label"] == label).filter_map(|r| r["total"].as_i64()).sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_killed_mid_sync_ships_its_counters_exactly_once() {
    let (ds, admin, installation_key, _) = ds().await;
    let port: u16 = ds.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let relay = Relay::to(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await;
    let url = format!("https://localhost:{}", relay.port);
    let ca = ds.ca_certificate().expect("CA");
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("ds")).expect("dir");
    std::fs::write(data.join("ds/installation-key"), &installation_key).expect("key");
    let synced = |data: std::path::PathBuf| async move {
        t1c_host::ds::read_status(&data).ok().flatten().is_some_and(|s| s.last_sync.is_some())
    };

    // First start: registered and synced (nothing to count yet).
    let first = Process::start(&data, &url, &ca);
    until("the first sync", || synced(data.clone())).await;
    first.sigkill();

    // Five transactions counted while it was down (straight into its counters file).
    {
        let counters =
            t1c_host::counters::Counters::open(data.join("counters.sqlite")).expect("open");
        for _ in 0..5 {
            let mut read = Transaction::today("beid", UseCase::IdentityRead);
            read.label = Some("shop".into());
            counters.record(read).expect("counted");
        }
    }
    std::fs::remove_file(data.join("ds/status.json")).expect("status");

    // The start sync reaches the DS, which stores the counters; its answer is held back, and
    // the connector is killed while it waits for it.
    relay.hold_answers(true);
    let second = Process::start(&data, &url, &ca);
    until("the DS to store the counters", || async { usage(&ds, &admin, "shop").await == 5 }).await;
    second.sigkill();
    {
        let counters =
            t1c_host::counters::Counters::open(data.join("counters.sqlite")).expect("open");
        let pending: u64 = counters.snapshot().expect("snapshot").iter().map(|r| r.counter).sum();
        assert_eq!(pending, 5, "killed before the acknowledgement: the drain is still pending");
    }
    relay.hold_answers(false);

    // Next start: the same drain again (same sequence, same totals), kept once; then forgotten.
    let third = Process::start(&data, &url, &ca);
    until("the resent sync", || synced(data.clone())).await;
    third.sigkill();
    assert_eq!(usage(&ds, &admin, "shop").await, 5, "counted once, not twice");
    let counters = t1c_host::counters::Counters::open(data.join("counters.sqlite")).expect("open");
    assert!(counters.snapshot().expect("snapshot").is_empty(), "acknowledged and forgotten");
    ds.stop().await;
}

/// What the interceptor does with the DS's answers to syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meddle {
    /// Pass them on (and remember the last one).
    Pass,
    /// Answer with the last answer remembered (a replay).
    Replay,
    /// Flip one byte of the answer.
    Tamper,
    /// Answer with garbage.
    Garbage,
}

/// A man in the middle the connector trusts at the TLS level (it has the interceptor's CA as
/// its DS CA): it forwards every request to the real DS and meddles with the sync answers. The
/// connector must still refuse what it cannot verify.
struct Interceptor {
    url: String,
    ca: tempfile::NamedTempFile,
    meddle: std::sync::Arc<std::sync::Mutex<Meddle>>,
    task: tokio::task::JoinHandle<()>,
}

impl Interceptor {
    async fn before(ds: &TestDs) -> Interceptor {
        use std::sync::{Arc, Mutex};
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let mut ca = tempfile::NamedTempFile::new().expect("file");
        std::io::Write::write_all(&mut ca, cert.pem().as_bytes()).expect("CA");
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key"),
        )
        .expect("cert");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let meddle = Arc::new(Mutex::new(Meddle::Pass));
        let last: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let (client, upstream) = (ds.client().clone(), ds.url().to_owned());
        let forward = {
            let meddle = meddle.clone();
            move |request: axum::extract::Request| {
                let (client, upstream, meddle, last) =
                    (client.clone(), upstream.clone(), meddle.clone(), last.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                    let mut outbound =
                        client.request(parts.method.clone(), format!("{upstream}{}", parts.uri));
                    for name in ["content-type", "apikey"] {
                        if let Some(value) = parts.headers.get(name) {
                            outbound = outbound.header(name, value.clone());
                        }
                    }
                    let answer = outbound.body(body).send().await.expect("the DS answers");
                    let status = answer.status();
                    let mut bytes = answer.bytes().await.expect("body").to_vec();
                    if parts.uri.path().ends_with("/sync") && status.is_success() {
                        let mode = *meddle.lock().expect("lock");
                        let mut last = last.lock().expect("lock");
                        match mode {
                            Meddle::Pass => *last = Some(bytes.clone()),
                            Meddle::Replay => bytes = last.clone().expect("an answer to replay"),
                            Meddle::Tamper => {
                                let middle = bytes.len() / 2;
                                bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
                            }
                            Meddle::Garbage => bytes = b"not a JWE at all".to_vec(),
                        }
                    }
                    (status, bytes)
                }
            }
        };
        let router = axum::Router::new().fallback(forward);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let service = hyper_util::service::TowerToHyperService::new(router);
                        let _ = hyper_util::server::conn::auto::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                    }
                });
            }
        });
        Interceptor { url: format!("https://localhost:{port}"), ca, meddle, task }
    }

    fn meddle(&self, mode: Meddle) {
        *self.meddle.lock().expect("lock") = mode;
    }
}

impl Drop for Interceptor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn answers_replayed_tampered_or_forged_in_transit_are_refused_and_nothing_is_applied() {
    let (ds, admin, installation_key, _) = ds().await;
    let interceptor = Interceptor::before(&ds).await;
    let connector = connector_with(
        TestConnector::builder(),
        &interceptor.url,
        interceptor.ca.path(),
        &installation_key,
    )
    .await;
    sync(&connector).await;
    const NEW: &str = "https://new.example";
    assert_eq!(get(&connector, "/info", NEW, None).await.0, StatusCode::FORBIDDEN);

    // The DS now allows a new origin; every meddled answer is refused and changes nothing.
    let (_, labels) = ds.call(Method::GET, "/v3_5/labels?q=shop", Some(&admin), None).await;
    let shop = labels["data"]["items"][0]["id"].as_str().expect("shop").to_owned();
    let body = json!({"domains": [SHOP, NEW]});
    let (code, answer) =
        ds.call(Method::PATCH, &format!("/v3_5/labels/{shop}"), Some(&admin), Some(body)).await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let ds_sync = connector.connector().ds().expect("ds");
    for (mode, failures) in [(Meddle::Replay, 1), (Meddle::Tamper, 2), (Meddle::Garbage, 3)] {
        interceptor.meddle(mode);
        let err = ds_sync.sync_now().await.expect_err("refused");
        assert!(matches!(err, t1c_host::ds::DsError::BadAnswer(_)), "{mode:?}: {err}");
        assert_eq!(ds_sync.status().consecutive_failures, failures);
        assert_eq!(get(&connector, "/info", NEW, None).await.0, StatusCode::FORBIDDEN, "{mode:?}");
        assert_eq!(get(&connector, "/info", SHOP, None).await.0, StatusCode::OK, "serves on");
    }

    interceptor.meddle(Meddle::Pass);
    sync(&connector).await;
    assert_eq!(get(&connector, "/info", NEW, None).await.0, StatusCode::OK, "applied once genuine");
    connector.shutdown().await;
    ds.stop().await;
}

#[tokio::test]
async fn a_newer_or_required_version_is_shown_on_the_desktop_once() {
    let (ds, admin, installation_key, _) = ds().await;
    let bus = SessionBus::start();
    let mut notifications = Notifications::start(&bus).await;
    let builder = TestConnector::builder().session_bus(bus.address());
    let ca = ds.ca_certificate().expect("CA");
    let connector = connector_with(builder, ds.url(), &ca, &installation_key).await;
    sync(&connector).await;
    assert!(notifications.try_next().is_none(), "the latest version: nothing to show");

    let put = |body: Value| {
        let (ds, admin) = (&ds, &admin);
        async move {
            let (code, answer) =
                ds.call(Method::PUT, "/v3_5/versions", Some(admin), Some(body)).await;
            assert_eq!(code, StatusCode::OK, "{answer}");
        }
    };
    put(json!({"id": "98.0.0", "recommended": true, "allowed": true, "uris": [{"os": "unix", "uri": "t1c-98.deb"}]})).await;
    sync(&connector).await;
    let Notification { summary, body, urgency } = notifications.next().await;
    assert!(summary.contains("new version"), "{summary}");
    assert!(
        body.contains("98.0.0") && body.contains("/v3_5/downloads/installers/unix/versions/98.0.0"),
        "{body}"
    );
    assert_eq!(urgency, 1);
    sync(&connector).await;
    assert!(notifications.try_next().is_none(), "once per verdict, not every sync");

    put(json!({"id": "99.0.0", "mandatory": true, "allowed": true})).await;
    sync(&connector).await;
    let Notification { summary, body, urgency } = notifications.next().await;
    assert!(summary.contains("must be upgraded") && body.contains("99.0.0"), "{summary}: {body}");
    assert_eq!(urgency, 2, "critical");
    connector.shutdown().await;
    ds.stop().await;
}

#[tokio::test]
async fn a_jwt_key_rotation_at_the_ds_fails_no_request() {
    // Keys rotate every 200 s and are published 150 s ahead; the DS's clock starts 200 s in the
    // past, so the next key is published 150 s ago and signs from now on.
    let real = time::OffsetDateTime::now_utc().unix_timestamp();
    let ds = TestDs::start_at(DsBackend::Sqlite, real - 200, |c| {
        c.tokens.rotation_secs = 200;
        c.tokens.publish_ahead_secs = 150;
        c.tokens.connector_cache_secs = 60;
    })
    .await
    .expect("DS");
    let (ds, _admin, installation_key, label_key) = prepared(ds).await;
    ds.clock().set(real - 140);
    ds.rotate_token_keys().await;
    let connector = connector(&ds, &installation_key).await;
    sync(&connector).await;
    let kid = |token: &str| {
        use base64::Engine as _;
        let header = token.split('.').next().expect("header");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).expect("b64");
        serde_json::from_slice::<Value>(&bytes).expect("json")["kid"]
            .as_str()
            .expect("kid")
            .to_owned()
    };
    let before = token(&ds, &label_key).await;
    assert_eq!(get(&connector, "/v3/readers", SHOP, Some(&before)).await.0, StatusCode::OK);

    // The DS switches to the next key; the connector, with no sync since, accepts its tokens
    // (it holds the key since it was published) and the old key's tokens until they expire.
    ds.clock().set(real + 5);
    ds.rotate_token_keys().await;
    let after = token(&ds, &label_key).await;
    assert_ne!(kid(&before), kid(&after), "signed with the next key");
    assert_eq!(get(&connector, "/v3/readers", SHOP, Some(&after)).await.0, StatusCode::OK);
    assert_eq!(get(&connector, "/v3/readers", SHOP, Some(&before)).await.0, StatusCode::OK);
    connector.shutdown().await;
    ds.stop().await;
}
