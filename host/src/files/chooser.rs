//! [`FolderChooser`]: asking the person at the machine for a type's folder with the desktop's
//! own folder chooser, the XDG desktop portal's `FileChooser.OpenFile` with `directory: true`
//! on the session bus.
//!
//! The portal answers later, with the `Response` signal of a request object. The chooser waits
//! for it a bounded time ([`DEFAULT_WAIT`] unless told), then closes the dialog and answers
//! [`ChooserError::NoAnswer`]; while a type's dialog is open, another request for that type
//! gets [`ChooserError::Waiting`], never a second dialog. Without a session bus, or without a
//! portal on it, there is no one to ask: [`ChooserError::NoChooser`] at once, naming the
//! `t1c files map` command that maps the folder instead.
//!
//! It only asks: mapping the chosen folder is [`Mappings::map`](super::Mappings::map)'s, which
//! checks it again.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::{Instant, timeout, timeout_at};
use zbus::message::Type as MessageType;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, MatchRule, Message, MessageStream};

use super::TypeKey;

/// How long the user has to choose a folder, unless told otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);
/// How long closing an unanswered dialog may take.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
const PORTAL: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const FILE_CHOOSER: &str = "org.freedesktop.portal.FileChooser";
const REQUEST: &str = "org.freedesktop.portal.Request";
/// The portal's `handle_token`. The request object's path is made of the caller's unique name
/// and this token, and every dialog has a connection of its own, so one token serves all.
const HANDLE_TOKEN: &str = "t1c_folder";
/// The `Response` codes of the portal's request objects.
const RESPONSE_SUCCESS: u32 = 0;
const RESPONSE_CANCELLED: u32 = 1;
/// The D-Bus errors that mean no folder chooser is on the bus.
const ABSENT: [&str; 5] = [
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.DBus.Error.UnknownMethod",
];

/// The desktop's folder chooser, through the session bus. Cheap to clone; clones share which
/// types have a dialog open.
#[derive(Debug, Clone)]
pub struct FolderChooser {
    bus: Option<String>,
    wait: Duration,
    asking: Arc<Mutex<HashSet<TypeKey>>>,
}

/// Why no folder was chosen. Messages name no folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChooserError {
    /// No session bus, or no desktop portal on it: the folder must be mapped on the command
    /// line.
    #[error("no folder chooser here; map the folder with `{command}`")]
    NoChooser {
        /// The `t1c files map` command for this type, with `FOLDER` to fill in.
        command: String,
    },
    /// The type's dialog is open already.
    #[error("waiting for the user to choose the folder")]
    Waiting,
    /// The user closed the dialog without choosing.
    #[error("the user cancelled the folder chooser")]
    Cancelled,
    /// The dialog was open for the whole wait; it is closed now.
    #[error("the user did not answer the folder chooser within {} seconds", .waited.as_secs())]
    NoAnswer {
        /// How long the chooser waited.
        waited: Duration,
    },
    /// The portal failed, ended the dialog another way, or answered something that is not
    /// one local folder.
    #[error("the folder chooser failed: {0}")]
    Failed(String),
}

impl FolderChooser {
    /// The folder chooser on the session bus at `address` (a D-Bus address such as
    /// `unix:path=/run/user/1000/bus`; `None`: there is none), waiting at most `wait` for the
    /// user.
    pub fn at(address: Option<String>, wait: Duration) -> Self {
        Self { bus: address.filter(|a| !a.trim().is_empty()), wait, asking: Arc::default() }
    }

    /// The folder chooser on this process's session bus (`DBUS_SESSION_BUS_ADDRESS`), waiting
    /// [`DEFAULT_WAIT`].
    pub fn from_env() -> Self {
        Self::at(std::env::var("DBUS_SESSION_BUS_ADDRESS").ok(), DEFAULT_WAIT)
    }

    /// Asks the user for the folder of `key`, in a dialog titled `title`; the absolute path
    /// of the chosen folder.
    ///
    /// The dialog is watched by a task of its own, so a caller that goes away leaves no dialog
    /// unwatched: it still ends within the wait, and the type has no second dialog meanwhile.
    ///
    /// # Errors
    /// [`ChooserError`].
    pub async fn choose(&self, key: &TypeKey, title: &str) -> Result<PathBuf, ChooserError> {
        self.choose_from(key, title, None).await
    }

