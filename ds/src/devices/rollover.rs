//! The monthly rollover of usage counters: every month whose end lies a grace period in the
//! past is closed (its day rows summed into the archive and reset), oldest first, and day rows
//! that reached a closed month later are folded into its archive as adjustments.
//!
//! Safe to run at any time, as often as wanted, in any number of DS processes at once: each
//! close and fold is one transaction in the store, a month is closed by exactly one of them,
//! and a crash half-way leaves the month open for the next run. A DS that was down across
//! month ends closes every missed month, in order, at its next run.

use crate::store::{Month, Store, StoreError};

/// What one rollover did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollover {
    /// The months this run closed (others may have been closed by another process).
    pub closed: Vec<Month>,
    /// Day rows of closed months folded in (or dropped as too late).
    pub folded: u64,
}

/// Closes every month that ended at least `grace_secs` before `now`, oldest first, and folds
/// late day rows of closed months into their archive.
///
/// # Errors
/// The first [`StoreError`]; what was done before it stays done, and a rerun goes on from there.
pub async fn roll_over(
    store: &dyn Store,
    now: i64,
    grace_secs: i64,
) -> Result<Rollover, StoreError> {
    let mut done = Rollover::default();
    // The last month that may close: the one ending at or before `now - grace`.
    let Some(last_due) = Month::containing(now.saturating_sub(grace_secs)).map(Month::previous)
    else {
        return Ok(done);
    };
    let closed = store.closed_months().await?;
    let oldest_open = store.oldest_counter_day().await?.as_deref().and_then(Month::of_day);
    // Close from the month after the last closed one (so the closed months stay contiguous,
    // even through months without counts), or from the oldest counted month when it is older.
    let start = match (closed.last(), oldest_open) {
        (Some(last), Some(open)) => Some(last.next().min(open)),
        (Some(last), None) => Some(last.next()),
        (None, open) => open,
    };
    let mut month = start;
    while let Some(m) = month.filter(|m| *m <= last_due) {
        if !closed.contains(&m) && store.close_month(m, now).await? {
            done.closed.push(m);
        }
        month = Some(m.next());
    }
    if let Some(open) = oldest_open {
        for m in store.closed_months().await?.into_iter().filter(|m| *m >= open) {
            done.folded += store.fold_late_counters(m).await?;
        }
    }
    Ok(done)
}
