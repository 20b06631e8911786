//! The composition root: from a [`Config`] to a running DS. Opens the store (applying
//! migrations), creates the bootstrap administrator on first start, loads the signing keys,
//! builds the TLS identity, binds the listeners and starts the background tasks (key rotation,
//! session purge). The binary and the tests start the DS the same way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{self, Shared};
use crate::auth::key_lookup::KeyLookup;
use crate::auth::{Authenticator, oidc};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::devices::{DeviceService, KeySchedule, ProtocolKeys};
use crate::ratelimit::RateLimiter;
use crate::store::{AuditEvent, Role, SqlStore, Store, StoreError};
use crate::tokens::{TokenError, TokenIssuer};

/// The bootstrap credential's file name in the data directory.
pub const BOOTSTRAP_FILE: &str = "bootstrap-admin.txt";
/// The bootstrap administrator's name.
pub const BOOTSTRAP_USER: &str = "admin";

/// Why the DS cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory cannot be created or written.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database cannot be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing keys cannot be loaded or created.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// The TLS identity cannot be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// A listener cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The device-protocol keys cannot be loaded or created.
    #[error("device-protocol keys: {0}")]
    Keys(String),
    /// The bootstrap administrator cannot be created.
    #[error("bootstrap administrator: {0}")]
    Bootstrap(String),
}

