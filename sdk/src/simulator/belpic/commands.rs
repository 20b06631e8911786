//! What each Belpic command does to the card's state and what it answers (RM17 §6,
//! RM18 §6): SELECT, READ BINARY, READ RECORD, VERIFY, CHANGE REFERENCE DATA, MSE:SET,
//! PSO:CDS, INTERNAL AUTHENTICATE, GET CARD DATA, LOG OFF, and GET CHALLENGE.
//!
//! Framing (P3, `61xx`, GET RESPONSE) is the transport's; this module sees a [`Tpdu`] and
//! returns a [`Reply`]. Nothing here panics on any input.

use rand_core::{OsRng, RngCore as _};

use super::AppletVersion;
use super::crypto::keys::{PrivateKey, SignError};
use super::files::{Df, EfId, FileSystem, Node};
use super::identity::records;
use super::pin::{AccessRights, Check, StoredPin, is_valid_block};
use super::profile::{APPLET_AID, BELPIC_DF_AID, ID_DF_AID};
use super::transport::{Reply, Tpdu};
use crate::status::StatusWord;

/// INTERNAL AUTHENTICATE calls allowed between two successful VERIFY (RM18 §4).
const INTERNAL_AUTHENTICATE_LIMIT: u32 = 5000;

/// `6881`: logical channel not supported.
const LOGICAL_CHANNEL_NOT_SUPPORTED: StatusWord = StatusWord::new(0x68, 0x81);
/// `6884`: command chaining not supported.
const CHAINING_NOT_SUPPORTED: StatusWord = StatusWord::new(0x68, 0x84);
/// `6981`: command incompatible with file structure.
const NOT_STRUCTURED: StatusWord = StatusWord::new(0x69, 0x81);
/// `6986`: command not allowed, no current EF.
const NO_CURRENT_EF: StatusWord = StatusWord::new(0x69, 0x86);
/// `6A87`: Lc inconsistent with P1-P2.
const LC_INCONSISTENT: StatusWord = StatusWord::new(0x6A, 0x87);
/// `6400`: no precise diagnosis.
const NO_DIAGNOSIS: StatusWord = StatusWord::new(0x64, 0x00);

/// The keys of the card, by reference.
#[derive(Debug, Clone)]
pub struct CardKeys {
    /// `82`, authentication.
    pub authentication: PrivateKey,
    /// `83`, non-repudiation.
    pub non_repudiation: PrivateKey,
    /// `81`, the basic card key (1.8).
    pub basic: Option<PrivateKey>,
}

/// Everything the applet keeps: files and keys, the PIN, and the volatile session state.
#[derive(Debug, Clone)]
pub struct State {
    /// The applet generation.
    pub version: AppletVersion,
    /// The chip serial (GET CARD DATA bytes 0-15).
    pub serial: [u8; 16],
    /// The file system.
    pub files: FileSystem,
    /// The private keys.
    pub keys: CardKeys,
    /// The cardholder PIN and its try counter.
    pub pin: StoredPin,
    /// INTERNAL AUTHENTICATE calls left before the next successful VERIFY.
    pub internal_authenticate_left: u32,
    /// Volatile state, reset with the card.
    pub session: Session,
}

/// What a reset clears.
#[derive(Debug, Clone)]
pub struct Session {
    /// Whether the Belpic applet is selected (a SELECT of the empty AID selects the card
    /// manager instead).
    pub applet_selected: bool,
    /// The current DF.
    pub df: Df,
    /// The current EF, if one is selected.
    pub ef: Option<EfId>,
    /// The security environment of MSE:SET: algorithm and key reference.
    pub environment: Option<(u8, u8)>,
    /// What the PIN grants.
    pub rights: AccessRights,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            applet_selected: true,
            df: Df::Mf,
            ef: None,
            environment: None,
            rights: AccessRights::default(),
        }
    }
}

/// Commands of the ISO class (CLA `00`).
const ISO_INS: [u8; 10] = [0xA4, 0xB0, 0xC0, 0x20, 0x24, 0x22, 0x2A, 0x88, 0x84, 0x2C];
/// Commands of the proprietary class (CLA `80`).
const PROPRIETARY_INS: [u8; 3] = [0xE4, 0xE6, 0xB2];
/// Commands whose P3 is Le: they return data and take none.
const OUTGOING_INS: [u8; 5] = [0xB0, 0xC0, 0xE4, 0xB2, 0x84];

