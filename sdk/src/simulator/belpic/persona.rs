//! The fictional people simulated cards belong to.
//!
//! A [`Persona`] holds what the National Register writes on a card: names, national number,
//! birth, document, address, the extra fields of foreigners' cards, and the PIN chosen at
//! issuance. Every persona here is invented; none describes a real person.

use std::fmt;

use sha2::{Digest, Sha256};

use super::error::BelpicError;

/// The holder of a simulated card: the contents of its identity and address files and its
/// PIN. Fields are public so tests describe variants with struct update syntax:
///
/// ```
/// # use t1c_sdk::simulator::belpic::{Persona, SpecialStatus};
/// let persona = Persona { special_status: SpecialStatus::WhiteCane, ..Persona::default_citizen() };
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Persona {
    /// Surname (tag 07).
    pub surname: String,
    /// The first two given names, space separated (tag 08).
    pub first_names: String,
    /// First letter of the third given name, may be empty (tag 09).
    pub third_initial: String,
    /// Nationality as printed, in the card's language, e.g. `Belg` (tag 0A).
    pub nationality: String,
    /// Place of birth (tag 0B).
    pub birth_place: String,
    /// Date of birth (tag 0C, written in the card's [`Language`]).
    pub birth_date: Date,
    /// Sex (tag 0D).
    pub sex: Sex,
    /// Noble title, usually empty (tag 0E).
    pub nobility: String,
    /// National register number, 11 digits (tag 06, and the certificates' serialNumber).
    pub national_number: String,
    /// Card number, 12 digits (tag 01).
    pub card_number: String,
    /// First day of validity (tag 03).
    pub validity_begin: Date,
    /// Last day of validity (tag 04).
    pub validity_end: Date,
    /// Municipality that issued the card (tag 05).
    pub issuing_municipality: String,
    /// Document type (tag 0F).
    pub document_type: DocumentType,
    /// Special status (tag 10).
    pub special_status: SpecialStatus,
    /// Duplicate number, e.g. `01`; absent on most cards (tag 12).
    pub duplicate: Option<String>,
    /// Language the card was personalised in: month names and the letter for female.
    pub language: Language,
    /// Legal address (EF(ID#Address)).
    pub address: Address,
    /// The fields only foreigners' cards carry (tags 13 to 19 and 1B to 1F).
    pub foreigner: Option<ForeignerDetails>,
    /// The PIN chosen at issuance, 4 to 12 digits.
    pub pin: String,
}

/// A calendar date as the card writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, four digits.
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, 1 to 31.
    pub day: u8,
}

/// The holder's sex as the identity file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// `M`.
    Male,
    /// `F` (French), `V` (Dutch) or `W` (German).
    Female,
}

/// The language a card is personalised in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Dutch: `15 MAAR 1985`, female `V`.
    Dutch,
    /// French: `15 MARS 1985`, female `F`.
    French,
    /// German: `15.MÄR. 1985`, female `W`.
    German,
}

/// Document type (tag 0F), written as its decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentType(pub u8);

impl DocumentType {
    /// `1`: Belgian citizen's eID.
    pub const BELGIAN_CITIZEN: Self = Self(1);
    /// `6`: Kids-ID, children under 12.
    pub const KIDS: Self = Self(6);
    /// `11`: foreigner card A (limited stay).
    pub const FOREIGNER_A: Self = Self(11);
    /// `12`: foreigner card B (unlimited stay).
    pub const FOREIGNER_B: Self = Self(12);
    /// `31`: EU citizen registration.
    pub const EU: Self = Self(31);
    /// `32`: EU citizen permanent stay (EU+).
    pub const EU_PLUS: Self = Self(32);
}

/// Special status (tag 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpecialStatus {
    /// `0`.
    #[default]
    None,
    /// `1`: white cane (blind).
    WhiteCane,
    /// `2`: extended minority.
    ExtendedMinority,
    /// `3`: white cane and extended minority.
    WhiteCaneAndExtendedMinority,
    /// `4`: yellow cane (partially sighted).
    YellowCane,
    /// `5`: yellow cane and extended minority.
    YellowCaneAndExtendedMinority,
}

/// A legal address (EF(ID#Address)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Street, number and box (tag 01).
    pub street_and_number: String,
    /// Postal code (tag 02).
    pub zip: String,
    /// Municipality (tag 03).
    pub municipality: String,
}

