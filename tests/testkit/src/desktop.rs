//! Fakes of the desktop services the connector talks to, on a private
//! [`SessionBus`](crate::session_bus::SessionBus): the XDG desktop portal's folder chooser
//! ([`Portal`]) and the notification service ([`Notifications`]). Each records what it is
//! asked on a channel; the test waits on that channel, and answers the portal's dialogs as a
//! user would.
//!
//! ```no_run
//! # async fn demo() {
//! use t1c_testkit::desktop::{Notifications, Portal, file_uri};
//! use t1c_testkit::session_bus::SessionBus;
//!
//! let bus = SessionBus::start();
//! let mut portal = Portal::start(&bus).await;
//! let mut notifications = Notifications::start(&bus).await;
//! // ... something on the bus opens a folder chooser ...
//! let dialog = portal.dialog().await;
//! portal.answer(&dialog, Portal::CHOSEN, &[&file_uri(std::path::Path::new("/srv"))]).await;
//! let shown = notifications.next().await;
//! println!("{}: {}", shown.summary, shown.body);
//! # }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::session_bus::SessionBus;

/// How long [`Portal::dialog`] and [`Notifications::next`] wait before they fail the test: a
/// guard against a hang, never reached by a test that passes.
const GUARD: Duration = Duration::from_secs(120);

/// One dialog the fake portal was asked to open.
#[derive(Debug)]
pub struct Dialog {
    /// The dialog's request object, as the portal names it (from the caller and its token).
    pub handle: OwnedObjectPath,
    /// The unique bus name of the caller, to which the answer goes.
    pub caller: String,
    /// The dialog's title.
    pub title: String,
    /// Whether a folder is asked for (the `directory` option), not a file.
    pub directory: bool,
    /// Where the dialog opens (the `current_folder` option, without its NUL), if given.
    pub current_folder: Option<String>,
}

/// The desktop portal's `FileChooser` (`org.freedesktop.portal.Desktop`): it records each
/// `OpenFile` dialog and exports its request object; the test answers with
/// [`answer`](Self::answer), or leaves it unanswered. Gone with its connection when dropped.
pub struct Portal {
    connection: zbus::Connection,
    dialogs: mpsc::UnboundedReceiver<Dialog>,
    closed: mpsc::UnboundedReceiver<OwnedObjectPath>,
}

impl Portal {
    /// The `Response` code of a dialog in which the user chose.
    pub const CHOSEN: u32 = 0;
    /// The `Response` code of a dialog the user cancelled.
    pub const CANCELLED: u32 = 1;

    /// Starts the portal on `bus` and returns once it owns its name.
    ///
    /// # Panics
    /// When the bus cannot be reached or the name is taken.
    pub async fn start(bus: &SessionBus) -> Self {
        let (dialogs_sender, dialogs) = mpsc::unbounded_channel();
        let (closed_sender, closed) = mpsc::unbounded_channel();
        let chooser = FileChooser { dialogs: dialogs_sender, closed: closed_sender };
        let connection = zbus::connection::Builder::address(bus.address())
            .expect("the bus address")
            .name("org.freedesktop.portal.Desktop")
            .expect("the portal's name")
            .serve_at("/org/freedesktop/portal/desktop", chooser)
            .expect("the portal's object")
            .build()
            .await
            .expect("the fake portal");
        Self { connection, dialogs, closed }
    }

    /// The next dialog opened.
    ///
    /// # Panics
    /// When none opens within two minutes.
    pub async fn dialog(&mut self) -> Dialog {
        tokio::time::timeout(GUARD, self.dialogs.recv())
            .await
            .expect("a folder chooser dialog within the guard time")
            .expect("the portal is running")
    }

    /// The request object of the next dialog the caller closed, if one was closed already.
    pub fn try_closed(&mut self) -> Option<OwnedObjectPath> {
        self.closed.try_recv().ok()
    }

