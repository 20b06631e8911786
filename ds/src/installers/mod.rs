//! Installers: choosing one for a browser and streaming it.
//!
//! Owns the download side of `/v3_5/downloads/installer[s/{os}[/versions/{version}]]`: which
//! platform a browser runs ([`os_from_request`]), what an operator may register as an
//! installer's source ([`InstallerSource`]), and sending the bytes ([`serve`]) with
//! `Content-Length`, a strong `ETag`, `Range` and `If-None-Match`, streamed from disk or from
//! an upstream https server without ever holding a whole installer in memory.
//!
//! It does not own routing, the version catalogue or which source is registered for which
//! version and platform: the API layer looks those up and calls [`serve`].

mod file;
mod proxy;
mod source;
mod user_agent;

use std::path::Path;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

pub use source::{InstallerSource, InvalidSource, MAX_SOURCE_LEN, resolve};
pub use user_agent::os_from_request;

/// Why an installer could not be registered or served.
///
/// The `Display` text is safe to show a client: it names no file system path or upstream URL
/// (those go to the log through `tracing::warn!`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallerError {
    /// The source text was refused when parsed.
    #[error("invalid installer source: {0}")]
    Invalid(#[from] InvalidSource),
    /// The installer file does not exist (or is not a regular file).
    #[error("installer not found")]
    NotFound,
    /// The installer file resolves outside the installers directory (`..`, an absolute path,
    /// or a symlink pointing out); refused.
    #[error("installer not found")]
    OutsideRoot,
    /// The upstream server could not be reached or did not answer with 200, 206, 304 or 416.
    #[error("the installer's upstream server failed: {0}")]
    Upstream(String),
    /// Reading the installer file failed.
    #[error("reading the installer failed: {0}")]
    Io(#[from] std::io::Error),
}

impl InstallerError {
    /// The HTTP status to answer with: 400 for an invalid source, 404 for a missing file or one
    /// outside the installers directory, 502 for an upstream failure, 500 for I/O errors.
    pub fn status(&self) -> StatusCode {
        match self {
            InstallerError::Invalid(_) => StatusCode::BAD_REQUEST,
            InstallerError::NotFound | InstallerError::OutsideRoot => StatusCode::NOT_FOUND,
            InstallerError::Upstream(_) => StatusCode::BAD_GATEWAY,
            InstallerError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Answers a download request for the installer at `source`.
///
/// A [`InstallerSource::File`] is read under `root` (the installers directory) and streamed
/// with `Content-Length`, `Accept-Ranges: bytes`, a strong `ETag`, `Last-Modified`,
/// `Content-Type: application/octet-stream` and `Content-Disposition: attachment` naming
/// `download_name` (reduced to safe characters). `If-None-Match` gives 304; a single
/// `Range` gives 206 (or 416 when unsatisfiable); `If-Range` with another validator, a
/// malformed `Range` or several ranges give the whole file with 200, as RFC 9110 allows.
///
/// A [`InstallerSource::Url`] is fetched with `http`, forwarding the request's `Range`,
/// `If-Range` and `If-None-Match`; a 200, 206, 304 or 416 is passed back with its
/// `Content-Length`, `Content-Range`, `ETag`, `Last-Modified` and `Accept-Ranges`, the body
/// streamed through.
///
/// `request` is the client's request headers. Errors that happen after the response has
/// started (a read or upstream failure mid-body) end the body early.
///
/// # Errors
///
/// [`InstallerError::NotFound`] or [`InstallerError::OutsideRoot`] for a missing or escaping
/// file, [`InstallerError::Upstream`] for a connection failure or any other upstream status,
/// [`InstallerError::Io`] when the file cannot be read. [`InstallerError::status`] maps them.
pub async fn serve(
    source: &InstallerSource,
    root: &Path,
    request: &HeaderMap,
    http: &reqwest::Client,
    download_name: &str,
) -> Result<Response, InstallerError> {
    match source {
        InstallerSource::File(relative) => {
            file::serve(root, relative, request, download_name).await
        }
        InstallerSource::Url(url) => proxy::serve(url, request, http, download_name).await,
    }
}

/// `attachment; filename="…"` with the name reduced to characters that need no quoting or
/// encoding anywhere, so a name cannot break out of the header or name a path.
fn content_disposition(download_name: &str) -> axum::http::HeaderValue {
    let mut name: String =
        download_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                    c
                } else {
                    '_'
                }
            })
            .take(128)
            .collect();
    let trimmed = name.trim_start_matches('.');
    if trimmed.is_empty() {
        name = "installer".to_owned();
    } else if trimmed.len() != name.len() {
        name = trimmed.to_owned();
    }
    axum::http::HeaderValue::try_from(format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_reduced_to_safe_characters() {
        let cases = [
            ("t1c-3.8.2-x64.msi", "attachment; filename=\"t1c-3.8.2-x64.msi\""),
            ("a\"b\r\nX: y.pkg", "attachment; filename=\"a_b__X__y.pkg\""),
            ("../../etc/passwd", "attachment; filename=\"_.._etc_passwd\""),
            ("", "attachment; filename=\"installer\""),
            ("...", "attachment; filename=\"installer\""),
            ("été.dmg", "attachment; filename=\"_t_.dmg\""),
        ];
        for (name, expected) in cases {
            assert_eq!(content_disposition(name), expected, "{name:?}");
        }
    }

    #[test]
    fn errors_map_to_statuses() {
        assert_eq!(InstallerError::Invalid(InvalidSource::Empty).status(), StatusCode::BAD_REQUEST);
        assert_eq!(InstallerError::NotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(InstallerError::OutsideRoot.status(), StatusCode::NOT_FOUND);
        assert_eq!(InstallerError::Upstream("x".into()).status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            InstallerError::Io(std::io::Error::other("x")).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
