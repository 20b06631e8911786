//! The composition root: a running connector built from a [`Config`].
//!
//! Every part of the connector — install state and module runtime, readers, PKCS#11 workers,
//! TLS identity, security policy, device key, counters, file exchange mappings, HTTPS listeners,
//! admin socket — is wired here and nowhere else. `t1c serve` builds its connector with
//! [`ConnectorBuilder`]; so do the tests and the benches, which only change what a test must
//! change (a temporary data directory and port 0 in the configuration, the readers, extra
//! modules, a policy) and never copy the wiring.
//!
//! ```no_run
//! # async fn run() -> Result<(), t1c_host::connector::ConnectorError> {
//! use t1c_host::config::Config;
//! use t1c_host::connector::Connector;
//!
//! let connector = Connector::builder(Config::default()).start().await?;
//! println!("serving on {:?}", connector.https_addresses());
//! connector.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::api::{self, ApiConfig, AppState, server};
use crate::bundles::{self, InstallOptions, Installer, Store, StoreError, TrustError};
use crate::config::{self, Config, ServerConfig};
use crate::counters::{Counters, CountersError};
use crate::ds::{DsLink, DsSync, SyncTargets};
use crate::file_exchange::FileExchange;
use crate::files::chooser::FolderChooser;
use crate::files::{MappingError, Mappings};
use crate::pkcs11::{Pkcs11Host, Pkcs11Options};
use crate::readers::{PcscBackend, PcscConfig, ReaderBackend, Readers, SimulatorBackend};
use crate::security::device_key::{DeviceKey, DeviceKeyError};
use crate::security::policy::{LivePolicy, PolicyError, SecurityPolicy};
use crate::security::tls::{self, CertificateResolver, CertificateSource, TlsError};
use t1c_runtime::{LoadedModule, ModuleSet, Runtime, RuntimeConfig};

/// Name of the simulated reader `[readers] simulate = true` adds.
pub const SIMULATED_READER: &str = "T1C Simulated Reader";

/// How often the certificate files are checked for a replacement, by default.
const CERTIFICATE_WATCH: Duration = Duration::from_secs(2);

/// A running connector: its listeners, admin socket and the live parts others may change
/// (served modules, security policy, certificate). Dropping it does not stop it;
/// [`Connector::shutdown`] does.
pub struct Connector {
    server: server::RunningServer,
    admin: Option<(JoinHandle<()>, PathBuf)>,
    certificate_watch: JoinHandle<()>,
    installer: Arc<Installer>,
    policy: Arc<LivePolicy>,
    certificates: Arc<CertificateResolver>,
    counters: Arc<Counters>,
    ds: Option<(Arc<DsSync>, Option<JoinHandle<()>>)>,
    files: Arc<Mappings>,
    data_dir: PathBuf,
}

/// What a connector is built from: the configuration, and the few parts a caller may give
/// instead of having them built from it.
pub struct ConnectorBuilder {
    config: Config,
    listeners: server::ServerSettings,
    readers: Option<Arc<dyn ReaderBackend>>,
    modules: Vec<Arc<LoadedModule>>,
    policy: Option<SecurityPolicy>,
    pkcs11_worker: Option<PathBuf>,
    pkcs11_worker_env: Vec<(OsString, OsString)>,
    certificate_watch: Duration,
    admin_socket: bool,
    ds_task: bool,
    notifier: crate::ds::Notifier,
    chooser: FolderChooser,
}

