//! The error half of the envelope: every failure becomes `{success: false, code, description}`
//! with a T1C-style six-digit code and an HTTP status, from one table. The `From` impls after
//! the table are the one place other concerns' failures become API errors.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::catalog::Invalid;
use crate::installers::InstallerError;
use crate::store::StoreError;
use crate::tokens::TokenError;

/// What went wrong, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Malformed input.
    BadRequest,
    /// Missing, wrong, revoked or expired credentials (one answer whatever the reason).
    Unauthorized,
    /// Authenticated, but the role does not allow it.
    Forbidden,
    /// No such object (or one the caller may not see).
    NotFound,
    /// A name or key is taken, or a rule refuses the change.
    Conflict,
    /// The body is too large.
    PayloadTooLarge,
    /// The body is not of the media type the route takes.
    UnsupportedMediaType,
    /// An uploaded bundle a connector would refuse (the description is the connector's reason).
    BundleRefused,
    /// Wrong method.
    MethodNotAllowed,
    /// Too many requests; retry later.
    TooManyRequests,
    /// The request took too long.
    Timeout,
    /// A dependency (database, identity provider) is unavailable.
    Unavailable,
    /// An upstream installer server failed.
    BadGateway,
    /// A bug or an unexpected failure.
    Internal,
}

/// The table: (kind, code, status).
pub const ERROR_TABLE: &[(ErrorKind, &str, StatusCode)] = &[
    (ErrorKind::BadRequest, "106997", StatusCode::BAD_REQUEST),
    (ErrorKind::Unauthorized, "104025", StatusCode::UNAUTHORIZED),
    (ErrorKind::Forbidden, "104030", StatusCode::FORBIDDEN),
    (ErrorKind::NotFound, "112999", StatusCode::NOT_FOUND),
    (ErrorKind::Conflict, "106409", StatusCode::CONFLICT),
    (ErrorKind::PayloadTooLarge, "106413", StatusCode::PAYLOAD_TOO_LARGE),
    (ErrorKind::UnsupportedMediaType, "106415", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    (ErrorKind::BundleRefused, "106422", StatusCode::UNPROCESSABLE_ENTITY),
    (ErrorKind::MethodNotAllowed, "106405", StatusCode::METHOD_NOT_ALLOWED),
    (ErrorKind::TooManyRequests, "104429", StatusCode::TOO_MANY_REQUESTS),
    (ErrorKind::Timeout, "106408", StatusCode::REQUEST_TIMEOUT),
    (ErrorKind::Unavailable, "112503", StatusCode::SERVICE_UNAVAILABLE),
    (ErrorKind::BadGateway, "112502", StatusCode::BAD_GATEWAY),
    (ErrorKind::Internal, "106999", StatusCode::INTERNAL_SERVER_ERROR),
];

/// An API failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    kind: ErrorKind,
    description: String,
    retry_after: Option<u64>,
}

/// Every error's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// Six-digit code.
    pub code: String,
    /// For developers and operators; never holds a secret.
    pub description: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, description: impl Into<String>) -> Self {
        Self { kind, description: description.into(), retry_after: None }
    }

    /// The one answer to any credential failure.
    pub fn unauthorized() -> Self {
        Self::new(ErrorKind::Unauthorized, "missing, invalid or expired credentials")
    }

    /// A 404 that says nothing about whether the object exists elsewhere.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    /// A 403 for a role that may not do this.
    pub fn forbidden() -> Self {
        Self::new(ErrorKind::Forbidden, "your role does not allow this")
    }

    /// A 429 with `Retry-After`.
    pub fn too_many(retry_after: u64) -> Self {
        Self {
            kind: ErrorKind::TooManyRequests,
            description: "too many requests; retry later".into(),
            retry_after: Some(retry_after.max(1)),
        }
    }

    /// A 500 whose cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(ErrorKind::Internal, "internal error")
    }

    /// The error for an axum rejection of `status` (malformed query, wrong method, ...).
    pub fn rejection(status: StatusCode, text: &str) -> Self {
        let kind = ERROR_TABLE
            .iter()
            .find(|(_, _, s)| *s == status)
            .map_or(ErrorKind::BadRequest, |(kind, _, _)| *kind);
        let description = if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            text.chars().take(300).collect()
        };
        Self::new(kind, description)
    }

    fn row(&self) -> (&'static str, StatusCode) {
        ERROR_TABLE
            .iter()
            .find(|(kind, _, _)| *kind == self.kind)
            .map_or(("106999", StatusCode::INTERNAL_SERVER_ERROR), |(_, code, status)| {
                (*code, *status)
            })
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.row().1
    }

    /// What went wrong, as the client is told (never a secret).
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.row();
        let body =
            ErrorBody { success: false, code: code.to_owned(), description: self.description };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::not_found("object"),
            StoreError::Conflict(what) => {
                Self::new(ErrorKind::Conflict, format!("{what} already exists"))
            }
            StoreError::Refused(why) => Self::new(ErrorKind::Conflict, why),
            StoreError::Database(why) => {
                tracing::error!("database: {why}");
                Self::new(ErrorKind::Unavailable, "the database is unavailable; retry later")
            }
            other => Self::internal(other),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(err: Invalid) -> Self {
        Self::new(ErrorKind::BadRequest, err.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Store(store) => store.into(),
            AuthError::Unavailable(why) => {
                tracing::warn!("identity provider: {why}");
                Self::new(
                    ErrorKind::Unavailable,
                    "the identity provider is unavailable; retry later",
                )
            }
            other => {
                tracing::info!("authentication refused: {other}");
                Self::unauthorized()
            }
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Store(store) => store.into(),
            TokenError::NoActiveKey => {
                Self::new(ErrorKind::Unavailable, "no signing key yet; retry shortly")
            }
            other => Self::internal(other),
        }
    }
}

impl From<InstallerError> for ApiError {
    fn from(err: InstallerError) -> Self {
        let kind = match err.status() {
            StatusCode::BAD_REQUEST => ErrorKind::BadRequest,
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::BAD_GATEWAY => ErrorKind::BadGateway,
            _ => return Self::internal(err),
        };
        Self::new(kind, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row_and_codes_are_unique() {
        let kinds = [
            ErrorKind::BadRequest,
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::PayloadTooLarge,
            ErrorKind::UnsupportedMediaType,
            ErrorKind::MethodNotAllowed,
            ErrorKind::TooManyRequests,
            ErrorKind::Timeout,
            ErrorKind::Unavailable,
            ErrorKind::BadGateway,
            ErrorKind::Internal,
        ];
        for kind in kinds {
            assert_eq!(ERROR_TABLE.iter().filter(|(k, _, _)| *k == kind).count(), 1, "{kind:?}");
        }
        let mut codes: Vec<_> = ERROR_TABLE.iter().map(|(_, c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ERROR_TABLE.len());
    }
}
