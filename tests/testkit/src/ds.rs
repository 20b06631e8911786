//! A Distribution Service for tests: started in-process on 127.0.0.1 with a fresh data
//! directory, on SQLite or on a PostgreSQL of its own ([`crate::postgres::TestDatabase`]),
//! with a manual clock, over HTTPS with its own local CA (which the [`TestDs::client`] trusts).

use std::path::{Path, PathBuf};
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
        Self::start_at(backend, time::OffsetDateTime::now_utc().unix_timestamp(), configure).await
    }

    /// As [`TestDs::start_with`], its clock starting at `now` (seconds since the epoch): a DS
    /// whose keys were made in the past.
    ///
    /// # Errors
    /// [`TestDsError`] when the database or the DS cannot start.
    pub async fn start_at(
        backend: DsBackend,
        now: i64,
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
        let clock = ManualClock::at(now);
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

    /// Runs the application-token key rotation now, at the DS clock's time.
    ///
    /// # Panics
    /// When the rotation fails (a test failure).
    pub async fn rotate_token_keys(&self) {
        let running = self.running.as_ref().expect("a running DS");
        running.tokens().rotate().await.expect("the token keys rotate");
    }

    /// The PEM file of the CA that issued the DS's certificate (its local CA), if it made one.
    pub fn ca_certificate(&self) -> Option<PathBuf> {
        self.running.as_ref().and_then(|r| r.ca_certificate().map(Path::to_path_buf))
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

    /// Puts the connector version `version` (T1C's `PUT /v3_5/versions` body) as `token` and
    /// creates an installation key for it; returns the key.
    ///
    /// # Panics
    /// When the DS refuses either (a test failure).
    pub async fn version_with_key(&self, token: &str, version: Value) -> String {
        let id = version["id"].as_str().unwrap_or_default().to_owned();
        let (status, body) =
            self.call(Method::PUT, "/v3_5/versions", Some(token), Some(version)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let path = format!("/v3_5/versions/{id}/keys");
        let (status, body) =
            self.call(Method::POST, &path, Some(token), Some(serde_json::json!({}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["api_key"].as_str().unwrap_or_default().to_owned()
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

/// A simulated connector speaking the device protocol to a DS: its own keys, registration,
/// sealed syncs. For the DS's tests and its load generator.
pub struct TestDevice {
    /// The device id the DS gave.
    pub id: String,
    /// Its platform.
    pub platform: t1c_ds_protocol::messages::Platform,
    device: t1c_ds_protocol::device::Device,
}

impl std::fmt::Debug for TestDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDevice").field("id", &self.id).finish_non_exhaustive()
    }
}

impl TestDevice {
    /// Registers with `installation_key` (a version's key) at the DS at `base_url`.
    ///
    /// # Errors
    /// The DS's answer when a step is refused.
    pub async fn register(
        client: &reqwest::Client,
        base_url: &str,
        installation_key: &str,
        platform: t1c_ds_protocol::messages::Platform,
    ) -> Result<Self, String> {
        use t1c_ds_protocol::device::{self, Device};
        use t1c_ds_protocol::messages::{RegistrationAnswer, RegistrationToken};
        let answer = client
            .post(format!("{base_url}/v3_5/devices/registration-tokens"))
            .header("apikey", installation_key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let token: Value = answer.json().await.map_err(|e| e.to_string())?;
        let token: RegistrationToken =
            serde_json::from_value(token["data"].clone()).map_err(|_| token.to_string())?;
        let keys = device::generate_keys().map_err(|e| e.to_string())?;
        let jws = device::registration(&keys, token.registration_token, platform.clone())
            .map_err(|e| e.to_string())?;
        let answer: Value = client
            .post(format!("{base_url}/v3_5/devices"))
            .header("content-type", "application/jose")
            .body(jws)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let registered: RegistrationAnswer =
            serde_json::from_value(answer["data"].clone()).map_err(|_| answer.to_string())?;
        let device = Device::new(registered.device_id.clone(), keys, registered.ds_keys)
            .map_err(|e| e.to_string())?;
        Ok(Self { id: registered.device_id, platform, device })
    }

    /// A compact JWS of `payload` signed with `keys`' signing key (registration requests a
    /// test builds by hand).
    ///
    /// # Errors
    /// When signing fails.
    pub fn self_signed<T: serde::Serialize>(
        keys: &t1c_ds_protocol::seal::PrivateKeys,
        payload: &T,
    ) -> Result<String, String> {
        t1c_ds_protocol::seal::sign_compact(payload, &keys.signing).map_err(|e| e.to_string())
    }

    /// The DS keys the device holds.
    pub fn ds_keys(&self) -> &t1c_ds_protocol::messages::DsKeys {
        self.device.ds_keys()
    }

    /// Replaces the DS keys the device holds (after a `ds_keys` section).
    ///
    /// # Panics
    /// When the keys are unusable (a test failure).
    pub fn set_ds_keys(&mut self, keys: t1c_ds_protocol::messages::DsKeys) {
        self.device.set_ds_keys(keys).expect("usable DS keys");
    }

    /// Seals `body` as this device at `issued_at` with `message_id`, naming `device_id`.
    ///
    /// # Panics
    /// When sealing fails (a test failure).
    pub fn seal<T: serde::Serialize>(
        &self,
        body: T,
        issued_at: i64,
        message_id: &str,
        device_id: &str,
    ) -> String {
        self.device.seal_as(body, issued_at, message_id, device_id).expect("sealed")
    }

    /// Opens a sealed answer: decrypts with the device's key, verifies with the DS key it names.
    ///
    /// # Errors
    /// [`t1c_ds_protocol::seal::OpenError`] when any check fails.
    pub fn open<T: serde::de::DeserializeOwned>(
        &self,
        sealed: &str,
        now: i64,
    ) -> Result<t1c_ds_protocol::messages::Envelope<T>, t1c_ds_protocol::seal::OpenError> {
        self.device.open(sealed, now)
    }

    /// Checks a module assignment as a connector does: signed by a DS key this device holds,
    /// for this device, unexpired at `now`, not older than `held`.
    ///
    /// # Errors
    /// The [`AssignmentError`](t1c_ds_protocol::assignment::AssignmentError) of the check that
    /// failed.
    pub fn assignment(
        &self,
        jws: &str,
        now: i64,
        held: Option<(u64, i64)>,
    ) -> Result<
        t1c_ds_protocol::assignment::ModuleAssignment,
        t1c_ds_protocol::assignment::AssignmentError,
    > {
        self.device.assignment(jws, now, held)
    }

    /// Posts a sealed message to this device's sync route; returns the status and body text.
    ///
    /// # Panics
    /// When the DS cannot be reached.
    pub async fn post(
        &self,
        client: &reqwest::Client,
        base_url: &str,
        device_id: &str,
        sealed: String,
    ) -> (StatusCode, String) {
        let response = client
            .post(format!("{base_url}/v3_5/devices/{device_id}/sync"))
            .header("content-type", "application/jose")
            .body(sealed)
            .send()
            .await
            .expect("the DS answers");
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// One complete sync at `now`: sealed, posted, opened; panics on any failure.
    ///
    /// # Panics
    /// When the DS refuses or the answer does not open (a test failure).
    pub async fn sync(
        &self,
        client: &reqwest::Client,
        base_url: &str,
        request: &t1c_ds_protocol::messages::SyncRequest,
        now: i64,
    ) -> t1c_ds_protocol::messages::Envelope<t1c_ds_protocol::messages::SyncAnswer> {
        let id = t1c_ds_protocol::seal::message_id().expect("id");
        let sealed = self.seal(request, now, &id, &self.id);
        let (status, body) = self.post(client, base_url, &self.id, sealed).await;
        assert_eq!(status, StatusCode::OK, "sync refused: {body}");
        let answer = self.open(&body, now).expect("the answer opens");
        assert_eq!(
            answer.in_reply_to.as_deref(),
            Some(id.as_str()),
            "the answer names the request"
        );
        answer
    }
}

/// A TLS keystore as an operator uploads one: a chain (a leaf for `localhost` and `t1c.local`,
/// then its own CA) and the leaf's key, PEM; the leaf expires `days` from now. Returns (chain,
/// key, the CA's PEM).
///
/// # Panics
/// When rcgen fails (a test failure).
pub fn keystore(days: i64) -> (String, String, String) {
    let now = time::OffsetDateTime::now_utc();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(days.max(1) + 10);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().expect("key"))
        .expect("CA");
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "t1c.local".into()])
        .expect("leaf params");
    leaf.not_before = now - time::Duration::days(2);
    leaf.not_after = now + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca).expect("leaf");
    (format!("{}{}", cert.pem(), ca.pem()), key.serialize_pem(), ca.pem())
}
