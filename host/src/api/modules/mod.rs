//! `/v3/modules/{module}/apps/{app}/...`: the module routes, served for every module through
//! the contract's `token` and `extension` interfaces. The host holds no card knowledge here:
//! it decodes the request (PIN, algorithm, digest), opens the reader session, calls the module
//! in its sandbox, and encodes the answer.
//!
//! Token operations (the same for every token module): `info`, `verify-pin`, `sign`,
//! `sign_raw`, `authenticate`, `supported-algorithms`, and `reset-bulk-pin` on the module.
//! Everything else is an extension operation the module declares in its manifest (for beid:
//! `biometric`, `address`, `picture`, `cert-list`, ...), called with the JSON body and the
//! query parameters merged into one object.
//!
//! A reader id names a PC/SC reader or, failing that, a PKCS#11 token slot; the module then
//! gets the card or the slot as its device, and only operations declared for that kind of
//! device are served.

mod bulk_pin;
mod extension;
mod file_exchange;
pub(super) mod token;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use t1c_sdk::DeviceKind;

pub use bulk_pin::BulkPins;

use super::error::{ApiError, ErrorKind};
use super::guard::Caller;
use super::{AppState, Reply};
use crate::pkcs11::{Pkcs11Error, TokenSlot};
use crate::readers::{ReaderError, ReaderId};
use bulk_pin::BulkKey;
use t1c_runtime::{CallError, Device, LoadedModule};
use token::TokenOperation;

/// How long an operation waits for its turn on a busy reader.
const READER_WAIT: Duration = Duration::from_secs(30);

/// `.../apps/{app}/readers/{reader}/{operation}`
#[utoipa::path(method(get, post), path = "/v3/modules/{module}/apps/{app}/readers/{reader}/{operation}", tag = "modules",
    params(("module" = String, Path, pattern = "^[a-z0-9_-]{1,64}$"), ("app" = String, Path), ("reader" = String, Path, pattern = "^[0-9a-f]{16}$"), ("operation" = String, Path), ("bulk" = Option<bool>, Query)),
    request_body(content = Option<serde_json::Value>, description = "POST: `{pin?, base64Encoded?, algorithm?, data?, id?}` or the operation's JSON"),
    responses(
        (status = 200, description = "`{success, data, signature}`", body = serde_json::Value),
        (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 500, body = super::error::ErrorBody), (status = 501, body = super::error::ErrorBody),
    ),
    security((), ("jwt" = [])))]
pub(super) async fn reader_operation(
    State(state): State<AppState>,
    Path((module, app, reader, operation)): Path<(String, String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let loaded = module_named(&state, &module)?;
    let reader: ReaderId = reader.parse().map_err(|_| {
        ApiError::new(ErrorKind::BadRequest, "a reader id is 16 lowercase hex characters")
    })?;
    let target = resolve(&state, &reader).await?;
    if let Target::Slot(_) = &target
        && !loaded.manifest().capabilities.contains(&t1c_sdk::Capability::Pkcs11)
    {
        return Err(ApiError::new(
            ErrorKind::NotSupported,
            format!("module `{module}` does not serve PKCS#11 tokens"),
        ));
    }
    let token_operation = if app == "token" && loaded.manifest().token {
        TokenOperation::parse(&method, &operation)
    } else {
        None
    };
    let answer = match token_operation {
        Some(token_operation) => {
            let bulk = query.get("bulk").is_some_and(|v| v == "true").then(|| BulkKey {
                module: module.clone(),
                component: loaded.sha256(),
                reader: reader.clone(),
                origin: origin(&headers),
            });
            token::run(&state, &target, loaded, token_operation, &body, bulk).await?
        }
        None => {
            extension::on_device(&state, &target, loaded, &method, &operation, &query, &body)
                .await?
        }
    };
    state.count(&caller, &module, &answer.use_case).await?;
    Reply::signed(answer.data, state.device_key())
}

/// `.../apps/{app}/{operation}`: module-wide operations (`reset-bulk-pin`, extension
/// operations without a device, and every file exchange operation: a module with the `files`
/// capability runs with the calling application's mapped folders, takes a `multipart/form-data`
/// form with one file for `download`, and answers `upload` with the file's bytes).
#[utoipa::path(method(get, post), path = "/v3/modules/{module}/apps/{app}/{operation}", tag = "modules",
    params(("module" = String, Path, pattern = "^[a-z0-9_-]{1,64}$"), ("app" = String, Path), ("operation" = String, Path)),
    request_body(description = "JSON; file exchange `download`: a form with text fields and one file", content(
        (Option<serde_json::Value> = "application/json"),
        (String = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "`{success, data}`, or a file's bytes (file exchange `upload`)", content(
            (serde_json::Value = "application/json"),
            (Vec<u8> = "application/octet-stream"),
        )),
        (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 413, body = super::error::ErrorBody),
        (status = 500, body = super::error::ErrorBody), (status = 501, body = super::error::ErrorBody),
    ),
    security((), ("jwt" = [])))]
