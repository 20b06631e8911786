//! Installer downloads (T1C paths): for the browser asking (platform from the User-Agent and
//! client hints), for a platform's latest version, or for a platform and version. Streamed by
//! [`crate::installers::serve`] with Content-Length, ETag and Range.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use t1c_ds_protocol::platform::Os;

use super::AppState;
use super::error::{ApiError, ErrorKind};
use crate::catalog;
use crate::installers::{self, InstallerSource};
use crate::store::{StoreError, Version};

/// The client hints that tell Apple silicon and 32-bit Windows apart; browsers send them once
/// asked.
const CLIENT_HINTS: &str = "Sec-CH-UA-Arch, Sec-CH-UA-Bitness, Sec-CH-UA-Platform";

/// `GET /v3_5/downloads/installer`: the latest installer for the caller's platform.
#[utoipa::path(get, path = "/v3_5/downloads/installer", tag = "downloads",
    params(("User-Agent" = Option<String>, Header, description = "The browser's User-Agent")),
    responses((status = 200, description = "The installer", content_type = "application/octet-stream"),
        (status = 404, description = "No installer for this platform", body = super::error::ErrorBody)))]
pub async fn for_browser(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(os) = installers::os_from_request(&headers) else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            "cannot tell the platform from this browser; use /v3_5/downloads/installers/{os} with one of win32, win64, unix, macos, macosarm",
        ));
    };
    let mut response = latest(&state, os, &headers).await?;
    response.headers_mut().insert("accept-ch", HeaderValue::from_static(CLIENT_HINTS));
    response.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("User-Agent, Sec-CH-UA-Arch, Sec-CH-UA-Bitness"),
    );
    Ok(response)
}

/// `GET /v3_5/downloads/installers/{os}`: the latest version's installer for `os`.
#[utoipa::path(get, path = "/v3_5/downloads/installers/{os}", tag = "downloads",
    params(("os" = crate::api::schema::PlatformName, Path, description = "win32, win64, unix, macos or macosarm")),
    responses((status = 200, description = "The installer", content_type = "application/octet-stream"),
        (status = 206, description = "A range of it", content_type = "application/octet-stream"),
        (status = 400, description = "Unknown platform", body = super::error::ErrorBody),
        (status = 404, description = "No installer", body = super::error::ErrorBody)))]
pub async fn latest_for(
    State(state): State<AppState>,
    Path(os): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let os = parse_os(&os)?;
    latest(&state, os, &headers).await
}

/// `GET /v3_5/downloads/installers/{os}/versions/{version}`: one version's installer.
#[utoipa::path(get, path = "/v3_5/downloads/installers/{os}/versions/{version}", tag = "downloads",
    params(("os" = crate::api::schema::PlatformName, Path, description = "win32, win64, unix, macos or macosarm"), ("version" = String, Path)),
    responses((status = 200, description = "The installer", content_type = "application/octet-stream"),
        (status = 206, description = "A range of it", content_type = "application/octet-stream"),
        (status = 400, description = "Unknown platform", body = super::error::ErrorBody),
        (status = 404, description = "No installer", body = super::error::ErrorBody)))]
pub async fn version_for(
    State(state): State<AppState>,
    Path((os, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let os = parse_os(&os)?;
    let version = match state.store.version(&version).await {
        Ok(version) => version,
        Err(StoreError::NotFound) => return Err(ApiError::not_found("version")),
        Err(err) => return Err(err.into()),
    };
    serve(&state, &version, os, &headers).await
}

fn parse_os(text: &str) -> Result<Os, ApiError> {
    text.parse().map_err(|e: t1c_ds_protocol::platform::UnknownOs| {
        ApiError::new(ErrorKind::BadRequest, e.to_string())
    })
}

async fn latest(state: &AppState, os: Os, headers: &HeaderMap) -> Result<Response, ApiError> {
    let versions = state.store.versions().await?;
    let version = catalog::latest(&versions).ok_or_else(|| ApiError::not_found("version"))?;
    serve(state, version, os, headers).await
}

async fn serve(
    state: &AppState,
    version: &Version,
    os: Os,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let installer = version.installers.iter().find(|i| i.os == os).ok_or_else(|| {
        ApiError::not_found(&format!("installer for {os} of version {}", version.id))
    })?;
    let source = InstallerSource::parse(&installer.source)?;
    let name = format!("t1c-{}-{os}{}", version.id, extension(&installer.source));
    Ok(installers::serve(&source, &state.installers_dir, headers, &state.http, &name).await?)
}

/// The file extension of the stored source (`.msi`, `.pkg`, `.deb`, ...), if it has one.
fn extension(source: &str) -> String {
    let last = source.rsplit('/').next().unwrap_or_default();
    let last = last.split(['?', '#']).next().unwrap_or_default();
    match last.rsplit_once('.') {
        Some((_, ext))
            if !ext.is_empty()
                && ext.len() <= 8
                && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!(".{ext}")
        }
        _ => String::new(),
    }
}
