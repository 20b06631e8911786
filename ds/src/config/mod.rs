//! The DS's configuration: one TOML file (`--config` or `T1C_DS_CONFIG`), then `T1C_DS_*`
//! environment variables, then command-line flags, each overriding the one before. With no
//! configuration at all the DS runs: SQLite in the data directory, HTTPS with its own local CA
//! on port 8443.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::oidc::OidcConfig;
use crate::tokens::TokenSettings;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// An environment variable holds an unusable value.
    #[error("{name}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the DS keeps its database (SQLite), TLS files, installers and the bootstrap
    /// credential. Default: the platform's data directory (`~/.local/share/t1c-ds`).
    pub data_dir: Option<PathBuf>,
    /// Listeners and HTTP limits.
    pub server: ServerConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Application tokens.
    pub tokens: TokenSettings,
    /// API keys and their rate limits.
    pub api_keys: ApiKeyConfig,
    /// Operators' sessions.
    pub sessions: SessionConfig,
    /// Installer files.
    pub installers: InstallerConfig,
    /// The device protocol.
    pub devices: crate::devices::DeviceSettings,
    /// An external OpenID Connect issuer for operators (Keycloak, ...); off when absent.
    pub oidc: Option<OidcConfig>,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS: only behind a TLS-terminating proxy.
    pub plain_http: bool,
    /// A certificate chain (PEM) to serve instead of the local CA's.
    pub certificate: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// Names the local CA's certificate is issued for besides `localhost`.
    pub dns_names: Vec<String>,
    /// Take the client address from `X-Forwarded-For` (set only behind a proxy you run).
    pub trust_forwarded_for: bool,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Whole-request time limit in seconds (downloads excepted).
    pub request_timeout_secs: u64,
    /// Seconds open requests get to finish at shutdown.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 8443))],
            plain_http: false,
            certificate: None,
            key: None,
            dns_names: Vec::new(),
            trust_forwarded_for: false,
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://<path>` or `postgres://user:password@host/db`. Default: `ds.sqlite3` in the
    /// data directory.
    pub url: Option<String>,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: None, max_connections: 8 }
    }
}

/// `[api_keys]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeyConfig {
    /// How long a process may answer from its cache of key lookups: a revoked key stops
    /// working within this many seconds on every DS process.
    pub cache_secs: i64,
    /// Token requests one key may make per minute before 429.
    pub requests_per_key_per_minute: u32,
    /// Failed key or password attempts one client address may make per minute; beyond it,
    /// every such request from that address gets 429 until the minute ends.
    pub failures_per_address_per_minute: u32,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        Self {
            cache_secs: 5,
            requests_per_key_per_minute: 6000,
            failures_per_address_per_minute: 30,
        }
    }
}

/// `[sessions]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Lifetime of an operator's session token, in seconds.
    pub lifetime_secs: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { lifetime_secs: 3600 }
    }
}

/// `[installers]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstallerConfig {
    /// The directory installer paths are relative to. Default: `installers` in the data
    /// directory.
    pub dir: Option<PathBuf>,
}

/// Values from the command line, applied last.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--listen` (repeatable)
    pub listen: Vec<SocketAddr>,
    /// `--database-url`
    pub database_url: Option<String>,
    /// `--plain-http`
    pub plain_http: bool,
}

