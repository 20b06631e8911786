//! The folder chooser against a fake XDG desktop portal on a private session bus: the portal's
//! `FileChooser.OpenFile` records each dialog and the test answers it as a user would (a
//! folder, a cancel, nothing), through the request object's `Response` signal.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use t1c_host::files::TypeKey;
use t1c_host::files::chooser::{ChooserError, FolderChooser};
use t1c_testkit::session_bus::SessionBus;

const APP: &str = "https://app.example.com";
/// Long enough that no test reaches it unless it means to.
const PATIENT: Duration = Duration::from_secs(300);

#[tokio::test]
async fn the_chosen_folder_comes_back_as_its_path() {
    let (bus, mut portal) = Portal::start().await;
    let temp = tempfile::tempdir().expect("tempdir");
    let folder = temp.path().join("my folder é");
    std::fs::create_dir(&folder).expect("folder");
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);

    let choosing = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing PDFs").await });
    let dialog = portal.dialog().await;
    assert_eq!(dialog.title, "Billing PDFs");
    assert!(dialog.directory, "a folder chooser, not a file chooser");
    portal.answer(&dialog, 0, &[&file_uri(&folder)]).await;

    assert_eq!(choosing.await.expect("task").expect("chosen"), folder);
}

#[tokio::test]
async fn a_cancelled_dialog_is_its_own_error() {
    let (bus, mut portal) = Portal::start().await;
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);

    let choosing = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing").await });
    let dialog = portal.dialog().await;
    portal.answer(&dialog, 1, &[]).await;

    let err = choosing.await.expect("task").expect_err("cancelled");
    assert!(matches!(err, ChooserError::Cancelled), "{err}");
}

#[tokio::test]
async fn while_the_dialog_is_open_the_same_type_waits_for_the_user() {
    let (bus, mut portal) = Portal::start().await;
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);
    let temp = tempfile::tempdir().expect("tempdir");
    let first = chooser.clone();
    let choosing = tokio::spawn(async move { first.choose(&key("pdf"), "Billing").await });
    let dialog = portal.dialog().await;

    let again = chooser.choose(&key("pdf"), "Billing").await;

    assert!(matches!(again, Err(ChooserError::Waiting)), "{again:?}");
    portal.answer(&dialog, 0, &[&file_uri(temp.path())]).await;
    assert_eq!(choosing.await.expect("task").expect("chosen"), temp.path());
    let after = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing").await });
    let next = portal.dialog().await;
    portal.answer(&next, 1, &[]).await;
    assert!(matches!(after.await.expect("task"), Err(ChooserError::Cancelled)));
}

#[tokio::test]
async fn another_type_has_a_dialog_of_its_own() {
    let (bus, mut portal) = Portal::start().await;
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);
    let first = chooser.clone();
    let pdf = tokio::spawn(async move { first.choose(&key("pdf"), "PDF").await });
    let pdf_dialog = portal.dialog().await;

    let xml = tokio::spawn(async move { chooser.choose(&key("xml"), "XML").await });
    let xml_dialog = portal.dialog().await;

    assert_eq!(xml_dialog.title, "XML");
    assert_ne!(xml_dialog.handle, pdf_dialog.handle);
    portal.answer(&xml_dialog, 1, &[]).await;
    portal.answer(&pdf_dialog, 1, &[]).await;
    assert!(matches!(pdf.await.expect("task"), Err(ChooserError::Cancelled)));
    assert!(matches!(xml.await.expect("task"), Err(ChooserError::Cancelled)));
}

#[tokio::test]
async fn an_unanswered_dialog_ends_within_the_wait_and_is_closed() {
    let (bus, mut portal) = Portal::start().await;
    let wait = Duration::from_secs(1);
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), wait);
    let first = chooser.clone();

    let choosing = tokio::spawn(async move { first.choose(&key("pdf"), "Billing").await });
    let dialog = portal.dialog().await;

    let err = choosing.await.expect("task").expect_err("no answer");
    assert!(matches!(err, ChooserError::NoAnswer { waited } if waited == wait), "{err}");
    assert_eq!(err.to_string(), "the user did not answer the folder chooser within 1 seconds");
    // Closed before the chooser answered: the close is a call it waits for.
    assert_eq!(portal.closed.try_recv().expect("closed"), dialog.handle);
    let again = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing").await });
    let next = portal.dialog().await;
    portal.answer(&next, 1, &[]).await;
    assert!(matches!(again.await.expect("task"), Err(ChooserError::Cancelled)));
}

