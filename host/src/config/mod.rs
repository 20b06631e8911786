//! The connector's configuration: one TOML file, overridden by environment variables
//! (`T1C_<SECTION>_<KEY>`) and command-line flags, with safe defaults for every key.
//!
//! This concern only parses and validates; it never opens sockets or files other than the
//! configuration file itself. `t1c config show` prints the effective configuration.
//!
//! ```toml
//! [server]
//! port = 51983                      # HTTPS port (the T1C default)
//! listen = ["127.0.0.1", "::1"]     # addresses to bind
//! allow_non_loopback = false        # must be true to bind anything but loopback
//! dns_names = ["t1c.t1t.io"]        # extra names in the generated certificate
//! http_port = 0                     # plain-HTTP loopback listener for development (0: off)
//! max_body_bytes = 1048576          # request body limit, except file upload
//! max_upload_bytes = 52428800       # largest file a file-exchange download (web to disk) takes
//! max_header_bytes = 16384          # header block limit
//! request_timeout_secs = 130        # whole-request limit
//! max_connections = 256             # concurrent connections
//!
//! [tls]
//! certificate = "/path/chain.pem"   # both or neither: a configured chain and key (PEM);
//! key = "/path/key.pem"             # otherwise a local CA and leaf are generated
//!
//! [cors]
//! allowed_origins = ["https://app.example.com", "https://*.example.org"]
//!
//! [jwt]
//! enabled = false
//! issuer = "t1c-ds"                 # required `iss` when set
//! keys = [{ kid = "ds-1", algorithm = "ES256", public_key = "/path/ds-1.pem" }]
//!
//! [modules]
//! dir = "/path/modules"             # the install state; default: <data dir>/modules
//! granted = ["reader", "pkcs11", "files"]
//! trusted_keys = ["t1c-ed25519:..."] # publisher keys whose signed bundles may be installed
//! trust_development_key = false     # default: true in debug builds, false in release builds
//! bundles = "/path/bundles"         # optional: install (pinned) every *.t1cm here at startup
//!
//! [readers]
//! simulate = false                  # add an in-process reader with a simulated Belgian eID
//!
//! [pin]
//! accept_plain = true               # PINs sent without base64Encoded (plain, over TLS): what
//!                                   # t1c-sdk-js 3.6.1 sends before it has the device key;
//!                                   # false takes only PINs encrypted to the device key
//!
//! [ds]                              # the Distribution Service (none by default)
//! url = "https://ds.example.com"
//! ca_certificate = "/path/ds-ca.pem" # when the DS's certificate is not from a public CA
//! installation_key_file = "/path/installation-key"   # default: <data dir>/ds/installation-key
//! cycle_secs = 28800                # sync at least this often
//! initial_delay_max_secs = 300      # random delay before the first periodic sync
//! failure_limit = 3                 # failed syncs in a row before module calls are refused
//!
//! [pkcs11]                          # see [`pkcs11`]
//! linux = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"   # one path or a list, per OS
//! macos = "/Library/OpenSC/lib/opensc-pkcs11.so"
//! win = 'C:\Windows\System32\opensc-pkcs11.dll'
//! api_config = false                # let web pages change the libraries (POST .../config)
//! call_timeout_secs = 10
//! login_timeout_secs = 60
//! init_timeout_secs = 10
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod pkcs11;

pub use pkcs11::{Libraries, LibraryPathError, LibraryPaths, Pkcs11Config};

