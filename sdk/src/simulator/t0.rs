//! ISO 7816-3 T=0 response semantics around simple card logic.
//!
//! A [`CardLogic`] answers a parsed [`Command`] with response data and a [`StatusWord`], as if
//! responses always fit. [`T0`] turns it into a [`VirtualCard`] that behaves on the wire like a
//! T=0 card (ISO 7816-3 section 10.3 and ISO 7816-4 section 5.1.3 and 5.3.4):
//!
//! | command | logic answers | the card sends |
//! |---|---|---|
//! | fewer than 4 bytes, or a body that matches no case (Lc disagreeing with the length) | — | `6700` |
//! | extended length, card configured without it ([`T0::new`]) | — | `6700` |
//! | no data field, Le (case 2), `n` bytes | Le > n | `6C n`, no data: the caller re-issues with Le = n |
//! | case 2 | Le ≤ n | the first Le bytes and the logic's status word (the rest is dropped, as a T=0 card transfers exactly P3 bytes) |
//! | any other case (1, 3, 4) with response data | `n` bytes | `61 xx` (xx = n, `00` for 256 or more); the data waits for GET RESPONSE |
//! | GET RESPONSE `00 C0 00 00 Le`, `r` bytes waiting | Le < r | Le bytes and `61 xx` for the rest |
//! | GET RESPONSE | Le = r | the bytes and the logic's status word |
//! | GET RESPONSE | Le > r, or no Le | `6C r`, the data stays waiting |
//! | anything | an error status word (not 9000, 62xx, 63xx) | the status word alone, data dropped |
//!
//! Any command other than GET RESPONSE discards waiting data, as on a real card. A GET RESPONSE
//! with nothing waiting goes to the logic (most answer `6D00` or `6985`). Which CLA and INS are
//! supported is the logic's business (`6E00`, `6D00`).
//!
//! With extended length enabled ([`T0::with_extended_length`]) commands using it get at most
//! Le bytes directly, without `6Cxx`: the correction byte cannot express lengths above 256.

use crate::apdu::Command;
use crate::simulator::VirtualCard;
use crate::status::StatusWord;

/// INS of GET RESPONSE.
const GET_RESPONSE: u8 = 0xC0;
/// Largest response a single short Le covers.
const SHORT_MAX: usize = 256;

/// The behaviour of a simulated card, free of transport details; wrap it in [`T0`].
pub trait CardLogic: Send {
    /// The answer-to-reset.
    fn atr(&self) -> Vec<u8>;

    /// Power-on or warm reset: clear volatile state (selected file, verified PINs, ...).
    fn reset(&mut self);

    /// Executes a well-formed command and returns the complete response data (however long)
    /// and the status word. [`T0`] cuts the data to what the command's Le and T=0 allow.
    fn execute(&mut self, command: &Command) -> (Vec<u8>, StatusWord);
}

/// A [`VirtualCard`] that speaks T=0 on behalf of a [`CardLogic`]; see the module docs for the
/// exact rules.
#[derive(Debug, Clone)]
pub struct T0<C> {
    logic: C,
    extended_length: bool,
    pending: Option<Pending>,
}

/// Response data waiting for GET RESPONSE, and the status word that ends it.
#[derive(Debug, Clone)]
struct Pending {
    data: Vec<u8>,
    status: StatusWord,
}

impl<C: CardLogic> T0<C> {
    /// A T=0 card without extended length support: extended APDUs get `6700`.
    pub fn new(logic: C) -> Self {
        Self { logic, extended_length: false, pending: None }
    }

    /// A T=0 card that accepts extended length APDUs.
    pub fn with_extended_length(logic: C) -> Self {
        Self { logic, extended_length: true, pending: None }
    }

    /// The card logic.
    pub fn logic(&self) -> &C {
        &self.logic
    }

    /// The card logic, for tests that change the card's state directly.
    pub fn logic_mut(&mut self) -> &mut C {
        &mut self.logic
    }

