//! Storage: everything the DS remembers, behind one trait ([`Store`]) with one implementation
//! ([`SqlStore`]) over two real backends, SQLite (embedded, the default) and PostgreSQL (by URL,
//! for several DS processes on one database).
//!
//! Every change an operator makes is written together with its audit entry in one transaction:
//! either both land or neither does. Nothing here checks permissions; the API layer does, and
//! passes the organisation scope it allows into the list queries.

mod analytics;
mod devices;
mod keystores;
mod migrations;
mod month;
mod oidc;
mod rollouts;
mod sql;

pub use analytics::{
    DeviceCount, DeviceDimension, DeviceFilter, Period, UNKNOWN_OS_VERSION, UsageDimension,
    UsageTotal,
};
pub use devices::{
    Device, DeviceReport, MonthFilter, MonthRow, ProtocolKeysRecord, UsageFilter, UsageRow,
};
pub use keystores::{KeystoreScope, PrivateKeyPem, TlsKeystoreRecord};
pub use month::{Month, NotAMonth};
pub use oidc::{OidcLogin, OidcSession};
pub use rollouts::{
    BundleRecord, Rollout, RolloutProgress, RolloutReport, RolloutState, RolloutStatus,
};
pub use sql::SqlStore;

use async_trait::async_trait;
use serde::Serialize;
use t1c_ds_protocol::platform::Os;
use utoipa::ToSchema;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object does not exist.
    #[error("not found")]
    NotFound,
    /// A unique name or key is taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The change would break a rule the store keeps (at most two active keys per owner, ...).
    #[error("{0}")]
    Refused(&'static str),
    /// The database URL is not one the DS supports.
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(String),
    /// A stored value cannot be read back (a row written by something else).
    #[error("corrupt row in {0}")]
    Corrupt(&'static str),
}

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An SQLite file (WAL).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Who made a change and why, written with the change.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// The actor: `user:<name>`, `oidc:<subject>` or `system`.
    pub actor: String,
    /// What was done: `organisation.create`, `label.update`, `api_key.revoke`, ...
    pub action: &'static str,
    /// The organisation the object belongs to, when it belongs to one.
    pub organisation_id: Option<String>,
    /// A JSON summary of the change; never a secret.
    pub detail: serde_json::Value,
    /// When.
    pub at: i64,
}

/// A page of a list: `offset` and `limit` (at most [`Paging::MAX_LIMIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Items to skip.
    pub offset: u32,
    /// Items to return.
    pub limit: u32,
}

impl Paging {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 200;
}

impl Default for Paging {
    fn default() -> Self {
        Self { offset: 0, limit: 50 }
    }
}

/// One page of items and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Listed<T> {
    /// This page.
    pub items: Vec<T>,
    /// All matching items.
    pub total: u64,
}

/// An organisation: the customer that owns labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Organisation {
    /// Opaque id.
    pub id: String,
    /// Unique display name.
    pub name: String,
    /// Created, seconds since the epoch.
    pub created_at: i64,
    /// Last changed, seconds since the epoch.
    pub updated_at: i64,
}

/// A label: one web application, its registered domains (the connectors' CORS allowlist) and
/// tags (sub-customers for billing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Label {
    /// Opaque id.
    pub id: String,
    /// The owning organisation.
    pub organisation_id: String,
    /// Unique name; the `sub` of the label's application tokens.
    pub name: String,
    /// The application's display name.
    pub application: String,
    /// Origins allowed to call connectors (`https://shop.example`).
    pub domains: Vec<String>,
    /// Billing tags.
    pub tags: Vec<String>,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// A connector version and its policy flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Version {
    /// The semver id (`3.8.2`).
    pub id: String,
    /// Offered to users on older versions.
    pub recommended: bool,
    /// Older versions must upgrade.
    pub mandatory: bool,
    /// Connectors of this version may run.
    pub allowed: bool,
    /// One installer per platform.
    pub installers: Vec<Installer>,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// Where a version's installer for one platform is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Installer {
    /// The platform.
    #[schema(value_type = String, example = "win64")]
    pub os: Os,
    /// A path under the installers directory, or an https URL.
    pub source: String,
}