/// The default HTTPS port of T1C (what `t1c-sdk-js` uses).
pub const DEFAULT_PORT: u16 = 51983;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listener settings.
    pub server: ServerConfig,
    /// Certificate settings.
    pub tls: TlsConfig,
    /// Which web origins may call the API.
    pub cors: CorsConfig,
    /// Token checks.
    pub jwt: JwtConfig,
    /// Where modules come from and what they may use.
    pub modules: ModulesConfig,
    /// Reader settings.
    pub readers: ReadersConfig,
    /// PKCS#11 libraries.
    pub pkcs11: Pkcs11Config,
    /// How PINs may arrive.
    pub pin: PinConfig,
    /// The Distribution Service this connector syncs with (none by default).
    pub ds: DsConfig,
    /// Where the connector keeps its state (keys, certificates, counters). Default: the OS's
    /// per-user data directory.
    pub data_dir: Option<PathBuf>,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTPS port.
    pub port: u16,
    /// Addresses to listen on.
    pub listen: Vec<IpAddr>,
    /// Allow binding non-loopback addresses (off: such addresses are refused).
    pub allow_non_loopback: bool,
    /// Extra DNS names for the generated certificate.
    pub dns_names: Vec<String>,
    /// Plain-HTTP loopback port for development; 0 disables it.
    pub http_port: u16,
    /// Body limit of every route but file upload.
    pub max_body_bytes: usize,
    /// Body limit of the file-exchange upload route.
    pub max_upload_bytes: usize,
    /// Header block limit.
    pub max_header_bytes: usize,
    /// Whole-request time limit in seconds.
    pub request_timeout_secs: u64,
    /// Concurrent connections.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            listen: vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])],
            allow_non_loopback: false,
            dns_names: Vec::new(),
            http_port: 0,
            max_body_bytes: 1 << 20,
            max_upload_bytes: 50 << 20,
            max_header_bytes: 16 << 10,
            request_timeout_secs: 130,
            max_connections: 256,
        }
    }
}

/// `[tls]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub certificate: Option<PathBuf>,
    /// PEM private key of the leaf.
    pub key: Option<PathBuf>,
}

/// `[cors]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com[:port]`) and wildcard-subdomain patterns
    /// (`https://*.example.com`).
    pub allowed_origins: Vec<String>,
}

/// `[jwt]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Require a valid `Authorization: Bearer` token on every route but `/info` and
    /// `/device-key`.
    pub enabled: bool,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Verification keys, selected by the token's `kid`.
    pub keys: Vec<JwtKeyConfig>,
}

/// One JWT verification key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Key id, matched against the token header's `kid`.
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub algorithm: String,
    /// PEM file of the public key (SPKI).
    pub public_key: PathBuf,
}

/// `[modules]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModulesConfig {
    /// The install state (installed bundles); default `<data dir>/modules`.
    pub dir: Option<PathBuf>,
    /// Capabilities modules may be granted.
    pub granted: Vec<String>,
    /// Publisher public keys (`t1c-ed25519:<base64>`): only bundles signed by one of them are
    /// installed.
    pub trusted_keys: Vec<String>,
    /// Trust the repository's development key (`cargo xtask build-modules` signs with it).
    /// Defaults to true in debug builds only; its secret half is public.
    pub trust_development_key: bool,
    /// A folder of signed bundles installed, pinned, at startup: the folder decides which
    /// version is served (development and managed deployments).
    pub bundles: Option<PathBuf>,
}

impl Default for ModulesConfig {
    fn default() -> Self {
        Self {
            dir: None,
            granted: vec!["reader".into(), "pkcs11".into(), "files".into()],
            trusted_keys: Vec::new(),
            trust_development_key: cfg!(debug_assertions),
            bundles: None,
        }
    }
}

/// `[ds]`: the Distribution Service. Without `url` the connector works from its local
/// configuration alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DsConfig {
    /// The DS's base URL (`https://ds.example.com`).
    pub url: Option<String>,
    /// A PEM file of the CA that issued the DS's certificate, when it is not a public one.
    pub ca_certificate: Option<PathBuf>,
    /// The installation key the installer leaves; default `<data dir>/ds/installation-key`,
    /// else `installation-key` next to the executable. Deleted once registered.
    pub installation_key_file: Option<PathBuf>,
    /// Seconds between syncs at most (T1C: 8 hours); the DS may ask for sooner.
    pub cycle_secs: u64,
    /// The first periodic sync comes after a random delay up to this (spreads a fleet's
    /// restarts); the version check runs at start regardless once registered.
    pub initial_delay_max_secs: u64,
    /// Failed syncs in a row before module calls are refused (the DS's value replaces it).
    pub failure_limit: u32,
}

