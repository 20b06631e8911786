//! The card's files and how to read each in the fewest commands: one SELECT by absolute path,
//! then READ BINARY sized by what the file is known to hold (beid-card.md §1.3, §2).
//!
//! [`CardSession`] owns the conversation with the card for one operation. It selects the
//! Belpic applet only when a SELECT shows it is not the current one (the applet-select
//! fallback for cards whose ATR we do not know, and for cards another application left in the
//! card manager), and keeps every file it read, so an operation that needs a file twice reads
//! it once. It knows nothing of what the files mean.

use std::collections::HashMap;

use t1c_sdk::iso7816::{self, SelectReturn};
use t1c_sdk::{Card, Error, Result, StatusWord};

/// AID of the Belpic applet instance (RM17 §2.1, RM18 §2.2).
pub const APPLET_AID: [u8; 15] =
    [0xA0, 0x00, 0x00, 0x00, 0x30, 0x29, 0x05, 0x70, 0x00, 0xAD, 0x13, 0x10, 0x01, 0x01, 0xFF];

/// Most bytes one short READ BINARY returns (Le `00`).
const MAX_CHUNK: usize = 256;

/// A transparent file of the Belpic applet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum File {
    /// `DF00/5032` EF(TokenInfo), PKCS#15.
    TokenInfo,
    /// `DF00/5038` authentication certificate.
    AuthenticationCertificate,
    /// `DF00/5039` non-repudiation certificate.
    NonRepudiationCertificate,
    /// `DF00/503A` citizen (or foreigner) CA certificate.
    CaCertificate,
    /// `DF00/503B` root CA certificate.
    RootCertificate,
    /// `DF00/503C` National Register (RRN) certificate.
    RrnCertificate,
    /// `DF01/4031` EF(ID#RN), the identity file.
    Identity,
    /// `DF01/4032` EF(SGN#ID), the RRN's signature over the identity file.
    IdentitySignature,
    /// `DF01/4033` EF(ID#Address).
    Address,
    /// `DF01/4034` EF(SGN#Address).
    AddressSignature,
    /// `DF01/4035` EF(ID#Photo), a JPEG.
    Photo,
}

/// How much of a file is worth reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extent {
    /// Read to the end of the file.
    Whole,
    /// The file holds at most this many bytes: stop there without probing for more.
    AtMost(usize),
    /// A DER element, zero-padded: its header says how much to read. The number is the size
    /// of the first READ BINARY (enough to hold the header, and for short files all of it).
    Der(usize),
}

impl File {
    /// The absolute path, with the leading `3F00` every real client sends.
    pub fn path(self) -> [u8; 6] {
        let (df, fid): (u8, [u8; 2]) = match self {
            Self::TokenInfo => (0x00, [0x50, 0x32]),
            Self::AuthenticationCertificate => (0x00, [0x50, 0x38]),
            Self::NonRepudiationCertificate => (0x00, [0x50, 0x39]),
            Self::CaCertificate => (0x00, [0x50, 0x3A]),
            Self::RootCertificate => (0x00, [0x50, 0x3B]),
            Self::RrnCertificate => (0x00, [0x50, 0x3C]),
            Self::Identity => (0x01, [0x40, 0x31]),
            Self::IdentitySignature => (0x01, [0x40, 0x32]),
            Self::Address => (0x01, [0x40, 0x33]),
            Self::AddressSignature => (0x01, [0x40, 0x34]),
            Self::Photo => (0x01, [0x40, 0x35]),
        };
        [0x3F, 0x00, 0xDF, df, fid[0], fid[1]]
    }

    /// The file identifier, as upper-case hex (`4031`).
    pub fn id(self) -> String {
        let [.., high, low] = self.path();
        format!("{high:02X}{low:02X}")
    }

