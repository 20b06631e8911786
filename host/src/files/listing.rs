//! Listing options (which entries, in which order, which page) and their application.

use std::cmp::Ordering;

use super::{Entry, EntryKind};

/// The most entries one listing reads from a folder; a larger folder is refused with
/// [`FileError::TooManyEntries`](super::FileError::TooManyEntries) rather than sorted in memory.
pub const MAX_LISTED_ENTRIES: usize = 100_000;

/// How to list a folder. The default lists everything by name, ascending, unpaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOptions {
    /// Which entries to keep.
    pub kinds: KindFilter,
    /// What to sort on.
    pub sort: SortKey,
    /// Ascending or descending.
    pub order: Order,
    /// Which slice of the sorted entries to return; `None` for all.
    pub page: Option<Page>,
}

/// Which entries a listing keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KindFilter {
    /// Files and folders.
    #[default]
    All,
    /// Files only.
    Files,
    /// Folders only.
    Directories,
}

/// What a listing sorts on; ties are broken by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// The name, byte-wise.
    #[default]
    Name,
    /// The size.
    Size,
    /// The last modification (unknown times sort first).
    Modified,
}

/// Sort direction (the API's `ASC` / `DESC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Smallest first.
    #[default]
    Ascending,
    /// Largest first.
    Descending,
}

/// A slice of a sorted listing (the API's `Page {start, size}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Index of the first entry returned.
    pub start: usize,
    /// How many entries at most.
    pub size: usize,
}

/// One page of a folder's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The entries of the page, in order.
    pub entries: Vec<Entry>,
    /// How many entries matched the filter, over all pages.
    pub total: usize,
}

impl ListOptions {
    /// Filters, sorts and pages `entries`.
    pub(super) fn apply(&self, mut entries: Vec<Entry>) -> Listing {
        entries.retain(|entry| match self.kinds {
            KindFilter::All => true,
            KindFilter::Files => entry.kind == EntryKind::File,
            KindFilter::Directories => entry.kind == EntryKind::Directory,
        });
        entries.sort_by(|a, b| {
            let primary = match self.sort {
                SortKey::Name => Ordering::Equal,
                SortKey::Size => a.size.cmp(&b.size),
                SortKey::Modified => a.modified.cmp(&b.modified),
            };
            let ordering = primary.then_with(|| a.name().cmp(b.name()));
            match self.order {
                Order::Ascending => ordering,
                Order::Descending => ordering.reverse(),
            }
        });
        let total = entries.len();
        if let Some(page) = self.page {
            let start = page.start.min(total);
            let end = start.saturating_add(page.size).min(total);
            entries.truncate(end);
            entries.drain(..start);
        }
        Listing { entries, total }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::files::RelPath;

    fn entry(name: &str, kind: EntryKind, size: u64, age_secs: u64) -> Entry {
        Entry {
            path: RelPath::parse(name).expect("valid"),
            kind,
            size,
            modified: SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(1_000_000 - age_secs)),
            readonly: false,
        }
    }

    fn sample() -> Vec<Entry> {
        vec![
            entry("b.txt", EntryKind::File, 30, 5),
            entry("a.txt", EntryKind::File, 10, 1),
            entry("docs", EntryKind::Directory, 0, 9),
            entry("c.txt", EntryKind::File, 20, 3),
        ]
    }

    fn names(listing: &Listing) -> Vec<&str> {
        listing.entries.iter().map(Entry::name).collect()
    }

    #[test]
    fn sorts_by_name_size_and_time_both_ways() {
        let by =
            |sort, order| ListOptions { sort, order, ..ListOptions::default() }.apply(sample());
        assert_eq!(
            names(&by(SortKey::Name, Order::Ascending)),
            ["a.txt", "b.txt", "c.txt", "docs"]
        );
        assert_eq!(
            names(&by(SortKey::Name, Order::Descending)),
            ["docs", "c.txt", "b.txt", "a.txt"]
        );
        assert_eq!(
            names(&by(SortKey::Size, Order::Ascending)),
            ["docs", "a.txt", "c.txt", "b.txt"]
        );
        assert_eq!(
            names(&by(SortKey::Modified, Order::Descending)),
            ["a.txt", "c.txt", "b.txt", "docs"]
        );
    }

    #[test]
    fn filters_files_or_folders() {
        let files =
            ListOptions { kinds: KindFilter::Files, ..ListOptions::default() }.apply(sample());
        assert_eq!(names(&files), ["a.txt", "b.txt", "c.txt"]);
        assert_eq!(files.total, 3);
        let dirs = ListOptions { kinds: KindFilter::Directories, ..ListOptions::default() }
            .apply(sample());
        assert_eq!(names(&dirs), ["docs"]);
    }

    #[test]
    fn pages_count_the_total_before_slicing() {
        let page = |start, size| {
            ListOptions { page: Some(Page { start, size }), ..ListOptions::default() }
                .apply(sample())
        };
        let second = page(1, 2);
        assert_eq!(names(&second), ["b.txt", "c.txt"]);
        assert_eq!(second.total, 4);
        assert_eq!(names(&page(3, 10)), ["docs"]);
        assert!(page(10, 2).entries.is_empty());
        assert_eq!(page(usize::MAX, usize::MAX).total, 4);
        assert!(page(0, 0).entries.is_empty());
    }
}
