//! `GET /v3/readers`, `GET /v3/readers/{id}` and `GET /atrs`: the readers, their cards and the
//! modules that claim each card, in the T1C v3 `CardReader` shape.
//!
//! PKCS#11 token slots are listed after the PC/SC readers, each as a reader holding a card
//! (the token) that the PKCS#11 modules serve. Their ids are derived from the library and the
//! token, PC/SC reader ids from the reader's name, so a card reachable both ways is listed
//! twice under two ids (see [`crate::pkcs11`]).

use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ErrorKind};
use super::{AppState, Reply, pkcs11};
use crate::readers::{ReaderId, ReaderInfo};

/// Query of `GET /v3/readers`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReadersQuery {
    /// `true`: only readers with a card; `false`: only readers without.
    #[serde(rename = "cardInserted")]
    card_inserted: Option<String>,
    /// Comma-separated reader names (or parts of names) to leave out, case-insensitive.
    /// t1c-sdk-js always sends one (`hello` as a placeholder).
    excluded: Option<String>,
}

/// `GET /v3/readers`
#[utoipa::path(get, path = "/v3/readers", tag = "core",
    params(("cardInserted" = Option<bool>, Query), ("excluded" = Option<String>, Query)),
    responses((status = 200, description = "`{success, data: [CardReader], signature}`", body = serde_json::Value), (status = 400, body = super::openapi::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn list(
    State(state): State<AppState>,
    Query(query): Query<ReadersQuery>,
) -> Result<Reply, ApiError> {
    let card_inserted = match query.card_inserted.as_deref() {
        None => None,
        Some(value) if value.eq_ignore_ascii_case("true") => Some(true),
        Some(value) if value.eq_ignore_ascii_case("false") => Some(false),
        Some(_) => {
            return Err(ApiError::new(ErrorKind::BadRequest, "cardInserted must be true or false"));
        }
    };
    let excluded: Vec<String> = query
        .excluded
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let kept = |name: &str| {
        let name = name.to_lowercase();
        !excluded.iter().any(|e| name.contains(e.as_str()))
    };
    let mut readers: Vec<Value> = state
        .readers()
        .readers()
        .into_iter()
        .filter(|r| card_inserted.is_none_or(|wanted| r.card.is_some() == wanted))
        .filter(|r| kept(&r.name))
        .map(|r| reader_json(&state, &r))
        .collect();
    if card_inserted != Some(false) {
        let modules = pkcs11_modules(&state);
        let modules: Vec<&str> = modules.iter().map(String::as_str).collect();
        readers.extend(
            slots(&state)
                .await?
                .iter()
                .map(|slot| pkcs11::slot_json(slot, &modules))
                .filter(|slot| kept(slot["name"].as_str().unwrap_or_default())),
        );
    }
    Ok(Reply::signed(Value::Array(readers), state.device_key()))
}

/// `GET /v3/readers/{id}`
#[utoipa::path(get, path = "/v3/readers/{id}", tag = "core",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$")),
    responses((status = 200, description = "`{success, data: CardReader, signature}`", body = serde_json::Value), (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    let id: ReaderId = id.parse().map_err(|_| {
        ApiError::new(ErrorKind::BadRequest, "a reader id is 16 lowercase hex characters")
    })?;
    if let Some(reader) = state.readers().readers().into_iter().find(|r| r.id == id) {
        return Ok(Reply::signed(reader_json(&state, &reader), state.device_key()));
    }
    let slot = slots(&state)
        .await?
        .into_iter()
        .find(|slot| slot.id == id)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no reader with this id"))?;
    let modules = pkcs11_modules(&state);
    let modules: Vec<&str> = modules.iter().map(String::as_str).collect();
    Ok(Reply::signed(pkcs11::slot_json(&slot, &modules), state.device_key()))
}

/// `GET /atrs`
#[utoipa::path(get, path = "/atrs", tag = "core",
    responses((status = 200, description = "`{success, data: [AtrEntry], signature}`", body = serde_json::Value)),
    security((), ("jwt" = [])))]
pub(super) async fn atrs(State(state): State<AppState>) -> Reply {
    let mut atrs = Vec::new();
    for module in state.modules().modules() {
        for pattern in &module.manifest().atrs {
            atrs.push(json!({
                "atr": hex::encode_upper(&pattern.value),
                "mask": hex::encode_upper(&pattern.mask),
                "module": module.name(),
                "moduleDescription": module.manifest().description,
            }));
        }
    }
    Reply::signed(Value::Array(atrs), state.device_key())
}

/// The PKCS#11 token slots (none without PKCS#11); asking the libraries blocks, so it runs on
/// a blocking thread.
async fn slots(state: &AppState) -> Result<Vec<crate::pkcs11::TokenReader>, ApiError> {
    let Some(service) = state.pkcs11_arc() else {
        return Ok(Vec::new());
    };
    tokio::task::spawn_blocking(move || service.slots())
        .await
        .map_err(|_| ApiError::new(ErrorKind::Internal, "listing PKCS#11 slots was cancelled"))
}

/// The loaded modules that serve PKCS#11 tokens: token modules with the `pkcs11` capability.
pub(super) fn pkcs11_modules(state: &AppState) -> Vec<String> {
    state
        .modules()
        .modules()
        .filter(|m| {
            m.manifest().token && m.manifest().capabilities.contains(&t1c_sdk::Capability::Pkcs11)
        })
        .map(|m| m.name().to_owned())
        .collect()
}

/// One `CardReader`: `{id, name, pinpad, card?: {atr, description, modules, module}}`. Both
/// `modules` (what t1c-sdk-js reads) and `module` (what the T1C documentation shows) are sent.
fn reader_json(state: &AppState, reader: &ReaderInfo) -> Value {
    let mut value =
        json!({ "id": reader.id.to_string(), "name": reader.name, "pinpad": reader.pinpad });
    if let Some(card) = &reader.card {
        let modules = state.modules().modules_for_atr(&card.atr);
        let names: Vec<&str> = modules.iter().map(|m| m.name()).collect();
        let descriptions: Vec<&str> =
            modules.iter().map(|m| m.manifest().description.as_str()).collect();
        value["card"] = json!({
            "atr": hex::encode_upper(&card.atr),
            "description": descriptions,
            "modules": names,
            "module": names,
        });
    }
    value
}
