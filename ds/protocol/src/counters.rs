//! Usage counters: what a connector counts, per (label, tag, module, use case, day), and sends
//! as absolute day totals with a per-device sequence number.

use serde::{Deserialize, Serialize};

/// What a count is of (T1C's transaction kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseCase {
    /// An identity, address or photo read.
    IdentityRead,
    /// An authentication signature.
    Authentication,
    /// A digital (non-repudiation) signature.
    DigitalSignature,
    /// A PIN verification.
    PinVerification,
    /// A file downloaded from the file exchange.
    FileDownload,
    /// A file uploaded to the file exchange.
    FileUpload,
    /// A file printed.
    FilePrint,
}

impl UseCase {
    /// Every use case.
    pub const ALL: [UseCase; 7] = [
        UseCase::IdentityRead,
        UseCase::Authentication,
        UseCase::DigitalSignature,
        UseCase::PinVerification,
        UseCase::FileDownload,
        UseCase::FileUpload,
        UseCase::FilePrint,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UseCase::IdentityRead => "identity_read",
            UseCase::Authentication => "authentication",
            UseCase::DigitalSignature => "digital_signature",
            UseCase::PinVerification => "pin_verification",
            UseCase::FileDownload => "file_download",
            UseCase::FileUpload => "file_upload",
            UseCase::FilePrint => "file_print",
        }
    }
}

/// The largest day total a device may report for one key (a million operations a day on one
/// connector is already far beyond a person at a card reader).
pub const MAX_DAY_TOTAL: u64 = 1_000_000;
/// The most counter rows in one sync.
pub const MAX_ROWS: usize = 1_000;

/// One day's absolute total for one (label, tag, module, use case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayCount {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The label the operations ran under (the token's `sub`), empty when none.
    pub label: String,
    /// The billing tag (`X-T1C-BILLING-TAG`), empty when none.
    pub tag: String,
    /// The module name.
    pub module: String,
    /// What was done.
    pub use_case: UseCase,
    /// How many times that day, in all (not since the last sync).
    pub total: u64,
}

/// The counters of one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterBatch {
    /// Increases with every batch the device builds; the DS keeps, per key, the total of the
    /// highest sequence it has seen, so a resend or a late old batch changes nothing.
    pub seq: u64,
    /// Day totals.
    pub rows: Vec<DayCount>,
}

/// Why a counter batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CounterError {
    /// More rows than [`MAX_ROWS`].
    #[error("too many counter rows")]
    TooMany,
    /// A day is not `YYYY-MM-DD`.
    #[error("a counter day is not YYYY-MM-DD")]
    Day,
    /// A total above [`MAX_DAY_TOTAL`].
    #[error("a counter total is out of range")]
    Total,
    /// A name is empty where required or longer than 128 bytes.
    #[error("a counter name is malformed")]
    Name,
}

impl CounterBatch {
    /// Checks bounds and formats; the DS stores nothing from a batch that fails.
    ///
    /// # Errors
    /// [`CounterError`] naming the first problem.
    pub fn check(&self) -> Result<(), CounterError> {
        if self.rows.len() > MAX_ROWS {
            return Err(CounterError::TooMany);
        }
        for row in &self.rows {
            if !is_day(&row.day) || row.day.as_str() < "2000-01-01" {
                return Err(CounterError::Day);
            }
            if row.total > MAX_DAY_TOTAL {
                return Err(CounterError::Total);
            }
            let name_ok = |s: &str, required: bool| {
                (!required || !s.is_empty()) && s.len() <= 128 && !s.chars().any(char::is_control)
            };
            if !name_ok(&row.module, true)
                || !name_ok(&row.label, false)
                || !name_ok(&row.tag, false)
            {
                return Err(CounterError::Name);
            }
        }
        Ok(())
    }
}

/// Whether `day` is a valid `YYYY-MM-DD` date (proleptic Gregorian, with leap years, years
/// 0000 to 9999).
pub fn is_day(day: &str) -> bool {
    let bytes = day.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| day.get(range).and_then(|s| s.parse::<u32>().ok());
    let (Some(year), Some(month), Some(date)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year <= 9999
        && (1..=days).contains(&date)
        && day.bytes().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        for good in ["2026-11-30", "2024-02-29", "2000-02-29", "1970-01-01", "0001-01-01"] {
            assert!(is_day(good), "{good}");
        }
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "2026-11-31",
            "+026-11-30",
            "2026/11/30",
            "",
        ] {
            assert!(!is_day(bad), "{bad}");
        }
    }

    #[test]
    fn batches_are_bounded() {
        let row = DayCount {
            day: "2026-11-30".into(),
            label: "shop".into(),
            tag: String::new(),
            module: "beid".into(),
            use_case: UseCase::IdentityRead,
            total: 3,
        };
        let ok = CounterBatch { seq: 1, rows: vec![row.clone()] };
        assert_eq!(ok.check(), Ok(()));
        let absurd = CounterBatch {
            seq: 1,
            rows: vec![DayCount { total: MAX_DAY_TOTAL + 1, ..row.clone() }],
        };
        assert_eq!(absurd.check(), Err(CounterError::Total));
        let ancient = CounterBatch {
            seq: 1,
            rows: vec![DayCount { day: "1999-12-31".into(), ..row.clone() }],
        };
        assert_eq!(ancient.check(), Err(CounterError::Day), "no connector counted before 2000");
        let nameless =
            CounterBatch { seq: 1, rows: vec![DayCount { module: String::new(), ..row.clone() }] };
        assert_eq!(nameless.check(), Err(CounterError::Name));
        let many = CounterBatch { seq: 1, rows: vec![row; MAX_ROWS + 1] };
        assert_eq!(many.check(), Err(CounterError::TooMany));
        let negative = serde_json::from_str::<DayCount>(
            r#"{"day":"2026-11-30","label":"","tag":"","module":"m","use_case":"file_print","total":-1}"#,
        );
        assert!(negative.is_err(), "negative totals do not parse");
    }
}
