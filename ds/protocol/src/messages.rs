//! The messages a connector and its DS exchange. Each travels sealed ([`crate::seal`]): a JWS
//! signed by the sender inside a JWE encrypted to the receiver, whose signed payload is an
//! [`Envelope`] binding the body to one device, one message id and one moment.

use serde::{Deserialize, Serialize};

use crate::counters::CounterBatch;
use crate::version::UpgradeAdvice;

/// The envelope version this crate writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// The signed payload of every sealed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// [`ENVELOPE_VERSION`].
    pub v: u32,
    /// The device the message is from (device → DS) or for (DS → device).
    pub device_id: String,
    /// 128 random bits, hex; the DS refuses an id it has seen within the time window.
    pub message_id: String,
    /// When it was sealed, seconds since the epoch.
    pub issued_at: i64,
    /// For answers: the `message_id` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// The message.
    pub body: T,
}

/// The platform a connector runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// `windows`, `macos`, `linux`, ...
    pub os: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
    /// The connector's semver.
    pub version: String,
    /// The operating system's release as the connector reads it (`Debian GNU/Linux 12
    /// (bookworm)`, `Windows 10.0.22631`, `macOS 14.5`); absent from connectors that do not
    /// report it, which a DS shows as unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

/// Registration, step 1 answer: a short-lived, single-use token for `POST /v3_5/devices`,
/// given for a version's installation API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationToken {
    /// The token.
    pub registration_token: String,
    /// Seconds it stays valid.
    pub expires_in: i64,
}

/// Registration, step 2: the device's public keys and platform, sent as a JWS signed by the
/// signing key it carries (proof that the device holds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    /// From step 1.
    pub registration_token: String,
    /// Ed25519 public JWK (`kty: OKP`, `crv: Ed25519`).
    pub signing_key: serde_json::Value,
    /// X25519 public JWK (`kty: OKP`, `crv: X25519`).
    pub encryption_key: serde_json::Value,
    /// Where it runs.
    pub platform: Platform,
}

/// Registration answer (plain JSON over TLS: it holds nothing secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationAnswer {
    /// The device's id from now on.
    pub device_id: String,
    /// The DS's public keys to verify answers and encrypt messages to.
    pub ds_keys: DsKeys,
    /// Seconds until the first sync.
    pub next_sync_in: u64,
}

/// The DS's public keys: current and next (published before they are used), so devices follow
/// a rotation without registering again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsKeys {
    /// Ed25519 public JWKs answers are signed with (with `kid`).
    pub signing: Vec<serde_json::Value>,
    /// X25519 public JWKs messages are encrypted to (with `kid`); the first is current.
    pub encryption: Vec<serde_json::Value>,
}

/// Whether the connector serves module calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Serving.
    Running,
    /// Not serving module calls (a mandatory upgrade is pending).
    Blocked,
}

/// A module as installed on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledModule {
    /// Module name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the bundle, hex.
    pub digest: String,
}

/// A module the device failed to install, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedInstall {
    /// Module name.
    pub name: String,
    /// The version that failed.
    pub version: String,
    /// The connector's reason (its install error).
    pub reason: String,
}

/// One digest per configuration section, as the device last received it (absent: it has none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digests {
    /// Context configuration: CORS allowlist, sync interval, failure limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// JWT verification keys (the application-token JWKS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_keys: Option<String>,
    /// Trusted publisher keys for bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_keys: Option<String>,
    /// The DS's own keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_keys: Option<String>,
    /// The TLS certificate the connector serves with now: SHA-256 (hex) of its leaf's DER.
    /// Absent when it has none, or serves with a certificate of its own making.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// The module assignment held (the digest its section came with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<String>,
}

/// The one periodic request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Serving or blocked.
    pub state: DeviceState,
    /// Where it runs now (the version changes after an upgrade).
    pub platform: Platform,
    /// Labels (token subjects) seen since the last sync.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Browser User-Agents seen since the last sync.
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Modules installed.
    #[serde(default)]
    pub modules: Vec<InstalledModule>,
    /// Installs that failed.
    #[serde(default)]
    pub failed_installs: Vec<FailedInstall>,
    /// What the device holds.
    #[serde(default)]
    pub digests: Digests,
    /// Usage counters.
    #[serde(default)]
    pub counters: CounterBatch,
}

