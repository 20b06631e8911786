//! Transaction counters: every successful operation increments one counter per (label, tag,
//! module, use case, UTC day), persisted so that the DS sync can ship them and the T1C v3 API can
//! show them (`GET /ds/transactions`).
//!
//! This concern owns the counters database file and nothing else. It does not decide what counts
//! as a success or which use case an operation is (the API layer does), and it does not talk to
//! the DS (the DS sync drains and acknowledges through [`Counters::drain_until`] and
//! [`Counters::acknowledge`]).
//!
//! ```
//! use t1c_host::counters::{Counters, Transaction, UseCase};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let counters = Counters::open(dir.path().join("counters.sqlite"))?;
//! let mut read = Transaction::today("beid", UseCase::IdentityRead);
//! read.label = Some("my-app".into());
//! counters.record(read.clone())?; // returns once the increment is on disk
//! counters.record(read)?;
//! let rows = counters.snapshot()?;
//! assert_eq!(rows[0].counter, 2);
//! assert_eq!(rows[0].use_case.as_str(), "identity read");
//! # Ok(())
//! # }
//! ```
//!
//! # Durability
//!
//! [`Counters::record`] returns only after the increment is committed to SQLite in WAL mode with
//! `synchronous=FULL`, which fsyncs the write-ahead log on every commit. A committed increment
//! therefore survives the process being killed (`SIGKILL`: the WAL frames are already in the
//! file, and the next open replays them) and also power loss or an OS crash (they are on the
//! disk, not only in the page cache). `synchronous=NORMAL` would be enough for the first
//! guarantee (it skips the fsync, and a killed process loses nothing the kernel has been handed)
//! but not for the second. Counters are billing data, and group commit already divides the cost
//! of the fsync among every increment that arrives while the previous one runs, so we pay for
//! FULL.
//!
//! # Cost
//!
//! One writer thread commits all the increments queued at the moment it becomes free in one
//! transaction (group commit), so concurrent callers share fsyncs: throughput grows with
//! concurrency instead of being capped at one increment per fsync. A single caller recording
//! sequentially still waits for one fsync per call; that is the price of "returned means
//! durable". `record` blocks, so async code calls it from `spawn_blocking`.
//!
//! # Shipping to the DS
//!
//! [`Counters::drain_until`] moves every row up to a day into a numbered [`Drain`], atomically, so
//! increments that arrive during the upload land in fresh rows and are never lost or shipped
//! twice. [`Counters::acknowledge`] deletes the drain once the DS has it. A drain that is not
//! acknowledged (the upload failed, the connector was killed) is returned again, with the same id
//! and rows, by the next `drain_until`, so the DS can use the id to drop a duplicate delivery.
//! Drained rows stay in [`Counters::snapshot`] until acknowledged. A drain also carries each
//! key's absolute day total ([`Drain::totals`]: what the DS acknowledged before plus the drain),
//! which is what the DS protocol ships: the DS keeps the total of the highest drain number, so a
//! resent drain never counts twice. A drain holds at most [`Counters::MAX_DRAIN_ROWS`] rows.

mod error;
mod store;
mod transaction;
mod writer;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use tracing::{error, info};

pub use self::error::CountersError;
use self::store::Store;
pub use self::transaction::{
    CounterRow, Day, MAX_FIELD_CHARS, ParseFieldError, Transaction, UseCase,
};
use self::writer::{Command, Control};

/// The persistent transaction counters. Cheap to share (`Send + Sync`; wrap it in an [`Arc`]).
///
/// Dropping the last handle finishes the queued increments and stops the writer thread.
pub struct Counters {
    path: PathBuf,
    /// `None` only while dropping, so the writer sees its queue close.
    commands: Option<Sender<Command>>,
    writer: Option<JoinHandle<()>>,
    reader: Mutex<Store>,
}

impl Counters {
    /// Rows one [`Drain`] holds at most: what one DS message carries.
    pub const MAX_DRAIN_ROWS: usize = store::MAX_DRAIN_ROWS as usize;

