//! Command and response APDUs (ISO 7816-4, section 5.1).
//!
//! A [`Command`] is valid by construction: its builder rejects data longer than
//! [`MAX_DATA_LEN`] bytes and an Le outside `1..=`[`MAX_LE`], so [`Command::to_bytes`] cannot
//! fail. It picks the short encoding whenever the data fits 255 bytes and Le fits 256, the
//! extended one otherwise. [`Command::parse`] reads back every case of ISO 7816-4 (1, 2S, 3S,
//! 4S, 2E, 3E, 4E) and rejects everything else.
//!
//! A [`Response`] is the data a card returned and the [`StatusWord`] after it.

use crate::error::Error;
use crate::status::StatusWord;

/// Most data bytes a short command APDU carries (one-byte Lc).
pub const MAX_SHORT_DATA_LEN: usize = 255;
/// Most data bytes any command APDU carries (two-byte extended Lc).
pub const MAX_DATA_LEN: usize = 65_535;
/// Largest Le of a short command APDU (encoded as `00`).
pub const MAX_SHORT_LE: u32 = 256;
/// Largest Le of any command APDU (extended, encoded as `00 00`).
pub const MAX_LE: u32 = 65_536;

/// A command APDU: header, optional data, optional Le (expected response length).
///
/// Built with [`Command::new`] and the `with_*` methods, or read with [`Command::parse`].
/// Empty data means "no data field" (no Lc). Le counts bytes, `1..=65536`; `None` means no
/// Le field, so the card is not to return data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Command {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    le: Option<u32>,
}

impl Command {
    /// A command with the header `cla ins p1 p2`, no data and no Le (case 1).
    pub const fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self { cla, ins, p1, p2, data: Vec::new(), le: None }
    }

    /// The same command with `data` as its data field (empty: no data field).
    ///
    /// # Errors
    /// [`ApduError::DataTooLong`] when `data` is longer than [`MAX_DATA_LEN`] bytes.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Result<Self, ApduError> {
        let data = data.into();
        if data.len() > MAX_DATA_LEN {
            return Err(ApduError::DataTooLong { len: data.len() });
        }
        self.data = data;
        Ok(self)
    }

    /// The same command expecting up to `le` response bytes (`1..=65536`; 256 is the largest
    /// short Le, anything above needs extended length support on the card).
    ///
    /// # Errors
    /// [`ApduError::LeOutOfRange`] when `le` is 0 or above [`MAX_LE`].
    pub fn with_le(mut self, le: u32) -> Result<Self, ApduError> {
        if le == 0 || le > MAX_LE {
            return Err(ApduError::LeOutOfRange { le });
        }
        self.le = Some(le);
        Ok(self)
    }

    /// The same command without an Le field.
    pub fn without_le(mut self) -> Self {
        self.le = None;
        self
    }

    /// The same command with Le as a short Le field encodes it: `0x00` is 256.
    pub(crate) fn with_short_le(mut self, le: u8) -> Self {
        self.le = Some(short_le(le));
        self
    }

    /// Reads a command APDU in any ISO 7816-4 case: 1, 2S, 3S, 4S, 2E, 3E or 4E.
    ///
    /// A short Le of `00` reads as 256 and an extended Le of `00 00` as 65536. Extended
    /// encodings of small values are accepted; [`Command::to_bytes`] writes them back short.
    ///
    /// # Errors
    /// [`ApduError::CommandTooShort`] without a complete header, [`ApduError::MalformedBody`]
    /// when the bytes after the header match no case (an Lc of zero, or a length that
    /// disagrees with Lc).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::CommandTooShort { len: bytes.len() });
        };
        let (data, le) = parse_body(body)?;
        Ok(Self { cla: *cla, ins: *ins, p1: *p1, p2: *p2, data: data.to_vec(), le })
    }

    /// The encoded APDU: short when the data fits [`MAX_SHORT_DATA_LEN`] and Le fits
    /// [`MAX_SHORT_LE`], extended otherwise.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 2);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let extended = self.is_extended();
        if extended {
            // The extended marker precedes Lc, or Le when there is no data.
            out.push(0x00);
        }
        if !self.data.is_empty() {
            if extended {
                out.extend_from_slice(&be16(self.data.len()));
            } else {
                let [_, lc] = be16(self.data.len());
                out.push(lc);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            // 256 and 65536 wrap to 00 and 00 00, as ISO 7816-4 encodes them.
            let [_, _, hi, lo] = le.to_be_bytes();
            if extended {
                out.extend_from_slice(&[hi, lo]);
            } else {
                out.push(lo);
            }
        }
        out
    }

    /// Whether [`Command::to_bytes`] uses the extended length encoding.
    pub fn is_extended(&self) -> bool {
        self.data.len() > MAX_SHORT_DATA_LEN || self.le.is_some_and(|le| le > MAX_SHORT_LE)
    }

    /// The class byte.
    pub fn cla(&self) -> u8 {
        self.cla
    }

    /// The instruction byte.
    pub fn ins(&self) -> u8 {
        self.ins
    }

    /// The first parameter byte.
    pub fn p1(&self) -> u8 {
        self.p1
    }

    /// The second parameter byte.
    pub fn p2(&self) -> u8 {
        self.p2
    }

    /// The data field (empty when there is none).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The expected response length in bytes, `1..=65536`, if the command has an Le field.
    pub fn le(&self) -> Option<u32> {
        self.le
    }
}

