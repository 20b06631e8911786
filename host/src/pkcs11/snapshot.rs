//! Each library's slots as it listed them last, kept current by a background thread, so that
//! listing the connector's token slots (`GET /v3/readers`, pages poll it) reads memory and never
//! waits for a library.
//!
//! # How tokens are watched
//!
//! A watcher thread per library ([`watch`]) lists its slots once (starting the worker), then
//! every [`POLL`] asks the worker again, but only when the worker runs and no other call holds
//! it ([`Library::poll_slots`]): a sign or a pinpad login is never delayed by more than one
//! listing, a library busy for a minute keeps its last slots, and a hung library is never
//! restarted by the watcher on its own. A worker that died is restarted (with the supervisor's
//! backoff) only once a listing has asked for the library since, as a listing restarted it
//! before there were snapshots. Any listing made for another reason (opening a slot, telling
//! a removed token from a failing one) is published too; sequence numbers keep an older answer
//! from replacing a newer one.
//!
//! `C_WaitForSlotEvent` is not used. Tried on the libraries the connector is tested with:
//! SoftHSMv2 2.6 answers `CKR_NO_EVENT` to a non-blocking wait and
//! `CKR_FUNCTION_NOT_SUPPORTED` to a blocking one; OpenSC 0.23 answers `CKR_NO_EVENT` without
//! blocking, and `CKR_GENERAL_ERROR` to a blocking wait when no PC/SC service runs. A blocking
//! wait would also need a second thread calling into the library while the worker serves
//! requests, which not every vendor library survives. A listing through an idle worker costs a
//! round trip of well under a millisecond, four times a second.
//!
//! SoftHSMv2 does not even change its slot list when listed again: it reads its token directory
//! in `C_Initialize` only (a token created since never appears, one deleted since fails with
//! `CKR_GENERAL_ERROR`). The worker therefore initialises a library whose slots are all fixed
//! (none removable) again before listing, when no session is open (see `worker.rs`).
//!
//! A token inserted or removed therefore shows up within [`POLL`] plus one listing, well within
//! a second, unless the library is busy with another call for longer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::TokenSlot;
use super::supervisor::{Library, Polled};
use super::types::Pkcs11Error;

/// How often a watcher asks an idle worker for its slots.
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// What a library's last listing said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listing {
    /// The library has not answered its first listing yet.
    Pending,
    /// The slots that hold a token.
    Slots(Vec<TokenSlot>),
    /// The listing failed (logged): the library contributes no slots.
    Failed,
}

/// The slots a library listed last, and the state its watcher shares with listings.
pub(crate) struct Snapshot {
    /// Read without a lock by every listing.
    listed: ArcSwap<Listing>,
    /// Orders publications, and lets listings wait for the first one.
    order: Mutex<Order>,
    /// Notified on every publication and on stop.
    changed: Condvar,
    /// The watcher found no worker running.
    down: AtomicBool,
    /// A listing asked for the library since the watcher found it down.
    wanted: AtomicBool,
}

#[derive(Default)]
struct Order {
    /// Sequence number of the listing published last.
    seq: u64,
    stopped: bool,
}

impl Snapshot {
    pub(crate) fn new() -> Self {
        Self {
            listed: ArcSwap::from_pointee(Listing::Pending),
            order: Mutex::new(Order::default()),
            changed: Condvar::new(),
            down: AtomicBool::new(false),
            wanted: AtomicBool::new(false),
        }
    }

    /// The last listing, without waiting. Marks the library as wanted, so that a watcher that
    /// found its worker dead restarts it.
    pub(crate) fn current(&self) -> Arc<Listing> {
        if self.down.load(Ordering::Relaxed) && !self.wanted.load(Ordering::Relaxed) {
            self.wanted.store(true, Ordering::Relaxed);
        }
        self.listed.load_full()
    }

