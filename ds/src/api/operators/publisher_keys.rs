//! `/v3_5/publisher-keys`: the Ed25519 keys trusted to sign module bundles. The DS holds only
//! their public halves; platform administrators add and revoke them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::event;
use crate::api::error::ApiError;
use crate::api::{AppState, Json, Operator, Reply, reply};
use crate::catalog;
use crate::store::{PublisherKey, StoreError};

/// A publisher key to trust.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPublisherKey {
    /// Who publishes with it.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    /// The 32-byte Ed25519 public key, base64.
    #[schema(pattern = r"^[A-Za-z0-9+/]{43}=$")]
    pub public_key: String,
}

/// `GET /v3_5/publisher-keys`
#[utoipa::path(get, path = "/v3_5/publisher-keys", tag = "operators",
    responses((status = 200, description = "Keys", body = inline(crate::api::Data<Vec<PublisherKey>>)),
        (status = 401, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(_): Operator,
) -> Result<Reply<Vec<PublisherKey>>, ApiError> {
    Ok(reply(state.store.publisher_keys().await?))
}

/// `POST /v3_5/publisher-keys`
#[utoipa::path(post, path = "/v3_5/publisher-keys", tag = "operators", request_body = NewPublisherKey,
    responses((status = 201, description = "Trusted", body = inline(crate::api::Data<PublisherKey>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 409, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Json(input): Json<NewPublisherKey>,
) -> Result<(StatusCode, Reply<PublisherKey>), ApiError> {
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let name = catalog::name("name", &input.name)?;
    let (id, public_key) = catalog::publisher_key(&input.public_key)?;
    let now = state.clock.now();
    let key = PublisherKey { id, name, public_key, created_at: now, revoked_at: None };
    let audit = event(
        &operator,
        "publisher_key.create",
        None,
        serde_json::json!({"id": key.id, "name": key.name}),
        now,
    );
    state.store.create_publisher_key(&key, &audit).await?;
    state.devices.invalidate_sections();
    Ok((StatusCode::CREATED, reply(key)))
}

/// `DELETE /v3_5/publisher-keys/{id}`: stops trusting a key
#[utoipa::path(delete, path = "/v3_5/publisher-keys/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let now = state.clock.now();
    let audit = event(&operator, "publisher_key.revoke", None, serde_json::json!({"id": id}), now);
    match state.store.revoke_publisher_key(&id, now, &audit).await {
        Ok(()) => {
            state.devices.invalidate_sections();
            Ok(StatusCode::NO_CONTENT)
        }
        Err(StoreError::NotFound) => Err(ApiError::not_found("publisher key")),
        Err(err) => Err(err.into()),
    }
}
