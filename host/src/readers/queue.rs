//! The per-reader queue: one operation holds a reader at a time, later ones wait their turn in
//! arrival order, up to a bound and a deadline.
//!
//! The PC/SC transaction already serialises access to a card across processes, but it waits
//! without bound and in no particular order. This queue gives operations of this process a
//! fair order, a clear error when too many pile up, and a deadline.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{ReaderError, ReaderId};

/// The queues of all readers of one backend.
pub(crate) struct Queues {
    capacity: usize,
    by_reader: Mutex<HashMap<ReaderId, Arc<Queue>>>,
}

/// The right to use a reader; the next operation in line gets it when this is dropped.
pub(crate) struct Turn {
    queue: Arc<Queue>,
}

struct Queue {
    state: Mutex<QueueState>,
    released: Condvar,
}

#[derive(Default)]
struct QueueState {
    busy: bool,
    waiting: VecDeque<u64>,
    next_ticket: u64,
}

impl Queues {
    /// Queues letting at most `capacity` operations wait behind the one holding a reader.
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, by_reader: Mutex::new(HashMap::new()) }
    }

    /// Waits until `reader` is free and this caller is first in line, for at most `timeout`.
    ///
    /// # Errors
    /// [`ReaderError::QueueFull`] at once when `capacity` operations already wait;
    /// [`ReaderError::QueueTimeout`] when the turn does not come in time.
    pub(crate) fn wait_turn(
        &self,
        reader: &ReaderId,
        timeout: Duration,
    ) -> Result<Turn, ReaderError> {
        let queue = Arc::clone(
            lock(&self.by_reader).entry(reader.clone()).or_insert_with(|| Arc::new(Queue::new())),
        );
        let started = Instant::now();
        let deadline = started.checked_add(timeout);
        let mut state = lock(&queue.state);
        if !state.busy && state.waiting.is_empty() {
            state.busy = true;
            drop(state);
            return Ok(Turn { queue });
        }
        if state.waiting.len() >= self.capacity {
            return Err(ReaderError::QueueFull {
                reader: reader.clone(),
                waiting: state.waiting.len(),
            });
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back(ticket);
        loop {
            if !state.busy && state.waiting.front() == Some(&ticket) {
                state.waiting.pop_front();
                state.busy = true;
                drop(state);
                return Ok(Turn { queue });
            }
            let now = Instant::now();
            let left = match deadline {
                Some(deadline) if now >= deadline => {
                    state.waiting.retain(|waiting| *waiting != ticket);
                    drop(state);
                    // The next in line may now be first.
                    queue.released.notify_all();
                    return Err(ReaderError::QueueTimeout {
                        reader: reader.clone(),
                        waited: now - started,
                    });
                }
                Some(deadline) => deadline - now,
                None => Duration::from_secs(3600),
            };
            state =
                queue.released.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        lock(&self.queue.state).busy = false;
        // Every waiter checks whether it is first in line; waking only one could wake one
        // that is not.
        self.queue.released.notify_all();
    }
}

impl Queue {
    fn new() -> Self {
        Self { state: Mutex::new(QueueState::default()), released: Condvar::new() }
    }
}

/// Locks `mutex`; a panic elsewhere while holding it leaves the plain data inside usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn a_free_reader_is_taken_at_once() {
        let queues = Queues::new(0);
        let turn = queues.wait_turn(&ReaderId::from_name("a"), Duration::ZERO);
        assert!(turn.is_ok());
    }

    #[test]
    fn a_full_queue_refuses_at_once() {
        let queues = Queues::new(0);
        let reader = ReaderId::from_name("a");
        let _held = queues.wait_turn(&reader, LONG).expect("free reader");
        let error = queues.wait_turn(&reader, LONG).err();
        assert!(matches!(error, Some(ReaderError::QueueFull { waiting: 0, .. })), "{error:?}");
    }

    #[test]
    fn a_wait_past_the_deadline_times_out_and_leaves_the_queue() {
        let queues = Queues::new(1);
        let reader = ReaderId::from_name("a");
        let held = queues.wait_turn(&reader, LONG).expect("free reader");
        let error = queues.wait_turn(&reader, Duration::from_millis(20)).err();
        assert!(matches!(error, Some(ReaderError::QueueTimeout { .. })), "{error:?}");
        drop(held);
        // The timed-out waiter no longer blocks the line.
        assert!(queues.wait_turn(&reader, Duration::ZERO).is_ok());
    }

    #[test]
    fn released_reader_goes_to_waiters_in_arrival_order() {
        let queues = Arc::new(Queues::new(8));
        let reader = ReaderId::from_name("a");
        let held = queues.wait_turn(&reader, LONG).expect("free reader");
        let (order_tx, order_rx) = mpsc::channel();
        let mut waiters = Vec::new();
        for n in 0..3 {
            let (mine, my_reader, order_tx) =
                (Arc::clone(&queues), reader.clone(), order_tx.clone());
            waiters.push(thread::spawn(move || {
                let turn = mine.wait_turn(&my_reader, LONG).expect("turn");
                order_tx.send(n).expect("send");
                drop(turn);
            }));
            wait_until(|| waiting(&queues, &reader) == n + 1);
        }
        drop(held);
        for waiter in waiters {
            waiter.join().expect("waiter");
        }
        assert_eq!(order_rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn different_readers_do_not_wait_for_each_other() {
        let queues = Queues::new(0);
        let _a = queues.wait_turn(&ReaderId::from_name("a"), LONG).expect("a");
        assert!(queues.wait_turn(&ReaderId::from_name("b"), Duration::ZERO).is_ok());
    }

    fn waiting(queues: &Queues, reader: &ReaderId) -> usize {
        let by_reader = lock(&queues.by_reader);
        by_reader.get(reader).map_or(0, |queue| lock(&queue.state).waiting.len())
    }

    fn wait_until(condition: impl Fn() -> bool) {
        let deadline = Instant::now() + LONG;
        while !condition() {
            assert!(Instant::now() < deadline, "condition not met in time");
            thread::yield_now();
        }
    }
}