    /// The last listing; while the library has not answered its first, waits for it until
    /// `deadline` (still [`Listing::Pending`] then).
    pub(crate) fn first_listed(&self, deadline: Instant) -> Arc<Listing> {
        let listing = self.current();
        if *listing != Listing::Pending {
            return listing;
        }
        let mut order = self.lock();
        loop {
            let listing = self.listed.load_full();
            let now = Instant::now();
            if *listing != Listing::Pending || order.stopped || now >= deadline {
                return listing;
            }
            order = self
                .changed
                .wait_timeout(order, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Publishes the listing numbered `seq`, unless a later one was published already.
    pub(crate) fn publish(&self, seq: u64, result: &Result<Vec<TokenSlot>, Pkcs11Error>) {
        let mut order = self.lock();
        if seq <= order.seq {
            return;
        }
        order.seq = seq;
        let listing = match result {
            Ok(slots) => Listing::Slots(slots.clone()),
            Err(_) => Listing::Failed,
        };
        if **self.listed.load() != listing {
            self.listed.store(Arc::new(listing));
        }
        drop(order);
        self.changed.notify_all();
    }

    /// Ends the watcher (at its next wake-up) and wakes whoever waits for a first listing.
    pub(crate) fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// Waits `interval`, or less when stopped; `false` once stopped.
    fn sleep(&self, interval: Duration) -> bool {
        let until = Instant::now() + interval;
        let mut order = self.lock();
        loop {
            let now = Instant::now();
            if order.stopped || now >= until {
                return !order.stopped;
            }
            order =
                self.changed.wait_timeout(order, until - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Order> {
        self.order.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the watcher of `library` (see the module docs): it lists the slots at once, starting
/// the worker, and keeps the snapshot current until [`Library::stop`].
pub(crate) fn start_watching(library: Arc<Library>) {
    let watched = library.clone();
    let spawned = thread::Builder::new().name("pkcs11-watch".to_owned()).spawn(move || {
        watch(&watched);
    });
    if let Err(err) = spawned {
        // Listings still work: the first one waits for its deadline and lists nothing.
        tracing::warn!(library = %library.path().display(), %err, "cannot watch PKCS#11 slots");
    }
}

fn watch(library: &Library) {
    let snapshot = library.snapshot();
    if let Err(err) = super::list_slots(library) {
        tracing::warn!(library = %library.path().display(), %err, "PKCS#11 library lists no slots");
    }
    while snapshot.sleep(POLL) {
        match library.poll_slots() {
            Polled::Busy => {}
            Polled::Down if snapshot.wanted.swap(false, Ordering::Relaxed) => {
                snapshot.down.store(false, Ordering::Relaxed);
                if let Err(err) = super::list_slots(library) {
                    tracing::warn!(library = %library.path().display(), %err, "PKCS#11 library lists no slots");
                }
            }
            Polled::Down => snapshot.down.store(true, Ordering::Relaxed),
            Polled::Answered(seq, result) => {
                snapshot.down.store(false, Ordering::Relaxed);
                snapshot.wanted.store(false, Ordering::Relaxed);
                let failed = matches!(**snapshot.listed.load(), Listing::Failed);
                let result = result.map(|slots| super::token_slots(library.path(), slots));
                if let Err(err) = &result
                    && !failed
                {
                    tracing::warn!(library = %library.path().display(), %err, "PKCS#11 library lists no slots");
                }
                snapshot.publish(seq, &result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(id: &str) -> TokenSlot {
        TokenSlot {
            id: id.parse().expect("a reader id"),
            library: "/usr/lib/a.so".into(),
            slot_id: 1,
            description: String::new(),
            label: "token".to_owned(),
            manufacturer: String::new(),
            model: String::new(),
            serial: String::new(),
            protected_authentication_path: false,
        }
    }

    #[test]
    fn an_older_listing_never_replaces_a_newer_one() {
        let snapshot = Snapshot::new();
        snapshot.publish(2, &Ok(vec![slot("0000000000000002")]));
        snapshot.publish(1, &Ok(vec![slot("0000000000000001")]));
        assert_eq!(*snapshot.current(), Listing::Slots(vec![slot("0000000000000002")]));
        snapshot.publish(3, &Err(Pkcs11Error::Timeout));
        assert_eq!(*snapshot.current(), Listing::Failed);
    }

    #[test]
    fn the_first_listing_is_waited_for_until_the_deadline() {
        let snapshot = Arc::new(Snapshot::new());
        let past = Instant::now();
        assert_eq!(*snapshot.first_listed(past), Listing::Pending);
        let publisher = snapshot.clone();
        let published = thread::spawn(move || publisher.publish(1, &Ok(Vec::new())));
        // Woken by the publication, long before this deadline.
        let listing = snapshot.first_listed(Instant::now() + Duration::from_secs(60));
        assert_eq!(*listing, Listing::Slots(Vec::new()));
        published.join().expect("publisher");
    }

    #[test]
    fn a_stopped_snapshot_ends_its_watcher_and_its_waiters() {
        let snapshot = Snapshot::new();
        snapshot.stop();
        assert!(!snapshot.sleep(Duration::from_secs(60)));
        assert_eq!(
            *snapshot.first_listed(Instant::now() + Duration::from_secs(60)),
            Listing::Pending
        );
    }
}
