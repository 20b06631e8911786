//! Device-sync load generator, run with `cargo bench -p t1c-ds --bench sync` (needs
//! `postgresql` for the PostgreSQL figures). Options through the environment:
//! `T1C_SYNC_DEVICES` (concurrent simulated devices, default 500) and `T1C_SYNC_SECONDS` (per
//! measurement, default 10).
//!
//! `T1C_SYNC_RATE` (the offered load of the paced measurement, default 1000 syncs/s).
//!
//! Devices are simulated in this process, each with its own Ed25519 and X25519 keys
//! ([`TestDevice`]); they register against the real `t1c-ds` binary on loopback, then sync in a
//! loop as fast as the DS answers, each sync sealed and its answer opened and checked. Reported,
//! for SQLite, PostgreSQL, and two DS processes on one PostgreSQL: syncs per second with p50 and
//! p99 for (a) a sync with nothing changed and one counter batch, (b) a sync that receives a
//! changed CORS section, both closed-loop (every device syncs again as soon as it has its
//! answer: the DS's capacity), and (c) paced: the devices together offer a fixed rate, and
//! latency counts from when each sync was due. Then where a sync's time goes, measured in process: the DS's crypto
//! (open and seal), its database writes (message id, counters, device record), and the rest
//! (HTTP, TLS, JSON) by difference from the single-device latency.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use t1c_ds::store::{Device, DeviceReport, SqlStore, Store};
use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase};
use t1c_ds_protocol::messages::{
    DeviceState, Digests, Envelope, Platform, SyncAnswer, SyncRequest,
};
use t1c_ds_protocol::seal::{self, PrivateKeys};
use t1c_testkit::bench::{free_port, wait_for};
use t1c_testkit::ds::TestDevice;
use t1c_testkit::postgres::TestDatabase;