impl Config {
    /// Reads `file` (when given), then the environment, then `overrides`, and checks ranges.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, variable or value at fault.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                Self::parse(&text)
                    .map_err(|message| ConfigError::Parse { path: path.to_owned(), message })?
            }
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if !overrides.listen.is_empty() {
            config.server.listen = overrides.listen.clone();
        }
        if let Some(url) = &overrides.database_url {
            config.database.url = Some(url.clone());
        }
        config.server.plain_http |= overrides.plain_http;
        config.check()?;
        Ok(config)
    }

    /// Parses TOML text.
    ///
    /// # Errors
    /// The parser's message (with line and column).
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `T1C_DS_*` variables read through `var`.
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(dir) = var("T1C_DS_DATA_DIR") {
            self.data_dir = Some(dir.into());
        }
        if let Some(url) = var("T1C_DS_DATABASE_URL") {
            self.database.url = Some(url);
        }
        if let Some(listen) = var("T1C_DS_LISTEN") {
            self.server.listen =
                listen.split(',').map(|a| a.trim().parse()).collect::<Result<_, _>>().map_err(
                    |e| ConfigError::Env { name: "T1C_DS_LISTEN", message: format!("{e}") },
                )?;
        }
        if let Some(value) = var("T1C_DS_PLAIN_HTTP") {
            self.server.plain_http = match value.as_str() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "T1C_DS_PLAIN_HTTP",
                        message: "expected true or false".into(),
                    });
                }
            };
        }
        if let Some(issuer) = var("T1C_DS_TOKEN_ISSUER") {
            self.tokens.issuer = issuer;
        }
        if let Some(secret) = var("T1C_DS_OIDC_CLIENT_SECRET") {
            let Some(oidc) = self.oidc.as_mut() else {
                return Err(ConfigError::Env {
                    name: "T1C_DS_OIDC_CLIENT_SECRET",
                    message: "set, but the configuration has no [oidc] section".into(),
                });
            };
            oidc.client_secret = Some(crate::auth::oidc::ClientSecret(secret));
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        let t = &self.tokens;
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.server.listen.is_empty() {
            return invalid("server.listen names no address");
        }
        if self.server.certificate.is_some() != self.server.key.is_some() {
            return invalid("server.certificate and server.key go together");
        }
        if !(60..=86_400).contains(&t.lifetime_secs) {
            return invalid("tokens.lifetime_secs must be between 60 and 86400");
        }
        if t.rotation_secs <= t.publish_ahead_secs {
            return invalid("tokens.rotation_secs must exceed tokens.publish_ahead_secs");
        }
        // A connector must hold the next key before it signs: it may cache the key set for
        // connector_cache_secs, and a DS process reloads keys every RELOAD_EVERY seconds.
        let reload = i64::try_from(crate::tokens::RELOAD_EVERY).unwrap_or(i64::MAX);
        if t.publish_ahead_secs < t.connector_cache_secs.max(120) + reload {
            return invalid(
                "tokens.publish_ahead_secs must be at least tokens.connector_cache_secs (and 120) plus 30 seconds",
            );
        }
        if t.connector_cache_secs < 0 || t.issuer.is_empty() {
            return invalid(
                "tokens.issuer must be set and tokens.connector_cache_secs not negative",
            );
        }
        if self.sessions.lifetime_secs < 60 {
            return invalid("sessions.lifetime_secs must be at least 60");
        }
        if self.api_keys.cache_secs < 0 {
            return invalid("api_keys.cache_secs must not be negative");
        }
        if self.devices.tls_renew_before_secs < 0 {
            return invalid("devices.tls_renew_before_secs must not be negative");
        }
        if let Some(oidc) = &self.oidc
            && (oidc.issuer.is_empty() || oidc.audience.is_empty())
        {
            return invalid("oidc.issuer and oidc.audience are required when [oidc] is present");
        }
        Ok(())
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            directories::ProjectDirs::from("", "", "t1c-ds")
                .map(|dirs| dirs.data_dir().to_owned())
                .unwrap_or_else(|| PathBuf::from("t1c-ds-data"))
        })
    }

    /// The database URL.
    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir().join("ds.sqlite3").display()))
    }

    /// The installers directory.
    pub fn installers_dir(&self) -> PathBuf {
        self.installers.dir.clone().unwrap_or_else(|| self.data_dir().join("installers"))
    }

    /// The effective configuration as TOML, with the database password hidden (for `t1c-ds
    /// config show`).
    pub fn show(&self) -> String {
        let mut shown = self.clone();
        shown.data_dir = Some(self.data_dir());
        shown.database.url = Some(hide_password(&self.database_url()));
        shown.installers.dir = Some(self.installers_dir());
        if let Some(secret) = shown.oidc.as_mut().and_then(|oidc| oidc.client_secret.as_mut()) {
            secret.0 = "***".into();
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot show: {e}"))
    }
}

