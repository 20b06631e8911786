//! The `pkcs11` module end to end: the real HTTPS API, the built component, the host's PKCS#11
//! workers (`t1c pkcs11-worker`) and real libraries: SoftHSMv2 tokens made per test
//! (`t1c_testkit::softhsm`), and OpenSC's `opensc-pkcs11.so` in front of a simulated Belgian
//! eID behind the real `pcscd` (`opensc.rs`), compared with the `beid` module on the same card.
//!
//! Every signature is verified here, with the RustCrypto crates, against the certificate the
//! token holds.

mod opensc;
mod pss;
mod tokens;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs8::DecodePublicKey as _;
use serde_json::Value;

use t1c_host::config::{Libraries, Pkcs11Config};
use t1c_host::readers::ReaderBackend;
use t1c_testkit::TestConnector;
use t1c_testkit::softhsm;

/// What a connector is started with.
struct Setup {
    /// PKCS#11 libraries (this OS's entry of `[pkcs11]`).
    libraries: Vec<PathBuf>,
    /// Environment of the workers.
    env: Vec<(OsString, OsString)>,
    /// Module packages to load.
    modules: Vec<&'static str>,
    /// The PC/SC readers.
    readers: Arc<dyn ReaderBackend>,
    /// `pkcs11.api_config`.
    api_config: bool,
}

impl Setup {
    fn softhsm(hsm: &softhsm::SoftHsm) -> Self {
        Self {
            libraries: vec![hsm.library.clone()],
            env: hsm.env(),
            modules: vec!["t1c-module-pkcs11"],
            readers: Arc::new(t1c_host::readers::SimulatorBackend::new(Vec::new())),
            api_config: true,
        }
    }
}

/// The connector over HTTPS on an ephemeral loopback port.
struct Connector {
    runtime: tokio::runtime::Runtime,
    /// The connector; taken when it is dropped.
    running: Option<TestConnector>,
}

impl Connector {
    fn start(setup: Setup) -> Self {
        // Built before any thread starts: cargo runs as a child process.
        for package in &setup.modules {
            t1c_testkit::components::path(package);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio");
        let mut builder = TestConnector::builder()
            .readers(setup.readers)
            .pkcs11_worker(env!("CARGO_BIN_EXE_t1c"))
            .pkcs11_worker_env(setup.env)
            .config(|config| {
                config.pkcs11 = Pkcs11Config {
                    linux: Some(Libraries::Many(setup.libraries.clone())),
                    macos: Some(Libraries::Many(setup.libraries.clone())),
                    win: Some(Libraries::Many(setup.libraries)),
                    api_config: setup.api_config,
                    call_timeout_secs: 10,
                    login_timeout_secs: 10,
                    ..Pkcs11Config::default()
                };
            });
        for package in setup.modules {
            builder = builder.module(package);
        }
        let running = runtime.block_on(builder.start());
        Self { runtime, running: Some(running) }
    }

    fn kit(&self) -> &TestConnector {
        self.running.as_ref().expect("the connector runs")
    }

    fn url(&self, path: &str) -> String {
        self.kit().url(path)
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self
                .kit()
                .http()
                .request(method, self.url(path))
                .header("origin", "https://app.test");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.expect("https");
            let status = response.status().as_u16();
            let answer: Value = response.json().await.expect("json");
            if status == 200 {
                assert_eq!(answer["success"], true, "{answer}");
                let data = answer["data"].to_string();
                let signature = answer["signature"].as_str().expect("signed reply");
                assert!(
                    self.kit().device_key().verify(data.as_bytes(), signature),
                    "reply signature"
                );
            }
            (status, answer)
        })
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(body))
    }

    /// `data` of a request that must succeed.
    fn data(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.request(method, path, body);
        assert_eq!(status, 200, "{path}: {answer}");
        answer["data"].clone()
    }

    /// The `CardReader`s whose `card.modules` list `module`.
    fn readers_of(&self, module: &str) -> Vec<Value> {
        let readers = self.data(reqwest::Method::GET, "/v3/readers?excluded=hello", None);
        readers
            .as_array()
            .expect("array")
            .iter()
            .filter(|r| {
                r["card"]["modules"].as_array().is_some_and(|m| m.iter().any(|n| n == module))
            })
            .cloned()
            .collect()
    }

    /// A PIN as t1c-sdk-js sends it: RSA-encrypted to the device key, base64.
    fn encrypted_pin(&self, pin: &str) -> String {
        self.kit().encrypted_pin(pin)
    }

    fn data_dir(&self) -> &Path {
        self.kit().data_dir()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

/// The DER certificates of a `{certificates: [..]}` answer.
fn certificates(answer: &Value) -> Vec<Vec<u8>> {
    answer["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("certificates in {answer}"))
        .iter()
        .map(|c| BASE64.decode(c["certificate"].as_str().expect("certificate")).expect("base64"))
        .collect()
}

/// Verifies `signature` over `digest` with the key of the DER `certificate`: RSA PKCS#1 v1.5
/// (or PSS: MGF1 over the same digest, salt as long as the digest), ECDSA P-256 or P-384 (DER
/// signature).
fn verify(certificate: &[u8], hash: Hash, digest: &[u8], signature: &[u8], pss: bool) {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    use x509_cert::der::{Decode as _, Encode as _};
    let parsed = x509_cert::Certificate::from_der(certificate).expect("X.509 certificate");
    let spki = parsed.tbs_certificate.subject_public_key_info.to_der().expect("SPKI");
    if let Ok(key) = rsa::RsaPublicKey::from_public_key_der(&spki) {
        let result = match (hash, pss) {
            (Hash::Sha1, false) => {
                key.verify(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), digest, signature)
            }
            (Hash::Sha256, false) => {
                key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest, signature)
            }
            (Hash::Sha384, false) => {
                key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), digest, signature)
            }
            (Hash::Sha512, false) => {
                key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), digest, signature)
            }
            (Hash::Sha1, true) => key.verify(rsa::Pss::new::<sha1::Sha1>(), digest, signature),
            (Hash::Sha256, true) => key.verify(rsa::Pss::new::<sha2::Sha256>(), digest, signature),
            (Hash::Sha384, true) => key.verify(rsa::Pss::new::<sha2::Sha384>(), digest, signature),
            (Hash::Sha512, true) => key.verify(rsa::Pss::new::<sha2::Sha512>(), digest, signature),
        };
        result.expect("RSA signature verifies with the certificate");
    } else if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(&spki) {
        let signature = p256::ecdsa::Signature::from_der(signature).expect("DER ECDSA");
        key.verify_prehash(digest, &signature).expect("P-256 signature verifies");
    } else {
        let key = p384::ecdsa::VerifyingKey::from_public_key_der(&spki).expect("RSA, P-256, P-384");
        let signature = p384::ecdsa::Signature::from_der(signature).expect("DER ECDSA");
        // Shorter digests (SHA-1) are integers as they are: left-pad them to the order's size.
        let mut prehash = vec![0u8; 48usize.saturating_sub(digest.len())];
        prehash.extend_from_slice(digest);
        key.verify_prehash(&prehash, &signature).expect("P-384 signature verifies");
    }
}

/// Digests the tests sign over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    const ALL: [Hash; 4] = [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512];

    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "sha1",
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}
