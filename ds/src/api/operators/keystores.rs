//! `/v3_5/tls-keystores`: the TLS chains and keys handed to connectors for their local HTTPS
//! listener ([`crate::devices::tls`]), for every device, one connector version or one
//! organisation's devices. Platform administrators upload, list and revoke them;
//! a private key, once uploaded, is never returned or logged: it leaves the DS only inside a
//! sync answer sealed to one device.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{event, new_id};
use crate::api::error::{ApiError, ErrorKind};
use crate::api::{AppState, Json, Operator, Reply, reply};
use crate::devices::tls;
use crate::store::{KeystoreScope, StoreError, TlsKeystoreRecord};

/// The longest chain accepted, bytes of PEM.
const MAX_CHAIN_PEM: usize = 48 * 1024;
/// The longest key accepted, bytes of PEM.
const MAX_KEY_PEM: usize = 8 * 1024;

/// Which devices a keystore is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// Every device without a keystore of its own version or organisation.
    Default,
    /// Devices of the version `scope_id`.
    Version,
    /// Devices serving labels of the organisation `scope_id` (a version keystore wins).
    Organisation,
}

/// A keystore to upload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeystore {
    /// `default`, `version` or `organisation`.
    pub scope: ScopeKind,
    /// The version or organisation id, for those scopes (absent for `default`).
    #[schema(min_length = 1, max_length = 64, pattern = r"^[0-9A-Za-z.+-]+$")]
    pub scope_id: Option<String>,
    /// The certificate chain, leaf first, PEM.
    #[schema(min_length = 1, max_length = 49152)]
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8, SEC1 or PKCS#1), PEM.
    #[schema(min_length = 1, max_length = 8192)]
    pub key_pem: String,
}

impl std::fmt::Debug for NewKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeystore")
            .field("scope", &self.scope)
            .field("scope_id", &self.scope_id)
            .field("key_pem", &"***")
            .finish_non_exhaustive()
    }
}

/// `GET /v3_5/tls-keystores`: every keystore (revoked ones too), latest expiry first; never
/// the key
#[utoipa::path(get, path = "/v3_5/tls-keystores", tag = "operators",
    responses((status = 200, description = "Keystores", body = inline(crate::api::Data<Vec<TlsKeystoreRecord>>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
) -> Result<Reply<Vec<TlsKeystoreRecord>>, ApiError> {
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    Ok(reply(state.store.tls_keystores().await?))
}

/// `POST /v3_5/tls-keystores`: uploads a chain and its key
#[utoipa::path(post, path = "/v3_5/tls-keystores", tag = "operators", request_body = NewKeystore,
    responses((status = 201, description = "Stored", body = inline(crate::api::Data<TlsKeystoreRecord>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 409, body = crate::api::error::ErrorBody),
        (status = 413, description = "Body over the server's limit", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Json(input): Json<NewKeystore>,
) -> Result<(StatusCode, Reply<TlsKeystoreRecord>), ApiError> {
    if !operator.is_platform_admin() {
        return Err(ApiError::forbidden());
    }
    let bad = |m: String| ApiError::new(ErrorKind::BadRequest, m);
    if input.chain_pem.is_empty() || input.chain_pem.len() > MAX_CHAIN_PEM {
        return Err(bad(format!("chain_pem must be 1 to {MAX_CHAIN_PEM} bytes")));
    }
    if input.key_pem.is_empty() || input.key_pem.len() > MAX_KEY_PEM {
        return Err(bad(format!("key_pem must be 1 to {MAX_KEY_PEM} bytes")));
    }
    let scope = match (input.scope, input.scope_id) {
        (ScopeKind::Default, None) => KeystoreScope::Default,
        (ScopeKind::Version, Some(id)) => {
            match state.store.version(&id).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => return Err(bad(format!("no version {id:?}"))),
                Err(err) => return Err(err.into()),
            }
            KeystoreScope::Version(id)
        }
        (ScopeKind::Organisation, Some(id)) => {
            match state.store.organisation(&id).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => return Err(bad(format!("no organisation {id:?}"))),
                Err(err) => return Err(err.into()),
            }
            KeystoreScope::Organisation(id)
        }
        _ => {
            return Err(bad(
                "scope_id is required for version and organisation scope, and only for them".into(),
            ));
        }
    };
    let now = state.clock.now();
    let checked =
        tls::check(&input.chain_pem, &input.key_pem, now).map_err(|e| bad(e.to_string()))?;
    let keystore = TlsKeystoreRecord {
        id: new_id(),
        scope,
        dns_names: checked.dns_names,
        chain_pem: checked.chain_pem,
        key_pem: checked.key_pem,
        not_after: checked.not_after,
        fingerprint: checked.fingerprint,
        created_at: now,
        revoked_at: None,
    };
    let audit = event(
        &operator,
        "tls_keystore.create",
        None,
        serde_json::json!({
            "id": keystore.id,
            "scope": keystore.scope,
            "dns_names": keystore.dns_names,
            "fingerprint": keystore.fingerprint,
            "not_after": keystore.not_after,
        }),
        now,
    );
    state.store.create_tls_keystore(&keystore, &audit).await?;
    state.devices.invalidate_sections();
    tracing::info!(id = %keystore.id, fingerprint = %keystore.fingerprint, "TLS keystore uploaded");
    Ok((StatusCode::CREATED, reply(keystore)))
}

/// `DELETE /v3_5/tls-keystores/{id}`: revokes a keystore; no device is sent it again
#[utoipa::path(delete, path = "/v3_5/tls-keystores/{id}", tag = "operators", params(("id" = String, Path)),
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
    let audit = event(&operator, "tls_keystore.revoke", None, serde_json::json!({"id": id}), now);
    match state.store.revoke_tls_keystore(&id, now, &audit).await {
        Ok(()) => {
            state.devices.invalidate_sections();
            Ok(StatusCode::NO_CONTENT)
        }
        Err(StoreError::NotFound) => Err(ApiError::not_found("TLS keystore")),
        Err(err) => Err(err.into()),
    }
}
