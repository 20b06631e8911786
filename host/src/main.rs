//! `t1c`: the T1C connector's command line.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use t1c_host::api::{self, ApiConfig, AppState, server};
use t1c_host::bundles::{self, InstallOptions, InstallOutcome, Installer, ModuleStatus, Store};
use t1c_host::config::{self, Config};
use t1c_host::counters::Counters;
use t1c_host::pkcs11::{Pkcs11Host, Pkcs11Options, Pkcs11Service};
use t1c_host::readers::{PcscBackend, PcscConfig, ReaderBackend, Readers, SimulatorBackend};
use t1c_host::security::cors::CorsPolicy;
use t1c_host::security::device_key::DeviceKey;
use t1c_host::security::jwt::JwtVerifier;
use t1c_host::security::tls::{self, CertificateResolver, CertificateSource};
use t1c_host::security::trust;
use t1c_runtime::{ModuleSet, Runtime, RuntimeConfig};
use t1c_sdk::simulator::VirtualReader;
use t1c_sdk::simulator::belpic::{AppletVersion, BelpicCard, Persona};

#[derive(Parser)]
#[command(name = "t1c", version, about = "T1C smart-card connector")]
struct Cli {
    /// Configuration file (default: the per-user config directory's t1c/config.toml).
    #[arg(long, global = true, env = "T1C_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the connector: the HTTPS API on loopback, with the installed modules.
    Serve {
        /// HTTPS port (overrides the configuration).
        #[arg(long)]
        port: Option<u16>,
        /// Install state directory (overrides modules.dir).
        #[arg(long)]
        modules: Option<PathBuf>,
        /// Install, pinned, every signed bundle (*.t1cm) of this folder at startup (overrides
        /// modules.bundles); `cargo xtask build-modules` writes them to target/modules.
        #[arg(long, value_name = "DIR")]
        bundles: Option<PathBuf>,
        /// Add a reader with a simulated Belgian eID (PIN 1234).
        #[arg(long)]
        simulate: bool,
    },
    /// Install, remove, roll back and list modules (signed bundles). With a connector running,
    /// through its admin socket (the change is served at once); otherwise in the install state.
    Modules {
        #[command(subcommand)]
        command: ModulesCommand,
    },
    /// Make browsers trust the connector: add its local CA to an NSS database (Chromium's
    /// ~/.pki/nssdb by default) with certutil, or remove it.
    Trust {
        /// Remove the CA instead (not an error when it is absent).
        #[arg(long)]
        remove: bool,
        /// NSS database directory (default: ~/.pki/nssdb; a Firefox profile directory works too).
        #[arg(long, value_name = "DIR")]
        nssdb: Option<PathBuf>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ModulesCommand {
    /// The installed modules.
    List,
    /// Verify a signed bundle and install it; in a running connector it takes over new
    /// requests at once.
    Install {
        /// The bundle file (.t1cm).
        file: PathBuf,
        /// Pin this version: allows a downgrade, and keeps other versions out unless pinned.
        #[arg(long)]
        pin: bool,
    },
    /// Remove a module.
    Remove {
        /// The module name.
        name: String,
    },
    /// Serve the module's previous version again.
    Rollback {
        /// The module name.
        name: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (file, then environment, then defaults).
    Show,
}

fn main() -> ExitCode {
    // `t1c pkcs11-worker <library>`: a supervised PKCS#11 worker (hidden; started by the host).
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == t1c_host::pkcs11::WORKER_SUBCOMMAND) {
        return match args.next() {
            Some(library) => t1c_host::pkcs11::worker_main(std::path::Path::new(&library)),
            None => ExitCode::FAILURE,
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("T1C_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("t1c: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let path = cli.config.unwrap_or_else(config::default_config_path);
    let mut config = Config::load(&path, std::env::vars())?;
    match cli.command {
        Command::Config { command: ConfigCommand::Show } => {
            println!("# effective configuration (file: {})", path.display());
            print!("{}", config.to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Modules { command } => {
            config.validate()?;
            modules_command(&config, command)
        }
        Command::Trust { remove, nssdb } => {
            let db = nssdb.map_or_else(trust::NssDb::user, |dir| Ok(trust::NssDb::at(dir)))?;
            if remove {
                println!("{}", trust::distrust_local_ca(&db)?);
            } else if let Some(certificate) = &config.tls.certificate {
                anyhow::bail!(
                    "the connector serves the configured certificate {} (tls.certificate), not \
                     its local CA; trust that certificate's issuer instead",
                    certificate.display()
                );
            } else {
                println!("{}", trust::trust_local_ca(&config.data_dir().join("tls"), &db)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { port, modules, bundles, simulate } => {
            config.readers.simulate |= simulate;
            if let Some(port) = port {
                config.server.port = port;
            }
            if let Some(modules) = modules {
                config.modules.dir = Some(modules);
            }
            if let Some(bundles) = bundles {
                config.modules.bundles = Some(bundles);
            }
            config.validate()?;
            serve(config)
        }
    }
}

/// The installer over the configured install state, trust store and granted capabilities.
fn installer(config: &Config) -> anyhow::Result<Arc<Installer>> {
    let granted: BTreeSet<_> =
        config.modules.granted.iter().filter_map(|c| t1c_sdk::Capability::from_name(c)).collect();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.data_dir().join("cache")),
        granted,
        ..RuntimeConfig::default()
    })?;
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

/// Installs, pinned, the highest version of each module among the bundles of `dir`; a bundle
/// already installed is left alone (no recompilation, the rollback slot is kept). Failures are
/// logged.
fn install_folder(installer: &Installer, dir: &std::path::Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the bundle folder {}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == t1c_bundle::FILE_EXTENSION))
        .collect();
    files.sort();
    // The newest bundle of each module (by semver precedence; the installer verifies it).
    let mut newest: std::collections::BTreeMap<
        t1c_bundle::ModuleName,
        (semver::Version, PathBuf, Vec<u8>),
    > = std::collections::BTreeMap::new();
    for file in files {
        let read = std::fs::read(&file)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok((t1c_bundle::Bundle::read(&bytes)?.manifest().clone(), bytes)));
        let (manifest, bytes) = match read {
            Ok(read) => read,
            Err(err) => {
                tracing::warn!(file = %file.display(), "bundle not installed: {err:#}");
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
    for (file, bytes) in newest.into_values().map(|(_, file, bytes)| (file, bytes)) {
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

/// `t1c modules ...`: through the running connector's admin socket, or on the install state
/// when no connector runs.
fn modules_command(config: &Config, command: ModulesCommand) -> anyhow::Result<ExitCode> {
    use hyper::Method;
    let (method, path, body) = match &command {
        ModulesCommand::List => (Method::GET, "/modules".to_owned(), Vec::new()),
        ModulesCommand::Install { file, pin } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            (Method::POST, format!("/modules?pin={pin}"), bytes)
        }
        ModulesCommand::Remove { name } => (Method::DELETE, format!("/modules/{name}"), Vec::new()),
        ModulesCommand::Rollback { name } => {
            (Method::POST, format!("/modules/{name}/rollback"), Vec::new())
        }
    };
    let client = api::admin::AdminClient::new(api::admin::socket_path(&config.data_dir()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let data = match runtime.block_on(client.request(method, &path, body.clone())) {
        Ok(data) => data,
        Err(api::admin::AdminClientError::Unreachable { .. }) => {
            let installer = installer(config)?;
            installer.load_installed();
            match &command {
                ModulesCommand::List => serde_json::to_value(installer.list())?,
                ModulesCommand::Install { pin, .. } => {
                    serde_json::to_value(installer.install(&body, InstallOptions { pin: *pin })?)?
                }
                ModulesCommand::Remove { name } => {
                    installer.remove(name)?;
                    serde_json::Value::Bool(true)
                }
                ModulesCommand::Rollback { name } => {
                    serde_json::to_value(installer.rollback(name)?)?
                }
            }
        }
        Err(err) => return Err(err.into()),
    };
    match command {
        ModulesCommand::List => {
            let modules: Vec<ModuleStatus> = serde_json::from_value(data)?;
            if modules.is_empty() {
                println!("no modules installed");
            }
            for m in modules {
                println!(
                    "{} {}{}  signer {}  digest {}{}{}",
                    m.name,
                    m.version,
                    if m.pinned { " (pinned)" } else { "" },
                    m.signer,
                    m.digest.get(..16).unwrap_or(&m.digest),
                    m.previous.map(|p| format!("  previous {p}")).unwrap_or_default(),
                    if m.served { "" } else { "  NOT SERVED (see the connector log)" },
                );
            }
        }
        ModulesCommand::Install { .. } | ModulesCommand::Rollback { .. } => {
            let outcome: InstallOutcome = serde_json::from_value(data)?;
            if outcome.changed {
                println!(
                    "{} {} installed{}, signed by {}{}",
                    outcome.module,
                    outcome.version,
                    outcome.replaced.map(|v| format!(" (was {v})")).unwrap_or_default(),
                    outcome.signer,
                    if outcome.pinned { ", pinned" } else { "" },
                );
            } else {
                println!("{} {} is already installed", outcome.module, outcome.version);
            }
        }
        ModulesCommand::Remove { name } => println!("{name} removed"),
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let installer = installer(&config)?;
    for (module, err) in installer.load_installed() {
        eprintln!("installed module {module} not served: {err}");
    }
    if let Some(dir) = &config.modules.bundles {
        install_folder(&installer, dir)?;
    }
    let readers = readers(&config)?;
    let source = match (&config.tls.certificate, &config.tls.key) {
        (Some(certificate), Some(key)) => {
            CertificateSource::Files { certificate: certificate.clone(), key: key.clone() }
        }
        _ => CertificateSource::LocalCa {
            dir: config.data_dir().join("tls"),
            dns_names: config.server.dns_names.clone(),
        },
    };
    let resolver = Arc::new(CertificateResolver::new(tls::load(&source)?));
    for address in config.server.listen.iter().filter(|a| !a.is_loopback()) {
        tracing::warn!(%address, "listening on a non-loopback address, as configured");
    }
    let settings = server::ServerSettings {
        https: config
            .server
            .listen
            .iter()
            .map(|ip| SocketAddr::new(*ip, config.server.port))
            .collect(),
        http: (config.server.http_port != 0)
            .then(|| SocketAddr::from(([127, 0, 0, 1], config.server.http_port))),
        max_header_bytes: config.server.max_header_bytes,
        max_body_bytes: config.server.max_body_bytes,
        request_timeout: Duration::from_secs(config.server.request_timeout_secs),
        max_connections: config.server.max_connections,
    };
    let cors = CorsPolicy::new(&config.cors.allowed_origins)
        .map_err(|(pattern, err)| anyhow::anyhow!("cors.allowed_origins: `{pattern}`: {err}"))?;
    let jwt = if config.jwt.enabled {
        let mut verifier = JwtVerifier::new(config.jwt.issuer.clone());
        for key in &config.jwt.keys {
            verifier.add_key_file(&key.kid, &key.algorithm, &key.public_key)?;
        }
        Some(verifier)
    } else {
        None
    };
    let device_key = DeviceKey::load_or_create(&config.data_dir().join("device-key.pem"))?;
    let state = AppState::new(ApiConfig {
        port: config.server.port,
        cors,
        jwt,
        device_key,
        modules: installer.modules().clone(),
        readers,
        counters: Arc::new(Counters::open(config.data_dir().join("counters.sqlite"))?),
    })
    .with_pkcs11(pkcs11_service(&config)?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let running = server::start(api::router(state), &settings, resolver.clone()).await?;
        let admin_socket = api::admin::socket_path(&config.data_dir());
        let admin = api::admin::serve(&admin_socket, installer).await?;
        tokio::spawn(tls::watch(source, resolver, Duration::from_secs(2)));
        tokio::signal::ctrl_c().await?;
        tracing::info!("stopping");
        admin.abort();
        let _ = std::fs::remove_file(&admin_socket);
        running.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The PC/SC readers, plus a simulated Belgian eID reader when configured.
fn readers(config: &Config) -> anyhow::Result<Arc<dyn ReaderBackend>> {
    let mut backends: Vec<Arc<dyn ReaderBackend>> = Vec::new();
    if config.readers.simulate {
        let persona = Persona::default_citizen();
        let card = BelpicCard::new(&persona, AppletVersion::V1_7)
            .map_err(|e| anyhow::anyhow!("cannot build the simulated eID: {e}"))?;
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
/// worker process running this same executable.
fn pkcs11_service(config: &Config) -> anyhow::Result<Pkcs11Service> {
    let worker = std::env::current_exe().context("cannot find the t1c executable for workers")?;
    let mut options = Pkcs11Options::new(worker);
    options.call_timeout = config.pkcs11.call_timeout();
    options.login_timeout = config.pkcs11.login_timeout();
    options.init_timeout = config.pkcs11.init_timeout();
    let host = Arc::new(Pkcs11Host::new(options));
    let override_file = config::Pkcs11Config::override_file(&config.data_dir());
    let service = Pkcs11Service::new(host.clone(), &config.pkcs11, override_file);
    for library in host.libraries() {
        tracing::info!(library = %library.display(), "PKCS#11 library configured");
    }
    Ok(service)
}

/// Name of the simulated reader `[readers] simulate = true` adds.
const SIMULATED_READER: &str = "T1C Simulated Reader";
