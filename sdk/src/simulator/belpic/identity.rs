//! The National Register's files in DF(ID): EF(ID#RN) (4031) and EF(ID#Address) (4033), in
//! the simplified TLV of CONT18 §6.1 with the tags of IDADR18.

use super::AppletVersion;
use super::persona::{Date, Language, Persona, Sex};

/// Size of EF(ID#Address): the TLVs, then zero bytes up to this length.
pub const ADDRESS_FILE_LEN: usize = 121;

/// EF(ID#RN): every field of `persona` in ascending tag order. `photo_hash` is the hash of
/// the whole photo file (SHA-256 on 1.7, SHA-384 on 1.8); `basic_key_hash` is SHA-384 of
/// EF(PuK#1) on 1.8 (tag 1A) and `None` on 1.7.
pub fn identity_file(
    persona: &Persona,
    version: AppletVersion,
    photo_hash: &[u8],
    basic_key_hash: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut put = |tag: u8, value: &[u8]| push_tlv(&mut out, tag, value);
    put(0x01, persona.card_number.as_bytes());
    put(0x02, &persona.chip_number());
    put(0x03, persona.validity_begin.dotted().as_bytes());
    put(0x04, persona.validity_end.dotted().as_bytes());
    put(0x05, persona.issuing_municipality.as_bytes());
    put(0x06, persona.national_number.as_bytes());
    put(0x07, persona.surname.as_bytes());
    put(0x08, persona.first_names.as_bytes());
    put(0x09, persona.third_initial.as_bytes());
    put(0x0A, persona.nationality.as_bytes());
    put(0x0B, persona.birth_place.as_bytes());
    put(0x0C, birth_date(persona.birth_date, persona.language).as_bytes());
    put(0x0D, sex_letter(persona.sex, persona.language).as_bytes());
    put(0x0E, persona.nobility.as_bytes());
    put(0x0F, persona.document_type.0.to_string().as_bytes());
    put(0x10, &[b'0' + special_status_code(persona)]);
    put(0x11, photo_hash);
    if let Some(duplicate) = &persona.duplicate {
        put(0x12, duplicate.as_bytes());
    }
    let foreigner = persona.foreigner.as_ref();
    let text = |field: Option<&String>| field.map(|value| value.as_bytes().to_vec());
    if let Some(f) = foreigner {
        for (tag, value) in [
            (0x13, text(f.special_organization.as_ref())),
            (0x14, f.member_of_family.then(Vec::new)),
            (0x15, text(f.date_and_country_of_protection.as_ref())),
            (0x16, text(f.work_permit_mention.as_ref())),
            (0x17, text(f.employer_vat_1.as_ref())),
            (0x18, text(f.employer_vat_2.as_ref())),
            (0x19, text(f.regional_file_number.as_ref())),
        ] {
            if let Some(value) = value {
                put(tag, &value);
            }
        }
    }
    if let Some(hash) = basic_key_hash {
        put(0x1A, hash);
    }
    if let (AppletVersion::V1_8, Some(f)) = (version, foreigner) {
        for (tag, value) in [
            (0x1B, text(f.brexit_mention_1.as_ref())),
            (0x1C, text(f.brexit_mention_2.as_ref())),
            (0x1D, text(f.card_a_mention_1.as_ref())),
            (0x1E, text(f.card_a_mention_2.as_ref())),
            (0x1F, f.card_eu_start_date.map(|date| date.dotted().into_bytes())),
        ] {
            if let Some(value) = value {
                put(tag, &value);
            }
        }
    }
    out
}

/// EF(ID#Address): street, zip and municipality, zero-padded to [`ADDRESS_FILE_LEN`] bytes
/// (longer addresses are not padded).
pub fn address_file(persona: &Persona) -> Vec<u8> {
    let mut out = Vec::with_capacity(ADDRESS_FILE_LEN);
    push_tlv(&mut out, 0x01, persona.address.street_and_number.as_bytes());
    push_tlv(&mut out, 0x02, persona.address.zip.as_bytes());
    push_tlv(&mut out, 0x03, persona.address.municipality.as_bytes());
    if out.len() < ADDRESS_FILE_LEN {
        out.resize(ADDRESS_FILE_LEN, 0);
    }
    out
}

