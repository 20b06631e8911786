//! File exchange benchmark, run with `cargo bench -p t1c-host --bench file_exchange` (needs
//! `cargo xtask build-modules` first, for `target/modules/fileexchange.t1cm`, and `curl`).
//!
//! Measures, in one run and on one disk: a 50 MB file downloaded into a mapped folder (web →
//! disk, `curl -F` of a multipart form, as t1c-sdk-js sends it) and uploaded back (disk → web,
//! into a file) through the real `t1c` binary over HTTPS, next to `cp` of the same file in the
//! same folder as the baseline: the best of five runs each, in MB/s, and the connector's peak
//! resident memory growth over the runs (`VmHWM` against the resident memory before them),
//! which stays small only if both directions stream.
//!
//! A second baseline shows what HTTPS itself costs on this machine: the same transfers, with
//! the same curl, against a bare axum + rustls server in this process that discards what it
//! receives and streams the file from the disk ([`bench::transfer_baseline`]): no multipart
//! form, no module, nothing written. The connector cannot be faster than that.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use t1c_testkit::bench::{self, free_port, peak_rss_kib, rss_kib};

const APP: &str = "https://bench.example.com";
const SIZE: usize = 50 * 1000 * 1000;
const RUNS: usize = 5;

fn main() {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/modules");
    assert!(
        modules.join("fileexchange.t1cm").is_file(),
        "run `cargo xtask build-modules` first: no fileexchange.t1cm in {}",
        modules.display()
    );
    let dir = tempfile::tempdir_in(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .expect("tempdir on the build disk");
    let data = dir.path().join("data");
    let folder = dir.path().join("exchange");
    std::fs::create_dir_all(&folder).expect("folder");
    let source = dir.path().join("source.bin");
    let content: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(&source, &content).expect("source");

    let copy = best(|| {
        let target = folder.join("copy.bin");
        let _ = std::fs::remove_file(&target);
        let started = Instant::now();
        let status = Command::new("cp").arg(&source).arg(&target).status().expect("cp");
        assert!(status.success());
        started.elapsed()
    });

    let transport = transport_baseline(&source);

    map(&data, &folder);
    let (mut connector, port) = start(&data, &modules);
    let ca = data.join("tls/ca.pem");
    let base = format!("https://localhost:{port}/v3/modules/fileexchange/apps/file");
    std::thread::sleep(Duration::from_secs(1));
    let idle = rss_kib(connector.id());

    let download = best(|| {
        let started = Instant::now();
        let output = curl(&ca)
            .args(["-F", "entity=bench", "-F", "type=files"])
            .arg("-F")
            .arg(format!("file=@{};filename=down.bin", source.display()))
            .args(["-F", "fileName=down.bin", "-F", "relPath="])
            .arg(format!("{base}/download"))
            .output()
            .expect("curl");
        let elapsed = started.elapsed();
        assert!(output.status.success(), "download: {}", String::from_utf8_lossy(&output.stdout));
        elapsed
    });
    assert_eq!(std::fs::read(folder.join("down.bin")).expect("downloaded"), content);

    let fetched = dir.path().join("fetched.bin");
    let upload = best(|| {
        let started = Instant::now();
        let output = curl(&ca)
            .args(["-H", "content-type: application/json", "--data"])
            .arg(r#"{"entity":"bench","type":"files","fileName":"down.bin"}"#)
            .arg("-o")
            .arg(&fetched)
            .arg(format!("{base}/upload"))
            .output()
            .expect("curl");
        let elapsed = started.elapsed();
        assert!(output.status.success(), "upload failed");
        elapsed
    });
    assert_eq!(std::fs::read(&fetched).expect("uploaded"), content);
    let peak = peak_rss_kib(connector.id());
    stop(&mut connector);

    let mb = SIZE as f64 / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!("cp (baseline)          {:>8.1} MB/s  ({copy:.2?} for {mb:.0} MB)", rate(copy));
    for (label, elapsed, https) in [
        ("download (web → disk)", download, transport.download),
        ("upload (disk → web)", upload, transport.upload),
    ] {
        println!(
            "{label:<22} {:>8.1} MB/s  ({elapsed:.2?}, {:.0}% of cp; bare HTTPS {:.1} MB/s in \
             {https:.2?}, the connector at {:.0}% of it)",
            rate(elapsed),
            100.0 * rate(elapsed) / rate(copy),
            rate(https),
            100.0 * rate(elapsed) / rate(https)
        );
    }
    println!(
        "connector resident memory: {} MiB before, peak {} MiB (growth {} MiB)",
        idle / 1024,
        peak / 1024,
        peak.saturating_sub(idle) / 1024
    );
}

/// The best times of the bare HTTPS transfers.
struct Transport {
    /// `curl -F` of the file to a server that discards it.
    download: Duration,
    /// The file streamed from the disk by the server into a file by curl.
    upload: Duration,
}

/// Runs [`bench::transfer_baseline`] on a runtime of its own and times the same curl
/// transfers against it.
fn transport_baseline(source: &Path) -> Transport {
    let port = free_port();
    let served = source.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(bench::transfer_baseline(port, served));
    });
    bench::wait_for(port);
    let base = format!("https://localhost:{port}");
    let download = best(|| {
        let started = Instant::now();
        let output = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--insecure", "-F", "entity=bench"])
            .arg("-F")
            .arg(format!("file=@{};filename=down.bin", source.display()))
            .arg(format!("{base}/discard"))
            .output()
            .expect("curl");
        let elapsed = started.elapsed();
        assert!(output.status.success(), "baseline download failed");
        elapsed
    });
    let fetched = source.with_extension("baseline");
    let upload = best(|| {
        let started = Instant::now();
        let status = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--insecure", "-o"])
            .arg(&fetched)
            .arg(format!("{base}/source"))
            .status()
            .expect("curl");
        let elapsed = started.elapsed();
        assert!(status.success(), "baseline upload failed");
        elapsed
    });
    let _ = std::fs::remove_file(&fetched);
    Transport { download, upload }
}

/// The fastest of [`RUNS`] runs of `run`.
fn best(mut run: impl FnMut() -> Duration) -> Duration {
    (0..RUNS).map(|_| run()).min().expect("runs")
}

fn curl(ca: &Path) -> Command {
    let mut command = Command::new("curl");
    command.args(["-sS", "--fail-with-body", "-H"]).arg(format!("origin: {APP}"));
    command.arg("--cacert").arg(ca);
    command
}

/// Maps the type `files` of entity `bench` for [`APP`] to `folder`, with `t1c files map`.
fn map(data: &Path, folder: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_t1c"))
        .args(["files", "map", "--application", APP, "bench", "files"])
        .arg(folder)
        .env("T1C_DATA_DIR", data)
        .stdout(Stdio::null())
        .status()
        .expect("t1c files map");
    assert!(status.success(), "t1c files map failed");
}

fn start(data: &Path, modules: &Path) -> (Child, u16) {
    let port = free_port();
    let config: PathBuf = data.with_extension("toml");
    let mut file = std::fs::File::create(&config).expect("config");
    writeln!(
        file,
        "data_dir = {data:?}\n[server]\nport = {port}\n[cors]\nallowed_origins = [\"{APP}\"]\n[modules]\nbundles = {modules:?}\ntrust_development_key = true"
    )
    .expect("write");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_t1c"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("T1C_LOG", "warn")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdout(Stdio::null())
        .spawn()
        .expect("t1c starts");
    bench::wait_for_info(
        &mut child,
        &data.join("tls/ca.pem"),
        port,
        started,
        Duration::from_millis(20),
    );
    (child, port)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
