//! The records of module delivery: uploaded bundles, rollouts, and each device's progress in a
//! rollout.

use serde::Serialize;
use utoipa::ToSchema;

/// An uploaded bundle, verified at upload (its content is stored beside it and read only to
/// serve downloads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BundleRecord {
    /// The bundle's digest (`t1c-bundle`: SHA-256 over manifest and component), hex; its id.
    pub digest: String,
    /// The module's name.
    pub module: String,
    /// The module's version.
    pub version: String,
    /// Key id (hex) of the publisher key that signed it.
    pub signer: String,
    /// The contract version it is built for.
    pub contract: String,
    /// The capabilities it declares.
    pub capabilities: Vec<String>,
    /// Its manifest's description.
    pub description: String,
    /// Size of the bundle file, bytes.
    pub size: i64,
    /// Uploaded.
    pub created_at: i64,
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Assigning the bundle to its share of the targeted devices.
    Active,
    /// Stopped by an operator or by the failure threshold: devices that installed the bundle
    /// keep it, no other device starts installing it.
    Paused,
    /// Withdrawn: its devices go back to what they were assigned before it.
    RolledBack,
}

impl RolloutState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::RolledBack => "rolled_back",
        }
    }

    /// From the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "rolled_back" => Some(Self::RolledBack),
            _ => None,
        }
    }
}

/// A staged rollout of one bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rollout {
    /// Opaque id.
    pub id: String,
    /// The bundle's digest.
    pub bundle: String,
    /// The bundle's module (a device runs one version of a module).
    pub module: String,
    /// The connector versions it targets: a semver requirement (`>=3.6.0, <4`; `*` for all).
    pub connector_versions: String,
    /// Label ids it targets (with `organisations`; both empty: every device).
    pub labels: Vec<String>,
    /// Organisation ids it targets: every label of theirs.
    pub organisations: Vec<String>,
    /// Share of the targeted devices, 0 to 100; raising it keeps the devices already in.
    pub percent: u8,
    /// Failed installs (since `counted_since`) that pause it; 0: never paused by failures.
    pub failure_threshold: u32,
    /// Active, paused or rolled back.
    pub state: RolloutState,
    /// Why it was paused or rolled back, when it was.
    pub state_reason: Option<String>,
    /// Only failures after this second (its start or last resume) count against the threshold.
    pub counted_since: i64,
    /// Order of creation (set by the store): of two rollouts of a module, the later one wins.
    pub sequence: i64,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// A device's standing in a rollout, as its syncs report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// Assigned the bundle, not installed yet.
    Assigned,
    /// Runs the bundle.
    Installed,
    /// Reported that installing it failed.
    Failed,
}

impl RolloutStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assigned => "assigned",
            Self::Installed => "installed",
            Self::Failed => "failed",
        }
    }
}

/// What a sync learnt about one device in one rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutReport {
    /// The rollout.
    pub rollout_id: String,
    /// The device's status in it.
    pub status: RolloutStatus,
    /// The connector's reason, for a failure.
    pub reason: Option<String>,
}

/// A rollout's progress: devices assigned its bundle, of which installed and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RolloutProgress {
    /// Devices that were assigned the bundle.
    pub assigned: u64,
    /// Of them, those that run it.
    pub installed: u64,
    /// Of them, those whose install failed.
    pub failed: u64,
    /// Failures since the rollout was last resumed (what the threshold counts).
    pub failed_since_resume: u64,
}
