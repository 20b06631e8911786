//! ISO 7816-4 status words: the `SW1 SW2` trailer of every response APDU.
//!
//! [`StatusWord`] is a plain two-byte value; the interpretation helpers
//! ([`StatusWord::bytes_available`], [`StatusWord::correct_length`],
//! [`StatusWord::verify_tries_left`]) and [`StatusWord::to_error`] turn it into something a
//! module can act on.

use std::fmt;

use crate::error::Error;

/// A status word, `SW1 SW2`, as one big-endian `u16` (`0x9000` for success).
///
/// `Debug` prints `StatusWord(6A82)`, `Display` prints `6A82`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusWord(u16);

impl StatusWord {
    /// `9000`: normal processing.
    pub const SUCCESS: Self = Self(0x9000);
    /// `6282`: end of file or record reached before reading Le bytes.
    pub const END_OF_FILE_REACHED: Self = Self(0x6282);
    /// `6700`: wrong length (Lc or Le).
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// `6982`: security status not satisfied (for example, the PIN was not verified).
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    /// `6983`: authentication method blocked (for example, a blocked PIN).
    pub const AUTH_METHOD_BLOCKED: Self = Self(0x6983);
    /// `6985`: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// `6A80`: incorrect parameters in the command data field.
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// `6A81`: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x6A81);
    /// `6A82`: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// `6A83`: record not found.
    pub const RECORD_NOT_FOUND: Self = Self(0x6A83);
    /// `6A86`: incorrect parameters P1-P2.
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    /// `6A88`: referenced data or reference data not found.
    pub const REFERENCED_DATA_NOT_FOUND: Self = Self(0x6A88);
    /// `6B00`: wrong parameters P1-P2 (for READ BINARY: offset outside the file).
    pub const WRONG_P1P2: Self = Self(0x6B00);
    /// `6D00`: instruction code not supported or invalid.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// `6E00`: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// `6F00`: no precise diagnosis.
    pub const NO_PRECISE_DIAGNOSIS: Self = Self(0x6F00);

