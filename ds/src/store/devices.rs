//! The records of the device protocol: the DS's message keys, devices and their usage.

use serde::Serialize;
use t1c_ds_protocol::messages::{FailedInstall, InstalledModule};
use utoipa::ToSchema;

/// One generation of the DS's device-protocol keys (Ed25519 to sign answers, X25519 to
/// receive messages), in the same lifecycle as the token signing keys: published from
/// `created_at`, used from `activates_at`, kept for decryption and published until
/// `published_until` once superseded.
#[derive(Clone, PartialEq, Eq)]
pub struct ProtocolKeysRecord {
    /// 1, 2, 3, ...; unique, so two DS processes cannot both add the next.
    pub generation: i64,
    /// Key id of the signing key.
    pub signing_kid: String,
    /// Key id of the encryption key.
    pub encryption_kid: String,
    /// `{"signing": <private JWK>, "encryption": <private JWK>}`; dropped once unpublished.
    pub private_keys: Option<String>,
    /// `{"signing": <public JWK>, "encryption": <public JWK>}`.
    pub public_keys: String,
    /// Created (and published).
    pub created_at: i64,
    /// First moment it is used.
    pub activates_at: i64,
    /// Unpublished after this moment, once superseded.
    pub published_until: Option<i64>,
}

/// A registered connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Device {
    /// Opaque id.
    pub id: String,
    /// Its Ed25519 public JWK (JSON).
    #[serde(skip)]
    pub signing_key: String,
    /// Its X25519 public JWK (JSON).
    #[serde(skip)]
    pub encryption_key: String,
    /// The version whose installation key registered it.
    pub installed_with: String,
    /// The connector version it reported last.
    pub version: String,
    /// Its operating system.
    pub os: String,
    /// Its operating system's release, when its connector reports one.
    pub os_version: Option<String>,
    /// Its architecture.
    pub arch: String,
    /// `running` or `blocked`.
    pub state: String,
    /// Labels seen on it (most recent last).
    pub labels: Vec<String>,
    /// Browsers seen on it (`Chrome 131`, ...).
    pub browsers: Vec<String>,
    /// Modules installed.
    #[schema(value_type = Vec<Object>)]
    pub modules: Vec<InstalledModule>,
    /// Installs that failed.
    #[schema(value_type = Vec<Object>)]
    pub failed_installs: Vec<FailedInstall>,
    /// Registered.
    pub registered_at: i64,
    /// Last sync.
    pub last_seen: i64,
    /// Revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What one sync changes on a device's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// Reported version.
    pub version: String,
    /// Reported OS.
    pub os: String,
    /// Reported OS release, if any.
    pub os_version: Option<String>,
    /// Reported architecture.
    pub arch: String,
    /// `running` or `blocked`.
    pub state: String,
    /// The labels to keep (merged by the caller).
    pub labels: Vec<String>,
    /// The browsers to keep (merged by the caller).
    pub browsers: Vec<String>,
    /// Modules installed.
    pub modules: Vec<InstalledModule>,
    /// Installs that failed.
    pub failed_installs: Vec<FailedInstall>,
    /// The device's status in each rollout that assigns it a bundle.
    pub rollouts: Vec<super::RolloutReport>,
    /// Now.
    pub seen_at: i64,
}

/// Usage summed over devices, per day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageRow {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Label.
    pub label: String,
    /// Billing tag.
    pub tag: String,
    /// Module.
    pub module: String,
    /// Use case.
    pub use_case: String,
    /// Total over devices.
    pub total: i64,
}

/// Which usage to sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// Only these labels (by name); `None`: every label.
    pub labels: Option<Vec<String>>,
    /// First day, inclusive.
    pub from_day: String,
    /// Last day, inclusive.
    pub to_day: String,
}

/// Usage of one archived month, summed over devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Label.
    pub label: String,
    /// Billing tag.
    pub tag: String,
    /// Module.
    pub module: String,
    /// Use case.
    pub use_case: String,
    /// The total when the month was closed.
    pub total: i64,
    /// What arrived after it was closed (late data, a correction): bill `total + adjustment`.
    pub adjustment: i64,
}

/// Which archived months to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthFilter {
    /// Only these labels (by name); `None`: every label.
    pub labels: Option<Vec<String>>,
    /// First month, `YYYY-MM`, inclusive.
    pub from_month: String,
    /// Last month, `YYYY-MM`, inclusive.
    pub to_month: String,
}

impl std::fmt::Debug for ProtocolKeysRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolKeysRecord")
            .field("generation", &self.generation)
            .field("signing_kid", &self.signing_kid)
            .field("encryption_kid", &self.encryption_kid)
            .field("private_keys", &self.private_keys.as_ref().map(|_| "***"))
            .field("activates_at", &self.activates_at)
            .field("published_until", &self.published_until)
            .finish_non_exhaustive()
    }
}
