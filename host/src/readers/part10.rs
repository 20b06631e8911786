//! PC/SC part 10 (IFDs with secure PIN entry): the reader's feature list and the
//! PIN_VERIFY_STRUCTURE a pinpad reader fills in from its keypad.
//!
//! Pure byte work, no PC/SC calls, so every byte is unit-tested.

use t1c_sdk::pin::{PinEncoding, PinVerifyRequest, PinpadCapabilities};

use super::ReaderError;

/// `SCardControl` code of GET_FEATURE_REQUEST (`SCARD_CTL_CODE(3400)`).
pub(crate) fn get_feature_request() -> pcsc::ffi::DWORD {
    pcsc::ctl_code(3400)
}

/// Tag of FEATURE_VERIFY_PIN_DIRECT in the feature list.
const FEATURE_VERIFY_PIN_DIRECT: u8 = 0x06;
/// Tag of FEATURE_MODIFY_PIN_DIRECT in the feature list.
const FEATURE_MODIFY_PIN_DIRECT: u8 = 0x07;

/// The control codes of the part 10 features a reader offers (those we use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// Control code of FEATURE_VERIFY_PIN_DIRECT.
    pub(crate) verify_pin_direct: Option<u32>,
    /// Control code of FEATURE_MODIFY_PIN_DIRECT.
    pub(crate) modify_pin_direct: Option<u32>,
}

impl Features {
    /// Parses the answer to GET_FEATURE_REQUEST: a list of (tag, length 4, big-endian
    /// control code). Entries of another length are skipped; a truncated tail is ignored.
    pub(crate) fn parse(tlv: &[u8]) -> Self {
        let mut features = Self::default();
        let mut rest = tlv;
        while let [tag, len, tail @ ..] = rest {
            let len = usize::from(*len);
            let Some((value, next)) = tail.split_at_checked(len) else { break };
            if let Ok(code) = <[u8; 4]>::try_from(value) {
                let code = u32::from_be_bytes(code);
                match *tag {
                    FEATURE_VERIFY_PIN_DIRECT => features.verify_pin_direct = Some(code),
                    FEATURE_MODIFY_PIN_DIRECT => features.modify_pin_direct = Some(code),
                    _ => {}
                }
            }
            rest = next;
        }
        features
    }

    /// What the keypad can do, as modules see it.
    pub(crate) fn pinpad(&self) -> PinpadCapabilities {
        PinpadCapabilities {
            verify_pin: self.verify_pin_direct.is_some(),
            modify_pin: self.modify_pin_direct.is_some(),
        }
    }
}

/// Builds the PIN_VERIFY_STRUCTURE for FEATURE_VERIFY_PIN_DIRECT from `request`.
///
/// Positions in the structure count from the start of the APDU's data field, in bytes when the
/// offset is a whole number of bytes and in bits otherwise; each must fit in 4 bits.
///
/// # Errors
/// [`ReaderError::InvalidPinRequest`] when a position, the block size or the APDU does not fit
/// the structure's fields.
pub(crate) fn pin_verify_structure(request: &PinVerifyRequest) -> Result<Vec<u8>, ReaderError> {
    let invalid = |what: &str| ReaderError::InvalidPinRequest(what.to_owned());

    let pin_bits = u16::from(request.block_offset) * 8 + u16::from(request.pin_bit_offset);
    let (pin_in_bytes, pin_position) =
        position_field(pin_bits).ok_or_else(|| invalid("the PIN starts too far into the APDU"))?;
    let encoding = match request.encoding {
        PinEncoding::Bcd => 0b01,
        PinEncoding::Ascii => 0b10,
    };
    // Left justified (bit 2 clear).
    let format_string = (u8::from(pin_in_bytes) << 7) | (pin_position << 3) | encoding;

    let pin_area = request
        .block_size
        .checked_sub(request.pin_bit_offset / 8)
        .filter(|size| *size <= 0x0F)
        .ok_or_else(|| invalid("the PIN block size does not fit the structure"))?;
    let (length_bits, length_format) = match request.length_field {
        None => (0, 0),
        Some(field) => {
            let bits = u16::from(request.block_offset) * 8 + u16::from(field.bit_position);
            let (in_bytes, position) = position_field(bits)
                .ok_or_else(|| invalid("the PIN length starts too far into the APDU"))?;
            if field.bit_size == 0 || field.bit_size > 0x0F {
                return Err(invalid("the PIN length field size does not fit the structure"));
            }
            (field.bit_size, (u8::from(in_bytes) << 4) | position)
        }
    };
    let block_string = (length_bits << 4) | pin_area;

    let data_length = u32::try_from(request.apdu.len())
        .map_err(|_| invalid("the APDU is too long"))?
        .to_le_bytes();
    let max_extra_digit =
        u16::from_be_bytes([request.min_length, request.max_length]).to_le_bytes();
    let lang_id = 0x0409u16.to_le_bytes();

    let mut structure = Vec::with_capacity(19 + request.apdu.len());
    structure.extend_from_slice(&[
        request.timeout_seconds, // bTimerOut
        request.timeout_seconds, // bTimerOut2
        format_string,           // bmFormatString
        block_string,            // bmPINBlockString
        length_format,           // bmPINLengthFormat
    ]);
    structure.extend_from_slice(&max_extra_digit); // wPINMaxExtraDigit
    structure.push(0x02); // bEntryValidationCondition: validation key pressed
    structure.push(0x01); // bNumberMessage
    structure.extend_from_slice(&lang_id); // wLangId: English (United States)
    structure.push(0x00); // bMsgIndex
    structure.extend_from_slice(&[0x00, 0x00, 0x00]); // bTeoPrologue
    structure.extend_from_slice(&data_length); // ulDataLength
    structure.extend_from_slice(&request.apdu); // abData
    Ok(structure)
}