    fn extent(self) -> Extent {
        match self {
            // 41 bytes on every card (CONT17 §5, CONT18 §5).
            Self::TokenInfo => Extent::Der(41),
            Self::AuthenticationCertificate
            | Self::NonRepudiationCertificate
            | Self::CaCertificate
            | Self::RootCertificate
            | Self::RrnCertificate => Extent::Der(MAX_CHUNK),
            // 128 (RSA-1024), 256 (RSA-2048) or a zero-padded DER ECDSA signature of 256.
            Self::IdentitySignature | Self::AddressSignature => Extent::AtMost(MAX_CHUNK),
            Self::Identity | Self::Address | Self::Photo => Extent::Whole,
        }
    }
}

/// One operation's access to the card: selects and reads files, each at most once.
pub struct CardSession<'a> {
    card: &'a mut dyn Card,
    /// Whether this session selected the applet already (so a failed SELECT is final).
    applet_selected: bool,
    cache: HashMap<File, Vec<u8>>,
}

impl<'a> CardSession<'a> {
    /// A session on `card`; nothing is sent yet.
    pub fn new(card: &'a mut dyn Card) -> Self {
        Self { card, applet_selected: false, cache: HashMap::new() }
    }

    /// The card, for commands other than file reads.
    pub fn card(&mut self) -> &mut dyn Card {
        &mut *self.card
    }

    /// The bytes of `file`, read from the card the first time it is asked for. Trailing zero
    /// padding after a DER element (certificates, TokenInfo) is not read.
    ///
    /// # Errors
    /// [`Error::NotSupported`] when the card has no Belpic applet; the card's status word as
    /// an error when it refuses the SELECT or a READ BINARY; transport errors.
    pub fn file(&mut self, file: File) -> Result<Vec<u8>> {
        if let Some(content) = self.cache.get(&file) {
            return Ok(content.clone());
        }
        self.select(file)?;
        let content = read(&mut *self.card, file.extent())?;
        self.cache.insert(file, content.clone());
        Ok(content)
    }

    /// Runs `command` on the Belpic applet: when the card answers as if another application
    /// were selected (`6A82`, `6A86`, `6D00`, `6E00`), the applet is selected and the command
    /// sent again, once per session.
    ///
    /// # Errors
    /// [`Error::NotSupported`] when the card has no Belpic applet; the errors of `command`.
    pub fn on_applet<T>(
        &mut self,
        mut command: impl FnMut(&mut dyn Card) -> Result<CommandOutcome<T>>,
    ) -> Result<T> {
        match command(&mut *self.card)? {
            CommandOutcome::Done(value) => Ok(value),
            CommandOutcome::Refused(status) if self.applet_selected || !foreign(status) => {
                Err(status.to_error())
            }
            CommandOutcome::Refused(_) => {
                self.select_applet()?;
                match command(&mut *self.card)? {
                    CommandOutcome::Done(value) => Ok(value),
                    CommandOutcome::Refused(status) => Err(status.to_error()),
                }
            }
        }
    }

    /// SELECT by absolute path, with the applet fallback.
    fn select(&mut self, file: File) -> Result<()> {
        let path = file.path();
        self.on_applet(|card| {
            let status = iso7816::select_by_path(card, &path, true)?.status();
            Ok(if status.is_success() {
                CommandOutcome::Done(())
            } else {
                CommandOutcome::Refused(status)
            })
        })
    }

    fn select_applet(&mut self) -> Result<()> {
        let response = iso7816::select_by_aid(&mut *self.card, &APPLET_AID, SelectReturn::None)?;
        if !response.is_success() {
            return Err(Error::not_supported(format!(
                "no Belpic applet on this card (SELECT answered {})",
                response.status()
            )));
        }
        self.applet_selected = true;
        Ok(())
    }
}

/// What one attempt at a command gave: a result, or a status word the caller may retry after
/// selecting the applet.
pub enum CommandOutcome<T> {
    /// The command succeeded.
    Done(T),
    /// The card refused it with this status word.
    Refused(StatusWord),
}