    /// The card logic, dropping the T=0 state.
    pub fn into_logic(self) -> C {
        self.logic
    }

    /// Answers a well-formed command, GET RESPONSE included.
    fn answer(&mut self, command: &Command, extended: bool) -> Vec<u8> {
        let waiting = self.pending.take();
        if command.ins() == GET_RESPONSE
            && command.p1() == 0
            && command.p2() == 0
            && command.data().is_empty()
            && let Some(waiting) = waiting
        {
            return self.get_response(waiting, command.le());
        }
        let (data, status) = self.logic.execute(command);
        if data.is_empty() || !carries_data(status) {
            return status.to_bytes().to_vec();
        }
        match command.le() {
            Some(le) if command.data().is_empty() => {
                let le = usize::try_from(le).unwrap_or(usize::MAX);
                if extended {
                    respond(&data[..le.min(data.len())], status)
                } else if le > data.len() {
                    // Case 2 with too large an Le: tell the caller the real length.
                    correct_length(data.len()).to_bytes().to_vec()
                } else {
                    respond(&data[..le], status)
                }
            }
            _ => {
                let available = bytes_available(data.len());
                self.pending = Some(Pending { data, status });
                available.to_bytes().to_vec()
            }
        }
    }

    /// GET RESPONSE on waiting data: a chunk of exactly Le bytes.
    fn get_response(&mut self, mut waiting: Pending, le: Option<u32>) -> Vec<u8> {
        let le = le.map_or(0, |le| usize::try_from(le).unwrap_or(usize::MAX));
        let remaining = waiting.data.len();
        if le == 0 || le > remaining {
            let correction = correct_length(remaining.min(SHORT_MAX));
            self.pending = Some(waiting);
            return correction.to_bytes().to_vec();
        }
        if le == remaining {
            return respond(&waiting.data, waiting.status);
        }
        let rest = waiting.data.split_off(le);
        let mut out = waiting.data;
        out.extend_from_slice(&bytes_available(rest.len()).to_bytes());
        self.pending = Some(Pending { data: rest, status: waiting.status });
        out
    }
}

impl<C: CardLogic> VirtualCard for T0<C> {
    fn atr(&self) -> Vec<u8> {
        self.logic.atr()
    }

    fn reset(&mut self) {
        self.pending = None;
        self.logic.reset();
    }

    fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let wrong_length = || StatusWord::WRONG_LENGTH.to_bytes().to_vec();
        let Ok(command) = Command::parse(apdu) else {
            self.pending = None;
            return wrong_length();
        };
        // After the header, a 00 followed by at least two bytes can only be the extended marker:
        // a short Lc of 0 does not exist and `parse` has accepted the body.
        let extended = matches!(apdu.get(4..), Some([0x00, _, _, ..]));
        if extended && !self.extended_length {
            self.pending = None;
            return wrong_length();
        }
        self.answer(&command, extended)
    }
}

/// Whether a response with this status word may carry data: success and warnings.
fn carries_data(status: StatusWord) -> bool {
    matches!(status.sw1(), 0x90 | 0x62 | 0x63)
}

/// `data` followed by `status`.
fn respond(data: &[u8], status: StatusWord) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(&status.to_bytes());
    out
}

/// `61xx`: `len` bytes wait for GET RESPONSE (`00` for 256 or more).
fn bytes_available(len: usize) -> StatusWord {
    StatusWord::new(0x61, short_length_byte(len))
}

/// `6Cxx`: re-issue the command with Le = `len` (at most 256, encoded `00`).
fn correct_length(len: usize) -> StatusWord {
    StatusWord::new(0x6C, short_length_byte(len))
}

/// A length as the one byte of a short Le: 256 and above as `00`.
fn short_length_byte(len: usize) -> u8 {
    if len >= SHORT_MAX { 0 } else { u8::try_from(len).unwrap_or(0) }
}