    /// Opens the counters database at `path`, creating it and its folder if needed, with the
    /// default [`Options`].
    ///
    /// # Errors
    ///
    /// [`CountersError::Open`] if the file or folder cannot be created or opened,
    /// [`CountersError::Corrupt`] if the file is not a SQLite database or fails SQLite's
    /// integrity check, [`CountersError::UnsupportedSchema`] if a newer connector wrote it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CountersError> {
        Self::open_with(path, Options::default())
    }

    /// Opens the counters database at `path` with `options`.
    ///
    /// # Errors
    ///
    /// As [`Counters::open`].
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Self, CountersError> {
        let path = path.as_ref().to_owned();
        if let Some(folder) = path.parent()
            && !folder.as_os_str().is_empty()
        {
            std::fs::create_dir_all(folder)
                .map_err(|err| CountersError::Open { path: path.clone(), source: Arc::new(err) })?;
        }
        let writing = Store::open_writer(&path)?;
        let reader = Store::open_reader(&path)?;
        let (commands, writer) = writer::spawn(writing, options.max_batch)
            .map_err(|err| CountersError::Open { path: path.clone(), source: Arc::new(err) })?;
        info!(path = %path.display(), "transaction counters opened");
        Ok(Self {
            path,
            commands: Some(commands),
            writer: Some(writer),
            reader: Mutex::new(reader),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counts `transaction`, returning once the increment is durable (see the module docs).
    ///
    /// The label and tag are normalised first (see [`Transaction`]). Blocks the calling thread
    /// for about one fsync, shared with every concurrent caller.
    ///
    /// # Errors
    ///
    /// [`CountersError::Storage`] (or [`CountersError::Corrupt`]) if the commit failed, in
    /// which case the increment was not counted; [`CountersError::WriterStopped`] if the writer
    /// thread is gone.
    pub fn record(&self, transaction: Transaction) -> Result<(), CountersError> {
        self.ask(|done| Command::Record { key: transaction.into(), done })
    }

    /// Every transaction counted and not yet acknowledged by the DS, one row per (label, tag,
    /// module, use case, day), ordered by day. Includes the rows of unacknowledged drains.
    ///
    /// # Errors
    ///
    /// [`CountersError::Storage`] if the database cannot be read, [`CountersError::Corrupt`] if
    /// it holds rows this store could not have written.
    pub fn snapshot(&self) -> Result<Vec<CounterRow>, CountersError> {
        // A panic while reading leaves the connection as usable as before: no transaction spans
        // the lock, so a poisoned lock is safe to take over.
        let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        reader.snapshot()
    }

    /// Hands the DS sync the rows to ship: the oldest unacknowledged drain if there is one,
    /// otherwise a new drain holding the live rows whose day is on or before `last_day`
    /// (inclusive), at most [`Counters::MAX_DRAIN_ROWS`] (the oldest days first), which leave
    /// the live counters in the same SQLite transaction. `None` when there is nothing to ship.
    ///
    /// Pass yesterday to ship only complete days, or today to ship everything.
    ///
    /// # Errors
    ///
    /// [`CountersError::Storage`] or [`CountersError::Corrupt`] if the database cannot be
    /// updated (nothing was moved), [`CountersError::WriterStopped`] if the writer is gone.
    pub fn drain_until(&self, last_day: Day) -> Result<Option<Drain>, CountersError> {
        self.ask(|done| Command::Control(Control::Drain { last_day, done }))
    }

    /// Forgets drain `id` once the DS has stored it. Acknowledging an unknown or already
    /// acknowledged drain does nothing and returns `false`.
    ///
    /// # Errors
    ///
    /// [`CountersError::Storage`] if the database cannot be updated (the drain stays pending and
    /// is returned by the next [`Counters::drain_until`]), [`CountersError::WriterStopped`] if
    /// the writer is gone.
    pub fn acknowledge(&self, id: DrainId) -> Result<bool, CountersError> {
        self.ask(|done| Command::Control(Control::Acknowledge { id, done }))
    }

    /// Forgets the totals the DS acknowledged, when the device registers again under a new id:
    /// the DS counts per device, so the new device's totals start from what it ships itself.
    ///
    /// # Errors
    /// [`CountersError::Storage`] if the database cannot be updated,
    /// [`CountersError::WriterStopped`] if the writer is gone.
    pub fn forget_shipped(&self) -> Result<(), CountersError> {
        self.ask(|done| Command::Control(Control::ForgetShipped { done }))
    }

    /// Sends the command built around a fresh reply channel and waits for the reply.
    fn ask<T>(
        &self,
        command: impl FnOnce(SyncSender<Result<T, CountersError>>) -> Command,
    ) -> Result<T, CountersError> {
        let stopped = || CountersError::WriterStopped { path: self.path.clone() };
        let (done, reply) = sync_channel(1);
        self.commands.as_ref().ok_or_else(stopped)?.send(command(done)).map_err(|_| stopped())?;
        reply.recv().map_err(|_| stopped())?
    }
}

impl Drop for Counters {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            error!(path = %self.path.display(), "the transaction counters writer panicked");
        }
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").field("path", &self.path).finish()
    }
}

