//! The HTTP API: what web applications' back ends, installers and operators call.
//!
//! - [`public`]: T1C-compatible paths without operator credentials: application tokens for an
//!   API key, the JWKS, system status, versions, and [`downloads`] of installers.
//! - [`operators`]: the operators' API (organisations, labels and their keys, versions and
//!   their installation keys, publisher keys, connectors' TLS keystores, module bundles and
//!   their rollouts, accounts, the audit log), behind a bearer token.
//! - [`openapi`]: the OpenAPI 3.1 description, generated from the handlers.
//!
//! Every answer is `{success: true, data}` or the error envelope of [`error`]; axum's own
//! rejections (malformed JSON or query, unknown route, wrong method, oversized body) are
//! rewritten into that envelope by one middleware.

pub mod devices;
pub mod downloads;
pub mod error;
pub mod openapi;
pub mod operators;
pub mod public;
pub mod schema;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::key_lookup::KeyLookup;
use crate::auth::{Authenticator, Principal};
use crate::clock::SharedClock;
use crate::ratelimit::RateLimiter;
use crate::store::Store;
use crate::tokens::TokenIssuer;
use error::{ApiError, ErrorKind};

/// Active API keys one label or version may hold at once: two, so a key can be rotated
/// without downtime (create the new one, deploy it, revoke the old one).
pub const MAX_ACTIVE_KEYS: usize = 2;

/// `{success: true, data}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Data<T> {
    /// Always true.
    pub success: bool,
    /// The payload.
    pub data: T,
}

/// A successful JSON answer.
pub type Reply<T> = axum::Json<Data<T>>;

/// Wraps `data` in the envelope.
pub fn reply<T>(data: T) -> Reply<T> {
    axum::Json(Data { success: true, data })
}

/// What the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Application tokens.
    pub tokens: Arc<TokenIssuer>,
    /// Operators' credentials.
    pub auth: Authenticator,
    /// API key lookups.
    pub keys: Arc<KeyLookup>,
    /// The device protocol.
    pub devices: Arc<crate::devices::DeviceService>,
    /// Checks uploaded bundles as connectors do.
    pub bundles: Arc<crate::modules::BundleChecker>,
    /// Bundle files served to connectors, kept in memory.
    pub bundle_files: crate::modules::BundleFiles,
    /// Token requests per key.
    pub key_budget: RateLimiter<[u8; 32]>,
    /// Failed credential attempts per client address.
    pub failures: RateLimiter<IpAddr>,
    /// Time.
    pub clock: SharedClock,
    /// Installer paths are relative to this.
    pub installers_dir: PathBuf,
    /// For installers served from a URL.
    pub http: reqwest::Client,
    /// Whether `X-Forwarded-For` names the client.
    pub trust_forwarded_for: bool,
    /// When the process started.
    pub started: Instant,
}

/// The handlers' state.
pub type AppState = Arc<Shared>;

