//! The device protocol's routes (`ds/protocol/PROTOCOL.md`) and the operators' view of
//! devices and usage.
//!
//! Device routes answer every authentication failure with one body (`code 104025`) and an
//! unknown or revoked device with `code 104013` (register again); the reason goes to the log.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use t1c_ds_protocol::messages::{RegistrationAnswer, RegistrationToken, codes};
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::operators::{ListQuery, event};
use super::{AppState, ClientAddress, Operator, Reply, reply};
use crate::devices::DeviceError;
use crate::store::{
    Device, Filter, Listed, Month, MonthFilter, MonthRow, Paging, Role, StoreError, UsageFilter,
    UsageRow,
};

/// The media type of sealed messages.
const JOSE: &str = "application/jose";

/// A device-protocol failure in the envelope, with the protocol's codes.
fn device_error(err: DeviceError, address: std::net::IpAddr, state: &AppState) -> Response {
    let (status, code, description) = match &err {
        DeviceError::Refused(_) => {
            let _ = state.failures.hit(&address);
            (StatusCode::UNAUTHORIZED, codes::REFUSED, "message refused")
        }
        DeviceError::RegisterAgain(_) => {
            (StatusCode::UNAUTHORIZED, codes::REGISTER_AGAIN, "unknown device: register again")
        }
        DeviceError::Invalid(_) => {
            (StatusCode::BAD_REQUEST, "106997", "the message breaks a protocol rule")
        }
        DeviceError::Store(StoreError::Database(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "112503", "the database is unavailable; retry later")
        }
        DeviceError::Store(_) | DeviceError::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "106999", "internal error")
        }
    };
    tracing::info!(%address, "device request refused: {err}");
    let body =
        ErrorBody { success: false, code: code.to_owned(), description: description.to_owned() };
    (status, axum::Json(body)).into_response()
}

fn body_text(body: &Bytes) -> Option<&str> {
    std::str::from_utf8(body).ok().map(str::trim)
}

/// `POST /v3_5/devices/registration-tokens`: a single-use registration token for a version's
/// installation key (`apikey` header).
#[utoipa::path(post, path = "/v3_5/devices/registration-tokens", tag = "devices",
    params(("apikey" = String, Header, description = "The version's installation key")),
    responses((status = 200, description = "A token valid 5 minutes", body = inline(super::Data<RegistrationTokenSchema>)),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn registration_token(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
) -> Response {
    if let Err(wait) = state.failures.check(&address) {
        return ApiError::too_many(wait).into_response();
    }
    let key = headers.get("apikey").and_then(|v| v.to_str().ok()).unwrap_or_default();
    match state.devices.registration_token(key).await {
        Ok(token) => reply::<RegistrationToken>(token).into_response(),
        Err(err) => device_error(err, address, &state),
    }
}

/// `POST /v3_5/devices`: registers a device (body: a compact JWS of a `RegistrationRequest`
/// signed by the key it carries).
#[utoipa::path(post, path = "/v3_5/devices", tag = "devices",
    request_body(content = String, content_type = "text/plain", description = "A compact JWS (`application/jose` is accepted too)"),
    responses((status = 200, description = "The device id and the DS's keys", body = inline(super::Data<RegistrationAnswerSchema>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Bytes,
) -> Response {
    if let Err(wait) = state.failures.check(&address) {
        return ApiError::too_many(wait).into_response();
    }
    let Some(jws) = body_text(&body) else {
        return device_error(DeviceError::Refused("body is not text".into()), address, &state);
    };
    match state.devices.register(jws).await {
        Ok(answer) => reply::<RegistrationAnswer>(answer).into_response(),
        Err(err) => device_error(err, address, &state),
    }
}

/// `POST /v3_5/devices/{id}/sync`: the sync (body and answer: sealed messages).
#[utoipa::path(post, path = "/v3_5/devices/{id}/sync", tag = "devices", params(("id" = String, Path)),
    request_body(content = String, content_type = "text/plain", description = "A sealed SyncRequest, a compact JWE (`application/jose` is accepted too)"),
    responses((status = 200, description = "Sealed SyncAnswer", content_type = "application/jose", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(wait) = state.failures.check(&address) {
        return ApiError::too_many(wait).into_response();
    }
    let Some(sealed) = body_text(&body) else {
        return device_error(DeviceError::Refused("body is not text".into()), address, &state);
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return device_error(
            DeviceError::RegisterAgain("malformed device id".into()),
            address,
            &state,
        );
    }
    match state.devices.sync(&id, sealed).await {
        Ok(answer) => {
            let mut response = answer.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JOSE));
            response
        }
        Err(err) => device_error(err, address, &state),
    }
}

/// Schema of `RegistrationToken` for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the protocol crate's type; never built.
pub struct RegistrationTokenSchema {
    /// The token.
    registration_token: String,
    /// Seconds it stays valid.
    expires_in: i64,
}

/// Schema of `RegistrationAnswer` for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the protocol crate's type; never built.
pub struct RegistrationAnswerSchema {
    /// The device id.
    device_id: String,
    /// `{signing: [JWK], encryption: [JWK]}`.
    ds_keys: Object,
    /// Seconds until the first sync.
    next_sync_in: u64,
}

type Object = serde_json::Map<String, serde_json::Value>;

/// Devices are not bound to an organisation (one connector serves every web app its user
/// visits): platform administrators and analysts bound to no organisation see them.
fn sees_devices(operator: &crate::auth::Principal) -> Result<(), ApiError> {
    if operator.scope().is_none() { Ok(()) } else { Err(ApiError::forbidden()) }
}

/// `GET /v3_5/devices` (`q` searches the version)
#[utoipa::path(get, path = "/v3_5/devices", tag = "operators", params(ListQuery),
    responses((status = 200, description = "Devices, most recently seen first", body = inline(super::Data<Listed<Device>>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<ListQuery>,
) -> Result<Reply<Listed<Device>>, ApiError> {
    sees_devices(&operator)?;
    let filter =
        Filter { organisation_id: None, name_contains: query.filter(&operator)?.name_contains };
    Ok(reply(state.store.devices(&filter, query.paging()?).await?))
}

/// `GET /v3_5/devices/{id}`
#[utoipa::path(get, path = "/v3_5/devices/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "The device", body = inline(super::Data<Device>)),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<Reply<Device>, ApiError> {
    sees_devices(&operator)?;
    match state.store.device(&id).await {
        Ok(device) => Ok(reply(device)),
        Err(StoreError::NotFound) => Err(ApiError::not_found("device")),
        Err(err) => Err(err.into()),
    }
}

/// `DELETE /v3_5/devices/{id}`: revokes a device (platform administrators); its next sync is
/// told to register again.
#[utoipa::path(delete, path = "/v3_5/devices/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if operator.role != Role::PlatformAdmin {
        return Err(ApiError::forbidden());
    }
    let audit =
        event(&operator, "device.revoke", None, serde_json::json!({"id": id}), state.clock.now());
    match state.store.revoke_device(&id, state.clock.now(), &audit).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(ApiError::not_found("device")),
        Err(err) => Err(err.into()),
    }
}

