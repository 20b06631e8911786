//! ISO 7816-4 interindustry commands over a [`Card`]: the status-word handling every exchange
//! needs ([`transceive`]), SELECT, and READ BINARY up to a whole transparent file
//! ([`read_file`]).
//!
//! Every loop here is bounded, so a card that keeps answering `61xx`, or keeps returning
//! data, ends the operation with an error instead of hanging it.

use crate::apdu::{Command, MAX_LE, Response};
use crate::card::Card;
use crate::error::{Error, Result};
use crate::status::StatusWord;

/// Most GET RESPONSE commands [`transceive`] sends for one command (enough for a 64 KiB
/// response in 256-byte pieces).
pub const MAX_GET_RESPONSES: usize = 256;
/// Most response bytes [`transceive`] collects for one command (1 MiB).
pub const MAX_RESPONSE_LEN: usize = 1 << 20;
/// Highest offset READ BINARY can address with P1-P2 (bit 8 of P1 clear).
pub const MAX_READ_OFFSET: u16 = 0x7FFF;
/// Default for [`ReadLimits::max_size`]: 64 KiB.
pub const DEFAULT_MAX_FILE_SIZE: usize = 64 * 1024;

/// Sends `command` and handles the status words that only concern the transport, returning
/// the complete response.
///
/// - `6Cxx` (wrong Le): the command is sent again, once, with Le `xx` (`00` meaning 256).
///   Should the card answer `6Cxx` again, that response is returned as it is.
/// - `61xx` (more data): GET RESPONSE (`CLA C0 00 00 xx`) is sent until the card answers
///   something else, and the data of all the pieces is concatenated. The GET RESPONSE class
///   byte keeps the logical channel of `command`'s class byte, without secure messaging or
///   chaining bits. A `6Cxx` answer to a GET RESPONSE is followed by a GET RESPONSE with the
///   corrected length.
///
/// The returned status is the last one the card sent; it is not checked here.
///
/// # Errors
/// Transport errors from the card; [`Error::Internal`] when the card returns fewer than two
/// bytes, asks for more than [`MAX_GET_RESPONSES`] GET RESPONSE commands, or returns more
/// than [`MAX_RESPONSE_LEN`] bytes.
pub fn transceive(card: &mut dyn Card, command: &Command) -> Result<Response> {
    let mut response = exchange(card, command)?;
    if let Some(le) = response.status().correct_length() {
        response = exchange(card, &command.clone().with_short_le(le))?;
    }
    collect_remaining(card, command.cla(), response)
}

/// What SELECT asks the card to return (its P2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelectReturn {
    /// No response data (P2 `0C`); the command has no Le.
    #[default]
    None,
    /// The file control information template, FCI (P2 `00`, Le 256).
    Fci,
    /// The file control parameters template, FCP (P2 `04`, Le 256).
    Fcp,
}

/// Selects an application by its AID: `00 A4 04 P2 Lc AID [Le]`, P2 following `ret`.
///
/// Returns the card's response unchecked (a missing application is a `6A82` response, not
/// an error); use [`Response::ok`] to require success.
///
/// # Errors
/// [`Error::InvalidInput`] for an AID longer than 16 bytes, and the errors of
/// [`transceive`].
pub fn select_by_aid(card: &mut dyn Card, aid: &[u8], ret: SelectReturn) -> Result<Response> {
    const MAX_AID_LEN: usize = 16;
    if aid.len() > MAX_AID_LEN {
        return Err(Error::invalid_input(format!(
            "an AID has at most {MAX_AID_LEN} bytes, not {}",
            aid.len()
        )));
    }
    select(card, 0x04, aid, ret)
}

/// Selects an elementary file under the current DF by its file identifier:
/// `00 A4 02 0C 02 FID`.
///
/// Returns the card's response unchecked; use [`Response::ok`] to require success.
///
/// # Errors
/// The errors of [`transceive`].
pub fn select_by_fid(card: &mut dyn Card, fid: [u8; 2]) -> Result<Response> {
    select(card, 0x02, &fid, SelectReturn::None)
}

