//! The `fileexchange` module's routes (`/v3/modules/fileexchange/apps/file/...`) through the
//! connector's HTTPS API, with types mapped to real folders: every operation, the caller's
//! application as the only key to its types, and the bad input a page could send (traversal,
//! encoded and look-alike names, symbolic links out of the folder, oversized and malformed
//! forms), each refused in the T1C envelope with nothing written outside the folder and nothing
//! half-written inside it.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use t1c_host::counters::UseCase;
use t1c_host::files::TypeKey;
use t1c_testkit::desktop::{Dialog, Notifications, Portal, file_uri};
use t1c_testkit::multipart::Form;
use t1c_testkit::session_bus::SessionBus;
use t1c_testkit::{TestConnector, TestConnectorBuilder};

const APP: &str = "https://app.example.com";
const OTHER: &str = "https://other.example.com";
const BASE: &str = "/v3/modules/fileexchange/apps/file";
const ENTITY: &str = "acme";

/// A connector with the module, and two types of [`APP`] mapped to folders.
struct Exchange {
    connector: TestConnector,
    temp: tempfile::TempDir,
}

impl Exchange {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(edit: impl FnOnce(&mut t1c_host::config::Config)) -> Self {
        Self::start_from(TestConnector::builder().config(edit)).await
    }

    /// As [`start`](Self::start), on the desktop session of `bus` (the folder chooser and
    /// notifications).
    async fn start_on_bus(bus: &SessionBus) -> Self {
        Self::start_from(TestConnector::builder().session_bus(bus.address())).await
    }

    async fn start_from(builder: TestConnectorBuilder) -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        for folder in ["invoices", "archive", "outside"] {
            std::fs::create_dir(temp.path().join(folder)).expect("folder");
        }
        std::fs::write(temp.path().join("outside/secret.txt"), b"not for pages").expect("secret");
        let connector = builder.cors(&[APP, OTHER]).module("t1c-module-fileexchange").start().await;
        let exchange = Self { connector, temp };
        exchange.map(APP, "invoices");
        exchange.map(APP, "archive");
        exchange
    }

    fn folder(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    fn map(&self, application: &str, type_name: &str) {
        let key = TypeKey::new(application, ENTITY, type_name).expect("key");
        self.connector.connector().files().map(&key, &self.folder(type_name)).expect("mapped");
    }

    async fn post(&self, operation: &str, body: Value) -> (StatusCode, Value) {
        self.post_as(APP, operation, body).await
    }

    async fn post_as(&self, origin: &str, operation: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .connector
            .http()
            .post(self.connector.url(&format!("{BASE}/{operation}")))
            .header("origin", origin)
            .json(&body)
            .send()
            .await
            .expect("the connector answers");
        let status = response.status();
        (status, response.json().await.expect("a JSON envelope"))
    }

    /// `data` of a successful call.
    async fn ok(&self, operation: &str, body: Value) -> Value {
        let (status, envelope) = self.post(operation, body).await;
        assert_eq!(status, StatusCode::OK, "{operation}: {envelope}");
        assert_eq!(envelope["success"], true, "{operation}: {envelope}");
        envelope["data"].clone()
    }

    async fn download_as(&self, origin: &str, form: Form) -> (StatusCode, Value) {
        let content_type = form.content_type();
        let response = self
            .connector
            .http()
            .post(self.connector.url(&format!("{BASE}/download")))
            .header("origin", origin)
            .header("content-type", content_type)
            .body(form.into_body())
            .send()
            .await
            .expect("the connector answers");
        let status = response.status();
        (status, response.json().await.expect("a JSON envelope"))
    }

    async fn download(&self, form: Form) -> (StatusCode, Value) {
        self.download_as(APP, form).await
    }

    /// The file `name` in `relPath` of `type_name`, as the web page receives it.
    async fn upload(&self, type_name: &str, name: &str, rel_path: &[&str]) -> reqwest::Response {
        self.connector
            .http()
            .post(self.connector.url(&format!("{BASE}/upload")))
            .header("origin", APP)
            .json(&json!({"entity": ENTITY, "type": type_name, "fileName": name, "relPath": rel_path}))
            .send()
            .await
            .expect("the connector answers")
    }

    fn count(&self, use_case: UseCase) -> u64 {
        self.connector
            .connector()
            .counters()
            .snapshot()
            .expect("counters")
            .iter()
            .filter(|row| row.module == "fileexchange" && row.use_case == use_case)
            .map(|row| row.counter)
            .sum()
    }
}

