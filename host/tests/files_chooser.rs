//! The folder chooser against a fake XDG desktop portal on a private session bus: the portal's
//! `FileChooser.OpenFile` records each dialog and the test answers it as a user would (a
//! folder, a cancel, nothing), through the request object's `Response` signal.

use std::time::Duration;

use t1c_host::files::TypeKey;
use t1c_host::files::chooser::{ChooserError, FolderChooser};
use t1c_testkit::desktop::{Portal, file_uri};
use t1c_testkit::session_bus::SessionBus;

const APP: &str = "https://app.example.com";
/// Long enough that no test reaches it unless it means to.
const PATIENT: Duration = Duration::from_secs(300);

#[tokio::test]
async fn the_chosen_folder_comes_back_as_its_path() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let temp = tempfile::tempdir().expect("tempdir");
    let folder = temp.path().join("my folder é");
    std::fs::create_dir(&folder).expect("folder");
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);

    let choosing = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing PDFs").await });
    let dialog = portal.dialog().await;
    assert_eq!(dialog.title, "Billing PDFs");
    assert!(dialog.directory, "a folder chooser, not a file chooser");
    portal.answer(&dialog, Portal::CHOSEN, &[&file_uri(&folder)]).await;

    assert_eq!(choosing.await.expect("task").expect("chosen"), folder);
}

#[tokio::test]
async fn a_cancelled_dialog_is_its_own_error() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);

    let choosing = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing").await });
    let dialog = portal.dialog().await;
    portal.answer(&dialog, Portal::CANCELLED, &[]).await;

    let err = choosing.await.expect("task").expect_err("cancelled");
    assert!(matches!(err, ChooserError::Cancelled), "{err}");
}

#[tokio::test]
async fn while_the_dialog_is_open_the_same_type_waits_for_the_user() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);
    let temp = tempfile::tempdir().expect("tempdir");
    let first = chooser.clone();
    let choosing = tokio::spawn(async move { first.choose(&key("pdf"), "Billing").await });
    let dialog = portal.dialog().await;

    let again = chooser.choose(&key("pdf"), "Billing").await;

    assert!(matches!(again, Err(ChooserError::Waiting)), "{again:?}");
    portal.answer(&dialog, Portal::CHOSEN, &[&file_uri(temp.path())]).await;
    assert_eq!(choosing.await.expect("task").expect("chosen"), temp.path());
    let after = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing").await });
    let next = portal.dialog().await;
    portal.answer(&next, Portal::CANCELLED, &[]).await;
    assert!(matches!(after.await.expect("task"), Err(ChooserError::Cancelled)));
}

#[tokio::test]
async fn another_type_has_a_dialog_of_its_own() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), PATIENT);
    let first = chooser.clone();
    let pdf = tokio::spawn(async move { first.choose(&key("pdf"), "PDF").await });
    let pdf_dialog = portal.dialog().await;

    let xml = tokio::spawn(async move { chooser.choose(&key("xml"), "XML").await });
    let xml_dialog = portal.dialog().await;

    assert_eq!(xml_dialog.title, "XML");
    assert_ne!(xml_dialog.handle, pdf_dialog.handle);
    portal.answer(&xml_dialog, Portal::CANCELLED, &[]).await;
    portal.answer(&pdf_dialog, Portal::CANCELLED, &[]).await;
    assert!(matches!(pdf.await.expect("task"), Err(ChooserError::Cancelled)));
    assert!(matches!(xml.await.expect("task"), Err(ChooserError::Cancelled)));
}

#[tokio::test]
async fn an_unanswered_dialog_ends_within_the_wait_and_is_closed() {
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
    let wait = Duration::from_secs(1);
    let chooser = FolderChooser::at(Some(bus.address().to_owned()), wait);
    let first = chooser.clone();

    let choosing = tokio::spawn(async move { first.choose(&key("pdf"), "Billing").await });
    let dialog = portal.dialog().await;

    let err = choosing.await.expect("task").expect_err("no answer");
    assert!(matches!(err, ChooserError::NoAnswer { waited } if waited == wait), "{err}");
    assert_eq!(err.to_string(), "the user did not answer the folder chooser within 1 seconds");
    // Closed before the chooser answered: the close is a call it waits for.
    assert_eq!(portal.try_closed().expect("closed"), dialog.handle);
    let again = tokio::spawn(async move { chooser.choose(&key("pdf"), "Billing").await });
    let next = portal.dialog().await;
    portal.answer(&next, Portal::CANCELLED, &[]).await;
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
    let bus = SessionBus::start();
    let mut portal = Portal::start(&bus).await;
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

fn key(type_name: &str) -> TypeKey {
    TypeKey::new(APP, "billing", type_name).expect("key")
}
