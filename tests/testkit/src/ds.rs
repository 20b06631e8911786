//! A Distribution Service for tests: started in-process on 127.0.0.1 with a fresh data
//! directory, on SQLite or on a PostgreSQL of its own ([`crate::postgres::TestDatabase`]),
//! with a manual clock, over HTTPS with its own local CA (which the [`TestDs::client`] trusts).

use std::path::Path;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use t1c_ds::clock::ManualClock;
use t1c_ds::config::Config;
use t1c_ds::service::{BOOTSTRAP_FILE, RunningDs};
use t1c_ds::store::Store;

use crate::postgres::TestDatabase;

/// Which database a test DS runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsBackend {
    /// A SQLite file in the data directory.
    Sqlite,
    /// A PostgreSQL server started for this DS.
    Postgres,
}

/// A running test DS; [`TestDs::stop`] shuts it down (dropping it leaves the tasks to the
/// runtime's end).
pub struct TestDs {
    running: Option<RunningDs>,
    clock: Arc<ManualClock>,
    client: reqwest::Client,
    url: String,
    config: Config,
    data: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

impl std::fmt::Debug for TestDs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDs").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Why a test DS cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestDsError {
    /// The PostgreSQL server failed.
    #[error(transparent)]
    Postgres(#[from] crate::postgres::PostgresError),
    /// The DS failed.
    #[error(transparent)]
    Start(#[from] t1c_ds::service::StartError),
    /// Files or the HTTP client.
    #[error("{0}")]
    Setup(String),
}

impl TestDs {
    /// A DS with the default configuration on `backend`.
    ///
    /// # Errors
    /// [`TestDsError`] when the database or the DS cannot start.
    pub async fn start(backend: DsBackend) -> Result<Self, TestDsError> {
        Self::start_with(backend, |_| {}).await
    }

    /// A DS on `backend` whose configuration `configure` adjusts (the data directory,
    /// listener and database are set before it runs).
    ///
    /// # Errors
    /// [`TestDsError`] when the database or the DS cannot start.
    pub async fn start_with(
        backend: DsBackend,
        configure: impl FnOnce(&mut Config),
    ) -> Result<Self, TestDsError> {
        let data = tempfile::tempdir().map_err(|e| TestDsError::Setup(e.to_string()))?;
        let database = match backend {
            DsBackend::Sqlite => None,
            DsBackend::Postgres => Some(
                tokio::task::spawn_blocking(TestDatabase::start)
                    .await
                    .map_err(|e| TestDsError::Setup(e.to_string()))??,
            ),
        };
        let mut config = Config { data_dir: Some(data.path().to_owned()), ..Config::default() };
        config.server.listen = vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))];
        config.database.url = database.as_ref().map(|db| db.url().to_owned());
        configure(&mut config);
        let clock = ManualClock::at(time::OffsetDateTime::now_utc().unix_timestamp());
        let running = t1c_ds::service::start(&config, clock.clone()).await?;
        let mut client = reqwest::Client::builder().no_proxy();
        if let Some(ca) = running.ca_certificate() {
            let pem = std::fs::read(ca).map_err(|e| TestDsError::Setup(e.to_string()))?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| TestDsError::Setup(e.to_string()))?;
            client = client.add_root_certificate(certificate);
        }
        let client = client.build().map_err(|e| TestDsError::Setup(e.to_string()))?;
        let url = running.url();
        Ok(Self { running: Some(running), clock, client, url, config, data, _database: database })
    }

    /// The base URL (`https://localhost:PORT`, or `http://127.0.0.1:PORT` with plain HTTP).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An HTTP client that trusts the DS's local CA.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The DS's clock; move it to cross expiries and windows.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The DS's store.
    pub fn store(&self) -> Arc<dyn Store> {
        match &self.running {
            Some(running) => running.store(),
            None => unreachable!("the DS runs until stop() consumes it"),
        }
    }

    /// The bootstrap administrator's password, from the file the DS wrote.
    pub fn bootstrap_password(&self) -> String {
        let text =
            std::fs::read_to_string(self.data.path().join(BOOTSTRAP_FILE)).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix("password: ")).unwrap_or_default().to_owned()
    }

    /// Logs in and returns a session token.
    ///
    /// # Panics
    /// When the login fails (a test failure).
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/v3_5/auth/token",
                None,
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login of {username}: {body}");
        body["data"]["access_token"].as_str().unwrap_or_default().to_owned()
    }

    /// A session token of the bootstrap platform administrator.
    pub async fn admin_token(&self) -> String {
        self.login("admin", &self.bootstrap_password()).await
    }

    /// Calls `path` with an optional bearer `token` and JSON `body`; returns the status and the
    /// JSON answer (`Value::Null` when the body is not JSON).
    ///
    /// # Panics
    /// When the DS cannot be reached (a test failure).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Creates an organisation as `token`; returns its id.
    pub async fn organisation(&self, token: &str, name: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/v3_5/organisations",
                Some(token),
                Some(serde_json::json!({"name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Creates a label in `organisation` with `domains`, and a key for it; returns (label id,
    /// API key).
    pub async fn label_with_key(
        &self,
        token: &str,
        organisation: &str,
        name: &str,
        domains: &[&str],
    ) -> (String, String) {
        let (status, body) = self
            .call(
                Method::POST,
                "/v3_5/labels",
                Some(token),
                Some(serde_json::json!({"organisation_id": organisation, "name": name, "domains": domains})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let label = body["data"]["id"].as_str().unwrap_or_default().to_owned();
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/v3_5/labels/{label}/keys"),
                Some(token),
                Some(serde_json::json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (label, body["data"]["api_key"].as_str().unwrap_or_default().to_owned())
    }

    /// Stops the DS and waits for it.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}
