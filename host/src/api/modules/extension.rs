//! Extension operations: what a module declares in its manifest beyond the token operations
//! (for beid: `biometric`, `address`, `picture`, `cert-list`, ...), each with its HTTP method,
//! the kind of device it runs on (a card, a token slot, none) and its transaction use case.
//! They take the JSON body and the query parameters merged into one object, and answer JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::Method;
use serde_json::{Map, Value};

use t1c_sdk::{DeviceKind, HttpMethod, Operation};

use super::{Answer, Target, call};
use crate::api::AppState;
use crate::api::error::{ApiError, ErrorKind};
use t1c_runtime::LoadedModule;

/// Runs the extension operation `name` of `module` on `target`.
pub(super) async fn on_device(
    state: &AppState,
    target: &Target,
    module: Arc<LoadedModule>,
    method: &Method,
    name: &str,
    query: &BTreeMap<String, String>,
    body: &Bytes,
) -> Result<Answer, ApiError> {
    let declared = declared(&module, name, target.kind(), method)?;
    let request = request_object(body, query)?;
    let operation = declared.name.clone();
    let answer =
        call(state, target, move |card| module.invoke(Some(card), &operation, &request)).await?;
    Ok(Answer { data: answer_json(&answer)?, use_case: declared.use_case })
}

/// Runs the extension operation `name` of `module` that needs no device.
pub(super) async fn without_device(
    module: Arc<LoadedModule>,
    method: &Method,
    name: &str,
    query: &BTreeMap<String, String>,
    body: &Bytes,
) -> Result<Answer, ApiError> {
    let declared = declared_without_device(&module, name, method)?;
    let request = request_object(body, query)?;
    let answer = tokio::task::spawn_blocking(move || {
        module.invoke(None, &declared.name, &request).map(|a| (a, declared.use_case))
    })
    .await
    .map_err(|_| ApiError::new(ErrorKind::Internal, "the module call was cancelled"))??;
    Ok(Answer { data: answer_json(&answer.0)?, use_case: answer.1 })
}

/// The operation `name` as `module` declares it without a device, for `method`.
pub(super) fn declared_without_device(
    module: &LoadedModule,
    name: &str,
    method: &Method,
) -> Result<Operation, ApiError> {
    declared(module, name, DeviceKind::None, method)
}

/// The operation `name` as `module` declares it for `device` and `method`.
fn declared(
    module: &LoadedModule,
    name: &str,
    device: DeviceKind,
    method: &Method,
) -> Result<Operation, ApiError> {
    module
        .manifest()
        .operations
        .iter()
        .find(|o| o.name == name && o.device == device && method_matches(o.method, method))
        .cloned()
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "Functionality not found"))
}

/// The JSON object given to an extension operation: the body (an object, or `{}`), with the
/// query parameters added as strings where the body has no such key.
pub(super) fn request_object(
    body: &Bytes,
    query: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    let mut object = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Err(ApiError::new(ErrorKind::BadRequest, "the body must be a JSON object"));
            }
        }
    };
    for (key, value) in query {
        object.entry(key.clone()).or_insert_with(|| Value::String(value.clone()));
    }
    Ok(Value::Object(object).to_string())
}

/// An extension operation's answer, which the contract says is JSON.
pub(super) fn answer_json(answer: &str) -> Result<Value, ApiError> {
    serde_json::from_str(answer)
        .map_err(|_| ApiError::new(ErrorKind::ModuleFailed, "the module answered invalid JSON"))
}

fn method_matches(declared: HttpMethod, method: &Method) -> bool {
    match declared {
        HttpMethod::Get => method == Method::GET,
        HttpMethod::Post => method == Method::POST,
        HttpMethod::Put => method == Method::PUT,
        HttpMethod::Patch => method == Method::PATCH,
        HttpMethod::Delete => method == Method::DELETE,
        _ => false,
    }
}