/// What an API key opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum KeyOwner {
    /// A label's key: exchanged for application tokens.
    Label(String),
    /// A version's installation key: carried by installers to register devices.
    Version(String),
}

/// A stored API key: only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKey {
    /// Opaque id.
    pub id: String,
    /// What it opens.
    pub owner: KeyOwner,
    /// SHA-256 of the key.
    #[serde(skip)]
    pub hash: [u8; 32],
    /// The first characters of the key, to tell keys apart.
    pub hint: String,
    /// Created.
    pub created_at: i64,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl ApiKey {
    /// Whether the key opens anything at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }
}

/// An API key found by its hash, with what it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    /// The key.
    pub key: ApiKey,
    /// The label it belongs to (label keys).
    pub label: Option<Label>,
}

/// An Ed25519 key trusted to sign module bundles. The DS holds only the public half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PublisherKey {
    /// Key id.
    pub id: String,
    /// Who publishes with it.
    pub name: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// Created.
    pub created_at: i64,
    /// When it stopped being trusted, if it did.
    pub revoked_at: Option<i64>,
}

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, across organisations.
    PlatformAdmin,
    /// Everything inside one organisation.
    OrganisationAdmin,
    /// Reads, inside one organisation (or all, when bound to none).
    Analyst,
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::OrganisationAdmin => "organisation-admin",
            Role::Analyst => "analyst",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "platform-admin" => Ok(Role::PlatformAdmin),
            "organisation-admin" => Ok(Role::OrganisationAdmin),
            "analyst" => Ok(Role::Analyst),
            _ => Err(StoreError::Corrupt("users")),
        }
    }
}

/// A local operator account.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    /// Opaque id.
    pub id: String,
    /// Unique login name.
    pub username: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// The organisation an organisation admin or analyst is bound to.
    pub organisation_id: Option<String>,
    /// Created.
    pub created_at: i64,
}

/// One audit-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Increasing id.
    pub id: i64,
    /// When.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The kind of object changed.
    pub object_kind: String,
    /// Its id.
    pub object_id: String,
    /// Its organisation, if any.
    pub organisation_id: Option<String>,
    /// A JSON summary.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// An application-token signing key, in its lifecycle: published from `created_at`, signs
/// from `activates_at` until the next key activates, published until `published_until`.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// 1, 2, 3, ...: the order of keys; unique, so two DS processes cannot both add the next.
    pub generation: i64,
    /// JOSE algorithm (`ES256`, `EdDSA`, `RS256`).
    pub algorithm: String,
    /// The private key (PKCS#8 DER), dropped once the key stops signing.
    pub private_pkcs8: Option<Vec<u8>>,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// Created (and published).
    pub created_at: i64,
    /// First moment it signs.
    pub activates_at: i64,
    /// Removed from the JWKS after this moment, once retired.
    pub published_until: Option<i64>,
}

/// A filter for lists: an organisation scope and a name search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this organisation's objects.
    pub organisation_id: Option<String>,
    /// Names containing this text (case-insensitive).
    pub name_contains: Option<String>,
}

