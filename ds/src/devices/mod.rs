//! The device protocol, DS side (`ds/protocol/PROTOCOL.md`): registration with a version's
//! installation key, and the one sync: sealed messages checked and answered, the version
//! verdict, the configuration sections that changed, the usage counters stored.
//!
//! Sections are computed once per [`SECTIONS_TTL`] seconds per process and shared by every
//! sync, so a sync with nothing changed costs a cached lookup plus the device's own writes (its
//! message id, its record, its counters). A change an operator makes reaches the devices that
//! sync with the process that made it at once (it drops its cache), and the others within that
//! bound.

pub mod keys;
pub mod rollover;
pub mod tls;

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use t1c_ds_protocol::assignment::ModuleAssignment;
use t1c_ds_protocol::messages::{
    ContextConfig, DeviceState, DsKeys, ENVELOPE_VERSION, Envelope, RegistrationAnswer,
    RegistrationRequest, RegistrationToken, Section, SyncAnswer, SyncRequest, TlsKeystore, Upgrade,
};
use t1c_ds_protocol::platform::Os;
use t1c_ds_protocol::seal::{self, OpenError};
use t1c_ds_protocol::version::UpgradeAdvice;

use crate::auth::key_lookup::KeyLookup;
use crate::catalog;
use crate::clock::SharedClock;
use crate::modules::rollout::RolloutPlan;
use crate::store::{
    Device, DeviceReport, Filter, KeyOwner, Label, Paging, Store, StoreError, Version,
};
use crate::tokens::TokenIssuer;
pub use keys::{KeySchedule, ProtocolKeys};

/// Seconds a process reuses its computed sections.
pub const SECTIONS_TTL: i64 = 5;
/// Seconds a registration token lives.
pub const REGISTRATION_TOKEN_SECS: i64 = 300;
/// Labels and browsers remembered per device.
const REMEMBERED: usize = 32;
/// Bounds of the sync interval answered.
const MIN_SYNC_SECS: u64 = 30;
const MAX_SYNC_SECS: u64 = 86_400;

/// The `[devices]` settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceSettings {
    /// Nominal seconds between syncs (T1C: 8 hours); answers add ±10 % jitter.
    pub sync_interval_secs: u64,
    /// Failed syncs in a row before a connector reports the DS unreachable.
    pub failure_limit: u32,
    /// How long a generation of the DS's message keys is current.
    pub key_rotation_secs: i64,
    /// How long after a month ends its counts still land in their own day (a connector that
    /// was offline); later counts are kept as the archived month's adjustment. 72 hours.
    pub counter_grace_secs: i64,
    /// A device whose TLS certificate expires within this many seconds gets the current
    /// keystore (as does one with none, or with one the DS does not know).
    pub tls_renew_before_secs: i64,
    /// How long a signed module assignment stays valid (at least three sync intervals); it is
    /// signed again when half of it has passed. 7 days.
    pub assignment_ttl_secs: i64,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            sync_interval_secs: 28_800,
            failure_limit: 3,
            key_rotation_secs: 90 * 86_400,
            counter_grace_secs: 72 * 3600,
            tls_renew_before_secs: tls::DEFAULT_RENEW_BEFORE_SECS,
            assignment_ttl_secs: 7 * 86_400,
        }
    }
}

/// Why a device request is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// Any authentication or message failure (the device learns only "refused").
    #[error("refused: {0}")]
    Refused(String),
    /// Unknown or revoked device: it must register again.
    #[error("register again: {0}")]
    RegisterAgain(String),
    /// The message was authentic but its content breaks a rule (counters, sizes).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys or sealing failed on the DS's side.
    #[error("internal: {0}")]
    Internal(String),
}

fn refused(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Refused(e.to_string())
}

/// The sections as computed at one moment.
#[derive(Clone)]
struct Sections {
    at: i64,
    config: Section<ContextConfig>,
    jwt_keys: Section<serde_json::Value>,
    publisher_keys: Section<Vec<String>>,
    ds_keys: Section<DsKeys>,
    versions: Arc<Vec<Version>>,
    keystores: tls::Keystores,
    /// The rollouts, ready to match, and the serial assignments carry.
    plan: Arc<RolloutPlan>,
    serial: u64,
    /// Label name → its organisation's id.
    organisations: Arc<std::collections::HashMap<String, String>>,
}