/// Selects a file by path: `00 A4 08 0C` (`from_mf`) or `00 A4 09 0C` (from the current
/// DF), the path as data.
///
/// The path is a sequence of two-byte file identifiers and is sent exactly as given. ISO
/// 7816-4 defines the P1 `08` path as starting *after* the MF (without `3F00`) and the P1
/// `09` path as starting after the current DF; some cards, the Belgian eID among them, expect
/// `3F00` at the start of an absolute path anyway. Give the path the card expects.
///
/// Returns the card's response unchecked; use [`Response::ok`] to require success.
///
/// # Errors
/// [`Error::InvalidInput`] for an empty path or one of odd length, and the errors of
/// [`transceive`].
pub fn select_by_path(card: &mut dyn Card, path: &[u8], from_mf: bool) -> Result<Response> {
    if path.is_empty() || !path.len().is_multiple_of(2) {
        return Err(Error::invalid_input(format!(
            "a path is a non-empty sequence of two-byte file identifiers, not {} bytes",
            path.len()
        )));
    }
    select(card, if from_mf { 0x08 } else { 0x09 }, path, SelectReturn::None)
}

/// Reads up to `len` bytes of the selected transparent file from `offset`, with one READ
/// BINARY (`00 B0 P1 P2 Le`, through [`transceive`]).
///
/// `len` above 256 needs a card that supports extended lengths. Returns the data for `9000`,
/// and also for `6282` (end of file reached first), when the data is shorter than `len`.
///
/// # Errors
/// [`Error::InvalidInput`] for `len` 0 or `offset` above [`MAX_READ_OFFSET`];
/// [`StatusWord::to_error`] of any status other than `9000` and `6282`; the errors of
/// [`transceive`].
pub fn read_binary(card: &mut dyn Card, offset: u16, len: u16) -> Result<Vec<u8>> {
    let response = transceive(card, &read_binary_command(offset, u32::from(len))?)?;
    match response.status() {
        StatusWord::SUCCESS | StatusWord::END_OF_FILE_REACHED => Ok(response.into_data()),
        status => Err(status.to_error()),
    }
}

/// How [`read_file_with_limits`] reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Bytes asked for by each READ BINARY, `1..=65536`. Up to 256 fits a short APDU, which
    /// every card supports; above that the card must support extended lengths.
    pub max_chunk: usize,
    /// Largest file accepted, in bytes.
    pub max_size: usize,
}

impl Default for ReadLimits {
    /// Chunks of 256 bytes, files up to [`DEFAULT_MAX_FILE_SIZE`].
    fn default() -> Self {
        Self { max_chunk: 256, max_size: DEFAULT_MAX_FILE_SIZE }
    }
}

/// Reads the whole selected transparent file in chunks of `max_chunk` bytes, accepting files
/// up to [`DEFAULT_MAX_FILE_SIZE`]. See [`read_file_with_limits`].
///
/// # Errors
/// As [`read_file_with_limits`].
pub fn read_file(card: &mut dyn Card, max_chunk: usize) -> Result<Vec<u8>> {
    read_file_with_limits(card, ReadLimits { max_chunk, ..ReadLimits::default() })
}

