//! The API's side of PKCS#11: token slots listed as readers, the slot a module call runs on, and
//! T1C's library configuration routes (`/v3/modules/pkcs11/apps/token/config`).
//!
//! Everything PKCS#11 goes through [`crate::pkcs11::Pkcs11Host`]; this file knows slots only as
//! [`TokenSlot`]s and hands the runtime a [`SlotHandle`].
//!
//! Operations on one token are exclusive, as on a PC/SC card: PKCS#11 keeps the login state per
//! token and process, so two requests interleaving on one token would share a login.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::{ApiError, ErrorKind};
use super::{AppState, Reply};
use crate::config::{LibraryPaths, Pkcs11Config};
use crate::pkcs11::{Pkcs11Error, Pkcs11Host, SlotHandle, TokenSlot};

/// The PKCS#11 libraries, as the API sees and configures them.
pub struct Pkcs11Service {
    host: Arc<Pkcs11Host>,
    defaults: LibraryPaths,
    override_file: PathBuf,
    api_config: bool,
    current: Mutex<LibraryPaths>,
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// The slots of the last listing, by id: a request on a listed token skips a listing (the
    /// host checks the token again when it opens the slot).
    known: Mutex<HashMap<String, TokenSlot>>,
}

impl Pkcs11Service {
    /// Serves `host` with the libraries of `config`, or the ones the API saved in
    /// `override_file` (which win), and applies them to the host at once.
    pub fn new(host: Arc<Pkcs11Host>, config: &Pkcs11Config, override_file: PathBuf) -> Self {
        let defaults = config.libraries();
        let current = LibraryPaths::load(&override_file).unwrap_or_else(|| defaults.clone());
        host.set_libraries(current.for_this_os());
        Self {
            host,
            defaults,
            override_file,
            api_config: config.api_config,
            current: Mutex::new(current),
            locks: Mutex::default(),
            known: Mutex::default(),
        }
    }

    /// The slots that hold a token now (asks every library; blocking).
    pub fn slots(&self) -> Vec<TokenSlot> {
        let slots = self.host.slots();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        *known = slots.iter().map(|slot| (slot.id.clone(), slot.clone())).collect();
        slots
    }

    /// The slot with this id as last listed, else as listed now (blocking). A token removed
    /// since the last listing is reported when the slot is opened.
    pub fn slot(&self, id: &str) -> Option<TokenSlot> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned();
        known.or_else(|| self.slots().into_iter().find(|slot| slot.id == id))
    }

    /// Opens `slot` and runs `f` with it, holding the token: calls on one token run one after
    /// the other (blocking).
    ///
    /// # Errors
    /// The host's errors opening the slot.
    pub(super) fn with_slot<R>(
        &self,
        slot: &TokenSlot,
        f: impl FnOnce(SlotHandle) -> R,
    ) -> Result<R, Pkcs11Error> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(slot.id.clone()).or_default().clone()
        };
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        let handle = match self.host.open(slot) {
            Ok(handle) => handle,
            Err(err @ (Pkcs11Error::Timeout | Pkcs11Error::WorkerCrashed(_))) => return Err(err),
            // The slot came from the last listing: a token gone since fails in the library in
            // its own way (SoftHSM: CKR_GENERAL_ERROR). Gone from a new listing, it was removed.
            Err(err) => {
                self.known.lock().unwrap_or_else(|e| e.into_inner()).remove(&slot.id);
                let listed = self.slots().iter().any(|s| s.id == slot.id);
                return Err(if listed { err } else { Pkcs11Error::TokenRemoved });
            }
        };
        Ok(f(handle))
    }

    fn current(&self) -> LibraryPaths {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn apply(&self, paths: LibraryPaths) {
        self.host.set_libraries(paths.for_this_os());
        self.known.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = paths;
    }
}