/// How a [`Counters`] store commits. The defaults suit the connector; the knob exists for tests
/// and the benchmark.
#[derive(Clone, Debug)]
pub struct Options {
    max_batch: NonZeroUsize,
}

impl Options {
    /// The most increments committed in one transaction. `1` disables group commit (one
    /// transaction and one fsync per increment). Default: 4096.
    pub fn max_batch(mut self, max_batch: NonZeroUsize) -> Self {
        self.max_batch = max_batch;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self { max_batch: NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN) }
    }
}

/// Rows handed to the DS sync by [`Counters::drain_until`], to ship and then
/// [acknowledge](Counters::acknowledge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    id: DrainId,
    rows: Vec<CounterRow>,
    totals: Vec<CounterRow>,
}

impl Drain {
    /// The drain's number: never reused by this database, so the DS can recognise a drain it
    /// already received.
    pub fn id(&self) -> DrainId {
        self.id
    }

    /// The rows to ship, ordered by day.
    pub fn rows(&self) -> &[CounterRow] {
        &self.rows
    }

    /// The rows to ship, by value.
    pub fn into_rows(self) -> Vec<CounterRow> {
        self.rows
    }

    /// The same keys with their absolute day totals: what the DS acknowledged before plus this
    /// drain (the protocol ships totals, so a resend never counts twice).
    pub fn totals(&self) -> &[CounterRow] {
        &self.totals
    }
}

/// The number of a [`Drain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DrainId(u64);

