//! The admin channel on Windows: a named pipe, `\\.\pipe\t1c-admin-<digest of the data
//! directory>`, that admits only the user who runs the connector.
//!
//! The pipe's security descriptor is `O:<user>D:P(A;;GA;;;<user>)`: owned by the user, a
//! protected access list with one entry that grants the user (and no one else, not even
//! administrators or SYSTEM through inheritance) access. Remote clients are rejected, and the
//! first instance must be new, so a process that created the name first makes the connector
//! fail to start instead of receiving its requests. A client checks that the pipe it reached is
//! owned by its own user before it sends anything, so it does not talk to a pipe another user
//! created under the name.

use std::ffi::OsString;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY, ERROR_SUCCESS, HANDLE, LocalFree,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::AdminError;

/// A connection the server accepted.
pub(super) type ServerStream = NamedPipeServer;
/// A client's connection.
pub(super) type ClientStream = NamedPipeClient;

/// How long a client retries while every instance of the pipe is busy (between a client's
/// connection and the server's next instance).
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// `\\.\pipe\t1c-admin-<first 16 hex digits of the SHA-256 of the data directory>`: pipe names
/// are machine-wide, so each data directory (each user, each test connector) has its own.
pub(super) fn endpoint(data_dir: &Path) -> PathBuf {
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    PathBuf::from(format!(r"\\.\pipe\t1c-admin-{}", hex::encode(&digest[..8])))
}

/// The pipe's next instance, waiting for a client.
pub(super) struct Listener {
    path: PathBuf,
    /// The user's SID (`S-1-5-21-...`), for each new instance's security descriptor.
    user: String,
    next: NamedPipeServer,
}

impl Listener {
    /// Creates the pipe's first instance; [`AdminError::InUse`] when the name exists already.
    pub(super) async fn bind(path: &Path) -> Result<Self, AdminError> {
        let io = |source| AdminError::Io { path: path.to_owned(), source };
        let user = current_user_sid().map_err(io)?;
        // A connector serving the name answers a client (or is busy with one); the first
        // instance flag below catches the rest (a race, or a pipe another user holds).
        match ClientOptions::new().open(path) {
            Ok(_) => return Err(AdminError::InUse(path.to_owned())),
            Err(err) if err.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
                return Err(AdminError::InUse(path.to_owned()));
            }
            Err(_) => {}
        }
        let next = match create_instance(path, &user, true) {
            Ok(next) => next,
            // `FILE_FLAG_FIRST_PIPE_INSTANCE` on an existing name.
            Err(err) if err.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
                return Err(AdminError::InUse(path.to_owned()));
            }
            Err(err) => return Err(io(err)),
        };
        Ok(Self { path: path.to_owned(), user, next })
    }

    /// The next connection; only the user can open the pipe (its access list says so).
    pub(super) async fn accept(&mut self) -> std::io::Result<ServerStream> {
        self.next.connect().await?;
        let following = create_instance(&self.path, &self.user, false)?;
        Ok(std::mem::replace(&mut self.next, following))
    }
}

/// Connects to the pipe at `path`, and checks that the user owns it.
pub(super) async fn connect(path: &Path) -> std::io::Result<ClientStream> {
    let deadline = Instant::now() + BUSY_RETRY;
    let client = loop {
        match ClientOptions::new().open(path) {
            Ok(client) => break client,
            // No event tells a client that an instance is free: retry until the deadline.
            Err(err)
                if err.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => return Err(err),
        }
    };
    let owner = pipe_owner(&client)?;
    if owner != current_user_sid()? {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("the pipe is owned by {owner}, not by this user"),
        ));
    }
    Ok(client)
}

/// Nothing to remove: a pipe goes away with its last handle.
pub(super) fn remove(_path: &Path) {}