/// A response APDU: the data a card returned and its status word.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[must_use = "a response carries the card's status word; check it, for example with `ok()`"]
pub struct Response {
    data: Vec<u8>,
    status: StatusWord,
}

impl Response {
    /// A response with `data` and `status` (for card simulators and tests).
    pub fn new(data: impl Into<Vec<u8>>, status: StatusWord) -> Self {
        Self { data: data.into(), status }
    }

    /// Reads a response APDU: data, then the two status bytes.
    ///
    /// # Errors
    /// [`ApduError::ResponseTooShort`] for fewer than two bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApduError> {
        let Some((data, [sw1, sw2])) = bytes.split_last_chunk::<2>() else {
            return Err(ApduError::ResponseTooShort { len: bytes.len() });
        };
        Ok(Self { data: data.to_vec(), status: StatusWord::new(*sw1, *sw2) })
    }

    /// The response data (without the status word).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The status word.
    pub fn status(&self) -> StatusWord {
        self.status
    }

    /// Whether the status word is `9000`.
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The response data, whatever the status word.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The response data if the status word is `9000`.
    ///
    /// # Errors
    /// [`StatusWord::to_error`] of any other status word.
    pub fn ok(self) -> crate::error::Result<Vec<u8>> {
        if self.status.is_success() { Ok(self.data) } else { Err(self.status.to_error()) }
    }

    /// The encoded response: data, then `SW1 SW2` (for card simulators).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.status.to_bytes());
        out
    }
}

/// Why an APDU could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduError {
    /// A command APDU shorter than its four header bytes.
    #[error("command APDU of {len} bytes is shorter than the 4-byte header")]
    CommandTooShort {
        /// Length of the input.
        len: usize,
    },
    /// The bytes after the header match no ISO 7816-4 case.
    #[error("command APDU body of {len} bytes matches no ISO 7816-4 case")]
    MalformedBody {
        /// Length of the body (the bytes after the header).
        len: usize,
    },
    /// Command data longer than [`MAX_DATA_LEN`].
    #[error("command data of {len} bytes exceeds the {MAX_DATA_LEN}-byte maximum")]
    DataTooLong {
        /// Length of the rejected data.
        len: usize,
    },
    /// An Le of 0 or above [`MAX_LE`].
    #[error("Le {le} is outside 1..={MAX_LE}")]
    LeOutOfRange {
        /// The rejected Le.
        le: u32,
    },
    /// A response APDU without its two status bytes.
    #[error("response APDU of {len} bytes has no status word")]
    ResponseTooShort {
        /// Length of the input.
        len: usize,
    },
}

/// A malformed response comes from the card ([`Error::Internal`], an inconsistent card);
/// every other case is a malformed request ([`Error::InvalidInput`]).
impl From<ApduError> for Error {
    fn from(err: ApduError) -> Self {
        match err {
            ApduError::ResponseTooShort { .. } => Self::Internal(err.to_string()),
            _ => Self::InvalidInput(err.to_string()),
        }
    }
}

