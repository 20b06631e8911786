//! A connector for tests: the connector's own composition root on a temporary data directory,
//! an ephemeral loopback port and test readers, with an HTTPS client that trusts its local CA.
//!
//! ```no_run
//! # async fn run() {
//! let connector = t1c_testkit::TestConnector::builder().module("t1c-module-hello").start().await;
//! let info = connector.client().get(connector.url("/info")).send().await.expect("https");
//! assert_eq!(info.status(), 200);
//! connector.shutdown().await;
//! # }
//! ```

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey as _;

use t1c_host::api::server::ServerSettings;
use t1c_host::config::{Config, CorsConfig, ServerConfig};
use t1c_host::connector::{Connector, ConnectorBuilder};
use t1c_host::readers::{ReaderBackend, SimulatorBackend};
use t1c_host::security::device_key::DeviceKey;
use t1c_host::security::policy::{LivePolicy, SecurityPolicy};
use t1c_host::security::tls::{CertificateResolver, LocalCa};

use crate::components;

/// The origin test connectors allow unless told otherwise.
pub const TEST_ORIGIN: &str = "https://app.test";

/// A change to the listener settings, applied at start.
type ListenerEdit = Box<dyn FnOnce(&mut ServerSettings) + Send>;

/// A running connector for tests and the means to talk to it.
pub struct TestConnector {
    connector: Connector,
    address: SocketAddr,
    ca_pem: String,
    device_key: DeviceKey,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// What a [`TestConnector`] is started with. By default: a fresh temporary data directory,
/// HTTPS on `127.0.0.1:0`, no plain HTTP, [`TEST_ORIGIN`] allowed, JWT off, no readers, no
/// modules, no PKCS#11 library.
pub struct TestConnectorBuilder {
    dir: tempfile::TempDir,
    config: Config,
    readers: Arc<dyn ReaderBackend>,
    modules: Vec<String>,
    policy: Option<SecurityPolicy>,
    pkcs11_worker: Option<PathBuf>,
    pkcs11_worker_env: Vec<(OsString, OsString)>,
    listeners: Vec<ListenerEdit>,
    certificate_watch: Option<Duration>,
    ds_sync_task: bool,
    session_bus: Option<String>,
}

impl TestConnector {
    /// A builder with the test defaults.
    pub fn builder() -> TestConnectorBuilder {
        TestConnectorBuilder::new()
    }

    /// The connector itself (live policy, certificates, modules).
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// The security policy the connector enforces.
    pub fn policy(&self) -> &Arc<LivePolicy> {
        self.connector.policy()
    }

    /// The certificate the connector serves.
    pub fn certificates(&self) -> &Arc<CertificateResolver> {
        self.connector.certificates()
    }

    /// The HTTPS address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The plain-HTTP address, when enabled.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.connector.http_address()
    }

    /// The connector's data directory (temporary, removed with the connector).
    pub fn data_dir(&self) -> &Path {
        self.connector.data_dir()
    }

    /// The local CA certificate (PEM) the connector's certificate chains to.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The connector's device key (loaded again from its file), to check reply signatures and
    /// encrypt PINs.
    pub fn device_key(&self) -> &DeviceKey {
        &self.device_key
    }

    /// A client shared by every call: one keep-alive connection pool.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A new HTTPS client (its own connections) that trusts only the connector's CA and
    /// resolves `localhost` to it.
    pub fn client(&self) -> reqwest::Client {
        client(&self.ca_pem, self.address)
    }

    /// `https://localhost:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.address.port())
    }

    /// `pin` encrypted to the device key, base64, as a page sends it.
    pub fn encrypted_pin(&self, pin: &str) -> String {
        let public = rsa::RsaPublicKey::from_public_key_pem(self.device_key.public_pem())
            .expect("the device key's PEM");
        let ciphertext = public
            .encrypt(&mut rsa::rand_core::OsRng, rsa::Pkcs1v15Encrypt, pin.as_bytes())
            .expect("encrypt");
        base64::engine::general_purpose::STANDARD.encode(ciphertext)
    }

    /// Stops the connector and removes its data directory.
    pub async fn shutdown(self) {
        self.connector.shutdown().await;
    }
}

