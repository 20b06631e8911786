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

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use t1c_sdk::{DeviceKind, HashAlgorithm, HttpMethod, SignRequest};

use super::error::{ApiError, ErrorKind};
use super::guard::Caller;
use super::{AppState, Reply};
use crate::pkcs11::{Pkcs11Error, TokenReader};
use crate::readers::{ReaderError, ReaderId};
use crate::runtime::{CallError, Device};

/// How long an operation waits for its turn on a busy reader.
const READER_WAIT: Duration = Duration::from_secs(30);
/// How long a bulk-signing PIN is kept after its last use.
const BULK_PIN_TTL: Duration = Duration::from_secs(300);

/// Who a bulk PIN belongs to: (module, reader, origin), and the module's component (SHA-256):
/// a PIN given to one build of a module is never handed to another one swapped in since.
type BulkKey = ((String, [u8; 32]), ReaderId, String);

/// A kept PIN, the identity of the card it was given for (a card's ATR, a token's serial
/// number), and its last use.
type BulkEntry = (Zeroizing<String>, Vec<u8>, Instant);

/// PINs kept for bulk signing, per [`BulkKey`], in zeroised memory. A PIN is dropped after
/// [`BULK_PIN_TTL`] without use, on `reset-bulk-pin`, and as soon as its reader is seen without
/// a card or with another card.
#[derive(Default)]
pub struct BulkPins {
    pins: Mutex<HashMap<BulkKey, BulkEntry>>,
}

impl BulkPins {
    /// The PIN kept for `key`, if the card now in the reader (`atr`) is the one it was given
    /// for.
    fn take(&self, key: &BulkKey, atr: Option<&[u8]>) -> Option<Zeroizing<String>> {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.retain(|(_, reader, _), (_, kept_atr, at)| {
            at.elapsed() < BULK_PIN_TTL && (reader != &key.1 || atr == Some(kept_atr.as_slice()))
        });
        pins.get_mut(key).map(|(pin, _, at)| {
            *at = Instant::now();
            pin.clone()
        })
    }

    fn keep(&self, key: BulkKey, pin: Zeroizing<String>, atr: Vec<u8>) {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.insert(key, (pin, atr, Instant::now()));
    }

    /// Forgets every PIN of `module` for `origin` (and all of them when the card left a reader).
    fn reset(&self, module: &str, origin: &str) {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.retain(|((m, _), _, o), _| !(m == module && o == origin));
    }

    fn forget_reader(&self, reader: &ReaderId) {
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        pins.retain(|(_, r, _), _| r != reader);
    }
}

/// The `data` of `GET .../token/readers/{reader}/info` when the module gives no details of its
/// own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfoData {
    /// The token's serial number.
    pub serial_number: String,
    /// The token's label.
    pub label: String,
    /// The token's version.
    pub version: String,
}

/// The `data` of `GET .../token/readers/{reader}/supported-algorithms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SupportedAlgorithms {
    /// Digest algorithm names (`sha1`, `sha256`, `sha384`, `sha512`).
    #[serde(rename = "ref")]
    pub algorithms: Vec<String>,
}

/// The `data` of `POST .../token/readers/{reader}/verify-pin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PinVerified {
    /// Always true (a wrong PIN is an error).
    pub verified: bool,
}

/// The `data` of `POST .../token/readers/{reader}/{sign,sign_raw,authenticate}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SignatureData {
    /// The signature, base64.
    pub data: String,
}

/// The body of PIN-bearing requests, as t1c-sdk-js sends it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PinBody {
    pin: Option<String>,
    #[serde(default)]
    base64_encoded: bool,
    algorithm: Option<String>,
    data: Option<String>,
    id: Option<String>,
}

