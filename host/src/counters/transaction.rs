//! What one counted transaction is: who asked (label, tag), which module served it, for which use
//! case, on which day; and the aggregated row the T1C v3 API and the DS sync see.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// The most characters kept of a label, a tag or a module name (and at most as many bytes of
/// UTF-8: what the DS protocol takes).
///
/// Labels and tags come from callers (the tag is the client's `X-T1C-BILLING-TAG` header), so
/// they are bounded before they reach the database: control characters are dropped and longer
/// values are cut (never inside a character), which keeps one client from growing the store or
/// the DS upload with arbitrary strings, or from writing a row the DS would refuse.
pub const MAX_FIELD_CHARS: usize = 128;

/// One successful operation to count.
///
/// Labels and tags are normalised when recorded: surrounding whitespace is trimmed, an empty
/// value counts as absent (`None`), and values are cut to [`MAX_FIELD_CHARS`]. So `Some("")`,
/// `Some("  ")` and `None` all land on the same counter row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The DS label (registered application) the request was made for, if known.
    pub label: Option<String>,
    /// The optional sub-customer tag (`X-T1C-BILLING-TAG`).
    pub tag: Option<String>,
    /// The module that served the operation, e.g. `beid`.
    pub module: String,
    /// What the operation was.
    pub use_case: UseCase,
    /// The (UTC) day the operation completed.
    pub day: Day,
}

impl Transaction {
    /// A transaction of `use_case` served by `module` today (UTC), with no label or tag; set the
    /// public fields for those.
    pub fn today(module: impl Into<String>, use_case: UseCase) -> Self {
        Self { label: None, tag: None, module: module.into(), use_case, day: Day::today() }
    }
}

/// The kinds of operation that are counted, as the T1C Distribution Service bills them.
///
/// The T1C documentation names the categories ("identity reads, authentications, signatures, PIN
/// verifications, file downloads/uploads/prints") but no published source shows the strings a
/// T1C v3 agent puts in `useCase`. We use the singular, lower-case names below, one per category,
/// in JSON (`serde`), in the database and in [`UseCase::as_str`]; change them here, in one
/// place, if a DS turns out to expect other spellings.
///
/// | variant | string |
/// |---|---|
/// | [`IdentityRead`](UseCase::IdentityRead) | `identity read` |
/// | [`Authentication`](UseCase::Authentication) | `authentication` |
/// | [`DigitalSignature`](UseCase::DigitalSignature) | `digital signature` |
/// | [`PinVerification`](UseCase::PinVerification) | `pin verification` |
/// | [`FileDownload`](UseCase::FileDownload) | `file download` |
/// | [`FileUpload`](UseCase::FileUpload) | `file upload` |
/// | [`FilePrint`](UseCase::FilePrint) | `file print` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UseCase {
    /// Reading identity data from a card (biometric, address, picture, all data).
    #[serde(rename = "identity read")]
    IdentityRead,
    /// An authentication signature (`/authenticate`).
    #[serde(rename = "authentication")]
    Authentication,
    /// A digital (qualified or advanced) signature (`/sign`, `/sign_raw`).
    #[serde(rename = "digital signature")]
    DigitalSignature,
    /// A PIN verification (`/verify-pin`).
    #[serde(rename = "pin verification")]
    PinVerification,
    /// A file downloaded through file exchange.
    #[serde(rename = "file download")]
    FileDownload,
    /// A file uploaded through file exchange.
    #[serde(rename = "file upload")]
    FileUpload,
    /// A file printed through file exchange.
    #[serde(rename = "file print")]
    FilePrint,
}

impl UseCase {
    /// Every use case, in declaration order.
    pub const ALL: [UseCase; 7] = [
        UseCase::IdentityRead,
        UseCase::Authentication,
        UseCase::DigitalSignature,
        UseCase::PinVerification,
        UseCase::FileDownload,
        UseCase::FileUpload,
        UseCase::FilePrint,
    ];

    /// The name of this use case in the T1C API and the DS upload, e.g. `"identity read"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            UseCase::IdentityRead => "identity read",
            UseCase::Authentication => "authentication",
            UseCase::DigitalSignature => "digital signature",
            UseCase::PinVerification => "pin verification",
            UseCase::FileDownload => "file download",
            UseCase::FileUpload => "file upload",
            UseCase::FilePrint => "file print",
        }
    }
}

impl fmt::Display for UseCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UseCase {
    type Err = ParseFieldError;

    /// Parses the exact name [`UseCase::as_str`] gives.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UseCase::ALL
            .into_iter()
            .find(|use_case| use_case.as_str() == s)
            .ok_or_else(|| ParseFieldError::new("use case", s))
    }
}

