//! PINs: the opaque [`Pin`] a module passes on, and the PIN block description the host (or a
//! pinpad reader) fills in.
//!
//! A module never reads PIN digits. It describes the VERIFY command with a [`PinVerifyRequest`]
//! (the same fields a PC/SC part 10 pinpad needs) and the holder of the PIN builds the block
//! with [`fill_pin_block`].

use std::fmt;

use crate::card::CardError;

/// A PIN the module may pass on but not read.
///
/// In a built module it is the host's `pin` handle. In a native test it wraps the test's
/// digits, created with [`Pin::from_digits`].
pub struct Pin<'a> {
    inner: PinInner<'a>,
}

enum PinInner<'a> {
    #[cfg(feature = "guest")]
    Host(&'a crate::guest::bindings::t1c::card::types::Pin),
    Digits(&'a str),
}

impl<'a> Pin<'a> {
    /// A PIN from plain digits, for native tests and host-side simulators.
    pub fn from_digits(digits: &'a str) -> Self {
        Self { inner: PinInner::Digits(digits) }
    }

    #[cfg(feature = "guest")]
    pub(crate) fn from_host(pin: &'a crate::guest::bindings::t1c::card::types::Pin) -> Self {
        Self { inner: PinInner::Host(pin) }
    }

    /// Number of characters of the PIN.
    pub fn len(&self) -> usize {
        match &self.inner {
            #[cfg(feature = "guest")]
            PinInner::Host(pin) => usize::try_from(pin.length()).unwrap_or(usize::MAX),
            PinInner::Digits(digits) => digits.chars().count(),
        }
    }

    /// Whether the PIN is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The digits, when this side holds them (never for a host PIN inside a module).
    pub fn digits(&self) -> Option<&'a str> {
        match self.inner {
            #[cfg(feature = "guest")]
            PinInner::Host(_) => None,
            PinInner::Digits(digits) => Some(digits),
        }
    }

    #[cfg(feature = "guest")]
    pub(crate) fn host_handle(&self) -> Option<&'a crate::guest::bindings::t1c::card::types::Pin> {
        match self.inner {
            PinInner::Host(pin) => Some(pin),
            PinInner::Digits(_) => None,
        }
    }
}

impl fmt::Debug for Pin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// What a reader's keypad can do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PinpadCapabilities {
    /// The reader can verify a PIN entered on its keypad.
    pub verify_pin: bool,
    /// The reader can change a PIN entered on its keypad.
    pub modify_pin: bool,
}

/// How PIN digits are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinEncoding {
    /// One ASCII byte per digit.
    Ascii,
    /// Two digits per byte.
    Bcd,
}

/// Where the PIN length goes inside the PIN block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinLengthField {
    /// Bit offset from the start of the block.
    pub bit_position: u8,
    /// Size in bits (at most 8).
    pub bit_size: u8,
}

/// A VERIFY command whose PIN block the PIN's holder fills in (PC/SC part 10
/// PIN_VERIFY_STRUCTURE, simplified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinVerifyRequest {
    /// The complete APDU with the block's padding in place.
    pub apdu: Vec<u8>,
    /// Offset of the PIN block inside the APDU's data field (after CLA INS P1 P2 Lc).
    pub block_offset: u8,
    /// Size of the PIN block in bytes.
    pub block_size: u8,
    /// Offset in bits, from the start of the block, of the first digit.
    pub pin_bit_offset: u8,
    /// Digit encoding.
    pub encoding: PinEncoding,
    /// Where the PIN length goes, if anywhere.
    pub length_field: Option<PinLengthField>,
    /// Fewest digits accepted.
    pub min_length: u8,
    /// Most digits accepted.
    pub max_length: u8,
    /// Seconds a pinpad waits for entry (0: reader default).
    pub timeout_seconds: u8,
}

impl PinVerifyRequest {
    /// A VERIFY (`CLA 20 00 reference 08`) with an ISO 9564 format 2 PIN block: `2L`, then the
    /// digits in BCD, padded with `F` to 8 bytes — what most smart cards (the Belgian eID among
    /// them) expect. PINs of 4 to 12 digits.
    pub fn iso9564_format2(cla: u8, reference: u8, timeout_seconds: u8) -> Self {
        let mut apdu = vec![cla, 0x20, 0x00, reference, 0x08, 0x20];
        apdu.extend([0xFF; 7]);
        Self {
            apdu,
            block_offset: 0,
            block_size: 8,
            pin_bit_offset: 8,
            encoding: PinEncoding::Bcd,
            length_field: Some(PinLengthField { bit_position: 4, bit_size: 4 }),
            min_length: 4,
            max_length: 12,
            timeout_seconds,
        }
    }
}