/// Devices whose loaded keys are kept.
const PEER_CACHE: usize = 100_000;

/// A device's keys, loaded.
struct Peer {
    signing_key: String,
    verifier: seal::Verifier,
    encrypter: seal::Encrypter,
}

/// The device protocol's DS side.
pub struct DeviceService {
    store: Arc<dyn Store>,
    clock: SharedClock,
    keys: Arc<ProtocolKeys>,
    tokens: Arc<TokenIssuer>,
    api_keys: Arc<KeyLookup>,
    settings: DeviceSettings,
    sections: Mutex<Option<Sections>>,
    /// Moves on at every invalidation: sections computed across one are not kept.
    generation: std::sync::atomic::AtomicU64,
    peers: Mutex<std::collections::HashMap<String, Arc<Peer>>>,
}

impl std::fmt::Debug for DeviceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceService").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl DeviceService {
    /// The service.
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        keys: Arc<ProtocolKeys>,
        tokens: Arc<TokenIssuer>,
        api_keys: Arc<KeyLookup>,
        settings: DeviceSettings,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            tokens,
            api_keys,
            settings,
            sections: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            peers: Mutex::default(),
        }
    }

    /// The DS's message keys.
    pub fn keys(&self) -> &Arc<ProtocolKeys> {
        &self.keys
    }

    /// Registration step 1: a single-use token for a version's installation key.
    ///
    /// # Errors
    /// [`DeviceError::Refused`] for a key that is not an active installation key.
    pub async fn registration_token(
        &self,
        api_key: &str,
    ) -> Result<RegistrationToken, DeviceError> {
        let found =
            self.api_keys.active(api_key).await?.ok_or_else(|| refused("not an active key"))?;
        let KeyOwner::Version(version) = found.key.owner else {
            return Err(refused("a label key, not an installation key"));
        };
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| DeviceError::Internal(e.to_string()))?;
        let token = format!("t1cr_{}", hex::encode(bytes));
        let now = self.clock.now();
        self.store
            .create_registration_token(&hash(&token), &version, now, now + REGISTRATION_TOKEN_SECS)
            .await?;
        Ok(RegistrationToken { registration_token: token, expires_in: REGISTRATION_TOKEN_SECS })
    }

    /// Registration step 2: a JWS of a [`RegistrationRequest`] signed by the key it carries.
    ///
    /// # Errors
    /// [`DeviceError::Refused`] for a bad, used or expired token, a bad key or signature.
    pub async fn register(&self, jws: &str) -> Result<RegistrationAnswer, DeviceError> {
        if jws.len() > 16 * 1024 {
            return Err(refused("registration too large"));
        }
        let request: RegistrationRequest = self_signed(jws)?;
        check_platform(&request.platform)?;
        let signing = seal::peer_key(&request.signing_key, true).map_err(refused)?;
        seal::peer_key(&request.encryption_key, false).map_err(refused)?;
        // The payload was read before its signature was checked only to find the key; check it.
        verify_self_signed(jws, &signing)?;
        let now = self.clock.now();
        let version = self
            .store
            .consume_registration_token(&hash(&request.registration_token), now)
            .await?
            .ok_or_else(|| refused("unknown, used or expired registration token"))?;
        let mut id_bytes = [0u8; 16];
        getrandom::fill(&mut id_bytes).map_err(|e| DeviceError::Internal(e.to_string()))?;
        let id = hex::encode(id_bytes);
        let device = Device {
            id: id.clone(),
            signing_key: request.signing_key.to_string(),
            encryption_key: request.encryption_key.to_string(),
            installed_with: version,
            version: request.platform.version.clone(),
            os: request.platform.os.clone(),
            os_version: os_version(&request.platform),
            arch: request.platform.arch.clone(),
            state: "running".into(),
            labels: vec![],
            browsers: vec![],
            modules: vec![],
            failed_installs: vec![],
            registered_at: now,
            last_seen: now,
            revoked_at: None,
        };
        self.store.create_device(&device).await?;
        tracing::info!(device = %id, version = %device.version, os = %device.os, "device registered");
        let next_sync_in = self.jittered(&id, now);
        Ok(RegistrationAnswer { device_id: id, ds_keys: self.keys.public(), next_sync_in })
    }

    /// One sync: opens `sealed` from `device_id`, stores what it reports, and seals the answer.
    ///
    /// # Errors
    /// [`DeviceError`]; nothing is stored for a message that fails any check.
    pub async fn sync(&self, device_id: &str, sealed: &str) -> Result<String, DeviceError> {
        let now = self.clock.now();
        let opened = seal::decrypt_with(sealed, &self.keys.decrypters()).map_err(refused)?;
        let device = match self.store.device(device_id).await {
            Ok(device) if device.revoked_at.is_none() => device,
            Ok(_) => return Err(DeviceError::RegisterAgain("revoked device".into())),
            Err(StoreError::NotFound) => {
                return Err(DeviceError::RegisterAgain("unknown device".into()));
            }
            Err(err) => return Err(err.into()),
        };
        let peer = self.peer(&device)?;
        let message: Envelope<SyncRequest> =
            opened.verify_with(&peer.verifier, Some(device_id), now).map_err(|e| match e {
                OpenError::UnknownSender => refused("signed with a key that is not the device's"),
                other => refused(other),
            })?;
        let request = message.body;
        request.counters.check().map_err(|e| DeviceError::Invalid(e.to_string()))?;
        check_platform(&request.platform)?;
        let sections = self.sections(now).await?;
        let mut report = report(&device, &request, now);
        let version = semver::Version::parse(&request.platform.version)
            .map_err(|e| DeviceError::Invalid(e.to_string()))?;
        let assigned = sections.plan.assign(
            device_id,
            &version,
            &report.labels,
            &request.modules,
            &request.failed_installs,
        );
        report.rollouts = assigned.reports;
        let counters = counting_window(&request.counters, now, self.settings.counter_grace_secs);
        if counters.rows.len() < request.counters.rows.len() {
            tracing::info!(
                device = %device_id,
                dropped = request.counters.rows.len() - counters.rows.len(),
                "counter rows outside the counting window ignored"
            );
        }
        // One transaction: a replay writes nothing, and a sync costs one commit.
        let Some(newly_failed) =
            self.store.apply_sync(device_id, &message.message_id, &counters, &report).await?
        else {
            return Err(refused("replayed message id"));
        };
        if !newly_failed.is_empty() {
            // The sync is stored: a failure here must not fail it. The next failure reported
            // checks the threshold again.
            match self.store.pause_failing_rollouts(&newly_failed, now).await {
                Ok(paused) if !paused.is_empty() => {
                    tracing::warn!(rollouts = ?paused, "rollouts paused: failure threshold reached");
                    self.invalidate_sections();
                }
                Ok(_) => {}
                Err(err) => tracing::error!("checking the rollouts' failure thresholds: {err}"),
            }
        }

        let signer = self
            .keys
            .current()
            .ok_or_else(|| DeviceError::Internal("no device-protocol key yet".into()))?;
        let digests = &request.digests;
        let changed = |held: &Option<String>, current: &str| held.as_deref() != Some(current);
        let organisations = device_organisations(&report.labels, &sections.organisations);
        let assignment = self.assignment(device_id, sections.serial, assigned.modules, now);
        let assignment_digest = assignment_digest(&assignment, signer.key_id())?;
        let modules = if changed(&digests.modules, &assignment_digest) {
            let jws = assignment.sign(&signer).map_err(|e| DeviceError::Internal(e.to_string()))?;
            Some(Section { digest: assignment_digest, body: jws })
        } else {
            None
        };
        let answer = SyncAnswer {
            next_sync_in: self.jittered(device_id, now),
            upgrade: upgrade(&request.platform, &sections.versions),
            counters_stored: request.counters.seq,
            config: changed(&digests.config, &sections.config.digest)
                .then(|| sections.config.clone()),
            jwt_keys: changed(&digests.jwt_keys, &sections.jwt_keys.digest)
                .then(|| sections.jwt_keys.clone()),
            publisher_keys: changed(&digests.publisher_keys, &sections.publisher_keys.digest)
                .then(|| sections.publisher_keys.clone()),
            ds_keys: changed(&digests.ds_keys, &sections.ds_keys.digest)
                .then(|| sections.ds_keys.clone()),
            tls: sections
                .keystores
                .to_send(
                    &request.platform.version,
                    &organisations,
                    digests.tls.as_deref(),
                    now,
                    self.settings.tls_renew_before_secs,
                )
                .map(|k| Section {
                    digest: k.fingerprint.clone(),
                    body: TlsKeystore {
                        chain_pem: k.chain_pem.clone(),
                        key_pem: k.key_pem.expose().to_owned(),
                        not_after: k.not_after,
                    },
                }),
            modules,
        };
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            device_id: device_id.to_owned(),
            message_id: seal::message_id().map_err(|e| DeviceError::Internal(e.to_string()))?,
            issued_at: now,
            in_reply_to: Some(message.message_id),
            body: answer,
        };
        seal::seal_with(&envelope, &signer, &peer.encrypter)
            .map_err(|e| DeviceError::Internal(e.to_string()))
    }

    /// The device's keys, loaded once and kept (a device's keys never change: registering again
    /// gives a new id).
    fn peer(&self, device: &Device) -> Result<Arc<Peer>, DeviceError> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(peer) = peers.get(&device.id)
            && peer.signing_key == device.signing_key
        {
            return Ok(peer.clone());
        }
        let signing =
            seal::peer_key(&serde_json::from_str(&device.signing_key).map_err(refused)?, true)
                .map_err(refused)?;
        let encryption =
            seal::peer_key(&serde_json::from_str(&device.encryption_key).map_err(refused)?, false)
                .map_err(refused)?;
        let peer = Arc::new(Peer {
            signing_key: device.signing_key.clone(),
            verifier: seal::Verifier::load(&signing).map_err(refused)?,
            encrypter: seal::Encrypter::load(&encryption).map_err(refused)?,
        });
        if peers.len() >= PEER_CACHE {
            peers.clear();
        }
        peers.insert(device.id.clone(), peer.clone());
        Ok(peer)
    }

    /// The device's assignment as of `now`: its issue time is `now` rounded down to half its
    /// lifetime, so it is signed again (and resent) once per half-lifetime, and the same
    /// content gives the same signature in every DS process.
    fn assignment(
        &self,
        device_id: &str,
        serial: u64,
        modules: Vec<t1c_ds_protocol::assignment::AssignedModule>,
        now: i64,
    ) -> ModuleAssignment {
        // At least three of the longest intervals a device may wait (the clamp, plus jitter).
        let interval = self.settings.sync_interval_secs.clamp(MIN_SYNC_SECS, MAX_SYNC_SECS);
        let floor = i64::try_from(interval * 11 / 10 * 3).unwrap_or(i64::MAX);
        let ttl = self.settings.assignment_ttl_secs.clamp(floor, 365 * 86_400);
        let half = ttl / 2;
        let issued_at = now - now.rem_euclid(half);
        ModuleAssignment {
            device_id: device_id.to_owned(),
            serial,
            issued_at,
            expires_at: issued_at.saturating_add(ttl),
            modules,
        }
    }

    /// Drops the cached sections: the next sync reads them afresh (after a change this
    /// process made; other processes see it within [`SECTIONS_TTL`]).
    pub fn invalidate_sections(&self) {
        let mut sections = self.sections.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *sections = None;
    }

    /// The interval with ±10 % jitter, stable for one device and moment, clamped.
    fn jittered(&self, device_id: &str, now: i64) -> u64 {
        let base = self.settings.sync_interval_secs.clamp(MIN_SYNC_SECS, MAX_SYNC_SECS);
        let digest = Sha256::digest(format!("{device_id}:{now}").as_bytes());
        let unit = f64::from(u16::from_be_bytes([digest[0], digest[1]])) / f64::from(u16::MAX);
        let factor = 0.9 + 0.2 * unit;
        // Truncation is intended: whole seconds.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let secs = (base as f64 * factor) as u64;
        secs.clamp(MIN_SYNC_SECS, MAX_SYNC_SECS)
    }

    async fn sections(&self, now: i64) -> Result<Sections, DeviceError> {
        if let Some(cached) = self.sections.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && now - cached.at < SECTIONS_TTL
            && now >= cached.at
        {
            return Ok(cached.clone());
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        // The serial before the rollouts: a change committed in between gives an older serial
        // with the newer plan, which the next computation corrects, never the reverse.
        let serial = u64::try_from(self.store.assignment_serial().await?).unwrap_or(0);
        let mut labels: Vec<Label> = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .labels(&Filter::default(), Paging { offset, limit: Paging::MAX_LIMIT })
                .await?;
            let full = page.items.len() >= Paging::MAX_LIMIT as usize;
            labels.extend(page.items);
            offset += Paging::MAX_LIMIT;
            if !full {
                break;
            }
        }
        let mut cors: Vec<String> =
            labels.iter().flat_map(|label| label.domains.iter().cloned()).collect();
        cors.sort();
        cors.dedup();
        let config = ContextConfig {
            cors,
            sync_interval_secs: self.settings.sync_interval_secs,
            failure_limit: self.settings.failure_limit,
            label_origins: labels.iter().map(|l| (l.name.clone(), l.domains.clone())).collect(),
        };
        let publisher_keys: Vec<String> = self
            .store
            .publisher_keys()
            .await?
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.public_key)
            .collect();
        let sections = Sections {
            at: now,
            config: section(config)?,
            jwt_keys: section(self.tokens.jwks().0)?,
            publisher_keys: section(publisher_keys)?,
            ds_keys: section(self.keys.public())?,
            versions: Arc::new(self.store.versions().await?),
            keystores: tls::Keystores::new(self.store.tls_keystores().await?),
            plan: Arc::new(self.rollout_plan(&labels).await?),
            serial,
            organisations: Arc::new(
                labels.into_iter().map(|l| (l.name, l.organisation_id)).collect(),
            ),
        };
        let mut cached = self.sections.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *cached = Some(sections.clone());
        }
        Ok(sections)
    }
}