impl Default for DsConfig {
    fn default() -> Self {
        Self {
            url: None,
            ca_certificate: None,
            installation_key_file: None,
            cycle_secs: 28_800,
            initial_delay_max_secs: 300,
            failure_limit: 3,
        }
    }
}

/// `[readers]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadersConfig {
    /// Add an in-process reader holding a simulated Belgian eID.
    pub simulate: bool,
}

/// `[pin]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinConfig {
    /// Accept a PIN sent as is (no `base64Encoded`), over TLS. t1c-sdk-js 3.6.1 sends one when
    /// a page calls before its own `/device-key` request has answered, so the default is to
    /// accept; `false` takes only PINs encrypted to the device key.
    pub accept_plain: bool,
}

impl Default for PinConfig {
    fn default() -> Self {
        Self { accept_plain: true }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said (line, column, key).
        message: String,
    },
    /// An environment variable has a value that does not parse.
    #[error("invalid value for {variable}: {message}")]
    Environment {
        /// The variable.
        variable: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads `path` if it exists (a missing file means all defaults), then applies the
    /// environment, then validates.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, variable or key at fault.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut config = match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(source) => return Err(ConfigError::Read { path: path.to_owned(), source }),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text.
    ///
    /// # Errors
    /// [`ConfigError::Parse`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    /// Applies `T1C_*` variables: `T1C_SERVER_PORT`, `T1C_SERVER_HTTP_PORT`,
    /// `T1C_CORS_ALLOWED_ORIGINS` (comma-separated), `T1C_JWT_ENABLED`, `T1C_MODULES_DIR`, `T1C_MODULES_BUNDLES`,
    /// `T1C_MODULES_TRUSTED_KEYS` (comma-separated, added to the file's),
    /// `T1C_MODULES_TRUST_DEVELOPMENT_KEY`,
    /// `T1C_READERS_SIMULATE`, `T1C_DATA_DIR`, `T1C_PKCS11_LINUX`, `T1C_PKCS11_MACOS`,
    /// `T1C_PKCS11_WIN` (comma-separated paths), `T1C_PKCS11_API_CONFIG`,
    /// `T1C_PKCS11_CALL_TIMEOUT_SECS`, `T1C_PKCS11_LOGIN_TIMEOUT_SECS`, `T1C_PIN_ACCEPT_PLAIN`,
    /// `T1C_DS_URL`, `T1C_DS_CA_CERTIFICATE`, `T1C_DS_INSTALLATION_KEY_FILE`.
    /// Others starting with
    /// `T1C_` are rejected so a typo does not go unnoticed.
    ///
    /// # Errors
    /// [`ConfigError::Environment`].
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (variable, value) in env {
            if !variable.starts_with("T1C_") {
                continue;
            }
            let bad = |message: &str| ConfigError::Environment {
                variable: variable.clone(),
                message: message.to_owned(),
            };
            match variable.as_str() {
                "T1C_SERVER_PORT" => {
                    self.server.port = value.parse().map_err(|_| bad("expected a port number"))?
                }
                "T1C_SERVER_HTTP_PORT" => {
                    self.server.http_port =
                        value.parse().map_err(|_| bad("expected a port number"))?
                }
                "T1C_CORS_ALLOWED_ORIGINS" => {
                    self.cors.allowed_origins = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "T1C_JWT_ENABLED" => {
                    self.jwt.enabled =
                        parse_bool(&value).ok_or_else(|| bad("expected true or false"))?
                }
                "T1C_MODULES_DIR" => self.modules.dir = Some(PathBuf::from(value)),
                "T1C_MODULES_BUNDLES" => self.modules.bundles = Some(PathBuf::from(value)),
                // Added to the file's keys, not instead of them: a package's unit trusts its own
                // publisher key without hiding the user's.
                "T1C_MODULES_TRUSTED_KEYS" => {
                    for key in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                        if !self.modules.trusted_keys.iter().any(|k| k == key) {
                            self.modules.trusted_keys.push(key.to_owned());
                        }
                    }
                }
                "T1C_MODULES_TRUST_DEVELOPMENT_KEY" => {
                    self.modules.trust_development_key =
                        parse_bool(&value).ok_or_else(|| bad("expected true or false"))?
                }
                "T1C_READERS_SIMULATE" => {
                    self.readers.simulate =
                        parse_bool(&value).ok_or_else(|| bad("expected true or false"))?
                }
                "T1C_PIN_ACCEPT_PLAIN" => {
                    self.pin.accept_plain =
                        parse_bool(&value).ok_or_else(|| bad("expected true or false"))?
                }
                "T1C_DATA_DIR" => self.data_dir = Some(PathBuf::from(value)),
                "T1C_DS_URL" => self.ds.url = Some(value),
                "T1C_DS_CA_CERTIFICATE" => self.ds.ca_certificate = Some(PathBuf::from(value)),
                "T1C_DS_INSTALLATION_KEY_FILE" => {
                    self.ds.installation_key_file = Some(PathBuf::from(value));
                }
                "T1C_PKCS11_LINUX" => self.pkcs11.linux = pkcs11::libraries_from_env(&value),
                "T1C_PKCS11_MACOS" => self.pkcs11.macos = pkcs11::libraries_from_env(&value),
                "T1C_PKCS11_WIN" => self.pkcs11.win = pkcs11::libraries_from_env(&value),
                "T1C_PKCS11_API_CONFIG" => {
                    self.pkcs11.api_config =
                        parse_bool(&value).ok_or_else(|| bad("expected true or false"))?
                }
                "T1C_PKCS11_CALL_TIMEOUT_SECS" => {
                    self.pkcs11.call_timeout_secs =
                        value.parse().map_err(|_| bad("expected a number of seconds"))?
                }
                "T1C_PKCS11_LOGIN_TIMEOUT_SECS" => {
                    self.pkcs11.login_timeout_secs =
                        value.parse().map_err(|_| bad("expected a number of seconds"))?
                }
                "T1C_CONFIG" | "T1C_LOG" => {}
                _ => return Err(bad("unknown T1C_ variable")),
            }
        }
        Ok(())
    }