    /// As [`FolderChooser::choose`], with the dialog opening at `start` (the portal's
    /// `current_folder`) when it is an existing absolute folder.
    ///
    /// # Errors
    /// [`ChooserError`].
    pub async fn choose_from(
        &self,
        key: &TypeKey,
        title: &str,
        start: Option<&std::path::Path>,
    ) -> Result<PathBuf, ChooserError> {
        let Some(bus) = self.bus.clone() else {
            return Err(no_chooser(key));
        };
        let claim = Claim::take(&self.asking, key).ok_or(ChooserError::Waiting)?;
        let (title, wait) = (title.to_owned(), self.wait);
        let start = start.filter(|p| p.is_absolute() && p.is_dir()).map(|p| p.to_path_buf());
        let dialog = tokio::spawn(async move {
            let _claim = claim;
            ask(&bus, &title, start.as_deref(), wait).await
        });
        match dialog.await {
            Ok(Ok(folder)) => Ok(folder),
            Ok(Err(Asked::NoPortal)) => Err(no_chooser(key)),
            Ok(Err(Asked::Failed(err))) => Err(err),
            Err(_) => Err(ChooserError::Failed("the dialog's task ended".to_owned())),
        }
    }
}

/// A type whose dialog is open, until dropped.
struct Claim {
    asking: Arc<Mutex<HashSet<TypeKey>>>,
    key: TypeKey,
}

impl Claim {
    /// The claim of `key`; `None` when its dialog is open already.
    fn take(asking: &Arc<Mutex<HashSet<TypeKey>>>, key: &TypeKey) -> Option<Self> {
        let fresh = asking.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone());
        fresh.then(|| Self { asking: asking.clone(), key: key.clone() })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.asking.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

/// How asking ended without a folder.
enum Asked {
    /// No session bus or no portal on it.
    NoPortal,
    /// Any other way.
    Failed(ChooserError),
}

impl From<ChooserError> for Asked {
    fn from(err: ChooserError) -> Self {
        Self::Failed(err)
    }
}

/// One dialog, from connecting to the bus to the portal's answer, within `wait`.
async fn ask(
    bus: &str,
    title: &str,
    start: Option<&std::path::Path>,
    wait: Duration,
) -> Result<PathBuf, Asked> {
    let deadline = Instant::now() + wait;
    let no_answer = || Asked::Failed(ChooserError::NoAnswer { waited: wait });
    let failed = |err: zbus::Error| Asked::Failed(ChooserError::Failed(err.to_string()));
    let connection = match timeout_at(deadline, connect(bus)).await {
        Err(_) => return Err(no_answer()),
        Ok(Err(err)) => {
            tracing::info!("no folder chooser: the session bus cannot be reached: {err}");
            return Err(Asked::NoPortal);
        }
        Ok(Ok(connection)) => connection,
    };
    // Subscribed before the dialog opens, so an answer that comes at once is not missed.
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .interface(REQUEST)
        .and_then(|rule| rule.member("Response"))
        .map_err(failed)?
        .build();
    let mut responses =
        match timeout_at(deadline, MessageStream::for_match_rule(rule, &connection, None)).await {
            Err(_) => return Err(no_answer()),
            Ok(stream) => stream.map_err(failed)?,
        };
    let mut options: HashMap<&str, Value<'_>> =
        HashMap::from([("handle_token", Value::from(HANDLE_TOKEN)), ("directory", true.into())]);
    if let Some(start) = start {
        // `current_folder` is a NUL-terminated byte string (the portal's `ay`).
        let mut bytes = start.as_os_str().as_encoded_bytes().to_vec();
        bytes.push(0);
        options.insert("current_folder", Value::from(bytes));
    }
    let body = ("", title, options);
    let opening =
        connection.call_method(Some(PORTAL), PORTAL_PATH, Some(FILE_CHOOSER), "OpenFile", &body);
    let reply = match timeout_at(deadline, opening).await {
        Err(_) => return Err(no_answer()),
        Ok(Err(zbus::Error::MethodError(name, _, _))) if ABSENT.contains(&name.as_str()) => {
            tracing::info!("no folder chooser: {name}");
            return Err(Asked::NoPortal);
        }
        Ok(Err(err)) => return Err(failed(err)),
        Ok(Ok(reply)) => reply,
    };
    let handle: OwnedObjectPath = reply.body().deserialize().map_err(failed)?;
    let portal = reply.header().sender().map(|name| name.as_str().to_owned());
    loop {
        let message = match timeout_at(deadline, responses.next()).await {
            Err(_) => {
                close(&connection, &handle).await;
                return Err(no_answer());
            }
            Ok(None) => return Err(ChooserError::Failed("the session bus closed".into()).into()),
            Ok(Some(message)) => message.map_err(failed)?,
        };
        let header = message.header();
        // Only the portal's own answer on this dialog's request object.
        let ours = header.path().is_some_and(|path| path.as_str() == handle.as_str())
            && header.sender().map(|name| name.as_str()) == portal.as_deref();
        if ours {
            return Ok(answer(&message)?);
        }
    }
}

async fn connect(bus: &str) -> zbus::Result<Connection> {
    zbus::connection::Builder::address(bus)?.build().await
}

/// Closes the dialog of the request object `handle`; a failure is only logged.
async fn close(connection: &Connection, handle: &OwnedObjectPath) {
    let closing = connection.call_method(Some(PORTAL), handle, Some(REQUEST), "Close", &());
    match timeout(CLOSE_WAIT, closing).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => tracing::info!("the unanswered folder chooser was not closed: {err}"),
        Err(_) => tracing::info!("the unanswered folder chooser was not closed in time"),
    }
}

