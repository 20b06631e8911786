//! The `pkcs11` module end to end: the real HTTPS API, the built component, the host's PKCS#11
//! workers (`t1c pkcs11-worker`) and real libraries: SoftHSMv2 tokens made per test
//! (`softhsm.rs`), and OpenSC's `opensc-pkcs11.so` in front of a simulated Belgian eID behind the
//! real `pcscd` (`opensc.rs`), compared with the `beid` module on the same card.
//!
//! Every signature is verified here, with the RustCrypto crates, against the certificate the
//! token holds.

#[path = "../support/softhsm.rs"]
mod softhsm;

mod opensc;
mod tokens;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs8::DecodePublicKey as _;
use serde_json::Value;

use t1c_host::api::{self, ApiConfig, AppState, server};
use t1c_host::config::{Libraries, Pkcs11Config};
use t1c_host::counters::Counters;
use t1c_host::pkcs11::{Pkcs11Host, Pkcs11Options, Pkcs11Service};
use t1c_host::readers::ReaderBackend;
use t1c_host::security::cors::CorsPolicy;
use t1c_host::security::device_key::DeviceKey;
use t1c_host::security::tls::{self, CertificateResolver, CertificateSource, LocalCa};
use t1c_runtime::{Registry, Runtime, RuntimeConfig};

/// A module component of this workspace, built once per test process.
fn component(package: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "--quiet", "--target", "wasm32-wasip2", "--profile", "wasm-release"])
            .args([
                "-p",
                "t1c-module-pkcs11",
                "-p",
                "t1c-module-beid",
                "-p",
                "t1c-test-session-hog",
            ])
            .status()
            .expect("cargo starts");
        assert!(status.success(), "building the modules failed");
    });
    root.join(format!("target/wasm32-wasip2/wasm-release/{}.wasm", package.replace('-', "_")))
}

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
    running: Option<server::RunningServer>,
    address: SocketAddr,
    device_key: DeviceKey,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Connector {
    fn start(setup: Setup) -> Self {
        let components: Vec<PathBuf> = setup.modules.iter().map(|p| component(p)).collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio");
        let dir = tempfile::tempdir().expect("tempdir");
        let tls_dir = dir.path().join("tls");
        let source = CertificateSource::LocalCa { dir: tls_dir.clone(), dns_names: vec![] };
        let resolver = Arc::new(CertificateResolver::new(tls::load(&source).expect("certificate")));
        let ca_pem = LocalCa::open_or_create(&tls_dir).expect("ca").certificate_pem().to_owned();
        let settings = server::ServerSettings {
            https: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            http: None,
            max_header_bytes: 16 << 10,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            max_connections: 64,
        };
        let module_runtime = Runtime::new(RuntimeConfig::default()).expect("module runtime");
        let mut modules = Registry::new();
        for path in &components {
            modules.insert(module_runtime.load_file(path).expect("module loads")).expect("insert");
        }
        let key_path = dir.path().join("device-key.pem");
        let mut options = Pkcs11Options::new(PathBuf::from(env!("CARGO_BIN_EXE_t1c")));
        options.env = setup.env;
        options.call_timeout = Duration::from_secs(10);
        options.login_timeout = Duration::from_secs(10);
        let host = Arc::new(Pkcs11Host::new(options));
        let config = Pkcs11Config {
            linux: Some(Libraries::Many(setup.libraries.clone())),
            macos: Some(Libraries::Many(setup.libraries.clone())),
            win: Some(Libraries::Many(setup.libraries)),
            api_config: setup.api_config,
            ..Pkcs11Config::default()
        };
        let pkcs11 = Pkcs11Service::new(host, &config, Pkcs11Config::override_file(dir.path()));
        let state = AppState::new(ApiConfig {
            port: 51983,
            cors: CorsPolicy::new(&["https://app.test"]).expect("cors"),
            jwt: None,
            device_key: DeviceKey::load_or_create(&key_path).expect("device key"),
            modules: Arc::new(modules.into()),
            readers: setup.readers,
            counters: Arc::new(
                Counters::open(dir.path().join("counters.sqlite")).expect("counters"),
            ),
        })
        .with_pkcs11(pkcs11);
        let running = runtime
            .block_on(server::start(api::router(state), &settings, resolver))
            .expect("starts");
        let address = running.https_addresses()[0];
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca"))
            .tls_built_in_root_certs(false)
            .resolve("localhost", address)
            .build()
            .expect("client");
        let device_key = DeviceKey::load_or_create(&key_path).expect("device key");
        Self { runtime, running: Some(running), address, device_key, http, dir }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.address.port())
    }

    fn request(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request =
                self.http.request(method, self.url(path)).header("origin", "https://app.test");
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
                assert!(self.device_key.verify(data.as_bytes(), signature), "reply signature");
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
        let public = rsa::RsaPublicKey::from_public_key_pem(self.device_key.public_pem())
            .expect("device key PEM");
        let ciphertext = public
            .encrypt(&mut rsa::rand_core::OsRng, rsa::Pkcs1v15Encrypt, pin.as_bytes())
            .expect("encrypt");
        BASE64.encode(ciphertext)
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
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
/// (or PSS), ECDSA P-256 or P-384 (DER signature).
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
            (Hash::Sha256, true) => key.verify(rsa::Pss::new::<sha2::Sha256>(), digest, signature),
            (other, true) => panic!("PSS with {other:?} is not used here"),
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
