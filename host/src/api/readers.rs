//! `GET /v3/readers`, `GET /v3/readers/{id}` and `GET /atrs`: the readers, their cards and the
//! modules that claim each card, in the T1C v3 `CardReader` shape.
//!
//! PKCS#11 token slots are listed after the PC/SC readers, each as a reader holding a card
//! (the token) that the PKCS#11 modules serve. Their ids are derived from the library and the
//! token, PC/SC reader ids from the reader's name, so a card reachable both ways is listed
//! twice under two ids (see [`crate::pkcs11`]).

use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorKind};
use super::{AppState, Reply};
use crate::pkcs11::TokenSlot;
use crate::readers::{ReaderId, ReaderInfo};

/// A reader (T1C `CardReader`), PC/SC or PKCS#11 token slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CardReader {
    /// 16 lowercase hex characters, stable across restarts.
    pub id: String,
    /// The reader's name.
    pub name: String,
    /// Whether it has a PIN pad.
    pub pinpad: bool,
    /// The card, when one is inserted (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
}

/// A card in a reader. Both `modules` (what t1c-sdk-js reads) and `module` (what the T1C
/// documentation shows) are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Card {
    /// ATR, uppercase hex; empty for a PKCS#11 token.
    pub atr: String,
    /// Descriptions of the modules claiming it; for a PKCS#11 token, its label and model.
    pub description: Vec<String>,
    /// Names of the modules claiming it.
    pub modules: Vec<String>,
    /// Same as `modules` (older clients read this key).
    pub module: Vec<String>,
}

/// An ATR pattern a module claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AtrEntry {
    /// Pattern value, uppercase hex.
    pub atr: String,
    /// Pattern mask, uppercase hex.
    pub mask: String,
    /// Module name.
    pub module: String,
    /// Module description.
    #[serde(rename = "moduleDescription")]
    pub module_description: String,
}

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
    responses((status = 200, description = "`{success, data: [CardReader], signature}`", body = serde_json::Value), (status = 400, body = super::error::ErrorBody)),
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
    let mut readers: Vec<CardReader> = state
        .readers()
        .readers()
        .into_iter()
        .filter(|r| card_inserted.is_none_or(|wanted| r.card.is_some() == wanted))
        .filter(|r| kept(&r.name))
        .map(|r| CardReader::of_reader(&state, &r))
        .collect();
    if card_inserted != Some(false) {
        let modules = pkcs11_modules(&state);
        readers.extend(
            slots(&state)
                .await?
                .iter()
                .map(|slot| CardReader::of_token(slot, &modules))
                .filter(|slot| kept(&slot.name)),
        );
    }
    Reply::signed(readers, state.device_key())
}

/// `GET /v3/readers/{id}`
#[utoipa::path(get, path = "/v3/readers/{id}", tag = "core",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$")),
    responses((status = 200, description = "`{success, data: CardReader, signature}`", body = serde_json::Value), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Reply, ApiError> {
    let id: ReaderId = id.parse().map_err(|_| {
        ApiError::new(ErrorKind::BadRequest, "a reader id is 16 lowercase hex characters")
    })?;
    if let Some(reader) = state.readers().readers().into_iter().find(|r| r.id == id) {
        return Reply::signed(CardReader::of_reader(&state, &reader), state.device_key());
    }
    let slot = slots(&state)
        .await?
        .into_iter()
        .find(|slot| slot.id == id)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "no reader with this id"))?;
    Reply::signed(CardReader::of_token(&slot, &pkcs11_modules(&state)), state.device_key())
}

/// `GET /atrs`
#[utoipa::path(get, path = "/atrs", tag = "core",
    responses((status = 200, description = "`{success, data: [AtrEntry], signature}`", body = serde_json::Value)),
    security((), ("jwt" = [])))]
pub(super) async fn atrs(State(state): State<AppState>) -> Result<Reply, ApiError> {
    let mut atrs = Vec::new();
    for module in state.modules().modules() {
        for pattern in &module.manifest().atrs {
            atrs.push(AtrEntry {
                atr: hex::encode_upper(&pattern.value),
                mask: hex::encode_upper(&pattern.mask),
                module: module.name().to_owned(),
                module_description: module.manifest().description.clone(),
            });
        }
    }
    Reply::signed(atrs, state.device_key())
}

/// The PKCS#11 token slots (none without PKCS#11), as the libraries listed them last. Only
/// while a library has not listed once yet (just configured) does this wait for it, on a
/// blocking thread.
async fn slots(state: &AppState) -> Result<Vec<TokenSlot>, ApiError> {
    let Some(service) = state.pkcs11_arc() else {
        return Ok(Vec::new());
    };
    if let Some(slots) = service.slots_now() {
        return Ok(slots);
    }
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

impl CardReader {
    /// A PC/SC reader, its card claimed by the modules whose ATR patterns match.
    fn of_reader(state: &AppState, reader: &ReaderInfo) -> Self {
        let card = reader.card.as_ref().map(|card| {
            let modules = state.modules().modules_for_atr(&card.atr);
            let names: Vec<String> = modules.iter().map(|m| m.name().to_owned()).collect();
            Card {
                atr: hex::encode_upper(&card.atr),
                description: modules.iter().map(|m| m.manifest().description.clone()).collect(),
                modules: names.clone(),
                module: names,
            }
        });
        Self { id: reader.id.to_string(), name: reader.name.clone(), pinpad: reader.pinpad, card }
    }

    /// A PKCS#11 token slot, holding a card (the token) that `modules` serve. A token has no
    /// ATR; the card's description is the token's label and model.
    fn of_token(slot: &TokenSlot, modules: &[String]) -> Self {
        let name = if slot.description.trim().is_empty() { &slot.label } else { &slot.description };
        let description =
            [&slot.label, &slot.model].into_iter().filter(|s| !s.is_empty()).cloned().collect();
        Self {
            id: slot.id.to_string(),
            name: name.trim().to_owned(),
            pinpad: slot.protected_authentication_path,
            card: Some(Card {
                atr: String::new(),
                description,
                modules: modules.to_vec(),
                module: modules.to_vec(),
            }),
        }
    }
}