/// The folder of the portal's `Response(u response, a{sv} results)`.
fn answer(message: &Message) -> Result<PathBuf, ChooserError> {
    let malformed = || ChooserError::Failed("the answer is not one local folder".to_owned());
    let (code, mut results): (u32, HashMap<String, OwnedValue>) =
        message.body().deserialize().map_err(|_| malformed())?;
    match code {
        RESPONSE_SUCCESS => {}
        RESPONSE_CANCELLED => return Err(ChooserError::Cancelled),
        _ => return Err(ChooserError::Failed("the dialog ended without a folder".to_owned())),
    }
    let uris = results.remove("uris").ok_or_else(malformed)?;
    let uris = Vec::<String>::try_from(uris).map_err(|_| malformed())?;
    match uris.as_slice() {
        [uri] => local_folder(uri).ok_or_else(malformed),
        _ => Err(malformed()),
    }
}

/// The absolute path of a `file://` URI of this machine.
fn local_folder(uri: &str) -> Option<PathBuf> {
    let url = url::Url::parse(uri).ok()?;
    if url.scheme() != "file" || url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    let path = url.to_file_path().ok()?;
    (path.is_absolute() && !path.as_os_str().as_encoded_bytes().contains(&0)).then_some(path)
}

fn no_chooser(key: &TypeKey) -> ChooserError {
    let command = format!(
        "t1c files map --application {} {} {} FOLDER",
        shell_word(key.application()),
        shell_word(key.entity()),
        shell_word(key.type_name())
    );
    ChooserError::NoChooser { command }
}

/// `word` as one word of a POSIX shell command line.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_local_folder_uri_is_a_folder() {
        assert_eq!(local_folder("file:///home/me/My%20Docs"), Some("/home/me/My Docs".into()));
        assert_eq!(local_folder("file://localhost/srv/x"), Some("/srv/x".into()));
        for refused in [
            "https://example.com/x",
            "file://elsewhere/srv/x",
            "file:///srv/a%00b",
            "file:///srv/x?y",
            "file:///srv/x#y",
            "relative/path",
            "",
        ] {
            assert_eq!(local_folder(refused), None, "{refused}");
        }
    }

    #[test]
    fn the_command_quotes_what_a_shell_would_split() {
        let key = TypeKey::new("https://app.example.com", "my files", "it's").expect("key");
        let ChooserError::NoChooser { command } = no_chooser(&key) else {
            panic!("not NoChooser");
        };
        assert_eq!(
            command,
            r"t1c files map --application https://app.example.com 'my files' 'it'\''s' FOLDER"
        );
    }
}