/// A download form as t1c-sdk-js ≥ 3.5 sends it: the file before its name and path, the path
/// joined with commas.
fn download_form(type_name: &str, name: &str, rel_path: &str, content: &[u8]) -> Form {
    notifying_form(type_name, name, rel_path, content, "false")
}

/// [`download_form`] with `notifyOnCompletion` set to `notify`.
fn notifying_form(
    type_name: &str,
    name: &str,
    rel_path: &str,
    content: &[u8],
    notify: &str,
) -> Form {
    Form::new()
        .text("entity", ENTITY)
        .text("type", type_name)
        .file("file", name, content)
        .text("fileName", name)
        .text("relPath", rel_path)
        .text("implicitCreationType", "false")
        .text("notifyOnCompletion", notify)
}

/// Every file beneath `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).expect("list") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(dir).expect("beneath").display().to_string();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
            found.push(relative);
        }
    }
    found.sort();
    found
}

/// A refusal in the T1C envelope: a 4xx or a deliberate 5xx (never a bare 500), a numeric code,
/// a description.
fn is_error(status: StatusCode, envelope: &Value) -> bool {
    let code = envelope["code"].as_str().unwrap_or_default();
    (status.is_client_error() || status.is_server_error() && status != 500)
        && envelope["success"] == false
        && !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_digit())
        && envelope["description"].is_string()
}

