//! Installer downloads over HTTPS: from the installers directory (whole, ranges, revalidation),
//! chosen for a browser, proxied from an upstream server, and the refusals (unknown platform,
//! missing installer, failing upstream, a symlink out of the installers directory).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use t1c_ds::installers::{self, InstallerSource};
use t1c_testkit::ds::{DsBackend, TestDs};

const WIN64_FILE: &str = "3.8.2/t1c-3.8.2-x64.msi";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";

/// `len` bytes that differ per `seed` and per position.
fn bytes(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// An upstream server for URL sources: `/files/{name}` serves from `root` (with ranges, by the
/// DS's own file serving), `/broken` always answers 500.
struct Upstream {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start(root: PathBuf) -> Upstream {
        async fn file(
            State(root): State<Arc<PathBuf>>,
            UrlPath(name): UrlPath<String>,
            headers: HeaderMap,
        ) -> Response {
            let source = InstallerSource::File(PathBuf::from(name));
            match installers::serve(&source, &root, &headers, &reqwest::Client::new(), "x").await {
                Ok(response) => response,
                Err(err) => err.status().into_response(),
            }
        }
        let app = axum::Router::new()
            .route("/files/{name}", get(file))
            .route("/broken", get(|| async { (AxumStatus::INTERNAL_SERVER_ERROR, "boom") }))
            .with_state(Arc::new(root));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { url, server }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A DS whose installers directory holds a 1 MiB win64 installer, an upstream with a macOS
/// installer, and versions:
/// - 3.8.2 (latest): win64 from the directory, macosarm and unix from the upstream;
/// - 3.8.1: unix from an upstream that fails, no win64;
/// - 3.8.0: win64 through a symlink in the installers directory pointing at `/etc/passwd`.
struct World {
    ds: TestDs,
    win64: Vec<u8>,
    mac: Vec<u8>,
    _upstream: Upstream,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn world() -> World {
    let installers = tempfile::tempdir().expect("tempdir");
    let win64 = bytes(1 << 20, 1);
    let path = installers.path().join(WIN64_FILE);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, &win64).expect("write");
    std::os::unix::fs::symlink("/etc/passwd", installers.path().join("escape.msi"))
        .expect("symlink");

    let upstream_root = tempfile::tempdir().expect("tempdir");
    let mac = bytes(300_000, 2);
    std::fs::write(upstream_root.path().join("t1c-arm.pkg"), &mac).expect("write");
    let upstream = Upstream::start(upstream_root.path().to_owned()).await;

    let dir = installers.path().to_owned();
    let ds = TestDs::start_with(DsBackend::Sqlite, move |config| config.installers.dir = Some(dir))
        .await
        .expect("DS starts");
    let admin = ds.admin_token().await;
    let pkg = format!("{}/files/t1c-arm.pkg", upstream.url);
    for version in [
        json!({"id": "3.8.2", "recommended": true, "uris": [
            {"os": "win64", "uri": WIN64_FILE},
            {"os": "macosarm", "uri": pkg},
            {"os": "unix", "uri": pkg},
        ]}),
        json!({"id": "3.8.1", "uris": [{"os": "unix", "uri": format!("{}/broken", upstream.url)}]}),
        json!({"id": "3.8.0", "uris": [{"os": "win64", "uri": "escape.msi"}]}),
    ] {
        let (status, body) =
            ds.call(Method::PUT, "/v3_5/versions", Some(&admin), Some(version)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    World { ds, win64, mac, _upstream: upstream, _dirs: (installers, upstream_root) }
}

impl World {
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.ds.client().get(format!("{}{path}", self.ds.url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn stop(self) {
        self.ds.stop().await;
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name}"))
        .to_owned()
}

async fn assert_envelope(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON envelope");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    body
}

#[tokio::test]
async fn latest_installer_is_sent_whole_with_length_and_etag() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installers/win64", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-length"), (1u64 << 20).to_string());
    assert_eq!(header(&response, "accept-ranges"), "bytes");
    let etag = header(&response, "etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(header(&response, "content-disposition").contains("t1c-3.8.2-win64.msi"));
    assert_eq!(response.bytes().await.expect("body"), world.win64);
    world.stop().await;
}

#[tokio::test]
async fn a_range_gets_206_with_exactly_its_bytes() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installers/win64", &[("range", "bytes=0-99")]).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&response, "content-range"), format!("bytes 0-99/{}", 1 << 20));
    assert_eq!(header(&response, "content-length"), "100");
    assert_eq!(response.bytes().await.expect("body"), world.win64[..100]);

    let response =
        world.get("/v3_5/downloads/installers/win64", &[("range", "bytes=1048000-")]).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.expect("body"), world.win64[1_048_000..]);
    world.stop().await;
}

#[tokio::test]
async fn if_none_match_with_the_etag_is_304() {
    let world = world().await;
    let etag = header(&world.get("/v3_5/downloads/installers/win64", &[]).await, "etag");
    let response = world.get("/v3_5/downloads/installers/win64", &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&response, "etag"), etag);
    assert!(response.bytes().await.expect("body").is_empty());
    world.stop().await;
}

#[tokio::test]
async fn a_named_version_is_downloadable() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installers/win64/versions/3.8.2", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body"), world.win64);
    let response = world.get("/v3_5/downloads/installers/win64/versions/9.9.9", &[]).await;
    assert_envelope(response, StatusCode::NOT_FOUND, "112999").await;
    world.stop().await;
}