impl Drop for PinBody {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(pin) = self.pin.as_mut() {
            pin.zeroize();
        }
    }
}

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
    let origin = origin(&headers);
    let token_op = app == "token" && loaded.manifest().token;
    let (data, use_case) = match (token_op, method.clone(), operation.as_str()) {
        (true, Method::GET, "info") => {
            let info = call(&state, &target, move |card| loaded.token_info(card)).await?;
            let details =
                serde_json::from_str::<Value>(&info.details).ok().filter(Value::is_object);
            let mut data = match details {
                Some(details) => details,
                None => to_json(TokenInfoData {
                    serial_number: info.serial_number,
                    label: info.label,
                    version: info.version,
                })?,
            };
            // T1C's PKCS11TokenInfo names its slot; only the host knows it.
            if let (Target::Slot(slot), Some(object)) = (&target, data.as_object_mut()) {
                object.entry("slot").or_insert(Value::from(slot.slot.slot_id));
            }
            (data, "identity read".to_owned())
        }
        (true, Method::GET, "supported-algorithms") => {
            let algorithms =
                call(&state, &target, move |card| loaded.supported_algorithms(card)).await?;
            let algorithms = algorithms.into_iter().map(|a| algorithm_name(a).to_owned()).collect();
            (to_json(SupportedAlgorithms { algorithms })?, String::new())
        }
        (true, Method::POST, "verify-pin") => {
            let body = pin_body(&body)?;
            let pin = decrypt_pin(&state, &body)?;
            call(&state, &target, move |card| loaded.verify_pin(card, pin)).await?;
            (to_json(PinVerified { verified: true })?, "pin verification".to_owned())
        }
        (true, Method::POST, op @ ("sign" | "sign_raw" | "authenticate")) => {
            let body = pin_body(&body)?;
            let request = sign_request(&body, op == "sign_raw")?;
            let bulk = op != "authenticate" && query.get("bulk").is_some_and(|v| v == "true");
            let key = ((module.clone(), loaded.sha256()), reader.clone(), origin.clone());
            let mut pin = decrypt_pin(&state, &body)?;
            if bulk {
                let atr = match &target {
                    Target::Reader(_) => state
                        .readers()
                        .readers()
                        .into_iter()
                        .find(|r| r.id == reader)
                        .and_then(|r| r.card.map(|c| c.atr)),
                    // A token's serial number stands for a card's ATR: another token in the
                    // slot drops the PIN.
                    Target::Slot(token) => Some(token.slot.serial.as_bytes().to_vec()),
                };
                match (&pin, atr) {
                    (Some(pin), Some(atr)) => state.bulk_pins().keep(key, pin.clone(), atr),
                    (Some(_), None) => {}
                    (None, atr) => pin = state.bulk_pins().take(&key, atr.as_deref()),
                }
            }
            let authenticate = op == "authenticate";
            let signature = call(&state, &target, move |card| {
                if authenticate {
                    loaded.authenticate(card, &request, pin)
                } else {
                    loaded.sign(card, &request, pin)
                }
            })
            .await?;
            let use_case = if authenticate { "authentication" } else { "digital signature" };
            (to_json(SignatureData { data: STANDARD.encode(signature) })?, use_case.to_owned())
        }
        _ => {
            let declared = loaded
                .manifest()
                .operations
                .iter()
                .find(|o| {
                    o.name == operation
                        && o.device == target.kind()
                        && method_matches(o.method, &method)
                })
                .cloned()
                .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "Functionality not found"))?;
            let request = extension_request(&body, &query)?;
            let operation = declared.name.clone();
            let answer =
                call(&state, &target, move |card| loaded.invoke(Some(card), &operation, &request))
                    .await?;
            let data = answer_json(&answer)?;
            (data, declared.use_case)
        }
    };
    state.count(&caller, &module, &use_case).await?;
    Reply::signed(data, state.device_key())
}

/// `.../apps/{app}/{operation}`: module-wide operations (`reset-bulk-pin`, extension
/// operations without a device).
#[utoipa::path(method(get, post), path = "/v3/modules/{module}/apps/{app}/{operation}", tag = "modules",
    params(("module" = String, Path, pattern = "^[a-z0-9_-]{1,64}$"), ("app" = String, Path), ("operation" = String, Path)),
    request_body(content = Option<serde_json::Value>),
    responses((status = 200, body = serde_json::Value), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)),
    security((), ("jwt" = [])))]
pub(super) async fn module_operation(
    State(state): State<AppState>,
    Path((module, app, operation)): Path<(String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    Extension(caller): Extension<Caller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, ApiError> {
    let loaded = module_named(&state, &module)?;
    if app == "token"
        && operation == "reset-bulk-pin"
        && matches!(method, Method::GET | Method::POST)
    {
        state.bulk_pins().reset(&module, &origin(&headers));
        return Reply::signed(true, state.device_key());
    }
    let declared = loaded
        .manifest()
        .operations
        .iter()
        .find(|o| {
            o.name == operation && o.device == DeviceKind::None && method_matches(o.method, &method)
        })
        .cloned()
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "Functionality not found"))?;
    let request = extension_request(&body, &query)?;
    let answer = tokio::task::spawn_blocking(move || {
        loaded.invoke(None, &declared.name, &request).map(|a| (a, declared.use_case))
    })
    .await
    .map_err(|_| ApiError::new(ErrorKind::Internal, "the module call was cancelled"))?
    .map_err(ApiError::from)?;
    let data = answer_json(&answer.0)?;
    state.count(&caller, &module, &answer.1).await?;
    Reply::signed(data, state.device_key())
}

/// The loaded module called `name`.
fn module_named(
    state: &AppState,
    name: &str,
) -> Result<std::sync::Arc<crate::runtime::LoadedModule>, ApiError> {
    state
        .modules()
        .get(name)
        .ok_or_else(|| ApiError::new(ErrorKind::UnknownModule, format!("no module named `{name}`")))
}

