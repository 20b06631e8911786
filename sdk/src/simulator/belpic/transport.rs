//! What the card sees of an APDU under T=0 (ISO 7816-3 §10.3), and GET RESPONSE.
//!
//! The Belpic applet only speaks T=0 (RM17 §6.1, RM18 §6.1): a command is a 5-byte header
//! whose last byte P3 is Lc for commands that take data and Le for those that return it, so a
//! case 4 APDU reaches the card without its Le and the card answers `61xx`. Extended length
//! does not exist for it. This module turns the raw bytes a reader passes on into that view,
//! and keeps the data a case 4 command left for GET RESPONSE.

use crate::status::StatusWord;

/// A command as the card receives it: header, P3 and the data that followed.
#[derive(Debug, Clone, Copy)]
pub struct Tpdu<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// First parameter.
    pub p1: u8,
    /// Second parameter.
    pub p2: u8,
    /// Lc of a command with data, Le (0 meaning 256) of one without.
    pub p3: u8,
    /// The data field, empty for cases 1 and 2.
    pub data: &'a [u8],
}

/// How a command answered, before T=0 framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A status word alone.
    Status(StatusWord),
    /// Response data sized to the command's Le, and the status word.
    Data(Vec<u8>, StatusWord),
    /// Case 4 output: nothing now, `61xx`, the data waits for GET RESPONSE.
    Deferred(Vec<u8>),
    /// Output longer than Le: `now` with `61xx`, `rest` waits for GET RESPONSE.
    Chained {
        /// The bytes sent with `61xx`.
        now: Vec<u8>,
        /// The bytes GET RESPONSE returns.
        rest: Vec<u8>,
    },
}

/// Response data waiting for GET RESPONSE.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    waiting: Option<Vec<u8>>,
}

impl<'a> Tpdu<'a> {
    /// The command in `apdu`, or `6700` for fewer than 4 bytes, a body that matches no
    /// short case, or an extended-length APDU. A case 4 APDU loses its Le.
    pub fn parse(apdu: &'a [u8]) -> Result<Self, StatusWord> {
        let [cla, ins, p1, p2, body @ ..] = apdu else {
            return Err(StatusWord::WRONG_LENGTH);
        };
        let header = |p3, data| Self { cla: *cla, ins: *ins, p1: *p1, p2: *p2, p3, data };
        match body {
            [] => Ok(header(0, &[])),
            [p3] => Ok(header(*p3, &[])),
            [0, ..] => Err(StatusWord::WRONG_LENGTH),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match rest.len() {
                    n if n == lc => Ok(header(body[0], rest)),
                    // Case 4: T=0 sends no Le; the reader keeps it.
                    n if n == lc + 1 => Ok(header(body[0], &rest[..lc])),
                    _ => Err(StatusWord::WRONG_LENGTH),
                }
            }
        }
    }

    /// Le of a command that returns data: P3, with 0 meaning 256.
    pub fn le(&self) -> usize {
        if self.p3 == 0 { 256 } else { usize::from(self.p3) }
    }
}

impl Transport {
    /// Forgets waiting data: any command but GET RESPONSE does, and so does a reset.
    pub fn discard(&mut self) {
        self.waiting = None;
    }

    /// Whether data waits for GET RESPONSE.
    pub fn has_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// GET RESPONSE with Le `le` on the waiting data: `6Cxx` when Le is longer than what
    /// waits (the data stays), else Le bytes and `61xx` or `9000`.
    pub fn get_response(&mut self, le: usize) -> Vec<u8> {
        let Some(mut waiting) = self.waiting.take() else {
            return StatusWord::CONDITIONS_NOT_SATISFIED.to_bytes().to_vec();
        };
        let available = waiting.len().min(256);
        if le > available {
            let status = StatusWord::new(0x6C, length_byte(available));
            self.waiting = Some(waiting);
            return status.to_bytes().to_vec();
        }
        let rest = waiting.split_off(le);
        self.frame(waiting, rest)
    }

    /// The bytes on the wire for `reply`.
    pub fn send(&mut self, reply: Reply) -> Vec<u8> {
        match reply {
            Reply::Status(status) => status.to_bytes().to_vec(),
            Reply::Data(mut data, status) => {
                data.extend_from_slice(&status.to_bytes());
                data
            }
            Reply::Deferred(data) => self.frame(Vec::new(), data),
            Reply::Chained { now, rest } => self.frame(now, rest),
        }
    }

    /// `now`, then `61xx` keeping `rest` waiting, or `9000` when nothing is left.
    fn frame(&mut self, mut now: Vec<u8>, rest: Vec<u8>) -> Vec<u8> {
        if rest.is_empty() {
            now.extend_from_slice(&StatusWord::SUCCESS.to_bytes());
        } else {
            now.extend_from_slice(&[0x61, length_byte(rest.len())]);
            self.waiting = Some(rest);
        }
        now
    }
}

/// A length as SW2 of `61xx`/`6Cxx`: 256 and more as `00`.
fn length_byte(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_4_loses_its_le() {
        let tpdu = Tpdu::parse(&[0x00, 0x2A, 0x9E, 0x9A, 0x02, 0x01, 0x02, 0x00]);
        assert_eq!(tpdu.map(|t| (t.p3, t.data.to_vec())), Ok((2, vec![1, 2])));
    }

    #[test]
    fn extended_length_is_wrong_length() {
        let tpdu = Tpdu::parse(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x00]);
        assert_eq!(tpdu.map(|t| t.p3), Err(StatusWord::WRONG_LENGTH));
    }
}