impl DeviceService {
    async fn rollout_plan(&self, labels: &[Label]) -> Result<RolloutPlan, DeviceError> {
        let rollouts = self.store.rollouts().await?;
        let mut bundles = std::collections::HashMap::new();
        for rollout in &rollouts {
            if !bundles.contains_key(&rollout.bundle) {
                let bundle = self.store.bundle(&rollout.bundle).await?;
                bundles.insert(rollout.bundle.clone(), Arc::new(bundle));
            }
        }
        Ok(RolloutPlan::new(rollouts, &bundles, labels))
    }
}

/// The organisations whose labels a device has reported, sorted.
fn device_organisations(
    labels: &[String],
    organisations: &std::collections::HashMap<String, String>,
) -> Vec<String> {
    let mut found: Vec<String> =
        labels.iter().filter_map(|l| organisations.get(l).cloned()).collect();
    found.sort();
    found.dedup();
    found
}

/// The digest of an assignment section: SHA-256 of the signing key id and the assignment's
/// JSON. Signatures are deterministic, so it names the signed text without signing it.
fn assignment_digest(
    assignment: &ModuleAssignment,
    kid: Option<&str>,
) -> Result<String, DeviceError> {
    let json = serde_json::to_vec(assignment).map_err(|e| DeviceError::Internal(e.to_string()))?;
    let mut hasher = Sha256::new();
    hasher.update(kid.unwrap_or("").as_bytes());
    hasher.update(b"\n");
    hasher.update(&json);
    Ok(hex::encode(hasher.finalize()))
}