/// Why a connector cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The module runtime cannot be created.
    #[error(transparent)]
    Runtime(#[from] t1c_runtime::RuntimeError),
    /// A configured trusted key does not parse.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The install state cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bundle folder (`modules.bundles`) cannot be read.
    #[error("cannot read the bundle folder {path}: {source}")]
    BundleFolder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The simulated reader's card cannot be built.
    #[error("cannot build the simulated eID: {0}")]
    Simulator(String),
    /// The TLS certificate cannot be loaded or generated.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The CORS or JWT configuration is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The device key cannot be loaded or created.
    #[error(transparent)]
    DeviceKey(#[from] DeviceKeyError),
    /// The transaction counters cannot be opened.
    #[error(transparent)]
    Counters(#[from] CountersError),
    /// The executable PKCS#11 workers run cannot be found.
    #[error("cannot find the t1c executable for PKCS#11 workers: {0}")]
    WorkerExecutable(std::io::Error),
    /// A listener cannot be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    /// The `[ds]` settings cannot be used, or the device's identity cannot be read.
    #[error(transparent)]
    Ds(#[from] crate::ds::DsError),
    /// The file exchange mappings cannot be read.
    #[error(transparent)]
    Files(#[from] MappingError),
    /// The admin socket (the named pipe on Windows) cannot be served.
    #[error(transparent)]
    Admin(#[from] api::admin::AdminError),
}

impl Connector {
    /// A builder for the connector `config` describes. The configuration is used as given:
    /// validate it first ([`Config::validate`]).
    pub fn builder(config: Config) -> ConnectorBuilder {
        ConnectorBuilder::new(config)
    }

    /// The bound HTTPS addresses (with the real port when port 0 was configured).
    pub fn https_addresses(&self) -> &[SocketAddr] {
        self.server.https_addresses()
    }

    /// The bound plain-HTTP development address, if enabled.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.server.http_address()
    }

    /// The installer of signed bundles, whose module set the API serves.
    pub fn installer(&self) -> &Arc<Installer> {
        &self.installer
    }

    /// The modules served now; swapped when a module is installed or removed.
    pub fn modules(&self) -> &Arc<ModuleSet> {
        self.installer.modules()
    }

    /// The security policy (CORS allowlist, JWT keys) the API enforces; replace it with
    /// [`LivePolicy::replace`] and friends.
    pub fn policy(&self) -> &Arc<LivePolicy> {
        &self.policy
    }

    /// The certificate served to new TLS handshakes.
    pub fn certificates(&self) -> &Arc<CertificateResolver> {
        &self.certificates
    }

    /// The transaction counters (what the DS sync ships).
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The Distribution Service sync, when `[ds] url` is set.
    pub fn ds(&self) -> Option<&Arc<DsSync>> {
        self.ds.as_ref().map(|(sync, _)| sync)
    }

    /// The file exchange mappings the API and the admin socket (`t1c files`) share.
    pub fn files(&self) -> &Arc<Mappings> {
        &self.files
    }

    /// The data directory (keys, certificates, counters, admin socket).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the listeners, the admin socket and the certificate watch.
    pub async fn shutdown(self) {
        self.certificate_watch.abort();
        if let Some((_, Some(task))) = self.ds {
            task.abort();
        }
        if let Some((admin, path)) = self.admin {
            admin.abort();
            api::admin::remove_socket(&path);
        }
        self.server.shutdown().await;
    }
}

impl ConnectorBuilder {
    /// A builder for the connector `config` describes; see [`Connector::builder`].
    pub fn new(config: Config) -> Self {
        Self {
            listeners: listener_settings(&config.server),
            config,
            readers: None,
            modules: Vec::new(),
            policy: None,
            pkcs11_worker: None,
            pkcs11_worker_env: Vec::new(),
            certificate_watch: CERTIFICATE_WATCH,
            admin_socket: true,
            ds_task: true,
            notifier: crate::ds::Notifier::from_env(),
            chooser: FolderChooser::from_env(),
        }
    }

    /// Serves these readers instead of the configured ones (PC/SC, plus the simulated eID
    /// when `readers.simulate` is set).
    #[must_use]
    pub fn readers(mut self, readers: Arc<dyn ReaderBackend>) -> Self {
        self.readers = Some(readers);
        self
    }

    /// Serves an already loaded module beside the installed ones, replacing an installed
    /// module of the same name. It was loaded by the caller, so no bundle signature is
    /// checked: for tests and tools, never for modules from outside.
    #[must_use]
    pub fn module(mut self, module: LoadedModule) -> Self {
        self.modules.push(Arc::new(module));
        self
    }

    /// Enforces `policy` at start instead of the configured `[cors]` and `[jwt]`.
    #[must_use]
    pub fn policy(mut self, policy: SecurityPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The executable PKCS#11 workers run as `<exe> pkcs11-worker <library>` (default: this
    /// process's executable, which is `t1c`).
    #[must_use]
    pub fn pkcs11_worker(mut self, executable: PathBuf) -> Self {
        self.pkcs11_worker = Some(executable);
        self
    }

    /// Extra environment of the PKCS#11 workers (a library's configuration file, say).
    #[must_use]
    pub fn pkcs11_worker_env(mut self, env: Vec<(OsString, OsString)>) -> Self {
        self.pkcs11_worker_env = env;
        self
    }

    /// Changes the listener settings resolved from `[server]` (addresses, limits).
    #[must_use]
    pub fn listeners(mut self, edit: impl FnOnce(&mut server::ServerSettings)) -> Self {
        edit(&mut self.listeners);
        self
    }

    /// How often the certificate files are checked for a replacement (default 2 s).
    #[must_use]
    pub fn certificate_watch(mut self, interval: Duration) -> Self {
        self.certificate_watch = interval;
        self
    }

    /// The session bus desktop notifications go to and the folder chooser is asked on
    /// (default: `DBUS_SESSION_BUS_ADDRESS`; `None`: notifications are only logged, and
    /// folders are mapped with `t1c files map`).
    #[must_use]
    pub fn session_bus(mut self, address: Option<String>) -> Self {
        self.notifier = crate::ds::Notifier::at(address.clone());
        self.chooser = FolderChooser::at(address, crate::files::chooser::DEFAULT_WAIT);
        self
    }

    /// Whether the DS sync runs by itself (default), or only when [`DsSync::sync_now`] is
    /// called (tests that drive each sync).
    #[must_use]
    pub fn ds_sync_task(mut self, run: bool) -> Self {
        self.ds_task = run;
        self
    }

    /// Whether to serve the admin socket (the named pipe on Windows) `t1c modules` talks to
    /// (default: yes).
    #[must_use]
    pub fn admin_socket(mut self, serve: bool) -> Self {
        self.admin_socket = serve;
        self
    }

    /// Builds every part and starts serving. Installed modules that cannot be served, and
    /// bundles of the bundle folder that cannot be installed, are logged and skipped.
    ///
    /// # Errors
    /// [`ConnectorError`] naming the part that cannot be built or the listener that cannot be
    /// bound.
    pub async fn start(self) -> Result<Connector, ConnectorError> {
        let config = self.config;
        let data_dir = config.data_dir();
        let installer = installer(&config)?;
        let readers = match self.readers {
            Some(readers) => readers,
            None => configured_readers(&config)?,
        };
        // Under a DS, the certificate it sent (kept in the data directory), unless the files
        // no longer load: then the local CA's, until the DS sends another.
        let ds_certificate = match &config.ds.url {
            Some(_) if config.tls.certificate.is_none() => DsSync::certificate_source(&data_dir)
                .and_then(|source| match tls::load(&source) {
                    Ok(key) => Some((source, key)),
                    Err(err) => {
                        tracing::warn!(
                            "the DS's TLS certificate does not load, serving the local CA's: {err}"
                        );
                        None
                    }
                }),
            _ => None,
        };
        let (source, key) = match ds_certificate {
            Some(loaded) => loaded,
            None => {
                let source = certificate_source(&config);
                let key = tls::load(&source)?;
                (source, key)
            }
        };
        let certificates = Arc::new(CertificateResolver::new(key));
        for address in self.listeners.https.iter().filter(|a| !a.ip().is_loopback()) {
            tracing::warn!(%address, "listening on a non-loopback address, as configured");
        }
        let policy = match self.policy {
            Some(policy) => policy,
            None => SecurityPolicy::from_config(&config.cors, &config.jwt)?,
        };
        let policy = Arc::new(LivePolicy::new(policy));
        let counters = Arc::new(Counters::open(data_dir.join("counters.sqlite"))?);
        let files = Arc::new(Mappings::load(&data_dir)?);
        let ds = match &config.ds.url {
            Some(url) => {
                let link = Arc::new(DsLink::new(url, config.ds.failure_limit));
                let targets = SyncTargets {
                    policy: policy.clone(),
                    certificates: certificates.clone(),
                    installer: installer.clone(),
                    link: link.clone(),
                    configured_origins: config.cors.allowed_origins.clone(),
                    jwt_issuer: config.jwt.issuer.clone(),
                    counters: counters.clone(),
                    notifier: self.notifier.clone(),
                    own_certificate: config.tls.certificate.is_some(),
                };
                Some((DsSync::new(config.ds.clone(), &data_dir, targets)?, link))
            }
            None => None,
        };
        // After the DS sync re-applied its publisher keys: a module signed by one of them
        // verifies again at start.
        for (module, err) in installer.load_installed() {
            tracing::warn!(%module, "installed module not served: {err}");
        }
        if let Some(dir) = &config.modules.bundles {
            install_folder(&installer, dir)?;
        }
        if !self.modules.is_empty() {
            installer.modules().update(|registry| {
                for module in &self.modules {
                    registry.replace(module.clone());
                }
            });
        }
        let worker = match self.pkcs11_worker {
            Some(worker) => worker,
            None => std::env::current_exe().map_err(ConnectorError::WorkerExecutable)?,
        };
        let state = AppState::new(ApiConfig {
            port: config.server.port,
            policy: policy.clone(),
            device_key: DeviceKey::load_or_create(&data_dir.join("device-key.pem"))?,
            modules: installer.modules().clone(),
            readers,
            counters: counters.clone(),
            accept_plain_pin: config.pin.accept_plain,
            ds: ds.as_ref().map(|(_, link)| link.clone()),
            file_exchange: FileExchange::new(
                files.clone(),
                self.chooser.clone(),
                self.notifier.clone(),
                data_dir.join("tmp"),
                config.server.max_upload_bytes as u64,
            ),
        })
        .with_pkcs11(pkcs11_service(&config, worker, self.pkcs11_worker_env));
        let server = server::start(api::router(state), &self.listeners, certificates.clone())
            .await
            .map_err(ConnectorError::Listen)?;
        let admin = if self.admin_socket {
            let ds = ds.as_ref().map(|(sync, _)| sync.clone());
            serve_admin(&data_dir, &installer, ds, files.clone()).await?
        } else {
            None
        };
        let certificate_watch =
            tokio::spawn(tls::watch(source, certificates.clone(), self.certificate_watch));
        let ds_task = self.ds_task;
        let ds = ds.map(|(sync, _)| {
            let task = ds_task.then(|| sync.clone().spawn());
            (sync, task)
        });
        // Loading the modules peaked well above what serving them keeps.
        crate::heap::release_free();
        Ok(Connector {
            server,
            admin,
            certificate_watch,
            installer,
            policy,
            certificates,
            counters,
            ds,
            files,
            data_dir,
        })
    }
}

/// The installer over the configured install state, trust store and granted capabilities
/// (also what `t1c modules` uses when no connector runs).
///
/// # Errors
/// [`ConnectorError::Runtime`], [`ConnectorError::Trust`] or [`ConnectorError::Store`].
pub fn installer(config: &Config) -> Result<Arc<Installer>, ConnectorError> {
    let granted: BTreeSet<_> =
        config.modules.granted.iter().filter_map(|c| t1c_sdk::Capability::from_name(c)).collect();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.data_dir().join("cache")),
        granted,
        ..RuntimeConfig::default()
    })
    .map_err(ConnectorError::Runtime)?;
    let trust =
        bundles::trust_store(&config.modules.trusted_keys, config.modules.trust_development_key)?;
    if config.modules.trust_development_key && !cfg!(debug_assertions) {
        tracing::warn!(
            "modules.trust_development_key is on: bundles signed with the public development key are installed"
        );
    }
    let store = Store::open(&config.modules_dir())?;
    Ok(Arc::new(Installer::new(Arc::new(runtime), trust, Arc::new(ModuleSet::default()), store)))
}

/// `[server]` as listener settings.
fn listener_settings(server: &ServerConfig) -> server::ServerSettings {
    server::ServerSettings {
        https: server.listen.iter().map(|ip| SocketAddr::new(*ip, server.port)).collect(),
        http: (server.http_port != 0).then(|| SocketAddr::from(([127, 0, 0, 1], server.http_port))),
        max_header_bytes: server.max_header_bytes,
        max_body_bytes: server.max_body_bytes,
        request_timeout: Duration::from_secs(server.request_timeout_secs),
        max_connections: server.max_connections,
        dns_names: server.dns_names.clone(),
    }
}

/// The configured certificate files, else the local CA in the data directory.
fn certificate_source(config: &Config) -> CertificateSource {
    match (&config.tls.certificate, &config.tls.key) {
        (Some(certificate), Some(key)) => {
            CertificateSource::Files { certificate: certificate.clone(), key: key.clone() }
        }
        _ => CertificateSource::LocalCa {
            dir: config.data_dir().join("tls"),
            dns_names: config.server.dns_names.clone(),
        },
    }
}

/// Installs, pinned, the highest version of each module among the bundles of `dir`; a bundle
/// already installed is left alone (no recompilation, the rollback slot is kept). Failures are
/// logged.
fn install_folder(installer: &Installer, dir: &Path) -> Result<(), ConnectorError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|source| ConnectorError::BundleFolder { path: dir.to_owned(), source })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == t1c_bundle::FILE_EXTENSION))
        .collect();
    files.sort();
    // The newest bundle of each module (by semver precedence; the installer verifies it).
    let mut newest: BTreeMap<t1c_bundle::ModuleName, (semver::Version, PathBuf, Vec<u8>)> =
        BTreeMap::new();
    for file in files {
        let read = std::fs::read(&file).map_err(|e| e.to_string()).and_then(|bytes| {
            let manifest = t1c_bundle::Bundle::read(&bytes).map_err(|e| e.to_string())?;
            Ok((manifest.manifest().clone(), bytes))
        });
        let (manifest, bytes) = match read {
            Ok(read) => read,
            Err(err) => {
                tracing::warn!(file = %file.display(), "bundle not installed: {err}");
                continue;
            }
        };
        let newer = newest.get(&manifest.name).is_none_or(|(version, _, _)| {
            manifest.version.cmp_precedence(version) == std::cmp::Ordering::Greater
        });
        if newer {
            newest.insert(manifest.name, (manifest.version, file, bytes));
        }
    }
    for (_, file, bytes) in newest.into_values() {
        match installer.install(&bytes, InstallOptions { pin: true }) {
            Ok(outcome) if outcome.changed => tracing::info!(
                file = %file.display(),
                module = %outcome.module,
                version = %outcome.version,
                "bundle installed"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(file = %file.display(), "bundle not installed: {err:#}"),
        }
    }
    Ok(())
}

