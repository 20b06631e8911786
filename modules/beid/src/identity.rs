//! EF(ID#RN) (`DF01/4031`), the National Register's identity file, parsed into the fields of
//! the T1C v3 `biometric` response (IDADR18 tags, beid-card.md §3.2).
//!
//! Text fields are UTF-8 on every card seen; a field that is not is read as Latin-1, which maps
//! every byte to a character, so nothing the card holds is dropped. Binary fields (chip
//! number, hashes) stay bytes here and become base64 in JSON.

use t1c_sdk::Result;
use t1c_sdk::tlv::simple;

/// The identity file's fields. Tags `01`..`11` are on every card; the rest only on foreigners'
/// cards (`12`..`19`, `1B`..`1F`) and applet 1.8 cards (`1A`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Tag 00, file structure version (absent on 1.1/1.7 cards: 0).
    pub version: u32,
    /// Tag 01.
    pub card_number: String,
    /// Tag 02, 16 bytes, the same as GET CARD DATA's serial.
    pub chip_number: Vec<u8>,
    /// Tag 03, `DD.MM.YYYY`.
    pub validity_begin: String,
    /// Tag 04, `DD.MM.YYYY`.
    pub validity_end: String,
    /// Tag 05.
    pub issuing_municipality: String,
    /// Tag 06, 11 digits.
    pub national_number: String,
    /// Tag 07.
    pub surname: String,
    /// Tag 08, the first two given names.
    pub first_names: String,
    /// Tag 09, first letter of the third given name.
    pub third_initial: String,
    /// Tag 0A.
    pub nationality: String,
    /// Tag 0B.
    pub birth_place: String,
    /// Tag 0C, in the card's language (see [`crate::date`]).
    pub birth_date: String,
    /// Tag 0D: `M`, or `F`/`V`/`W` for female.
    pub sex: String,
    /// Tag 0E, usually empty.
    pub nobility: String,
    /// Tag 0F, decimal document type.
    pub document_type: String,
    /// Tag 10, special status digit.
    pub special_status: String,
    /// Tag 11, hash of the photo file.
    pub photo_hash: Vec<u8>,
    /// Tag 12, duplicate number.
    pub duplicate: Option<String>,
    /// Tag 13, special organisation.
    pub special_organization: Option<String>,
    /// Tag 14 present: member of the family of an EU citizen.
    pub member_of_family: bool,
    /// Tag 15, `dd.MM.yyyy-A2`.
    pub date_and_country_of_protection: Option<String>,
    /// Tag 16.
    pub work_permit_mention: Option<String>,
    /// Tag 17.
    pub employer_vat_1: Option<String>,
    /// Tag 18.
    pub employer_vat_2: Option<String>,
    /// Tag 19.
    pub regional_file_number: Option<String>,
    /// Tag 1A, SHA-384 of EF(PuK#1) (applet 1.8).
    pub basic_key_hash: Option<Vec<u8>>,
    /// Tag 1B.
    pub brexit_mention_1: Option<String>,
    /// Tag 1C.
    pub brexit_mention_2: Option<String>,
    /// Tag 1D.
    pub card_a_mention_1: Option<String>,
    /// Tag 1E.
    pub card_a_mention_2: Option<String>,
    /// Tag 1F, `DD.MM.YYYY`.
    pub card_eu_start_date: Option<String>,
}

impl Identity {
    /// Parses the identity file. Unknown tags are skipped (they stay in the raw data).
    ///
    /// # Errors
    /// [`t1c_sdk::Error::Internal`] for a malformed TLV structure.
    pub fn parse(file: &[u8]) -> Result<Self> {
        let mut identity = Self::default();
        for element in simple::parse(file) {
            let element = element?;
            let value = element.value;
            let text = || decode_text(value);
            match element.tag {
                0x00 => identity.version = value.iter().fold(0, |acc, b| acc << 8 | u32::from(*b)),
                0x01 => identity.card_number = text(),
                0x02 => identity.chip_number = value.to_vec(),
                0x03 => identity.validity_begin = text(),
                0x04 => identity.validity_end = text(),
                0x05 => identity.issuing_municipality = text(),
                0x06 => identity.national_number = text(),
                0x07 => identity.surname = text(),
                0x08 => identity.first_names = text(),
                0x09 => identity.third_initial = text(),
                0x0A => identity.nationality = text(),
                0x0B => identity.birth_place = text(),
                0x0C => identity.birth_date = text(),
                0x0D => identity.sex = text(),
                0x0E => identity.nobility = text(),
                0x0F => identity.document_type = text(),
                0x10 => identity.special_status = text(),
                0x11 => identity.photo_hash = value.to_vec(),
                0x12 => identity.duplicate = Some(text()),
                0x13 => identity.special_organization = Some(text()),
                0x14 => identity.member_of_family = true,
                0x15 => identity.date_and_country_of_protection = Some(text()),
                0x16 => identity.work_permit_mention = Some(text()),
                0x17 => identity.employer_vat_1 = Some(text()),
                0x18 => identity.employer_vat_2 = Some(text()),
                0x19 => identity.regional_file_number = Some(text()),
                0x1A => identity.basic_key_hash = Some(value.to_vec()),
                0x1B => identity.brexit_mention_1 = Some(text()),
                0x1C => identity.brexit_mention_2 = Some(text()),
                0x1D => identity.card_a_mention_1 = Some(text()),
                0x1E => identity.card_a_mention_2 = Some(text()),
                0x1F => identity.card_eu_start_date = Some(text()),
                _ => {}
            }
        }
        Ok(identity)
    }
}

/// A text field: UTF-8, or Latin-1 when it is not valid UTF-8.
pub fn decode_text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => value.iter().map(|b| char::from(*b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tags_and_skips_unknown_ones() {
        let mut file = Vec::new();
        simple::encode(0x01, b"592000001266", &mut file);
        simple::encode(0x07, "Müßig".as_bytes(), &mut file);
        simple::encode(0x14, b"", &mut file);
        simple::encode(0x2A, b"future", &mut file);
        file.extend([0; 10]);
        let identity = Identity::parse(&file).expect("parses");
        assert_eq!(identity.card_number, "592000001266");
        assert_eq!(identity.surname, "Müßig");
        assert!(identity.member_of_family);
        assert_eq!(identity.duplicate, None);
    }

    #[test]
    fn latin1_text_is_kept() {
        assert_eq!(decode_text(&[0x4C, 0x69, 0xE8, 0x67, 0x65]), "Liège");
    }

    #[test]
    fn malformed_file_is_an_error() {
        assert!(Identity::parse(&[0x01, 0x20, 0x41]).is_err());
    }
}