/// A running DS.
pub struct RunningDs {
    addresses: Vec<SocketAddr>,
    tls: bool,
    ca_certificate: Option<PathBuf>,
    store: Arc<SqlStore>,
    tokens: Arc<TokenIssuer>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for RunningDs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDs")
            .field("addresses", &self.addresses)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl RunningDs {
    /// The bound addresses (with the real port when 0 was asked).
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The base URL of the first listener (`https://localhost:PORT` or `http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        let port = self.addresses.first().map_or(0, SocketAddr::port);
        if self.tls {
            format!("https://localhost:{port}")
        } else {
            format!("http://127.0.0.1:{port}")
        }
    }

    /// The local CA's certificate, when the DS serves one.
    pub fn ca_certificate(&self) -> Option<&Path> {
        self.ca_certificate.as_deref()
    }

    /// The store, for tests and tools.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The application-token issuer (tests rotate its keys at a moment of their clock's
    /// choosing instead of waiting for its own schedule).
    pub fn tokens(&self) -> &Arc<TokenIssuer> {
        &self.tokens
    }

    /// Stops accepting, lets open requests finish within the grace period, stops the
    /// background tasks and closes the database.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.store.close().await;
    }
}

/// Starts the DS described by `config`, reading time from `clock`.
///
/// # Errors
/// [`StartError`] naming the step that failed.
pub async fn start(config: &Config, clock: SharedClock) -> Result<RunningDs, StartError> {
    let data = config.data_dir();
    create_private_dir(&data)?;
    let url = config.database_url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        tracing::info!(path, "database: SQLite");
    } else {
        tracing::info!(url = %crate::config::hide_password(&url), "database: PostgreSQL");
    }
    let store = Arc::new(SqlStore::open(&url, config.database.max_connections).await?);
    let dyn_store: Arc<dyn Store> = store.clone();
    bootstrap_admin(&dyn_store, &data, clock.now()).await?;

    let tokens =
        Arc::new(TokenIssuer::new(dyn_store.clone(), clock.clone(), config.tokens.clone()));
    tokens.rotate().await?;

    let api_keys =
        Arc::new(KeyLookup::new(dyn_store.clone(), clock.clone(), config.api_keys.cache_secs));
    let sync = i64::try_from(config.devices.sync_interval_secs).unwrap_or(i64::MAX / 4);
    let schedule = KeySchedule {
        rotation_secs: config.devices.key_rotation_secs,
        publish_ahead_secs: (2 * sync).max(86_400),
        overlap_secs: 2 * sync + t1c_ds_protocol::seal::TIME_WINDOW_SECS,
    };
    let protocol_keys = Arc::new(ProtocolKeys::new(dyn_store.clone(), clock.clone(), schedule));
    protocol_keys.rotate().await.map_err(|e| StartError::Keys(e.to_string()))?;
    let devices = Arc::new(DeviceService::new(
        dyn_store.clone(),
        clock.clone(),
        protocol_keys.clone(),
        tokens.clone(),
        api_keys.clone(),
        config.devices.clone(),
    ));

    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| StartError::Tls(e.to_string()))?;
    let oidc =
        config.oidc.clone().filter(oidc::OidcConfig::is_configured).map(|settings| {
            Arc::new(oidc::OidcVerifier::new(settings, http.clone(), clock.clone()))
        });
    let sign_in = config.oidc.clone().and_then(|settings| {
        oidc::signin::SignIn::new(settings, http.clone(), clock.clone()).map(Arc::new)
    });
    let state = Arc::new(Shared {
        store: dyn_store.clone(),
        tokens: tokens.clone(),
        auth: Authenticator::new(
            dyn_store.clone(),
            oidc,
            clock.clone(),
            config.sessions.lifetime_secs,
        )
        .with_sign_in(sign_in),
        keys: api_keys,
        devices,
        bundles: Arc::new(crate::modules::BundleChecker::default()),
        bundle_files: crate::modules::BundleFiles::default(),
        key_budget: RateLimiter::new(config.api_keys.requests_per_key_per_minute, clock.clone()),
        failures: RateLimiter::new(config.api_keys.failures_per_address_per_minute, clock.clone()),
        clock: clock.clone(),
        installers_dir: config.installers_dir(),
        http,
        trust_forwarded_for: config.server.trust_forwarded_for,
        started: Instant::now(),
    });
    let router = api::router(
        state,
        config.server.max_body_bytes,
        Duration::from_secs(config.server.request_timeout_secs),
    );

    let (tls, ca_certificate) = if config.server.plain_http {
        tracing::warn!("serving plain HTTP: run this only behind a TLS-terminating proxy");
        (None, None)
    } else {
        let (source, ca) = match (&config.server.certificate, &config.server.key) {
            (Some(certificate), Some(key)) => (
                t1c_tls::CertificateSource::Files {
                    certificate: certificate.clone(),
                    key: key.clone(),
                },
                None,
            ),
            _ => {
                let dir = data.join("tls");
                let source = t1c_tls::CertificateSource::LocalCa {
                    dir: dir.clone(),
                    dns_names: config.server.dns_names.clone(),
                };
                (source, Some(dir.join("ca.pem")))
            }
        };
        let key = t1c_tls::load(&source).map_err(|e| StartError::Tls(e.to_string()))?;
        let resolver = Arc::new(t1c_tls::CertificateResolver::new(key));
        let tls =
            crate::server::tls_config(resolver).map_err(|e| StartError::Tls(e.to_string()))?;
        if let Some(ca) = &ca {
            tracing::info!(ca = %ca.display(), "serving HTTPS with the DS's own local CA; give clients this certificate or configure server.certificate");
        }
        (Some(tls), ca)
    };

    let (stop, _) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut addresses = Vec::new();
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    for &address in &config.server.listen {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        let local = listener.local_addr().map_err(|source| StartError::Bind { address, source })?;
        tracing::info!(address = %local, tls = tls.is_some(), "listening");
        addresses.push(local);
        tasks.spawn(crate::server::serve(
            listener,
            tls.clone(),
            router.clone(),
            stop.subscribe(),
            grace,
        ));
    }
    tasks.spawn(tokens.clone().keep_rotating(stop.subscribe()));
    tasks.spawn(purge_sessions(dyn_store.clone(), clock.clone(), stop.subscribe()));
    tasks.spawn(device_upkeep(protocol_keys, dyn_store.clone(), clock.clone(), stop.subscribe()));
    tasks.spawn(counter_rollover(
        dyn_store,
        clock,
        config.devices.counter_grace_secs,
        stop.subscribe(),
    ));
    Ok(RunningDs { addresses, tls: tls.is_some(), ca_certificate, store, tokens, stop, tasks })
}

/// On first start (no account at all), creates the administrator `admin` with a random
/// password written to `<data>/bootstrap-admin.txt`, readable by the owner only. The password
/// never goes to the log.
async fn bootstrap_admin(store: &Arc<dyn Store>, data: &Path, now: i64) -> Result<(), StartError> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    let (user, password) =
        api::operators::users::account(BOOTSTRAP_USER, None, Role::PlatformAdmin, None, now)
            .map_err(|e| StartError::Bootstrap(format!("{e:?}")))?;
    let password = password.ok_or_else(|| StartError::Bootstrap("no password generated".into()))?;
    let path = data.join(BOOTSTRAP_FILE);
    let text = format!(
        "# The first administrator of this T1C Distribution Service.\n\
         # Log in with POST /v3_5/auth/token, create your own accounts, then delete this file.\n\
         username: {BOOTSTRAP_USER}\npassword: {password}\n"
    );
    // Written under a name of this process's own first, and moved into place only once the
    // account exists: two processes starting together on one data directory never leave a
    // file whose password no account has.
    let pending = data.join(format!("{BOOTSTRAP_FILE}.{}", std::process::id()));
    t1c_tls::write_private(&pending, &text).map_err(|e| StartError::Bootstrap(e.to_string()))?;
    let audit = AuditEvent {
        actor: "system".into(),
        action: "user.bootstrap",
        organisation_id: None,
        detail: serde_json::json!({"username": BOOTSTRAP_USER}),
        at: now,
    };
    match store.create_user(&user, &audit).await {
        Ok(()) => {
            std::fs::rename(&pending, &path).map_err(|e| StartError::Bootstrap(e.to_string()))?;
            tracing::warn!(file = %path.display(), "first start: created the administrator account; its password is in this file (owner-only)");
            Ok(())
        }
        // Another DS process on the same database did it first.
        Err(StoreError::Conflict(_)) => {
            let _ = std::fs::remove_file(&pending);
            Ok(())
        }
        Err(err) => {
            let _ = std::fs::remove_file(&pending);
            Err(err.into())
        }
    }
}

async fn purge_sessions(
    store: Arc<dyn Store>,
    clock: SharedClock,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(err) = store.purge_sessions(clock.now()).await {
                    tracing::warn!("cannot purge expired sessions: {err}");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Rotates the device-protocol keys and forgets message ids older than the replay window,
/// every 30 seconds.
async fn device_upkeep(
    keys: Arc<ProtocolKeys>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(err) = keys.rotate().await {
                    tracing::warn!("device-protocol key rotation failed, keeping the current keys: {err}");
                }
                let before = clock.now() - 2 * t1c_ds_protocol::seal::TIME_WINDOW_SECS;
                if let Err(err) = store.purge_messages(before).await {
                    tracing::warn!("cannot purge seen message ids: {err}");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Closes the months of usage counters that are due and folds late counts in: at start (a DS
/// that was down catches up every missed month), then every 60 seconds.
async fn counter_rollover(
    store: Arc<dyn Store>,
    clock: SharedClock,
    grace_secs: i64,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match crate::devices::rollover::roll_over(&*store, clock.now(), grace_secs).await {
                    Ok(done) => {
                        for month in &done.closed {
                            tracing::info!(%month, "usage counters: month closed and archived");
                        }
                        if done.folded > 0 {
                            tracing::info!(rows = done.folded, "usage counters: late rows folded into closed months");
                        }
                    }
                    Err(err) => tracing::warn!("usage counter rollover failed, retrying in a minute: {err}"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StartError> {
    let io = |source| StartError::DataDir { path: dir.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}
