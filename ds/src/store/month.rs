//! A calendar month (UTC), the unit usage is archived in. Month arithmetic is the `time`
//! crate's: month lengths and leap days come from it, not from a table of our own.

use time::{Date, OffsetDateTime};

/// A UTC calendar month, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: time::Month,
}

impl Month {
    /// The month `instant` (seconds since the epoch) falls in; `None` outside `time`'s range.
    pub fn containing(instant: i64) -> Option<Self> {
        let at = OffsetDateTime::from_unix_timestamp(instant).ok()?;
        Some(Self { year: at.year(), month: at.month() })
    }

    /// The month of a `YYYY-MM-DD` day (or of a `YYYY-MM` month).
    pub fn of_day(day: &str) -> Option<Self> {
        day.get(..7)?.parse().ok()
    }

    /// The month after this one.
    pub fn next(self) -> Self {
        let year = if self.month == time::Month::December { self.year + 1 } else { self.year };
        Self { year, month: self.month.next() }
    }

    /// The month before this one.
    pub fn previous(self) -> Self {
        let year = if self.month == time::Month::January { self.year - 1 } else { self.year };
        Self { year, month: self.month.previous() }
    }

    /// Its first day, `YYYY-MM-01`: days of the month are `>=` this and `<` the next month's.
    pub fn first_day(self) -> String {
        format!("{self}-01")
    }

    /// Its first second, seconds since the epoch.
    pub fn start(self) -> i64 {
        Date::from_calendar_date(self.year, self.month, 1)
            .map_or(i64::MAX, |d| d.midnight().assume_utc().unix_timestamp())
    }

    /// The first second after it.
    pub fn end(self) -> i64 {
        self.next().start()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

/// Why a text is not a month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a month (YYYY-MM)")]
pub struct NotAMonth;

impl std::str::FromStr for Month {
    type Err = NotAMonth;

    /// Reads exactly `YYYY-MM`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 7 || b[4] != b'-' || !digits(0..4) || !digits(5..7) {
            return Err(NotAMonth);
        }
        let year: i32 = s[..4].parse().map_err(|_| NotAMonth)?;
        let month: u8 = s[5..].parse().map_err(|_| NotAMonth)?;
        let month = time::Month::try_from(month).map_err(|_| NotAMonth)?;
        Ok(Self { year, month })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Month {
        s.parse().unwrap()
    }

    #[test]
    fn months_step_across_years() {
        assert_eq!(m("2027-12").next(), m("2028-01"));
        assert_eq!(m("2028-01").previous(), m("2027-12"));
        assert_eq!(m("2028-03").to_string(), "2028-03");
    }

    #[test]
    fn february_of_a_leap_year_has_29_days() {
        assert_eq!(m("2028-02").end() - m("2028-02").start(), 29 * 86_400);
        assert_eq!(m("2027-02").end() - m("2027-02").start(), 28 * 86_400);
        assert_eq!(Month::containing(m("2028-03").start() - 1), Some(m("2028-02")));
        assert_eq!(Month::of_day("2028-02-29"), Some(m("2028-02")));
    }

    #[test]
    fn only_year_dash_month_parses() {
        for bad in ["2028-13", "2028-00", "2028-1", "28-01", "2028/01", "2028-01-01", "+028-01"] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
