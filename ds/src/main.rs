//! `t1c-ds`: the T1C Distribution Service's command line.
//!
//! - `t1c-ds serve`: runs the DS (with no configuration: SQLite and HTTPS with its own local CA
//!   on port 8443, data in the platform's data directory).
//! - `t1c-ds admin create-user`: creates an operator account (password from stdin, or
//!   generated and printed once).
//! - `t1c-ds config show`: the effective configuration, secrets hidden.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use t1c_ds::clock::SystemClock;
use t1c_ds::config::{Config, Overrides};
use t1c_ds::store::{AuditEvent, Role, SqlStore, Store};

#[derive(Parser)]
#[command(name = "t1c-ds", version, about = "The T1C Distribution Service")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The configuration file (TOML).
    #[arg(long, global = true, env = "T1C_DS_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (database, TLS files, installers).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The database URL: sqlite://<path> or postgres://...
    #[arg(long, global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the DS.
    Serve {
        /// Address to listen on (repeatable; default 0.0.0.0:8443).
        #[arg(long)]
        listen: Vec<SocketAddr>,
        /// Serve plain HTTP: only behind a TLS-terminating proxy.
        #[arg(long)]
        plain_http: bool,
    },
    /// Administration.
    #[command(subcommand)]
    Admin(Admin),
    /// The configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum Admin {
    /// Creates an operator account. The password is read from stdin when piped; otherwise one
    /// is generated and printed once.
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// platform-admin, organisation-admin or analyst.
        #[arg(long, default_value = "platform-admin")]
        role: String,
        /// The organisation (organisation admins and analysts).
        #[arg(long)]
        organisation: Option<String>,
        /// Read the password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Prints the effective configuration (file, environment and flags), secrets hidden.
    Show,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("T1C_DS_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut overrides = Overrides {
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
        ..Overrides::default()
    };
    if let Command::Serve { listen, plain_http } = &cli.command {
        overrides.listen = listen.clone();
        overrides.plain_http = *plain_http;
    }
    let config = Config::load(cli.global.config.as_deref(), &overrides)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Command::Serve { .. } => runtime.block_on(serve(config)),
        Command::Admin(Admin::CreateUser { username, role, organisation, password_stdin }) => {
            runtime.block_on(create_user(&config, &username, &role, organisation, password_stdin))
        }
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.show());
            Ok(())
        }
    }
}

async fn serve(config: Config) -> Result<()> {
    tracing::info!(data = %config.data_dir().display(), "T1C Distribution Service {} starting", env!("CARGO_PKG_VERSION"));
    let running = t1c_ds::service::start(&config, Arc::new(SystemClock)).await?;
    tracing::info!(url = %running.url(), "ready");
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn create_user(
    config: &Config,
    username: &str,
    role: &str,
    organisation: Option<String>,
    password_stdin: bool,
) -> Result<()> {
    let role: Role = match role {
        "platform-admin" => Role::PlatformAdmin,
        "organisation-admin" => Role::OrganisationAdmin,
        "analyst" => Role::Analyst,
        other => {
            bail!("unknown role {other:?}: expected platform-admin, organisation-admin or analyst")
        }
    };
    let password = if password_stdin {
        let mut text = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        Some(zeroize::Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()))
    } else {
        None
    };
    std::fs::create_dir_all(config.data_dir())
        .with_context(|| format!("cannot create {}", config.data_dir().display()))?;
    let store = SqlStore::open(&config.database_url(), 1).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (user, generated) = t1c_ds::api::operators::users::account(
        username,
        password.as_deref().map(|p| p.as_str()),
        role,
        organisation,
        now,
    )
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let audit = AuditEvent {
        actor: "cli".into(),
        action: "user.create",
        organisation_id: user.organisation_id.clone(),
        detail: serde_json::json!({"username": user.username, "role": user.role}),
        at: now,
    };
    store.create_user(&user, &audit).await?;
    store.close().await;
    println!("created {} ({})", user.username, user.role.as_str());
    if let Some(password) = generated {
        println!("password: {password}");
        println!("(shown once; it is stored only as an argon2id hash)");
    }
    Ok(())
}