/// Everything the DS stores. Implemented by [`SqlStore`] for SQLite and PostgreSQL; the
/// conformance suite (`ds/tests/store.rs`) runs against both.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// A round trip to the database (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates an organisation.
    async fn create_organisation(
        &self,
        org: &Organisation,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// One organisation.
    async fn organisation(&self, id: &str) -> Result<Organisation, StoreError>;
    /// Organisations matching `filter`.
    async fn organisations(
        &self,
        filter: &Filter,
        paging: Paging,
    ) -> Result<Listed<Organisation>, StoreError>;
    /// Renames an organisation.
    async fn rename_organisation(
        &self,
        id: &str,
        name: &str,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<Organisation, StoreError>;
    /// Deletes an organisation with its labels, their keys, and its accounts.
    async fn delete_organisation(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Creates a label.
    async fn create_label(&self, label: &Label, audit: &AuditEvent) -> Result<(), StoreError>;
    /// One label.
    async fn label(&self, id: &str) -> Result<Label, StoreError>;
    /// Labels matching `filter`.
    async fn labels(&self, filter: &Filter, paging: Paging) -> Result<Listed<Label>, StoreError>;
    /// Replaces a label's fields (not its id or organisation).
    async fn update_label(&self, label: &Label, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Deletes a label and its keys.
    async fn delete_label(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Creates or replaces a version with its installers.
    async fn put_version(&self, version: &Version, audit: &AuditEvent) -> Result<(), StoreError>;
    /// One version.
    async fn version(&self, id: &str) -> Result<Version, StoreError>;
    /// Every version (there are few), in no particular order.
    async fn versions(&self) -> Result<Vec<Version>, StoreError>;
    /// Deletes a version, its installers and its keys.
    async fn delete_version(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Adds a key; refused when its owner already has `max_active` active keys at `at`.
    async fn create_api_key(
        &self,
        key: &ApiKey,
        max_active: usize,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The keys of one owner.
    async fn api_keys(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, StoreError>;
    /// One key by id.
    async fn api_key(&self, id: &str) -> Result<ApiKey, StoreError>;
    /// Marks a key revoked at `at`.
    async fn revoke_api_key(&self, id: &str, at: i64, audit: &AuditEvent)
    -> Result<(), StoreError>;
    /// The key with this SHA-256, with its label, whatever its state.
    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ResolvedKey>, StoreError>;

    /// Adds a trusted publisher key.
    async fn create_publisher_key(
        &self,
        key: &PublisherKey,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Every publisher key.
    async fn publisher_keys(&self) -> Result<Vec<PublisherKey>, StoreError>;
    /// Marks a publisher key revoked.
    async fn revoke_publisher_key(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Creates an account.
    async fn create_user(&self, user: &User, audit: &AuditEvent) -> Result<(), StoreError>;
    /// An account by id.
    async fn user(&self, id: &str) -> Result<User, StoreError>;
    /// An account by login name.
    async fn user_by_name(&self, username: &str) -> Result<User, StoreError>;
    /// Accounts matching `filter`.
    async fn users(&self, filter: &Filter, paging: Paging) -> Result<Listed<User>, StoreError>;
    /// How many accounts exist.
    async fn user_count(&self) -> Result<u64, StoreError>;
    /// Deletes an account and its sessions.
    async fn delete_user(&self, id: &str, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Stores a session (by the SHA-256 of its bearer token).
    async fn create_session(
        &self,
        token_hash: &[u8; 32],
        user_id: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// The account behind a live session.
    async fn session_user(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<User>, StoreError>;
    /// Ends a session (a local account's or an OIDC operator's).
    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Removes sessions (both kinds) and OIDC sign-ins expired at `now`; returns how many.
    async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError>;

    /// Stores an OIDC sign-in under way, by the SHA-256 of its `state`.
    async fn create_oidc_login(
        &self,
        state_hash: &[u8; 32],
        login: &OidcLogin,
    ) -> Result<(), StoreError>;
    /// Takes the OIDC sign-in of a `state`: removed whatever its age (a state is used once),
    /// returned only when it had not expired at `now`. Atomic: two callers never both get it.
    async fn take_oidc_login(
        &self,
        state_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<OidcLogin>, StoreError>;
    /// Stores a session opened through the OIDC issuer (by the SHA-256 of its bearer token).
    async fn create_oidc_session(
        &self,
        token_hash: &[u8; 32],
        session: &OidcSession,
    ) -> Result<(), StoreError>;
    /// The live OIDC session of a token hash.
    async fn oidc_session(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<OidcSession>, StoreError>;

    /// Audit entries, newest first.
    async fn audit_log(
        &self,
        filter: &Filter,
        paging: Paging,
    ) -> Result<Listed<AuditEntry>, StoreError>;

    /// Every signing key, by generation.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a signing key; [`StoreError::Conflict`] when its generation exists (another DS
    /// process added it first).
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Retires a key: drops its private half and sets when it leaves the JWKS.
    async fn retire_signing_key(&self, kid: &str, published_until: i64) -> Result<(), StoreError>;
    /// Deletes keys whose publication ended before `now`.
    async fn purge_signing_keys(&self, now: i64) -> Result<u64, StoreError>;

    /// Every generation of the DS's device-protocol keys.
    async fn protocol_keys(&self) -> Result<Vec<ProtocolKeysRecord>, StoreError>;
    /// Adds a generation; [`StoreError::Conflict`] when it exists (another process added it).
    async fn add_protocol_keys(&self, keys: &ProtocolKeysRecord) -> Result<(), StoreError>;
    /// Marks a generation superseded: unpublished (and its private keys dropped) after `until`.
    async fn retire_protocol_keys(&self, generation: i64, until: i64) -> Result<(), StoreError>;
    /// Deletes generations unpublished before `now`.
    async fn purge_protocol_keys(&self, now: i64) -> Result<u64, StoreError>;

    /// Stores a registration token (by its SHA-256) for a version.
    async fn create_registration_token(
        &self,
        hash: &[u8; 32],
        version_id: &str,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Burns a registration token: the version it was issued for when it existed, was unused
    /// and unexpired at `now`; `None` otherwise. Atomic: two callers never both get it.
    async fn consume_registration_token(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<String>, StoreError>;

    /// Adds a device.
    async fn create_device(&self, device: &Device) -> Result<(), StoreError>;
    /// One device.
    async fn device(&self, id: &str) -> Result<Device, StoreError>;
    /// Devices, most recently seen first (the filter's name search matches the version).
    async fn devices(&self, filter: &Filter, paging: Paging) -> Result<Listed<Device>, StoreError>;
    /// Records what a sync reported.
    async fn record_sync(&self, id: &str, report: &DeviceReport) -> Result<(), StoreError>;
    /// Revokes a device: its messages are refused from now on.
    async fn revoke_device(&self, id: &str, at: i64, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Notes a message id; `false` when the device sent it before (a replay).
    async fn note_message(
        &self,
        device_id: &str,
        message_id: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// A sync's writes in one transaction: notes the message id, stores the counters, records
    /// the report and the device's rollout statuses. `None` when the message id was seen before
    /// (a replay): then nothing is written. Otherwise the rollouts in which the device's status
    /// just became failed.
    async fn apply_sync(
        &self,
        device_id: &str,
        message_id: &str,
        batch: &t1c_ds_protocol::counters::CounterBatch,
        report: &DeviceReport,
    ) -> Result<Option<Vec<String>>, StoreError>;
    /// Forgets message ids noted before `before`.
    async fn purge_messages(&self, before: i64) -> Result<u64, StoreError>;

    /// Stores a device's counter batch: per key, the total of the highest sequence number wins.
    async fn store_counters(
        &self,
        device_id: &str,
        batch: &t1c_ds_protocol::counters::CounterBatch,
        at: i64,
    ) -> Result<(), StoreError>;
    /// Usage summed over devices per (day, label, tag, module, use case): the day rows not yet
    /// archived (the current month, and a closed month's late rows until the next rollover).
    async fn usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError>;

    /// Closes `month`, in one transaction: records it closed at `now` (the month's row is the
    /// lock: `false`, and nothing done, when it was already closed, by this or another
    /// process), sums its day rows into one archive entry per (label, tag, module, use case),
    /// moves the day rows to the closed rows (kept one more month so that late data counts
    /// once) and drops the closed rows of earlier months.
    async fn close_month(&self, month: Month, now: i64) -> Result<bool, StoreError>;
    /// Folds the day rows that reached a closed `month` after it closed into its archive: per
    /// key the highest sequence wins against the closed row, and the difference of totals goes
    /// to the entry's `adjustment`, so a resend changes nothing. When the next month is closed
    /// too (the closed rows are gone) such rows are too late and are dropped. Returns how many
    /// day rows were taken.
    async fn fold_late_counters(&self, month: Month) -> Result<u64, StoreError>;
    /// The oldest day with a day row not yet archived (open, or late for a closed month).
    async fn oldest_counter_day(&self) -> Result<Option<String>, StoreError>;
    /// Every closed month, oldest first.
    async fn closed_months(&self) -> Result<Vec<Month>, StoreError>;
    /// Archived usage per (month, label, tag, module, use case).
    async fn usage_months(&self, filter: &MonthFilter) -> Result<Vec<MonthRow>, StoreError>;

    /// Adds a TLS keystore.
    async fn create_tls_keystore(
        &self,
        keystore: &TlsKeystoreRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Every TLS keystore, revoked ones included: the newest `not_after` first.
    async fn tls_keystores(&self) -> Result<Vec<TlsKeystoreRecord>, StoreError>;
    /// Marks a keystore revoked: it is never handed out again.
    async fn revoke_tls_keystore(
        &self,
        id: &str,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Stores an uploaded bundle. [`StoreError::Conflict`] when its digest, or its module and
    /// version, are stored already.
    async fn create_bundle(
        &self,
        bundle: &BundleRecord,
        content: &[u8],
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Bundles, the newest first, filtered by module name (`filter.q`).
    async fn bundles(
        &self,
        filter: &Filter,
        paging: Paging,
    ) -> Result<Listed<BundleRecord>, StoreError>;
    /// One bundle's record.
    async fn bundle(&self, digest: &str) -> Result<BundleRecord, StoreError>;
    /// One bundle's file.
    async fn bundle_content(&self, digest: &str) -> Result<Vec<u8>, StoreError>;
    /// Deletes a bundle no rollout uses ([`StoreError::Conflict`] otherwise).
    async fn delete_bundle(&self, digest: &str, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Adds a rollout (and moves the assignment serial on).
    async fn create_rollout(&self, rollout: &Rollout, audit: &AuditEvent)
    -> Result<(), StoreError>;
    /// Every rollout, the oldest first.
    async fn rollouts(&self) -> Result<Vec<Rollout>, StoreError>;
    /// One rollout.
    async fn rollout(&self, id: &str) -> Result<Rollout, StoreError>;
    /// Raises a rollout's percentage (only upwards; a rolled-back rollout stays as it is):
    /// [`StoreError::Conflict`] when refused.
    async fn raise_rollout(
        &self,
        id: &str,
        percent: u8,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<Rollout, StoreError>;
    /// Moves a rollout from one of `from` to `to`, with a reason; a resume (to active) restarts
    /// the failure count at `at`. [`StoreError::Conflict`] when it is in another state.
    async fn set_rollout_state(
        &self,
        id: &str,
        from: &[RolloutState],
        to: RolloutState,
        reason: Option<&str>,
        at: i64,
        audit: &AuditEvent,
    ) -> Result<Rollout, StoreError>;
    /// Pauses each active rollout of `ids` whose failures since its last resume reached its
    /// threshold; the ids paused.
    async fn pause_failing_rollouts(
        &self,
        ids: &[String],
        at: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// Progress of every rollout, by id.
    async fn rollout_progress(
        &self,
    ) -> Result<std::collections::HashMap<String, RolloutProgress>, StoreError>;
    /// The serial module assignments carry: it moves on with every rollout change.
    async fn assignment_serial(&self) -> Result<i64, StoreError>;

    /// How many devices match `filter` with each `seen_since` of `windows` (the filter's own
    /// `seen_since` is replaced), in the order given.
    async fn devices_seen(
        &self,
        filter: &DeviceFilter,
        windows: &[i64],
    ) -> Result<Vec<u64>, StoreError>;
    /// Devices matching `filter` counted by `by`, the most common value first.
    async fn device_counts(
        &self,
        filter: &DeviceFilter,
        by: DeviceDimension,
    ) -> Result<Vec<DeviceCount>, StoreError>;
    /// Devices matching `filter`, most recently seen first.
    async fn devices_matching(
        &self,
        filter: &DeviceFilter,
        paging: Paging,
    ) -> Result<Listed<Device>, StoreError>;
    /// Usage not yet archived (day rows) summed per `per` and `by`, in period then key order.
    async fn usage_totals(
        &self,
        filter: &UsageFilter,
        by: UsageDimension,
        per: Period,
    ) -> Result<Vec<UsageTotal>, StoreError>;
    /// Archived usage (`total + adjustment`) summed per month and `by`.
    async fn archived_totals(
        &self,
        filter: &MonthFilter,
        by: UsageDimension,
    ) -> Result<Vec<UsageTotal>, StoreError>;
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("organisation_id", &self.organisation_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .field("algorithm", &self.algorithm)
            .field("private_pkcs8", &self.private_pkcs8.as_ref().map(|_| "***"))
            .field("activates_at", &self.activates_at)
            .field("published_until", &self.published_until)
            .finish_non_exhaustive()
    }
}
