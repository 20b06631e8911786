//! [`BelpicCard`]: a persona's Belgian eID card as a [`VirtualCard`].

use super::AppletVersion;
use super::commands::{CardKeys, Session, State};
use super::crypto::keys::PublicKey;
use super::crypto::pki::{CertificateRole, TestPki};
use super::error::BelpicError;
use super::files::FileSystem;
use super::persona::Persona;
use super::pin::StoredPin;
use super::transport::{Tpdu, Transport};
use crate::simulator::VirtualCard;

/// A simulated Belgian eID card: the Belpic applet 1.7 or 1.8 with a persona's files, PIN
/// and keys, answering raw APDUs as the real card does under T=0.
///
/// ```no_run
/// # use t1c_sdk::simulator::belpic::{AppletVersion, BelpicCard, Persona};
/// # use t1c_sdk::simulator::{VirtualCard, VirtualReader};
/// let card = BelpicCard::new(&Persona::default_citizen(), AppletVersion::V1_8)?;
/// let reader = VirtualReader::new("Simulated reader 0");
/// reader.insert(Box::new(card));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct BelpicCard {
    persona: Persona,
    pki: TestPki,
    state: State,
    transport: Transport,
}

impl BelpicCard {
    /// A card for `persona` with a freshly generated test PKI (slow for 1.7: five RSA-2048
    /// keys; tests share a [`TestPki`] through [`BelpicCard::from_pki`]).
    ///
    /// # Errors
    /// [`BelpicError`] for a persona the card cannot hold, or when making keys,
    /// certificates, signatures or the photo fails.
    pub fn new(persona: &Persona, version: AppletVersion) -> Result<Self, BelpicError> {
        Self::from_pki(persona, &TestPki::generate(persona, version)?)
    }

    /// A card for `persona` using the keys and certificates of `pki`, and its applet version.
    /// The certificates keep the names of the persona the PKI was made for; the identity and
    /// address files are `persona`'s, signed with the PKI's RRN key.
    ///
    /// # Errors
    /// As [`BelpicCard::new`].
    pub fn from_pki(persona: &Persona, pki: &TestPki) -> Result<Self, BelpicError> {
        persona.validate()?;
        let files = FileSystem::build(persona, pki)?;
        let keys = CardKeys {
            authentication: pki.private_key(CertificateRole::Authentication).clone(),
            non_repudiation: pki.private_key(CertificateRole::NonRepudiation).clone(),
            basic: pki.basic_key().cloned(),
        };
        let state = State {
            version: pki.version(),
            serial: persona.chip_number(),
            files,
            keys,
            pin: StoredPin::new(&persona.pin)?,
            internal_authenticate_left: 5000,
            session: Session::default(),
        };
        Ok(Self {
            persona: persona.clone(),
            pki: pki.clone(),
            state,
            transport: Transport::default(),
        })
    }

    /// The persona the card belongs to.
    pub fn persona(&self) -> &Persona {
        &self.persona
    }

    /// The applet generation.
    pub fn version(&self) -> AppletVersion {
        self.state.version
    }

    /// The test PKI behind the card's certificates and keys.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// The DER certificate of `role` (the file holds it followed by zero padding).
    pub fn certificate(&self, role: CertificateRole) -> &[u8] {
        self.pki.certificate(role)
    }

    /// The public key certified for `role`; for the card keys, what verifies PSO:CDS output.
    pub fn public_key(&self, role: CertificateRole) -> PublicKey {
        self.pki.public_key(role)
    }

    /// The basic key's public half, which verifies INTERNAL AUTHENTICATE (1.8 only).
    pub fn basic_public_key(&self) -> Option<PublicKey> {
        self.pki.basic_public_key()
    }

    /// The bytes of the EF at the absolute `path`, with or without the leading `3F00`
    /// (e.g. `[0x3F, 0x00, 0xDF, 0x01, 0x40, 0x31]`), exactly as READ BINARY returns them.
    pub fn file(&self, path: &[u8]) -> Option<&[u8]> {
        self.state.files.file(path)
    }

    /// The current PIN (the persona's, unless CHANGE REFERENCE DATA replaced it).
    pub fn pin(&self) -> &str {
        &self.persona.pin
    }

    /// Tries left before the PIN blocks.
    pub fn pin_tries_left(&self) -> u8 {
        self.state.pin.tries_left()
    }

    /// The 16-byte chip serial number of GET CARD DATA, TokenInfo and identity tag 02.
    pub fn chip_number(&self) -> [u8; 16] {
        self.state.serial
    }
}

impl VirtualCard for BelpicCard {
    fn atr(&self) -> Vec<u8> {
        self.state.version.atr()
    }

    fn reset(&mut self) {
        self.transport.discard();
        self.state.session = Session::default();
    }

    fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let command = match Tpdu::parse(apdu) {
            Ok(command) => command,
            Err(status) => {
                self.transport.discard();
                return status.to_bytes().to_vec();
            }
        };
        let get_response = command.cla == 0x00 && command.ins == 0xC0 && command.data.is_empty();
        if get_response && self.transport.has_waiting() && self.state.session.applet_selected {
            if (command.p1, command.p2) != (0, 0) {
                self.transport.discard();
                return crate::status::StatusWord::WRONG_P1P2.to_bytes().to_vec();
            }
            return self.transport.get_response(command.le());
        }
        self.transport.discard();
        let reply = self.state.execute(&command);
        self.transport.send(reply)
    }
}
