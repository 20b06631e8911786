//! The PC/SC backend: readers and cards through the system's PC/SC service (`pcscd` with
//! pcsc-lite, WinSCard on Windows).
//!
//! A monitor thread ([`monitor`]) keeps a snapshot of the readers with `SCardGetStatusChange`,
//! reconnecting with backoff whenever the service goes away. Each session ([`session`]) opens
//! its own PC/SC context, so sessions on different readers never wait on one another and a
//! restarted service is simply picked up by the next session.

mod monitor;
mod session;

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::debug;

use super::queue::Queues;
use super::{ReaderBackend, ReaderError, ReaderId, ReaderInfo};

/// Settings of the [`PcscBackend`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PcscConfig {
    /// How many operations may wait for a busy reader before more are refused.
    pub queue_capacity: usize,
    /// The longest pause between two attempts to reach a missing PC/SC service.
    pub max_backoff: Duration,
    /// Whether the card is reset when a session ends, so that no security state (a verified
    /// PIN) carries over to the next operation.
    pub reset_after_session: bool,
}

/// Whether the backend currently talks to the PC/SC service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceStatus {
    /// Connected; the reader list is live.
    Running,
    /// Not reachable (not running, stopped, restarting); the reader list is empty and the
    /// backend keeps trying.
    Unavailable(String),
}

/// Readers through the PC/SC service.
///
/// Dropping it stops the monitor thread; sessions already open stay valid until dropped.
pub struct PcscBackend {
    shared: Arc<Shared>,
    monitor: Option<JoinHandle<()>>,
}

impl PcscBackend {
    /// Starts watching the PC/SC service and returns once the first look at it is done (or
    /// after a few seconds). A service that is not running is not an error: the backend
    /// reports [`ServiceStatus::Unavailable`] and no readers until it comes up.
    ///
    /// # Errors
    /// [`ReaderError::Pcsc`] when the monitor thread cannot be started.
    pub fn start(config: PcscConfig) -> Result<Self, ReaderError> {
        let shared = Arc::new(Shared::new(config));
        let monitor = std::thread::Builder::new()
            .name("t1c-pcsc-monitor".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || monitor::run(&shared)
            })
            .map_err(|error| ReaderError::Pcsc {
                operation: "monitor thread start",
                detail: error.to_string(),
            })?;
        shared.wait_for_first_look(FIRST_LOOK_TIMEOUT);
        Ok(Self { shared, monitor: Some(monitor) })
    }

    /// Whether the PC/SC service is reachable right now.
    pub fn status(&self) -> ServiceStatus {
        lock(&self.shared.snapshot).service.clone()
    }
}

impl ReaderBackend for PcscBackend {
    fn readers(&self) -> Vec<ReaderInfo> {
        lock(&self.shared.snapshot).readers.iter().map(|reader| reader.info.clone()).collect()
    }

    fn connect(
        &self,
        id: &ReaderId,
        timeout: Duration,
    ) -> Result<Box<dyn t1c_sdk::Card + Send>, ReaderError> {
        let name = {
            let snapshot = lock(&self.shared.snapshot);
            if let ServiceStatus::Unavailable(reason) = &snapshot.service {
                // The monitor may be in a long pause; have it look again now.
                self.shared.nudge();
                return Err(ReaderError::ServiceUnavailable(reason.clone()));
            }
            snapshot
                .readers
                .iter()
                .find(|reader| &reader.info.id == id)
                .map(|reader| reader.name.clone())
                .ok_or_else(|| ReaderError::UnknownReader(id.clone()))?
        };
        let turn = self.shared.queues.wait_turn(id, timeout)?;
        let reset = self.shared.config.reset_after_session;
        match session::PcscCard::open(&name, id, reset, turn) {
            Ok(card) => Ok(Box::new(card)),
            Err(error) => {
                if matches!(error, ReaderError::ServiceUnavailable(_)) {
                    // The monitor may not have noticed yet; have it look now.
                    self.shared.nudge();
                }
                Err(error)
            }
        }
    }
}

impl Drop for PcscBackend {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(monitor) = self.monitor.take()
            && monitor.join().is_err()
        {
            debug!("the PC/SC monitor thread panicked");
        }
    }
}

impl Default for PcscConfig {
    fn default() -> Self {
        Self { queue_capacity: 16, max_backoff: Duration::from_secs(2), reset_after_session: true }
    }
}

/// How long [`PcscBackend::start`] waits for the first reader list.
const FIRST_LOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// What the monitor thread and the sessions share.
struct Shared {
    config: PcscConfig,
    queues: Queues,
    snapshot: Mutex<Snapshot>,
    published: Condvar,
    stopping: AtomicBool,
    /// The monitor's current context, so that [`Shared::stop`] can cancel its wait.
    monitor_context: Mutex<Option<::pcsc::Context>>,
    nudged: Mutex<bool>,
    wake: Condvar,
}

struct Snapshot {
    looks: u64,
    service: ServiceStatus,
    readers: Vec<SeenReader>,
}

/// A reader in the snapshot, with the name PC/SC knows it by.
#[derive(Clone)]
struct SeenReader {
    info: ReaderInfo,
    name: CString,
}

impl Shared {
    fn new(config: PcscConfig) -> Self {
        Self {
            queues: Queues::new(config.queue_capacity),
            config,
            snapshot: Mutex::new(Snapshot {
                looks: 0,
                service: ServiceStatus::Unavailable("not yet contacted".into()),
                readers: Vec::new(),
            }),
            published: Condvar::new(),
            stopping: AtomicBool::new(false),
            monitor_context: Mutex::new(None),
            nudged: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    fn publish(&self, service: ServiceStatus, readers: Vec<SeenReader>) {
        let mut snapshot = lock(&self.snapshot);
        if snapshot.service != service {
            debug!(?service, "PC/SC service status changed");
        }
        snapshot.looks += 1;
        snapshot.service = service;
        snapshot.readers = readers;
        drop(snapshot);
        self.published.notify_all();
    }

    fn wait_for_first_look(&self, timeout: Duration) {
        let snapshot = lock(&self.snapshot);
        let _ = self
            .published
            .wait_timeout_while(snapshot, timeout, |snapshot| snapshot.looks == 0)
            .unwrap_or_else(PoisonError::into_inner);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(context) = lock(&self.monitor_context).as_ref()
            && let Err(error) = context.cancel()
        {
            debug!(%error, "cancelling the PC/SC monitor's wait failed");
        }
        self.nudge();
    }

    /// Cuts the monitor's current pause short.
    fn nudge(&self) {
        *lock(&self.nudged) = true;
        self.wake.notify_all();
    }

    /// Pauses the monitor for `duration`, less if nudged or stopped.
    fn pause(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        let mut nudged = lock(&self.nudged);
        while !*nudged && !self.stopping() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            nudged = self.wake.wait_timeout(nudged, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        *nudged = false;
    }
}

/// Locks `mutex`; a panic elsewhere while holding it leaves the plain data inside usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