/// The rows of `batch` a DS still counts at `now`: not after tomorrow (UTC; a device's clock
/// may run ahead), and not before the month before the one the grace period reaches back to
/// (older months are archived and closed for good). Rows outside are dropped, not refused: a
/// connector holding one stale row must still be able to sync.
fn counting_window(
    batch: &t1c_ds_protocol::counters::CounterBatch,
    now: i64,
    grace_secs: i64,
) -> t1c_ds_protocol::counters::CounterBatch {
    let day = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).ok().map(|d| d.date());
    let (Some(today), Some(grace_start)) = (day(now), day(now - grace_secs.max(0))) else {
        return t1c_ds_protocol::counters::CounterBatch { seq: batch.seq, rows: Vec::new() };
    };
    let latest = today.next_day().unwrap_or(today);
    let month_start = grace_start.replace_day(1).unwrap_or(grace_start);
    let earliest =
        month_start.previous_day().and_then(|d| d.replace_day(1).ok()).unwrap_or(month_start);
    let text = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let (earliest, latest) = (text(earliest), text(latest));
    let rows =
        batch.rows.iter().filter(|row| row.day >= earliest && row.day <= latest).cloned().collect();
    t1c_ds_protocol::counters::CounterBatch { seq: batch.seq, rows }
}

/// A section with its digest: SHA-256 (hex) of its JSON.
fn section<T: serde::Serialize>(body: T) -> Result<Section<T>, DeviceError> {
    let json = serde_json::to_vec(&body).map_err(|e| DeviceError::Internal(e.to_string()))?;
    Ok(Section { digest: hex::encode(Sha256::digest(&json)), body })
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Reads the payload of a JWS without checking it (to find the key it must verify with).
fn self_signed(jws: &str) -> Result<RegistrationRequest, DeviceError> {
    use base64::Engine as _;
    let mut parts = jws.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("not a compact JWS"));
    };
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).map_err(refused)?;
    serde_json::from_slice(&bytes).map_err(refused)
}

