//! `/v3_5/labels`: web applications, their registered domains (the connectors' CORS
//! allowlist), billing tags and API keys.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ListQuery, event, new_id};
use crate::api::error::{ApiError, ErrorKind};
use crate::api::{AppState, Json, MAX_ACTIVE_KEYS, Operator, Reply, reply};
use crate::auth::{Principal, api_keys};
use crate::catalog;
use crate::store::{ApiKey, KeyOwner, Label, Listed, StoreError};

/// A new label.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLabel {
    /// The owning organisation.
    pub organisation_id: String,
    /// Unique name (`a-z 0-9 . _ -`): the `sub` of its tokens.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub name: String,
    /// Display name of the application (default: the name).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub application: Option<String>,
    /// Origins allowed to call connectors.
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schema::Origin>, max_items = 64)]
    pub domains: Vec<String>,
    /// Billing tags.
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schema::Tag>, max_items = 32)]
    pub tags: Vec<String>,
}

/// Changes to a label; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelChanges {
    /// New application name (the label's name never changes: usage is counted under it).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub application: Option<String>,
    /// New domains (replaces the list).
    #[schema(value_type = Option<Vec<crate::api::schema::Origin>>, max_items = 64)]
    pub domains: Option<Vec<String>>,
    /// New tags (replaces the list).
    #[schema(value_type = Option<Vec<crate::api::schema::Tag>>, max_items = 32)]
    pub tags: Option<Vec<String>>,
}

/// A new API key's options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Seconds until the key expires (none: until revoked).
    #[serde(default, deserialize_with = "crate::api::schema::whole_seconds")]
    #[schema(minimum = 60, maximum = 315_360_000)]
    pub expires_in_secs: Option<i64>,
}

/// A created key: the only time its text is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The stored key (without its text).
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key itself: store it now, it cannot be shown again.
    pub api_key: String,
}

/// The label `id` if `operator` may see it; 404 otherwise.
pub async fn visible(state: &AppState, operator: &Principal, id: &str) -> Result<Label, ApiError> {
    match state.store.label(id).await {
        Ok(label) if operator.sees(&label.organisation_id) => Ok(label),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found("label")),
        Err(err) => Err(err.into()),
    }
}

/// The label `id` if `operator` may change it: 404 when it may not see it, 403 when it only
/// may read.
async fn changeable(state: &AppState, operator: &Principal, id: &str) -> Result<Label, ApiError> {
    let label = visible(state, operator, id).await?;
    if operator.changes(&label.organisation_id) { Ok(label) } else { Err(ApiError::forbidden()) }
}

