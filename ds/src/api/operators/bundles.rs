//! `/v3_5/bundles`: signed module bundles. Platform administrators upload them (checked as a
//! connector checks them: [`crate::modules::BundleChecker`]) and delete unused ones; operators
//! without an organisation list them. Connectors download a bundle's file by its digest, with
//! no credentials: a bundle is signed code any connector holding it can read, and its digest
//! reaches a device only in its sealed, DS-signed assignment.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ListQuery, event};
use crate::api::error::{ApiError, ErrorKind};
use crate::api::{AppState, Operator, Reply, reply};
use crate::modules::UploadError;
use crate::store::{BundleRecord, Listed, StoreError};

/// `GET /v3_5/bundles`: uploaded bundles, the newest first (`q` filters by module name)
#[utoipa::path(get, path = "/v3_5/bundles", tag = "operators", params(ListQuery),
    responses((status = 200, description = "Bundles", body = inline(crate::api::Data<Listed<BundleRecord>>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<ListQuery>,
) -> Result<Reply<Listed<BundleRecord>>, ApiError> {
    if operator.scope().is_some() {
        return Err(ApiError::forbidden());
    }
    let mut filter = query.filter(&operator)?;
    filter.organisation_id = None;
    Ok(reply(state.store.bundles(&filter, query.paging()?).await?))
}

/// `GET /v3_5/bundles/{digest}`: one bundle's record
#[utoipa::path(get, path = "/v3_5/bundles/{digest}", tag = "operators",
    params(("digest" = String, Path, description = "The bundle's digest, 64 hex digits")),
    responses((status = 200, description = "The bundle", body = inline(crate::api::Data<BundleRecord>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(digest): Path<String>,
) -> Result<Reply<BundleRecord>, ApiError> {
    if operator.scope().is_some() {
        return Err(ApiError::forbidden());
    }
    match state.store.bundle(&digest).await {
        Ok(bundle) => Ok(reply(bundle)),
        Err(StoreError::NotFound) => Err(ApiError::not_found("bundle")),
        Err(err) => Err(err.into()),
    }
}

/// `POST /v3_5/bundles`: uploads a signed bundle (the `.t1cm` file as the body). Refused, with
/// the connector's own reason, when a connector would refuse it: structure, signature by a
/// trusted publisher key, contract, capabilities, the component itself.
#[utoipa::path(post, path = "/v3_5/bundles", tag = "operators",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The bundle file"),
    responses((status = 201, description = "Stored", body = inline(crate::api::Data<BundleRecord>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 409, body = crate::api::error::ErrorBody),
        (status = 413, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody),
        (status = 422, description = "A connector would refuse it", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Operator(operator): Operator,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Reply<BundleRecord>), ApiError> {
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/octet-stream" && media != "application/zip" {
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "expected Content-Type: application/octet-stream (the bundle file)",
        ));
    }
    let keys: Vec<String> = state
        .store
        .publisher_keys()
        .await?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| k.public_key)
        .collect();
    let now = state.clock.now();
    let checker = state.bundles.clone();
    let bytes = body.clone();
    let checked = tokio::task::spawn_blocking(move || checker.check(&bytes, &keys, now))
        .await
        .map_err(ApiError::internal)?;
    let checked = match checked {
        Ok(checked) => checked,
        Err(UploadError::Unavailable(why)) => return Err(ApiError::internal(why)),
        Err(refused) => {
            tracing::info!(size = body.len(), "bundle upload refused: {refused}");
            return Err(ApiError::new(ErrorKind::BundleRefused, refused.to_string()));
        }
    };
    let record = checked.record;
    let audit = event(
        &operator,
        "bundle.upload",
        None,
        serde_json::json!({
            "digest": record.digest, "module": record.module, "version": record.version,
            "signer": record.signer, "size": record.size,
        }),
        now,
    );
    state.store.create_bundle(&record, &body, &audit).await?;
    tracing::info!(module = %record.module, version = %record.version, digest = %record.digest, "bundle uploaded");
    Ok((StatusCode::CREATED, reply(record)))
}

/// `DELETE /v3_5/bundles/{digest}`: deletes a bundle no rollout uses
#[utoipa::path(delete, path = "/v3_5/bundles/{digest}", tag = "operators",
    params(("digest" = String, Path, description = "The bundle's digest")),
    responses((status = 204, description = "Deleted"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, description = "A rollout uses it", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(digest): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let now = state.clock.now();
    let audit = event(&operator, "bundle.delete", None, serde_json::json!({"digest": digest}), now);
    match state.store.delete_bundle(&digest, &audit).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(ApiError::not_found("bundle")),
        Err(err) => Err(err.into()),
    }
}

/// `GET /v3_5/bundles/{digest}/content`: the bundle file, for connectors (no credentials; it
/// never changes, so it is cached for good and `If-None-Match` answers 304)
#[utoipa::path(get, path = "/v3_5/bundles/{digest}/content", tag = "downloads",
    params(("digest" = String, Path, description = "The bundle's digest")),
    responses((status = 200, description = "The bundle file", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified"),
        (status = 404, body = crate::api::error::ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let well_formed = digest.len() == 64
        && digest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !well_formed {
        return Err(ApiError::not_found("bundle"));
    }
    let etag = format!("\"{digest}\"");
    let record = match state.store.bundle(&digest).await {
        Ok(record) => record,
        Err(StoreError::NotFound) => return Err(ApiError::not_found("bundle")),
        Err(err) => return Err(err.into()),
    };
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let etag_value = HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    let bytes = match state.bundle_files.get(&digest) {
        Some(bytes) => bytes,
        None => match state.store.bundle_content(&digest).await {
            Ok(bytes) => {
                let bytes = axum::body::Bytes::from(bytes);
                state.bundle_files.keep(&digest, bytes.clone());
                bytes
            }
            Err(StoreError::NotFound) => return Err(ApiError::not_found("bundle")),
            Err(err) => return Err(err.into()),
        },
    };
    let file = format!("attachment; filename=\"{}-{}.t1cm\"", record.module, record.version);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&file).map_err(ApiError::internal)?,
            ),
        ],
        bytes,
    )
        .into_response())
}
