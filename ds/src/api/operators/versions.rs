//! `/v3_5/versions` for operators: the full list with installer sources, `PUT` in T1C's shape
//! (`{id, recommended, mandatory, allowed, uris: [{os, uri}]}`), delete, and each version's
//! installation API keys (carried by its installers to register devices). Versions are
//! global: only platform administrators change them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use t1c_ds_protocol::platform::Os;
use utoipa::ToSchema;

use super::event;
use super::labels::{CreatedKey, NewKey, issue_key, revoke};
use crate::api::error::{ApiError, ErrorKind};
use crate::api::{AppState, Json, Operator, Reply, reply};
use crate::auth::Principal;
use crate::catalog;
use crate::installers::InstallerSource;
use crate::store::{ApiKey, Installer, KeyOwner, StoreError, Version};

/// A version as T1C's "Create Or Update Version" sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInput {
    /// Semver id.
    #[schema(min_length = 5, max_length = 64)]
    pub id: String,
    /// Offered to users on older versions.
    #[serde(default)]
    pub recommended: bool,
    /// Older versions must upgrade.
    #[serde(default)]
    pub mandatory: bool,
    /// May run.
    #[serde(default = "yes")]
    pub allowed: bool,
    /// Installers: a path under the installers directory or an https URL, per platform.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub uris: Vec<InstallerInput>,
}

fn yes() -> bool {
    true
}

/// One installer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallerInput {
    /// `win32`, `win64`, `unix`, `macos` or `macosarm` (lower or upper case).
    #[schema(pattern = r"^(win32|win64|unix|macos|macosarm|WIN32|WIN64|UNIX|MACOS|MACOSARM)$")]
    pub os: String,
    /// Path or URL.
    #[schema(min_length = 1, max_length = 1024)]
    pub uri: String,
}

fn platform_admin(operator: &Principal) -> Result<(), ApiError> {
    if operator.is_platform_admin() { Ok(()) } else { Err(ApiError::forbidden()) }
}

async fn existing(state: &AppState, id: &str) -> Result<Version, ApiError> {
    match state.store.version(id).await {
        Ok(version) => Ok(version),
        Err(StoreError::NotFound) => Err(ApiError::not_found("version")),
        Err(err) => Err(err.into()),
    }
}

/// `GET /v3_5/versions`: every version with its installer sources (platform administrators:
/// a source may be a signed link; everyone else has the public version routes)
#[utoipa::path(get, path = "/v3_5/versions", tag = "operators",
    responses((status = 200, description = "Versions, newest first", body = inline(crate::api::Data<Vec<Version>>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
) -> Result<Reply<Vec<Version>>, ApiError> {
    platform_admin(&operator)?;
    let mut versions = state.store.versions().await?;
    versions.sort_by(|a, b| {
        let parse = |v: &Version| semver::Version::parse(&v.id).ok();
        parse(b).cmp(&parse(a))
    });
    Ok(reply(versions))
}

/// `PUT /v3_5/versions`: creates or replaces a version (T1C's shape)
#[utoipa::path(put, path = "/v3_5/versions", tag = "operators", request_body = VersionInput,
    responses((status = 200, description = "Stored", body = inline(crate::api::Data<Version>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Json(input): Json<VersionInput>,
) -> Result<Reply<Version>, ApiError> {
    platform_admin(&operator)?;
    let id = catalog::version_id(&input.id)?.to_string();
    if input.uris.len() > Os::ALL.len() {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "uris: one installer per platform at most",
        ));
    }
    let mut installers: Vec<Installer> = Vec::with_capacity(input.uris.len());
    for uri in &input.uris {
        if uri.os != uri.os.to_lowercase() && uri.os != uri.os.to_uppercase() {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "uris: a platform is written in lower or upper case",
            ));
        }
        let os: Os = uri.os.parse().map_err(|e: t1c_ds_protocol::platform::UnknownOs| {
            ApiError::new(ErrorKind::BadRequest, format!("uris: {e}"))
        })?;
        if installers.iter().any(|i| i.os == os) {
            return Err(ApiError::new(ErrorKind::BadRequest, format!("uris: {os} listed twice")));
        }
        let source = InstallerSource::parse(&uri.uri)
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, format!("uris: {e}")))?;
        installers.push(Installer { os, source: source.to_string() });
    }
    let now = state.clock.now();
    let created_at = match state.store.version(&id).await {
        Ok(old) => old.created_at,
        Err(StoreError::NotFound) => now,
        Err(err) => return Err(err.into()),
    };
    let version = Version {
        id,
        recommended: input.recommended,
        mandatory: input.mandatory,
        allowed: input.allowed,
        installers,
        created_at,
        updated_at: now,
    };
    let detail = serde_json::json!({
        "recommended": version.recommended, "mandatory": version.mandatory, "allowed": version.allowed,
        "installers": version.installers,
    });
    state.store.put_version(&version, &event(&operator, "version.put", None, detail, now)).await?;
    state.devices.invalidate_sections();
    Ok(reply(version))
}

/// `DELETE /v3_5/versions/{id}`: with its installers and keys
#[utoipa::path(delete, path = "/v3_5/versions/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    platform_admin(&operator)?;
    existing(&state, &id).await?;
    let audit =
        event(&operator, "version.delete", None, serde_json::json!({"id": id}), state.clock.now());
    state.store.delete_version(&id, &audit).await?;
    state.devices.invalidate_sections();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3_5/versions/{id}/keys`: the version's installation keys (hints only)
#[utoipa::path(get, path = "/v3_5/versions/{id}/keys", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "Keys", body = inline(crate::api::Data<Vec<ApiKey>>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn keys(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<Reply<Vec<ApiKey>>, ApiError> {
    platform_admin(&operator)?;
    existing(&state, &id).await?;
    Ok(reply(state.store.api_keys(&KeyOwner::Version(id)).await?))
}

/// `POST /v3_5/versions/{id}/keys`: a new installation key, shown once
#[utoipa::path(post, path = "/v3_5/versions/{id}/keys", tag = "operators", params(("id" = String, Path)), request_body = NewKey,
    responses((status = 201, description = "Created; `api_key` is shown only now", body = inline(crate::api::Data<CreatedKey>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
    Json(input): Json<NewKey>,
) -> Result<(StatusCode, Reply<CreatedKey>), ApiError> {
    platform_admin(&operator)?;
    existing(&state, &id).await?;
    let created =
        issue_key(&state, &operator, KeyOwner::Version(id), None, input.expires_in_secs).await?;
    Ok((StatusCode::CREATED, reply(created)))
}

/// `DELETE /v3_5/versions/{id}/keys/{key}`: revokes an installation key
#[utoipa::path(delete, path = "/v3_5/versions/{id}/keys/{key}", tag = "operators", params(("id" = String, Path), ("key" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    platform_admin(&operator)?;
    revoke(&state, &operator, &KeyOwner::Version(id), &key, None).await
}