/// Reads the whole selected transparent file with READ BINARY, in as few commands as the
/// card allows.
///
/// Each READ BINARY asks for `max_chunk` bytes at the next offset. Reading stops at the
/// first of:
/// - a read returning fewer bytes than asked for (the file ended inside the chunk; this
///   includes a card that answered `6Cxx`, since [`transceive`] re-issued the read with the
///   exact remaining length);
/// - `6282` (end of file reached; its data is kept);
/// - `6B00` (offset past the end; a file whose size is a multiple of the chunk costs this
///   one extra command).
///
/// So an `N`-byte file costs at most `N / max_chunk + 1` READ BINARY commands, plus one for
/// each `6Cxx` correction. READ BINARY addresses offsets up to [`MAX_READ_OFFSET`]
/// (`7FFF`); the chunk before it is shortened to end there, so files up to
/// `0x7FFF + max_chunk - 1` bytes can be read.
///
/// # Errors
/// [`Error::InvalidInput`] for a `max_chunk` outside `1..=65536`; [`Error::Internal`] when
/// the file is larger than `max_size`; [`Error::NotSupported`] when it reaches past offset
/// [`MAX_READ_OFFSET`], the last one READ BINARY with P1-P2 addresses;
/// [`StatusWord::to_error`] of any other status word; the errors of [`transceive`].
pub fn read_file_with_limits(card: &mut dyn Card, limits: ReadLimits) -> Result<Vec<u8>> {
    let max_le = usize::try_from(MAX_LE).unwrap_or(usize::MAX);
    if limits.max_chunk == 0 || limits.max_chunk > max_le {
        return Err(Error::invalid_input(format!(
            "a READ BINARY chunk has 1 to {MAX_LE} bytes, not {}",
            limits.max_chunk
        )));
    }
    let mut file = Vec::new();
    loop {
        let offset = u16::try_from(file.len())
            .ok()
            .filter(|offset| *offset <= MAX_READ_OFFSET)
            .ok_or_else(|| {
                Error::not_supported(format!(
                    "the file continues past offset {MAX_READ_OFFSET:#06X}, the last one \
                     READ BINARY addresses"
                ))
            })?;
        // One byte more than the room left tells a file of exactly max_size from a longer one.
        let room = limits.max_size.saturating_sub(file.len()).saturating_add(1);
        // A chunk that would jump past the last offset stops there, so one more chunk can be
        // read from it.
        let to_last_offset = usize::from(MAX_READ_OFFSET - offset);
        let wanted = match limits.max_chunk.min(room) {
            wanted if to_last_offset > 0 && wanted > to_last_offset => to_last_offset,
            wanted => wanted,
        };
        let le = u32::try_from(wanted).unwrap_or(MAX_LE);
        let response = transceive(card, &read_binary_command(offset, le)?)?;
        let ended = match response.status() {
            StatusWord::SUCCESS => response.data().len() < wanted,
            StatusWord::END_OF_FILE_REACHED => true,
            StatusWord::WRONG_P1P2 => return Ok(file),
            status => return Err(status.to_error()),
        };
        file.extend_from_slice(response.data());
        if file.len() > limits.max_size {
            return Err(Error::internal(format!(
                "the file is larger than the {}-byte limit",
                limits.max_size
            )));
        }
        if ended {
            return Ok(file);
        }
    }
}

/// Sends one command and parses the raw answer, without any status-word handling.
fn exchange(card: &mut dyn Card, command: &Command) -> Result<Response> {
    let raw = card.transmit(&command.to_bytes())?;
    Ok(Response::parse(&raw)?)
}

/// Follows `61xx` answers with GET RESPONSE, concatenating the data, within the limits.
fn collect_remaining(card: &mut dyn Card, cla: u8, first: Response) -> Result<Response> {
    let mut status = first.status();
    let mut data = first.into_data();
    check_response_len(data.len())?;
    let mut fetched = 0;
    loop {
        let le = match (status.bytes_available(), status.correct_length()) {
            (Some(le), _) => le,
            // A GET RESPONSE asking for more than is left (after 6100) is answered 6Cxx.
            (None, Some(le)) if fetched > 0 => le,
            _ => return Ok(Response::new(data, status)),
        };
        if fetched == MAX_GET_RESPONSES {
            return Err(Error::internal(format!(
                "the card still had data after {MAX_GET_RESPONSES} GET RESPONSE commands"
            )));
        }
        fetched += 1;
        let response = exchange(card, &get_response(cla, le))?;
        status = response.status();
        if status.correct_length().is_none() {
            check_response_len(data.len().saturating_add(response.data().len()))?;
            data.extend_from_slice(response.data());
        }
    }
}

fn check_response_len(len: usize) -> Result<()> {
    if len > MAX_RESPONSE_LEN {
        return Err(Error::internal(format!(
            "the card's response exceeds {MAX_RESPONSE_LEN} bytes"
        )));
    }
    Ok(())
}

/// GET RESPONSE on the logical channel of `cla`, Le as a short Le field encodes it.
fn get_response(cla: u8, le: u8) -> Command {
    Command::new(channel_class(cla), 0xC0, 0x00, 0x00).with_short_le(le)
}