fn verify_self_signed(jws: &str, key: &josekit::jwk::Jwk) -> Result<(), DeviceError> {
    let verifier = josekit::jws::EdDSA.verifier_from_jwk(key).map_err(refused)?;
    josekit::jws::deserialize_compact(jws, &verifier)
        .map_err(|_| refused("registration signature"))?;
    Ok(())
}

fn check_platform(platform: &t1c_ds_protocol::messages::Platform) -> Result<(), DeviceError> {
    let field = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_graphic());
    if !field(&platform.os)
        || !field(&platform.arch)
        || semver::Version::parse(&platform.version).is_err()
    {
        return Err(DeviceError::Invalid(
            "platform: os, arch and a semver version are required".into(),
        ));
    }
    Ok(())
}

/// The OS release a platform reports, kept when it is 1 to 64 characters without control
/// characters (and not the word the dashboard shows for none); otherwise none, as from a
/// connector that does not report it: the release only describes the device, so an odd one does
/// not refuse the message.
fn os_version(platform: &t1c_ds_protocol::messages::Platform) -> Option<String> {
    let text = platform.os_version.as_deref()?.trim();
    let usable = !text.is_empty()
        && text.chars().count() <= 64
        && !text.chars().any(char::is_control)
        && !text.eq_ignore_ascii_case(crate::store::UNKNOWN_OS_VERSION);
    usable.then(|| text.to_owned())
}