/// One instance of the pipe, restricted to `user`.
#[allow(unsafe_code)] // The security descriptor is built and freed by the system (FFI).
fn create_instance(path: &Path, user: &str, first: bool) -> std::io::Result<NamedPipeServer> {
    let sddl = wide(&format!("O:{user}D:P(A;;GA;;;{user})"));
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `sddl` is a NUL-terminated UTF-16 string that outlives the call; the descriptor
    // the system allocates is written to `descriptor` and freed below with LocalFree.
    let converted = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if converted == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: u32::try_from(size_of::<SECURITY_ATTRIBUTES>()).unwrap_or(u32::MAX),
        lpSecurityDescriptor: descriptor,
        bInheritHandle: 0,
    };
    // SAFETY: `attributes` is a valid SECURITY_ATTRIBUTES whose descriptor stays allocated
    // until after the call; the system copies what it keeps.
    let created = unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(path, (&raw mut attributes).cast())
    };
    // SAFETY: `descriptor` was allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW
    // and is not used after this.
    unsafe { LocalFree(descriptor) };
    created
}

/// The SID of the user this process runs as, in its string form.
#[allow(unsafe_code)] // Token queries (FFI).
fn current_user_sid() -> std::io::Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo handle that needs no closing; `token` receives
    // a handle closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let sid = token_user_sid(token);
    // SAFETY: `token` is the handle OpenProcessToken opened, closed once.
    unsafe { CloseHandle(token) };
    sid
}

#[allow(unsafe_code)] // GetTokenInformation into a buffer of the size it asks for.
fn token_user_sid(token: HANDLE) -> std::io::Result<String> {
    let mut needed = 0u32;
    // SAFETY: a size query: no buffer, the size is written to `needed`; it fails with
    // ERROR_INSUFFICIENT_BUFFER, which is expected.
    unsafe { GetTokenInformation(token, TokenUser, std::ptr::null_mut(), 0, &mut needed) };
    if needed == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Words, so the buffer is aligned for TOKEN_USER.
    let mut buffer = vec![0usize; (needed as usize).div_ceil(size_of::<usize>())];
    // SAFETY: `buffer` is writable for at least `needed` bytes and aligned for TOKEN_USER.
    let ok = unsafe {
        GetTokenInformation(token, TokenUser, buffer.as_mut_ptr().cast(), needed, &mut needed)
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so the buffer holds a TOKEN_USER whose SID points into the
    // buffer, which lives until after the SID is converted.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    sid_string(sid)
}

/// The SID of the owner of the pipe `client` reached, in its string form.
#[allow(unsafe_code)] // GetSecurityInfo on the client's own handle (FFI).
fn pipe_owner(client: &NamedPipeClient) -> std::io::Result<String> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is open for the client's lifetime (it was opened for reading, which
    // includes READ_CONTROL); `owner` points into `descriptor`, which the system allocates and
    // which is freed below after the SID is converted.
    let status = unsafe {
        GetSecurityInfo(
            client.as_raw_handle(),
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(status as i32));
    }
    let sid = sid_string(owner);
    // SAFETY: allocated by GetSecurityInfo, freed once, `owner` is not used after this.
    unsafe { LocalFree(descriptor) };
    sid
}

#[allow(unsafe_code)] // ConvertSidToStringSidW and the string it allocates (FFI).
fn sid_string(sid: PSID) -> std::io::Result<String> {
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` is a valid SID (the caller's buffer keeps it alive); the string the system
    // allocates is written to `text` and freed below.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `text` is a NUL-terminated UTF-16 string: read up to the NUL.
    let length = (0..).take_while(|&i| unsafe { *text.add(i) } != 0).count();
    // SAFETY: `length` u16s before the NUL are initialised.
    let units = unsafe { std::slice::from_raw_parts(text, length) };
    let string = OsString::from_wide(units).to_string_lossy().into_owned();
    // SAFETY: allocated by ConvertSidToStringSidW, freed once, not read after this.
    unsafe { LocalFree(text.cast()) };
    Ok(string)
}

/// `text` as a NUL-terminated UTF-16 string.
fn wide(text: &str) -> Vec<u16> {
    std::ffi::OsStr::new(text).encode_wide().chain(std::iter::once(0)).collect()
}