impl State {
    /// Executes one command (GET RESPONSE on waiting data never gets here).
    pub fn execute(&mut self, c: &Tpdu<'_>) -> Reply {
        let reply = self.dispatch(c);
        self.session.rights.after_command(self.version.nonrep_slack());
        reply
    }

    fn dispatch(&mut self, c: &Tpdu<'_>) -> Reply {
        if !self.session.applet_selected {
            return self.card_manager(c);
        }
        if c.cla & 0x03 != 0 {
            return Reply::Status(LOGICAL_CHANNEL_NOT_SUPPORTED);
        }
        let (known, other) = match c.cla & 0xFC {
            0x00 => (ISO_INS.as_slice(), PROPRIETARY_INS.as_slice()),
            0x80 => (PROPRIETARY_INS.as_slice(), ISO_INS.as_slice()),
            0x10 | 0x90 => return Reply::Status(CHAINING_NOT_SUPPORTED),
            _ => return Reply::Status(StatusWord::CLA_NOT_SUPPORTED),
        };
        let exists =
            |ins| known.contains(&ins) && (ins != 0xB2 || self.version == AppletVersion::V1_8);
        if !exists(c.ins) {
            let status = if other.contains(&c.ins) {
                StatusWord::CLA_NOT_SUPPORTED
            } else {
                StatusWord::INS_NOT_SUPPORTED
            };
            return Reply::Status(status);
        }
        let outgoing = OUTGOING_INS.contains(&c.ins);
        // P3 is Le for outgoing commands: data would be a different command. For the others
        // P3 is Lc, and a P3 without the data that should follow is malformed.
        if (outgoing && !c.data.is_empty()) || (!outgoing && c.data.is_empty() && c.p3 != 0) {
            return Reply::Status(StatusWord::WRONG_LENGTH);
        }
        match c.ins {
            0xA4 => self.select(c),
            0xB0 => self.read_binary(c),
            0xB2 => self.read_record(c),
            0x20 => self.verify(c),
            0x24 => self.change_reference_data(c),
            0x22 => self.manage_security_environment(c),
            0x2A => self.compute_digital_signature(c),
            0x88 => self.internal_authenticate(c),
            0xE4 => self.card_data(c),
            0xE6 => self.log_off(c),
            0x84 => challenge(c),
            // GET RESPONSE with nothing waiting.
            0xC0 => Reply::Status(StatusWord::CONDITIONS_NOT_SATISFIED),
            // RESET RETRY COUNTER needs the administrator role, which no reader has.
            _ => Reply::Status(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
        }
    }

    /// After a SELECT of the empty AID the card manager answers: it knows the Belpic applet's
    /// AID and nothing of Belpic's commands.
    fn card_manager(&mut self, c: &Tpdu<'_>) -> Reply {
        if c.cla == 0x00 && c.ins == 0xA4 && c.p1 == 0x04 {
            if c.data == APPLET_AID {
                self.session = Session::default();
                return ok();
            }
            return Reply::Status(StatusWord::FILE_NOT_FOUND);
        }
        Reply::Status(StatusWord::INS_NOT_SUPPORTED)
    }

    /// SELECT FILE `00 A4 P1 0C`: by FID (02), by AID (04), by path (08, with or without
    /// 3F00). No FCI is ever returned.
    fn select(&mut self, c: &Tpdu<'_>) -> Reply {
        // P2 00 only for applet selection by AID, which the Java Card runtime handles.
        if c.p2 != 0x0C && !(c.p1 == 0x04 && c.p2 == 0x00) {
            return Reply::Status(StatusWord::INCORRECT_P1P2);
        }
        let node = match c.p1 {
            0x04 => return self.select_aid(c.data),
            0x02 => match <[u8; 2]>::try_from(c.data) {
                Ok(fid) => self.files.select_fid(self.session.df, fid),
                Err(_) => return Reply::Status(LC_INCONSISTENT),
            },
            0x08 if c.data.is_empty() || !c.data.len().is_multiple_of(2) => {
                return Reply::Status(LC_INCONSISTENT);
            }
            0x08 => self.files.select_path(c.data),
            _ => return Reply::Status(StatusWord::INCORRECT_P1P2),
        };
        match node {
            Some(Node::Df(df)) => self.session.df = df,
            Some(Node::Ef(df, ef)) => {
                self.session.df = df;
                self.session.ef = Some(ef);
                return ok();
            }
            None => return Reply::Status(StatusWord::FILE_NOT_FOUND),
        }
        self.session.ef = None;
        ok()
    }

    fn select_aid(&mut self, aid: &[u8]) -> Reply {
        if aid.is_empty() {
            // The card manager takes over until the applet is selected again or the card
            // reset (RM18 §6.6 note).
            self.session.applet_selected = false;
            return ok();
        }
        if !(5..=16).contains(&aid.len()) {
            return Reply::Status(LC_INCONSISTENT);
        }
        let df = if aid == APPLET_AID {
            Df::Mf
        } else if aid == BELPIC_DF_AID {
            Df::Belpic
        } else if aid == ID_DF_AID {
            Df::Id
        } else {
            return Reply::Status(StatusWord::FILE_NOT_FOUND);
        };
        self.session.df = df;
        self.session.ef = None;
        ok()
    }

    /// READ BINARY `00 B0 OFF_H OFF_L Le`: `6B00` from the end of the file on, `6Cxx` when
    /// Le asks for more than is left.
    fn read_binary(&mut self, c: &Tpdu<'_>) -> Reply {
        let Some(ef) = self.session.ef else { return Reply::Status(NO_CURRENT_EF) };
        let file = self.files.content(ef);
        // Bit 8 of P1 set would be a short EF identifier; Belpic offsets stay below 32768.
        let offset = usize::from(u16::from_be_bytes([c.p1, c.p2]));
        if c.p1 & 0x80 != 0 || offset >= file.len() {
            return Reply::Status(StatusWord::WRONG_P1P2);
        }
        let left = file.len() - offset;
        if c.le() > left {
            return Reply::Status(wrong_le(left));
        }
        Reply::Data(file[offset..offset + c.le()].to_vec(), StatusWord::SUCCESS)
    }

    /// READ RECORD `80 B2 first last Le` (1.8): the TLV fields of EF(ID#RN) or
    /// EF(ID#Address) with tags `first..=last`.
    fn read_record(&mut self, c: &Tpdu<'_>) -> Reply {
        let Some(ef) = self.session.ef else { return Reply::Status(NO_CURRENT_EF) };
        if !self.files.is_structured(ef) {
            return Reply::Status(NOT_STRUCTURED);
        }
        if c.p2 < c.p1 {
            return Reply::Status(StatusWord::RECORD_NOT_FOUND);
        }
        let mut data = records(self.files.content(ef), c.p1, c.p2);
        if data.is_empty() {
            return Reply::Status(StatusWord::RECORD_NOT_FOUND);
        }
        if c.p3 == 0 {
            // Le 00: everything, chained through GET RESPONSE past 256 bytes.
            if data.len() <= 256 {
                return Reply::Data(data, StatusWord::SUCCESS);
            }
            let rest = data.split_off(256);
            return Reply::Chained { now: data, rest };
        }
        if c.le() > data.len() {
            return Reply::Status(wrong_le(data.len()));
        }
        data.truncate(c.le());
        Reply::Data(data, StatusWord::SUCCESS)
    }

    /// VERIFY `00 20 00 01 08 <PIN block>`; with no data, the status probe that costs no try.
    fn verify(&mut self, c: &Tpdu<'_>) -> Reply {
        if let Some(status) = pin_reference_error(c) {
            return Reply::Status(status);
        }
        if c.data.is_empty() {
            let status = if self.pin.tries_left() == 0 {
                StatusWord::AUTH_METHOD_BLOCKED
            } else if self.session.rights.is_verified() {
                StatusWord::SUCCESS
            } else {
                tries_left(self.pin.tries_left())
            };
            return Reply::Status(status);
        }
        if c.data.len() != 8 {
            return Reply::Status(StatusWord::WRONG_LENGTH);
        }
        Reply::Status(self.present_pin(c.data))
    }

    /// CHANGE REFERENCE DATA `00 24 00 01 10 <old block> <new block>`.
    fn change_reference_data(&mut self, c: &Tpdu<'_>) -> Reply {
        if let Some(status) = pin_reference_error(c) {
            return Reply::Status(status);
        }
        if self.pin.tries_left() == 0 {
            return Reply::Status(StatusWord::AUTH_METHOD_BLOCKED);
        }
        let Some((old, new)) = c.data.split_at_checked(8).filter(|_| c.data.len() == 16) else {
            return Reply::Status(StatusWord::WRONG_LENGTH);
        };
        let Ok(new) = <[u8; 8]>::try_from(new) else {
            return Reply::Status(StatusWord::WRONG_LENGTH);
        };
        if !is_valid_block(&new) {
            return Reply::Status(StatusWord::WRONG_DATA);
        }
        let status = self.present_pin(old);
        if status.is_success() {
            self.pin.replace(new);
        }
        Reply::Status(status)
    }

    /// Compares a PIN block; any failure drops every access right (RM18 §5.1).
    fn present_pin(&mut self, block: &[u8]) -> StatusWord {
        match self.pin.check(block) {
            Check::Correct => {
                self.session.rights.grant();
                self.internal_authenticate_left = INTERNAL_AUTHENTICATE_LIMIT;
                StatusWord::SUCCESS
            }
            Check::Wrong(left) => {
                self.session.rights.clear();
                tries_left(left)
            }
            Check::Blocked => {
                self.session.rights.clear();
                StatusWord::AUTH_METHOD_BLOCKED
            }
        }
    }

    /// MSE:SET `00 22 41 B6 05 04 80 <algorithm> 84 <key>`.
    fn manage_security_environment(&mut self, c: &Tpdu<'_>) -> Reply {
        if (c.p1, c.p2) != (0x41, 0xB6) {
            return Reply::Status(StatusWord::WRONG_P1P2);
        }
        let [0x04, tag_algorithm, algorithm, tag_key, key] = *c.data else {
            return Reply::Status(StatusWord::WRONG_LENGTH);
        };
        if (tag_algorithm, tag_key) != (0x80, 0x84) {
            return Reply::Status(StatusWord::WRONG_DATA);
        }
        let Some(private) = self.key(key) else {
            return Reply::Status(StatusWord::REFERENCED_DATA_NOT_FOUND);
        };
        if !private.supports(algorithm) {
            return Reply::Status(StatusWord::WRONG_DATA);
        }
        self.session.environment = Some((algorithm, key));
        ok()
    }

    /// PSO:COMPUTE DIGITAL SIGNATURE `00 2A 9E 9A Lc <DTBS>`: the key and algorithm of the
    /// security environment, under the PIN rules of the key.
    fn compute_digital_signature(&mut self, c: &Tpdu<'_>) -> Reply {
        if (c.p1, c.p2) != (0x9E, 0x9A) {
            return Reply::Status(StatusWord::WRONG_P1P2);
        }
        let Some((algorithm, key)) = self.session.environment else {
            return Reply::Status(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        let allowed = match key {
            0x82 => self.session.rights.authorize_authentication(),
            0x83 => self.session.rights.authorize_non_repudiation(self.version.nonrep_slack()),
            // The basic key never signs through PSO (access condition NEV).
            _ => false,
        };
        if !allowed {
            return Reply::Status(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        let Some(private) = self.key(key) else {
            return Reply::Status(StatusWord::REFERENCED_DATA_NOT_FOUND);
        };
        sign(private, algorithm, c.data)
    }

    /// INTERNAL AUTHENTICATE `00 88 02 81 32 94 30 <challenge>` (1.8): ECDSA with the basic
    /// key over a 48-byte challenge, free of PIN.
    fn internal_authenticate(&mut self, c: &Tpdu<'_>) -> Reply {
        if self.version == AppletVersion::V1_7 {
            // 1.7 has an RSA variant, not publicly documented; it is not simulated.
            return Reply::Status(StatusWord::INS_NOT_SUPPORTED);
        }
        if c.p2 != 0x81 {
            return Reply::Status(StatusWord::REFERENCED_DATA_NOT_FOUND);
        }
        // A P-384 basic key signs with ECDSA SHA-2-384 only (RM18 table 33).
        if c.p1 != 0x02 {
            return Reply::Status(StatusWord::WRONG_P1P2);
        }
        let [tag, len, challenge @ ..] = c.data else {
            return Reply::Status(StatusWord::WRONG_LENGTH);
        };
        if usize::from(*len) != challenge.len() {
            return Reply::Status(StatusWord::WRONG_LENGTH);
        }
        if *tag != 0x94 || challenge.len() != 48 {
            return Reply::Status(StatusWord::WRONG_DATA);
        }
        if self.internal_authenticate_left == 0 {
            return Reply::Status(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let Some(basic) = self.keys.basic.as_ref() else {
            return Reply::Status(StatusWord::REFERENCED_DATA_NOT_FOUND);
        };
        let reply = sign(basic, 0x02, challenge);
        if matches!(reply, Reply::Deferred(_)) {
            self.internal_authenticate_left -= 1;
            self.session.environment = None;
        }
        reply
    }

    /// GET CARD DATA `80 E4 00 P2 Le`: 28 bytes, or 31 with the PIN tries (P2 01, 1.8).
    fn card_data(&mut self, c: &Tpdu<'_>) -> Reply {
        let with_tries = match (c.p1, c.p2, self.version) {
            (0x00, 0x00, _) => false,
            (0x00, 0x01, AppletVersion::V1_8) => true,
            _ => return Reply::Status(StatusWord::WRONG_P1P2),
        };
        let mut data = self.serial.to_vec();
        data.extend_from_slice(&self.version.card_data_tail());
        if with_tries {
            data.extend_from_slice(&[self.pin.tries_left(), 0xFF, 0xFF]);
        }
        let le = c.le();
        if le > data.len() {
            return Reply::Status(wrong_le(data.len()));
        }
        if le < data.len() {
            // A short Le gets the first bytes and the rest through GET RESPONSE.
            let rest = data.split_off(le);
            return Reply::Chained { now: data, rest };
        }
        Reply::Data(data, StatusWord::SUCCESS)
    }

    /// LOG OFF `80 E6 00 00`: drops the PIN's access rights.
    fn log_off(&mut self, c: &Tpdu<'_>) -> Reply {
        if (c.p1, c.p2) != (0, 0) {
            return Reply::Status(StatusWord::WRONG_P1P2);
        }
        self.session.rights.clear();
        ok()
    }

    fn key(&self, reference: u8) -> Option<&PrivateKey> {
        match reference {
            0x82 => Some(&self.keys.authentication),
            0x83 => Some(&self.keys.non_repudiation),
            0x81 => self.keys.basic.as_ref(),
            _ => None,
        }
    }
}

/// GET CHALLENGE `00 84 00 00 Le`: Le random bytes. Not in the reference manuals' command
/// tables, but answered by real cards (commons-eid uses it).
fn challenge(c: &Tpdu<'_>) -> Reply {
    if (c.p1, c.p2) != (0, 0) {
        return Reply::Status(StatusWord::WRONG_P1P2);
    }
    let mut data = vec![0u8; c.le()];
    OsRng.fill_bytes(&mut data);
    Reply::Data(data, StatusWord::SUCCESS)
}

/// A card-side signature as case 4 output, or the status word of its failure.
fn sign(key: &PrivateKey, algorithm: u8, data: &[u8]) -> Reply {
    match key.sign_card(algorithm, data, &mut OsRng) {
        Ok(signature) => Reply::Deferred(signature),
        Err(SignError::WrongLength) => Reply::Status(StatusWord::WRONG_LENGTH),
        Err(SignError::UnsupportedAlgorithm) => Reply::Status(StatusWord::WRONG_DATA),
        Err(SignError::Failed) => Reply::Status(NO_DIAGNOSIS),
    }
}

/// P1 must be 00 and P2 the cardholder PIN, 01.
fn pin_reference_error(c: &Tpdu<'_>) -> Option<StatusWord> {
    if c.p1 != 0x00 {
        Some(StatusWord::INCORRECT_P1P2)
    } else if c.p2 != 0x01 {
        Some(StatusWord::REFERENCED_DATA_NOT_FOUND)
    } else {
        None
    }
}

fn ok() -> Reply {
    Reply::Status(StatusWord::SUCCESS)
}

/// `63Cx`.
fn tries_left(left: u8) -> StatusWord {
    StatusWord::new(0x63, 0xC0 | (left & 0x0F))
}

/// `6Cxx` for `available` bytes (below 256 wherever it is used).
fn wrong_le(available: usize) -> StatusWord {
    StatusWord::new(0x6C, u8::try_from(available).unwrap_or(0))
}