/// The file's TLV fields with tags in `first..=last`, encoded as READ RECORD returns them.
/// Zero padding after the last field ends the walk.
pub fn records(file: &[u8], first: u8, last: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = file;
    let mut index = 0usize;
    while let Some((&tag, after_tag)) = rest.split_first() {
        if tag == 0 && index > 0 {
            break;
        }
        let Some((len, header_len)) = read_length(after_tag) else { break };
        let Some(value) = after_tag.get(header_len..header_len + len) else { break };
        if (first..=last).contains(&tag) {
            out.push(tag);
            out.extend_from_slice(&after_tag[..header_len]);
            out.extend_from_slice(value);
        }
        rest = &after_tag[header_len + len..];
        index += 1;
    }
    out
}

/// Appends `tag`, the simplified-TLV length (each `FF` adds 255) and `value`.
fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let mut len = value.len();
    while len >= 0xFF {
        out.push(0xFF);
        len -= 0xFF;
    }
    out.push(u8::try_from(len).unwrap_or(0));
    out.extend_from_slice(value);
}

/// A simplified-TLV length at the start of `bytes`: the length and how many bytes encode it.
fn read_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0usize;
    for (i, &byte) in bytes.iter().enumerate() {
        len += usize::from(byte);
        if byte != 0xFF {
            return Some((len, i + 1));
        }
    }
    None
}

/// The date of birth as the card writes it: `15 MAAR 1985`, `15 MARS 1985`, `15.MÄR. 1985`.
fn birth_date(date: Date, language: Language) -> String {
    const DUTCH: [&str; 12] =
        ["JAN", "FEB", "MAAR", "APR", "MEI", "JUN", "JUL", "AUG", "SEP", "OKT", "NOV", "DEC"];
    const FRENCH: [&str; 12] =
        ["JAN", "FEV", "MARS", "AVR", "MAI", "JUIN", "JUIL", "AOUT", "SEPT", "OCT", "NOV", "DEC"];
    const GERMAN: [&str; 12] =
        ["JAN", "FEB", "MÄR", "APR", "MAI", "JUN", "JUL", "AUG", "SEP", "OKT", "NOV", "DEZ"];
    let index = usize::from(date.month.clamp(1, 12) - 1);
    match language {
        Language::Dutch => format!("{:02} {} {:04}", date.day, DUTCH[index], date.year),
        Language::French => format!("{:02} {} {:04}", date.day, FRENCH[index], date.year),
        Language::German => format!("{:02}.{}. {:04}", date.day, GERMAN[index], date.year),
    }
}

fn sex_letter(sex: Sex, language: Language) -> &'static str {
    match (sex, language) {
        (Sex::Male, _) => "M",
        (Sex::Female, Language::Dutch) => "V",
        (Sex::Female, Language::French) => "F",
        (Sex::Female, Language::German) => "W",
    }
}

fn special_status_code(persona: &Persona) -> u8 {
    use super::persona::SpecialStatus as S;
    match persona.special_status {
        S::None => 0,
        S::WhiteCane => 1,
        S::ExtendedMinority => 2,
        S::WhiteCaneAndExtendedMinority => 3,
        S::YellowCane => 4,
        S::YellowCaneAndExtendedMinority => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_use_ff_length_continuation() {
        let mut out = Vec::new();
        push_tlv(&mut out, 0x07, &[b'a'; 300]);
        assert_eq!(out[..3], [0x07, 0xFF, 45]);
        assert_eq!(records(&out, 7, 7), out);
    }

    #[test]
    fn dutch_birth_date_uses_maar() {
        assert_eq!(birth_date(Date::new(1985, 3, 15), Language::Dutch), "15 MAAR 1985");
        assert_eq!(birth_date(Date::new(2003, 12, 1), Language::German), "01.DEZ. 2003");
    }
}