/// Identity fields that only foreigners' cards carry. `None` and `false` leave the tag out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForeignerDetails {
    /// Special organisation: `1` SHAPE, `2` NATO, `4` old European blue card, `5` researcher
    /// (tag 13).
    pub special_organization: Option<String>,
    /// Member of the family of an EU citizen (tag 14, present without a value when true).
    pub member_of_family: bool,
    /// Date and country of protection, `dd.MM.yyyy-A2` (tag 15).
    pub date_and_country_of_protection: Option<String>,
    /// Work permit mention: `7` unlimited, `8` limited, `9` none, `A` seasonal (tag 16).
    pub work_permit_mention: Option<String>,
    /// First employer's VAT number, `xxxx.xxx.xxx` (tag 17).
    pub employer_vat_1: Option<String>,
    /// Second employer's VAT number (tag 18).
    pub employer_vat_2: Option<String>,
    /// Regional file number (tag 19).
    pub regional_file_number: Option<String>,
    /// Brexit mention 1, `B` (tag 1B; applet 1.8 cards only).
    pub brexit_mention_1: Option<String>,
    /// Brexit mention 2, `C` (tag 1C; applet 1.8 cards only).
    pub brexit_mention_2: Option<String>,
    /// Card A mention 1, e.g. `D` student (tag 1D; applet 1.8 cards only).
    pub card_a_mention_1: Option<String>,
    /// Card A mention 2, `K` mobility programme (tag 1E; applet 1.8 cards only).
    pub card_a_mention_2: Option<String>,
    /// Start of EU registration or permanent stay (tag 1F; applet 1.8 cards only).
    pub card_eu_start_date: Option<Date>,
}

impl Persona {
    /// Lotte Testkaart, a fictional Belgian citizen from Hasselt with a Dutch-language card
    /// and PIN `1234`.
    pub fn default_citizen() -> Self {
        let birth_date = Date::new(1985, 3, 15);
        Self {
            surname: "Testkaart".into(),
            first_names: "Lotte Anna".into(),
            third_initial: "M".into(),
            nationality: "Belg".into(),
            birth_place: "Hasselt".into(),
            birth_date,
            sex: Sex::Female,
            nobility: String::new(),
            national_number: national_number(birth_date, 2),
            card_number: card_number(5_920_000_012),
            validity_begin: Date::new(2024, 1, 15),
            validity_end: Date::new(2034, 1, 15),
            issuing_municipality: "Hasselt".into(),
            document_type: DocumentType::BELGIAN_CITIZEN,
            special_status: SpecialStatus::None,
            duplicate: None,
            language: Language::Dutch,
            address: Address {
                street_and_number: "Simulatiestraat 12 bus 3".into(),
                zip: "3500".into(),
                municipality: "Hasselt".into(),
            },
            foreigner: None,
            pin: "1234".into(),
        }
    }

    /// Jonas Probekarte, a fictional German-speaking Belgian from Eupen, born in 2003, with a
    /// noble title, non-ASCII names and a six-digit PIN `654321`.
    pub fn german_speaking_citizen() -> Self {
        let birth_date = Date::new(2003, 12, 1);
        Self {
            surname: "Probekärte-Müßig".into(),
            first_names: "Jonas Élie".into(),
            third_initial: "Ö".into(),
            nationality: "Belgier".into(),
            birth_place: "Eupen".into(),
            birth_date,
            sex: Sex::Male,
            nobility: "Baron".into(),
            national_number: national_number(birth_date, 17),
            card_number: card_number(5_920_000_777),
            validity_begin: Date::new(2023, 6, 1),
            validity_end: Date::new(2033, 6, 1),
            issuing_municipality: "Eupen".into(),
            document_type: DocumentType::BELGIAN_CITIZEN,
            special_status: SpecialStatus::YellowCane,
            duplicate: None,
            language: Language::German,
            address: Address {
                street_and_number: "Prüfweg 7".into(),
                zip: "4700".into(),
                municipality: "Eupen".into(),
            },
            foreigner: None,
            pin: "654321".into(),
        }
    }

