//! The dashboard's scripts and styles, embedded in the binary at build time (`build.rs` puts
//! them in `OUT_DIR`). Each is served under a name carrying its digest, so it is cached for
//! good (`immutable`) and a new build changes its URL; `If-None-Match` answers 304.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One of the embedded files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Asset {
    /// Chart.js (its UMD build, from npm).
    Charts,
    /// The dashboard's own script: charts from the data tables, table filters, confirmations.
    Script,
    /// The dashboard's style sheet.
    Style,
}

struct Embedded {
    asset: Asset,
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const EMBEDDED: [Embedded; 3] = [
    Embedded {
        asset: Asset::Charts,
        stem: "chart",
        extension: "js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/chart.umd.min.js")),
    },
    Embedded {
        asset: Asset::Script,
        stem: "dashboard",
        extension: "js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/dashboard.js")),
    },
    Embedded {
        asset: Asset::Style,
        stem: "dashboard",
        extension: "css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/dashboard.css")),
    },
];

/// An embedded file with its digest-bearing name.
struct Served {
    asset: Asset,
    file: String,
    etag: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    EMBEDDED
        .iter()
        .map(|e| {
            let digest = hex::encode(&Sha256::digest(e.bytes)[..8]);
            Served {
                asset: e.asset,
                file: format!("{}-{digest}.{}", e.stem, e.extension),
                etag: format!("\"{digest}\""),
                content_type: e.content_type,
                bytes: e.bytes,
            }
        })
        .collect()
});

/// The URL path of `asset` (with its digest).
pub fn url(asset: Asset) -> String {
    let file = SERVED.iter().find(|s| s.asset == asset).map_or("", |s| s.file.as_str());
    format!("/dashboard/assets/{file}")
}

/// `GET /dashboard/assets/{file}`: an embedded file, cached for good.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(served) = SERVED.iter().find(|s| s.file == file) else {
        return super::page::not_found().await.into_response();
    };
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let etag = HeaderValue::from_str(&served.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == served.etag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache)])
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(served.content_type)),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
        ],
        served.bytes,
    )
        .into_response()
}
