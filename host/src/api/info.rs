//! `GET /info`: what the connector is, in the T1C v3 `InfoResponse` shape.
//!
//! Fields that would identify the user (user name, home directory, host name) are sent empty:
//! any allowlisted page can read `/info`, and none needs them.

use axum::extract::State;
use serde_json::json;

use super::{AppState, Reply};

/// The T1C API level this connector implements, as `t1c-sdk-js` compares it.
pub const API_VERSION: &str = "3.8.8";

/// `GET /info`: what the connector is.
#[utoipa::path(get, path = "/info", tag = "core",
    responses((status = 200, description = "`{success, data: InfoResponse}`", body = serde_json::Value)))]
pub(super) async fn info(State(state): State<AppState>) -> Reply {
    let source = &state.inner;
    let cors: Vec<String> = source.cors.patterns().collect();
    let modules: Vec<&str> = source.modules.modules().map(|m| m.name()).collect();
    Reply::unsigned(json!({
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
                "modules": modules,
                "cors": cors,
                "version": API_VERSION,
                "logLevel": "info",
                "jwtEnabled": source.jwt.is_some(),
                "optionalConsent": true,
            },
    }))
}

/// `GET /device-key`: the device key's public half (PEM), to encrypt PINs to.
#[utoipa::path(get, path = "/device-key", tag = "core",
    responses((status = 200, description = "`{success, data: <PEM public key>}`", body = serde_json::Value)))]
pub(super) async fn device_key(State(state): State<AppState>) -> Reply {
    Reply::unsigned(json!(state.device_key().public_pem()))
}
