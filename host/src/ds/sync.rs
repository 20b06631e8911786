//! The sync: registration when the device has no identity, then one sealed request per cycle,
//! and each changed section applied live:
//!
//! - `config`: the CORS allowlist (the DS's origins added to the configured ones), each label's
//!   own origins (its tokens are accepted only from those), and the failure limit;
//! - `jwt_keys`: the JWKS application tokens are checked with (JWT on, from then);
//! - `publisher_keys`: trusted besides the configured keys, for bundles;
//! - `ds_keys`: the DS keys the device holds (a DS key rotation);
//! - `tls`: the certificate and key served, written to `<data dir>/ds/tls/` and swapped in
//!   for new handshakes;
//! - `modules`: the signed assignment, checked ([`Device::assignment`]), each bundle
//!   downloaded, its digest checked and installed by the installer (pinned when it goes back a
//!   version); a refused bundle is reported in the next syncs as a failed install;
//! - the version verdict: `notify` is logged with the download link, `block` refuses module
//!   calls ([`super::Refusal`]).
//!
//! Each request carries the transaction counters as absolute day totals with the drain's
//! number as sequence ([`Counters::drain_until`]); the drain is acknowledged only once the
//! answer says the DS stored it, so a sync killed half-way resends the same batch, which the DS
//! keeps once.
//!
//! What was applied is kept in `<data dir>/ds/applied.json` and applied again at start, so a
//! connector that starts while the DS is down serves with the DS's last policy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use t1c_ds_protocol::assignment::AssignedModule;
use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase as ProtocolUseCase};
use t1c_ds_protocol::device::{self, Device};
use t1c_ds_protocol::messages::{
    ContextConfig, DeviceState, Digests, FailedInstall, InstalledModule, Platform, SyncAnswer,
    SyncRequest, TlsKeystore,
};
use t1c_ds_protocol::version::UpgradeAdvice;

use super::client::DsHttp;
use super::{DsError, DsLink, identity};
use crate::bundles::{InstallOptions, Installer};
use crate::config::DsConfig;
use crate::counters::{self, Counters, Day, Drain};
use crate::security::cors::CorsPolicy;
use crate::security::jwt::JwtVerifier;
use crate::security::policy::{LabelOrigins, LivePolicy};
use crate::security::tls::{self, CertificateResolver, CertificateSource};

/// The parts of the connector a sync changes.
#[derive(Clone)]
pub struct SyncTargets {
    /// CORS allowlist and JWT keys.
    pub policy: Arc<LivePolicy>,
    /// The certificate served.
    pub certificates: Arc<CertificateResolver>,
    /// Installs assigned bundles; trusts the DS's publisher keys.
    pub installer: Arc<Installer>,
    /// The status others read.
    pub link: Arc<DsLink>,
    /// The configured CORS allowlist, kept beside the DS's.
    pub configured_origins: Vec<String>,
    /// The configured token issuer, if any.
    pub jwt_issuer: Option<String>,
    /// The transaction counters shipped with each sync.
    pub counters: Arc<Counters>,
    /// Where the version verdict is shown to the user.
    pub notifier: super::Notifier,
    /// `[tls] certificate` is configured: the operator's certificate is served, and the DS's
    /// keystores are not taken.
    pub own_certificate: bool,
}

/// What was applied, kept across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Applied {
    digests: Digests,
    config: Option<ContextConfig>,
    jwks: Option<serde_json::Value>,
    publisher_keys: Option<Vec<String>>,
    assignment: Option<(u64, i64)>,
    failed_installs: Vec<FailedInstall>,
    last_sync: Option<i64>,
}

struct State {
    device: Option<Device>,
    applied: Applied,
}

/// The connector's DS sync.
pub struct DsSync {
    config: DsConfig,
    dir: PathBuf,
    http: DsHttp,
    targets: SyncTargets,
    platform: Platform,
    state: tokio::sync::Mutex<State>,
    /// The verdict last shown to the user (once per process and verdict).
    notified: std::sync::Mutex<Option<(UpgradeAdvice, Option<String>)>>,
}

