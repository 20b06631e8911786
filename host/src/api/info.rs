//! `GET /info`: what the connector is, in the T1C v3 `InfoResponse` shape.
//!
//! Fields that would identify the user (user name, home directory, host name) are sent empty:
//! any allowlisted page can read `/info`, and none needs them.

use axum::extract::State;
use serde_json::json;

use super::{AppState, Reply};

/// The T1C API level this connector implements, as `t1c-sdk-js` compares it.
pub const API_VERSION: &str = "3.8.8";

/// `GET /info`: what the connector is. The InfoResponse is sent both as `data` (the envelope)
/// and at the top level, where t1c-sdk-js 3.6 reads it (`infoRes.t1CInfoAPI`).
#[utoipa::path(get, path = "/info", tag = "core",
    responses((status = 200, description = "`{success, data: InfoResponse}`", body = serde_json::Value)))]
pub(super) async fn info(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let source = &state.inner;
    let policy = state.policy();
    let cors: Vec<String> = policy.cors().patterns().collect();
    let registry = source.modules.snapshot();
    let modules: Vec<&str> = registry.modules().map(|m| m.name()).collect();
    let data = json!({
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
                "jwtEnabled": policy.jwt().is_some(),
                "optionalConsent": true,
            },
    });
    let mut body = json!({ "success": true, "data": data.clone() });
    if let (Some(body), Some(fields)) = (body.as_object_mut(), data.as_object()) {
        body.extend(fields.clone());
    }
    axum::Json(body)
}

/// `GET /device-key`: the device key's public half (PEM), to encrypt PINs to.
#[utoipa::path(get, path = "/device-key", tag = "core",
    responses((status = 200, description = "`{success, data: <PEM public key>}`", body = serde_json::Value)))]
pub(super) async fn device_key(State(state): State<AppState>) -> Reply {
    Reply::unsigned(json!(state.device_key().public_pem()))
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
    let data = serde_json::to_value(rows).map_err(|_| {
        super::ApiError::new(super::ErrorKind::Internal, "cannot encode the counters")
    })?;
    Ok(Reply::signed(data, state.device_key()))
}
