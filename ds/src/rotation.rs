//! The schedule both kinds of rotating keys follow (application-token signing keys, the DS's
//! device-protocol keys): numbered generations, each published `publish_ahead` before it
//! takes over and current for `rotation` seconds; once a newer generation is in use, the older
//! ones are superseded and leave after a grace period the caller chooses. Pure: the callers
//! read and write the store.

/// One generation as the schedule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// 1, 2, 3, ...
    pub number: i64,
    /// When it takes over.
    pub activates_at: i64,
    /// Whether it has been retired already.
    pub retired: bool,
}

/// The generation to add at `now`, as (number, activation), when one is due: the first one
/// at once, then each next one `publish_ahead_secs` before the newest has been current for
/// `rotation_secs`.
pub fn due(
    generations: &[Generation],
    now: i64,
    rotation_secs: i64,
    publish_ahead_secs: i64,
) -> Option<(i64, i64)> {
    match generations.iter().max_by_key(|g| g.number) {
        None => Some((1, now)),
        Some(newest) if newest.activates_at + rotation_secs - publish_ahead_secs <= now => {
            Some((newest.number + 1, (newest.activates_at + rotation_secs).max(now)))
        }
        Some(_) => None,
    }
}

/// The generations to retire at `now`: not retired yet, and older than the one in use; each
/// with its successor's activation, from which the caller counts the grace period.
pub fn superseded(generations: &[Generation], now: i64) -> Vec<(i64, i64)> {
    let Some(active) = generations.iter().filter(|g| g.activates_at <= now).map(|g| g.number).max()
    else {
        return Vec::new();
    };
    generations
        .iter()
        .filter(|g| g.number < active && !g.retired)
        .filter_map(|g| {
            let successor = generations.iter().find(|s| s.number == g.number + 1)?;
            Some((g.number, successor.activates_at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(number: i64, activates_at: i64) -> Generation {
        Generation { number, activates_at, retired: false }
    }

    #[test]
    fn the_first_at_once_then_each_next_ahead_of_its_time() {
        assert_eq!(due(&[], 500, 1000, 100), Some((1, 500)));
        let one = [generation(1, 0)];
        assert_eq!(due(&one, 899, 1000, 100), None);
        assert_eq!(
            due(&one, 900, 1000, 100),
            Some((2, 1000)),
            "published 100 s before it takes over"
        );
        assert_eq!(due(&one, 5000, 1000, 100), Some((2, 5000)), "never activates in the past");
    }

    #[test]
    fn older_generations_are_superseded_once_a_newer_one_is_in_use() {
        let generations = [generation(1, 0), generation(2, 1000)];
        assert!(superseded(&generations, 999).is_empty(), "the next is published, not in use");
        assert_eq!(superseded(&generations, 1000), vec![(1, 1000)]);
        let retired = [Generation { retired: true, ..generation(1, 0) }, generation(2, 1000)];
        assert!(superseded(&retired, 1000).is_empty(), "retired once");
    }
}
