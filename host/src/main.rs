//! `t1c`: the T1C connector's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use t1c_host::api;
use t1c_host::bundles::{InstallOptions, InstallOutcome, ModuleStatus};
use t1c_host::config::{self, Config};
use t1c_host::connector::{self, Connector};
use t1c_host::files::{Mappings, TypeKey};
use t1c_host::security::trust;

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
    /// Make browsers trust the connector: add its local CA with certutil to the user's browsers'
    /// NSS databases (Chromium's ~/.pki/nssdb and each Firefox profile that has one), or remove
    /// it from every database it was added to.
    Trust {
        /// Remove the CA instead (not an error when it is absent).
        #[arg(long)]
        remove: bool,
        /// Only this NSS database directory (a Firefox profile directory works too).
        #[arg(long, value_name = "DIR")]
        nssdb: Option<PathBuf>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The Distribution Service sync.
    Ds {
        #[command(subcommand)]
        command: DsCommand,
    },
    /// File exchange: the folder each web application's type (entity and type name) may use.
    /// With a connector running, through its admin socket (the change holds at once);
    /// otherwise in the data directory.
    Files {
        #[command(subcommand)]
        command: FilesCommand,
    },
}

#[derive(Subcommand)]
enum FilesCommand {
    /// Map a type to a folder: the application reaches the files of that folder, and nothing
    /// else on the disk.
    Map {
        #[command(flatten)]
        application: ApplicationArg,
        /// The entity (the web application's first-level name for its types).
        entity: String,
        /// The type name.
        #[arg(value_name = "TYPE")]
        type_name: String,
        /// The folder: an absolute path to an existing folder.
        folder: PathBuf,
    },
    /// The types of an entity, and their folders.
    List {
        #[command(flatten)]
        application: ApplicationArg,
        /// The entity.
        entity: String,
    },
    /// Take a type's folder away; the type stays, not mapped, until a folder is mapped again.
    Unmap {
        #[command(flatten)]
        application: ApplicationArg,
        /// The entity.
        entity: String,
        /// The type name.
        #[arg(value_name = "TYPE")]
        type_name: String,
    },
}

/// The application a mapping belongs to.
#[derive(clap::Args)]
struct ApplicationArg {
    /// The web application: its pages' origin (`https://app.example.com`), or, when the
    /// connector checks JWTs (under a Distribution Service), the label of its tokens.
    #[arg(long, value_name = "ID", value_parser = application_id)]
    application: String,
}

/// An application id as the API sees it: an origin only as browsers write it (the API compares
/// the text), so that a mapping made for `https://App.example.com/` does not silently miss.
fn application_id(value: &str) -> Result<String, String> {
    if value.contains("://") {
        t1c_host::security::cors::Origin::parse_header(value).map_err(|err| {
            format!(
                "{err}: write the origin as browsers send it, scheme://host[:port] in lower case, \
                 without a path or the default port (https://app.example.com)"
            )
        })?;
    }
    Ok(value.to_owned())
}