/// The installer platform of a connector's (os, arch).
pub fn installer_platform(os: &str, arch: &str) -> Option<Os> {
    let arm = arch.starts_with("aarch64") || arch.starts_with("arm");
    match os.to_ascii_lowercase().as_str() {
        "windows" if arch == "x86" || arch == "i686" => Some(Os::Win32),
        "windows" => Some(Os::Win64),
        "macos" | "darwin" if arm => Some(Os::Macosarm),
        "macos" | "darwin" => Some(Os::Macos),
        "linux" | "chromeos" | "freebsd" => Some(Os::Unix),
        _ => None,
    }
}

fn upgrade(platform: &t1c_ds_protocol::messages::Platform, versions: &[Version]) -> Upgrade {
    let advice = catalog::advice_for(&platform.version, versions);
    let latest = catalog::latest(versions);
    let download = match (advice, latest, installer_platform(&platform.os, &platform.arch)) {
        (UpgradeAdvice::Notify | UpgradeAdvice::Block, Some(latest), Some(os)) => latest
            .installers
            .iter()
            .any(|i| i.os == os)
            .then(|| format!("/v3_5/downloads/installers/{os}/versions/{}", latest.id)),
        _ => None,
    };
    Upgrade { advice, latest: latest.map(|v| v.id.clone()), download }
}