/// Builds the VERIFY APDU of `request` with `digits` written into its PIN block.
///
/// # Errors
/// [`CardError::InvalidInput`] when the digits are not decimal, their count is outside
/// `min_length..=max_length`, or the block does not fit the APDU.
pub fn fill_pin_block(request: &PinVerifyRequest, digits: &str) -> Result<Vec<u8>, CardError> {
    const HEADER: usize = 5; // CLA INS P1 P2 Lc
    let invalid = |what: &str| CardError::InvalidInput(what.to_owned());
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("the PIN must consist of decimal digits"));
    }
    let count = digits.len();
    if count < usize::from(request.min_length) || count > usize::from(request.max_length) {
        return Err(invalid("the PIN length is outside the card's limits"));
    }
    let start = HEADER + usize::from(request.block_offset);
    let end = start + usize::from(request.block_size);
    if request.apdu.len() < end {
        return Err(invalid("the PIN block does not fit in the APDU"));
    }
    let mut apdu = request.apdu.clone();
    let block = &mut apdu[start..end];
    let block_bits = block.len() * 8;
    let digit_bits = match request.encoding {
        PinEncoding::Ascii => 8,
        PinEncoding::Bcd => 4,
    };
    let first = usize::from(request.pin_bit_offset);
    if first + count * digit_bits > block_bits {
        return Err(invalid("the PIN does not fit in the PIN block"));
    }
    for (i, digit) in digits.bytes().enumerate() {
        let value = match request.encoding {
            PinEncoding::Ascii => digit,
            PinEncoding::Bcd => digit - b'0',
        };
        write_bits(block, first + i * digit_bits, digit_bits, value);
    }
    if let Some(field) = request.length_field {
        let size = usize::from(field.bit_size);
        let position = usize::from(field.bit_position);
        if size == 0 || size > 8 || position + size > block_bits {
            return Err(invalid("the PIN length field does not fit in the PIN block"));
        }
        let length = u8::try_from(count).map_err(|_| invalid("the PIN is too long"))?;
        if size < 8 && length >> size != 0 {
            return Err(invalid("the PIN length does not fit its field"));
        }
        write_bits(block, position, size, length);
    }
    Ok(apdu)
}

/// Writes the low `size` bits of `value` at bit `position` (big-endian bit order).
fn write_bits(block: &mut [u8], position: usize, size: usize, value: u8) {
    for bit in 0..size {
        let set = (value >> (size - 1 - bit)) & 1 == 1;
        let at = position + bit;
        let mask = 0x80u8 >> (at % 8);
        if set {
            block[at / 8] |= mask;
        } else {
            block[at / 8] &= !mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Belgian eID VERIFY: ISO 9564 format 2 block, `2L` then BCD digits, `F` padding.
    fn belpic_request() -> PinVerifyRequest {
        PinVerifyRequest::iso9564_format2(0x00, 0x01, 30)
    }

    #[test]
    fn fills_a_format_2_block() {
        let apdu = fill_pin_block(&belpic_request(), "1234").expect("valid PIN");
        assert_eq!(
            apdu,
            [0x00, 0x20, 0x00, 0x01, 0x08, 0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn odd_length_keeps_the_padding_nibble() {
        let apdu = fill_pin_block(&belpic_request(), "12345").expect("valid PIN");
        assert_eq!(&apdu[5..9], [0x25, 0x12, 0x34, 0x5F]);
    }

    #[test]
    fn rejects_non_digits_and_bad_lengths() {
        let request = belpic_request();
        assert!(matches!(fill_pin_block(&request, "12a4"), Err(CardError::InvalidInput(_))));
        assert!(matches!(fill_pin_block(&request, "123"), Err(CardError::InvalidInput(_))));
        assert!(matches!(
            fill_pin_block(&request, "1234567890123"),
            Err(CardError::InvalidInput(_))
        ));
    }

    #[test]
    fn rejects_a_block_outside_the_apdu() {
        let mut request = belpic_request();
        request.block_offset = 4;
        assert!(matches!(fill_pin_block(&request, "1234"), Err(CardError::InvalidInput(_))));
    }

    #[test]
    fn error_text_never_contains_the_pin() {
        let err = fill_pin_block(&belpic_request(), "98765432109876").expect_err("too long");
        assert!(!err.to_string().contains("98765"));
    }

    #[test]
    fn debug_hides_the_digits() {
        assert_eq!(format!("{:?}", Pin::from_digits("1234")), "Pin(***)");
    }
}
