//! The operating system's side of the worker pipes: the host reading a worker's replies with a
//! deadline, the worker reading requests and keeping its protocol output away from the
//! library's own prints, and how a worker died.
//!
//! On Unix the host waits in `poll(2)` (see [`super::protocol::wait_readable`]) and a worker's
//! fd 1 becomes a copy of stderr. On Windows an anonymous pipe cannot be waited on with a
//! timeout, so a thread per worker reads its stdout into a channel the host receives from with
//! a deadline; the worker's standard output handle (and the C runtime's fd 1, which libraries'
//! `printf` writes to) become stderr.

use std::fs::File;
use std::io::{self, Read};
use std::process::{ChildStdout, ExitStatus};
use std::time::Instant;

/// A worker's stdout, read by the host with a deadline: a read that would wait past it fails
/// with [`io::ErrorKind::TimedOut`].
pub(super) struct ReplyPipe {
    #[cfg(unix)]
    pipe: ChildStdout,
    #[cfg(windows)]
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    /// What is left of the last chunk received, from `offset` on.
    #[cfg(windows)]
    chunk: Vec<u8>,
    #[cfg(windows)]
    offset: usize,
    deadline: Instant,
}

impl ReplyPipe {
    /// Reads `pipe` until `deadline` (changed with [`ReplyPipe::set_deadline`]).
    ///
    /// # Errors
    /// On Windows, the reading thread cannot be started.
    pub(super) fn new(pipe: ChildStdout, deadline: Instant) -> io::Result<Self> {
        #[cfg(unix)]
        {
            Ok(Self { pipe, deadline })
        }
        #[cfg(windows)]
        {
            let (sender, chunks) = std::sync::mpsc::channel();
            std::thread::Builder::new().name("pkcs11-replies".to_owned()).spawn(move || {
                let mut pipe = pipe;
                let mut buffer = vec![0u8; 64 << 10];
                loop {
                    let chunk = match pipe.read(&mut buffer) {
                        // End of stream: dropping the sender tells the host.
                        Ok(0) => return,
                        Ok(n) => Ok(buffer[..n].to_vec()),
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => Err(err),
                    };
                    let failed = chunk.is_err();
                    // The host dropped the receiver (the worker is gone), or the pipe broke.
                    if sender.send(chunk).is_err() || failed {
                        return;
                    }
                }
            })?;
            Ok(Self { chunks, chunk: Vec::new(), offset: 0, deadline })
        }
    }

    /// The deadline of the next reads.
    pub(super) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
}

#[cfg(unix)]
impl Read for ReplyPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        if super::protocol::wait_readable(self.pipe.as_raw_fd(), Some(self.deadline))? {
            self.pipe.read(buf) // data, or 0 at end of stream
        } else {
            Err(io::ErrorKind::TimedOut.into())
        }
    }
}

#[cfg(windows)]
impl Read for ReplyPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::sync::mpsc::RecvTimeoutError;
        if self.offset == self.chunk.len() {
            let wait = self.deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(wait) {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.offset = 0;
                }
                Ok(Err(err)) => return Err(err),
                Err(RecvTimeoutError::Timeout) => return Err(io::ErrorKind::TimedOut.into()),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let rest = &self.chunk[self.offset..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.offset += n;
        Ok(n)
    }
}

/// The worker's requests: stdin, read as soon as the next request arrives (on Unix, see
/// [`super::protocol::wait_readable`]).
pub(super) struct Requests(io::StdinLock<'static>);

impl Requests {
    /// The process's stdin.
    pub(super) fn stdin() -> Self {
        Self(io::stdin().lock())
    }
}

impl Read for Requests {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            super::protocol::wait_readable(self.0.as_raw_fd(), None)?;
        }
        self.0.read(buf)
    }
}

/// Takes the worker's stdout for the protocol and points the process's standard output at
/// stderr, so a library that prints to stdout cannot inject bytes into the frame stream.
#[cfg(unix)]
#[allow(unsafe_code)] // dup2: FFI on descriptors the process owns.
pub(super) fn protocol_output() -> io::Result<File> {
    use std::os::fd::AsFd;
    let protocol = io::stdout().as_fd().try_clone_to_owned()?;
    // SAFETY: dup2 on two descriptors this process owns for its whole life (0..=2 are never
    // closed here) touches no Rust-managed memory; `Stdout` keeps writing to fd 1, which is now a
    // copy of stderr, which is the point.
    if unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(protocol))
}

/// Takes the worker's stdout for the protocol and points the process's standard output at
/// stderr, so a library that prints to stdout cannot inject bytes into the frame stream.
#[cfg(windows)]
#[allow(unsafe_code)] // SetStdHandle and the C runtime's _dup2: FFI on the process's own handles.
pub(super) fn protocol_output() -> io::Result<File> {
    use std::os::windows::io::{AsHandle, AsRawHandle};
    use windows_sys::Win32::System::Console::{STD_OUTPUT_HANDLE, SetStdHandle};
    unsafe extern "C" {
        /// The C runtime's `dup2` (msvcrt and the UCRT both export it).
        fn _dup2(from: core::ffi::c_int, to: core::ffi::c_int) -> core::ffi::c_int;
    }
    // A duplicate of the handle: it stays open when the C runtime's fd 1 is replaced below.
    let protocol = io::stdout().as_handle().try_clone_to_owned()?;
    let stderr = io::stderr().as_handle().as_raw_handle();
    // SAFETY: the handle is the process's own stderr, valid for its whole life; the standard
    // output handle is only read by later writes to stdout, which is the point.
    if unsafe { SetStdHandle(STD_OUTPUT_HANDLE, stderr) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fds 1 and 2 are the C runtime's own descriptors of this process; `_dup2` closes
    // the handle behind fd 1, of which `protocol` is a separate duplicate.
    if unsafe { _dup2(2, 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(protocol))
}

/// How a worker ended, for errors and logs.
pub(super) fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return "exit status unknown".to_owned();
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGBUS => " (SIGBUS)",
                libc::SIGILL => " (SIGILL)",
                libc::SIGFPE => " (SIGFPE)",
                libc::SIGKILL => " (SIGKILL)",
                _ => "",
            };
            return format!("killed by signal {signal}{name}");
        }
    }
    match status.code() {
        // A crash on Windows ends the process with its exception code (an NTSTATUS).
        #[cfg(windows)]
        Some(code) if (code as u32) >= 0xC000_0000 => {
            let name = match code as u32 {
                0xC000_0005 => " (access violation)",
                0xC000_001D => " (illegal instruction)",
                0xC000_00FD => " (stack overflow)",
                0xC000_0409 => " (fast fail: abort or buffer overrun)",
                _ => "",
            };
            format!("crashed with exception {:#010X}{name}", code as u32)
        }
        Some(code) => format!("exited with status {code}"),
        None => "exit status unknown".to_owned(),
    }
}