/// A section whose digest differs from the device's, with its new content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section<T> {
    /// Echo this in the next sync.
    pub digest: String,
    /// The content.
    pub body: T,
}

/// The context configuration a connector runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    /// Origins allowed to call the connector: every registered domain of the labels.
    pub cors: Vec<String>,
    /// The nominal sync interval, seconds.
    pub sync_interval_secs: u64,
    /// Failed syncs in a row before the connector reports the DS unreachable.
    pub failure_limit: u32,
    /// Each label's registered domains: a label's application token is accepted only from a
    /// page on one of its own origins (a token replayed from another application's page,
    /// allowlisted too, is refused).
    #[serde(default)]
    pub label_origins: std::collections::BTreeMap<String, Vec<String>>,
}

/// What to do about the connector's version (T1C's rules), with the download link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upgrade {
    /// None, notify the user, or block module calls.
    pub advice: UpgradeAdvice,
    /// The latest version, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// Where to download it for this device's platform (a DS path), when notify or block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<String>,
}

/// The answer to a sync: only the sections that changed. Unknown fields are ignored, so a DS of
/// a later minor protocol version may add sections an older connector does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAnswer {
    /// Seconds until the next sync (the interval with jitter).
    pub next_sync_in: u64,
    /// The version verdict.
    pub upgrade: Upgrade,
    /// The counter batch stored (its `seq`), so the device may drop older batches.
    pub counters_stored: u64,
    /// New context configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Section<ContextConfig>>,
    /// New JWT verification keys (a JWKS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_keys: Option<Section<serde_json::Value>>,
    /// New trusted publisher keys (base64 Ed25519 public keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_keys: Option<Section<Vec<String>>>,
    /// New DS keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_keys: Option<Section<DsKeys>>,
    /// A TLS certificate and key to serve with, when the device has none or its own expires
    /// soon; the section's digest is the leaf's fingerprint (echo it as [`Digests::tls`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Section<TlsKeystore>>,
    /// A new module assignment: a compact JWS of a
    /// [`ModuleAssignment`](crate::assignment::ModuleAssignment), sent when it changed or is
    /// due to be signed again before it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Section<String>>,
}

/// A TLS keystore for the connector's local HTTPS listener. It travels only inside a sealed
/// answer (a JWE to one device), so the private key is readable by that device alone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsKeystore {
    /// The certificate chain, leaf first, PEM.
    pub chain_pem: String,
    /// The leaf's private key, PKCS#8 (or SEC1/PKCS#1) PEM.
    pub key_pem: String,
    /// When the leaf expires, seconds since the epoch.
    pub not_after: i64,
}

impl std::fmt::Debug for TlsKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsKeystore")
            .field("chain_pem", &self.chain_pem)
            .field("key_pem", &"***")
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// Why the DS refuses a device message, as the device sees it. Every authentication failure is
/// one code; the reason stays in the DS's log.
pub mod codes {
    /// The message cannot be accepted (signature, recipient, time, replay, malformed).
    pub const REFUSED: &str = "104025";
    /// The device is unknown or revoked: register again.
    pub const REGISTER_AGAIN: &str = "104013";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_keystore_never_prints_its_key() {
        let keystore = TlsKeystore {
            chain_pem: "-----BEGIN CERTIFICATE-----".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----secret".into(),
            not_after: 1,
        };
        let printed = format!("{keystore:?}");
        assert!(!printed.contains("secret") && printed.contains("***"), "{printed}");
    }

    #[test]
    fn digests_without_tls_read_as_before() {
        let digests: Digests = serde_json::from_str(r#"{"config":"a"}"#).expect("old digests");
        assert_eq!(digests.tls, None);
        assert!(!serde_json::to_string(&digests).expect("json").contains("tls"));
    }

    #[test]
    fn a_platform_without_os_version_reads_as_before() {
        let old = r#"{"os":"linux","arch":"x86_64","version":"3.6.1"}"#;
        let platform: Platform = serde_json::from_str(old).expect("an old connector's platform");
        assert_eq!(platform.os_version, None);
        assert_eq!(serde_json::to_string(&platform).expect("json"), old);
        let new =
            Platform { os_version: Some("Debian GNU/Linux 12 (bookworm)".into()), ..platform };
        let json = serde_json::to_string(&new).expect("json");
        assert_eq!(serde_json::from_str::<Platform>(&json).expect("reads back"), new);
    }
}