#[tokio::test]
async fn without_a_portal_on_the_bus_there_is_no_folder_chooser() {
    let bus = SessionBus::start();
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);

    let err = chooser.choose(&key("pdf"), "Billing").await.expect_err("no portal");

    assert!(matches!(err, ChooserError::NoChooser { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "no folder chooser here; map the folder with \
         `t1c files map --application https://app.example.com billing pdf FOLDER`"
    );
}

#[tokio::test]
async fn without_a_session_bus_there_is_no_folder_chooser() {
    let temp = tempfile::tempdir().expect("tempdir");
    let nobody = format!("unix:path={}", temp.path().join("no-bus").display());

    for chooser in [FolderChooser::at(None, PATIENT), FolderChooser::at(Some(nobody), PATIENT)] {
        let err = chooser.choose(&key("pdf"), "Billing").await.expect_err("no bus");
        assert!(matches!(err, ChooserError::NoChooser { .. }), "{err}");
    }
}

#[tokio::test]
async fn an_answer_that_is_not_one_local_folder_is_refused() {
    let (bus, mut portal) = Portal::start().await;
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);

    for (code, uris) in [
        (0, vec!["https://example.com/folder"]),
        (0, vec!["file://elsewhere/srv/folder"]),
        (0, vec!["file:///srv/a", "file:///srv/b"]),
        (0, vec![]),
        (2, vec![]),
    ] {
        let asking = chooser.clone();
        let choosing = tokio::spawn(async move { asking.choose(&key("pdf"), "Billing").await });
        let dialog = portal.dialog().await;
        portal.answer(&dialog, code, &uris).await;
        let err = choosing.await.expect("task").expect_err("refused");
        assert!(matches!(err, ChooserError::Failed(_)), "{uris:?}: {err}");
    }
}

// --- the fake portal -----------------------------------------------------------------------

fn key(type_name: &str) -> TypeKey {
    TypeKey::new(APP, "billing", type_name).expect("key")
}

/// `file://` + the path, its bytes outside the unreserved set percent-encoded.
fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for &byte in path.to_str().expect("utf-8").as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// One dialog the fake portal was asked to open.
#[derive(Debug)]
struct Dialog {
    handle: OwnedObjectPath,
    caller: String,
    title: String,
    directory: bool,
}

/// The portal's `FileChooser` on a private bus: it records each dialog and exports its request
/// object; the test answers.
struct Portal {
    connection: zbus::Connection,
    dialogs: mpsc::UnboundedReceiver<Dialog>,
    closed: mpsc::UnboundedReceiver<OwnedObjectPath>,
}

struct FileChooser {
    dialogs: mpsc::UnboundedSender<Dialog>,
    closed: mpsc::UnboundedSender<OwnedObjectPath>,
}

struct Request {
    handle: OwnedObjectPath,
    closed: mpsc::UnboundedSender<OwnedObjectPath>,
}

#[zbus::interface(name = "org.freedesktop.portal.FileChooser")]
impl FileChooser {
    async fn open_file(
        &self,
        #[zbus(header)] header: zbus::message::Header<'_>,
        #[zbus(object_server)] server: &zbus::ObjectServer,
        _parent_window: &str,
        title: &str,
        options: HashMap<String, OwnedValue>,
    ) -> zbus::fdo::Result<OwnedObjectPath> {
        let caller = header.sender().expect("a sender").as_str().to_owned();
        let token = options
            .get("handle_token")
            .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
            .unwrap_or_else(|| "no_token".to_owned());
        let directory =
            options.get("directory").and_then(|v| bool::try_from(v).ok()).unwrap_or(false);
        // As the portal does: the request object's path from the caller's name and its token.
        let sender = caller.trim_start_matches(':').replace('.', "_");
        let path = format!("/org/freedesktop/portal/desktop/request/{sender}/{token}");
        let handle = OwnedObjectPath::try_from(path).expect("an object path");
        let request = Request { handle: handle.clone(), closed: self.closed.clone() };
        server.at(&handle, request).await?;
        let _ = self.dialogs.send(Dialog {
            handle: handle.clone(),
            caller,
            title: title.to_owned(),
            directory,
        });
        Ok(handle)
    }
}

#[zbus::interface(name = "org.freedesktop.portal.Request")]
impl Request {
    async fn close(&self) {
        let _ = self.closed.send(self.handle.clone());
    }
}

impl Portal {
    async fn start() -> (SessionBus, Portal) {
        let bus = SessionBus::start();
        let (dialogs_sender, dialogs) = mpsc::unbounded_channel();
        let (closed_sender, closed) = mpsc::unbounded_channel();
        let chooser = FileChooser { dialogs: dialogs_sender, closed: closed_sender };
        let connection = zbus::connection::Builder::address(bus.address())
            .expect("address")
            .name("org.freedesktop.portal.Desktop")
            .expect("name")
            .serve_at("/org/freedesktop/portal/desktop", chooser)
            .expect("serve")
            .build()
            .await
            .expect("the fake portal");
        (bus, Portal { connection, dialogs, closed })
    }

    /// The next dialog opened.
    async fn dialog(&mut self) -> Dialog {
        self.dialogs.recv().await.expect("a dialog")
    }

    /// Answers `dialog` as the portal does: `Response(code, {uris})` on its request object,
    /// which then goes away.
    async fn answer(&self, dialog: &Dialog, code: u32, uris: &[&str]) {
        let mut results: HashMap<&str, Value<'_>> = HashMap::new();
        if !uris.is_empty() {
            results.insert("uris", Value::from(uris.to_vec()));
        }
        self.connection
            .emit_signal(
                Some(dialog.caller.as_str()),
                &dialog.handle,
                "org.freedesktop.portal.Request",
                "Response",
                &(code, results),
            )
            .await
            .expect("the Response signal");
        self.connection
            .object_server()
            .remove::<Request, _>(&dialog.handle)
            .await
            .expect("the request object goes");
    }
}