/// Which usage to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First day, `YYYY-MM-DD`, inclusive.
    #[param(format = Date)]
    pub from: String,
    /// Last day, `YYYY-MM-DD`, inclusive (before `from`: nothing).
    #[param(format = Date)]
    pub to: String,
    /// Only this label (by name).
    pub label: Option<String>,
}

/// `GET /v3_5/usage?from=&to=[&label=]`: usage per day, label, tag, module and use case, summed
/// over devices. Organisation-bound callers see their organisation's labels only.
#[utoipa::path(get, path = "/v3_5/usage", tag = "operators", params(UsageQuery),
    responses((status = 200, description = "Usage rows", body = inline(super::Data<Vec<UsageRow>>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn usage(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<UsageQuery>,
) -> Result<Reply<Vec<UsageRow>>, ApiError> {
    use t1c_ds_protocol::counters::is_day;
    if !is_day(&query.from) || !is_day(&query.to) {
        return Err(ApiError::new(ErrorKind::BadRequest, "from and to are days, YYYY-MM-DD"));
    }
    if query.from > query.to {
        return Ok(reply(Vec::new()));
    }
    let labels = visible_labels(&state, &operator, query.label).await?;
    let filter = UsageFilter { labels, from_day: query.from, to_day: query.to };
    Ok(reply(state.store.usage(&filter).await?))
}

/// Which archived months to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthlyQuery {
    /// First month, `YYYY-MM`, inclusive.
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub from: String,
    /// Last month, `YYYY-MM`, inclusive (before `from`: nothing).
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub to: String,
    /// Only this label (by name).
    pub label: Option<String>,
}

/// `GET /v3_5/usage/monthly?from=&to=[&label=]`: archived usage per month, label, tag, module
/// and use case, summed over devices; bill `total + adjustment` (late counts that arrived after
/// the month closed). The current month is not here until it closes (a grace period after its
/// end): read it per day from `/v3_5/usage`. Organisation-bound callers see their
/// organisation's labels only.
#[utoipa::path(get, path = "/v3_5/usage/monthly", tag = "operators", params(MonthlyQuery),
    responses((status = 200, description = "Archived month rows", body = inline(super::Data<Vec<MonthRow>>)),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn usage_monthly(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<MonthlyQuery>,
) -> Result<Reply<Vec<MonthRow>>, ApiError> {
    let (Ok(from), Ok(to)) = (query.from.parse::<Month>(), query.to.parse::<Month>()) else {
        return Err(ApiError::new(ErrorKind::BadRequest, "from and to are months, YYYY-MM"));
    };
    if from > to {
        return Ok(reply(Vec::new()));
    }
    let labels = visible_labels(&state, &operator, query.label).await?;
    let filter = MonthFilter { labels, from_month: from.to_string(), to_month: to.to_string() };
    Ok(reply(state.store.usage_months(&filter).await?))
}

/// The labels whose usage `operator` may read, narrowed to `label` when asked: `None` for
/// every label (callers bound to no organisation, asking for none). The dashboard's usage pages
/// scope by it too.
pub async fn visible_labels(
    state: &AppState,
    operator: &crate::auth::Principal,
    label: Option<String>,
) -> Result<Option<Vec<String>>, ApiError> {
    let mut labels = match operator.scope() {
        None => None,
        Some(organisation) => {
            let filter = Filter { organisation_id: Some(organisation), name_contains: None };
            let mut names = Vec::new();
            let mut offset = 0;
            loop {
                let page = state
                    .store
                    .labels(&filter, Paging { offset, limit: Paging::MAX_LIMIT })
                    .await?;
                names.extend(page.items.iter().map(|l| l.name.clone()));
                offset += Paging::MAX_LIMIT;
                if page.items.len() < Paging::MAX_LIMIT as usize {
                    break;
                }
            }
            Some(names)
        }
    };
    if let Some(label) = &label {
        labels = Some(match labels {
            Some(visible) => visible.into_iter().filter(|l| l == label).collect(),
            None => vec![label.clone()],
        });
    }
    Ok(labels)
}