impl std::fmt::Debug for DsSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsSync").field("url", &self.http.base()).finish_non_exhaustive()
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl DsSync {
    /// The sync for `config` (its `url` set), keeping its files in `data_dir/ds`, changing
    /// `targets`. What an earlier run applied is applied again now.
    ///
    /// # Errors
    /// [`DsError::Config`] for a bad URL or CA file, [`DsError::Storage`] for an unreadable
    /// identity.
    pub fn new(
        config: DsConfig,
        data_dir: &std::path::Path,
        targets: SyncTargets,
    ) -> Result<Arc<Self>, DsError> {
        let url = config.url.clone().ok_or_else(|| DsError::Config("no url".into()))?;
        let http = DsHttp::new(&url, config.ca_certificate.as_deref())?;
        let dir = data_dir.join("ds");
        let device = identity::load(&dir)?;
        let applied: Applied = std::fs::read_to_string(dir.join("applied.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let platform = Platform {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            os_version: super::os_release::os_version(),
        };
        let sync = Self {
            config,
            dir,
            http,
            targets,
            platform,
            state: tokio::sync::Mutex::new(State { device, applied: applied.clone() }),
            notified: std::sync::Mutex::new(None),
        };
        sync.reapply(&applied);
        // A required upgrade and failed syncs in a row outlive a restart of the same version:
        // restarting must not lift a refusal.
        if let Ok(Some(last)) = super::read_status(data_dir)
            && last.connector_version == sync.platform.version
        {
            sync.targets.link.update(|s| {
                s.upgrade = last.upgrade;
                s.latest_version = last.latest_version;
                s.download = last.download;
                s.consecutive_failures = last.consecutive_failures;
                s.next_sync = last.next_sync;
            });
        }
        sync.targets.link.update(|s| s.connector_version = sync.platform.version.clone());
        Ok(Arc::new(sync))
    }

    /// SHA-256 (hex) of the leaf certificate served now: what the protocol's `tls` digest is.
    fn served_fingerprint(&self) -> Option<String> {
        use sha2::Digest as _;
        let chain = self.targets.certificates.chain();
        chain.first().map(|leaf| hex::encode(sha2::Sha256::digest(leaf.as_ref())))
    }

    /// The sync's status now (what `/info` and `t1c ds status` show).
    pub fn status(&self) -> super::DsStatus {
        self.targets.link.status()
    }

    /// The files of a DS-provided TLS certificate, when one was received.
    pub fn certificate_source(data_dir: &std::path::Path) -> Option<CertificateSource> {
        let dir = data_dir.join("ds").join("tls");
        let (certificate, key) = (dir.join("chain.pem"), dir.join("key.pem"));
        (certificate.is_file() && key.is_file())
            .then_some(CertificateSource::Files { certificate, key })
    }

    /// Runs the sync until the task is aborted: a first sync at once (the version check), then
    /// one per cycle after a random delay; failures retried with backoff and jitter.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            // Registration (first start) or the version check (every start) at once; the
            // periodic syncs after a random delay, so a fleet restarted together spreads out.
            let mut wait = match self.sync_now().await {
                Ok(_) => self.random_secs(self.config.initial_delay_max_secs).max(1),
                Err(err) => self.next_after(Err(err)),
            };
            loop {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                wait = self.next_after(self.sync_now().await);
            }
        })
    }

    /// Seconds to wait after a sync that ended with `result`.
    fn next_after(&self, result: Result<u64, DsError>) -> u64 {
        match result {
            Ok(next) => next,
            Err(err) => {
                let failures = self.targets.link.status().consecutive_failures.max(1);
                let backoff = 30u64.saturating_mul(1 << failures.min(10));
                let wait = backoff.min(self.config.cycle_secs.max(30));
                tracing::warn!(failures, retry_in = wait, "DS sync failed: {err}");
                wait - self.random_secs(wait / 5)
            }
        }
    }

    fn random_secs(&self, max: u64) -> u64 {
        let mut bytes = [0u8; 8];
        if max == 0 || getrandom::fill(&mut bytes).is_err() {
            return 0;
        }
        u64::from_le_bytes(bytes) % (max + 1)
    }

    /// Registers when needed, then syncs once; returns the seconds until the next sync.
    ///
    /// # Errors
    /// [`DsError`]; the failure is counted ([`DsLink`]) and nothing is applied.
    pub async fn sync_now(&self) -> Result<u64, DsError> {
        let mut state = self.state.lock().await;
        let result = self.sync_locked(&mut state).await;
        let link = &self.targets.link;
        match &result {
            Ok(next) => link.update(|s| {
                s.consecutive_failures = 0;
                s.last_sync = Some(now());
                s.next_sync = Some(now() + i64::try_from(*next).unwrap_or(0));
            }),
            Err(err) => link.update(|s| {
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.last_error = Some(err.to_string());
            }),
        }
        // For `t1c ds status`, which runs in another process.
        if let Ok(text) = serde_json::to_string_pretty(&link.status())
            && let Err(err) = t1c_tls::write_private(&super::status_path(&self.dir), &text)
        {
            tracing::warn!("cannot write the DS sync status: {err}");
        }
        result
    }

    async fn sync_locked(&self, state: &mut State) -> Result<u64, DsError> {
        if state.device.is_none() {
            state.device = Some(self.register().await?);
        }
        let Some(device) = state.device.as_mut() else {
            return Err(DsError::Storage("no identity".into()));
        };
        self.targets.link.update(|s| s.device_id = Some(device.id().to_owned()));
        let drain = self.drain().await?;
        let (labels, user_agents) = self.targets.link.take_seen();
        let request = SyncRequest {
            state: if self.targets.link.refusal().is_some() {
                DeviceState::Blocked
            } else {
                DeviceState::Running
            },
            platform: self.platform.clone(),
            labels: labels.clone(),
            user_agents: user_agents.clone(),
            modules: installed(&self.targets.installer),
            failed_installs: state.applied.failed_installs.clone(),
            digests: Digests {
                tls: (!self.targets.own_certificate).then(|| self.served_fingerprint()).flatten(),
                ..state.applied.digests.clone()
            },
            counters: batch(drain.as_ref()),
        };
        let sent = now();
        let (message_id, sealed) =
            device.seal(&request, sent).map_err(|e| DsError::BadAnswer(e.to_string()))?;
        let answer = match self.http.sync(device.id(), sealed).await {
            Ok(answer) => answer,
            Err(DsError::RegisterAgain) => {
                self.targets.link.restore_seen(labels, user_agents);
                // That answer is not signed: the identity is set aside, never deleted, and only
                // when a new installation key can register the device again.
                let candidates = identity::key_candidates(
                    self.config.installation_key_file.as_deref(),
                    &self.dir,
                );
                if identity::installation_key(&candidates).is_some() {
                    tracing::warn!(device = %device.id(), "the DS no longer knows this device: registering again");
                    identity::set_aside(&self.dir)?;
                    state.device = None;
                } else {
                    tracing::error!(
                        device = %device.id(),
                        "the DS no longer knows this device; give it a new installation key (t1c ds register --key-file ...)"
                    );
                }
                return Err(DsError::RegisterAgain);
            }
            Err(err) => {
                self.targets.link.restore_seen(labels, user_agents);
                return Err(err);
            }
        };
        let answer: SyncAnswer = device
            .open_answer(&answer, &message_id, now())
            .map_err(|e| DsError::BadAnswer(e.to_string()))?;
        let mut next = None;
        if let Some(drain) = &drain
            && answer.counters_stored == drain.id().as_u64()
        {
            // Stored by the DS: forgotten here. A crash before this line resends the same drain
            // (same sequence, same totals), which the DS keeps once.
            let (counters, id) = (self.targets.counters.clone(), drain.id());
            tokio::task::spawn_blocking(move || counters.acknowledge(id))
                .await
                .map_err(|e| DsError::Storage(e.to_string()))?
                .map_err(|e| DsError::Storage(e.to_string()))?;
            if drain.rows().len() >= Counters::MAX_DRAIN_ROWS {
                next = Some(30);
            }
        }
        let wait = self.apply(device, &mut state.applied, answer).await?;
        Ok(next.map_or(wait, |soon: u64| soon.min(wait)))
    }

    /// The counters to ship: the pending drain, or a new one up to today.
    async fn drain(&self) -> Result<Option<Drain>, DsError> {
        let counters = self.targets.counters.clone();
        tokio::task::spawn_blocking(move || counters.drain_until(Day::today()))
            .await
            .map_err(|e| DsError::Storage(e.to_string()))?
            .map_err(|e| DsError::Storage(e.to_string()))
    }

    async fn register(&self) -> Result<Device, DsError> {
        let candidates =
            identity::key_candidates(self.config.installation_key_file.as_deref(), &self.dir);
        let (key, file) = identity::installation_key(&candidates).ok_or_else(|| {
            DsError::Config(format!(
                "no installation key: put the installer's key in {}",
                candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
            ))
        })?;
        let token = self.http.registration_token(&key).await?;
        let keys = device::generate_keys().map_err(|e| DsError::Storage(e.to_string()))?;
        let jws = device::registration(&keys, token.registration_token, self.platform.clone())
            .map_err(|e| DsError::Storage(e.to_string()))?;
        let answer = self.http.register(jws).await?;
        let id_ok = !answer.device_id.is_empty()
            && answer.device_id.len() <= 64
            && answer
                .device_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(DsError::BadAnswer("the device id is not 1 to 64 of [A-Za-z0-9_-]".into()));
        }
        let device = Device::new(answer.device_id, keys, answer.ds_keys)
            .map_err(|e| DsError::BadAnswer(e.to_string()))?;
        identity::save(&self.dir, &device)?;
        identity::consume_key(&file);
        // The DS counts per device: the new id starts from what it ships itself.
        let counters = self.targets.counters.clone();
        tokio::task::spawn_blocking(move || counters.forget_shipped())
            .await
            .map_err(|e| DsError::Storage(e.to_string()))?
            .map_err(|e| DsError::Storage(e.to_string()))?;
        tracing::info!(device = %device.id(), ds = %self.http.base(), "registered with the DS");
        Ok(device)
    }

    /// Applies an answer's sections; returns the seconds until the next sync.
    async fn apply(
        &self,
        device: &mut Device,
        applied: &mut Applied,
        answer: SyncAnswer,
    ) -> Result<u64, DsError> {
        // Each section on its own: one that cannot be applied is logged and its digest left as
        // it was (the DS sends it again), the others still apply, and the DS counts as
        // reachable.
        let mut refused: Vec<String> = Vec::new();
        let mut note = |section: &str, result: Result<(), DsError>| match result {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(section, "a section from the DS is not applied: {err}");
                refused.push(format!("{section}: {err}"));
                false
            }
        };
        if let Some(section) = answer.ds_keys {
            let result = device
                .set_ds_keys(section.body)
                .map_err(|e| DsError::BadAnswer(e.to_string()))
                .and_then(|()| identity::save(&self.dir, device));
            if note("ds_keys", result) {
                applied.digests.ds_keys = Some(section.digest);
            }
        }
        if let Some(section) = answer.config
            && note("config", self.apply_config(&section.body))
        {
            applied.config = Some(section.body);
            applied.digests.config = Some(section.digest);
        }
        if let Some(section) = answer.jwt_keys
            && note("jwt_keys", self.apply_jwks(&section.body))
        {
            applied.jwks = Some(section.body);
            applied.digests.jwt_keys = Some(section.digest);
        }
        if let Some(section) = answer.publisher_keys
            && note("publisher_keys", self.apply_publisher_keys(&section.body))
        {
            applied.publisher_keys = Some(section.body);
            applied.digests.publisher_keys = Some(section.digest);
        }
        if let Some(section) = answer.tls {
            if self.targets.own_certificate {
                tracing::debug!(
                    "a TLS keystore from the DS is ignored: [tls] certificate is configured"
                );
            } else {
                note("tls", self.apply_tls(&section.body));
            }
        }
        if let Some(section) = answer.modules {
            match device.assignment(&section.body, now(), applied.assignment) {
                Ok(assignment) => {
                    applied.failed_installs = self.install(&assignment.modules).await;
                    applied.assignment = Some((assignment.serial, assignment.issued_at));
                    // Kept only when every bundle installed: otherwise the DS sends the
                    // assignment again and the failed ones are retried.
                    applied.digests.modules =
                        applied.failed_installs.is_empty().then_some(section.digest);
                    self.targets.link.update(|s| s.assignment_serial = Some(assignment.serial));
                }
                Err(err) => {
                    note("modules", Err(DsError::BadAnswer(format!("module assignment: {err}"))));
                }
            }
        }
        let upgrade = answer.upgrade;
        let base = self.http.base().to_owned();
        let download =
            upgrade.download.as_deref().filter(|d| safe_path(d)).map(|d| format!("{base}{d}"));
        match upgrade.advice {
            UpgradeAdvice::None => {}
            UpgradeAdvice::Notify => tracing::warn!(
                latest = ?upgrade.latest,
                download = ?download,
                "a newer connector version is recommended"
            ),
            UpgradeAdvice::Block => tracing::error!(
                latest = ?upgrade.latest,
                download = ?download,
                "the DS requires an upgrade: module calls are refused until then"
            ),
        }
        self.tell_user(&upgrade, download.as_deref()).await;
        let digests = applied.digests.clone();
        let last_error = (!refused.is_empty()).then(|| refused.join("; "));
        self.targets.link.update(|s| {
            s.upgrade = Some(upgrade.advice);
            s.latest_version = upgrade.latest.clone();
            s.download = download.clone();
            s.digests = digests;
            s.last_error = last_error;
        });
        applied.last_sync = Some(now());
        self.keep(applied)?;
        Ok(answer.next_sync_in.clamp(30, self.config.cycle_secs.max(30)))
    }

    /// Shows the version verdict to the user once per process and verdict: a newer version to
    /// install, or an upgrade without which web pages cannot use the connector.
    async fn tell_user(
        &self,
        upgrade: &t1c_ds_protocol::messages::Upgrade,
        download: Option<&str>,
    ) {
        let verdict = (upgrade.advice, upgrade.latest.clone());
        {
            let mut notified = self.notified.lock().unwrap_or_else(|p| p.into_inner());
            if upgrade.advice == UpgradeAdvice::None || notified.as_ref() == Some(&verdict) {
                return;
            }
            *notified = Some(verdict);
        }
        let latest = upgrade.latest.as_deref().unwrap_or("the latest version");
        let link = download.map(|d| format!(" Download it from {d}")).unwrap_or_default();
        let (summary, body, urgent) = match upgrade.advice {
            UpgradeAdvice::Block => (
                "T1C must be upgraded",
                format!(
                    "This version of T1C is no longer allowed: web pages cannot use your card \
                     reader until you install {latest}.{link}"
                ),
                true,
            ),
            _ => (
                "A new version of T1C is available",
                format!("Version {latest} is available.{link}"),
                false,
            ),
        };
        self.targets.notifier.notify(summary, &body, urgent).await;
    }

    /// Applies what an earlier run kept (at start).
    fn reapply(&self, applied: &Applied) {
        let results = [
            applied.config.as_ref().map(|c| self.apply_config(c)),
            applied.jwks.as_ref().map(|j| self.apply_jwks(j)),
            applied.publisher_keys.as_ref().map(|k| self.apply_publisher_keys(k)),
        ];
        for err in results.into_iter().flatten().filter_map(Result::err) {
            tracing::warn!("the DS's last sections cannot be applied again: {err}");
        }
        let digests = applied.digests.clone();
        let serial = applied.assignment.map(|(serial, _)| serial);
        self.targets.link.update(|s| {
            s.digests = digests;
            s.assignment_serial = serial;
            s.last_sync = applied.last_sync;
        });
    }

    fn apply_config(&self, config: &ContextConfig) -> Result<(), DsError> {
        let mut origins = self.targets.configured_origins.clone();
        origins.extend(config.cors.iter().cloned());
        let cors = CorsPolicy::new(&origins)
            .map_err(|(origin, e)| DsError::BadAnswer(format!("CORS origin {origin:?}: {e}")))?;
        let labels = LabelOrigins::new(
            config
                .label_origins
                .iter()
                .map(|(label, origins)| (label.as_str(), origins.as_slice())),
        );
        self.targets.policy.replace_origins(cors, labels);
        self.targets.link.update(|s| s.failure_limit = config.failure_limit);
        Ok(())
    }

    fn apply_jwks(&self, jwks: &serde_json::Value) -> Result<(), DsError> {
        let mut verifier = JwtVerifier::new(self.targets.jwt_issuer.clone());
        let keys = jwks.get("keys").and_then(|k| k.as_array()).cloned().unwrap_or_default();
        for key in &keys {
            verifier.add_key_jwk(key).map_err(|e| DsError::BadAnswer(e.to_string()))?;
        }
        self.targets.policy.replace_jwt(Some(verifier));
        Ok(())
    }

    fn apply_publisher_keys(&self, keys: &[String]) -> Result<(), DsError> {
        use base64::Engine as _;
        let parsed = keys
            .iter()
            .map(|key| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(key)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| DsError::BadAnswer("a publisher key is not 32 bytes".into()))?;
                t1c_bundle::PublicKey::from_bytes(&bytes)
                    .map_err(|e| DsError::BadAnswer(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.targets.installer.set_extra_trust(parsed);
        Ok(())
    }

    fn apply_tls(&self, keystore: &TlsKeystore) -> Result<(), DsError> {
        if keystore.not_after <= now() {
            return Err(DsError::BadAnswer("the TLS keystore has expired".into()));
        }
        // Written and checked in a directory of its own, then swapped in whole: a crash leaves
        // the old keystore or the new one, never half of each.
        let (current, incoming) = (self.dir.join("tls"), self.dir.join("tls.incoming"));
        let _ = std::fs::remove_dir_all(&incoming);
        std::fs::create_dir_all(&incoming).map_err(|e| DsError::Storage(e.to_string()))?;
        let result = (|| {
            let (certificate, key) = (incoming.join("chain.pem"), incoming.join("key.pem"));
            let write = |path: &std::path::Path, text: &str| {
                t1c_tls::write_private(path, text).map_err(|e| DsError::Storage(e.to_string()))
            };
            write(&certificate, &keystore.chain_pem)?;
            write(&key, &keystore.key_pem)?;
            let loaded = tls::load(&CertificateSource::Files { certificate, key })
                .map_err(|e| DsError::BadAnswer(format!("TLS keystore: {e}")))?;
            loaded.keys_match().map_err(|e| {
                DsError::BadAnswer(format!("TLS keystore: the key is not the leaf's: {e}"))
            })?;
            Ok(loaded)
        })();
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(err) => {
                let _ = std::fs::remove_dir_all(&incoming);
                return Err(err);
            }
        };
        let old = self.dir.join("tls.old");
        let _ = std::fs::remove_dir_all(&old);
        if current.exists() {
            std::fs::rename(&current, &old).map_err(|e| DsError::Storage(e.to_string()))?;
        }
        std::fs::rename(&incoming, &current).map_err(|e| DsError::Storage(e.to_string()))?;
        let _ = std::fs::remove_dir_all(&old);
        self.targets.certificates.swap(loaded);
        tracing::info!("TLS certificate from the DS now served");
        Ok(())
    }

    /// Installs what the assignment names and is not installed; returns the failures.
    async fn install(&self, modules: &[AssignedModule]) -> Vec<FailedInstall> {
        let mut failures = Vec::new();
        let installed = self.targets.installer.list();
        for module in modules {
            let serves = installed
                .iter()
                .any(|m| m.name == module.name && m.digest == module.digest && m.served);
            if serves {
                continue;
            }
            let result = self.fetch_and_install(module).await;
            match result {
                Ok(()) => {
                    tracing::info!(module = %module.name, version = %module.version, "assigned module installed")
                }
                Err(reason) => {
                    tracing::warn!(module = %module.name, version = %module.version, "assigned module not installed: {reason}");
                    failures.push(FailedInstall {
                        name: module.name.clone(),
                        version: module.version.clone(),
                        reason: reason.chars().take(512).collect(),
                    });
                }
            }
        }
        failures
    }

    /// Downloads, checks and installs one assigned bundle, pinned: the DS decides the version
    /// (forwards and, after a rollback, backwards), not the connector's own version order.
    async fn fetch_and_install(&self, module: &AssignedModule) -> Result<(), String> {
        let bytes = self
            .http
            .bundle(&module.download, t1c_bundle::limits::BUNDLE)
            .await
            .map_err(|e| e.to_string())?;
        let digest = t1c_bundle::Bundle::read(&bytes).map_err(|e| e.to_string())?.digest();
        if digest.to_string() != module.digest {
            return Err(format!(
                "the bundle downloaded has digest {digest}, not {}",
                module.digest
            ));
        }
        let installer = self.targets.installer.clone();
        tokio::task::spawn_blocking(move || installer.install(&bytes, InstallOptions { pin: true }))
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn keep(&self, applied: &Applied) -> Result<(), DsError> {
        let text = serde_json::to_string(applied).map_err(|e| DsError::Storage(e.to_string()))?;
        t1c_tls::write_private(&self.dir.join("applied.json"), &text)
            .map_err(|e| DsError::Storage(e.to_string()))
    }
}

/// A DS path to show or fetch: absolute, of URL-safe characters, with no dot segments.
fn safe_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 512
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
        && !path.split('/').any(|segment| segment == "." || segment == "..")
}

