//! `GET /info`: what the connector is, in the T1C v3 `InfoResponse` shape.
//!
//! Fields that would identify the user (user name, home directory, host name) are sent empty:
//! any allowlisted page can read `/info`, and none needs them.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppState, Reply};

/// The T1C API level this connector implements, as `t1c-sdk-js` compares it.
pub const API_VERSION: &str = "3.8.8";

/// The `data` of `GET /info` (T1C `InfoResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InfoData {
    /// Operating system.
    #[serde(rename = "t1CInfoOS")]
    pub os: OsInfo,
    /// Legacy (always empty strings).
    #[serde(rename = "t1CInfoJava")]
    pub java: JavaInfo,
    /// The connector build.
    #[serde(rename = "t1CInfoRuntime")]
    pub runtime: RuntimeInfo,
    /// Empty strings: no personal data is disclosed.
    #[serde(rename = "t1CInfoUser")]
    pub user: UserInfo,
    /// Modules, CORS, JWT, version.
    #[serde(rename = "t1CInfoAPI")]
    pub api: ApiInfo,
    /// The Distribution Service sync (T1C has no such member; absent without a DS).
    #[serde(rename = "t1CInfoDS", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ds: Option<crate::ds::DsStatus>,
}

/// `t1CInfoOS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OsInfo {
    /// CPU architecture (Rust's name for it).
    pub architecture: String,
    /// Operating system (Rust's name for it).
    pub os: String,
    /// Empty: the OS version is not disclosed.
    pub version: String,
}

/// `t1CInfoJava`: empty strings (T1C once ran on Java).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct JavaInfo {
    /// Empty.
    pub runtime: String,
    /// Empty.
    pub spec: String,
    /// Empty.
    pub java: String,
}

/// `t1CInfoRuntime`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeInfo {
    /// Always `rust`.
    pub runtime: String,
    /// Empty.
    pub desktop: String,
    /// The connector version.
    pub version: String,
    /// Now, RFC 3339.
    pub date_time: String,
}

/// `t1CInfoUser`: empty strings, so that no page learns who the user is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// Empty.
    pub timezone: String,
    /// Empty.
    pub country: String,
    /// Empty.
    pub language: String,
    /// Empty.
    pub home: String,
    /// Empty.
    pub temp_dir: String,
    /// Empty.
    pub name: String,
    /// Empty.
    pub username: String,
    /// Empty.
    pub host_name: String,
    /// Empty.
    pub installed_dir: String,
}

/// `t1CInfoAPI`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiInfo {
    /// Where the API is served.
    pub service: ServiceInfo,
    /// Always true.
    pub activated: bool,
    /// Always `ACTIVATED`.
    pub status: String,
    /// Always `PROD`.
    pub environment: String,
    /// Empty.
    pub uid: String,
    /// The modules served.
    pub modules: Vec<String>,
    /// The allowed origins.
    pub cors: Vec<String>,
    /// The T1C API level ([`API_VERSION`]).
    pub version: String,
    /// Always `info`.
    pub log_level: String,
    /// Whether requests need a JWT.
    pub jwt_enabled: bool,
    /// Always true.
    pub optional_consent: bool,
}

/// `t1CInfoAPI.service`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// Always `https://localhost`.
    pub url: String,
    /// The HTTPS port.
    pub api_port: String,
    /// Empty.
    pub g_rpc_port: String,
    /// Always `STANDALONE`.
    pub device_type: String,
    /// Empty.
    pub distribution_service_url: String,
    /// Always false.
    pub ds_registry_activated: bool,
}

/// The body of `GET /info`: the envelope, with the `InfoResponse` both as `data` and at the
/// top level.
#[derive(Serialize)]
struct InfoBody<'a> {
    success: bool,
    data: &'a InfoData,
    #[serde(flatten)]
    top_level: &'a InfoData,
}

/// `GET /info`: what the connector is. The InfoResponse is sent both as `data` (the envelope)
/// and at the top level, where t1c-sdk-js 3.6 reads it (`infoRes.t1CInfoAPI`).
#[utoipa::path(get, path = "/info", tag = "core",
    responses((status = 200, description = "`{success, data: InfoResponse}`", body = serde_json::Value)))]
pub(super) async fn info(State(state): State<AppState>) -> Response {
    let source = &state.inner;
    let policy = state.policy();
    let registry = source.modules.snapshot();
    let data = InfoData::new(
        source.port,
        registry.modules().map(|m| m.name().to_owned()).collect(),
        policy.cors().patterns().collect(),
        policy.jwt().is_some(),
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    );
    let data = match state.ds() {
        Some(ds) => data.with_ds(ds.status(), ds.refusal()),
        None => data,
    };
    axum::Json(InfoBody { success: true, data: &data, top_level: &data }).into_response()
}

