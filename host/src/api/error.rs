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
pub const ERROR_TABLE: &[(ErrorKind, &str, StatusCode)] = &[
    (ErrorKind::NotFound, "112999", StatusCode::NOT_FOUND),
    (ErrorKind::Unauthorized, "104025", StatusCode::UNAUTHORIZED),
    (ErrorKind::Forbidden, "104030", StatusCode::FORBIDDEN),
    (ErrorKind::BadRequest, "106997", StatusCode::BAD_REQUEST),
    (ErrorKind::PayloadTooLarge, "106413", StatusCode::PAYLOAD_TOO_LARGE),
    (ErrorKind::Timeout, "106408", StatusCode::REQUEST_TIMEOUT),
    (ErrorKind::Busy, "106503", StatusCode::SERVICE_UNAVAILABLE),
    (ErrorKind::Internal, "106999", StatusCode::INTERNAL_SERVER_ERROR),
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
    /// The request took longer than allowed.
    Timeout,
    /// Too much work in flight; try again.
    Busy,
    /// A connector bug.
    Internal,
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