/// The device's record after a sync: labels and browsers merged (newest last, bounded).
fn report(device: &Device, request: &SyncRequest, now: i64) -> DeviceReport {
    let merge = |old: &[String], new: &mut dyn Iterator<Item = String>| {
        let mut all: Vec<String> = old.to_vec();
        for item in new {
            all.retain(|x| *x != item);
            all.push(item);
        }
        let excess = all.len().saturating_sub(REMEMBERED);
        all.drain(..excess);
        all
    };
    let labels = request
        .labels
        .iter()
        .filter(|l| l.len() <= 64 && !l.chars().any(char::is_control))
        .cloned();
    let browsers = request.user_agents.iter().filter_map(|ua| browser(ua));
    DeviceReport {
        version: request.platform.version.clone(),
        os: request.platform.os.clone(),
        os_version: os_version(&request.platform),
        arch: request.platform.arch.clone(),
        state: match request.state {
            DeviceState::Running => "running".into(),
            DeviceState::Blocked => "blocked".into(),
        },
        labels: merge(&device.labels, &mut labels.take(REMEMBERED)),
        browsers: merge(&device.browsers, &mut browsers.take(REMEMBERED)),
        modules: request.modules.iter().take(64).cloned().collect(),
        failed_installs: request.failed_installs.iter().take(64).cloned().collect(),
        rollouts: Vec::new(),
        seen_at: now,
    }
}

/// `Chrome 131`, `Edge 131`, `Firefox 133`, `Safari 18` from a User-Agent; `None` for others.
pub fn browser(user_agent: &str) -> Option<String> {
    let version_after = |marker: &str| -> Option<String> {
        let rest = &user_agent[user_agent.find(marker)? + marker.len()..];
        let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!major.is_empty() && major.len() <= 4).then_some(major)
    };
    if user_agent.len() > 512 {
        return None;
    }
    if let Some(v) = version_after("Edg/") {
        return Some(format!("Edge {v}"));
    }
    if let Some(v) = version_after("Firefox/") {
        return Some(format!("Firefox {v}"));
    }
    if let Some(v) = version_after("Chrome/") {
        return Some(format!("Chrome {v}"));
    }
    if user_agent.contains("Safari/") {
        return version_after("Version/").map(|v| format!("Safari {v}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_by_family_and_major_version() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
        assert_eq!(browser(chrome).as_deref(), Some("Chrome 131"));
        assert_eq!(browser(edge).as_deref(), Some("Edge 131"));
        assert_eq!(browser(firefox).as_deref(), Some("Firefox 133"));
        assert_eq!(browser(safari).as_deref(), Some("Safari 18"));
        assert_eq!(browser("curl/8.5.0"), None);
    }

    #[test]
    fn counters_outside_the_window_are_dropped() {
        use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase};
        let row = |day: &str| DayCount {
            day: day.into(),
            label: "shop".into(),
            tag: String::new(),
            module: "beid".into(),
            use_case: UseCase::IdentityRead,
            total: 1,
        };
        let days =
            ["2026-09-30", "2026-10-01", "2026-11-30", "2026-12-01", "2026-12-02", "2030-01-01"];
        let batch = CounterBatch { seq: 7, rows: days.iter().map(|d| row(d)).collect() };
        // 2026-11-30 12:00 UTC, grace 72 h: November is still open, October may be archived
        // but still takes late counts; September and before are closed; tomorrow is the limit.
        let now = 1_796_040_000;
        let kept = counting_window(&batch, now, 72 * 3600);
        let kept: Vec<&str> = kept.rows.iter().map(|r| r.day.as_str()).collect();
        assert_eq!(kept, ["2026-10-01", "2026-11-30", "2026-12-01"]);
        // Early in a month the grace period reaches into the previous one.
        let december_second = now + 2 * 86_400;
        let kept = counting_window(&batch, december_second, 72 * 3600);
        assert!(
            kept.rows.iter().any(|r| r.day == "2026-10-01"),
            "October: the month before November"
        );
        assert!(kept.rows.iter().any(|r| r.day == "2026-12-02"));
    }

    #[test]
    fn installer_platforms() {
        assert_eq!(installer_platform("windows", "x86_64"), Some(Os::Win64));
        assert_eq!(installer_platform("windows", "x86"), Some(Os::Win32));
        assert_eq!(installer_platform("macos", "aarch64"), Some(Os::Macosarm));
        assert_eq!(installer_platform("macos", "x86_64"), Some(Os::Macos));
        assert_eq!(installer_platform("linux", "x86_64"), Some(Os::Unix));
        assert_eq!(installer_platform("plan9", "x86_64"), None);
    }
}