    /// Checks values and combinations.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] saying what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.server.listen.is_empty() {
            return invalid("server.listen is empty".into());
        }
        if !self.server.allow_non_loopback
            && let Some(address) = self.server.listen.iter().find(|a| !a.is_loopback())
        {
            return invalid(format!(
                "server.listen contains {address}, which is not a loopback address; set \
                 server.allow_non_loopback = true to allow it"
            ));
        }
        if self.server.http_port != 0 && self.server.http_port == self.server.port {
            return invalid("server.http_port must differ from server.port".into());
        }
        if let Some(url) = &self.ds.url
            && !url.starts_with("https://")
        {
            return invalid(format!("ds.url must start with https://, not {url:?}"));
        }
        if self.ds.cycle_secs < 30 {
            return invalid("ds.cycle_secs must be at least 30".into());
        }
        if self.tls.certificate.is_some() != self.tls.key.is_some() {
            return invalid("tls.certificate and tls.key must be given together".into());
        }
        for capability in &self.modules.granted {
            if t1c_sdk::Capability::from_name(capability).is_none() {
                return invalid(format!("modules.granted: unknown capability `{capability}`"));
            }
        }
        for key in &self.jwt.keys {
            if !matches!(key.algorithm.as_str(), "RS256" | "ES256" | "EdDSA") {
                return invalid(format!(
                    "jwt.keys: algorithm `{}` of key `{}` is not one of RS256, ES256, EdDSA",
                    key.algorithm, key.kid
                ));
            }
        }
        for (name, secs) in [
            ("call_timeout_secs", self.pkcs11.call_timeout_secs),
            ("login_timeout_secs", self.pkcs11.login_timeout_secs),
            ("init_timeout_secs", self.pkcs11.init_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                return invalid(format!("pkcs11.{name} must be 1 to 3600 seconds"));
            }
        }
        if self.jwt.enabled && self.jwt.keys.is_empty() {
            return invalid("jwt.enabled is true but jwt.keys is empty".into());
        }
        Ok(())
    }

    /// The effective data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The effective modules directory.
    pub fn modules_dir(&self) -> PathBuf {
        self.modules.dir.clone().unwrap_or_else(|| self.data_dir().join("modules"))
    }

    /// The configuration as TOML, for `t1c config show`. Holds no secrets: keys are paths.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// `$XDG_CONFIG_HOME/t1c/config.toml`; on Windows `%APPDATA%\t1c\t1c\config\config.toml`