/// The interindustry class byte for the logical channel `cla` uses, without secure messaging
/// or command chaining: channels 0-3 in the first interindustry encoding (b7 clear), 4-19 in
/// the further one (b7 set).
fn channel_class(cla: u8) -> u8 {
    if cla & 0x40 == 0 { cla & 0x03 } else { 0x40 | (cla & 0x0F) }
}

fn select(card: &mut dyn Card, p1: u8, data: &[u8], ret: SelectReturn) -> Result<Response> {
    let (p2, le) = match ret {
        SelectReturn::None => (0x0C, None),
        SelectReturn::Fci => (0x00, Some(256)),
        SelectReturn::Fcp => (0x04, Some(256)),
    };
    let mut command = Command::new(0x00, 0xA4, p1, p2).with_data(data)?;
    if let Some(le) = le {
        command = command.with_le(le)?;
    }
    transceive(card, &command)
}

fn read_binary_command(offset: u16, le: u32) -> Result<Command> {
    if offset > MAX_READ_OFFSET {
        return Err(Error::invalid_input(format!(
            "a READ BINARY offset is at most {MAX_READ_OFFSET:#06X}, not {offset:#06X}"
        )));
    }
    let [p1, p2] = offset.to_be_bytes();
    Ok(Command::new(0x00, 0xB0, p1, p2).with_le(le)?)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::card::CardError;
    use crate::pin::{Pin, PinVerifyRequest};

    /// A card answering from a script, recording what it was sent.
    #[derive(Default)]
    struct ScriptedCard {
        answers: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl ScriptedCard {
        fn new(answers: &[&[u8]]) -> Self {
            Self { answers: answers.iter().map(|a| a.to_vec()).collect(), sent: Vec::new() }
        }
    }

    impl Card for ScriptedCard {
        fn atr(&self) -> Vec<u8> {
            Vec::new()
        }

        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
            self.sent.push(apdu.to_vec());
            self.answers.pop_front().ok_or_else(|| CardError::Transport("script ended".into()))
        }

        fn verify_pin(
            &mut self,
            _: &PinVerifyRequest,
            _: Option<&Pin<'_>>,
        ) -> Result<u16, CardError> {
            Err(CardError::NotSupported("verify".into()))
        }
    }

    /// How a [`FileCard`] answers a READ BINARY asking for more than the file has left.
    #[derive(Clone, Copy)]
    enum Ending {
        /// The remaining bytes and `9000`.
        ShortRead,
        /// The remaining bytes and `6282`.
        EndOfFile,
        /// `6Cxx` with the remaining length.
        WrongLength,
    }

    /// A card with one selected transparent file; `6B00` past its end.
    struct FileCard {
        file: Vec<u8>,
        ending: Ending,
        transmits: usize,
    }

    impl FileCard {
        fn new(len: usize, ending: Ending) -> Self {
            let file = (0..len).map(|i| (i % 251) as u8).collect();
            Self { file, ending, transmits: 0 }
        }
    }

    impl Card for FileCard {
        fn atr(&self) -> Vec<u8> {
            Vec::new()
        }

        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
            self.transmits += 1;
            let command = Command::parse(apdu).expect("well-formed command");
            assert_eq!(command.ins(), 0xB0);
            let offset = usize::from(u16::from_be_bytes([command.p1(), command.p2()]));
            let le = command.le().expect("READ BINARY has Le") as usize;
            if offset >= self.file.len() {
                return Ok(vec![0x6B, 0x00]);
            }
            let left = self.file.len() - offset;
            let (len, status) = match self.ending {
                _ if left >= le => (le, [0x90, 0x00]),
                Ending::ShortRead => (left, [0x90, 0x00]),
                Ending::EndOfFile => (left, [0x62, 0x82]),
                Ending::WrongLength => return Ok(vec![0x6C, left as u8]),
            };
            let mut answer = self.file[offset..offset + len].to_vec();
            answer.extend_from_slice(&status);
            Ok(answer)
        }

        fn verify_pin(
            &mut self,
            _: &PinVerifyRequest,
            _: Option<&Pin<'_>>,
        ) -> Result<u16, CardError> {
            Err(CardError::NotSupported("verify".into()))
        }
    }

    fn read_record() -> Command {
        Command::new(0x00, 0xB2, 0x01, 0x04).with_le(256).expect("valid Le")
    }

    #[test]
    fn plain_response_is_returned_as_is() {
        let mut card = ScriptedCard::new(&[&[0x01, 0x02, 0x90, 0x00]]);
        let response = transceive(&mut card, &read_record()).expect("response");
        assert_eq!(response, Response::new([0x01, 0x02], StatusWord::SUCCESS));
        assert_eq!(card.sent, [vec![0x00, 0xB2, 0x01, 0x04, 0x00]]);
    }

    #[test]
    fn get_response_chains_61xx() {
        let mut card =
            ScriptedCard::new(&[&[0x61, 0x02], &[0x01, 0x02, 0x61, 0x01], &[0x03, 0x90, 0x00]]);
        let response = transceive(&mut card, &read_record()).expect("response");
        assert_eq!(response, Response::new([0x01, 0x02, 0x03], StatusWord::SUCCESS));
        assert_eq!(
            card.sent[1..],
            [vec![0x00, 0xC0, 0x00, 0x00, 0x02], vec![0x00, 0xC0, 0x00, 0x00, 0x01]]
        );
    }

    #[test]
    fn data_sent_with_61xx_is_kept() {
        let mut card = ScriptedCard::new(&[&[0xAA, 0x61, 0x01], &[0xBB, 0x90, 0x00]]);
        let response = transceive(&mut card, &read_record()).expect("response");
        assert_eq!(response.data(), [0xAA, 0xBB]);
    }

    #[test]
    fn get_response_keeps_the_logical_channel() {
        let command = Command::new(0x03, 0xCA, 0x00, 0x00).with_le(256).expect("valid Le");
        let mut card = ScriptedCard::new(&[&[0x61, 0x01], &[0x01, 0x90, 0x00]]);
        let _ = transceive(&mut card, &command).expect("response");
        assert_eq!(card.sent[1], [0x03, 0xC0, 0x00, 0x00, 0x01]);

        let command = Command::new(0x6D, 0xCA, 0x00, 0x00).with_le(256).expect("valid Le");
        let mut card = ScriptedCard::new(&[&[0x61, 0x01], &[0x01, 0x90, 0x00]]);
        let _ = transceive(&mut card, &command).expect("response");
        assert_eq!(card.sent[1], [0x4D, 0xC0, 0x00, 0x00, 0x01]);
    }

    #[test]
    fn get_response_drops_secure_messaging_and_chaining_bits() {
        let command = Command::new(0x1D, 0xCA, 0x00, 0x00).with_le(256).expect("valid Le");
        let mut card = ScriptedCard::new(&[&[0x61, 0x01], &[0x01, 0x90, 0x00]]);
        let _ = transceive(&mut card, &command).expect("response");
        assert_eq!(card.sent[1][0], 0x01);
    }

    #[test]
    fn wrong_le_is_reissued_once() {
        let mut card = ScriptedCard::new(&[&[0x6C, 0x03], &[0x01, 0x02, 0x03, 0x90, 0x00]]);
        let response = transceive(&mut card, &read_record()).expect("response");
        assert_eq!(response.data(), [0x01, 0x02, 0x03]);
        assert_eq!(card.sent[1], [0x00, 0xB2, 0x01, 0x04, 0x03]);
    }

    #[test]
    fn second_wrong_le_is_returned() {
        let mut card = ScriptedCard::new(&[&[0x6C, 0x03], &[0x6C, 0x02], &[0x90, 0x00]]);
        let response = transceive(&mut card, &read_record()).expect("response");
        assert_eq!(response.status(), StatusWord::new(0x6C, 0x02));
        assert_eq!(card.sent.len(), 2);
    }

    #[test]
    fn wrong_le_00_means_256() {
        let mut card = ScriptedCard::new(&[&[0x6C, 0x00], &[0x90, 0x00]]);
        let command = Command::new(0x00, 0xB0, 0x00, 0x00).with_le(5).expect("valid Le");
        let _ = transceive(&mut card, &command).expect("response");
        assert_eq!(card.sent[1], [0x00, 0xB0, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn wrong_le_then_61xx_is_chained() {
        let mut card =
            ScriptedCard::new(&[&[0x6C, 0x02], &[0x01, 0x61, 0x01], &[0x02, 0x90, 0x00]]);
        let response = transceive(&mut card, &read_record()).expect("response");
        assert_eq!(response.data(), [0x01, 0x02]);
    }

    #[test]
    fn get_response_answered_6cxx_is_retried_with_that_length() {
        let mut card =
            ScriptedCard::new(&[&[0x61, 0x00], &[0x6C, 0x05], &[1, 2, 3, 4, 5, 0x90, 0x00]]);
        let response = transceive(&mut card, &read_record()).expect("response");
        assert_eq!(response.data(), [1, 2, 3, 4, 5]);
        assert_eq!(card.sent[1], [0x00, 0xC0, 0x00, 0x00, 0x00]);
        assert_eq!(card.sent[2], [0x00, 0xC0, 0x00, 0x00, 0x05]);
    }

    #[test]
    fn endless_61xx_is_cut_off() {
        let answers = vec![[0x61u8, 0x00].as_slice(); MAX_GET_RESPONSES + 10];
        let mut card = ScriptedCard::new(&answers);
        let result = transceive(&mut card, &read_record());
        assert!(matches!(result, Err(Error::Internal(_))));
        assert_eq!(card.sent.len(), MAX_GET_RESPONSES + 1);
    }

    #[test]
    fn oversized_response_is_cut_off() {
        let mut piece = vec![0u8; 60_000];
        piece.extend_from_slice(&[0x61, 0x00]);
        let answers = vec![piece.as_slice(); 40];
        let mut card = ScriptedCard::new(&answers);
        let result = transceive(&mut card, &read_record());
        assert!(matches!(result, Err(Error::Internal(_))));
        assert!(card.sent.len() <= MAX_RESPONSE_LEN / 60_000 + 1);
    }

    #[test]
    fn answer_without_status_is_internal_error() {
        let mut card = ScriptedCard::new(&[&[0x90]]);
        assert!(matches!(transceive(&mut card, &read_record()), Err(Error::Internal(_))));
    }

    #[test]
    fn transport_error_is_passed_on() {
        let mut card = ScriptedCard::new(&[]);
        assert!(matches!(transceive(&mut card, &read_record()), Err(Error::Transport(_))));
    }

    #[test]
    fn select_by_aid_without_response_data() {
        let mut card = ScriptedCard::new(&[&[0x90, 0x00]]);
        let aid = [0xA0, 0x00, 0x00, 0x01, 0x77];
        let response = select_by_aid(&mut card, &aid, SelectReturn::None).expect("response");
        assert!(response.is_success());
        assert_eq!(card.sent[0], [0x00, 0xA4, 0x04, 0x0C, 0x05, 0xA0, 0x00, 0x00, 0x01, 0x77]);
    }

    #[test]
    fn select_by_aid_asking_for_fci() {
        let mut card = ScriptedCard::new(&[&[0x6F, 0x00, 0x90, 0x00]]);
        let response = select_by_aid(&mut card, &[0xA0, 0x01], SelectReturn::Fci).expect("ok");
        assert_eq!(response.data(), [0x6F, 0x00]);
        assert_eq!(card.sent[0], [0x00, 0xA4, 0x04, 0x00, 0x02, 0xA0, 0x01, 0x00]);
    }

    #[test]
    fn select_by_aid_asking_for_fcp() {
        let mut card = ScriptedCard::new(&[&[0x90, 0x00]]);
        let _ = select_by_aid(&mut card, &[0xA0, 0x01], SelectReturn::Fcp).expect("ok");
        assert_eq!(card.sent[0], [0x00, 0xA4, 0x04, 0x04, 0x02, 0xA0, 0x01, 0x00]);
    }

    #[test]
    fn select_by_aid_rejects_long_aid() {
        let mut card = ScriptedCard::new(&[]);
        let result = select_by_aid(&mut card, &[0; 17], SelectReturn::None);
        assert!(matches!(result, Err(Error::InvalidInput(_))));
        assert!(card.sent.is_empty());
    }

    #[test]
    fn select_failure_is_a_response_not_an_error() {
        let mut card = ScriptedCard::new(&[&[0x6A, 0x82]]);
        let response = select_by_fid(&mut card, [0x50, 0x38]).expect("response");
        assert_eq!(response.status(), StatusWord::FILE_NOT_FOUND);
    }

    #[test]
    fn select_by_fid_uses_p1_02() {
        let mut card = ScriptedCard::new(&[&[0x90, 0x00]]);
        let _ = select_by_fid(&mut card, [0x50, 0x38]).expect("response");
        assert_eq!(card.sent[0], [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x50, 0x38]);
    }

    #[test]
    fn select_by_path_from_mf_uses_p1_08_and_sends_path_unchanged() {
        let mut card = ScriptedCard::new(&[&[0x90, 0x00]]);
        let path = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x31];
        let _ = select_by_path(&mut card, &path, true).expect("response");
        assert_eq!(
            card.sent[0],
            [0x00, 0xA4, 0x08, 0x0C, 0x06, 0x3F, 0x00, 0xDF, 0x01, 0x40, 0x31]
        );
    }

    #[test]
    fn select_by_path_from_current_df_uses_p1_09() {
        let mut card = ScriptedCard::new(&[&[0x90, 0x00]]);
        let _ = select_by_path(&mut card, &[0x40, 0x31], false).expect("response");
        assert_eq!(card.sent[0], [0x00, 0xA4, 0x09, 0x0C, 0x02, 0x40, 0x31]);
    }

    #[test]
    fn select_by_path_rejects_odd_or_empty_path() {
        let mut card = ScriptedCard::new(&[]);
        assert!(matches!(select_by_path(&mut card, &[0x3F], true), Err(Error::InvalidInput(_))));
        assert!(matches!(select_by_path(&mut card, &[], true), Err(Error::InvalidInput(_))));
        assert!(card.sent.is_empty());
    }

    #[test]
    fn read_binary_puts_offset_in_p1_p2() {
        let mut card = ScriptedCard::new(&[&[0x01, 0x90, 0x00]]);
        let data = read_binary(&mut card, 0x1234, 1).expect("data");
        assert_eq!(data, [0x01]);
        assert_eq!(card.sent[0], [0x00, 0xB0, 0x12, 0x34, 0x01]);
    }

    #[test]
    fn read_binary_above_256_is_extended() {
        let mut card = ScriptedCard::new(&[&[0x90, 0x00]]);
        let _ = read_binary(&mut card, 0, 1000).expect("data");
        assert_eq!(card.sent[0], [0x00, 0xB0, 0x00, 0x00, 0x00, 0x03, 0xE8]);
    }

    #[test]
    fn read_binary_keeps_data_of_6282() {
        let mut card = ScriptedCard::new(&[&[0x01, 0x62, 0x82]]);
        assert_eq!(read_binary(&mut card, 0, 2), Ok(vec![0x01]));
    }

    #[test]
    fn read_binary_maps_errors() {
        let mut card = ScriptedCard::new(&[&[0x69, 0x82]]);
        assert_eq!(
            read_binary(&mut card, 0, 2),
            Err(Error::StatusWord(StatusWord::SECURITY_STATUS_NOT_SATISFIED))
        );
    }

    #[test]
    fn read_binary_rejects_offset_above_7fff_and_zero_len() {
        let mut card = ScriptedCard::new(&[]);
        assert!(matches!(read_binary(&mut card, 0x8000, 1), Err(Error::InvalidInput(_))));
        assert!(matches!(read_binary(&mut card, 0, 0), Err(Error::InvalidInput(_))));
        assert!(card.sent.is_empty());
    }

    #[test]
    fn read_file_stops_on_short_read() {
        let mut card = FileCard::new(300, Ending::ShortRead);
        let file = read_file(&mut card, 256).expect("file");
        assert_eq!(file, card.file);
        assert_eq!(card.transmits, 2);
    }

    #[test]
    fn read_file_stops_at_6282() {
        let mut card = FileCard::new(300, Ending::EndOfFile);
        let file = read_file(&mut card, 256).expect("file");
        assert_eq!(file, card.file);
        assert_eq!(card.transmits, 2);
    }

    #[test]
    fn read_file_stops_at_6b00() {
        let mut card = FileCard::new(512, Ending::ShortRead);
        let file = read_file(&mut card, 256).expect("file");
        assert_eq!(file, card.file);
        assert_eq!(card.transmits, 3);
    }

    #[test]
    fn read_file_uses_corrected_length_and_stops() {
        let mut card = FileCard::new(300, Ending::WrongLength);
        let file = read_file(&mut card, 256).expect("file");
        assert_eq!(file, card.file);
        // 256 bytes, 6C2C, the last 44 bytes; nothing after.
        assert_eq!(card.transmits, 3);
    }

    #[test]
    fn read_file_of_empty_file_is_empty() {
        let mut card = FileCard::new(0, Ending::ShortRead);
        assert_eq!(read_file(&mut card, 256), Ok(Vec::new()));
        assert_eq!(card.transmits, 1);
    }

    #[test]
    fn read_file_takes_fewest_round_trips() {
        for ending in [Ending::ShortRead, Ending::EndOfFile] {
            for len in [0, 1, 255, 256, 257, 511, 512, 513, 1000, 4096, 10_000] {
                let mut card = FileCard::new(len, ending);
                let file = read_file(&mut card, 256).expect("file");
                assert_eq!(file, card.file);
                assert!(card.transmits <= (len + 1).div_ceil(256), "{len} bytes");
            }
        }
    }

    #[test]
    fn read_file_with_wrong_length_card_costs_one_more() {
        for len in [1, 255, 256, 257, 1000, 4096] {
            let mut card = FileCard::new(len, Ending::WrongLength);
            let file = read_file(&mut card, 256).expect("file");
            assert_eq!(file, card.file);
            assert!(card.transmits <= (len + 1).div_ceil(256) + 1, "{len} bytes");
        }
    }

    #[test]
    fn read_file_accepts_file_of_exactly_max_size() {
        let mut card = FileCard::new(512, Ending::ShortRead);
        let limits = ReadLimits { max_chunk: 256, max_size: 512 };
        assert_eq!(read_file_with_limits(&mut card, limits), Ok(card.file.clone()));
    }

    #[test]
    fn read_file_rejects_file_over_max_size() {
        let mut card = FileCard::new(513, Ending::ShortRead);
        let limits = ReadLimits { max_chunk: 256, max_size: 512 };
        assert!(matches!(read_file_with_limits(&mut card, limits), Err(Error::Internal(_))));
        assert_eq!(card.transmits, 3);
    }

    #[test]
    fn read_file_stops_past_offset_7fff() {
        let mut card = FileCard::new(0x9000, Ending::ShortRead);
        assert!(matches!(read_file(&mut card, 256), Err(Error::NotSupported(_))));
    }

    #[test]
    fn read_file_reads_up_to_offset_7fff() {
        let mut card = FileCard::new(0x7FFF + 100, Ending::ShortRead);
        assert_eq!(read_file(&mut card, 256), Ok(card.file.clone()));
    }

    #[test]
    fn read_file_shortens_the_chunk_before_offset_7fff() {
        let mut card = FileCard::new(0x8000, Ending::ShortRead);
        assert_eq!(read_file(&mut card, 256), Ok(card.file.clone()));
        // 127 full chunks, 255 bytes up to 7FFF, then the last byte from 7FFF.
        assert_eq!(card.transmits, 129);
    }

    #[test]
    fn read_file_rejects_bad_chunk_size() {
        let mut card = FileCard::new(10, Ending::ShortRead);
        assert!(matches!(read_file(&mut card, 0), Err(Error::InvalidInput(_))));
        assert!(matches!(read_file(&mut card, 65_537), Err(Error::InvalidInput(_))));
        assert_eq!(card.transmits, 0);
    }

    #[test]
    fn read_file_passes_on_other_status() {
        let mut card = ScriptedCard::new(&[&[0x69, 0x82]]);
        assert_eq!(
            read_file(&mut card, 256),
            Err(Error::StatusWord(StatusWord::SECURITY_STATUS_NOT_SATISFIED))
        );
    }
}