/// `scheme://user:secret@host/...` → `scheme://user:***@host/...`; also hides a `password=`
/// query parameter.
pub fn hide_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some((scheme, rest)) = url.split_once("://") {
        // The authority ends at the first `/` after the last `@` (a password may hold `@`).
        let authority_end =
            rest.find('/').filter(|slash| rest[..*slash].contains('@')).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some((credentials, host)) = authority.rsplit_once('@')
            && let Some((user, _)) = credentials.split_once(':')
        {
            out = format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..]);
        }
    }
    let mut from = 0;
    while let Some(found) = out[from..].find("password=") {
        let start = from + found + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_configuration_is_a_working_configuration() {
        let config = Config::load(None, &Overrides::default()).expect("defaults");
        assert!(config.database_url().starts_with("sqlite://"));
        assert!(!config.server.plain_http);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err =
            Config::parse("[server]\nlisten = [\"0.0.0.0:1\"]\nbogus = 1\n").expect_err("unknown");
        assert!(err.contains("bogus"), "{err}");
        let config = Config::parse("[tokens]\nlifetime_secs = 5\n").expect("parses");
        assert!(config.check().is_err());
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config = Config::parse("[database]\nurl = \"sqlite:///a\"\n").expect("parses");
        config
            .apply_env(|name| match name {
                "T1C_DS_DATABASE_URL" => Some("postgres://u:pw@h/db".into()),
                "T1C_DS_LISTEN" => Some("127.0.0.1:1, 127.0.0.1:2".into()),
                _ => None,
            })
            .expect("applies");
        assert_eq!(config.server.listen.len(), 2);
        assert!(config.show().contains("postgres://u:***@h/db"), "{}", config.show());
        assert!(!config.show().contains("pw"));
        let bad = config.apply_env(|name| (name == "T1C_DS_PLAIN_HTTP").then(|| "maybe".into()));
        assert!(bad.is_err());
    }

    #[test]
    fn the_oidc_client_secret_comes_from_the_environment_and_is_never_shown() {
        let mut config = Config::parse(
            "[oidc]\nissuer = \"https://idp/realms/t1c\"\naudience = \"t1c-ds\"\nclient_id = \"dashboard\"\nclient_secret = \"from-file\"\n",
        )
        .expect("parses");
        assert!(!config.show().contains("from-file"), "{}", config.show());
        config
            .apply_env(|name| (name == "T1C_DS_OIDC_CLIENT_SECRET").then(|| "from-env".into()))
            .expect("applies");
        let oidc = config.oidc.as_ref().expect("oidc");
        assert_eq!(oidc.client_secret.as_ref().map(|s| s.0.as_str()), Some("from-env"));
        assert!(!format!("{oidc:?}").contains("from-env"));
        assert!(!config.show().contains("from-env"));
        assert!(config.show().contains("client_id = \"dashboard\""));
        let mut bare = Config::default();
        assert!(
            bare.apply_env(|name| (name == "T1C_DS_OIDC_CLIENT_SECRET").then(|| "x".into()))
                .is_err()
        );
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(hide_password("postgres://a:b@h:5/d"), "postgres://a:***@h:5/d");
        assert_eq!(
            hide_password("postgres://h/d?user=a&password=b&x=1"),
            "postgres://h/d?user=a&password=***&x=1"
        );
        assert_eq!(hide_password("sqlite:///x"), "sqlite:///x");
        assert_eq!(
            hide_password("postgres://u:p@ss@h/d"),
            "postgres://u:***@h/d",
            "an @ in the password"
        );
        assert_eq!(
            hide_password("postgres://h/d?sslpassword=a&password=b"),
            "postgres://h/d?sslpassword=***&password=***"
        );
    }
}
