//! The error half of the API envelope: every failure becomes `{success: false, code,
//! description}` with a six-digit T1C code and an HTTP status, from one table.
//!
//! This file is also the one place where the failures of the other concerns (readers, PKCS#11,
//! module calls and the card errors they carry, the installer, the guard, axum's own
//! rejections) become an [`ErrorKind`]: the `From` impls after the table.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::bundles::InstallError;
use crate::pkcs11::Pkcs11Error;
use crate::readers::ReaderError;
use crate::security::device_key::DeviceKeyError;
use crate::security::jwt::JwtError;
use t1c_runtime::CallError;

/// An API failure: a T1C code, an HTTP status and a description for developers. Never carries
/// PINs or card data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

/// The table of T1C error codes this connector emits: (kind, code, HTTP status).
///
/// Codes follow the T1C `XYYZZZ` scheme: origin X (1 general, 2 transaction, 7 reader), type
/// YY (01 reader, 02 card, 04 security, 06 input, 08 PIN, 11 module, 12 system), detail ZZZ.
pub const ERROR_TABLE: &[(ErrorKind, &str, StatusCode)] = &[
    (ErrorKind::NotFound, "112999", StatusCode::NOT_FOUND),
    (ErrorKind::Unauthorized, "104025", StatusCode::UNAUTHORIZED),
    (ErrorKind::Forbidden, "104030", StatusCode::FORBIDDEN),
    (ErrorKind::BadRequest, "106997", StatusCode::BAD_REQUEST),
    (ErrorKind::PayloadTooLarge, "106413", StatusCode::PAYLOAD_TOO_LARGE),
    (ErrorKind::MethodNotAllowed, "106405", StatusCode::METHOD_NOT_ALLOWED),
    (ErrorKind::Timeout, "106408", StatusCode::REQUEST_TIMEOUT),
    (ErrorKind::Busy, "106503", StatusCode::SERVICE_UNAVAILABLE),
    (ErrorKind::Internal, "106999", StatusCode::INTERNAL_SERVER_ERROR),
    (ErrorKind::PinDecryption, "104006", StatusCode::BAD_REQUEST),
    (ErrorKind::PinWrong, "208001", StatusCode::BAD_REQUEST),
    (ErrorKind::PinBlocked, "208002", StatusCode::BAD_REQUEST),
    (ErrorKind::PinCancelled, "208003", StatusCode::BAD_REQUEST),
    (ErrorKind::CardRemoved, "202001", StatusCode::GONE),
    (ErrorKind::CardReset, "202002", StatusCode::CONFLICT),
    (ErrorKind::CardStatus, "202010", StatusCode::UNPROCESSABLE_ENTITY),
    (ErrorKind::CardTimeout, "201408", StatusCode::GATEWAY_TIMEOUT),
    (ErrorKind::ReaderTransport, "201010", StatusCode::BAD_GATEWAY),
    (ErrorKind::UnknownReader, "701404", StatusCode::NOT_FOUND),
    (ErrorKind::NoCard, "702404", StatusCode::NOT_FOUND),
    (ErrorKind::ReaderBusy, "701429", StatusCode::TOO_MANY_REQUESTS),
    (ErrorKind::ReaderServiceUnavailable, "701503", StatusCode::SERVICE_UNAVAILABLE),
    (ErrorKind::UnknownModule, "111404", StatusCode::NOT_FOUND),
    (ErrorKind::NotSupported, "211005", StatusCode::NOT_IMPLEMENTED),
    (ErrorKind::ModuleInput, "206001", StatusCode::BAD_REQUEST),
    (ErrorKind::ModuleFailed, "211999", StatusCode::INTERNAL_SERVER_ERROR),
    (ErrorKind::ModuleDeadline, "211408", StatusCode::GATEWAY_TIMEOUT),
    (ErrorKind::ModuleBusy, "211503", StatusCode::SERVICE_UNAVAILABLE),
    (ErrorKind::BundleRefused, "111400", StatusCode::BAD_REQUEST),
    (ErrorKind::ModuleVersionConflict, "111409", StatusCode::CONFLICT),
    (ErrorKind::ModuleStore, "111500", StatusCode::INTERNAL_SERVER_ERROR),
    (ErrorKind::UpgradeRequired, "113426", StatusCode::FORBIDDEN),
    (ErrorKind::DsUnreachable, "113503", StatusCode::SERVICE_UNAVAILABLE),
];

