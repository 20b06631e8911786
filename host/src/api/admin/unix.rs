//! The admin channel on Unix: a socket in a `0700` folder of the data directory, `0600`
//! itself, and every connection's peer credentials checked against the connector's own user
//! (or root).

use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use super::AdminError;

/// A connection the server accepted.
pub(super) type ServerStream = UnixStream;
/// A client's connection.
pub(super) type ClientStream = UnixStream;

/// `<data dir>/run/admin.sock`.
pub(super) fn endpoint(data_dir: &Path) -> PathBuf {
    data_dir.join("run").join("admin.sock")
}

/// The bound socket.
pub(super) struct Listener {
    listener: UnixListener,
    path: PathBuf,
}

impl Listener {
    /// Binds the socket at `path`, replacing one a connector that did not stop cleanly left.
    pub(super) async fn bind(path: &Path) -> Result<Self, AdminError> {
        let io = |source| AdminError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(io)?;
        }
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(AdminError::InUse(path.to_owned()));
            }
            // Left by a connector that did not stop cleanly.
            std::fs::remove_file(path).map_err(io)?;
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        set_mode(path, 0o600).map_err(io)?;
        Ok(Self { listener, path: path.to_owned() })
    }

    /// The next connection of the connector's own user (or root); others are logged and
    /// dropped.
    pub(super) async fn accept(&mut self) -> std::io::Result<ServerStream> {
        loop {
            let (stream, _) = self.listener.accept().await?;
            if same_user(&stream) {
                return Ok(stream);
            }
            tracing::warn!(
                socket = %self.path.display(),
                "admin connection from another user refused"
            );
        }
    }
}

/// Connects to the socket at `path`.
pub(super) async fn connect(path: &Path) -> std::io::Result<ClientStream> {
    UnixStream::connect(path).await
}

/// Removes the socket file of a stopped server.
pub(super) fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[allow(unsafe_code)] // geteuid: FFI without preconditions.
fn same_user(stream: &UnixStream) -> bool {
    let Ok(credentials) = stream.peer_cred() else {
        return false;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let own = unsafe { libc::geteuid() };
    credentials.uid() == own || credentials.uid() == 0
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    set_mode(dir, 0o700)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
