//! Belgian eID benchmark, run with `cargo bench -p t1c-host --bench beid` (needs `pcscd`,
//! `vsmartcard-vpcd` and OpenSC's `pkcs15-tool`).
//!
//! One simulated 1.7 card (the default citizen) behind a private, real `pcscd` through the vpcd
//! bridge, wrapped in a [`RecordingCard`] that logs every command APDU reaching the card. In
//! one run:
//!
//! - `all-data` through the connector's HTTPS API (in-process server, PC/SC backend, `beid`
//!   component; one keep-alive client), N calls, median and p99;
//! - the same APDU sequence replayed natively through the `pcsc` crate, N times, with the same
//!   session shape the connector's PC/SC backend uses (own context, shared connection, one
//!   transaction, card reset at the end): the sequence is the one the card recorded during an
//!   `all-data` call through the connector, and each replayed response is checked against the
//!   recorded one;
//! - a signature (sha256, PIN encrypted to the device key as t1c-sdk-js sends it) through the
//!   HTTPS API, N calls, against the same sign APDUs (VERIFY PIN, MSE SET, PSO) replayed natively
//!   the same way, and a signature with a plain PIN for the share of the PIN decryption;
//! - the APDU counts of `all-data`, a signature, `authentication-cert` and `cert-list`, next to
//!   what OpenSC's `pkcs15-tool --read-certificate` sends for the same certificates (counted at
//!   the card the same way).
//!
//! `T1C_BENCH_ITERATIONS` sets N (default 200).

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use t1c_host::readers::{PcscBackend, PcscConfig};
use t1c_sdk::simulator::belpic::{AppletVersion, BelpicCard, Persona, TestPki};
use t1c_sdk::simulator::pcscd::PrivatePcscd;
use t1c_sdk::simulator::vpcd::VpcdBridge;
use t1c_sdk::simulator::{VirtualCard, VirtualReader};
use t1c_testkit::TestConnector;

const DEADLINE: Duration = Duration::from_secs(30);

/// Every (command, response) that reached the card, shared with the bench.
type Log = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// A simulated card that logs its exchanges.
struct RecordingCard {
    inner: BelpicCard,
    log: Log,
}

impl VirtualCard for RecordingCard {
    fn atr(&self) -> Vec<u8> {
        self.inner.atr()
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let response = self.inner.process(apdu);
        self.log.lock().expect("log").push((apdu.to_vec(), response.clone()));
        response
    }
}

