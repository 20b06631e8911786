//! One supervised worker process per library: start, call with a deadline, kill, restart.
//!
//! Calls to one library are serialised by one mutex, held for the whole round trip; calls to
//! different libraries share nothing. The calling thread reads the worker's reply itself, with
//! `poll(2)` bounding every wait by the call's deadline (no reader thread: one wake-up less per
//! call; on Windows a reader thread per worker, see `pipes`); on the deadline the worker is
//! killed (SIGKILL; TerminateProcess on Windows) and reaped, and the next call starts a new
//! one (a new *generation*: sessions of the old one are stale). Repeated failures back off, so
//! a broken library fails fast instead of costing every request a deadline.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use super::pipes::{ReplyPipe, describe};
use super::protocol::{self, Answer, Call, FrameError, Reply, Request, WireSlot};
use super::snapshot::Snapshot;
use super::types::Pkcs11Error;

/// The longest wait between two restarts of a failing worker.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The shortest wait after a library failed to load (retrying at once cannot help).
const LOAD_BACKOFF: Duration = Duration::from_secs(1);
/// How long a worker that closed its stdout may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// How a worker is started and how long its calls may take.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub worker_exe: PathBuf,
    pub env: Vec<(OsString, OsString)>,
    pub call_timeout: Duration,
    pub login_timeout: Duration,
    pub init_timeout: Duration,
}

/// A library and its worker.
pub(crate) struct Library {
    path: PathBuf,
    limits: Limits,
    state: Mutex<State>,
    /// Sessions dropped while a call held `state`; closed before the next call.
    pending_closes: Mutex<Vec<(u64, u64)>>,
    /// The slots it listed last, for listings that must not wait for the worker.
    snapshot: Snapshot,
}

/// What asking a worker for its slots without waiting gave ([`Library::poll_slots`]).
pub(crate) enum Polled {
    /// Another call holds the worker, or the library was removed: nothing was asked.
    Busy,
    /// No worker runs (it died, or never started), and none was started.
    Down,
    /// The worker answered, or failed, as the `seq`th call to the library.
    Answered(u64, Result<Vec<WireSlot>, Pkcs11Error>),
}

#[derive(Default)]
struct State {
    worker: Option<Running>,
    generations: u64,
    next_id: u64,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Pkcs11Error>,
    stopped: bool,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ReplyPipe>,
    generation: u64,
}

impl Running {
    /// The next message of the worker, waiting until `deadline` at most.
    fn receive(&mut self, deadline: Instant) -> Result<Reply, FrameError> {
        self.stdout.get_mut().set_deadline(deadline);
        protocol::read_frame(&mut self.stdout).and_then(|body| protocol::decode(&body))
    }
}