/// The PC/SC readers, plus a simulated Belgian eID reader when configured.
fn configured_readers(config: &Config) -> Result<Arc<dyn ReaderBackend>, ConnectorError> {
    use t1c_sdk::simulator::VirtualReader;
    use t1c_sdk::simulator::belpic::{AppletVersion, BelpicCard, Persona};

    let mut backends: Vec<Arc<dyn ReaderBackend>> = Vec::new();
    if config.readers.simulate {
        let persona = Persona::default_citizen();
        let pki = crate::readers::stored_test_pki(
            &config.data_dir().join("simulator"),
            &persona,
            AppletVersion::V1_7,
        )
        .map_err(|e| ConnectorError::Simulator(e.to_string()))?;
        let card = BelpicCard::from_pki(&persona, &pki)
            .map_err(|e| ConnectorError::Simulator(e.to_string()))?;
        let reader = VirtualReader::new(SIMULATED_READER);
        reader.insert(Box::new(card));
        tracing::info!(reader = SIMULATED_READER, "simulated Belgian eID inserted (PIN 1234)");
        backends.push(Arc::new(SimulatorBackend::new(vec![reader])));
    }
    match PcscBackend::start(PcscConfig::default()) {
        Ok(pcsc) => backends.push(Arc::new(pcsc)),
        Err(err) => tracing::warn!("PC/SC readers unavailable: {err}"),
    }
    Ok(Arc::new(Readers::new(backends)))
}