    /// The status word `sw1 sw2`.
    pub const fn new(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    /// The status word whose big-endian value is `value` (`0x9000` is `90 00`).
    pub const fn from_u16(value: u16) -> Self {
        Self(value)
    }

    /// The big-endian value, `SW1 << 8 | SW2`.
    pub const fn to_u16(self) -> u16 {
        self.0
    }

    /// The two bytes as they end a response APDU: `[SW1, SW2]`.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// The first byte, SW1.
    pub const fn sw1(self) -> u8 {
        self.to_bytes()[0]
    }

    /// The second byte, SW2.
    pub const fn sw2(self) -> u8 {
        self.to_bytes()[1]
    }

    /// Whether this is `9000`, normal processing.
    pub const fn is_success(self) -> bool {
        self.0 == Self::SUCCESS.0
    }

    /// For `61xx` ("more data available, fetch with GET RESPONSE"): `xx`, the Le to ask for.
    ///
    /// `xx` is returned raw; `0x00` means 256 or more bytes, as in a short Le field.
    pub const fn bytes_available(self) -> Option<u8> {
        if self.sw1() == 0x61 { Some(self.sw2()) } else { None }
    }

    /// For `6Cxx` ("wrong Le, the exact length is `xx`"): `xx`, the Le to re-issue with.
    ///
    /// `xx` is returned raw; `0x00` means 256, as in a short Le field.
    pub const fn correct_length(self) -> Option<u8> {
        if self.sw1() == 0x6C { Some(self.sw2()) } else { None }
    }

    /// For `63Cx` (verification failed, `x` tries left): `x`, from 0 to 15.
    pub const fn verify_tries_left(self) -> Option<u8> {
        if self.sw1() == 0x63 && self.sw2() & 0xF0 == 0xC0 { Some(self.sw2() & 0x0F) } else { None }
    }

    /// The module error this status word reports.
    ///
    /// `6983` is [`Error::PinBlocked`], `63Cx` is [`Error::PinWrong`]`(x)` (also for `63C0`:
    /// wrong PIN, no tries left), everything else, `9000` included, is
    /// [`Error::StatusWord`]. Call it only for a status the operation did not expect.
    pub fn to_error(self) -> Error {
        if self == Self::AUTH_METHOD_BLOCKED {
            Error::PinBlocked
        } else if let Some(tries) = self.verify_tries_left() {
            Error::PinWrong(tries)
        } else {
            Error::StatusWord(self)
        }
    }
}

impl From<u16> for StatusWord {
    fn from(value: u16) -> Self {
        Self::from_u16(value)
    }
}

impl From<StatusWord> for u16 {
    fn from(status: StatusWord) -> Self {
        status.to_u16()
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_from_u16_agree() {
        assert_eq!(StatusWord::new(0x6A, 0x82), StatusWord::from_u16(0x6A82));
        assert_eq!(StatusWord::new(0x6A, 0x82), StatusWord::FILE_NOT_FOUND);
    }

    #[test]
    fn splits_into_sw1_and_sw2() {
        let sw = StatusWord::from_u16(0x6A82);
        assert_eq!((sw.sw1(), sw.sw2()), (0x6A, 0x82));
        assert_eq!(sw.to_bytes(), [0x6A, 0x82]);
        assert_eq!(sw.to_u16(), 0x6A82);
    }

    #[test]
    fn only_9000_is_success() {
        assert!(StatusWord::SUCCESS.is_success());
        assert!(!StatusWord::END_OF_FILE_REACHED.is_success());
        assert!(!StatusWord::new(0x61, 0x00).is_success());
    }

    #[test]
    fn debug_and_display_are_upper_hex() {
        assert_eq!(format!("{:?}", StatusWord::FILE_NOT_FOUND), "StatusWord(6A82)");
        assert_eq!(StatusWord::FILE_NOT_FOUND.to_string(), "6A82");
        assert_eq!(StatusWord::new(0x00, 0x0A).to_string(), "000A");
    }

    #[test]
    fn bytes_available_reads_61xx() {
        assert_eq!(StatusWord::new(0x61, 0x10).bytes_available(), Some(0x10));
        assert_eq!(StatusWord::new(0x61, 0x00).bytes_available(), Some(0x00));
        assert_eq!(StatusWord::new(0x6C, 0x10).bytes_available(), None);
    }

    #[test]
    fn correct_length_reads_6cxx() {
        assert_eq!(StatusWord::new(0x6C, 0x1F).correct_length(), Some(0x1F));
        assert_eq!(StatusWord::SUCCESS.correct_length(), None);
    }

    #[test]
    fn verify_tries_left_reads_63cx_only() {
        assert_eq!(StatusWord::new(0x63, 0xC2).verify_tries_left(), Some(2));
        assert_eq!(StatusWord::new(0x63, 0xC0).verify_tries_left(), Some(0));
        assert_eq!(StatusWord::new(0x63, 0x00).verify_tries_left(), None);
        assert_eq!(StatusWord::new(0x62, 0xC2).verify_tries_left(), None);
    }

    #[test]
    fn auth_method_blocked_is_pin_blocked() {
        assert_eq!(StatusWord::AUTH_METHOD_BLOCKED.to_error(), Error::PinBlocked);
    }

    #[test]
    fn counter_status_is_pin_wrong() {
        assert_eq!(StatusWord::new(0x63, 0xC1).to_error(), Error::PinWrong(1));
    }

    #[test]
    fn other_status_is_status_word_error() {
        let sw = StatusWord::FILE_NOT_FOUND;
        assert_eq!(sw.to_error(), Error::StatusWord(sw));
    }

    #[test]
    fn converts_to_and_from_u16() {
        let sw: StatusWord = 0x6982.into();
        assert_eq!(sw, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        assert_eq!(u16::from(sw), 0x6982);
    }
}