/// Kinds of failure, each with one row in [`ERROR_TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such route or resource.
    NotFound,
    /// Missing, invalid or expired JWT.
    Unauthorized,
    /// The origin is not allowed.
    Forbidden,
    /// The request is malformed.
    BadRequest,
    /// The body is over the route's limit.
    PayloadTooLarge,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The request took longer than allowed.
    Timeout,
    /// Too many connections; try again.
    Busy,
    /// A connector bug.
    Internal,
    /// An encrypted PIN does not decrypt with the device key.
    PinDecryption,
    /// Wrong PIN (the description says how many tries are left).
    PinWrong,
    /// The PIN is blocked.
    PinBlocked,
    /// PIN entry was cancelled.
    PinCancelled,
    /// The card was removed during the operation.
    CardRemoved,
    /// The card was reset by another application.
    CardReset,
    /// The card answered an unexpected status word.
    CardStatus,
    /// The card or reader did not answer in time.
    CardTimeout,
    /// The reader or PC/SC service failed.
    ReaderTransport,
    /// No reader with that id.
    UnknownReader,
    /// No card in the reader.
    NoCard,
    /// Too many operations waiting for the reader.
    ReaderBusy,
    /// The PC/SC service is not running.
    ReaderServiceUnavailable,
    /// No module with that name.
    UnknownModule,
    /// The module or card does not support the operation.
    NotSupported,
    /// The module found the request invalid.
    ModuleInput,
    /// The module failed or crashed.
    ModuleFailed,
    /// The module did not finish in time.
    ModuleDeadline,
    /// No module instance is free.
    ModuleBusy,
    /// A module bundle was refused (admin API): signature, signer, format, contract,
    /// capabilities or component.
    BundleRefused,
    /// A module install conflicts with the installed version (downgrade, pinned, version
    /// reused) (admin API).
    ModuleVersionConflict,
    /// The module install state could not be read or written (admin API).
    ModuleStore,
    /// The Distribution Service requires a newer connector: module calls are refused until
    /// the upgrade (the description has the download link).
    UpgradeRequired,
    /// The Distribution Service could not be reached for too many syncs in a row: module calls
    /// are refused until a sync succeeds.
    DsUnreachable,
}

impl ApiError {
    /// An error of `kind` with a description.
    pub fn new(kind: ErrorKind, description: impl Into<String>) -> Self {
        let (code, status) = ERROR_TABLE
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, code, status)| (*code, *status))
            .unwrap_or(("106999", StatusCode::INTERNAL_SERVER_ERROR));
        Self { status, code, description: description.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The T1C code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// Every error: `{success: false, code, description}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// Six-digit T1C code.
    pub code: String,
    /// For developers; never holds a PIN.
    pub description: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { success: false, code: self.code.to_owned(), description: self.description };
        (self.status, Json(body)).into_response()
    }
}

/// A reader failure: the description is the reader's reason.
impl From<ReaderError> for ApiError {
    fn from(err: ReaderError) -> Self {
        let kind = match &err {
            ReaderError::UnknownReader(_) => ErrorKind::UnknownReader,
            ReaderError::NoCard(_) => ErrorKind::NoCard,
            ReaderError::CardRemoved => ErrorKind::CardRemoved,
            ReaderError::CardReset => ErrorKind::CardReset,
            ReaderError::QueueFull { .. }
            | ReaderError::QueueTimeout { .. }
            | ReaderError::SharingViolation => ErrorKind::ReaderBusy,
            ReaderError::ServiceUnavailable(_) | ReaderError::ReaderUnavailable => {
                ErrorKind::ReaderServiceUnavailable
            }
            ReaderError::Timeout => ErrorKind::CardTimeout,
            _ => ErrorKind::ReaderTransport,
        };
        ApiError::new(kind, err.to_string())
    }
}