/// A calendar day in UTC, the unit transactions are counted per.
///
/// Days are UTC so that counters from devices in different time zones add up on the DS without
/// overlapping, and because the local offset cannot be read safely in a multi-threaded process
/// on Unix. In JSON (`txDate`) a day is `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(Date);

impl Day {
    /// Today, in UTC.
    pub fn today() -> Self {
        Self::of(OffsetDateTime::now_utc())
    }

    /// The UTC day `instant` falls on, whatever offset it carries: `2024-03-01T01:00+02:00` is
    /// on `2024-02-29`.
    pub fn of(instant: OffsetDateTime) -> Self {
        Self(instant.to_offset(UtcOffset::UTC).date())
    }

    /// The calendar date of this day.
    pub fn date(self) -> Date {
        self.0
    }

    /// The Julian day number, the day's representation in the database.
    pub(super) fn julian(self) -> i32 {
        self.0.to_julian_day()
    }

    /// The day with Julian day number `julian`, if `time` can represent it.
    pub(super) fn from_julian(julian: i32) -> Option<Self> {
        Date::from_julian_day(julian).ok().map(Self)
    }
}

impl From<Date> for Day {
    fn from(date: Date) -> Self {
        Self(date)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = self.0;
        write!(f, "{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
    }
}

impl FromStr for Day {
    type Err = ParseFieldError;