fn main() {
    let iterations: usize = std::env::var("T1C_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
        .max(10);
    // Built before any thread starts: cargo runs as a child process.
    t1c_testkit::components::path("t1c-module-beid");
    let pki = TestPki::generate_seeded(&Persona::default_citizen(), AppletVersion::V1_7, 5)
        .expect("test PKI");
    let card = BelpicCard::from_pki(&Persona::default_citizen(), &pki).expect("card");

    let pcscd = PrivatePcscd::start(1).expect("private pcscd (pcscd, vsmartcard-vpcd)");
    // Before the bridge, tokio and the PC/SC monitor start any thread.
    // SAFETY: one test per process (nextest), and no other thread has started yet.
    #[allow(unsafe_code)]
    unsafe {
        pcscd.use_for_this_process()
    };
    let log = Log::default();
    let reader = VirtualReader::new("belpic bench");
    reader.insert(Box::new(RecordingCard { inner: card, log: log.clone() }));
    let _bridge =
        VpcdBridge::start(reader.clone(), "127.0.0.1", pcscd.port(0).expect("port")).expect("vpcd");
    let reader_name = pcscd.reader_name(0).expect("reader name");

    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let connector = runtime.block_on(start_connector());
    let id = runtime.block_on(connector.wait_for_reader(&reader_name));
    let base = format!("/v3/modules/beid/apps/token/readers/{id}");

    // Warm up (module instantiation, TLS session, pcscd), then record one all-data.
    for _ in 0..3 {
        runtime.block_on(connector.call(&format!("{base}/all-data"), None));
    }
    log.lock().expect("log").clear();
    runtime.block_on(connector.call(&format!("{base}/all-data"), None));
    let sequence = std::mem::take(&mut *log.lock().expect("log"));

    // APDU costs through the connector.
    let digest = Sha256::digest(b"bench");
    let sign_body = json!({
        "algorithm": "sha256", "data": BASE64.encode(digest),
        "pin": connector.encrypted_pin("1234"), "base64Encoded": true,
    });
    log.lock().expect("log").clear();
    runtime.block_on(connector.call(&format!("{base}/sign"), Some(&sign_body)));
    let sign_sequence = std::mem::take(&mut *log.lock().expect("log"));
    let sign_apdus = sign_sequence.len();
    let auth_cert_apdus = count(&log, || {
        runtime.block_on(connector.call(&format!("{base}/authentication-cert"), None));
    });
    let nonrep_cert_apdus = count(&log, || {
        runtime.block_on(connector.call(&format!("{base}/nonrepudiation-cert"), None));
    });
    let cert_list_apdus = count(&log, || {
        runtime.block_on(connector.call(&format!("{base}/cert-list"), None));
    });

    // all-data through HTTPS.
    let mut through_connector = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        runtime.block_on(connector.call(&format!("{base}/all-data"), None));
        through_connector.push(start.elapsed());
    }

    // The same APDUs natively through PC/SC.
    let name = std::ffi::CString::new(reader_name.clone()).expect("no NUL");
    let first = native_session(&name, &sequence);
    for ((command, expected), got) in sequence.iter().zip(&first) {
        assert_eq!(got, expected, "replayed response differs for {}", hex::encode(command));
    }
    let mut native = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        native_session(&name, &sequence);
        native.push(start.elapsed());
    }

    // A signature through HTTPS, natively, and through HTTPS with a plain PIN, alternating.
    let first = native_session(&name, &sign_sequence);
    for ((command, expected), got) in sign_sequence.iter().zip(&first) {
        assert_eq!(got, expected, "replayed response differs for {}", hex::encode(command));
    }
    let mut plain_body = sign_body.clone();
    plain_body["pin"] = json!("1234");
    plain_body["base64Encoded"] = json!(false);
    let (mut sign_connector, mut sign_native, mut sign_plain) = (vec![], vec![], vec![]);
    for _ in 0..iterations {
        let start = Instant::now();
        runtime.block_on(connector.call(&format!("{base}/sign"), Some(&sign_body)));
        sign_connector.push(start.elapsed());
        let start = Instant::now();
        native_session(&name, &sign_sequence);
        sign_native.push(start.elapsed());
        let start = Instant::now();
        runtime.block_on(connector.call(&format!("{base}/sign"), Some(&plain_body)));
        sign_plain.push(start.elapsed());
    }

    // OpenSC reading the same certificates, each a process of its own.
    let dir = tempfile::tempdir().expect("tempdir");
    let opensc: Vec<(&str, usize)> = ["02", "03", "04", "06"]
        .into_iter()
        .map(|id| (id, count(&log, || opensc_read_certificate(&pcscd, dir.path(), id))))
        .collect();
    let opensc_all: usize = opensc.iter().map(|(_, n)| n).sum();

    let (c_median, c_p99) =
        (percentile(&mut through_connector, 50), percentile(&mut through_connector, 99));
    let (n_median, n_p99) = (percentile(&mut native, 50), percentile(&mut native, 99));
    println!("all-data, 1.7 card behind pcscd + vpcd, {iterations} iterations:");
    println!("  connector HTTPS API  median {c_median:>9.2?}  p99 {c_p99:>9.2?}");
    println!("  native PC/SC replay  median {n_median:>9.2?}  p99 {n_p99:>9.2?}");
    println!(
        "  ratio connector/native: median {:.3}x, p99 {:.3}x  (target <= 1.10x)",
        c_median.as_secs_f64() / n_median.as_secs_f64(),
        c_p99.as_secs_f64() / n_p99.as_secs_f64()
    );
    let (s_median, s_p99) =
        (percentile(&mut sign_connector, 50), percentile(&mut sign_connector, 99));
    let (sn_median, sn_p99) = (percentile(&mut sign_native, 50), percentile(&mut sign_native, 99));
    let (sp_median, sp_p99) = (percentile(&mut sign_plain, 50), percentile(&mut sign_plain, 99));
    println!("sign (sha256), same card, {iterations} iterations:");
    println!("  connector HTTPS API, encrypted PIN  median {s_median:>9.2?}  p99 {s_p99:>9.2?}");
    println!("  connector HTTPS API, plain PIN      median {sp_median:>9.2?}  p99 {sp_p99:>9.2?}");
    println!("  native PC/SC replay                 median {sn_median:>9.2?}  p99 {sn_p99:>9.2?}");
    println!(
        "  ratio connector/native: median {:.3}x, p99 {:.3}x",
        s_median.as_secs_f64() / sn_median.as_secs_f64(),
        s_p99.as_secs_f64() / sn_p99.as_secs_f64()
    );
    let selects = sequence.iter().filter(|(apdu, _)| apdu.get(1) == Some(&0xA4)).count();
    println!("APDUs (counted at the card):");
    println!("  all-data                     {:>3} ({selects} SELECT)", sequence.len());
    println!("  sign (sha256, key 83)        {sign_apdus:>3}");
    println!("  authentication-cert          {auth_cert_apdus:>3}");
    println!("  nonrepudiation-cert          {nonrep_cert_apdus:>3}");
    println!("  cert-list (5 certificates)   {cert_list_apdus:>3}");
    for (id, n) in &opensc {
        println!("  OpenSC pkcs15-tool --read-certificate {id}: {n:>3}");
    }
    println!("  OpenSC, certificates 02 03 04 06 in four runs: {opensc_all}");

    runtime.block_on(connector.kit.shutdown());
}