/// A failure to open a PKCS#11 token slot. A failing library's reason goes to the log, not to
/// the page.
impl From<Pkcs11Error> for ApiError {
    fn from(err: Pkcs11Error) -> Self {
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
}

/// A module call failure. Descriptions come from typed errors that never hold a PIN; a crash's
/// details go to the log.
impl From<CallError> for ApiError {
    fn from(err: CallError) -> Self {
        let (kind, description) = match &err {
            CallError::Module { error, .. } => (module_error_kind(error), error.to_string()),
            CallError::NotInContract { .. } => (ErrorKind::NotSupported, err.to_string()),
            CallError::DeadlineExceeded { .. } => (ErrorKind::ModuleDeadline, err.to_string()),
            CallError::Busy { .. } => (ErrorKind::ModuleBusy, err.to_string()),
            _ => {
                tracing::warn!("module call failed: {err}");
                (ErrorKind::ModuleFailed, "the module failed; see the connector's log".to_owned())
            }
        };
        ApiError::new(kind, description)
    }
}

/// An installer failure (admin API): the description is the installer's reason.
impl From<&InstallError> for ApiError {
    fn from(err: &InstallError) -> Self {
        let kind = match err {
            InstallError::Downgrade { .. }
            | InstallError::Pinned { .. }
            | InstallError::VersionReused { .. } => ErrorKind::ModuleVersionConflict,
            InstallError::NotInstalled(_) | InstallError::NoPrevious(_) => ErrorKind::UnknownModule,
            InstallError::Store(_) => ErrorKind::ModuleStore,
            _ => ErrorKind::BundleRefused,
        };
        ApiError::new(kind, err.to_string())
    }
}

/// A PIN that does not decrypt with the device key; the key's other failures are the
/// connector's (logged).
impl From<DeviceKeyError> for ApiError {
    fn from(err: DeviceKeyError) -> Self {
        if let DeviceKeyError::PinDecryption = err {
            return ApiError::new(
                ErrorKind::PinDecryption,
                "the PIN could not be decrypted with the device key",
            );
        }
        tracing::error!("device key: {err}");
        ApiError::new(ErrorKind::Internal, "the device key failed")
    }
}

/// A refused token: one answer whatever the reason (the guard logs it).
impl From<&JwtError> for ApiError {
    fn from(_: &JwtError) -> Self {
        ApiError::new(ErrorKind::Unauthorized, "Unauthorized to do this action")
    }
}

impl ApiError {
    /// The error that replaces one of axum's own plain-text rejections (a malformed query, an
    /// over-limit body, a wrong method) with status `status`.
    pub(super) fn rejection(status: StatusCode) -> Self {
        let (kind, description) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                (ErrorKind::PayloadTooLarge, "the request body is over the limit")
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                (ErrorKind::MethodNotAllowed, "method not allowed on this route")
            }
            StatusCode::NOT_FOUND => (ErrorKind::NotFound, "Functionality not found"),
            status if status.is_client_error() => {
                (ErrorKind::BadRequest, "malformed request (query, path or body)")
            }
            _ => (ErrorKind::Internal, "internal error"),
        };
        ApiError::new(kind, description)
    }
}

/// The kind of a typed module error (the contract's `card-error` and `module-error`).
fn module_error_kind(error: &t1c_sdk::Error) -> ErrorKind {
    use t1c_sdk::Error as E;
    match error {
        E::CardRemoved => ErrorKind::CardRemoved,
        E::CardReset => ErrorKind::CardReset,
        E::Timeout => ErrorKind::CardTimeout,
        E::Transport(_) => ErrorKind::ReaderTransport,
        E::PinWrong(_) => ErrorKind::PinWrong,
        E::PinBlocked => ErrorKind::PinBlocked,
        E::PinCancelled => ErrorKind::PinCancelled,
        E::NotSupported(_) => ErrorKind::NotSupported,
        E::StatusWord(_) => ErrorKind::CardStatus,
        E::InvalidInput(_) => ErrorKind::ModuleInput,
        _ => ErrorKind::ModuleFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row_with_a_six_digit_code() {
        for (i, (kind, code, _)) in ERROR_TABLE.iter().enumerate() {
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
            assert!(ERROR_TABLE[..i].iter().all(|(k, c, _)| k != kind && c != code));
        }
    }

    #[test]
    fn unauthorized_is_104025_and_401() {
        let err = ApiError::new(ErrorKind::Unauthorized, "no token");
        assert_eq!((err.code(), err.status()), ("104025", StatusCode::UNAUTHORIZED));
    }
}