    /// Parses `YYYY-MM-DD` (four-digit year), rejecting dates that do not exist.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseFieldError::new("day (YYYY-MM-DD)", s);
        // Checking every byte first makes the slicing below safe: the text is all ASCII.
        let shape_ok = s.len() == 10
            && s.bytes().enumerate().all(|(at, byte)| match at {
                4 | 7 => byte == b'-',
                _ => byte.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(invalid());
        }
        let year: i32 = s[0..4].parse().map_err(|_| invalid())?;
        let month: u8 = s[5..7].parse().map_err(|_| invalid())?;
        let day: u8 = s[8..10].parse().map_err(|_| invalid())?;
        let month = Month::try_from(month).map_err(|_| invalid())?;
        Date::from_calendar_date(year, month, day).map(Self).map_err(|_| invalid())
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One aggregated counter: how many transactions of one (label, tag, module, use case, day).
///
/// Serialises as the T1C v3 `GET /ds/transactions` item,
/// `{label, counter, module, useCase, txDate, tag}`, with an absent label or tag as `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterRow {
    /// The DS label, if the transactions had one.
    pub label: Option<String>,
    /// How many transactions.
    pub counter: u64,
    /// The module that served them.
    pub module: String,
    /// What they were.
    pub use_case: UseCase,
    /// The UTC day they completed on.
    #[serde(rename = "txDate")]
    pub day: Day,
    /// The sub-customer tag, if the transactions had one.
    pub tag: Option<String>,
}

/// A use case or day that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {field}")]
pub struct ParseFieldError {
    field: &'static str,
    value: String,
}

impl ParseFieldError {
    fn new(field: &'static str, value: &str) -> Self {
        Self { field, value: value.chars().take(MAX_FIELD_CHARS).collect() }
    }
}

/// A transaction reduced to the counter it increments: the normalised identity of one row.
///
/// An absent label or tag is the empty string here, because SQLite treats `NULL`s in a primary
/// key as distinct and would never merge them; normalisation makes `""` and `None` the same
/// thing, so the mapping back is lossless.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub(super) label: String,
    pub(super) tag: String,
    pub(super) module: String,
    pub(super) use_case: UseCase,
    pub(super) day: Day,
}

impl Key {
    /// The row this key counts, with `counter` transactions.
    pub(super) fn into_row(self, counter: u64) -> CounterRow {
        let absent_if_empty = |value: String| (!value.is_empty()).then_some(value);
        CounterRow {
            label: absent_if_empty(self.label),
            counter,
            module: self.module,
            use_case: self.use_case,
            day: self.day,
            tag: absent_if_empty(self.tag),
        }
    }
}

impl From<Transaction> for Key {
    fn from(transaction: Transaction) -> Self {
        Self {
            label: normalise(transaction.label.as_deref()),
            tag: normalise(transaction.tag.as_deref()),
            module: normalise(Some(&transaction.module)),
            use_case: transaction.use_case,
            day: transaction.day,
        }
    }
}

/// Trims `value`, cuts it to [`MAX_FIELD_CHARS`] characters and maps absent to `""`.
fn normalise(value: Option<&str>) -> String {
    let cleaned: String = value.unwrap_or_default().chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    let mut end = trimmed.len().min(MAX_FIELD_CHARS);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    trimmed[..end].trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use time::{PrimitiveDateTime, Time};

    use super::*;

    /// `year-month-day hour:minute:second.nanosecond` at `offset_hours` from UTC.
    fn at(date: (i32, u8, u8), time: (u8, u8, u8, u32), offset_hours: i8) -> OffsetDateTime {
        let (year, month, day) = date;
        let (hour, minute, second, nanosecond) = time;
        let date = Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap();
        let time = Time::from_hms_nano(hour, minute, second, nanosecond).unwrap();
        let offset = UtcOffset::from_hms(offset_hours, 0, 0).unwrap();
        PrimitiveDateTime::new(date, time).assume_offset(offset)
    }

    fn with(label: Option<&str>, tag: Option<&str>) -> Key {
        Key::from(Transaction {
            label: label.map(str::to_owned),
            tag: tag.map(str::to_owned),
            module: "beid".into(),
            use_case: UseCase::IdentityRead,
            day: Day::of(at((2024, 5, 1), (12, 0, 0, 0), 0)),
        })
    }

    #[test]
    fn empty_and_blank_labels_count_as_absent() {
        let absent = with(None, None);
        assert_eq!(with(Some(""), Some("")), absent);
        assert_eq!(with(Some("  \t"), Some(" ")), absent);
        let row = absent.into_row(1);
        assert_eq!((row.label, row.tag), (None, None));
    }

    #[test]
    fn labels_and_tags_are_trimmed() {
        assert_eq!(with(Some(" app "), Some("shop\t")), with(Some("app"), Some("shop")));
    }

    #[test]
    fn long_tags_are_cut_to_the_limit() {
        let long = "t".repeat(MAX_FIELD_CHARS + 50);
        let key = with(None, Some(&long));
        assert_eq!(key.tag.chars().count(), MAX_FIELD_CHARS);
        assert_eq!(key, with(None, Some(&long[..MAX_FIELD_CHARS])));
    }

    #[test]
    fn cutting_never_splits_a_character() {
        let long = "é".repeat(MAX_FIELD_CHARS * 2);
        let key = with(Some(&long), None);
        // At most that many bytes of UTF-8: 'é' takes two.
        assert_eq!(key.label.chars().count(), MAX_FIELD_CHARS / 2);
        assert!(key.label.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_value_of_exactly_the_limit_is_kept_whole() {
        let exact = "x".repeat(MAX_FIELD_CHARS);
        assert_eq!(with(Some(&exact), None).label, exact);
    }

    #[test]
    fn the_last_nanosecond_of_a_day_belongs_to_that_day() {
        let late = Day::of(at((2023, 12, 31), (23, 59, 59, 999_999_999), 0));
        let early = Day::of(at((2024, 1, 1), (0, 0, 0, 0), 0));
        assert_eq!(late.to_string(), "2023-12-31");
        assert_eq!(early.to_string(), "2024-01-01");
        assert!(late < early);
    }

    #[test]
    fn days_are_utc_whatever_the_offset() {
        assert_eq!(Day::of(at((2024, 3, 1), (1, 0, 0, 0), 2)).to_string(), "2024-02-29");
        assert_eq!(Day::of(at((2024, 2, 29), (23, 30, 0, 0), -5)).to_string(), "2024-03-01");
    }

    #[test]
    fn days_round_trip_through_text_and_julian_numbers() {
        for text in ["2024-02-29", "1999-12-31", "2000-01-01", "9999-12-31"] {
            let day: Day = text.parse().unwrap();
            assert_eq!(day.to_string(), text);
            assert_eq!(Day::from_julian(day.julian()), Some(day));
        }
    }

    #[test]
    fn impossible_or_malformed_days_are_rejected() {
        for text in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-2-01",
            "24-02-01",
            "2024/02/01",
            "2024-02-01T00:00",
            "",
            "２０２４-02-01",
        ] {
            assert!(text.parse::<Day>().is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn use_case_names_are_the_serde_names() {
        for use_case in UseCase::ALL {
            let json = serde_json::to_string(&use_case).unwrap();
            assert_eq!(json, format!("\"{}\"", use_case.as_str()));
            assert_eq!(use_case.as_str().parse::<UseCase>(), Ok(use_case));
            assert_eq!(serde_json::from_str::<UseCase>(&json).unwrap(), use_case);
        }
        assert!("Identity Read".parse::<UseCase>().is_err());
    }

    #[test]
    fn rows_serialise_as_the_t1c_transaction_item() {
        let row = with(Some("app"), None).into_row(3);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "label": "app",
                "counter": 3,
                "module": "beid",
                "useCase": "identity read",
                "txDate": "2024-05-01",
                "tag": null,
            })
        );
        assert_eq!(serde_json::from_value::<CounterRow>(json).unwrap(), row);
    }
}