    /// Answers `dialog` as the portal does: `Response(code, {uris})` on its request object
    /// (no `uris` entry when `uris` is empty), which then goes away. `code` is
    /// [`CHOSEN`](Self::CHOSEN), [`CANCELLED`](Self::CANCELLED), or any other to test.
    ///
    /// # Panics
    /// When the signal cannot be sent or the request object is gone already.
    pub async fn answer(&self, dialog: &Dialog, code: u32, uris: &[&str]) {
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

/// `file://` and `path`, its bytes outside the unreserved set percent-encoded: the URI the
/// portal answers for a chosen folder.
///
/// # Panics
/// When `path` is not UTF-8.
pub fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for &byte in path.to_str().expect("a UTF-8 path").as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// The portal's `FileChooser` object.
struct FileChooser {
    dialogs: mpsc::UnboundedSender<Dialog>,
    closed: mpsc::UnboundedSender<OwnedObjectPath>,
}

/// One dialog's request object.
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
        let caller = header
            .sender()
            .ok_or_else(|| zbus::fdo::Error::InvalidArgs("no sender".to_owned()))?
            .as_str()
            .to_owned();
        let token = options
            .get("handle_token")
            .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
            .unwrap_or_else(|| "no_token".to_owned());
        let directory =
            options.get("directory").and_then(|v| bool::try_from(v).ok()).unwrap_or(false);
        let current_folder = options
            .get("current_folder")
            .and_then(|v| Vec::<u8>::try_from(v.try_clone().ok()?).ok())
            .map(|bytes| {
                String::from_utf8_lossy(bytes.strip_suffix(&[0]).unwrap_or(&bytes)).into_owned()
            });
        // As the portal does: the request object's path from the caller's name and its token.
        let sender = caller.trim_start_matches(':').replace('.', "_");
        let path = format!("/org/freedesktop/portal/desktop/request/{sender}/{token}");
        let handle = OwnedObjectPath::try_from(path)
            .map_err(|err| zbus::fdo::Error::InvalidArgs(err.to_string()))?;
        let request = Request { handle: handle.clone(), closed: self.closed.clone() };
        server.at(&handle, request).await?;
        let _ = self.dialogs.send(Dialog {
            handle: handle.clone(),
            caller,
            title: title.to_owned(),
            directory,
            current_folder,
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

/// One notification the fake notification service was asked to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The summary (its title).
    pub summary: String,
    /// The body.
    pub body: String,
    /// The `urgency` hint: 0 low (also when there is none), 1 normal, 2 critical.
    pub urgency: u8,
}

/// The notification service (`org.freedesktop.Notifications`): it records each `Notify`.
/// Gone with its connection when dropped.
pub struct Notifications {
    _connection: zbus::Connection,
    shown: mpsc::UnboundedReceiver<Notification>,
}

impl Notifications {
    /// Starts the service on `bus` and returns once it owns its name.
    ///
    /// # Panics
    /// When the bus cannot be reached or the name is taken.
    pub async fn start(bus: &SessionBus) -> Self {
        let (sender, shown) = mpsc::unbounded_channel();
        let connection = zbus::connection::Builder::address(bus.address())
            .expect("the bus address")
            .name("org.freedesktop.Notifications")
            .expect("the service's name")
            .serve_at("/org/freedesktop/Notifications", Recorder(sender))
            .expect("the service's object")
            .build()
            .await
            .expect("the fake notification service");
        Self { _connection: connection, shown }
    }

    /// The next notification shown.
    ///
    /// # Panics
    /// When none is shown within two minutes.
    pub async fn next(&mut self) -> Notification {
        tokio::time::timeout(GUARD, self.shown.recv())
            .await
            .expect("a notification within the guard time")
            .expect("the notification service is running")
    }

    /// The next notification, if one was shown already.
    pub fn try_next(&mut self) -> Option<Notification> {
        self.shown.try_recv().ok()
    }
}

/// The service's object.
struct Recorder(mpsc::UnboundedSender<Notification>);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        _actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
        let _ = self.0.send(Notification {
            summary: summary.to_owned(),
            body: body.to_owned(),
            urgency,
        });
        1
    }
}