#[derive(Subcommand)]
enum DsCommand {
    /// The device id, the last and next sync, failures in a row, the version verdict and the
    /// digests applied (as the running connector last wrote them).
    Status,
    /// Sync with the DS now, through the running connector (its admin socket).
    Sync,
    /// Store the installation key the installer gave, for registration at the connector's
    /// next start or retry.
    Register {
        /// A file holding the key.
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
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
        Command::Ds { command } => ds_command(&config, command),
        Command::Files { command } => files_command(&config, &command),
        Command::Trust { remove, nssdb } => trust_command(&config, remove, nssdb),
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

/// `t1c trust [--remove] [--nssdb DIR]`: every database the CA goes into is recorded beside
/// the CA, so that `--remove` (and the package's removal) takes it out of each of them.
fn trust_command(
    config: &Config,
    remove: bool,
    nssdb: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let ca_dir = config.data_dir().join("tls");
    let record = trust::TrustRecord::in_dir(&ca_dir);
    if remove {
        let databases = match nssdb {
            Some(dir) => vec![dir],
            None => {
                let mut all = record.databases()?;
                let chromium = trust::NssDb::user()?.dir().to_owned();
                if !all.contains(&chromium) {
                    all.push(chromium);
                }
                all
            }
        };
        for dir in databases {
            let db = trust::NssDb::at(&dir);
            if db.exists() {
                println!("{}", trust::distrust_local_ca(&db)?);
            }
            record.remove(&dir)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(certificate) = &config.tls.certificate {
        anyhow::bail!(
            "the connector serves the configured certificate {} (tls.certificate), not its local \
             CA; trust that certificate's issuer instead",
            certificate.display()
        );
    }
    let databases = match nssdb {
        Some(dir) => vec![trust::NssDb::at(dir)],
        None => trust::user_databases()?,
    };
    for db in databases {
        println!("{}", trust::trust_local_ca(&ca_dir, &db)?);
        record.add(db.dir())?;
    }
    Ok(ExitCode::SUCCESS)
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
            let installer = connector::installer(config)?;
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

/// `t1c files map | list | unmap`: through the running connector's admin socket, or on the
/// mappings in the data directory when no connector runs.
fn files_command(config: &Config, command: &FilesCommand) -> anyhow::Result<ExitCode> {
    use api::admin::TypeFolder;
    match command {
        FilesCommand::Map {
            application: ApplicationArg { application },
            entity,
            type_name,
            folder,
        } => {
            let what = || {
                format!("cannot map {entity} {type_name} of {application} to {}", folder.display())
            };
            let text =
                folder.to_str().context("the path is not valid Unicode").with_context(what)?;
            let body = serde_json::json!({
                "application": application,
                "entity": entity,
                "type": type_name,
                "folder": text,
            });
            let data = files_request(config, "/files/map", &body, |mappings| {
                let key = TypeKey::new(application, entity, type_name)?;
                Ok(serde_json::to_value(TypeFolder::from(mappings.map(&key, folder)?))?)
            })
            .with_context(what)?;
            let mapped: TypeFolder = serde_json::from_value(data)?;
            println!(
                "{entity} {type_name} of {application} mapped to {}",
                mapped.folder.as_deref().unwrap_or(folder).display()
            );
        }
        FilesCommand::List { application: ApplicationArg { application }, entity } => {
            let body = serde_json::json!({ "application": application, "entity": entity });
            let data = files_request(config, "/files/list", &body, |mappings| {
                let types: Vec<TypeFolder> =
                    mappings.types(application, entity).into_iter().map(TypeFolder::from).collect();
                Ok(serde_json::to_value(types)?)
            })
            .with_context(|| format!("cannot list the types of {entity}"))?;
            let types: Vec<TypeFolder> = serde_json::from_value(data)?;
            if types.is_empty() {
                println!("no types of {entity} for {application}");
            }
            for t in types {
                match t.folder {
                    Some(folder) => println!("{} {}  {}", t.entity, t.type_name, folder.display()),
                    None => println!("{} {}  (not mapped)", t.entity, t.type_name),
                }
            }
        }
        FilesCommand::Unmap { application: ApplicationArg { application }, entity, type_name } => {
            let body = serde_json::json!({
                "application": application,
                "entity": entity,
                "type": type_name,
            });
            files_request(config, "/files/unmap", &body, |mappings| {
                let key = TypeKey::new(application, entity, type_name)?;
                Ok(serde_json::to_value(TypeFolder::from(mappings.unmap(&key)?))?)
            })
            .with_context(|| format!("cannot unmap {entity} {type_name} of {application}"))?;
            println!("{entity} {type_name} of {application} unmapped");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One `t1c files` request to the running connector, or `direct` on the data directory's
/// mappings when no connector answers.
fn files_request(
    config: &Config,
    path: &str,
    body: &serde_json::Value,
    direct: impl FnOnce(&Mappings) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let client = api::admin::AdminClient::new(api::admin::socket_path(&config.data_dir()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match runtime.block_on(client.request(hyper::Method::POST, path, serde_json::to_vec(body)?)) {
        Ok(data) => Ok(data),
        Err(api::admin::AdminClientError::Unreachable { .. }) => {
            direct(&Mappings::load(&config.data_dir())?)
        }
        Err(err) => Err(err.into()),
    }
}

/// `t1c ds status | register`.
fn ds_command(config: &Config, command: DsCommand) -> anyhow::Result<ExitCode> {
    match command {
        DsCommand::Sync => {
            let client = api::admin::AdminClient::new(api::admin::socket_path(&config.data_dir()));
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let status = runtime
                .block_on(client.request(hyper::Method::POST, "/ds/sync", Vec::new()))
                .context("the connector's sync (is it running?)")?;
            let device = status.get("device_id").and_then(|d| d.as_str()).unwrap_or("-");
            println!("synced; device {device}");
            Ok(ExitCode::SUCCESS)
        }
        DsCommand::Register { key_file } => {
            let key = std::fs::read_to_string(&key_file)
                .with_context(|| format!("cannot read {}", key_file.display()))?;
            let stored = t1c_host::ds::store_installation_key(&config.data_dir(), &key)?;
            println!(
                "installation key stored in {}; the connector registers with it at its next start \
                 (or its next retry, if it runs)",
                stored.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        DsCommand::Status => {
            let Some(url) = &config.ds.url else {
                println!("no Distribution Service configured ([ds] url)");
                return Ok(ExitCode::SUCCESS);
            };
            let Some(status) = t1c_host::ds::read_status(&config.data_dir())? else {
                println!("DS {url}: no sync yet (is the connector running?)");
                return Ok(ExitCode::SUCCESS);
            };
            let time = |t: Option<i64>| {
                t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                    .unwrap_or_else(|| "-".into())
            };
            println!("DS            {url}");
            println!("device        {}", status.device_id.as_deref().unwrap_or("not registered"));
            println!("last sync     {}", time(status.last_sync));
            println!("next sync     {}", time(status.next_sync));
            println!(
                "failures      {} in a row (limit {})",
                status.consecutive_failures, status.failure_limit
            );
            println!(
                "version       {}{}",
                status.upgrade.map_or("unknown".into(), |a| format!("{a:?}").to_lowercase()),
                status.download.map(|d| format!(" ({d})")).unwrap_or_default()
            );
            println!(
                "assignment    serial {}",
                status.assignment_serial.map_or("-".into(), |s| s.to_string())
            );
            let digests = serde_json::to_value(&status.digests)?;
            for (section, digest) in digests.as_object().into_iter().flatten() {
                let digest = digest.as_str().unwrap_or_default();
                println!("  {section:<14}{}", digest.get(..16).unwrap_or(digest));
            }
            if let Some(error) = status.last_error {
                println!("last error    {error}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let connector = Connector::builder(config).start().await?;
        tokio::signal::ctrl_c().await?;
        tracing::info!("stopping");
        connector.shutdown().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
