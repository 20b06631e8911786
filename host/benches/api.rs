//! API benchmark, run with `cargo bench -p t1c-host --bench api` (needs Debian's `wrk`).
//!
//! Measures, in one run: `wrk` (2 threads, 32 keep-alive connections, HTTPS) against
//! `GET /v3/readers` of the real `t1c` binary with JWT off and on and no PKCS#11 library, and
//! with JWT off and OpenSC's PKCS#11 library configured (as on most users' machines), then OpenSC
//! and a SoftHSMv2 token, next to a minimal axum + rustls hello-world served by this process as
//! the baseline; the connector's cold start (process start to first served `/info`, with a
//! fresh and with an existing data directory); and its idle resident memory.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use t1c_testkit::bench::{self, free_port, hello_world, rss_kib, wait_for};
use t1c_testkit::softhsm::SoftHsm;

/// OpenSC's PKCS#11 library as Debian installs it (`opensc-pkcs11`).
const OPENSC: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/// The PKCS#11 libraries of a run, and the environment their workers need.
#[derive(Default)]
struct Libraries {
    paths: Vec<PathBuf>,
    env: Vec<(OsString, OsString)>,
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline_port = free_port();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.spawn(hello_world(baseline_port));
    wait_for(baseline_port);
    let baseline = wrk(baseline_port, "/hello", None);

    // JWT material: an ES256 key for the connector's config and a token signed with it.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let public = dir.path().join("jwt.pem");
    std::fs::write(&public, key.public_key_pem()).expect("write");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("bench".into());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "bench", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("key"),
    )
    .expect("token");

    let data = dir.path().join("data");
    let none = Libraries::default();
    let (fresh, mut first, _) = cold_start(&data, &public, false, &none);
    stop(&mut first);
    let (warm, mut connector, port) = cold_start(&data, &public, false, &none);
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_kib(connector.id());
    let jwt_off = wrk(port, "/v3/readers", None);
    stop(&mut connector);
    let (_, mut connector, port) = cold_start(&data, &public, true, &none);
    let jwt_on = wrk(port, "/v3/readers", Some(&token));
    stop(&mut connector);

    let opensc = Libraries { paths: vec![PathBuf::from(OPENSC)], env: Vec::new() };
    let with_opensc = readers_with(&data, &public, &opensc, 0);
    let hsm = SoftHsm::new();
    let both =
        Libraries { paths: vec![PathBuf::from(OPENSC), hsm.library.clone()], env: hsm.env() };
    let with_both = readers_with(&data, &public, &both, 1);

    println!("baseline axum+rustls /hello   {:>9.0} req/s  p99 {}", baseline.0, baseline.1);
    println!(
        "t1c /v3/readers, JWT off      {:>9.0} req/s  p99 {}  ({:.0}% of baseline)",
        jwt_off.0,
        jwt_off.1,
        100.0 * jwt_off.0 / baseline.0
    );
    println!(
        "t1c /v3/readers, JWT on       {:>9.0} req/s  p99 {}  ({:.0}% of baseline)",
        jwt_on.0,
        jwt_on.1,
        100.0 * jwt_on.0 / baseline.0
    );
    for (label, result) in [("OpenSC", with_opensc), ("OpenSC+SoftHSM", with_both)] {
        println!(
            "t1c /v3/readers, {label:<13}{:>9.0} req/s  p99 {}  ({:.0}% of baseline)",
            result.0,
            result.1,
            100.0 * result.0 / baseline.0
        );
    }
    println!("cold start to first /info: fresh data dir {fresh:.2?}, existing data dir {warm:.2?}");
    println!("idle RSS: {} MiB", rss / 1024);
}

/// `GET /v3/readers` (JWT off) with `libraries` configured, once `tokens` token slots are
/// listed.
fn readers_with(
    data: &Path,
    jwt_key: &Path,
    libraries: &Libraries,
    tokens: usize,
) -> (f64, String) {
    let (_, mut connector, port) = cold_start(data, jwt_key, false, libraries);
    let ca = data.join("tls/ca.pem");
    let started = Instant::now();
    loop {
        let listed = Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(&ca)
            .arg(format!("https://localhost:{port}/v3/readers"))
            .output()
            .expect("curl");
        let answer: serde_json::Value =
            serde_json::from_slice(&listed.stdout).unwrap_or(serde_json::Value::Null);
        // Token slots are the readers whose card has no ATR.
        let listed = answer["data"].as_array().map(|readers| {
            readers.iter().filter(|r| r["card"]["atr"].as_str() == Some("")).count()
        });
        if listed == Some(tokens) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            stop(&mut connector);
            panic!("t1c did not list {tokens} token(s) within 30 s: {answer}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = wrk(port, "/v3/readers", None);
    stop(&mut connector);
    result
}

/// Starts `t1c serve` with `libraries` and returns the time to its first answered `/info`.
fn cold_start(
    data: &Path,
    jwt_key: &Path,
    jwt: bool,
    libraries: &Libraries,
) -> (Duration, Child, u16) {
    let port = free_port();
    let config = data.with_extension(format!("{port}.toml"));
    let mut file = std::fs::File::create(&config).expect("config");
    writeln!(
        file,
        "data_dir = {data:?}\n[server]\nport = {port}\n[modules]\ndir = {modules:?}\n[jwt]\nenabled = {jwt}\nkeys = [{{ kid = \"bench\", algorithm = \"ES256\", public_key = {jwt_key:?} }}]\n[pkcs11]\nlinux = {paths:?}",
        modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/modules"),
        paths = libraries.paths,
    )
    .expect("write");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_t1c"))
        .args(["serve", "--config"])
        .arg(&config)
        .envs(libraries.env.iter().map(|(k, v)| (k, v)))
        .env("T1C_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("t1c starts");
    let elapsed = bench::wait_for_info(
        &mut child,
        &data.join("tls/ca.pem"),
        port,
        started,
        Duration::from_millis(5),
    );
    (elapsed, child, port)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs wrk against the connector; returns requests per second and the p99 latency.
fn wrk(port: u16, path: &str, token: Option<&str>) -> (f64, String) {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> =
        authorization.as_deref().map(|a| vec![("Authorization", a)]).unwrap_or_default();
    let result = bench::wrk(&format!("https://localhost:{port}{path}"), &headers);
    (result.requests_per_second, result.p99)
}