/// A drain as the protocol's counter batch: its number as the sequence, absolute day totals.
fn batch(drain: Option<&Drain>) -> CounterBatch {
    let Some(drain) = drain else {
        return CounterBatch::default();
    };
    let rows = drain
        .totals()
        .iter()
        .map(|row| DayCount {
            day: row.day.to_string(),
            label: row.label.clone().unwrap_or_default(),
            tag: row.tag.clone().unwrap_or_default(),
            module: row.module.clone(),
            use_case: use_case(row.use_case),
            total: row.counter,
        })
        // A row the DS would refuse (a day before 2000 from a wrong clock, an absurd total)
        // would make it refuse the whole batch, and the same drain would be sent for ever: it
        // is left out, and logged.
        .filter(|row| {
            let fine = CounterBatch { seq: 0, rows: vec![row.clone()] }.check().is_ok();
            if !fine {
                tracing::warn!(day = %row.day, module = %row.module, total = row.total, "a counter row the DS would refuse is not shipped");
            }
            fine
        })
        .collect();
    CounterBatch { seq: drain.id().as_u64(), rows }
}

fn use_case(use_case: counters::UseCase) -> ProtocolUseCase {
    match use_case {
        counters::UseCase::IdentityRead => ProtocolUseCase::IdentityRead,
        counters::UseCase::Authentication => ProtocolUseCase::Authentication,
        counters::UseCase::DigitalSignature => ProtocolUseCase::DigitalSignature,
        counters::UseCase::PinVerification => ProtocolUseCase::PinVerification,
        counters::UseCase::FileDownload => ProtocolUseCase::FileDownload,
        counters::UseCase::FileUpload => ProtocolUseCase::FileUpload,
        counters::UseCase::FilePrint => ProtocolUseCase::FilePrint,
    }
}

/// The modules installed, as the protocol reports them.
fn installed(installer: &Installer) -> Vec<InstalledModule> {
    installer
        .list()
        .into_iter()
        .map(|m| InstalledModule { name: m.name, version: m.version, digest: m.digest })
        .collect()
}