    /// Camille Essai, a fictional EU citizen with a French-language EU+ card, a second
    /// duplicate, and every foreigner field set (the 1.8-only ones too). PIN `1234`.
    pub fn foreigner() -> Self {
        let birth_date = Date::new(1979, 9, 30);
        Self {
            surname: "Essai".into(),
            first_names: "Camille Sacha".into(),
            third_initial: String::new(),
            nationality: "Française".into(),
            birth_place: "Lille".into(),
            birth_date,
            sex: Sex::Female,
            nobility: String::new(),
            national_number: national_number(birth_date, 404),
            card_number: "B01234567".into(),
            validity_begin: Date::new(2022, 2, 1),
            validity_end: Date::new(2032, 2, 1),
            issuing_municipality: "Liège".into(),
            document_type: DocumentType::EU_PLUS,
            special_status: SpecialStatus::None,
            duplicate: Some("02".into()),
            language: Language::French,
            address: Address {
                street_and_number: "Rue de l'Essai 5".into(),
                zip: "4000".into(),
                municipality: "Liège".into(),
            },
            foreigner: Some(ForeignerDetails {
                special_organization: Some("5".into()),
                member_of_family: true,
                date_and_country_of_protection: Some("01.02.2022-FR".into()),
                work_permit_mention: Some("7".into()),
                employer_vat_1: Some("0123.456.789".into()),
                employer_vat_2: Some("0987.654.321".into()),
                regional_file_number: Some("RF-2022-000042".into()),
                brexit_mention_1: Some("B".into()),
                brexit_mention_2: Some("C".into()),
                card_a_mention_1: Some("D".into()),
                card_a_mention_2: Some("K".into()),
                card_eu_start_date: Some(Date::new(2017, 5, 2)),
            }),
            pin: "1234".into(),
        }
    }

    /// The 16-byte chip serial number: GET CARD DATA bytes 0-15, the TokenInfo serial and
    /// identity tag 02. Test cards start with `SLIN`; the rest derives from the card number.
    pub fn chip_number(&self) -> [u8; 16] {
        let digest = Sha256::digest(self.card_number.as_bytes());
        let mut chip = [0u8; 16];
        chip[..4].copy_from_slice(b"SLIN");
        chip[4..].copy_from_slice(&digest[..12]);
        chip
    }

    /// The holder's name as certificates write it: first given name and surname.
    pub fn common_name(&self) -> String {
        let first = self.first_names.split_whitespace().next().unwrap_or_default();
        format!("{first} {}", self.surname).trim().to_owned()
    }

    /// The given names of the certificates' givenName: first names and third initial.
    pub fn given_names(&self) -> String {
        format!("{} {}", self.first_names, self.third_initial).trim().to_owned()
    }

    /// Checks what the card format requires: PIN of 4 to 12 digits, an 11-digit national
    /// number, real dates.
    ///
    /// # Errors
    /// [`BelpicError::InvalidPersona`] naming the first field that does not fit.
    pub fn validate(&self) -> Result<(), BelpicError> {
        let invalid = |what: &str| Err(BelpicError::InvalidPersona(what.to_owned()));
        if !(4..=12).contains(&self.pin.len()) || !self.pin.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("the PIN must be 4 to 12 digits");
        }
        if self.national_number.len() != 11
            || !self.national_number.bytes().all(|b| b.is_ascii_digit())
        {
            return invalid("the national number must be 11 digits");
        }
        for date in [self.birth_date, self.validity_begin, self.validity_end] {
            if !date.is_valid() {
                return invalid("a date is out of range");
            }
        }
        if self.validity_end <= self.validity_begin {
            return invalid("validity must end after it begins");
        }
        Ok(())
    }
}

impl fmt::Debug for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Persona")
            .field("surname", &self.surname)
            .field("first_names", &self.first_names)
            .field("national_number", &self.national_number)
            .field("card_number", &self.card_number)
            .field("document_type", &self.document_type)
            .field("language", &self.language)
            .field("pin", &"***")
            .finish_non_exhaustive()
    }
}

impl Date {
    /// The date `year-month-day` (checked by [`Persona::validate`], not here).
    pub const fn new(year: u16, month: u8, day: u8) -> Self {
        Self { year, month, day }
    }

    /// `DD.MM.YYYY`, as validity dates are written.
    pub fn dotted(self) -> String {
        format!("{:02}.{:02}.{:04}", self.day, self.month, self.year)
    }

    fn is_valid(self) -> bool {
        (1900..=2099).contains(&self.year)
            && (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
    }
}

/// A valid national register number for someone born on `birth` with the day's serial
/// number `serial` (odd for men, even for women; 1 to 997).
pub fn national_number(birth: Date, serial: u16) -> String {
    let base = format!("{:02}{:02}{:02}{:03}", birth.year % 100, birth.month, birth.day, serial);
    // People born from 2000 on have a 2 in front of the number for the check digits.
    let value: u64 = base.parse().unwrap_or_default();
    let value = if birth.year >= 2000 { value + 2_000_000_000 } else { value };
    format!("{base}{:02}", 97 - value % 97)
}

/// A 12-digit eID card number: `first_ten` and its modulo-97 check digits.
pub fn card_number(first_ten: u64) -> String {
    let check = match first_ten % 97 {
        0 => 97,
        rest => rest,
    };
    format!("{:010}{check:02}", first_ten % 10_000_000_000)
}
