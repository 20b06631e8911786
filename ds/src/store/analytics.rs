//! What the dashboard reads, summed by the database: devices counted by one of their
//! properties, and usage totals per period and one dimension. Every sum is a `GROUP BY` in SQL,
//! so a page costs one small result set however many rows lie behind it.

use serde::Serialize;

/// Which devices to count or list: not revoked, seen at or after `seen_since`, and matching
/// every property given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Last sync at or after this second (0: every device).
    pub seen_since: i64,
    /// Only this operating system.
    pub os: Option<String>,
    /// Only this OS release ([`UNKNOWN_OS_VERSION`]: devices that report none).
    pub os_version: Option<String>,
    /// Only this architecture.
    pub arch: Option<String>,
    /// Only this connector version.
    pub version: Option<String>,
    /// Only this state (`running` or `blocked`).
    pub state: Option<String>,
    /// Only devices on which this browser (`Chrome 131`) was seen.
    pub browser: Option<String>,
}

/// A property devices are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeviceDimension {
    /// The operating system.
    Os,
    /// The operating system's release ([`UNKNOWN_OS_VERSION`] for devices that report none).
    OsVersion,
    /// The architecture.
    Arch,
    /// The connector version.
    Version,
    /// `running` or `blocked`.
    State,
    /// Each browser seen on the device (a device counts once per browser).
    Browser,
}

impl DeviceDimension {
    /// Every dimension, in the order the dashboard shows them.
    pub const ALL: [DeviceDimension; 6] = [
        DeviceDimension::Os,
        DeviceDimension::OsVersion,
        DeviceDimension::Arch,
        DeviceDimension::Version,
        DeviceDimension::State,
        DeviceDimension::Browser,
    ];
}

/// The OS release of devices whose connector reports none, in counts and filters.
pub const UNKNOWN_OS_VERSION: &str = "unknown";

/// How many devices have one value of a dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceCount {
    /// The value (`linux`, `3.6.1`, `Chrome 131`, ...).
    pub value: String,
    /// Devices with it.
    pub devices: u64,
}

/// A dimension usage is summed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UsageDimension {
    /// The label (the token's subject).
    Label,
    /// The billing tag.
    Tag,
    /// The module.
    Module,
    /// The use case.
    UseCase,
}

impl UsageDimension {
    pub(super) fn column(self) -> &'static str {
        match self {
            UsageDimension::Label => "label",
            UsageDimension::Tag => "tag",
            UsageDimension::Module => "module",
            UsageDimension::UseCase => "use_case",
        }
    }
}

/// The period usage is summed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Period {
    /// Per day (`YYYY-MM-DD`).
    Day,
    /// Per month (`YYYY-MM`).
    Month,
}

/// Usage of one period and one value of a dimension, summed over devices (and, for archived
/// months, with the late counts of their adjustment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageTotal {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    /// The dimension's value.
    pub key: String,
    /// The sum.
    pub total: i64,
}
