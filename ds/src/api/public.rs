//! Routes without operator credentials: T1C's `tokens/application`, `system/status` and
//! `versions`, the JWKS, and the health probes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use t1c_ds_protocol::platform::Os;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorKind};
use super::{AppState, ClientAddress, Reply, reply};
use crate::catalog;
use crate::store::Version;

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// A probe's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or what is not ready.
    pub status: String,
}

/// `GET /readyz`: the database answers and a signing key is loaded.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready", body = Health), (status = 503, description = "Not ready", body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(err) = state.store.ping().await {
        tracing::warn!("not ready: {err}");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "database unavailable".into() }),
        )
            .into_response();
    }
    if state.tokens.jwks().0["keys"].as_array().is_none_or(Vec::is_empty) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "no signing key yet".into() }),
        )
            .into_response();
    }
    Json(Health { status: "ok".into() }).into_response()
}

/// The DS's status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemStatus {
    /// Always `ok` when it answers.
    pub status: String,
    /// The DS version.
    pub version: String,
    /// The connector contract version it speaks.
    pub protocol: String,
    /// Seconds since this process started.
    pub uptime_secs: u64,
}

/// `GET /v3_5/system/status` (T1C): the DS answers.
#[utoipa::path(get, path = "/v3_5/system/status", tag = "system",
    responses((status = 200, description = "Status", body = inline(super::Data<SystemStatus>))))]
pub async fn status(State(state): State<AppState>) -> Reply<SystemStatus> {
    reply(SystemStatus {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: t1c_ds_protocol::PROTOCOL_VERSION.into(),
        uptime_secs: state.started.elapsed().as_secs(),
    })
}

/// `GET /v3_5/tokens/application` (T1C): an application token for the label whose API key is
/// in the `apikey` header. Any credential failure gets the same 401; too many failures from one
/// address, or too many requests for one key, get 429 with `Retry-After`.
#[utoipa::path(get, path = "/v3_5/tokens/application", tag = "tokens",
    params(("apikey" = String, Header, description = "The label's API key")),
    responses(
        (status = 200, description = "`{success, data: <JWT>}`", body = inline(super::Data<String>)),
        (status = 401, description = "Missing, wrong, revoked or expired key", body = super::error::ErrorBody),
        (status = 429, description = "Over budget", body = super::error::ErrorBody),
    ))]
pub async fn application_token(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
) -> Result<Reply<String>, ApiError> {
    state.failures.check(&address).map_err(ApiError::too_many)?;
    let mut keys = headers.get_all("apikey").iter();
    let presented = match (keys.next(), keys.next()) {
        (Some(value), None) => value.to_str().unwrap_or_default(),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(ErrorKind::BadRequest, "apikey sent more than once"));
        }
        (None, _) => "",
    };
    let found = state.keys.active(presented).await?;
    let Some(label) = found.and_then(|found| found.label) else {
        state.failures.hit(&address).map_err(ApiError::too_many)?;
        tracing::info!(%address, "token request with a missing, unknown, revoked or expired API key");
        return Err(ApiError::unauthorized());
    };
    state.key_budget.hit(&crate::auth::api_keys::hash(presented)).map_err(ApiError::too_many)?;
    Ok(reply(state.tokens.issue(&label)?))
}

/// `GET /.well-known/jwks.json`: the keys application tokens are signed with (the next key too,
/// before it signs, and retired keys while their tokens may live), cacheable until the next
/// change.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "RFC 7517 key set", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let (keys, max_age) = state.tokens.jwks();
    let mut response = Json(keys).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}, must-revalidate"))
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// A version as the public sees it: flags and the platforms with an installer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicVersion {
    /// Semver id.
    pub id: String,
    /// Offered to users on older versions.
    pub recommended: bool,
    /// Older versions must upgrade.
    pub mandatory: bool,
    /// May run.
    pub allowed: bool,
    /// Platforms with an installer, and their download paths.
    pub downloads: Vec<Download>,
}

/// One installer's download path.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Download {
    /// Platform.
    #[schema(value_type = String, example = "win64")]
    pub os: Os,
    /// Path on this DS.
    pub path: String,
}

impl From<&Version> for PublicVersion {
    fn from(v: &Version) -> Self {
        Self {
            id: v.id.clone(),
            recommended: v.recommended,
            mandatory: v.mandatory,
            allowed: v.allowed,
            downloads: v
                .installers
                .iter()
                .map(|i| Download {
                    os: i.os,
                    path: format!("/v3_5/downloads/installers/{}/versions/{}", i.os, v.id),
                })
                .collect(),
        }
    }
}

/// `GET /v3_5/versions/latest` (T1C): the latest version.
#[utoipa::path(get, path = "/v3_5/versions/latest", tag = "versions",
    responses((status = 200, description = "The latest version", body = inline(super::Data<PublicVersion>)),
        (status = 404, description = "No version published", body = super::error::ErrorBody)))]
pub async fn latest_version(
    State(state): State<AppState>,
) -> Result<Reply<PublicVersion>, ApiError> {
    let versions = state.store.versions().await?;
    let latest = catalog::latest(&versions).ok_or_else(|| ApiError::not_found("version"))?;
    Ok(reply(latest.into()))
}

/// `GET /v3_5/versions/{id}`: one version.
#[utoipa::path(get, path = "/v3_5/versions/{id}", tag = "versions",
    params(("id" = String, Path, description = "Semver id")),
    responses((status = 200, description = "The version", body = inline(super::Data<PublicVersion>)),
        (status = 404, description = "Unknown version", body = super::error::ErrorBody)))]
pub async fn version(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Reply<PublicVersion>, ApiError> {
    match state.store.version(&id).await {
        Ok(version) => Ok(reply((&version).into())),
        Err(crate::store::StoreError::NotFound) => Err(ApiError::not_found("version")),
        Err(err) => Err(err.into()),
    }
}