/// Status words a card answers when the Belpic applet is not the selected application.
fn foreign(status: StatusWord) -> bool {
    matches!(
        status,
        StatusWord::FILE_NOT_FOUND
            | StatusWord::INCORRECT_P1P2
            | StatusWord::INS_NOT_SUPPORTED
            | StatusWord::CLA_NOT_SUPPORTED
    )
}

/// Reads the selected file as far as `extent` says.
fn read(card: &mut dyn Card, extent: Extent) -> Result<Vec<u8>> {
    match extent {
        Extent::Whole => iso7816::read_file(card, MAX_CHUNK),
        Extent::AtMost(max) => read_up_to(card, Vec::new(), max),
        Extent::Der(first) => {
            let head = read_chunk(card, 0, first)?;
            match der_length(&head) {
                Some(total) => read_up_to(card, head, total),
                // All zeros (no certificate in the file) or not DER: what was read is all
                // the caller gets to judge.
                None => Ok(head),
            }
        }
    }
}

/// Continues reading after `file` until it holds `max` bytes or the card's file ends. Every
/// READ BINARY asks for exactly what is still wanted (at most [`MAX_CHUNK`]), so a file of
/// the expected size costs no `6Cxx` correction and no probe past its end.
fn read_up_to(card: &mut dyn Card, mut file: Vec<u8>, max: usize) -> Result<Vec<u8>> {
    while file.len() < max {
        let wanted = (max - file.len()).min(MAX_CHUNK);
        let chunk = read_chunk(card, file.len(), wanted)?;
        let ended = chunk.len() < wanted;
        file.extend_from_slice(&chunk);
        if ended {
            break;
        }
    }
    file.truncate(max);
    Ok(file)
}

/// One READ BINARY of `len` bytes at `offset`; a shorter file comes back shorter (the `6Cxx`
/// correction happens in [`iso7816::transceive`]), an offset at the end gives nothing.
fn read_chunk(card: &mut dyn Card, offset: usize, len: usize) -> Result<Vec<u8>> {
    let offset = u16::try_from(offset)
        .ok()
        .filter(|offset| *offset <= iso7816::MAX_READ_OFFSET)
        .ok_or_else(|| Error::internal("a Belpic file is larger than READ BINARY addresses"))?;
    let len = u16::try_from(len).map_err(|_| Error::internal("READ BINARY length"))?;
    match iso7816::read_binary(card, offset, len) {
        Err(Error::StatusWord(StatusWord::WRONG_P1P2)) => Ok(Vec::new()),
        other => other,
    }
}

/// The total length (header included) of the DER element `bytes` starts with, if they start
/// with one: a tag other than `00`, then a definite length of at most three bytes.
pub fn der_length(bytes: &[u8]) -> Option<usize> {
    let [tag, first, rest @ ..] = bytes else { return None };
    if *tag == 0x00 {
        return None;
    }
    match *first {
        short @ 0x00..=0x7F => Some(2 + usize::from(short)),
        long @ 0x81..=0x83 => {
            let count = usize::from(long & 0x7F);
            let length =
                rest.get(..count)?.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b));
            Some(2 + count + length)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_length_reads_short_and_long_forms() {
        assert_eq!(der_length(&[0x30, 0x27]), Some(0x29));
        assert_eq!(der_length(&[0x30, 0x81, 0x90]), Some(3 + 0x90));
        assert_eq!(der_length(&[0x30, 0x82, 0x03, 0xE0]), Some(4 + 992));
        assert_eq!(der_length(&[0x00; 8]), None);
        assert_eq!(der_length(&[0x30, 0x82, 0x03]), None);
        assert_eq!(der_length(&[0x30, 0x80]), None);
    }

    #[test]
    fn paths_start_at_the_mf() {
        assert_eq!(File::Identity.path(), [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x31]);
        assert_eq!(File::RrnCertificate.path(), [0x3F, 0x00, 0xDF, 0x00, 0x50, 0x3C]);
        assert_eq!(File::Photo.id(), "4035");
    }
}