/// `GET /v3_5/labels`
#[utoipa::path(get, path = "/v3_5/labels", tag = "operators", params(ListQuery),
    responses((status = 200, description = "A page", body = inline(crate::api::Data<Listed<Label>>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<ListQuery>,
) -> Result<Reply<Listed<Label>>, ApiError> {
    let filter = query.filter(&operator)?;
    Ok(reply(state.store.labels(&filter, query.paging()?).await?))
}

/// `GET /v3_5/labels/{id}`
#[utoipa::path(get, path = "/v3_5/labels/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "The label", body = inline(crate::api::Data<Label>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<Reply<Label>, ApiError> {
    Ok(reply(visible(&state, &operator, &id).await?))
}

/// `POST /v3_5/labels`
#[utoipa::path(post, path = "/v3_5/labels", tag = "operators", request_body = NewLabel,
    responses((status = 201, description = "Created", body = inline(crate::api::Data<Label>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Json(input): Json<NewLabel>,
) -> Result<(StatusCode, Reply<Label>), ApiError> {
    super::organisations::visible(&state, &operator, &input.organisation_id).await?;
    if !operator.changes(&input.organisation_id) {
        return Err(ApiError::forbidden());
    }
    let name = catalog::label_name(&input.name)?;
    let application = catalog::name("application", input.application.as_deref().unwrap_or(&name))?;
    let now = state.clock.now();
    let label = Label {
        id: new_id(),
        organisation_id: input.organisation_id,
        name,
        application,
        domains: catalog::origins(&input.domains)?,
        tags: catalog::tags(&input.tags)?,
        created_at: now,
        updated_at: now,
    };
    let detail =
        serde_json::json!({"name": label.name, "domains": label.domains, "tags": label.tags});
    let audit = event(&operator, "label.create", Some(&label.organisation_id), detail, now);
    state.store.create_label(&label, &audit).await?;
    state.devices.invalidate_sections();
    Ok((StatusCode::CREATED, reply(label)))
}

/// `PATCH /v3_5/labels/{id}`
#[utoipa::path(patch, path = "/v3_5/labels/{id}", tag = "operators", params(("id" = String, Path)), request_body = LabelChanges,
    responses((status = 200, description = "Updated", body = inline(crate::api::Data<Label>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
    Json(changes): Json<LabelChanges>,
) -> Result<Reply<Label>, ApiError> {
    let mut label = changeable(&state, &operator, &id).await?;
    if let Some(application) = &changes.application {
        label.application = catalog::name("application", application)?;
    }
    if let Some(domains) = &changes.domains {
        label.domains = catalog::origins(domains)?;
    }
    if let Some(tags) = &changes.tags {
        label.tags = catalog::tags(tags)?;
    }
    let now = state.clock.now();
    label.updated_at = now;
    let detail =
        serde_json::json!({"name": label.name, "domains": label.domains, "tags": label.tags});
    let audit = event(&operator, "label.update", Some(&label.organisation_id), detail, now);
    state.store.update_label(&label, &audit).await?;
    state.devices.invalidate_sections();
    Ok(reply(label))
}

/// `DELETE /v3_5/labels/{id}`: with its keys
#[utoipa::path(delete, path = "/v3_5/labels/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let label = changeable(&state, &operator, &id).await?;
    let audit = event(
        &operator,
        "label.delete",
        Some(&label.organisation_id),
        serde_json::json!({"name": label.name}),
        state.clock.now(),
    );
    state.store.delete_label(&id, &audit).await?;
    state.devices.invalidate_sections();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3_5/labels/{id}/keys`: the label's keys (hints only)
#[utoipa::path(get, path = "/v3_5/labels/{id}/keys", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "Keys", body = inline(crate::api::Data<Vec<ApiKey>>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn keys(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<Reply<Vec<ApiKey>>, ApiError> {
    visible(&state, &operator, &id).await?;
    Ok(reply(state.store.api_keys(&KeyOwner::Label(id)).await?))
}

/// `POST /v3_5/labels/{id}/keys`: a new key, shown once. At most two are active at once.
#[utoipa::path(post, path = "/v3_5/labels/{id}/keys", tag = "operators", params(("id" = String, Path)), request_body = NewKey,
    responses((status = 201, description = "Created; `api_key` is shown only now", body = inline(crate::api::Data<CreatedKey>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, description = "Two keys are active already", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
    Json(input): Json<NewKey>,
) -> Result<(StatusCode, Reply<CreatedKey>), ApiError> {
    let label = changeable(&state, &operator, &id).await?;
    let created = issue_key(
        &state,
        &operator,
        KeyOwner::Label(id),
        Some(&label.organisation_id),
        input.expires_in_secs,
    )
    .await?;
    Ok((StatusCode::CREATED, reply(created)))
}

/// `DELETE /v3_5/labels/{id}/keys/{key}`: revokes a key
#[utoipa::path(delete, path = "/v3_5/labels/{id}/keys/{key}", tag = "operators", params(("id" = String, Path), ("key" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let label = changeable(&state, &operator, &id).await?;
    revoke(&state, &operator, &KeyOwner::Label(id), &key, Some(&label.organisation_id)).await
}

/// Creates a key for `owner` (shared with version keys).
pub async fn issue_key(
    state: &AppState,
    operator: &Principal,
    owner: KeyOwner,
    organisation_id: Option<&str>,
    expires_in_secs: Option<i64>,
) -> Result<CreatedKey, ApiError> {
    let now = state.clock.now();
    if expires_in_secs.is_some_and(|t| !(60..=315_360_000).contains(&t)) {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "expires_in_secs is 60 to 315360000 (ten years)",
        ));
    }
    let expires_at = expires_in_secs.map(|t| now + t);
    let new = api_keys::generate().map_err(ApiError::internal)?;
    let key = ApiKey {
        id: new_id(),
        owner,
        hash: new.hash,
        hint: new.hint.clone(),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    let detail =
        serde_json::json!({"owner": key.owner, "hint": key.hint, "expires_at": expires_at});
    let audit = event(operator, "api_key.create", organisation_id, detail, now);
    state.store.create_api_key(&key, MAX_ACTIVE_KEYS, &audit).await?;
    Ok(CreatedKey { key, api_key: new.text.to_string() })
}

/// Revokes `key_id` if it belongs to `owner` (shared with version keys).
pub async fn revoke(
    state: &AppState,
    operator: &Principal,
    owner: &KeyOwner,
    key_id: &str,
    organisation_id: Option<&str>,
) -> Result<StatusCode, ApiError> {
    match state.store.api_key(key_id).await {
        Ok(key) if key.owner == *owner => {
            let audit = event(
                operator,
                "api_key.revoke",
                organisation_id,
                serde_json::json!({"owner": owner, "hint": key.hint}),
                state.clock.now(),
            );
            match state.store.revoke_api_key(key_id, state.clock.now(), &audit).await {
                Ok(()) | Err(StoreError::NotFound) => Ok(StatusCode::NO_CONTENT),
                Err(err) => Err(err.into()),
            }
        }
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found("key")),
        Err(err) => Err(err.into()),
    }
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey").field("key", &self.key).finish_non_exhaustive()
    }
}
