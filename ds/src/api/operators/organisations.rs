//! `/v3_5/organisations`: platform administrators create, rename and delete organisations;
//! everyone sees the ones their role allows.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ListQuery, event, new_id};
use crate::api::error::ApiError;
use crate::api::{AppState, Json, Operator, Reply, reply};
use crate::auth::Principal;
use crate::catalog;
use crate::store::{Listed, Organisation, StoreError};

/// A new organisation, or a new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationInput {
    /// Unique display name.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
}

/// The organisation `id` if `operator` may see it; 404 otherwise.
pub async fn visible(
    state: &AppState,
    operator: &Principal,
    id: &str,
) -> Result<Organisation, ApiError> {
    if !operator.sees(id) {
        return Err(ApiError::not_found("organisation"));
    }
    match state.store.organisation(id).await {
        Ok(org) => Ok(org),
        Err(StoreError::NotFound) => Err(ApiError::not_found("organisation")),
        Err(err) => Err(err.into()),
    }
}

/// `GET /v3_5/organisations`
#[utoipa::path(get, path = "/v3_5/organisations", tag = "operators", params(ListQuery),
    responses((status = 200, description = "A page", body = inline(crate::api::Data<Listed<Organisation>>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<ListQuery>,
) -> Result<Reply<Listed<Organisation>>, ApiError> {
    let filter = query.filter(&operator)?;
    Ok(reply(state.store.organisations(&filter, query.paging()?).await?))
}

/// `GET /v3_5/organisations/{id}`
#[utoipa::path(get, path = "/v3_5/organisations/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "The organisation", body = inline(crate::api::Data<Organisation>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<Reply<Organisation>, ApiError> {
    Ok(reply(visible(&state, &operator, &id).await?))
}

/// `POST /v3_5/organisations` (platform administrators)
#[utoipa::path(post, path = "/v3_5/organisations", tag = "operators", request_body = OrganisationInput,
    responses((status = 201, description = "Created", body = inline(crate::api::Data<Organisation>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 409, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Json(input): Json<OrganisationInput>,
) -> Result<(StatusCode, Reply<Organisation>), ApiError> {
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let now = state.clock.now();
    let org = Organisation {
        id: new_id(),
        name: catalog::name("name", &input.name)?,
        created_at: now,
        updated_at: now,
    };
    let audit = event(
        &operator,
        "organisation.create",
        Some(&org.id),
        serde_json::json!({"name": org.name}),
        now,
    );
    state.store.create_organisation(&org, &audit).await?;
    Ok((StatusCode::CREATED, reply(org)))
}

/// `PATCH /v3_5/organisations/{id}`: renames (platform administrators)
#[utoipa::path(patch, path = "/v3_5/organisations/{id}", tag = "operators", params(("id" = String, Path)), request_body = OrganisationInput,
    responses((status = 200, description = "Renamed", body = inline(crate::api::Data<Organisation>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
    Json(input): Json<OrganisationInput>,
) -> Result<Reply<Organisation>, ApiError> {
    visible(&state, &operator, &id).await?;
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let name = catalog::name("name", &input.name)?;
    let now = state.clock.now();
    let audit =
        event(&operator, "organisation.rename", Some(&id), serde_json::json!({"name": name}), now);
    Ok(reply(state.store.rename_organisation(&id, &name, now, &audit).await?))
}

/// `DELETE /v3_5/organisations/{id}`: with its labels, keys and accounts (platform
/// administrators)
#[utoipa::path(delete, path = "/v3_5/organisations/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let org = visible(&state, &operator, &id).await?;
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let audit = event(
        &operator,
        "organisation.delete",
        Some(&id),
        serde_json::json!({"name": org.name}),
        state.clock.now(),
    );
    state.store.delete_organisation(&id, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}