/// The PKCS#11 libraries of the configuration (or the API's saved override), each loaded by a
/// worker process running `worker`.
fn pkcs11_service(
    config: &Config,
    worker: PathBuf,
    env: Vec<(OsString, OsString)>,
) -> crate::pkcs11::Pkcs11Service {
    let mut options = Pkcs11Options::new(worker);
    options.call_timeout = config.pkcs11.call_timeout();
    options.login_timeout = config.pkcs11.login_timeout();
    options.init_timeout = config.pkcs11.init_timeout();
    options.env = env;
    let host = Arc::new(Pkcs11Host::new(options));
    let override_file = config::Pkcs11Config::override_file(&config.data_dir());
    let service = crate::pkcs11::Pkcs11Service::new(host.clone(), &config.pkcs11, override_file);
    for library in host.libraries() {
        tracing::info!(library = %library.display(), "PKCS#11 library configured");
    }
    service
}

/// The admin socket (the named pipe on Windows) of `t1c modules` and `t1c files`, and its
/// path.
async fn serve_admin(
    data_dir: &Path,
    installer: &Arc<Installer>,
    ds: Option<Arc<DsSync>>,
    files: Arc<Mappings>,
) -> Result<Option<(JoinHandle<()>, PathBuf)>, ConnectorError> {
    let path = api::admin::socket_path(data_dir);
    let task = api::admin::serve(&path, installer.clone(), ds, files).await?;
    Ok(Some((task, path)))
}