/// `GET /v3/modules/pkcs11/apps/token/config`
#[utoipa::path(get, path = "/v3/modules/pkcs11/apps/token/config", tag = "pkcs11",
    responses((status = 200, description = "`{success, data: {macos, win, linux}}`: the PKCS#11 library of each OS (a path, a list of paths, or null)", body = serde_json::Value), (status = 404, body = super::openapi::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn get_config(State(state): State<AppState>) -> Result<Reply, ApiError> {
    let service = service(&state)?;
    Ok(Reply::signed(paths_json(&service.current()), state.device_key()))
}

/// `POST /v3/modules/pkcs11/apps/token/config`
#[utoipa::path(post, path = "/v3/modules/pkcs11/apps/token/config", tag = "pkcs11",
    request_body(content = serde_json::Value, description = "`{macos, win, linux}`: a path or a list of paths per OS; this OS's must be absolute paths to existing files"),
    responses((status = 200, description = "`{success, data: {macos, win, linux}}`, applied", body = serde_json::Value), (status = 400, body = super::openapi::ErrorBody), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn set_config(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let service = service(&state)?;
    allowed(service)?;
    let paths: LibraryPaths = serde_json::from_slice(&body).map_err(|err| {
        ApiError::new(ErrorKind::BadRequest, format!("expected {{macos, win, linux}}: {err}"))
    })?;
    paths.validate().map_err(|err| ApiError::new(ErrorKind::BadRequest, err.to_string()))?;
    let service = state.pkcs11_arc().ok_or_else(unavailable)?;
    let saved = paths.clone();
    tokio::task::spawn_blocking(move || {
        saved.save(&service.override_file)?;
        service.apply(saved);
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|_| ApiError::new(ErrorKind::Internal, "the configuration change was cancelled"))?
    .map_err(|err| {
        tracing::error!("cannot save the PKCS#11 configuration: {err}");
        ApiError::new(ErrorKind::Internal, "the PKCS#11 configuration could not be saved")
    })?;
    tracing::info!("PKCS#11 libraries changed through the API");
    Ok(Reply::signed(paths_json(&paths), state.device_key()))
}

/// `PATCH /v3/modules/pkcs11/apps/token/config/reset`
#[utoipa::path(patch, path = "/v3/modules/pkcs11/apps/token/config/reset", tag = "pkcs11",
    responses((status = 200, description = "`{success, data: true}`: back to the configuration file's libraries", body = serde_json::Value), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn reset_config(State(state): State<AppState>) -> Result<Reply, ApiError> {
    allowed(service(&state)?)?;
    let service = state.pkcs11_arc().ok_or_else(unavailable)?;
    tokio::task::spawn_blocking(move || {
        LibraryPaths::clear(&service.override_file)?;
        service.apply(service.defaults.clone());
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|_| ApiError::new(ErrorKind::Internal, "the configuration change was cancelled"))?
    .map_err(|err| {
        tracing::error!("cannot remove the PKCS#11 configuration override: {err}");
        ApiError::new(ErrorKind::Internal, "the PKCS#11 configuration could not be reset")
    })?;
    Ok(Reply::signed(json!(true), state.device_key()))
}

/// One slot as a T1C `CardReader`: `{id, name, pinpad, card: {atr: "", description, modules,
/// module}}`. A token has no ATR; `description` is the token's label and model; `modules` are
/// the loaded modules that serve PKCS#11 tokens.
pub(super) fn slot_json(slot: &TokenSlot, modules: &[&str]) -> Value {
    let name = if slot.description.trim().is_empty() { &slot.label } else { &slot.description };
    let description: Vec<&str> =
        [slot.label.as_str(), slot.model.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
    json!({
        "id": slot.id,
        "name": name.trim(),
        "pinpad": slot.protected_authentication_path,
        "card": {
            "atr": "",
            "description": description,
            "modules": modules,
            "module": modules,
        },
    })
}

/// The API error of a failure to open a slot.
pub(super) fn slot_error(err: Pkcs11Error) -> ApiError {
    let kind = match &err {
        Pkcs11Error::NoSuchSlot => ErrorKind::UnknownReader,
        Pkcs11Error::TokenRemoved => ErrorKind::CardRemoved,
        Pkcs11Error::Timeout | Pkcs11Error::WorkerCrashed(_) => ErrorKind::CardTimeout,
        Pkcs11Error::LibraryLoad(_) => ErrorKind::ReaderServiceUnavailable,
        _ => ErrorKind::ReaderTransport,
    };
    if matches!(err, Pkcs11Error::WorkerCrashed(_) | Pkcs11Error::LibraryLoad(_)) {
        tracing::warn!("PKCS#11 slot unavailable: {err}");
        return ApiError::new(kind, "the PKCS#11 library failed; see the connector's log");
    }
    ApiError::new(kind, err.to_string())
}

fn paths_json(paths: &LibraryPaths) -> Value {
    serde_json::to_value(paths).unwrap_or_else(|_| json!({}))
}

fn service(state: &AppState) -> Result<&Pkcs11Service, ApiError> {
    state.pkcs11().ok_or_else(unavailable)
}

fn allowed(service: &Pkcs11Service) -> Result<(), ApiError> {
    if service.api_config {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            "changing PKCS#11 libraries through the API is off (pkcs11.api_config)",
        ))
    }
}

fn unavailable() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "PKCS#11 is not available in this connector")
}