/// The router with every route, limits and the envelope middleware.
pub fn router(state: AppState, max_body_bytes: usize, request_timeout: Duration) -> Router {
    let operator_routes = Router::new()
        .route(
            "/v3_5/auth/token",
            axum::routing::post(operators::session::login).delete(operators::session::logout),
        )
        .route("/v3_5/platform", get(operators::platform))
        .route(
            "/v3_5/organisations",
            get(operators::organisations::list).post(operators::organisations::create),
        )
        .route(
            "/v3_5/organisations/{id}",
            get(operators::organisations::one)
                .patch(operators::organisations::update)
                .delete(operators::organisations::remove),
        )
        .route("/v3_5/labels", get(operators::labels::list).post(operators::labels::create))
        .route(
            "/v3_5/labels/{id}",
            get(operators::labels::one)
                .patch(operators::labels::update)
                .delete(operators::labels::remove),
        )
        .route(
            "/v3_5/labels/{id}/keys",
            get(operators::labels::keys).post(operators::labels::create_key),
        )
        .route("/v3_5/labels/{id}/keys/{key}", delete(operators::labels::revoke_key))
        .route("/v3_5/versions", get(operators::versions::list).put(operators::versions::put))
        .route("/v3_5/versions/{id}", get(public::version).delete(operators::versions::remove))
        .route(
            "/v3_5/versions/{id}/keys",
            get(operators::versions::keys).post(operators::versions::create_key),
        )
        .route("/v3_5/versions/{id}/keys/{key}", delete(operators::versions::revoke_key))
        .route(
            "/v3_5/publisher-keys",
            get(operators::publisher_keys::list).post(operators::publisher_keys::create),
        )
        .route("/v3_5/publisher-keys/{id}", delete(operators::publisher_keys::revoke))
        .route(
            "/v3_5/tls-keystores",
            get(operators::keystores::list).post(operators::keystores::create),
        )
        .route("/v3_5/tls-keystores/{id}", delete(operators::keystores::revoke))
        .route("/v3_5/users", get(operators::users::list).post(operators::users::create))
        .route("/v3_5/users/{id}", delete(operators::users::remove))
        .route("/v3_5/audit", get(operators::audit::list))
        .route(
            "/v3_5/bundles",
            get(operators::bundles::list).post(operators::bundles::upload).layer(
                DefaultBodyLimit::max(
                    usize::try_from(t1c_bundle::limits::BUNDLE).unwrap_or(usize::MAX),
                ),
            ),
        )
        .route(
            "/v3_5/bundles/{digest}",
            get(operators::bundles::one).delete(operators::bundles::remove),
        )
        .route("/v3_5/rollouts", get(operators::rollouts::list).post(operators::rollouts::create))
        .route(
            "/v3_5/rollouts/{id}",
            get(operators::rollouts::one).patch(operators::rollouts::raise),
        )
        .route("/v3_5/rollouts/{id}/pause", axum::routing::post(operators::rollouts::pause))
        .route("/v3_5/rollouts/{id}/resume", axum::routing::post(operators::rollouts::resume))
        .route("/v3_5/rollouts/{id}/rollback", axum::routing::post(operators::rollouts::rollback))
        .route("/v3_5/devices", get(devices::list).post(devices::register))
        .route(
            "/v3_5/devices/registration-tokens",
            axum::routing::post(devices::registration_token),
        )
        .route("/v3_5/devices/{id}", get(devices::one).delete(devices::revoke))
        .route("/v3_5/devices/{id}/sync", axum::routing::post(devices::sync))
        .route("/v3_5/usage", get(devices::usage))
        .route("/v3_5/usage/monthly", get(devices::usage_monthly));
    let public_routes = Router::new()
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(public::readyz))
        .route("/v3_5/system/status", get(public::status))
        .route("/v3_5/tokens/application", get(public::application_token))
        .route("/.well-known/jwks.json", get(public::jwks))
        .route("/v3_5/versions/latest", get(public::latest_version))
        .route("/v3_5/downloads/installer", get(downloads::for_browser))
        .route("/v3_5/downloads/installers/{os}", get(downloads::latest_for))
        .route("/v3_5/downloads/installers/{os}/versions/{version}", get(downloads::version_for))
        .route("/v3_5/bundles/{digest}/content", get(operators::bundles::content))
        .route("/v3_5/openapi.json", get(openapi::document));
    operator_routes
        .merge(public_routes)
        .fallback(|| async { ApiError::not_found("route") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            envelope(request, next, request_timeout)
        }))
        .merge(crate::dashboard::router(max_body_bytes, request_timeout))
        .with_state(state)
}

/// The request timeout and the envelope for axum's plain-text rejections.
async fn envelope(request: Request, next: Next, timeout: Duration) -> Response {
    let response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            return ApiError::new(ErrorKind::Timeout, "the request took too long").into_response();
        }
    };
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let is_download = response.headers().contains_key(header::CONTENT_RANGE)
        || response.headers().contains_key(header::CONTENT_DISPOSITION);
    if is_json || is_download || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let bytes = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let status =
        if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
    let mut enveloped = ApiError::rejection(status, text.trim()).into_response();
    if let Some(allow) = allow {
        enveloped.headers_mut().insert(header::ALLOW, allow);
    }
    enveloped
}

/// A JSON request body: `Content-Type: application/json` and a JSON object (serde would also
/// read a struct from an array, which no client means). Failures are 400 (415 for another
/// media type) in the envelope, naming what is wrong.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(
                |v| {
                    v.split(';')
                        .next()
                        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
                },
            );
        if !is_json {
            return Err(ApiError::rejection(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::rejection(rejection.status(), &rejection.body_text()))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(ErrorKind::BadRequest, "the body must be a JSON object"));
        }
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, format!("malformed JSON body: {e}")))
    }
}

/// The client's address: the connection's peer, or the last `X-Forwarded-For` entry when the
/// DS runs behind a proxy it trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for
            && let Some(forwarded) =
                parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
            && let Some(Ok(address)) =
                forwarded.rsplit(',').next().map(|a| a.trim().parse::<IpAddr>())
        {
            return Ok(Self(address));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}

/// An authenticated operator. Failed attempts count against the client address's budget:
/// beyond it the answer is 429 instead of 401.
#[derive(Debug, Clone)]
pub struct Operator(pub Principal);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientAddress(address) = ClientAddress::from_request_parts(parts, state).await?;
        state.failures.check(&address).map_err(ApiError::too_many)?;
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let (first, second) = (values.next(), values.next());
        if second.is_some() {
            return Err(ApiError::new(ErrorKind::BadRequest, "Authorization sent more than once"));
        }
        let authorization = first.and_then(|v| v.to_str().ok());
        match state.auth.authenticate(authorization).await {
            Ok(principal) => Ok(Self(principal)),
            Err(err) => {
                let refused = ApiError::from(err);
                if refused.status() == StatusCode::UNAUTHORIZED {
                    state.failures.hit(&address).map_err(ApiError::too_many)?;
                }
                Err(refused)
            }
        }
    }
}