pub(super) async fn module_operation(
    State(state): State<AppState>,
    Path((module, app, operation)): Path<(String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let loaded = module_named(&state, &module)?;
    if app == "token"
        && operation == "reset-bulk-pin"
        && matches!(method, Method::GET | Method::POST)
    {
        state.bulk_pins().reset(&module, &origin(&headers));
        return Ok(Reply::signed(true, state.device_key())?.into_response());
    }
    if loaded.manifest().capabilities.contains(&t1c_sdk::Capability::Files) {
        let answer =
            file_exchange::run(&state, &caller, loaded, &operation, &query, request).await?;
        return match answer {
            file_exchange::FileAnswer::Json(answer) => {
                state.count(&caller, &module, &answer.use_case).await?;
                Ok(Reply::signed(answer.data, state.device_key())?.into_response())
            }
            file_exchange::FileAnswer::File { file, use_case } => {
                let response = file_exchange::file_response(file)?;
                state.count(&caller, &module, &use_case).await?;
                Ok(response)
            }
        };
    }
    // The body under the configured limit (`DefaultBodyLimit`), as the `Bytes` extractor reads it.
    let body = Bytes::from_request(request, &()).await.map_err(body_error)?;
    let answer = extension::without_device(loaded, &method, &operation, &query, &body).await?;
    state.count(&caller, &module, &answer.use_case).await?;
    Ok(Reply::signed(answer.data, state.device_key())?.into_response())
}

/// What an operation answered: the `data` of the reply, and the use case to count it under
/// (not counted when it is not one of the counted use cases).
struct Answer {
    data: Value,
    use_case: String,
}

/// The loaded module called `name`.
fn module_named(state: &AppState, name: &str) -> Result<Arc<LoadedModule>, ApiError> {
    state
        .modules()
        .get(name)
        .ok_or_else(|| ApiError::new(ErrorKind::UnknownModule, format!("no module named `{name}`")))
}

/// What a reader id names.
#[derive(Clone)]
enum Target {
    /// A PC/SC reader (or one unknown to both, which the reader backend reports).
    Reader(ReaderId),
    /// A PKCS#11 token slot.
    Slot(TokenSlot),
}

impl Target {
    fn kind(&self) -> DeviceKind {
        match self {
            Target::Reader(_) => DeviceKind::Card,
            Target::Slot(_) => DeviceKind::Slot,
        }
    }
}

/// The PC/SC reader with this id, else the PKCS#11 slot with it.
async fn resolve(state: &AppState, reader: &ReaderId) -> Result<Target, ApiError> {
    if state.readers().readers().iter().any(|r| &r.id == reader) {
        return Ok(Target::Reader(reader.clone()));
    }
    if let Some(service) = state.pkcs11_arc() {
        let id = reader.clone();
        let slot = tokio::task::spawn_blocking(move || service.slot(&id))
            .await
            .map_err(|_| ApiError::new(ErrorKind::Internal, "the slot lookup was cancelled"))?;
        if let Some(slot) = slot {
            return Ok(Target::Slot(slot));
        }
    }
    Ok(Target::Reader(reader.clone()))
}

/// Opens the reader session (or the token slot) and runs `f` on a blocking thread (module
/// calls, PC/SC and PKCS#11 are synchronous).
async fn call<R: Send + 'static>(
    state: &AppState,
    target: &Target,
    f: impl FnOnce(Device) -> Result<R, CallError> + Send + 'static,
) -> Result<R, ApiError> {
    let readers = state.readers_arc();
    let pkcs11 = state.pkcs11_arc();
    let reader = match target {
        Target::Reader(id) => id.clone(),
        Target::Slot(slot) => slot.id.clone(),
    };
    let target = target.clone();
    let outcome = tokio::task::spawn_blocking(move || match target {
        Target::Reader(id) => {
            let card = readers.connect(&id, READER_WAIT).map_err(Failure::Reader)?;
            f(Device::Card(card)).map_err(Failure::Call)
        }
        Target::Slot(slot) => {
            let service = pkcs11.ok_or(Failure::Slot(Pkcs11Error::NoSuchSlot))?;
            service
                .with_slot(&slot, |handle| f(Device::Slot(Box::new(handle))))
                .map_err(Failure::Slot)?
                .map_err(Failure::Call)
        }
    })
    .await
    .map_err(|_| ApiError::new(ErrorKind::Internal, "the module call was cancelled"))?;
    let reader = &reader;
    match outcome {
        Ok(value) => Ok(value),
        Err(Failure::Slot(err)) => {
            if matches!(err, Pkcs11Error::TokenRemoved | Pkcs11Error::NoSuchSlot) {
                state.bulk_pins().forget_reader(reader);
            }
            Err(err.into())
        }
        Err(Failure::Reader(err)) => {
            if matches!(err, ReaderError::NoCard(_) | ReaderError::CardRemoved) {
                state.bulk_pins().forget_reader(reader);
            }
            Err(err.into())
        }
        Err(Failure::Call(err)) => {
            if matches!(err.module_error(), Some(t1c_sdk::Error::CardRemoved)) {
                state.bulk_pins().forget_reader(reader);
            }
            Err(err.into())
        }
    }
}

enum Failure {
    Reader(ReaderError),
    Slot(Pkcs11Error),
    Call(CallError),
}

/// A body that could not be read: over the route's limit (413), or broken off (400).
fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    let kind = if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ErrorKind::PayloadTooLarge
    } else {
        ErrorKind::BadRequest
    };
    ApiError::new(kind, rejection.body_text())
}

fn origin(headers: &HeaderMap) -> String {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}