#[tokio::test]
async fn the_browser_gets_the_installer_of_its_platform() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installer", &[("user-agent", CHROME_WINDOWS)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "accept-ch").contains("Sec-CH-UA-Arch"));
    assert_eq!(response.bytes().await.expect("body"), world.win64);

    let apple_silicon = [
        ("user-agent", CHROME_MAC),
        ("sec-ch-ua-platform", "\"macOS\""),
        ("sec-ch-ua-arch", "\"arm\""),
    ];
    let response = world.get("/v3_5/downloads/installer", &apple_silicon).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-disposition").contains("macosarm"));
    assert_eq!(response.bytes().await.expect("body"), world.mac);
    world.stop().await;
}

#[tokio::test]
async fn a_phone_gets_a_404_envelope() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installer", &[("user-agent", CHROME_ANDROID)]).await;
    assert_envelope(response, StatusCode::NOT_FOUND, "112999").await;
    world.stop().await;
}

#[tokio::test]
async fn an_unknown_platform_is_400() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installers/beos", &[]).await;
    assert_envelope(response, StatusCode::BAD_REQUEST, "106997").await;
    world.stop().await;
}

#[tokio::test]
async fn a_version_without_an_installer_for_the_platform_is_404() {
    let world = world().await;
    for path in [
        "/v3_5/downloads/installers/win32",
        "/v3_5/downloads/installers/win64/versions/3.8.1",
        "/v3_5/downloads/installers/macos/versions/3.8.2",
    ] {
        let response = world.get(path, &[]).await;
        assert_envelope(response, StatusCode::NOT_FOUND, "112999").await;
    }
    world.stop().await;
}

#[tokio::test]
async fn a_url_source_is_proxied_whole_and_in_ranges() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installers/macosarm", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-length"), world.mac.len().to_string());
    assert_eq!(response.bytes().await.expect("body"), world.mac);

    let response = world.get("/v3_5/downloads/installers/unix", &[("range", "bytes=10-19")]).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&response, "content-range"), format!("bytes 10-19/{}", world.mac.len()));
    assert_eq!(response.bytes().await.expect("body"), world.mac[10..20]);
    world.stop().await;
}

#[tokio::test]
async fn a_failing_upstream_is_502() {
    let world = world().await;
    let response = world.get("/v3_5/downloads/installers/unix/versions/3.8.1", &[]).await;
    let body = assert_envelope(response, StatusCode::BAD_GATEWAY, "112502").await;
    assert!(!body.to_string().contains("127.0.0.1"), "the upstream URL stays private: {body}");
    world.stop().await;
}

#[tokio::test]
async fn a_symlink_out_of_the_installers_directory_is_404_never_the_file() {
    let world = world().await;
    let passwd = std::fs::read(Path::new("/etc/passwd")).expect("/etc/passwd");
    for range in [None, Some("bytes=0-9")] {
        let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
        let response = world.get("/v3_5/downloads/installers/win64/versions/3.8.0", &headers).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = response.bytes().await.expect("body");
        assert!(!body.is_empty());
        assert!(!passwd.starts_with(&body[..]) && !body.windows(5).any(|w| w == b"root:"));
        let body: Value = serde_json::from_slice(&body).expect("a JSON envelope");
        assert_eq!(body["code"], "112999", "{body}");
    }
    world.stop().await;
}
