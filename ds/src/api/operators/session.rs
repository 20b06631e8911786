//! `POST /v3_5/auth/token` (log in with a local account) and `DELETE` (log out).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::ApiError;
use crate::api::{AppState, ClientAddress, Json, Reply, reply};
use crate::auth::AuthError;

/// A login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The account.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("username", &self.username).finish_non_exhaustive()
    }
}

/// A session token (OAuth 2 token-response shape).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The bearer token for `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// `POST /v3_5/auth/token`: a session token for a local account. A wrong name or password is
/// one 401; too many from one address, 429.
#[utoipa::path(post, path = "/v3_5/auth/token", tag = "operators", request_body = Login,
    responses((status = 200, description = "A session", body = inline(crate::api::Data<TokenResponse>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody),
        (status = 401, body = crate::api::error::ErrorBody),
        (status = 429, body = crate::api::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Json(login): Json<Login>,
) -> Result<Reply<TokenResponse>, ApiError> {
    state.failures.check(&address).map_err(ApiError::too_many)?;
    match state.auth.login(&login.username, &login.password).await {
        Ok(session) => Ok(reply(TokenResponse {
            access_token: session.token.to_string(),
            token_type: "bearer".into(),
            expires_in: session.expires_in,
        })),
        Err(AuthError::BadCredentials) => {
            state.failures.hit(&address).map_err(ApiError::too_many)?;
            tracing::info!(%address, "failed login");
            Err(ApiError::unauthorized())
        }
        Err(err) => Err(err.into()),
    }
}

/// `DELETE /v3_5/auth/token`: ends the caller's session.
#[utoipa::path(delete, path = "/v3_5/auth/token", tag = "operators",
    responses((status = 204, description = "Logged out")),
    security(("bearer" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    state.auth.logout(authorization).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}
