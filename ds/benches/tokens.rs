//! Token-route benchmark, run with `cargo bench -p t1c-ds --bench tokens` (needs Debian's `wrk`
//! and, for the PostgreSQL figures, `postgresql`).
//!
//! Measures, in one run: `wrk` (2 threads, 32 keep-alive connections, HTTPS) against
//! `GET /v3_5/tokens/application` with a valid API key, on the real `t1c-ds` binary over SQLite
//! and over PostgreSQL, next to a minimal axum + rustls hello-world served by this process as
//! the baseline; the DS's cold start (process start to first answered request, on a fresh data
//! directory: migrations, bootstrap account and first signing key included) and its idle
//! resident memory. The route signs at most once per label per second (claims have
//! whole-second times), so the `wrk` figure is the route's overhead; the cost of a fresh
//! signature is measured separately, per algorithm, in process. The rate limits are off for the run: one key asks for tens of thousands of
//! tokens a second, which the default budget would rightly refuse.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use t1c_ds::clock::ManualClock;
use t1c_ds::store::{Label, SqlStore, Store};
use t1c_ds::tokens::{SigningAlgorithm, TokenIssuer, TokenSettings};
use t1c_testkit::bench::{free_port, hello_world, rss_kib, wait_for, wrk};
use t1c_testkit::postgres::TestDatabase;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let baseline_port = free_port();
    runtime.spawn(hello_world(baseline_port));
    wait_for(baseline_port);
    let baseline = wrk(&format!("https://localhost:{baseline_port}/hello"), &[]);
    println!(
        "baseline axum+rustls /hello          {:>9.0} req/s  p99 {}",
        baseline.requests_per_second, baseline.p99
    );

    let dir = tempfile::tempdir().expect("tempdir");
    for algorithm in [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA, SigningAlgorithm::RS256] {
        let per_token = runtime.block_on(fresh_signature(dir.path(), algorithm));
        println!("fresh token, {:<5} (one signature)    {per_token:>9.1?}", algorithm.as_str());
    }
    let postgres = TestDatabase::start().expect("PostgreSQL for the benchmark");
    for (name, url) in [("SQLite", None), ("PostgreSQL", Some(postgres.url()))] {
        let data = dir.path().join(name);
        let (cold, mut ds, port) = start(&data, url);
        std::thread::sleep(Duration::from_secs(1));
        let idle = rss_kib(ds.id());
        let key = runtime.block_on(api_key(&data, port));
        let result =
            wrk(&format!("https://localhost:{port}/v3_5/tokens/application"), &[("apikey", &key)]);
        let loaded = rss_kib(ds.id());
        stop(&mut ds);
        println!(
            "t1c-ds tokens/application, {name:<10} {:>9.0} req/s  p99 {}  ({:.0}% of baseline)",
            result.requests_per_second,
            result.p99,
            100.0 * result.requests_per_second / baseline.requests_per_second
        );
        println!(
            "  cold start to first answer {cold:.2?}; RSS idle {} MiB, after the run {} MiB",
            idle / 1024,
            loaded / 1024
        );
    }
}

/// Starts `t1c-ds serve` on a fresh data directory; returns the time to its first answer.
#[expect(
    clippy::zombie_processes,
    reason = "the child is returned; the caller stops and waits on it"
)]
fn start(data: &Path, database_url: Option<&str>) -> (Duration, Child, u16) {
    std::fs::create_dir_all(data).expect("data dir");
    let port = free_port();
    let config = data.join("ds.toml");
    std::fs::write(
        &config,
        "[api_keys]\nrequests_per_key_per_minute = 0\nfailures_per_address_per_minute = 0\n",
    )
    .expect("config");
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_t1c-ds"));
    command.arg("serve").arg("--config").arg(&config).arg("--data-dir").arg(data);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("T1C_DS_LOG", "warn")
        .stdout(Stdio::null());
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let mut child = command.spawn().expect("t1c-ds starts");
    let ca = data.join("tls/ca.pem");
    loop {
        if started.elapsed() > Duration::from_secs(60) {
            stop(&mut child);
            panic!("t1c-ds did not answer within 60 s");
        }
        let answered = ca.exists()
            && Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "--cacert"])
                .arg(&ca)
                .arg(format!("https://localhost:{port}/healthz"))
                .status()
                .is_ok_and(|s| s.success());
        if answered {
            return (started.elapsed(), child, port);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Logs in as the bootstrap administrator and creates an organisation, a label and its key.
async fn api_key(data: &Path, port: u16) -> String {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).expect("ca"))
        .expect("pem");
    let client =
        reqwest::Client::builder().add_root_certificate(ca).no_proxy().build().expect("client");
    let base = format!("https://localhost:{port}");
    let bootstrap =
        std::fs::read_to_string(data.join("bootstrap-admin.txt")).expect("bootstrap file");
    let password = bootstrap.lines().find_map(|l| l.strip_prefix("password: ")).expect("password");
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let answer: serde_json::Value =
                request.send().await.expect("answers").json().await.expect("json");
            answer["data"].clone()
        }
    };
    let session = post(
        "/v3_5/auth/token",
        None,
        serde_json::json!({"username": "admin", "password": password}),
    )
    .await;
    let token = session["access_token"].as_str().expect("token").to_owned();
    let org = post("/v3_5/organisations", Some(&token), serde_json::json!({"name": "Bench"})).await;
    let label = post(
        "/v3_5/labels",
        Some(&token),
        serde_json::json!({"organisation_id": org["id"], "name": "bench", "domains": ["https://bench.example"]}),
    )
    .await;
    let key = post(
        &format!("/v3_5/labels/{}/keys", label["id"].as_str().expect("id")),
        Some(&token),
        serde_json::json!({}),
    )
    .await;
    key["api_key"].as_str().expect("key").to_owned()
}

/// The time to issue one token with a fresh signature (the clock moves a second per token, so
/// nothing is reused).
async fn fresh_signature(dir: &Path, algorithm: SigningAlgorithm) -> Duration {
    const TOKENS: u32 = 2000;
    let url = format!("sqlite://{}", dir.join(format!("{}.db", algorithm.as_str())).display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url, 1).await.expect("store"));
    let clock = ManualClock::at(1_000_000);
    let settings = TokenSettings { algorithm, ..TokenSettings::default() };
    let issuer = TokenIssuer::new(store, clock.clone(), settings);
    issuer.rotate().await.expect("key");
    let label = Label {
        id: "bench".into(),
        organisation_id: "bench".into(),
        name: "bench".into(),
        application: "bench".into(),
        domains: vec![],
        tags: vec![],
        created_at: 0,
        updated_at: 0,
    };
    let started = Instant::now();
    for _ in 0..TOKENS {
        clock.advance(1);
        std::hint::black_box(issuer.issue(&label).expect("token"));
    }
    started.elapsed() / TOKENS
}
