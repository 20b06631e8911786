//! The error half of the API envelope: every failure becomes `{success: false, code,
//! description}` with a six-digit T1C code and an HTTP status, from one table.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "code": self.code, "description": self.description });
        (self.status, Json(body)).into_response()
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