impl InfoData {
    /// The facts of the DS sync: its URL, the device id, and why module calls are refused.
    fn with_ds(mut self, status: crate::ds::DsStatus, refusal: Option<crate::ds::Refusal>) -> Self {
        self.api.service.distribution_service_url = status.url.clone();
        self.api.service.ds_registry_activated = status.device_id.is_some();
        self.api.uid = status.device_id.clone().unwrap_or_default();
        if let Some(refusal) = &refusal {
            self.api.status = match refusal {
                crate::ds::Refusal::UpgradeRequired { .. } => "UPGRADE_REQUIRED".into(),
                crate::ds::Refusal::DsUnreachable { .. } => "DS_UNREACHABLE".into(),
            };
        }
        self.ds = Some(status);
        self
    }

    fn new(
        port: u16,
        modules: Vec<String>,
        cors: Vec<String>,
        jwt_enabled: bool,
        date_time: String,
    ) -> Self {
        Self {
            os: OsInfo {
                architecture: std::env::consts::ARCH.to_owned(),
                os: std::env::consts::OS.to_owned(),
                version: String::new(),
            },
            java: JavaInfo::default(),
            runtime: RuntimeInfo {
                runtime: "rust".to_owned(),
                desktop: String::new(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                date_time,
            },
            user: UserInfo::default(),
            api: ApiInfo {
                service: ServiceInfo {
                    url: "https://localhost".to_owned(),
                    api_port: port.to_string(),
                    g_rpc_port: String::new(),
                    device_type: "STANDALONE".to_owned(),
                    distribution_service_url: String::new(),
                    ds_registry_activated: false,
                },
                activated: true,
                status: "ACTIVATED".to_owned(),
                environment: "PROD".to_owned(),
                uid: String::new(),
                modules,
                cors,
                version: API_VERSION.to_owned(),
                log_level: "info".to_owned(),
                jwt_enabled,
                optional_consent: true,
            },
            ds: None,
        }
    }
}

/// `GET /device-key`: the device key's public half (PEM), to encrypt PINs to.
#[utoipa::path(get, path = "/device-key", tag = "core",
    responses((status = 200, description = "`{success, data: <PEM public key>}`", body = serde_json::Value)))]
pub(super) async fn device_key(State(state): State<AppState>) -> Result<Reply, super::ApiError> {
    Reply::unsigned(state.device_key().public_pem())
}

/// `GET /ds/transactions`: the transaction counters, per (label, tag, module, use case, day).
#[utoipa::path(get, path = "/ds/transactions", tag = "core",
    responses((status = 200, description = "`{success, data: [{label, counter, module, useCase, txDate, tag}], signature}`", body = serde_json::Value)),
    security((), ("jwt" = [])))]
pub(super) async fn transactions(State(state): State<AppState>) -> Result<Reply, super::ApiError> {
    let rows = state.counters().snapshot().map_err(|err| {
        tracing::error!("cannot read the transaction counters: {err}");
        super::ApiError::new(super::ErrorKind::Internal, "the transaction counters cannot be read")
    })?;
    Reply::signed(rows, state.device_key())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn info_data_has_the_t1c_info_response_shape() {
        let data = InfoData::new(
            10443,
            vec!["beid".into()],
            vec!["https://app.test".into()],
            true,
            "2025-01-02T03:04:05Z".into(),
        );
        let expected = json!({
            "t1CInfoOS": {
                "architecture": std::env::consts::ARCH,
                "os": std::env::consts::OS,
                "version": "",
            },
            "t1CInfoJava": { "runtime": "", "spec": "", "java": "" },
            "t1CInfoRuntime": {
                "runtime": "rust",
                "desktop": "",
                "version": env!("CARGO_PKG_VERSION"),
                "dateTime": "2025-01-02T03:04:05Z",
            },
            "t1CInfoUser": {
                "timezone": "", "country": "", "language": "", "home": "", "tempDir": "",
                "name": "", "username": "", "hostName": "", "installedDir": "",
            },
            "t1CInfoAPI": {
                "service": {
                    "url": "https://localhost",
                    "apiPort": "10443",
                    "gRpcPort": "",
                    "deviceType": "STANDALONE",
                    "distributionServiceUrl": "",
                    "dsRegistryActivated": false,
                },
                "activated": true,
                "status": "ACTIVATED",
                "environment": "PROD",
                "uid": "",
                "modules": ["beid"],
                "cors": ["https://app.test"],
                "version": API_VERSION,
                "logLevel": "info",
                "jwtEnabled": true,
                "optionalConsent": true,
            },
        });
        assert_eq!(serde_json::to_value(&data).expect("serialises"), expected);
    }
}