#[tokio::test]
async fn a_file_goes_to_the_disk_and_back_through_every_operation() {
    let exchange = Exchange::start().await;
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();

    let types = exchange.ok("list-types", json!({"entity": ENTITY})).await;
    assert_eq!(types["total"], 2, "{types}");
    assert!(types["types"].as_array().expect("types").iter().all(|t| t["status"] == "MAPPED"));
    assert_eq!(
        exchange.ok("exist-type", json!({"entity": ENTITY, "type": "invoices"})).await,
        true
    );
    assert_eq!(exchange.ok("exist-type", json!({"entity": ENTITY, "type": "nope"})).await, false);
    let invoices = exchange.ok("list-type", json!({"entity": ENTITY, "type": "invoices"})).await;
    assert_eq!(
        invoices["path"],
        exchange.folder("invoices").canonicalize().expect("canonical").display().to_string()
    );

    let created = exchange
        .ok("create-dir", json!({"entity": ENTITY, "type": "invoices", "relPath": ["2026", "11"], "recursive": true}))
        .await;
    assert_eq!(created["isDir"], true, "{created}");
    let (status, saved) =
        exchange.download(download_form("invoices", "report.pdf", "2026,11", &content)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let on_disk = exchange.folder("invoices/2026/11/report.pdf");
    assert_eq!(std::fs::read(&on_disk).expect("written"), content);

    let exists =
        json!({"entity": ENTITY, "type": "invoices", "relPath": ["2026", "11", "report.pdf"]});
    assert_eq!(exchange.ok("exist-file", exists).await, true);
    let about = json!({"entity": ENTITY, "type": "invoices", "fileName": "report.pdf", "relPath": ["2026", "11"]});
    let info = exchange.ok("get-file-info", about.clone()).await;
    assert_eq!(info["name"], "report.pdf", "{info}");
    assert_eq!(info["extension"], "pdf", "{info}");
    assert_eq!(info["size"], content.len(), "{info}");
    assert_eq!(info["isDir"], false, "{info}");
    assert_eq!(info["relPath"], json!(["2026", "11"]), "{info}");
    assert_eq!(exchange.ok("get-access-mode", about).await, "rw");
    let listed = exchange
        .ok(
            "list-type-content",
            json!({"entity": ENTITY, "type": "invoices", "relPath": ["2026", "11"]}),
        )
        .await;
    assert_eq!(listed["total"], 1, "{listed}");
    let everything = exchange.ok("list-content", json!({"entity": ENTITY})).await;
    assert!(everything["total"].as_u64().expect("total") >= 1, "{everything}");

    let copied = exchange
        .ok("copy-file", json!({"entity": ENTITY, "fromType": "invoices", "toType": "archive", "fileName": "report.pdf", "newFileName": "copy.pdf", "fromRelPath": ["2026", "11"], "toRelPath": []}))
        .await;
    assert_eq!(copied["name"], "copy.pdf", "{copied}");
    assert_eq!(std::fs::read(exchange.folder("archive/copy.pdf")).expect("copied"), content);
    let renamed = exchange
        .ok("rename-file", json!({"entity": ENTITY, "type": "archive", "fileName": "copy.pdf", "newFileName": "renamed.pdf"}))
        .await;
    assert_eq!(renamed["name"], "renamed.pdf", "{renamed}");
    let moved = exchange
        .ok("move-file", json!({"entity": ENTITY, "fromType": "archive", "toType": "invoices", "fileName": "renamed.pdf", "toRelPath": ["2026"]}))
        .await;
    assert_eq!(moved["name"], "renamed.pdf", "{moved}");
    assert!(exchange.folder("invoices/2026/renamed.pdf").is_file());
    assert!(!exchange.folder("archive/renamed.pdf").exists());

    let response = exchange.upload("invoices", "report.pdf", &["2026", "11"]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], content.len().to_string().as_str());
    assert_eq!(response.bytes().await.expect("the file").as_ref(), content.as_slice());

    let dirs = exchange
        .ok(
            "create-type-dirs",
            json!({"entity": ENTITY, "type": "archive", "relPath": ["2027", "01"]}),
        )
        .await;
    assert!(exchange.folder("archive/2027/01").is_dir(), "{dirs}");
    assert_eq!(
        exchange.ok("delete-type", json!({"entity": ENTITY, "type": "archive"})).await,
        true
    );
    assert_eq!(
        exchange.ok("exist-type", json!({"entity": ENTITY, "type": "archive"})).await,
        false
    );
    assert!(exchange.folder("archive/2027/01").is_dir(), "deleting a type keeps its folder");
    assert_eq!(exchange.count(UseCase::FileDownload), 1);
    assert_eq!(exchange.count(UseCase::FileUpload), 1);
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn another_application_neither_sees_nor_reaches_the_types() {
    let exchange = Exchange::start().await;

    let (status, listed) = exchange.post_as(OTHER, "list-types", json!({"entity": ENTITY})).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"]["total"], 0, "{listed}");
    let (status, refused) =
        exchange.download_as(OTHER, download_form("invoices", "x.txt", "", b"intruder")).await;
    assert!(is_error(status, &refused), "{status} {refused}");
    assert!(tree(&exchange.folder("invoices")).is_empty());
    let (status, refused) = exchange
        .post_as(
            OTHER,
            "get-file-info",
            json!({"entity": ENTITY, "type": "invoices", "fileName": "x"}),
        )
        .await;
    assert!(is_error(status, &refused), "{status} {refused}");
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn a_request_without_an_application_is_refused() {
    let exchange = Exchange::start().await;
    let response = exchange
        .connector
        .http()
        .post(exchange.connector.url(&format!("{BASE}/list-types")))
        .json(&json!({"entity": ENTITY}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let envelope: Value = response.json().await.expect("envelope");
    assert!(envelope["description"].as_str().expect("text").contains("Origin"), "{envelope}");
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn paths_that_could_leave_the_folder_are_refused_and_nothing_is_written() {
    let exchange = Exchange::start().await;
    let outside_before = tree(&exchange.folder("outside"));
    let long = "n".repeat(4096);
    let bad_paths: Vec<Value> = vec![
        json!(["..", "outside"]),
        json!("../outside"),
        json!("..\\outside"),
        json!(["%2e%2e%2foutside"]),
        json!(["%2E%2E"]),
        json!(["/etc"]),
        json!(["C:", "Windows"]),
        json!(["\\\\server\\share"]),
        json!(["a\u{0}b"]),
        json!([long]),
        json!(["\u{FF0E}\u{FF0E}", "outside"]),
        json!(["a\u{2215}b"]),
        json!(["a", "..", "..", "outside"]),
    ];
    for rel_path in &bad_paths {
        let (status, refused) = exchange
            .post("create-dir", json!({"entity": ENTITY, "type": "invoices", "relPath": rel_path, "recursive": true}))
            .await;
        assert!(is_error(status, &refused), "create-dir {rel_path}: {status} {refused}");
        let rel = match rel_path {
            Value::Array(parts) => {
                parts.iter().map(|p| p.as_str().unwrap_or_default()).collect::<Vec<_>>().join(",")
            }
            Value::String(text) => text.clone(),
            _ => String::new(),
        };
        let (status, refused) =
            exchange.download(download_form("invoices", "x.txt", &rel, b"payload")).await;
        assert!(is_error(status, &refused), "download {rel_path}: {status} {refused}");
        assert!(!refused.to_string().contains(&long), "the error repeats the refused path");
    }
    for name in ["../x.txt", "..", "a/b", "a\\b", "CON", "x.txt.", "%2e%2e%2fx"] {
        let (status, refused) =
            exchange.download(download_form("invoices", name, "", b"payload")).await;
        assert!(is_error(status, &refused), "file name {name:?}: {status} {refused}");
    }
    assert_eq!(tree(&exchange.folder("outside")), outside_before);
    assert!(
        tree(&exchange.folder("invoices")).is_empty(),
        "{:?}",
        tree(&exchange.folder("invoices"))
    );
    assert!(tree(exchange.temp.path()).iter().all(|p| !p.ends_with("x.txt")));
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn a_symbolic_link_out_of_the_folder_is_not_followed() {
    let exchange = Exchange::start().await;
    std::os::unix::fs::symlink(exchange.folder("outside"), exchange.folder("invoices/link"))
        .expect("symlink");

    let (status, refused) =
        exchange.download(download_form("invoices", "planted.txt", "link", b"payload")).await;
    assert!(is_error(status, &refused), "{status} {refused}");
    let (status, refused) = exchange
        .post("get-file-info", json!({"entity": ENTITY, "type": "invoices", "fileName": "secret.txt", "relPath": ["link"]}))
        .await;
    assert!(is_error(status, &refused), "{status} {refused}");
    let response = exchange.upload("invoices", "secret.txt", &["link"]).await;
    assert_ne!(response.status(), StatusCode::OK);
    assert!(!response.text().await.expect("body").contains("not for pages"));
    assert!(!exchange.folder("outside/planted.txt").exists());
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn an_oversized_file_is_refused_and_leaves_nothing() {
    let exchange = Exchange::start().await;
    let limit = 50 << 20;
    let content = vec![0x5a; limit + 1];

    let (status, refused) =
        exchange.download(download_form("invoices", "big.bin", "", &content)).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert!(is_error(status, &refused), "{refused}");
    assert!(tree(&exchange.folder("invoices")).is_empty());
    let spool = exchange.connector.data_dir().join("tmp");
    assert!(!spool.exists() || tree(&spool).is_empty(), "the spooled part is gone");
    let (status, saved) =
        exchange.download(download_form("invoices", "max.bin", "", &content[..limit])).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        std::fs::metadata(exchange.folder("invoices/max.bin")).expect("saved").len(),
        limit as u64
    );
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn a_body_that_never_reaches_a_boundary_is_refused_at_the_limit() {
    let exchange = Exchange::start().await;
    // No boundary at all: the parser must not hold the body while it looks for one.
    let body = vec![b'x'; (50 << 20) + (5 << 20)];

    let response = exchange
        .connector
        .http()
        .post(exchange.connector.url(&format!("{BASE}/download")))
        .header("origin", APP)
        .header("content-type", "multipart/form-data; boundary=never-sent")
        .body(body)
        .send()
        .await
        .expect("answer");

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(tree(&exchange.folder("invoices")).is_empty());
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn a_form_with_two_files_or_none_is_refused() {
    let exchange = Exchange::start().await;
    let two = Form::new()
        .text("entity", ENTITY)
        .text("type", "invoices")
        .file("file", "a.txt", b"a")
        .file("file", "b.txt", b"b")
        .text("fileName", "a.txt");
    let none =
        Form::new().text("entity", ENTITY).text("type", "invoices").text("fileName", "a.txt");

    let (status, refused) = exchange.download(two).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["description"].as_str().expect("text").contains("more than one file"));
    let (status, refused) = exchange.download(none).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["description"].as_str().expect("text").contains("no file"));
    let garbage = exchange
        .connector
        .http()
        .post(exchange.connector.url(&format!("{BASE}/download")))
        .header("origin", APP)
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body("--xyz\r\nnot a part at all")
        .send()
        .await
        .expect("answer");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert!(tree(&exchange.folder("invoices")).is_empty());
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn an_unmapped_type_and_a_type_without_a_chooser_say_so() {
    let exchange = Exchange::start().await;
    assert_eq!(
        exchange.ok("delete-type", json!({"entity": ENTITY, "type": "archive"})).await,
        true
    );

    let (status, refused) =
        exchange.download(download_form("archive", "x.txt", "", b"payload")).await;
    assert!(is_error(status, &refused), "{status} {refused}");
    assert!(tree(&exchange.folder("archive")).is_empty());
    // The test connector has no session bus: no folder chooser.
    let (status, refused) =
        exchange.post("create-type", json!({"entity": ENTITY, "type": "new", "timeout": 5})).await;
    assert!(is_error(status, &refused), "{status} {refused}");
    assert!(refused["description"].as_str().expect("text").contains("t1c files map"), "{refused}");
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn garbled_requests_get_a_clear_error() {
    let exchange = Exchange::start().await;
    for (operation, body) in [
        ("list-type", json!({})),
        ("list-type", json!({"entity": 5, "type": "invoices"})),
        ("copy-file", json!({"entity": ENTITY})),
        (
            "list-type-content",
            json!({"entity": ENTITY, "type": "invoices", "page": {"start": -1, "size": 10}}),
        ),
        ("exist-file", json!({"entity": ENTITY, "type": "invoices", "relPath": [1, 2]})),
    ] {
        let (status, refused) = exchange.post(operation, body.clone()).await;
        assert!(is_error(status, &refused), "{operation} {body}: {status} {refused}");
    }
    let (status, refused) = exchange
        .connector
        .http()
        .post(exchange.connector.url(&format!("{BASE}/list-types")))
        .header("origin", APP)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .map(|r| (r.status(), r))
        .expect("answer");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let refused: Value = refused.json().await.expect("envelope");
    assert_eq!(refused["success"], false);
    exchange.connector.shutdown().await;
}

// --- with a desktop session: the folder chooser and notifications ---------------------------

/// `operation` of `body`, while the user answers the dialog it opens with `code` and `uris`:
/// the route's answer and the dialog.
async fn with_dialog(
    exchange: &Exchange,
    portal: &mut Portal,
    (operation, body): (&str, Value),
    code: u32,
    uris: &[&str],
) -> ((StatusCode, Value), Dialog) {
    let answering = async {
        let dialog = portal.dialog().await;
        portal.answer(&dialog, code, uris).await;
        dialog
    };
    tokio::join!(exchange.post(operation, body), answering)
}

#[tokio::test]
async fn create_type_asks_the_user_for_the_folder_and_maps_it() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let exchange = Exchange::start_on_bus(&bus).await;
    let chosen = exchange.folder("chosen folder é");
    std::fs::create_dir(&chosen).expect("folder");

    let create = ("create-type", json!({"entity": ENTITY, "type": "receipts"}));
    let ((status, answer), dialog) =
        with_dialog(&exchange, &mut portal, create, Portal::CHOSEN, &[&file_uri(&chosen)]).await;

    assert!(dialog.directory, "a folder chooser, not a file chooser");
    assert!(dialog.title.contains("receipts"), "{dialog:?}");
    assert_eq!(status, StatusCode::OK, "{answer}");
    let created = &answer["data"];
    assert_eq!(created["type"], "receipts", "{created}");
    assert_eq!(created["status"], "MAPPED", "{created}");
    let canonical = chosen.canonicalize().expect("canonical").display().to_string();
    assert_eq!(created["path"], canonical.as_str(), "{created}");
    let (status, saved) =
        exchange.download(download_form("receipts", "r1.txt", "", b"receipt one")).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(std::fs::read(chosen.join("r1.txt")).expect("written"), b"receipt one");
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_chooser_leaves_the_type_unmapped() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let exchange = Exchange::start_on_bus(&bus).await;

    let create = ("create-type", json!({"entity": ENTITY, "type": "receipts"}));
    let ((status, refused), _) =
        with_dialog(&exchange, &mut portal, create, Portal::CANCELLED, &[]).await;

    assert!(status.is_client_error() && is_error(status, &refused), "{status} {refused}");
    assert!(refused["description"].as_str().expect("text").contains("cancel"), "{refused}");
    assert_eq!(
        exchange.ok("exist-type", json!({"entity": ENTITY, "type": "receipts"})).await,
        false
    );
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn while_the_chooser_is_open_the_same_type_says_it_waits_for_the_user() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let exchange = Exchange::start_on_bus(&bus).await;
    let chosen = exchange.folder("chosen");
    std::fs::create_dir(&chosen).expect("folder");
    let request = json!({"entity": ENTITY, "type": "receipts"});

    let user = async {
        let dialog = portal.dialog().await;
        let again = exchange.post("create-type", request.clone()).await;
        portal.answer(&dialog, Portal::CHOSEN, &[&file_uri(&chosen)]).await;
        again
    };
    let ((status, answer), (again_status, waiting)) =
        tokio::join!(exchange.post("create-type", request.clone()), user);

    assert!(is_error(again_status, &waiting), "{again_status} {waiting}");
    let text = waiting["description"].as_str().expect("text");
    assert!(text.contains("waiting for the user"), "{waiting}");
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["status"], "MAPPED", "{answer}");
    assert!(portal.try_closed().is_none(), "an answered dialog is not closed");
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn update_type_asks_again_and_maps_the_new_folder() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let exchange = Exchange::start_on_bus(&bus).await;
    let moved = exchange.folder("invoices 2027");
    std::fs::create_dir(&moved).expect("folder");

    let update = ("update-type", json!({"entity": ENTITY, "type": "invoices"}));
    let ((status, answer), dialog) =
        with_dialog(&exchange, &mut portal, update, Portal::CHOSEN, &[&file_uri(&moved)]).await;

    assert!(dialog.directory && dialog.title.contains("invoices"), "{dialog:?}");
    let current = exchange.folder("invoices").canonicalize().expect("canonical");
    assert_eq!(dialog.current_folder.as_deref(), current.to_str(), "opens at the current folder");
    assert_eq!(status, StatusCode::OK, "{answer}");
    let canonical = moved.canonicalize().expect("canonical").display().to_string();
    assert_eq!(answer["data"]["path"], canonical.as_str(), "{answer}");
    assert_eq!(answer["data"]["status"], "MAPPED", "{answer}");
    let listed = exchange.ok("list-type", json!({"entity": ENTITY, "type": "invoices"})).await;
    assert_eq!(listed["path"], canonical.as_str(), "{listed}");
    let (status, saved) =
        exchange.download(download_form("invoices", "new.txt", "", b"to the new folder")).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(moved.join("new.txt").is_file());
    assert!(tree(&exchange.folder("invoices")).is_empty(), "the old folder is left alone");
    exchange.connector.shutdown().await;
}

#[tokio::test]
async fn a_download_notifies_only_when_asked() {
    let bus = SessionBus::start();
    let mut notifications = Notifications::start(&bus).await;
    let exchange = Exchange::start_on_bus(&bus).await;

    for (name, notify) in [("first.txt", "true"), ("quiet.txt", "false"), ("third.txt", "true")] {
        let form = notifying_form("invoices", name, "", name.as_bytes(), notify);
        let (status, saved) = exchange.download(form).await;
        assert_eq!(status, StatusCode::OK, "{name}: {saved}");
        if notify == "true" {
            // The quiet download, between two that notify, showed nothing: the next one shown
            // after it is the third's.
            let shown = notifications.next().await;
            assert!(shown.body.contains(name), "{name}: {shown:?}");
        }
    }

    assert_eq!(tree(&exchange.folder("invoices")), ["first.txt", "quiet.txt", "third.txt"]);
    exchange.connector.shutdown().await;
}
