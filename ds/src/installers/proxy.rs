//! Serving an installer kept on another https server: the request's conditions go upstream,
//! the answer comes back streamed, never collected.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use reqwest::Url;

use super::file::unbuildable;
use super::{InstallerError, content_disposition};

/// Request headers passed upstream, so resuming and revalidation work end to end.
const FORWARDED: [HeaderName; 3] = [header::RANGE, header::IF_RANGE, header::IF_NONE_MATCH];

/// Response headers passed back. `Content-Encoding` too, in case the upstream compresses
/// despite our `identity`: the bytes then still arrive with their label.
const RETURNED: [HeaderName; 6] = [
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::ETAG,
    header::LAST_MODIFIED,
    header::ACCEPT_RANGES,
    header::CONTENT_ENCODING,
];

pub(super) async fn serve(
    url: &Url,
    request: &HeaderMap,
    http: &reqwest::Client,
    download_name: &str,
) -> Result<Response, InstallerError> {
    let mut upstream = http.get(url.clone()).header(header::ACCEPT_ENCODING, "identity");
    for name in &FORWARDED {
        for value in request.get_all(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.map_err(|error| {
        let error = error.without_url();
        tracing::warn!(url = %redacted(url), %error, "installer upstream unreachable");
        InstallerError::Upstream(describe(&error))
    })?;

    let status = answer.status();
    let passed = [
        StatusCode::OK,
        StatusCode::PARTIAL_CONTENT,
        StatusCode::NOT_MODIFIED,
        StatusCode::RANGE_NOT_SATISFIABLE,
    ];
    if !passed.contains(&status) {
        tracing::warn!(url = %redacted(url), %status, "installer upstream answered with an unexpected status");
        return Err(InstallerError::Upstream(format!("upstream answered {status}")));
    }

    let mut builder = Response::builder().status(status);
    for name in &RETURNED {
        for value in answer.headers().get_all(name) {
            builder = builder.header(name, value);
        }
    }
    let has_body = status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT;
    let body = if has_body {
        builder = builder
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_DISPOSITION, content_disposition(download_name))
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        Body::from_stream(answer.bytes_stream())
    } else {
        // A 304 has no body; a 416's would be the upstream's error page.
        Body::empty()
    };
    builder.body(body).map_err(unbuildable)
}

/// The error and its causes, for an error whose URL (which may carry a signed query) was
/// removed: "error sending request: client error (Connect): tcp connect error: …".
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The URL without its query and fragment, for the log: a signed download link carries its
/// token there.
fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::sync::Arc;

    use axum::Router;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use futures_util::StreamExt;

    use super::*;
    use crate::installers::{InstallerSource, serve as serve_source};

    /// An upstream on 127.0.0.1 that serves `installer.bin` with our own file path (so with
    /// ranges and validators) at `/installer.bin`, and fails at `/broken` and `/gone`.
    async fn upstream(bytes: &[u8]) -> (SocketAddr, tempfile::TempDir) {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("installer.bin"), bytes).expect("write");
        let dir: Arc<PathBuf> = Arc::new(root.path().to_owned());
        let router = Router::new()
            .route(
                "/installer.bin",
                get(move |headers: HeaderMap| {
                    let dir = Arc::clone(&dir);
                    async move {
                        let source = InstallerSource::File(PathBuf::from("installer.bin"));
                        let client = reqwest::Client::new();
                        match serve_source(&source, &dir, &headers, &client, "u.bin").await {
                            Ok(response) => response,
                            Err(error) => error.status().into_response(),
                        }
                    }
                }),
            )
            .route("/broken", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/gone", get(|| async { StatusCode::NOT_FOUND }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        (address, root)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().expect("client")
    }

    async fn proxy(url: &str, headers: &[(&str, &str)]) -> Result<Response, InstallerError> {
        let source = InstallerSource::parse(url).expect("loopback http");
        let mut request = HeaderMap::new();
        for (name, value) in headers {
            request.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        let nowhere = std::path::Path::new("/nonexistent");
        serve_source(&source, nowhere, &request, &client(), "t1c-3.8.2.pkg").await
    }

    fn head(response: &Response, name: HeaderName) -> &str {
        response
            .headers()
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name}"))
    }

    async fn body(response: Response) -> Vec<u8> {
        let mut stream = response.into_body().into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.expect("chunk"));
        }
        bytes
    }

    fn pattern(len: u32) -> Vec<u8> {
        (0..len).map(|i| (i % 253) as u8).collect()
    }

    #[tokio::test]
    async fn a_whole_installer_is_streamed_through_with_its_headers() {
        let bytes = pattern(300_000);
        let (address, _root) = upstream(&bytes).await;
        let response =
            proxy(&format!("http://{address}/installer.bin"), &[]).await.expect("proxied");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(head(&response, header::CONTENT_LENGTH), "300000");
        assert_eq!(head(&response, header::ACCEPT_RANGES), "bytes");
        assert!(head(&response, header::ETAG).starts_with('"'));
        assert!(head(&response, header::LAST_MODIFIED).ends_with("GMT"));
        assert_eq!(
            head(&response, header::CONTENT_DISPOSITION),
            "attachment; filename=\"t1c-3.8.2.pkg\""
        );
        assert_eq!(body(response).await, bytes);
    }

    #[tokio::test]
    async fn a_range_is_forwarded_and_206_passed_back() {
        let bytes = pattern(300_000);
        let (address, _root) = upstream(&bytes).await;
        let url = format!("http://{address}/installer.bin");
        let etag = head(&proxy(&url, &[]).await.expect("proxied"), header::ETAG).to_owned();

        let response = proxy(&url, &[("range", "bytes=1000-1999"), ("if-range", &etag)])
            .await
            .expect("proxied");
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(head(&response, header::CONTENT_RANGE), "bytes 1000-1999/300000");
        assert_eq!(head(&response, header::CONTENT_LENGTH), "1000");
        assert_eq!(body(response).await, bytes[1000..2000]);

        let response = proxy(&url, &[("range", "bytes=0-9"), ("if-range", "\"stale\"")])
            .await
            .expect("proxied");
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn if_none_match_is_forwarded_and_304_passed_back() {
        let (address, _root) = upstream(&pattern(10)).await;
        let url = format!("http://{address}/installer.bin");
        let etag = head(&proxy(&url, &[]).await.expect("proxied"), header::ETAG).to_owned();
        let response = proxy(&url, &[("if-none-match", &etag)]).await.expect("proxied");
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(head(&response, header::ETAG), etag);
        assert!(body(response).await.is_empty());
    }

    #[tokio::test]
    async fn an_unsatisfiable_range_is_416_with_the_length() {
        let (address, _root) = upstream(&pattern(10)).await;
        let response = proxy(&format!("http://{address}/installer.bin"), &[("range", "bytes=50-")])
            .await
            .expect("proxied");
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(head(&response, header::CONTENT_RANGE), "bytes */10");
    }

    #[tokio::test]
    async fn upstream_errors_are_upstream_failures() {
        let (address, _root) = upstream(&pattern(10)).await;
        for path in ["broken", "gone"] {
            let error = proxy(&format!("http://{address}/{path}"), &[]).await.unwrap_err();
            assert!(matches!(error, InstallerError::Upstream(_)), "{path}: {error:?}");
            assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
        }
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_an_upstream_failure_without_the_url() {
        // A port that was free a moment ago: nothing listens there now.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let url = format!("http://{address}/secret-token/installer.bin");
        let error = proxy(&url, &[]).await.unwrap_err();
        assert!(matches!(error, InstallerError::Upstream(_)), "{error:?}");
        assert!(!error.to_string().contains("secret-token"), "{error}");
    }
}