impl DrainId {
    /// The number, e.g. for the DS upload.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for DrainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> (tempfile::TempDir, Counters) {
        let dir = tempfile::tempdir().unwrap();
        let counters = Counters::open(dir.path().join("counters.sqlite")).unwrap();
        (dir, counters)
    }

    fn transaction(label: Option<&str>, tag: Option<&str>, day: &str) -> Transaction {
        Transaction {
            label: label.map(str::to_owned),
            tag: tag.map(str::to_owned),
            module: "beid".into(),
            use_case: UseCase::DigitalSignature,
            day: day.parse().unwrap(),
        }
    }

    #[test]
    fn counters_are_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Counters>();
        shareable::<CountersError>();
    }

    #[test]
    fn empty_and_absent_labels_share_one_row() {
        let (_dir, counters) = counters();
        counters.record(transaction(None, None, "2024-05-01")).unwrap();
        counters.record(transaction(Some(""), Some(" "), "2024-05-01")).unwrap();
        let rows = counters.snapshot().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].label.as_deref(), rows[0].counter), (None, 2));
    }

    #[test]
    fn long_tags_are_stored_cut() {
        let (_dir, counters) = counters();
        let long = "x".repeat(MAX_FIELD_CHARS * 4);
        counters.record(transaction(None, Some(&long), "2024-05-01")).unwrap();
        counters.record(transaction(None, Some(&long[..MAX_FIELD_CHARS]), "2024-05-01")).unwrap();
        let rows = counters.snapshot().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].tag.as_deref().map(str::len), Some(MAX_FIELD_CHARS));
        assert_eq!(rows[0].counter, 2);
    }

    #[test]
    fn consecutive_days_are_separate_rows_in_day_order() {
        let (_dir, counters) = counters();
        for day in ["2024-03-01", "2024-02-29", "2024-03-01"] {
            counters.record(transaction(None, None, day)).unwrap();
        }
        let rows = counters.snapshot().unwrap();
        let days: Vec<_> = rows.iter().map(|r| (r.day.to_string(), r.counter)).collect();
        assert_eq!(days, [("2024-02-29".into(), 1), ("2024-03-01".into(), 2)]);
    }

    #[test]
    fn drains_carry_absolute_totals_that_grow_with_each_acknowledgement() {
        let (_dir, counters) = counters();
        // Today: acknowledged totals are kept for the days the DS still counts.
        let day = Day::today();
        let today = day.to_string();
        for _ in 0..3 {
            counters.record(transaction(Some("shop"), None, &today)).unwrap();
        }
        let first = counters.drain_until(day).unwrap().unwrap();
        assert_eq!((first.rows()[0].counter, first.totals()[0].counter), (3, 3));
        // Not acknowledged (the sync died): the same drain, the same totals.
        let again = counters.drain_until(day).unwrap().unwrap();
        assert_eq!(again, first);
        assert!(counters.acknowledge(first.id()).unwrap());
        counters.record(transaction(Some("shop"), None, &today)).unwrap();
        counters.record(transaction(Some("shop"), None, &today)).unwrap();
        let second = counters.drain_until(day).unwrap().unwrap();
        assert!(second.id() > first.id());
        assert_eq!((second.rows()[0].counter, second.totals()[0].counter), (2, 5), "3 shipped + 2");
    }

    #[test]
    fn control_characters_never_reach_a_label_or_tag() {
        let (_dir, counters) = counters();
        let long = "é".repeat(MAX_FIELD_CHARS);
        counters.record(transaction(Some("shop\tfront\u{7}"), Some(&long), "2024-05-01")).unwrap();
        let rows = counters.snapshot().unwrap();
        assert_eq!(rows[0].label.as_deref(), Some("shopfront"));
        let tag = rows[0].tag.as_deref().unwrap_or_default();
        assert!(tag.len() <= MAX_FIELD_CHARS && tag.chars().all(|c| c == 'é'), "{tag}");
    }

    #[test]
    fn a_drain_holds_at_most_one_message_of_rows() {
        let (_dir, counters) = counters();
        let day: Day = "2024-05-01".parse().unwrap();
        for i in 0..Counters::MAX_DRAIN_ROWS + 5 {
            counters
                .record(transaction(Some(&format!("label-{i:04}")), None, "2024-05-01"))
                .unwrap();
        }
        let first = counters.drain_until(day).unwrap().unwrap();
        assert_eq!(first.rows().len(), Counters::MAX_DRAIN_ROWS);
        assert_eq!(
            counters.snapshot().unwrap().len(),
            Counters::MAX_DRAIN_ROWS + 5,
            "nothing lost"
        );
        counters.acknowledge(first.id()).unwrap();
        assert_eq!(counters.drain_until(day).unwrap().unwrap().rows().len(), 5);
    }

    #[test]
    fn draining_includes_the_last_day_and_nothing_after() {
        let (_dir, counters) = counters();
        for day in ["2024-02-28", "2024-02-29", "2024-03-01"] {
            counters.record(transaction(None, None, day)).unwrap();
        }
        let drain = counters.drain_until("2024-02-29".parse().unwrap()).unwrap().unwrap();
        let days: Vec<_> = drain.rows().iter().map(|r| r.day.to_string()).collect();
        assert_eq!(days, ["2024-02-28", "2024-02-29"]);
    }

    #[test]
    fn a_batch_of_one_still_counts_everything() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::default().max_batch(NonZeroUsize::MIN);
        let counters = Counters::open_with(dir.path().join("c.sqlite"), options).unwrap();
        for _ in 0..5 {
            counters.record(transaction(None, None, "2024-05-01")).unwrap();
        }
        assert_eq!(counters.snapshot().unwrap()[0].counter, 5);
    }
}