/// How many APDUs reached the card while `f` ran.
fn count(log: &Log, f: impl FnOnce()) -> usize {
    log.lock().expect("log").clear();
    f();
    std::mem::take(&mut *log.lock().expect("log")).len()
}

/// `p`-th percentile (nearest rank).
fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    let rank = (samples.len() * p).div_ceil(100).max(1);
    samples[rank - 1]
}

/// One session as the connector's PC/SC backend opens it: own context, shared connection, one
/// transaction, the card reset when it ends. Returns the responses.
fn native_session(reader: &std::ffi::CStr, sequence: &[(Vec<u8>, Vec<u8>)]) -> Vec<Vec<u8>> {
    let context = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
    let mut card =
        context.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).expect("connect");
    let mut buffer = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let transaction = card.transaction().expect("transaction");
    let responses = sequence
        .iter()
        .map(|(command, _)| transaction.transmit(command, &mut buffer).expect("transmit").to_vec())
        .collect();
    transaction.end(pcsc::Disposition::ResetCard).map_err(|(_, err)| err).expect("end");
    card.disconnect(pcsc::Disposition::LeaveCard).map_err(|(_, err)| err).expect("disconnect");
    responses
}

/// Runs `pkcs15-tool --read-certificate id` against the private pcscd, without file caching.
fn opensc_read_certificate(pcscd: &PrivatePcscd, dir: &Path, id: &str) {
    let conf = dir.join("opensc.conf");
    std::fs::write(
        &conf,
        "app default {\n  framework pkcs15 {\n    use_file_caching = no;\n  }\n}\n",
    )
    .expect("opensc.conf");
    let output = Command::new("pkcs15-tool")
        .args(["--reader", "0", "--read-certificate", id])
        .env("PCSCLITE_CSOCK_NAME", pcscd.socket_path())
        .env("OPENSC_CONF", &conf)
        .env("HOME", dir)
        .output()
        .expect("pkcs15-tool runs (Debian package opensc)");
    assert!(
        output.status.success(),
        "pkcs15-tool --read-certificate {id}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The connector for tests, with the `beid` module on the PC/SC readers.
struct Connector {
    kit: TestConnector,
}

impl Connector {
    fn url(&self, path: &str) -> String {
        self.kit.url(path)
    }

    /// A module call that must succeed.
    async fn call(&self, path: &str, body: Option<&Value>) -> Value {
        let request = match body {
            None => self.kit.http().get(self.url(path)),
            Some(body) => self.kit.http().post(self.url(path)).json(body),
        };
        let response = request.send().await.expect("https");
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    }

    /// The id of reader `name` once it lists a card claimed by `beid`.
    async fn wait_for_reader(&self, name: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let response =
                self.kit.http().get(self.url("/v3/readers")).send().await.expect("https");
            let body: Value = response.json().await.expect("json");
            let found = body["data"].as_array().and_then(|readers| {
                readers
                    .iter()
                    .find(|r| r["name"] == name && r["card"]["modules"] == json!(["beid"]))
            });
            if let Some(reader) = found {
                return reader["id"].as_str().expect("id").to_owned();
            }
            assert!(Instant::now() < deadline, "the card never showed: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn encrypted_pin(&self, pin: &str) -> String {
        self.kit.encrypted_pin(pin)
    }
}

async fn start_connector() -> Connector {
    let readers = PcscBackend::start(PcscConfig::default()).expect("PC/SC backend");
    let kit =
        TestConnector::builder().module("t1c-module-beid").readers(Arc::new(readers)).start().await;
    Connector { kit }
}
