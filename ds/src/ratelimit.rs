//! Request budgets per client address and per API key: fixed one-minute windows counted in
//! memory, with an injected clock so tests can cross a window without waiting.
//!
//! The counts live in each DS process: behind a load balancer with N processes a client can
//! make up to N times the budget. That bound is accepted (the budgets stop brute force and
//! runaway clients, not billing), and keeps the hot path free of database writes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use crate::clock::SharedClock;

/// The window length in seconds.
pub const WINDOW_SECS: i64 = 60;
/// Entries kept before old windows are swept.
const MAX_ENTRIES: usize = 100_000;

/// A budget of `limit` events per key per window.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: u32,
    clock: SharedClock,
    windows: Mutex<HashMap<K, (i64, u32)>>,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// A limiter allowing `limit` events per key per minute (0 disables the limit).
    pub fn new(limit: u32, clock: SharedClock) -> Self {
        Self { limit, clock, windows: Mutex::new(HashMap::new()) }
    }

    fn window(&self) -> i64 {
        self.clock.now().div_euclid(WINDOW_SECS)
    }

    fn seconds_left(&self) -> u64 {
        u64::try_from(WINDOW_SECS - self.clock.now().rem_euclid(WINDOW_SECS)).unwrap_or(1)
    }

    /// Counts one event for `key`: `Err(seconds until the window ends)` when over budget.
    pub fn hit(&self, key: &K) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let window = self.window();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_ENTRIES {
            windows.retain(|_, (w, _)| *w == window);
            if windows.len() >= MAX_ENTRIES {
                windows.clear();
            }
        }
        let entry = windows.entry(key.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 > self.limit { Err(self.seconds_left()) } else { Ok(()) }
    }

    /// `Err(seconds until the window ends)` when `key` is already over budget, without counting.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let window = self.window();
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some((w, count)) if *w == window && *count >= self.limit => Err(self.seconds_left()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn budget_per_key_resets_with_the_window() {
        let clock = ManualClock::at(6000);
        let limiter = RateLimiter::new(3, clock.clone());
        for _ in 0..3 {
            assert_eq!(limiter.hit(&"a"), Ok(()));
        }
        assert_eq!(limiter.check(&"a"), Err(60));
        assert_eq!(limiter.hit(&"a"), Err(60));
        assert_eq!(limiter.hit(&"b"), Ok(()), "keys have their own budgets");
        clock.advance(45);
        assert_eq!(limiter.check(&"a"), Err(15));
        clock.advance(15);
        assert_eq!(limiter.hit(&"a"), Ok(()), "a new window");
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::new(0, ManualClock::at(0));
        for _ in 0..100 {
            assert_eq!(limiter.hit(&1), Ok(()));
        }
    }
}
