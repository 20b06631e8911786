//! T1C's PKCS#11 library configuration routes (`/v3/modules/pkcs11/apps/token/config`), over
//! [`Pkcs11Service`].

use axum::body::Bytes;
use axum::extract::State;

use super::error::{ApiError, ErrorKind};
use super::{AppState, Reply};
use crate::config::LibraryPaths;
use crate::pkcs11::Pkcs11Service;

/// `GET /v3/modules/pkcs11/apps/token/config`
#[utoipa::path(get, path = "/v3/modules/pkcs11/apps/token/config", tag = "pkcs11",
    responses((status = 200, description = "`{success, data: {macos, win, linux}}`: the PKCS#11 library of each OS (a path, a list of paths, or null)", body = serde_json::Value), (status = 404, body = super::error::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn get_config(State(state): State<AppState>) -> Result<Reply, ApiError> {
    let service = service(&state)?;
    Reply::signed(service.libraries(), state.device_key())
}

/// `POST /v3/modules/pkcs11/apps/token/config`
#[utoipa::path(post, path = "/v3/modules/pkcs11/apps/token/config", tag = "pkcs11",
    request_body(content = serde_json::Value, description = "`{macos, win, linux}`: a path or a list of paths per OS; this OS's must be absolute paths to existing files"),
    responses((status = 200, description = "`{success, data: {macos, win, linux}}`, applied", body = serde_json::Value), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn set_config(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let service = service(&state)?;
    allowed(service)?;
    let paths: LibraryPaths = serde_json::from_slice(&body).map_err(|err| {
        ApiError::new(ErrorKind::BadRequest, format!("expected {{macos, win, linux}}: {err}"))
    })?;
    paths.validate().map_err(|err| ApiError::new(ErrorKind::BadRequest, err.to_string()))?;
    let service = state.pkcs11_arc().ok_or_else(unavailable)?;
    let saved = paths.clone();
    tokio::task::spawn_blocking(move || service.set_libraries(saved))
        .await
        .map_err(|_| ApiError::new(ErrorKind::Internal, "the configuration change was cancelled"))?
        .map_err(|err| {
            tracing::error!("cannot save the PKCS#11 configuration: {err}");
            ApiError::new(ErrorKind::Internal, "the PKCS#11 configuration could not be saved")
        })?;
    tracing::info!("PKCS#11 libraries changed through the API");
    Reply::signed(paths, state.device_key())
}

/// `PATCH /v3/modules/pkcs11/apps/token/config/reset`
#[utoipa::path(patch, path = "/v3/modules/pkcs11/apps/token/config/reset", tag = "pkcs11",
    responses((status = 200, description = "`{success, data: true}`: back to the configuration file's libraries", body = serde_json::Value), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn reset_config(State(state): State<AppState>) -> Result<Reply, ApiError> {
    allowed(service(&state)?)?;
    let service = state.pkcs11_arc().ok_or_else(unavailable)?;
    tokio::task::spawn_blocking(move || service.reset_libraries())
        .await
        .map_err(|_| ApiError::new(ErrorKind::Internal, "the configuration change was cancelled"))?
        .map_err(|err| {
            tracing::error!("cannot remove the PKCS#11 configuration override: {err}");
            ApiError::new(ErrorKind::Internal, "the PKCS#11 configuration could not be reset")
        })?;
    Reply::signed(true, state.device_key())
}

fn service(state: &AppState) -> Result<&Pkcs11Service, ApiError> {
    state.pkcs11().ok_or_else(unavailable)
}

fn allowed(service: &Pkcs11Service) -> Result<(), ApiError> {
    if service.api_config() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            "changing PKCS#11 libraries through the API is off (pkcs11.api_config)",
        ))
    }
}

fn unavailable() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "PKCS#11 is not available in this connector")
}
