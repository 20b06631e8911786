//! What the HTTP benchmarks share: `wrk` runs, the axum + rustls baselines every figure is a
//! ratio of (measured in the same run: a hello-world, and a bare file transfer), resident
//! memory, ports.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;

/// How long each `wrk` run lasts, in seconds.
pub const WRK_SECONDS: &str = "5";

/// One `wrk` run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    /// Requests per second.
    pub requests_per_second: f64,
    /// The 99th-percentile latency as wrk prints it (`1.23ms`).
    pub p99: String,
}

/// Runs `wrk` (2 threads, 32 keep-alive connections) against `url` with `headers`; panics when
/// any answer is not 2xx, so a figure never counts errors as throughput.
///
/// # Panics
/// When wrk (Debian package `wrk`) is missing or an answer is not 2xx.
pub fn wrk(url: &str, headers: &[(&str, &str)]) -> Throughput {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c32", "-d", WRK_SECONDS, "--latency"]);
    for (name, value) in headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    let output = command.arg(url).output().expect("wrk (Debian package wrk) runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let requests_per_second = text
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
    assert!(non_2xx.is_none(), "{url}: {non_2xx:?}\n{text}");
    Throughput { requests_per_second, p99 }
}

/// Resident memory of process `pid` in KiB (0 when unknown).
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB (0 when unknown).
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// A `... kB` line of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field).map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
            })
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The baseline: axum + rustls (ring) answering `GET /hello` with a small JSON body, nothing
/// else, on `port` of 127.0.0.1. Runs until the runtime ends.
///
/// # Panics
/// When the port cannot be bound.
pub async fn hello_world(port: u16) {
    let router = Router::new().route(
        "/hello",
        get(|| async { axum::Json(serde_json::json!({"success": true, "data": "hello"})) }),
    );
    serve_baseline(port, router).await;
}

/// The file-transfer baseline: the same axum + rustls server with nothing but the transfer:
/// `POST /discard` reads a request body of any size to its end and answers how many bytes it
/// had (no parsing, no disk), and `GET /source` answers the file `source`, streamed from the
/// disk in pieces of 512 KiB as the connector's upload does. Its certificate is self-signed
/// (clients skip the check). Runs until the runtime ends.
///
/// # Panics
/// When the port cannot be bound.
pub async fn transfer_baseline(port: u16, source: std::path::PathBuf) {
    async fn discard(body: Body) -> Response {
        let mut stream = body.into_data_stream();
        let mut received = 0usize;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => received += chunk.len(),
                Err(_) => return StatusCode::BAD_REQUEST.into_response(),
            }
        }
        received.to_string().into_response()
    }
    let router = Router::new().route("/discard", post(discard)).route(
        "/source",
        get(move || {
            let source = source.clone();
            async move {
                let Ok(file) = tokio::fs::File::open(&source).await else {
                    return StatusCode::NOT_FOUND.into_response();
                };
                let Ok(metadata) = file.metadata().await else {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                };
                let body =
                    Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 512 << 10));
                ([(header::CONTENT_LENGTH, metadata.len())], body).into_response()
            }
        }),
    );
    serve_baseline(port, router).await;
}

/// Serves `router` over HTTPS (rustls with ring, HTTP/2 or 1.1, a self-signed certificate for
/// `localhost`) on `port` of 127.0.0.1.
async fn serve_baseline(port: u16, router: Router) {
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
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
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

/// Waits until the connector `child` started at `started` answers `GET /info` over HTTPS on
/// `port` (trusting `ca`, which it writes at its first start), asking every `poll`; returns
/// the time from `started`.
///
/// # Panics
/// When it does not answer within 60 s (the child is killed first).
pub fn wait_for_info(
    child: &mut std::process::Child,
    ca: &std::path::Path,
    port: u16,
    started: Instant,
    poll: Duration,
) -> Duration {
    loop {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("t1c did not answer within 60 s");
        }
        let answered = ca.exists()
            && Command::new("curl")
                .args(["-sf", "-o", "/dev/null", "--cacert"])
                .arg(ca)
                .arg(format!("https://localhost:{port}/info"))
                .status()
                .is_ok_and(|s| s.success());
        if answered {
            return started.elapsed();
        }
        std::thread::sleep(poll);
    }
}

/// Waits until something listens on `port` of 127.0.0.1 (at most 30 s).
///
/// # Panics
/// When nothing does.
pub fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free TCP port on 127.0.0.1.
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