impl Library {
    pub(crate) fn new(path: PathBuf, limits: Limits) -> Self {
        Self {
            path,
            limits,
            state: Mutex::new(State::default()),
            pending_closes: Mutex::new(Vec::new()),
            snapshot: Snapshot::new(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The slots it listed last.
    pub(crate) fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Lists the slots (`Call::Slots`), starting the worker if needed and waiting for the
    /// library. Returns the call's sequence number with the answer: a later number is a later
    /// listing.
    pub(crate) fn slots(&self) -> (u64, Result<Vec<WireSlot>, Pkcs11Error>) {
        let mut state = self.lock();
        let (seq, result) = self.call_locked(&mut state, None, Call::Slots);
        (seq, slots_of(result))
    }

    /// Lists the slots only if the worker runs and no call holds it: never starts a worker and
    /// never waits for another call (a background refresh).
    pub(crate) fn poll_slots(&self) -> Polled {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Polled::Busy,
        };
        if state.stopped {
            return Polled::Busy;
        }
        let Some(generation) = state.worker.as_ref().map(|running| running.generation) else {
            return Polled::Down;
        };
        let (seq, result) = self.call_locked(&mut state, Some(generation), Call::Slots);
        Polled::Answered(seq, slots_of(result))
    }

    /// Performs `call` on the current worker, starting one if needed. Returns the answer and the
    /// generation of the worker that gave it.
    pub(crate) fn call(&self, call: Call) -> Result<(Answer, u64), Pkcs11Error> {
        self.call_in(None, call)
    }

    /// Performs `call` on the worker of `generation` only: a session's calls.
    pub(crate) fn call_on(&self, generation: u64, call: Call) -> Result<Answer, Pkcs11Error> {
        self.call_in(Some(generation), call).map(|(answer, _)| answer)
    }

    /// Closes a session of `generation`, without waiting for a call in flight.
    pub(crate) fn close_session(&self, generation: u64, session: u64) {
        match self.state.try_lock() {
            Ok(mut state) => send_close(&mut state, generation, session),
            Err(TryLockError::Poisoned(poisoned)) => {
                send_close(&mut poisoned.into_inner(), generation, session);
            }
            Err(TryLockError::WouldBlock) => {
                lock(&self.pending_closes).push((generation, session));
            }
        }
    }

    /// Stops the worker for good (the library was removed from the configuration), and its
    /// background refresh.
    pub(crate) fn stop(&self) {
        self.snapshot.stop();
        let mut state = self.lock();
        state.stopped = true;
        if let Some(running) = state.worker.take() {
            shut_down(running);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn call_in(&self, generation: Option<u64>, call: Call) -> Result<(Answer, u64), Pkcs11Error> {
        let mut state = self.lock();
        self.call_locked(&mut state, generation, call).1
    }

    /// [`Library::call_in`] with the state held; also returns the call's sequence number.
    fn call_locked(
        &self,
        state: &mut State,
        generation: Option<u64>,
        call: Call,
    ) -> (u64, Result<(Answer, u64), Pkcs11Error>) {
        state.next_id += 1;
        let id = state.next_id;
        (id, self.perform(state, id, generation, call))
    }

    fn perform(
        &self,
        state: &mut State,
        id: u64,
        generation: Option<u64>,
        call: Call,
    ) -> Result<(Answer, u64), Pkcs11Error> {
        let timeout = match call {
            Call::Login { .. } => self.limits.login_timeout,
            _ => self.limits.call_timeout,
        };
        if state.stopped {
            return Err(Pkcs11Error::NoSuchSlot);
        }
        let current = match generation {
            None => self.ensure_running(state)?,
            Some(generation) => match &state.worker {
                Some(running) if running.generation == generation => generation,
                _ => return Err(Pkcs11Error::StaleSession),
            },
        };
        for (generation, session) in std::mem::take(&mut *lock(&self.pending_closes)) {
            send_close(state, generation, session);
        }
        let outcome = self.round_trip(state, id, call, timeout);
        match outcome {
            Ok(result) => {
                state.failures = 0;
                result.map(|answer| (answer, current))
            }
            Err(err) => {
                self.record_failure(state, err.clone());
                Err(err)
            }
        }
    }

    /// Sends one call and waits for its answer. The outer error is the worker's failure (it is
    /// gone afterwards); the inner result is the library's answer.
    fn round_trip(
        &self,
        state: &mut State,
        id: u64,
        call: Call,
        timeout: Duration,
    ) -> Result<Result<Answer, Pkcs11Error>, Pkcs11Error> {
        let Some(running) = state.worker.as_mut() else {
            return Err(Pkcs11Error::WorkerCrashed("not running".to_owned()));
        };
        let frame = protocol::encode(&Request::Call { id, call })
            .map_err(|e| Pkcs11Error::InvalidInput(e.to_string()))?;
        let deadline = Instant::now() + timeout;
        if protocol::write_frame(&mut running.stdin, &frame).is_err() {
            return Err(self.crashed(state));
        }
        drop(frame);
        match running.receive(deadline) {
            Ok(Reply::Answer { id: answered, result }) if answered == id => Ok(result),
            Ok(other) => {
                tracing::warn!(library = %self.path.display(), ?other, "unexpected worker reply");
                self.kill(state);
                Err(Pkcs11Error::WorkerCrashed("protocol error: unexpected reply".to_owned()))
            }
            Err(err) if ended(&err) => Err(self.crashed(state)),
            Err(err) if !timed_out(&err) => {
                tracing::warn!(library = %self.path.display(), %err, "bad frame from worker");
                self.kill(state);
                Err(Pkcs11Error::WorkerCrashed(format!("protocol error: {err}")))
            }
            Err(_) => {
                tracing::warn!(
                    library = %self.path.display(),
                    ?timeout,
                    "PKCS#11 call timed out; killing the worker"
                );
                self.kill(state);
                Err(Pkcs11Error::Timeout)
            }
        }
    }

    /// Starts a worker unless one runs; returns its generation.
    fn ensure_running(&self, state: &mut State) -> Result<u64, Pkcs11Error> {
        if let Some(running) = &state.worker {
            return Ok(running.generation);
        }
        if let (Some(retry_at), Some(err)) = (state.retry_at, &state.last_error)
            && Instant::now() < retry_at
        {
            return Err(err.clone());
        }
        state.generations += 1;
        let generation = state.generations;
        match self.spawn(generation) {
            Ok(running) => {
                state.worker = Some(running);
                Ok(generation)
            }
            Err(err) => {
                self.record_failure(state, err.clone());
                Err(err)
            }
        }
    }

    fn spawn(&self, generation: u64) -> Result<Running, Pkcs11Error> {
        let mut child = Command::new(&self.limits.worker_exe)
            .arg("pkcs11-worker")
            .arg(&self.path)
            .envs(self.limits.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Pkcs11Error::LibraryLoad(format!("cannot start the worker: {e}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Pkcs11Error::LibraryLoad("worker pipes missing".to_owned()));
        };
        let library = self.path.display().to_string();
        let logger = thread::Builder::new().name(format!("pkcs11-{generation}")).spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                tracing::warn!(%library, "pkcs11 worker: {line}");
            }
        });
        if logger.is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Pkcs11Error::LibraryLoad("cannot start worker threads".to_owned()));
        }
        let deadline = Instant::now() + self.limits.init_timeout;
        let stdout = match ReplyPipe::new(stdout, deadline) {
            Ok(pipe) => BufReader::new(pipe),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Pkcs11Error::LibraryLoad("cannot start worker threads".to_owned()));
            }
        };
        let mut running = Running { child, stdin, stdout, generation };
        match running.receive(deadline) {
            Ok(Reply::Ready(Ok(()))) => {
                tracing::info!(library = %self.path.display(), generation, "PKCS#11 worker ready");
                Ok(running)
            }
            Ok(Reply::Ready(Err(err))) => {
                tracing::warn!(library = %self.path.display(), %err, "PKCS#11 library not loaded");
                shut_down(running);
                Err(err)
            }
            Ok(Reply::Answer { .. }) => {
                kill(&mut running.child);
                Err(Pkcs11Error::WorkerCrashed("protocol error: no ready message".to_owned()))
            }
            Err(err) if ended(&err) => {
                Err(Pkcs11Error::WorkerCrashed(describe(reap(&mut running.child))))
            }
            Err(err) if !timed_out(&err) => {
                kill(&mut running.child);
                Err(Pkcs11Error::WorkerCrashed(format!("protocol error: {err}")))
            }
            Err(_) => {
                tracing::warn!(
                    library = %self.path.display(),
                    "PKCS#11 library did not initialise in time; killing the worker"
                );
                kill(&mut running.child);
                Err(Pkcs11Error::Timeout)
            }
        }
    }

    /// The worker closed its end: reap it and say how it died.
    fn crashed(&self, state: &mut State) -> Pkcs11Error {
        let Some(mut running) = state.worker.take() else {
            return Pkcs11Error::WorkerCrashed("not running".to_owned());
        };
        let how = describe(reap(&mut running.child));
        tracing::warn!(library = %self.path.display(), how, "PKCS#11 worker died");
        Pkcs11Error::WorkerCrashed(how)
    }

    fn kill(&self, state: &mut State) {
        if let Some(mut running) = state.worker.take() {
            kill(&mut running.child);
        }
    }

    fn record_failure(&self, state: &mut State, err: Pkcs11Error) {
        if let Some(mut running) = state.worker.take() {
            // A failure that is not the worker's (a bad request) leaves it running.
            if matches!(err, Pkcs11Error::InvalidInput(_)) {
                state.worker = Some(running);
                return;
            }
            kill(&mut running.child);
        }
        state.failures = state.failures.saturating_add(1);
        let mut backoff = match state.failures {
            0 | 1 => Duration::ZERO,
            n => Duration::from_millis(250u64 << (n - 2).min(7)).min(MAX_BACKOFF),
        };
        if matches!(err, Pkcs11Error::LibraryLoad(_)) {
            backoff = backoff.max(LOAD_BACKOFF);
        }
        state.retry_at = Some(Instant::now() + backoff);
        state.last_error = Some(err);
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        if let Some(running) = lock(&self.state).worker.take() {
            shut_down(running);
        }
    }
}

