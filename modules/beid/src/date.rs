//! Dates as the identity file writes them: validity dates `DD.MM.YYYY`, and dates of birth in
//! the card's language with month abbreviations (beid-card.md §3.4): `15 MAAR 1985`,
//! `01 SEPT 1979`, `01.DEZ. 2003`, `01 JAN  1950` (month padded to four characters on older
//! cards), `9 JAN 1999`, and blanks for unknown parts.
//!
//! Parsing never loses anything: callers keep the card's text and add the ISO date only when
//! every part is known.

/// Month abbreviations of the three languages, merged: French, Dutch and German share most,
/// and no abbreviation means different months in two languages.
const MONTHS: [(&str, u8); 24] = [
    ("JAN", 1),
    ("FEV", 2),
    ("FEB", 2),
    ("MARS", 3),
    ("MAAR", 3),
    ("MÄR", 3),
    ("MAR", 3),
    ("AVR", 4),
    ("APR", 4),
    ("MAI", 5),
    ("MEI", 5),
    ("JUIN", 6),
    ("JUN", 6),
    ("JUIL", 7),
    ("JUL", 7),
    ("AOUT", 8),
    ("AUG", 8),
    ("SEPT", 9),
    ("SEP", 9),
    ("OCT", 10),
    ("OKT", 10),
    ("NOV", 11),
    ("DEC", 12),
    ("DEZ", 12),
];

/// A date of the identity file as ISO 8601 `YYYY-MM-DD`, when the text names a real day.
///
/// Accepts `DD.MM.YYYY` (validity dates, EU start date) and the date-of-birth forms above.
/// Returns `None` for blanks, unknown months and impossible days.
pub fn to_iso(text: &str) -> Option<String> {
    let (day, month, year) = numeric(text).or_else(|| with_month_name(text))?;
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// `DD.MM.YYYY`.
fn numeric(text: &str) -> Option<(u8, u8, u16)> {
    let mut parts = text.trim().split('.');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.is_empty() || month.len() > 2 {
        return None;
    }
    Some((number(day)?, number(month)?, number(year)?))
}

/// Day, month name, year, separated by spaces and dots: day up to the first separator, year
/// after the last, the month name in between.
fn with_month_name(text: &str) -> Option<(u8, u8, u16)> {
    let separator = |c: char| c == ' ' || c == '.';
    let mut tokens = text.split(separator).filter(|token| !token.is_empty());
    let (day, month, year) = (tokens.next()?, tokens.next()?, tokens.next()?);
    if tokens.next().is_some() || year.len() != 4 {
        return None;
    }
    let month = month.to_uppercase();
    let month = MONTHS.iter().find(|(name, _)| *name == month).map(|(_, number)| *number)?;
    Some((number(day)?, month, number(year)?))
}

fn number<T: std::str::FromStr>(digits: &str) -> Option<T> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_language_and_layout() {
        for (text, iso) in [
            ("15 MAAR 1985", "1985-03-15"),
            ("15 MARS 1985", "1985-03-15"),
            ("15.MÄR. 1985", "1985-03-15"),
            ("01 SEPT 1979", "1979-09-01"),
            ("30 SEP 1979", "1979-09-30"),
            ("01.DEZ. 2003", "2003-12-01"),
            ("12 AOUT 1990", "1990-08-12"),
            ("03 FEV 2001", "2001-02-03"),
            ("03 MEI 2001", "2001-05-03"),
            ("01 JAN  1950", "1950-01-01"),
            ("07 AVR  1961", "1961-04-07"),
            ("9 JAN 1999", "1999-01-09"),
            ("29 FEB 2000", "2000-02-29"),
            ("15.01.2024", "2024-01-15"),
        ] {
            assert_eq!(to_iso(text).as_deref(), Some(iso), "{text}");
        }
    }

    #[test]
    fn blanks_and_nonsense_have_no_iso_date() {
        for text in [
            "   JAN 1950",
            "01      1950",
            "        1950",
            "",
            "31 FEB 2001",
            "29 FEB 1900",
            "01 XYZ 1950",
            "1985",
        ] {
            assert_eq!(to_iso(text), None, "{text}");
        }
    }
}
