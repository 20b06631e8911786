//! Which card this is: the ATRs of the Belpic generations (beid-card.md §1.1) and GET CARD
//! DATA (`80 E4 00 00 1C`, RM17 §6.9, RM18 §6.14), whose byte 21 is the applet version.
//!
//! The ATR is a hint that saves a command; the card is still asked when the ATR is not one
//! of the known ones (the applet-select fallback accepts such cards).

use t1c_sdk::apdu::Command;
use t1c_sdk::{AtrPattern, Error, Result, iso7816};

use crate::files::{CardSession, CommandOutcome};

/// `3B 98 _ 40 _ A5 03 01 01 01 AD 13 _`: applets 1.0, 1.1 and 1.7 (eid-mw's mask form).
pub fn atr_v1_1_to_1_7() -> AtrPattern {
    AtrPattern::new(
        [0x3B, 0x98, 0x00, 0x40, 0x00, 0xA5, 0x03, 0x01, 0x01, 0x01, 0xAD, 0x13, 0x00],
        [0xFF, 0xFF, 0x00, 0xFF, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00],
    )
}

/// `3B 7F 96 00 00 80 31 80 65 B0 85 04 01 20 12 0F FF 82 90 00`: applet 1.8.
pub fn atr_v1_8() -> AtrPattern {
    AtrPattern::exact([
        0x3B, 0x7F, 0x96, 0x00, 0x00, 0x80, 0x31, 0x80, 0x65, 0xB0, 0x85, 0x04, 0x01, 0x20, 0x12,
        0x0F, 0xFF, 0x82, 0x90, 0x00,
    ])
}

/// The kind of the card's signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA-1024 (1.1) or RSA-2048 (1.7): PKCS#1 v1.5 signatures.
    Rsa,
    /// ECDSA P-384 (1.8): plain `r || s` from the card.
    Ec,
}

/// The 28 bytes of GET CARD DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardData {
    /// Bytes 0-15: the chip serial number.
    pub serial: [u8; 16],
    /// Byte 21: applet version, `11`, `17` or `18`.
    pub applet_version: u8,
    /// Byte 27: applet life cycle, `0F` once personalised.
    pub life_cycle: u8,
    /// The whole response.
    pub raw: Vec<u8>,
}

impl CardData {
    /// Sends GET CARD DATA on the Belpic applet.
    ///
    /// # Errors
    /// [`Error::NotSupported`] without a Belpic applet; [`Error::Internal`] for an answer of
    /// fewer than 28 bytes; the card's status word; transport errors.
    pub fn read(session: &mut CardSession<'_>) -> Result<Self> {
        let command = Command::new(0x80, 0xE4, 0x00, 0x00).with_le(0x1C)?;
        let raw = session.on_applet(|card| {
            let response = iso7816::transceive(card, &command)?;
            Ok(if response.is_success() {
                CommandOutcome::Done(response.into_data())
            } else {
                CommandOutcome::Refused(response.status())
            })
        })?;
        let short = || Error::internal(format!("GET CARD DATA returned {} bytes", raw.len()));
        let serial = raw.get(..16).and_then(|s| <[u8; 16]>::try_from(s).ok()).ok_or_else(short)?;
        let applet_version = *raw.get(21).ok_or_else(short)?;
        let life_cycle = *raw.get(27).ok_or_else(short)?;
        Ok(Self { serial, applet_version, life_cycle, raw })
    }

    /// The applet version as `major.minor` (`1.7`).
    pub fn version_text(&self) -> String {
        format!("{}.{}", self.applet_version >> 4, self.applet_version & 0x0F)
    }

    /// Whether the applet is personalised and issued.
    pub fn activated(&self) -> bool {
        self.life_cycle == 0x0F
    }
}

/// The card's key type: from the ATR when it is a known one, else from GET CARD DATA.
///
/// # Errors
/// The errors of [`CardData::read`].
pub fn key_type(session: &mut CardSession<'_>) -> Result<KeyType> {
    let atr = session.card().atr();
    if atr_v1_8().matches(&atr) {
        return Ok(KeyType::Ec);
    }
    if atr_v1_1_to_1_7().matches(&atr) {
        return Ok(KeyType::Rsa);
    }
    let data = CardData::read(session)?;
    Ok(if data.applet_version >= 0x18 { KeyType::Ec } else { KeyType::Rsa })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_patterns_match_every_generation() {
        let v1_7 = [0x3B, 0x98, 0x13, 0x40, 0x0A, 0xA5, 0x03, 0x01, 0x01, 0x01, 0xAD, 0x13, 0x11];
        let v1_0 = [0x3B, 0x98, 0x94, 0x40, 0xFF, 0xA5, 0x03, 0x01, 0x01, 0x01, 0xAD, 0x13, 0x10];
        assert!(atr_v1_1_to_1_7().matches(&v1_7));
        assert!(atr_v1_1_to_1_7().matches(&v1_0));
        assert!(!atr_v1_8().matches(&v1_7));
    }
}