/// The slots of a `Call::Slots` answer.
fn slots_of(result: Result<(Answer, u64), Pkcs11Error>) -> Result<Vec<WireSlot>, Pkcs11Error> {
    match result? {
        (Answer::Slots(slots), _) => Ok(slots),
        _ => Err(Pkcs11Error::WorkerCrashed("protocol error: answer of the wrong kind".to_owned())),
    }
}

/// The worker closed its stdout, between frames or inside one (it died mid-write).
fn ended(err: &FrameError) -> bool {
    match err {
        FrameError::Eof => true,
        FrameError::Io(io) => io.kind() == io::ErrorKind::UnexpectedEof,
        _ => false,
    }
}

fn timed_out(err: &FrameError) -> bool {
    matches!(err, FrameError::Io(io) if io.kind() == io::ErrorKind::TimedOut)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn send_close(state: &mut State, generation: u64, session: u64) {
    let Some(running) = state.worker.as_mut().filter(|r| r.generation == generation) else {
        return; // the worker that had it is gone, and the session with it
    };
    if let Ok(frame) = protocol::encode(&Request::CloseSession { session }) {
        // A failed write means the worker died; the next call finds out and says so.
        let _ = protocol::write_frame(&mut running.stdin, &frame);
    }
}

/// Ends a worker politely: closing stdin makes it finalise the library and exit.
fn shut_down(running: Running) {
    let Running { mut child, stdin, .. } = running;
    drop(stdin);
    let deadline = Instant::now() + EXIT_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
    kill(&mut child);
}

fn kill(child: &mut Child) {
    // SIGKILL; an error means it already exited. Reaping frees the process table entry.
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits briefly for a worker whose pipe closed to exit; kills it if it lingers.
fn reap(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + EXIT_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}
