//! API benchmark, run with `cargo bench -p t1c-host --bench api` (needs Debian's `wrk`).
//!
//! Measures, in one run: `wrk` (2 threads, 32 keep-alive connections, HTTPS) against
//! `GET /v3/readers` of the real `t1c` binary with JWT off and on, next to a minimal
//! axum + rustls hello-world served by this process as the baseline; the connector's cold start
//! (process start to first served `/info`, with a fresh and with an existing data directory);
//! and its idle resident memory.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;

const WRK_SECONDS: &str = "5";

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
    let (fresh, mut first, _) = cold_start(&data, &public, false);
    stop(&mut first);
    let (warm, mut connector, port) = cold_start(&data, &public, false);
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_kib(connector.id());
    let jwt_off = wrk(port, "/v3/readers", None);
    stop(&mut connector);
    let (_, mut connector, port) = cold_start(&data, &public, true);
    let jwt_on = wrk(port, "/v3/readers", Some(&token));
    stop(&mut connector);

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
    println!("cold start to first /info: fresh data dir {fresh:.2?}, existing data dir {warm:.2?}");
    println!("idle RSS: {} MiB", rss / 1024);
}

/// Starts `t1c serve` and returns the time to its first answered `/info`.
#[expect(
    clippy::zombie_processes,
    reason = "the child is returned; every caller stops and waits on it"
)]
fn cold_start(data: &Path, jwt_key: &Path, jwt: bool) -> (Duration, Child, u16) {
    let port = free_port();
    let config = data.with_extension(format!("{port}.toml"));
    let mut file = std::fs::File::create(&config).expect("config");
    writeln!(
        file,
        "data_dir = {data:?}\n[server]\nport = {port}\n[modules]\ndir = {modules:?}\n[jwt]\nenabled = {jwt}\nkeys = [{{ kid = \"bench\", algorithm = \"ES256\", public_key = {jwt_key:?} }}]",
        modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/modules"),
    )
    .expect("write");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_t1c"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("T1C_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("t1c starts");
    let ca = data.join("tls/ca.pem");
    loop {
        if started.elapsed() > Duration::from_secs(60) {
            stop(&mut child);
            panic!("t1c did not answer within 60 s");
        }
        let answered = ca.exists()
            && Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "--cacert"])
                .arg(&ca)
                .arg(format!("https://localhost:{port}/info"))
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

/// Runs wrk; returns requests per second and the p99 latency as wrk prints it.
fn wrk(port: u16, path: &str, token: Option<&str>) -> (f64, String) {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c32", "-d", WRK_SECONDS, "--latency"]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("wrk (Debian package wrk) runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let non_2xx = text.lines().find(|l| l.contains("Non-2xx")).map(str::to_owned);
    assert!(non_2xx.is_none(), "{path}: {non_2xx:?}\n{text}");
    (rps, p99)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
            })
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The baseline: axum + rustls (ring) answering a small JSON body, nothing else.
async fn hello_world(port: u16) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
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
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let router = Router::new().route(
        "/hello",
        get(|| async { axum::Json(serde_json::json!({"success": true, "data": "hello"})) }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            if let Ok(stream) = acceptor.accept(stream).await {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
                    .await;
            }
        });
    }
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "baseline did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