/// (the roaming profile: settings follow the user), on macOS
/// `~/Library/Application Support/io.t1c.t1c/config.toml`.
pub fn default_config_path() -> PathBuf {
    project_dirs()
        .map(|d| d.config_dir().join("config.toml"))
        .unwrap_or_else(|| PathBuf::from("t1c.toml"))
}

/// `$XDG_DATA_HOME/t1c`; on Windows `%LOCALAPPDATA%\t1c\t1c\data` (the local profile: the
/// device key, certificates and counters belong to this machine and never roam), on macOS
/// `~/Library/Application Support/io.t1c.t1c`.
pub fn default_data_dir() -> PathBuf {
    project_dirs().map(|d| d.data_local_dir().to_owned()).unwrap_or_else(|| PathBuf::from(".t1c"))
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("io", "t1c", "t1c")
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_listen_on_loopback_only() {
        let config = Config::default();
        assert_eq!(config.server.port, DEFAULT_PORT);
        assert!(config.server.listen.iter().all(IpAddr::is_loopback));
        assert_eq!(config.validate().ok(), Some(()));
    }

    #[test]
    fn non_loopback_needs_explicit_permission() {
        let mut config =
            Config::parse("[server]\nlisten = [\"0.0.0.0\"]\n", Path::new("t")).expect("parses");
        assert!(
            matches!(config.validate(), Err(ConfigError::Invalid(m)) if m.contains("allow_non_loopback"))
        );
        config.server.allow_non_loopback = true;
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_errors_with_their_name() {
        let err = Config::parse("[server]\nprot = 1\n", Path::new("t.toml")).expect_err("typo");
        assert!(err.to_string().contains("prot"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config = Config::parse("[server]\nport = 1000\n", Path::new("t")).expect("parses");
        config
            .apply_env(env(&[
                ("T1C_SERVER_PORT", "2000"),
                ("T1C_CORS_ALLOWED_ORIGINS", "https://a.test, https://*.b.test"),
                ("PATH", "/bin"),
            ]))
            .expect("valid");
        assert_eq!(config.server.port, 2000);
        assert_eq!(config.cors.allowed_origins, ["https://a.test", "https://*.b.test"]);
    }

    #[test]
    fn trusted_keys_from_the_environment_add_to_the_files() {
        let mut config =
            Config::parse("[modules]\ntrusted_keys = [\"t1c-ed25519:A\"]\n", Path::new("t"))
                .expect("parses");
        config
            .apply_env(env(&[("T1C_MODULES_TRUSTED_KEYS", "t1c-ed25519:B, t1c-ed25519:A")]))
            .expect("valid");
        assert_eq!(config.modules.trusted_keys, ["t1c-ed25519:A", "t1c-ed25519:B"]);
    }

    #[test]
    fn bad_or_unknown_environment_is_rejected() {
        let mut config = Config::default();
        assert!(config.apply_env(env(&[("T1C_SERVER_PORT", "high")])).is_err());
        assert!(config.apply_env(env(&[("T1C_SERVR_PORT", "1")])).is_err());
    }

    #[test]
    fn jwt_needs_keys_and_known_algorithms() {
        let mut config = Config::default();
        config.jwt.enabled = true;
        assert!(config.validate().is_err());
        config.jwt.keys.push(JwtKeyConfig {
            kid: "k".into(),
            algorithm: "HS256".into(),
            public_key: "k.pem".into(),
        });
        assert!(matches!(config.validate(), Err(ConfigError::Invalid(m)) if m.contains("HS256")));
    }

    #[test]
    fn rendered_config_parses_back() {
        let mut config = Config::default();
        config.cors.allowed_origins.push("https://a.test".into());
        let again = Config::parse(&config.to_toml(), Path::new("t")).expect("round trip");
        assert_eq!(again, config);
    }
}
