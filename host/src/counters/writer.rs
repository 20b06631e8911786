//! The writer thread and its group commit.
//!
//! One thread owns the writing connection. Callers send it commands over a channel and block on
//! a reply. The thread takes the first command, then everything else already queued (up to
//! `max_batch` increments), commits all the increments in one SQLite transaction (one fsync), and
//! only then replies to each of their callers. While it waits for the disk, new increments queue
//! up and become the next batch, so the number of fsyncs per second stays near the disk's
//! latency limit whatever the number of increments per second.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use tracing::{debug, error, trace};

use super::error::CountersError;
use super::store::Store;
use super::transaction::{Day, Key};
use super::{Drain, DrainId};

/// A request to the writer thread, with the channel its result goes back on.
pub(super) enum Command {
    /// Count one transaction.
    Record { key: Key, done: SyncSender<Result<(), CountersError>> },
    /// Drain or acknowledge: run on their own, after the batch they arrived with.
    Control(Control),
}

/// The commands that are not increments.
pub(super) enum Control {
    /// Hand out the rows up to `last_day` (or the pending drain).
    Drain { last_day: Day, done: SyncSender<Result<Option<Drain>, CountersError>> },
    /// Forget a drain the DS has received.
    Acknowledge { id: DrainId, done: SyncSender<Result<bool, CountersError>> },
    /// Forget the totals the DS acknowledged (the device registered again).
    ForgetShipped { done: SyncSender<Result<(), CountersError>> },
}

/// Starts the writer thread over `store`. It runs until every [`Sender`] is dropped, after
/// finishing whatever was queued.
pub(super) fn spawn(
    store: Store,
    max_batch: NonZeroUsize,
) -> std::io::Result<(Sender<Command>, JoinHandle<()>)> {
    let (commands, queue) = channel();
    let handle = thread::Builder::new()
        .name("t1c-counters".into())
        .spawn(move || run(store, queue, max_batch.get()))?;
    Ok((commands, handle))
}

fn run(mut store: Store, queue: Receiver<Command>, max_batch: usize) {
    debug!("counters writer started");
    while let Ok(first) = queue.recv() {
        let mut increments = Vec::new();
        let mut others = Vec::new();
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Record { key, done } => increments.push((key, done)),
                Command::Control(control) => others.push(control),
            }
            if increments.len() >= max_batch {
                break;
            }
            // Empty or disconnected alike: commit what we have.
            next = queue.try_recv().ok();
        }
        if !increments.is_empty() {
            commit(&mut store, increments);
        }
        for command in others {
            control(&mut store, command);
        }
    }
    debug!("counters writer stopped");
}

/// Commits `increments` in one transaction and tells every caller the outcome.
fn commit(store: &mut Store, increments: Vec<(Key, SyncSender<Result<(), CountersError>>)>) {
    let started = Instant::now();
    let mut counts: HashMap<Key, u64> = HashMap::new();
    let mut waiters = Vec::with_capacity(increments.len());
    for (key, done) in increments {
        *counts.entry(key).or_default() += 1;
        waiters.push(done);
    }
    let result = store.add(&counts);
    match &result {
        Ok(()) => trace!(
            increments = waiters.len(),
            rows = counts.len(),
            elapsed_us = started.elapsed().as_micros(),
            "counter increments committed"
        ),
        Err(err) => error!(
            increments = waiters.len(),
            error = %err,
            "counter increments could not be committed"
        ),
    }
    for done in waiters {
        // A caller that has gone away needs no answer.
        let _ = done.send(result.clone());
    }
}

fn control(store: &mut Store, command: Control) {
    match command {
        Control::Drain { last_day, done } => {
            let result = store.drain_until(last_day);
            match &result {
                Ok(Some(drain)) => debug!(
                    drain = drain.id().as_u64(),
                    rows = drain.rows().len(),
                    %last_day,
                    "counters drained"
                ),
                Ok(None) => debug!(%last_day, "no counters to drain"),
                Err(err) => error!(error = %err, "counters could not be drained"),
            }
            let _ = done.send(result);
        }
        Control::ForgetShipped { done } => {
            let result = store.forget_shipped();
            if let Err(err) = &result {
                error!(error = %err, "acknowledged totals could not be forgotten");
            }
            let _ = done.send(result);
        }
        Control::Acknowledge { id, done } => {
            let result = store.acknowledge(id);
            match &result {
                Ok(known) => debug!(drain = id.as_u64(), known, "drain acknowledged"),
                Err(err) => error!(error = %err, "drain could not be acknowledged"),
            }
            let _ = done.send(result);
        }
    }
}