/// Splits the bytes after the header into data and Le, following the decoding rules of
/// ISO 7816-3 section 12.1.3.
fn parse_body(body: &[u8]) -> Result<(&[u8], Option<u32>), ApduError> {
    let malformed = || ApduError::MalformedBody { len: body.len() };
    match body {
        // Case 1.
        [] => Ok((&[], None)),
        // Case 2S.
        [le] => Ok((&[], Some(short_le(*le)))),
        // Case 2E (a short Lc of 0 does not exist, so a leading 00 is the extended marker).
        [0x00, hi, lo] => Ok((&[], Some(extended_le(*hi, *lo)))),
        // Cases 3E and 4E.
        [0x00, hi, lo, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            if lc == 0 {
                return Err(malformed());
            }
            let (data, tail) = rest.split_at_checked(lc).ok_or_else(malformed)?;
            match tail {
                [] => Ok((data, None)),
                [hi, lo] => Ok((data, Some(extended_le(*hi, *lo)))),
                _ => Err(malformed()),
            }
        }
        // Cases 3S and 4S.
        [lc, rest @ ..] => {
            if *lc == 0 {
                return Err(malformed());
            }
            let (data, tail) = rest.split_at_checked(usize::from(*lc)).ok_or_else(malformed)?;
            match tail {
                [] => Ok((data, None)),
                [le] => Ok((data, Some(short_le(*le)))),
                _ => Err(malformed()),
            }
        }
    }
}

/// A short Le field's value: `00` is 256.
fn short_le(byte: u8) -> u32 {
    if byte == 0 { MAX_SHORT_LE } else { u32::from(byte) }
}

/// An extended Le field's value: `00 00` is 65536.
fn extended_le(hi: u8, lo: u8) -> u32 {
    match u16::from_be_bytes([hi, lo]) {
        0 => MAX_LE,
        le => u32::from(le),
    }
}

