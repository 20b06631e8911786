//! `GET /info`: what the connector is, in the T1C v3 `InfoResponse` shape.
//!
//! Fields that would identify the user (user name, home directory, host name) are sent empty:
//! any allowlisted page can read `/info`, and none needs them.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;

/// The T1C API level this connector implements, as `t1c-sdk-js` compares it.
pub const API_VERSION: &str = "3.8.8";

pub(super) struct InfoSource {
    pub(super) port: u16,
    pub(super) cors: Vec<String>,
    pub(super) jwt_enabled: bool,
    pub(super) modules: Vec<String>,
}

pub(super) async fn info(State(state): State<AppState>) -> Json<Value> {
    let source = &state.inner.info;
    Json(json!({
        "success": true,
        "data": {
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
                "dateTime": time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            },
            "t1CInfoUser": {
                "timezone": "", "country": "", "language": "", "home": "", "tempDir": "",
                "name": "", "username": "", "hostName": "", "installedDir": "",
            },
            "t1CInfoAPI": {
                "service": {
                    "url": "https://localhost",
                    "apiPort": source.port.to_string(),
                    "gRpcPort": "",
                    "deviceType": "STANDALONE",
                    "distributionServiceUrl": "",
                    "dsRegistryActivated": false,
                },
                "activated": true,
                "status": "ACTIVATED",
                "environment": "PROD",
                "uid": "",
                "modules": source.modules,
                "cors": source.cors,
                "version": API_VERSION,
                "logLevel": "info",
                "jwtEnabled": source.jwt_enabled,
                "optionalConsent": true,
            },
        },
    }))
}