fn main() {
    let devices: usize =
        std::env::var("T1C_SYNC_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let seconds: u64 =
        std::env::var("T1C_SYNC_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    let dir = tempfile::tempdir().expect("tempdir");
    let postgres = TestDatabase::start().expect("PostgreSQL for the benchmark");
    println!(
        "{devices} simulated devices, {seconds} s per measurement, DS and load generator on the same cores"
    );
    for (name, url, processes) in [
        ("SQLite", None, 1),
        ("PostgreSQL", Some(postgres.url()), 1),
        ("PostgreSQL, 2 DS", Some(postgres.url()), 2),
    ] {
        let data = dir.path().join(name.replace([' ', ','], "_"));
        let mut servers: Vec<(Child, u16)> = Vec::new();
        for index in 0..processes {
            servers.push(start(&data.join(format!("p{index}")), url));
        }
        let ports: Vec<u16> = servers.iter().map(|(_, port)| *port).collect();
        let result = runtime.block_on(measure(&data, &ports, devices, seconds));
        for (child, _) in &mut servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        let (unchanged, changed, paced) = result;
        println!(
            "{name:<17} unchanged + counters {:>7.0} syncs/s  p50 {:>6.1?}  p99 {:>6.1?}",
            unchanged.rate, unchanged.p50, unchanged.p99
        );
        println!(
            "{name:<17} changed CORS section {:>7.0} syncs/s  p50 {:>6.1?}  p99 {:>6.1?}",
            changed.rate, changed.p50, changed.p99
        );
        println!(
            "{name:<17} paced at {:>5.0}/s       {:>7.0} syncs/s  p50 {:>6.1?}  p99 {:>6.1?}",
            rate(),
            paced.rate,
            paced.p50,
            paced.p99
        );
        // The second run reuses the first's database: keep PostgreSQL clean between setups.
        if processes == 1 && url.is_some() {
            reset(postgres.url());
        }
    }
    runtime.block_on(split(dir.path()));
}

/// Throughput and latency of one measurement.
struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// Starts `t1c-ds serve` on `data`; waits for its first answer.
fn start(data: &Path, database_url: Option<&str>) -> (Child, u16) {
    std::fs::create_dir_all(data).expect("data dir");
    let port = free_port();
    let config = data.join("ds.toml");
    std::fs::write(
        &config,
        "[api_keys]\nrequests_per_key_per_minute = 0\nfailures_per_address_per_minute = 0\n",
    )
    .expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_t1c-ds"));
    command.arg("serve").arg("--config").arg(&config).arg("--data-dir").arg(data);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("T1C_DS_LOG", "error")
        .stdout(Stdio::null());
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let child = command.spawn().expect("t1c-ds starts");
    wait_for(port);
    let ca = data.join("tls/ca.pem");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ca.exists() || !data.join("bootstrap-admin.txt").exists() && database_url.is_none() {
        assert!(Instant::now() < deadline, "the DS wrote no CA");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, port)
}

/// Drops everything the DS created in the benchmark's PostgreSQL database.
fn reset(url: &str) {
    let status = Command::new("psql")
        .arg(url)
        .args(["-q", "-c", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"])
        .status()
        .expect("psql runs");
    assert!(status.success(), "cannot reset the benchmark database");
}

fn client(data: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).expect("ca"))
        .expect("pem");
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client")
}

/// Sets up a version, its installation key and a label through the first DS, registers the
/// devices spread over every DS, and measures both kinds of sync.
async fn measure(
    data: &Path,
    ports: &[u16],
    devices: usize,
    seconds: u64,
) -> (Figures, Figures, Figures) {
    let first = data.join("p0");
    let http = client(&first);
    let base = format!("https://localhost:{}", ports[0]);
    // With two processes on one database, only the first wrote the bootstrap file.
    let bootstrap =
        std::fs::read_to_string(first.join("bootstrap-admin.txt")).expect("bootstrap file");
    let password = bootstrap.lines().find_map(|l| l.strip_prefix("password: ")).expect("password");
    let call = |method: reqwest::Method,
                path: &str,
                token: Option<&str>,
                body: serde_json::Value| {
        let mut request = http.request(method, format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            request.send().await.expect("answers").json::<serde_json::Value>().await.expect("json")
                ["data"]
                .clone()
        }
    };
    let session = call(
        reqwest::Method::POST,
        "/v3_5/auth/token",
        None,
        serde_json::json!({"username": "admin", "password": password}),
    )
    .await;
    let admin = session["access_token"].as_str().expect("token").to_owned();
    call(
        reqwest::Method::PUT,
        "/v3_5/versions",
        Some(&admin),
        serde_json::json!({"id": "3.1.0", "allowed": true}),
    )
    .await;
    let key = call(
        reqwest::Method::POST,
        "/v3_5/versions/3.1.0/keys",
        Some(&admin),
        serde_json::json!({}),
    )
    .await;
    let key = key["api_key"].as_str().expect("key").to_owned();
    let org = call(
        reqwest::Method::POST,
        "/v3_5/organisations",
        Some(&admin),
        serde_json::json!({"name": "Bench"}),
    )
    .await;
    call(
        reqwest::Method::POST,
        "/v3_5/labels",
        Some(&admin),
        serde_json::json!({"organisation_id": org["id"], "name": "bench", "domains": ["https://bench.example"]}),
    )
    .await;

    let clients: Vec<(reqwest::Client, String)> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| (client(&data.join(format!("p{i}"))), format!("https://localhost:{port}")))
        .collect();
    let platform = Platform {
        os: "windows".into(),
        arch: "x86_64".into(),
        version: "3.1.0".into(),
        os_version: None,
    };
    let mut fleet = Vec::with_capacity(devices);
    for i in 0..devices {
        let (http, base) = &clients[i % clients.len()];
        let device =
            TestDevice::register(http, base, &key, platform.clone()).await.expect("registers");
        fleet.push((device, http.clone(), base.clone(), None));
    }
    // One sync each to learn the digests (the module assignment is each device's own).
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut shared = None;
    for (device, http, base, assignment) in &mut fleet {
        let learned = device.sync(http, base, &request(&Digests::default(), 0), now).await.body;
        *assignment = learned.modules.as_ref().map(|s| s.digest.clone());
        shared.get_or_insert(learned);
    }
    let learned = shared.expect("a device");
    let digests = Digests {
        config: learned.config.map(|s| s.digest),
        jwt_keys: learned.jwt_keys.map(|s| s.digest),
        publisher_keys: learned.publisher_keys.map(|s| s.digest),
        ds_keys: learned.ds_keys.map(|s| s.digest),
        tls: learned.tls.map(|s| s.digest),
        modules: None,
    };
    let stale = Digests { config: Some("stale".into()), ..digests.clone() };
    let fleet = Arc::new(fleet);
    let unchanged = run(fleet.clone(), digests.clone(), false, seconds).await;
    let changed = run(fleet.clone(), stale, true, seconds).await;
    let paced = paced(fleet, digests, rate(), seconds).await;
    (unchanged, changed, paced)
}

/// A simulated device, the client it syncs with, the DS's URL, and the digest of its own module
/// assignment.
type Member = (TestDevice, reqwest::Client, String, Option<String>);

/// The offered load of the paced measurement, syncs per second (`T1C_SYNC_RATE`, default 1000).
fn rate() -> f64 {
    std::env::var("T1C_SYNC_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(1000.0)
}

/// Open loop: every device syncs on its own schedule so that together they offer `rate` syncs
/// per second; a sync's latency counts from when it was due (a late start counts against the
/// DS), so a DS that falls behind shows it in p99 instead of hiding it in fewer requests.
async fn paced(fleet: Arc<Vec<Member>>, digests: Digests, rate: f64, seconds: u64) -> Figures {
    let period = Duration::from_secs_f64(fleet.len() as f64 / rate);
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..fleet.len() {
        let (fleet, digests) = (fleet.clone(), digests.clone());
        tasks.spawn(async move {
            let (device, http, base, assignment) = &fleet[index];
            let digests = Digests { modules: assignment.clone(), ..digests };
            let mut due = started + period.mul_f64(index as f64 / fleet.len() as f64);
            let mut latencies = Vec::new();
            let mut seq = 100_000_000;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                seq += 1;
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                device.sync(http, base, &request(&digests, seq), now).await;
                latencies.push(due.elapsed());
                due += period;
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("device task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or_default()
    };
    Figures { rate: latencies.len() as f64 / elapsed.as_secs_f64(), p50: at(0.5), p99: at(0.99) }
}

fn request(digests: &Digests, seq: u64) -> SyncRequest {
    SyncRequest {
        state: DeviceState::Running,
        platform: Platform {
            os: "windows".into(),
            arch: "x86_64".into(),
            version: "3.1.0".into(),
            os_version: None,
        },
        labels: vec!["bench".into()],
        user_agents: vec![],
        modules: vec![],
        failed_installs: vec![],
        digests: digests.clone(),
        counters: CounterBatch {
            seq,
            rows: vec![DayCount {
                day: "2026-11-30".into(),
                label: "bench".into(),
                tag: String::new(),
                module: "beid".into(),
                use_case: UseCase::IdentityRead,
                total: 1 + seq % 1000,
            }],
        },
    }
}

/// Every device syncs in a loop for `seconds`; returns the rate and latency percentiles.
async fn run(
    fleet: Arc<Vec<Member>>,
    digests: Digests,
    expect_config: bool,
    seconds: u64,
) -> Figures {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..fleet.len() {
        let (fleet, digests, stop) = (fleet.clone(), digests.clone(), stop.clone());
        tasks.spawn(async move {
            let (device, http, base, assignment) = &fleet[index];
            let digests = Digests { modules: assignment.clone(), ..digests };
            let mut latencies = Vec::new();
            let mut seq = 1;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                let began = Instant::now();
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let answer: Envelope<SyncAnswer> =
                    device.sync(http, base, &request(&digests, seq), now).await;
                assert_eq!(
                    answer.body.config.is_some(),
                    expect_config,
                    "the config section only when it changed"
                );
                latencies.push(began.elapsed());
            }
            latencies
        });
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("device task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or_default()
    };
    Figures { rate: latencies.len() as f64 / elapsed.as_secs_f64(), p50: at(0.5), p99: at(0.99) }
}

/// Where one sync's time goes on the DS, measured in process: opening the request and sealing
/// the answer, and the three database writes on SQLite.
async fn split(dir: &Path) {
    const ROUNDS: u32 = 500;
    let ds = PrivateKeys::generate("ds-sig", "ds-enc").expect("keys");
    let device = PrivateKeys::generate("d-sig", "d-enc").expect("keys");
    let (device_signing, device_encryption) = device.public();
    let ds_encryption = ds.public().1;
    let digests = Digests::default();
    let sealed: Vec<String> = (0..ROUNDS)
        .map(|seq| {
            let envelope = Envelope {
                v: 1,
                device_id: "d".into(),
                message_id: seal::message_id().expect("id"),
                issued_at: 0,
                in_reply_to: None,
                body: request(&digests, u64::from(seq)),
            };
            seal::seal(&envelope, &device, &ds_encryption).expect("sealed")
        })
        .collect();
    // As the DS holds them: its keys loaded once per key reload, a device's once per process.
    let decrypters = seal::Decrypters::load(std::slice::from_ref(&ds.encryption)).expect("keys");
    let signer = seal::Signer::load(&ds.signing).expect("key");
    let verifier = seal::Verifier::load(&device_signing).expect("key");
    let encrypter = seal::Encrypter::load(&device_encryption).expect("key");
    let began = Instant::now();
    for message in &sealed {
        let opened = seal::decrypt_with(message, &decrypters).expect("decrypts");
        let envelope: Envelope<SyncRequest> =
            opened.verify_with(&verifier, Some("d"), 0).expect("verifies");
        let answer = Envelope {
            v: 1,
            device_id: "d".into(),
            message_id: envelope.message_id,
            issued_at: 0,
            in_reply_to: None,
            body: serde_json::json!({}),
        };
        std::hint::black_box(seal::seal_with(&answer, &signer, &encrypter).expect("sealed"));
    }
    let crypto = began.elapsed() / ROUNDS;

    let url = format!("sqlite://{}", dir.join("split.db").display());
    let store = SqlStore::open(&url, 4).await.expect("store");
    let record = Device {
        id: "d".into(),
        signing_key: String::new(),
        encryption_key: String::new(),
        installed_with: "3.1.0".into(),
        version: "3.1.0".into(),
        os: "windows".into(),
        os_version: None,
        arch: "x86_64".into(),
        state: "running".into(),
        labels: vec![],
        browsers: vec![],
        modules: vec![],
        failed_installs: vec![],
        registered_at: 0,
        last_seen: 0,
        revoked_at: None,
    };
    store.create_device(&record).await.expect("device");
    let began = Instant::now();
    for seq in 0..ROUNDS {
        let id = seal::message_id().expect("id");
        let counters = request(&digests, u64::from(seq) + 1).counters;
        let report = DeviceReport {
            version: "3.1.0".into(),
            os: "windows".into(),
            os_version: None,
            arch: "x86_64".into(),
            state: "running".into(),
            labels: vec!["bench".into()],
            browsers: vec![],
            modules: vec![],
            failed_installs: vec![],
            rollouts: vec![],
            seen_at: 0,
        };
        let stored = store.apply_sync("d", &id, &counters, &report).await.expect("stored");
        assert!(stored.is_some(), "not a replay");
    }
    let database = began.elapsed() / ROUNDS;
    println!(
        "per sync on the DS, in process: crypto (open + seal) {crypto:.1?}, SQLite writes (one transaction) {database:.1?}"
    );
    println!(
        "(the rest of a sync's cost is HTTP, TLS and JSON; the load generator's own crypto runs on the same cores)"
    );
}
