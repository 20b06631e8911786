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
use t1c_host::config::{self, Config};
use t1c_host::counters::Counters;
use t1c_host::readers::{PcscBackend, PcscConfig, ReaderBackend, Readers, SimulatorBackend};
use t1c_host::runtime::{Registry, Runtime, RuntimeConfig};
use t1c_host::security::cors::CorsPolicy;
use t1c_host::security::device_key::DeviceKey;
use t1c_host::security::jwt::JwtVerifier;
use t1c_host::security::tls::{self, CertificateResolver, CertificateSource};
use t1c_host::security::trust;
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
        /// Module directory (overrides the configuration).
        #[arg(long)]
        modules: Option<PathBuf>,
        /// Add a reader with a simulated Belgian eID (PIN 1234).
        #[arg(long)]
        simulate: bool,
    },
    /// Load every module (*.wasm) in a directory and list what loaded and what did not.
    Modules {
        /// Directory of module components (default: the configured one).
        #[arg(long)]
        dir: Option<PathBuf>,
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
        Command::Modules { dir } => {
            let dir = dir.unwrap_or_else(|| config.modules_dir());
            let (registry, failed) = load_modules(&config, &dir)?;
            for module in registry.modules() {
                let manifest = module.manifest();
                let capabilities: Vec<String> =
                    manifest.capabilities.iter().map(ToString::to_string).collect();
                let operations: Vec<&str> =
                    manifest.operations.iter().map(|o| o.name.as_str()).collect();
                println!(
                    "{} {}  contract {}  capabilities [{}]  atr patterns {}  token {}  operations [{}]\n    {}",
                    manifest.name,
                    manifest.version,
                    manifest.contract,
                    capabilities.join(", "),
                    manifest.atrs.len(),
                    if manifest.token { "yes" } else { "no" },
                    operations.join(", "),
                    manifest.description,
                );
            }
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
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
        Command::Serve { port, modules, simulate } => {
            config.readers.simulate |= simulate;
            if let Some(port) = port {
                config.server.port = port;
            }
            if let Some(modules) = modules {
                config.modules.dir = Some(modules);
            }
            config.validate()?;
            serve(config)
        }
    }
}

/// Loads the modules of `dir`; returns the registry and how many failed (each logged).
fn load_modules(config: &Config, dir: &std::path::Path) -> anyhow::Result<(Registry, usize)> {
    let granted: BTreeSet<_> =
        config.modules.granted.iter().filter_map(|c| t1c_sdk::Capability::from_name(c)).collect();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.data_dir().join("cache")),
        granted,
        ..RuntimeConfig::default()
    })?;
    let mut registry = Registry::new();
    let report = match registry.load_directory(&runtime, dir) {
        Ok(report) => report,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "module directory does not exist; no modules");
            return Ok((registry, 0));
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read module directory {}", dir.display()));
        }
    };
    for (path, err) in &report.failed {
        eprintln!("module not loaded: {}: {err}", path.display());
    }
    Ok((registry, report.failed.len()))
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let (registry, _) = load_modules(&config, &config.modules_dir())?;
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
        modules: Arc::new(registry),
        readers,
        counters: Arc::new(Counters::open(config.data_dir().join("counters.sqlite"))?),
    });
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let running = server::start(api::router(state), &settings, resolver.clone()).await?;
        tokio::spawn(tls::watch(source, resolver, Duration::from_secs(2)));
        tokio::signal::ctrl_c().await?;
        tracing::info!("stopping");
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

/// Name of the simulated reader `[readers] simulate = true` adds.
const SIMULATED_READER: &str = "T1C Simulated Reader";
