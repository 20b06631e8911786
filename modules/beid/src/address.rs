//! EF(ID#Address) (`DF01/4033`): street and number, postal code, municipality, then zero
//! padding up to the file's fixed size (IDADR18 §2, beid-card.md §3.3).

use t1c_sdk::Result;
use t1c_sdk::tlv::simple;

use crate::identity::decode_text;

/// The address file's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Tag 00, file structure version (absent in practice: 0).
    pub version: u32,
    /// Tag 01.
    pub street_and_number: String,
    /// Tag 02.
    pub zip: String,
    /// Tag 03.
    pub municipality: String,
}

impl Address {
    /// Parses the address file; the zero padding ends it.
    ///
    /// # Errors
    /// [`t1c_sdk::Error::Internal`] for a malformed TLV structure.
    pub fn parse(file: &[u8]) -> Result<Self> {
        let mut address = Self::default();
        for element in simple::parse(file) {
            let element = element?;
            match element.tag {
                0x00 => {
                    address.version =
                        element.value.iter().fold(0, |acc, b| acc << 8 | u32::from(*b));
                }
                0x01 => address.street_and_number = decode_text(element.value),
                0x02 => address.zip = decode_text(element.value),
                0x03 => address.municipality = decode_text(element.value),
                _ => {}
            }
        }
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_ends_the_fields() {
        let mut file = Vec::new();
        simple::encode(0x01, b"Wetstraat 16", &mut file);
        simple::encode(0x02, b"1000", &mut file);
        simple::encode(0x03, b"Brussel", &mut file);
        file.resize(121, 0);
        let address = Address::parse(&file).expect("parses");
        assert_eq!(address.street_and_number, "Wetstraat 16");
        assert_eq!(address.zip, "1000");
        assert_eq!(address.municipality, "Brussel");
    }
}
