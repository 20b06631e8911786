//! The token operations, the same for every token module (the contract's `token` interface):
//! `info`, `supported-algorithms`, `verify-pin`, `sign`, `sign_raw` and `authenticate`. The host
//! decodes the request (PIN, algorithm, digest) and encodes the answer; the module does the rest.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use t1c_sdk::{HashAlgorithm, SignRequest, parse_algorithm};

use super::bulk_pin::BulkKey;
use super::{Answer, Target, call};
use crate::api::AppState;
use crate::api::error::{ApiError, ErrorKind};
use t1c_runtime::LoadedModule;

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

/// A token operation on a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenOperation {
    /// `GET info`
    Info,
    /// `GET supported-algorithms`
    SupportedAlgorithms,
    /// `POST verify-pin`
    VerifyPin,
    /// `POST sign` (a digest) or `POST sign_raw` (data as given).
    Sign {
        /// `sign_raw`
        raw: bool,
    },
    /// `POST authenticate`
    Authenticate,
}

impl TokenOperation {
    /// The token operation `name` called with `method`, if it is one.
    pub(super) fn parse(method: &Method, name: &str) -> Option<Self> {
        Some(match (method.clone(), name) {
            (Method::GET, "info") => Self::Info,
            (Method::GET, "supported-algorithms") => Self::SupportedAlgorithms,
            (Method::POST, "verify-pin") => Self::VerifyPin,
            (Method::POST, "sign") => Self::Sign { raw: false },
            (Method::POST, "sign_raw") => Self::Sign { raw: true },
            (Method::POST, "authenticate") => Self::Authenticate,
            _ => return None,
        })
    }
}

/// Runs `operation` of `module` on `target`. `bulk` is the key to keep the PIN under when the
/// request asks for bulk signing (`?bulk=true`).
pub(super) async fn run(
    state: &AppState,
    target: &Target,
    module: Arc<LoadedModule>,
    operation: TokenOperation,
    body: &Bytes,
    bulk: Option<BulkKey>,
) -> Result<Answer, ApiError> {
    match operation {
        TokenOperation::Info => {
            let info = call(state, target, move |card| module.token_info(card)).await?;
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
            if let (Target::Slot(token), Some(object)) = (target, data.as_object_mut()) {
                object.entry("slot").or_insert(Value::from(token.slot_id));
            }
            Ok(Answer { data, use_case: "identity read".to_owned() })
        }
        TokenOperation::SupportedAlgorithms => {
            let algorithms =
                call(state, target, move |card| module.supported_algorithms(card)).await?;
            let algorithms = algorithms.into_iter().map(|a| algorithm_name(a).to_owned()).collect();
            Ok(Answer {
                data: to_json(SupportedAlgorithms { algorithms })?,
                use_case: String::new(),
            })
        }
        TokenOperation::VerifyPin => {
            let body = pin_body(body)?;
            let pin = decrypt_pin(state, &body)?;
            call(state, target, move |card| module.verify_pin(card, pin)).await?;
            Ok(Answer {
                data: to_json(PinVerified { verified: true })?,
                use_case: "pin verification".to_owned(),
            })
        }
        TokenOperation::Sign { raw } => {
            let body = pin_body(body)?;
            let request = sign_request(&body, raw)?;
            let mut pin = decrypt_pin(state, &body)?;
            if let Some(key) = bulk {
                pin = state.bulk_pins().pin_for(key, pin, card_identity(state, target));
            }
            let signature =
                call(state, target, move |card| module.sign(card, &request, pin)).await?;
            signature_answer(&signature, "digital signature")
        }
        TokenOperation::Authenticate => {
            let body = pin_body(body)?;
            let request = sign_request(&body, false)?;
            let pin = decrypt_pin(state, &body)?;
            let signature =
                call(state, target, move |card| module.authenticate(card, &request, pin)).await?;
            signature_answer(&signature, "authentication")
        }
    }
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

/// What identifies the card a bulk PIN is given for: a card's ATR; for a token, its serial
/// number (another token in the slot drops the PIN). `None` when the reader has no card.
fn card_identity(state: &AppState, target: &Target) -> Option<Vec<u8>> {
    match target {
        Target::Reader(id) => state
            .readers()
            .readers()
            .into_iter()
            .find(|r| &r.id == id)
            .and_then(|r| r.card.map(|c| c.atr)),
        Target::Slot(token) => Some(token.serial.as_bytes().to_vec()),
    }
}

fn signature_answer(signature: &[u8], use_case: &str) -> Result<Answer, ApiError> {
    Ok(Answer {
        data: to_json(SignatureData { data: STANDARD.encode(signature) })?,
        use_case: use_case.to_owned(),
    })
}

/// A typed answer as JSON (the `info` answer is merged with what the module said).
fn to_json(answer: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(answer)
        .map_err(|_| ApiError::new(ErrorKind::Internal, "the answer could not be encoded"))
}

fn pin_body(body: &Bytes) -> Result<PinBody, ApiError> {
    if body.is_empty() {
        return Ok(PinBody::default());
    }
    serde_json::from_slice(body)
        .map_err(|_| ApiError::new(ErrorKind::BadRequest, "the body must be a JSON object"))
}

/// The PIN of a request: decrypted with the device key when `base64Encoded`, as given
/// otherwise (when `[pin] accept_plain` allows it), `None` when absent (the reader's pinpad
/// then asks for it).
fn decrypt_pin(state: &AppState, body: &PinBody) -> Result<Option<Zeroizing<String>>, ApiError> {
    let Some(pin) = body.pin.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if body.base64_encoded {
        return Ok(Some(state.device_key().decrypt_pin(pin)?));
    }
    if !state.accept_plain_pin() {
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "this connector takes a PIN only encrypted to its device key (base64Encoded)",
        ));
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
    // `sha256` and the like as T1C has always meant them; `sha256-pss` and the like for RSA-PSS
    // (the names the pkcs11 module's `validate` reads too).
    let (algorithm, padding) =
        body.algorithm.as_deref().and_then(parse_algorithm).ok_or_else(|| {
            bad("algorithm must be one of sha1, sha256, sha384, sha512, or one of them with -pss")
        })?;
    let data = STANDARD
        .decode(body.data.as_deref().unwrap_or_default())
        .map_err(|_| bad("data must be base64"))?;
    if !raw && data.len() != algorithm.digest_len() {
        return Err(bad("data must be a digest of the algorithm's length"));
    }
    if data.is_empty() {
        return Err(bad("data is empty"));
    }
    Ok(SignRequest { algorithm, data, raw, key_id: body.id.clone(), padding })
}

fn algorithm_name(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Sha1 => "sha1",
        HashAlgorithm::Sha256 => "sha256",
        HashAlgorithm::Sha384 => "sha384",
        _ => "sha512",
    }
}