/// Expresses a bit offset as a 4-bit position: in bytes when whole, else in bits.
fn position_field(bits: u16) -> Option<(bool, u8)> {
    let (in_bytes, position) =
        if bits.is_multiple_of(8) { (true, bits / 8) } else { (false, bits) };
    u8::try_from(position).ok().filter(|position| *position <= 0x0F).map(|p| (in_bytes, p))
}

#[cfg(test)]
mod tests {
    use t1c_sdk::pin::PinLengthField;

    use super::*;

    /// The Belgian eID VERIFY: format 2 block, `2L` then BCD digits, `F` padding.
    fn belpic_request() -> PinVerifyRequest {
        PinVerifyRequest {
            apdu: vec![
                0x00, 0x20, 0x00, 0x01, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ],
            block_offset: 0,
            block_size: 8,
            pin_bit_offset: 8,
            encoding: PinEncoding::Bcd,
            length_field: Some(PinLengthField { bit_position: 4, bit_size: 4 }),
            min_length: 4,
            max_length: 12,
            timeout_seconds: 30,
        }
    }

    #[test]
    fn belpic_verify_structure_byte_for_byte() {
        let structure = pin_verify_structure(&belpic_request()).expect("valid request");
        #[rustfmt::skip]
        let expected = [
            0x1E,             // bTimerOut: 30 s
            0x1E,             // bTimerOut2
            0x89,             // bmFormatString: bytes, PIN at byte 1, left, BCD
            0x47,             // bmPINBlockString: 4-bit length, 7 bytes of PIN
            0x04,             // bmPINLengthFormat: bits, at bit 4
            0x0C, 0x04,       // wPINMaxExtraDigit: min 4, max 12
            0x02,             // bEntryValidationCondition
            0x01,             // bNumberMessage
            0x09, 0x04,       // wLangId 0x0409
            0x00,             // bMsgIndex
            0x00, 0x00, 0x00, // bTeoPrologue
            0x0D, 0x00, 0x00, 0x00, // ulDataLength: 13
            0x00, 0x20, 0x00, 0x01, 0x08, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert_eq!(structure, expected);
    }

    #[test]
    fn ascii_pin_without_length_field() {
        let request = PinVerifyRequest {
            apdu: vec![
                0x00, 0x20, 0x00, 0x81, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ],
            block_offset: 0,
            block_size: 8,
            pin_bit_offset: 0,
            encoding: PinEncoding::Ascii,
            length_field: None,
            min_length: 4,
            max_length: 8,
            timeout_seconds: 0,
        };
        let structure = pin_verify_structure(&request).expect("valid request");
        assert_eq!(structure[..7], [0x00, 0x00, 0x82, 0x08, 0x00, 0x08, 0x04]);
        assert_eq!(structure[15..19], [0x0D, 0x00, 0x00, 0x00]);
        assert_eq!(structure.len(), 19 + 13);
    }

    #[test]
    fn a_pin_offset_in_bits_uses_bit_units() {
        let mut request = belpic_request();
        request.pin_bit_offset = 4;
        let structure = pin_verify_structure(&request).expect("valid request");
        assert_eq!(structure[2], (4 << 3) | 0x01);
    }

    #[test]
    fn positions_beyond_four_bits_are_refused() {
        let mut request = belpic_request();
        request.block_offset = 16;
        assert!(matches!(pin_verify_structure(&request), Err(ReaderError::InvalidPinRequest(_))));
    }

    #[test]
    fn feature_list_yields_the_pin_control_codes() {
        let tlv = [
            0x06, 0x04, 0x42, 0x33, 0x00, 0x06, // FEATURE_VERIFY_PIN_DIRECT
            0x07, 0x04, 0x42, 0x33, 0x00, 0x07, // FEATURE_MODIFY_PIN_DIRECT
            0x12, 0x04, 0x42, 0x33, 0x00, 0x12, // FEATURE_GET_TLV_PROPERTIES
        ];
        let features = Features::parse(&tlv);
        assert_eq!(features.verify_pin_direct, Some(0x4233_0006));
        assert_eq!(features.modify_pin_direct, Some(0x4233_0007));
        assert_eq!(features.pinpad(), PinpadCapabilities { verify_pin: true, modify_pin: true });
    }

    #[test]
    fn feature_list_without_pin_features_means_no_pinpad() {
        let features = Features::parse(&[0x12, 0x04, 0x42, 0x33, 0x00, 0x12]);
        assert_eq!(features, Features::default());
        assert_eq!(features.pinpad(), PinpadCapabilities::default());
    }

    #[test]
    fn malformed_feature_lists_are_tolerated() {
        // Truncated entry, odd length entry, empty list.
        assert_eq!(Features::parse(&[0x06, 0x04, 0x42, 0x33]), Features::default());
        assert_eq!(Features::parse(&[0x06, 0x02, 0x42, 0x33]), Features::default());
        assert_eq!(Features::parse(&[]), Features::default());
        let skipped = Features::parse(&[0x01, 0x02, 0xAA, 0xBB, 0x06, 0x04, 0, 0, 0, 6]);
        assert_eq!(skipped.verify_pin_direct, Some(6));
    }
}