impl TestConnectorBuilder {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let config = Config {
            data_dir: Some(dir.path().to_owned()),
            server: ServerConfig {
                port: 0,
                listen: vec![IpAddr::from([127, 0, 0, 1])],
                ..ServerConfig::default()
            },
            cors: CorsConfig { allowed_origins: vec![TEST_ORIGIN.to_owned()] },
            ..Config::default()
        };
        Self {
            dir,
            config,
            readers: Arc::new(SimulatorBackend::new(Vec::new())),
            modules: Vec::new(),
            policy: None,
            pkcs11_worker: None,
            pkcs11_worker_env: Vec::new(),
            listeners: Vec::new(),
            certificate_watch: None,
            ds_sync_task: true,
            session_bus: None,
        }
    }

    /// The temporary data directory (to put files the configuration names).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Changes the configuration (its data directory is the temporary one).
    #[must_use]
    pub fn config(mut self, edit: impl FnOnce(&mut Config)) -> Self {
        edit(&mut self.config);
        self
    }

    /// Allows exactly these origins (`[cors] allowed_origins`).
    #[must_use]
    pub fn cors(self, origins: &[&str]) -> Self {
        self.config(|c| c.cors.allowed_origins = origins.iter().map(|&o| o.to_owned()).collect())
    }

    /// Enforces `policy` at start instead of the configured CORS and JWT.
    #[must_use]
    pub fn policy(mut self, policy: SecurityPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Serves these readers (default: none).
    #[must_use]
    pub fn readers(mut self, readers: Arc<dyn ReaderBackend>) -> Self {
        self.readers = readers;
        self
    }

    /// Serves a component of the workspace (a module or test module package name), built and
    /// loaded with the default runtime configuration.
    #[must_use]
    pub fn module(mut self, package: &str) -> Self {
        self.modules.push(package.to_owned());
        self
    }

    /// Changes the listener settings (connection limit, plain HTTP on `127.0.0.1:0`, ...).
    #[must_use]
    pub fn listeners(mut self, edit: impl FnOnce(&mut ServerSettings) + Send + 'static) -> Self {
        self.listeners.push(Box::new(edit));
        self
    }

    /// The executable of the PKCS#11 workers: the `t1c` binary
    /// (`env!("CARGO_BIN_EXE_t1c")` in the host's tests and benches).
    #[must_use]
    pub fn pkcs11_worker(mut self, executable: impl Into<PathBuf>) -> Self {
        self.pkcs11_worker = Some(executable.into());
        self
    }

    /// Extra environment of the PKCS#11 workers ([`crate::softhsm::SoftHsm::env`]).
    #[must_use]
    pub fn pkcs11_worker_env(mut self, env: Vec<(OsString, OsString)>) -> Self {
        self.pkcs11_worker_env = env;
        self
    }

    /// How often the connector checks its certificate files for a replacement.
    #[must_use]
    pub fn certificate_watch(mut self, interval: Duration) -> Self {
        self.certificate_watch = Some(interval);
        self
    }

    /// Sends desktop notifications to the session bus at `address` (default: none, so tests
    /// never notify the developer's desktop).
    #[must_use]
    pub fn session_bus(mut self, address: &str) -> Self {
        self.session_bus = Some(address.to_owned());
        self
    }

    /// Leaves the DS sync to the test ([`t1c_host::ds::DsSync::sync_now`]) instead of its own
    /// task, so each sync happens exactly when the test says.
    #[must_use]
    pub fn manual_ds_sync(mut self) -> Self {
        self.ds_sync_task = false;
        self
    }

    /// Starts the connector through the composition root.
    ///
    /// # Panics
    /// When a module does not load or the connector does not start.
    pub async fn start(self) -> TestConnector {
        let mut builder = ConnectorBuilder::new(self.config)
            .ds_sync_task(self.ds_sync_task)
            .session_bus(self.session_bus)
            .readers(self.readers)
            .pkcs11_worker_env(self.pkcs11_worker_env);
        if !self.modules.is_empty() {
            for package in &self.modules {
                let path = components::path(package);
                let module = components::runtime().load_file(&path).expect("the module loads");
                builder = builder.module(module);
            }
        }
        if let Some(policy) = self.policy {
            builder = builder.policy(policy);
        }
        if let Some(worker) = self.pkcs11_worker {
            builder = builder.pkcs11_worker(worker);
        }
        if let Some(interval) = self.certificate_watch {
            builder = builder.certificate_watch(interval);
        }
        for edit in self.listeners {
            builder = builder.listeners(edit);
        }
        let connector = builder.start().await.expect("the connector starts");
        let address = connector.https_addresses()[0];
        let data_dir = connector.data_dir();
        let ca_pem = LocalCa::open_or_create(&data_dir.join("tls"))
            .expect("the local CA")
            .certificate_pem()
            .to_owned();
        let device_key =
            DeviceKey::load_or_create(&data_dir.join("device-key.pem")).expect("the device key");
        let http = client(&ca_pem, address);
        TestConnector { connector, address, ca_pem, device_key, http, _dir: self.dir }
    }
}

/// An HTTPS client trusting only `ca_pem`, resolving `localhost` to `address`.
fn client(ca_pem: &str, address: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM"))
        .tls_built_in_root_certs(false)
        .resolve("localhost", address)
        .build()
        .expect("an HTTPS client")
}