/// A typed answer as JSON, to be merged with what the module said.
fn to_json(answer: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(answer)
        .map_err(|_| ApiError::new(ErrorKind::Internal, "the answer could not be encoded"))
}

/// An extension operation's answer, which the contract says is JSON.
fn answer_json(answer: &str) -> Result<Value, ApiError> {
    serde_json::from_str(answer)
        .map_err(|_| ApiError::new(ErrorKind::ModuleFailed, "the module answered invalid JSON"))
}

/// What a reader id names.
#[derive(Clone)]
enum Target {
    /// A PC/SC reader (or one unknown to both, which the reader backend reports).
    Reader(ReaderId),
    /// A PKCS#11 token slot.
    Slot(TokenReader),
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
                .with_slot(&slot, |handle| f(Device::Slot(handle)))
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

fn pin_body(body: &Bytes) -> Result<PinBody, ApiError> {
    if body.is_empty() {
        return Ok(PinBody::default());
    }
    serde_json::from_slice(body)
        .map_err(|_| ApiError::new(ErrorKind::BadRequest, "the body must be a JSON object"))
}

/// The PIN of a request: decrypted with the device key when `base64Encoded`, as given
/// otherwise, `None` when absent (the reader's pinpad then asks for it).
fn decrypt_pin(state: &AppState, body: &PinBody) -> Result<Option<Zeroizing<String>>, ApiError> {
    let Some(pin) = body.pin.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if body.base64_encoded {
        return state.device_key().decrypt_pin(pin).map(Some).map_err(|_| {
            ApiError::new(
                ErrorKind::PinDecryption,
                "the PIN could not be decrypted with the device key",
            )
        });
    }
    if pin.len() > 64 || !pin.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "the PIN must be 1 to 64 printable characters",
        ));
    }
    Ok(Some(Zeroizing::new(pin.to_owned())))
}

fn sign_request(body: &PinBody, raw: bool) -> Result<SignRequest, ApiError> {
    let bad = |m: &str| ApiError::new(ErrorKind::BadRequest, m.to_owned());
    let algorithm = match body.algorithm.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("sha1") => HashAlgorithm::Sha1,
        Some("sha256") => HashAlgorithm::Sha256,
        Some("sha384") => HashAlgorithm::Sha384,
        Some("sha512") => HashAlgorithm::Sha512,
        _ => return Err(bad("algorithm must be one of sha1, sha256, sha384, sha512")),
    };
    let data = STANDARD
        .decode(body.data.as_deref().unwrap_or_default())
        .map_err(|_| bad("data must be base64"))?;
    if !raw && data.len() != algorithm.digest_len() {
        return Err(bad("data must be a digest of the algorithm's length"));
    }
    if data.is_empty() {
        return Err(bad("data is empty"));
    }
    Ok(SignRequest { algorithm, data, raw, key_id: body.id.clone() })
}

/// The JSON object given to an extension operation: the body (an object, or `{}`), with the
/// query parameters added as strings where the body has no such key.
fn extension_request(body: &Bytes, query: &BTreeMap<String, String>) -> Result<String, ApiError> {
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

fn algorithm_name(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Sha1 => "sha1",
        HashAlgorithm::Sha256 => "sha256",
        HashAlgorithm::Sha384 => "sha384",
        _ => "sha512",
    }
}

fn origin(headers: &HeaderMap) -> String {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reader: &str) -> BulkKey {
        (("beid".into(), [7; 32]), reader.parse().expect("id"), "https://app.test".into())
    }

    #[test]
    fn bulk_pin_is_given_back_for_the_same_card_only() {
        let pins = BulkPins::default();
        let reader = key("0123456789abcdef");
        pins.keep(reader.clone(), Zeroizing::new("1234".into()), vec![0x3B, 0x98]);
        assert_eq!(
            pins.take(&reader, Some(&[0x3B, 0x98])).as_deref().map(String::as_str),
            Some("1234")
        );
        // Another card in the reader: the PIN is dropped, not tried on it.
        assert!(pins.take(&reader, Some(&[0x3B, 0x99])).is_none());
        assert!(pins.take(&reader, Some(&[0x3B, 0x98])).is_none(), "dropped for good");
    }

    #[test]
    fn bulk_pin_is_dropped_when_the_card_leaves_or_on_reset() {
        let pins = BulkPins::default();
        let reader = key("0123456789abcdef");
        pins.keep(reader.clone(), Zeroizing::new("1234".into()), vec![0x3B]);
        assert!(pins.take(&reader, None).is_none());
        pins.keep(reader.clone(), Zeroizing::new("1234".into()), vec![0x3B]);
        pins.reset("beid", "https://app.test");
        assert!(pins.take(&reader, Some(&[0x3B])).is_none());
    }
}