/// `n` as two big-endian bytes; callers guarantee `n <= 65535`.
fn be16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(data_len: usize, le: Option<u32>) -> Command {
        let command = Command::new(0x00, 0xB0, 0x01, 0x02)
            .with_data(vec![0xAB; data_len])
            .expect("data within limits");
        match le {
            Some(le) => command.with_le(le).expect("Le within limits"),
            None => command,
        }
    }

    #[test]
    fn case_1_is_the_header_only() {
        assert_eq!(command(0, None).to_bytes(), [0x00, 0xB0, 0x01, 0x02]);
    }

    #[test]
    fn case_2s_encodes_256_as_00() {
        assert_eq!(command(0, Some(256)).to_bytes(), [0x00, 0xB0, 0x01, 0x02, 0x00]);
        assert_eq!(command(0, Some(0x10)).to_bytes(), [0x00, 0xB0, 0x01, 0x02, 0x10]);
    }

    #[test]
    fn case_3s_has_lc_and_data() {
        assert_eq!(command(2, None).to_bytes(), [0x00, 0xB0, 0x01, 0x02, 0x02, 0xAB, 0xAB]);
    }

    #[test]
    fn case_4s_has_lc_data_and_le() {
        assert_eq!(command(1, Some(256)).to_bytes(), [0x00, 0xB0, 0x01, 0x02, 0x01, 0xAB, 0x00]);
    }

    #[test]
    fn case_2e_encodes_65536_as_0000() {
        assert_eq!(command(0, Some(65_536)).to_bytes(), [0x00, 0xB0, 0x01, 0x02, 0x00, 0x00, 0x00]);
        assert_eq!(command(0, Some(257)).to_bytes(), [0x00, 0xB0, 0x01, 0x02, 0x00, 0x01, 0x01]);
    }

    #[test]
    fn case_3e_is_used_above_255_data_bytes() {
        let bytes = command(256, None).to_bytes();
        assert_eq!(bytes[..7], [0x00, 0xB0, 0x01, 0x02, 0x00, 0x01, 0x00]);
        assert_eq!(bytes.len(), 7 + 256);
    }

    #[test]
    fn case_4e_has_a_two_byte_le_without_marker() {
        let bytes = command(256, Some(0x1234)).to_bytes();
        assert_eq!(bytes.len(), 7 + 256 + 2);
        assert_eq!(bytes[bytes.len() - 2..], [0x12, 0x34]);
    }

    #[test]
    fn small_le_with_long_data_goes_extended() {
        let bytes = command(300, Some(1)).to_bytes();
        assert_eq!(bytes[bytes.len() - 2..], [0x00, 0x01]);
    }

    #[test]
    fn data_over_65535_bytes_is_rejected() {
        let result = Command::new(0, 0, 0, 0).with_data(vec![0; MAX_DATA_LEN + 1]);
        assert_eq!(result, Err(ApduError::DataTooLong { len: MAX_DATA_LEN + 1 }));
    }

    #[test]
    fn le_outside_1_to_65536_is_rejected() {
        assert_eq!(Command::new(0, 0, 0, 0).with_le(0), Err(ApduError::LeOutOfRange { le: 0 }));
        assert_eq!(
            Command::new(0, 0, 0, 0).with_le(65_537),
            Err(ApduError::LeOutOfRange { le: 65_537 })
        );
    }

    #[test]
    fn empty_data_means_no_data_field() {
        let command = Command::new(0, 0xA4, 0, 0).with_data(Vec::new()).expect("empty data");
        assert_eq!(command.to_bytes(), [0x00, 0xA4, 0x00, 0x00]);
    }

    #[test]
    fn parses_every_case() {
        for (data_len, le) in [
            (0, None),
            (0, Some(1)),
            (0, Some(256)),
            (3, None),
            (3, Some(256)),
            (0, Some(65_536)),
            (0, Some(300)),
            (300, None),
            (300, Some(2)),
            (255, Some(257)),
        ] {
            let command = command(data_len, le);
            assert_eq!(Command::parse(&command.to_bytes()), Ok(command));
        }
    }

    #[test]
    fn parses_extended_encoding_of_small_values() {
        let parsed = Command::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x05]).expect("case 2E");
        assert_eq!(parsed.le(), Some(5));
        let parsed =
            Command::parse(&[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0x77]).expect("case 3E");
        assert_eq!(parsed.data(), [0x77]);
        assert_eq!(parsed.le(), None);
    }

    #[test]
    fn header_shorter_than_4_bytes_is_rejected() {
        assert_eq!(Command::parse(&[0x00, 0xA4, 0x04]), Err(ApduError::CommandTooShort { len: 3 }));
    }

    #[test]
    fn lc_disagreeing_with_length_is_rejected() {
        // Lc 3, two data bytes.
        assert!(matches!(
            Command::parse(&[0x00, 0xA4, 0x04, 0x00, 0x03, 0x01, 0x02]),
            Err(ApduError::MalformedBody { len: 3 })
        ));
        // Lc 1, data, then two trailing bytes.
        assert!(matches!(
            Command::parse(&[0x00, 0xA4, 0x04, 0x00, 0x01, 0x01, 0x02, 0x03]),
            Err(ApduError::MalformedBody { .. })
        ));
    }

    #[test]
    fn zero_lc_is_rejected() {
        assert!(matches!(
            Command::parse(&[0x00, 0xA4, 0x04, 0x00, 0x00, 0x01]),
            Err(ApduError::MalformedBody { len: 2 })
        ));
        assert!(matches!(
            Command::parse(&[0x00, 0xA4, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01]),
            Err(ApduError::MalformedBody { len: 4 })
        ));
    }

    #[test]
    fn response_splits_data_and_status() {
        let response = Response::parse(&[0x01, 0x02, 0x90, 0x00]).expect("valid response");
        assert_eq!(response.data(), [0x01, 0x02]);
        assert_eq!(response.status(), StatusWord::SUCCESS);
        assert_eq!(response.to_bytes(), [0x01, 0x02, 0x90, 0x00]);
    }

    #[test]
    fn response_without_status_is_rejected() {
        assert_eq!(Response::parse(&[0x90]), Err(ApduError::ResponseTooShort { len: 1 }));
        assert_eq!(Response::parse(&[]), Err(ApduError::ResponseTooShort { len: 0 }));
    }

    #[test]
    fn ok_returns_data_on_9000() {
        let response = Response::new([0x42], StatusWord::SUCCESS);
        assert_eq!(response.ok(), Ok(vec![0x42]));
    }

    #[test]
    fn ok_maps_other_status_to_error() {
        let response = Response::new([0x42], StatusWord::new(0x63, 0xC2));
        assert_eq!(response.ok(), Err(Error::PinWrong(2)));
    }

    #[test]
    fn into_data_ignores_status() {
        let response = Response::new([0x42], StatusWord::END_OF_FILE_REACHED);
        assert_eq!(response.into_data(), [0x42]);
    }

    #[test]
    fn response_error_maps_to_internal_and_command_error_to_invalid_input() {
        assert!(matches!(Error::from(ApduError::ResponseTooShort { len: 1 }), Error::Internal(_)));
        assert!(matches!(Error::from(ApduError::LeOutOfRange { le: 0 }), Error::InvalidInput(_)));
    }
}
