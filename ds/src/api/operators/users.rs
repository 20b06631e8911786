//! `/v3_5/users`: local operator accounts. Platform administrators manage every account;
//! organisation administrators manage the organisation administrators and analysts of their own
//! organisation.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ListQuery, event, new_id};
use crate::api::error::{ApiError, ErrorKind};
use crate::api::{AppState, Json, Operator, Reply, reply};
use crate::auth::{Principal, password};
use crate::catalog;
use crate::store::{Listed, Role, StoreError, User};

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub username: String,
    /// At least 12 characters; when absent one is generated and returned once.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
    /// The role.
    pub role: Role,
    /// The organisation (required for organisation administrators; optional for analysts).
    pub organisation_id: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A created account, with its generated password when none was given.
#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    /// The account.
    #[serde(flatten)]
    pub user: User,
    /// The generated password: shown only now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Whether `operator` may manage accounts of `role` in `organisation_id`.
fn manages(operator: &Principal, role: Role, organisation_id: Option<&str>) -> bool {
    match operator.role {
        Role::PlatformAdmin => true,
        Role::OrganisationAdmin => {
            role != Role::PlatformAdmin && organisation_id.is_some_and(|o| operator.changes(o))
        }
        Role::Analyst => false,
    }
}

/// `GET /v3_5/users`
#[utoipa::path(get, path = "/v3_5/users", tag = "operators", params(ListQuery),
    responses((status = 200, description = "A page", body = inline(crate::api::Data<Listed<User>>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<ListQuery>,
) -> Result<Reply<Listed<User>>, ApiError> {
    if operator.role == Role::Analyst {
        return Err(ApiError::forbidden());
    }
    let filter = query.filter(&operator)?;
    Ok(reply(state.store.users(&filter, query.paging()?).await?))
}

/// `POST /v3_5/users`
#[utoipa::path(post, path = "/v3_5/users", tag = "operators", request_body = NewUser,
    responses((status = 201, description = "Created", body = inline(crate::api::Data<CreatedUser>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Json(input): Json<NewUser>,
) -> Result<(StatusCode, Reply<CreatedUser>), ApiError> {
    if let Some(org) = &input.organisation_id {
        super::organisations::visible(&state, &operator, org).await?;
    }
    if !manages(&operator, input.role, input.organisation_id.as_deref()) {
        return Err(ApiError::forbidden());
    }
    let (user, generated) = account(
        &input.username,
        input.password.as_deref(),
        input.role,
        input.organisation_id.clone(),
        state.clock.now(),
    )?;
    let detail = serde_json::json!({"username": user.username, "role": user.role});
    let audit =
        event(&operator, "user.create", user.organisation_id.as_deref(), detail, user.created_at);
    state.store.create_user(&user, &audit).await?;
    Ok((StatusCode::CREATED, reply(CreatedUser { user, password: generated })))
}

/// A new account's record, hashing (or generating) its password; the generated password is
/// returned to be shown once.
pub fn account(
    username: &str,
    password: Option<&str>,
    role: Role,
    organisation_id: Option<String>,
    now: i64,
) -> Result<(User, Option<String>), ApiError> {
    let username = catalog::name("username", username)?;
    match (role, &organisation_id) {
        (Role::OrganisationAdmin, None) => {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "an organisation administrator needs organisation_id",
            ));
        }
        (Role::PlatformAdmin, Some(_)) => {
            return Err(ApiError::new(
                ErrorKind::BadRequest,
                "a platform administrator belongs to no organisation",
            ));
        }
        _ => {}
    }
    let generated = match password {
        Some(_) => None,
        None => Some(password::generate().map_err(ApiError::internal)?),
    };
    let chosen = password.or(generated.as_ref().map(|p| p.as_str())).unwrap_or_default();
    let password_hash = password::hash(chosen)
        .map_err(|e| ApiError::new(ErrorKind::BadRequest, format!("password: {e}")))?;
    let user =
        User { id: new_id(), username, password_hash, role, organisation_id, created_at: now };
    Ok((user, generated.map(|p| p.to_string())))
}

/// `DELETE /v3_5/users/{id}`: with its sessions
#[utoipa::path(delete, path = "/v3_5/users/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, description = "Your own account", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = match state.store.user(&id).await {
        Ok(user)
            if user.organisation_id.as_deref().is_none_or(|o| operator.sees(o))
                || operator.is_platform_admin() =>
        {
            user
        }
        Ok(_) | Err(StoreError::NotFound) => return Err(ApiError::not_found("user")),
        Err(err) => return Err(err.into()),
    };
    if !manages(&operator, user.role, user.organisation_id.as_deref()) {
        return Err(ApiError::forbidden());
    }
    if operator.actor == format!("user:{}", user.username) {
        return Err(ApiError::new(ErrorKind::Conflict, "you cannot delete your own account"));
    }
    let audit = event(
        &operator,
        "user.delete",
        user.organisation_id.as_deref(),
        serde_json::json!({"username": user.username}),
        state.clock.now(),
    );
    state.store.delete_user(&id, &audit).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl std::fmt::Debug for CreatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedUser").field("user", &self.user).finish_non_exhaustive()
    }
}
