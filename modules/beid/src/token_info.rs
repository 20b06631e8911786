//! `token.info`: GET CARD DATA and EF(TokenInfo) (`DF00/5032`, PKCS#15, beid-card.md §1.5):
//!
//! ```text
//! 30 27  02 01 <version>  04 10 <16-byte serial>  80 06 "BELPIC"  03 02 04 <token flags>
//!        9E 04 <graphical perso> <electrical perso> <electrical perso interface> <RFU>
//! ```
//!
//! `details` is the T1C v3 `BaseTokenInfo` as JSON: every field a string, as the published SDK
//! types them, except `changeCounter`, a number there. The card keeps no change counter, so it
//! is `null`. Added: `appletVersion` (`1.7`) and `cardData` (GET CARD DATA, base64).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use t1c_sdk::tlv::ber;
use t1c_sdk::{Error, Result, TokenInfo};

use crate::card_data::CardData;
use crate::files::{CardSession, File};
use crate::x509::hex;

/// The `details` of `token.info`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Details {
    raw_data: String,
    version: String,
    serial_number: String,
    label: String,
    prn_generation: String,
    eid_compliant: String,
    graphical_perso_version: String,
    version_rfu: String,
    electrical_perso_version: String,
    electrical_perso_interface_version: String,
    change_counter: Option<u32>,
    activated: String,
    applet_version: String,
    card_data: String,
}

/// Reads GET CARD DATA and EF(TokenInfo) into a [`TokenInfo`].
///
/// # Errors
/// [`Error::Internal`] for a malformed TokenInfo; the errors of [`CardData::read`] and
/// [`CardSession::file`].
pub fn read(session: &mut CardSession<'_>) -> Result<TokenInfo> {
    let card_data = CardData::read(session)?;
    let raw = session.file(File::TokenInfo)?;
    let malformed = |what: &str| Error::internal(format!("malformed EF(TokenInfo): {what}"));
    let sequence = ber::parse(&raw)
        .next()
        .ok_or_else(|| malformed("empty"))?
        .map_err(|err| malformed(&err.to_string()))?;
    let (mut version, mut serial, mut label, mut flags, mut perso) = (None, None, None, None, None);
    for element in sequence.children() {
        let element = element.map_err(|err| malformed(&err.to_string()))?;
        match element.tag().to_u32() {
            0x02 => version = Some(element.value()),
            0x04 => serial = Some(element.value()),
            0x80 => label = Some(element.value()),
            0x03 => flags = Some(element.value()),
            0x9E => perso = Some(element.value()),
            _ => {}
        }
    }
    let version = version.ok_or_else(|| malformed("no version"))?;
    let serial = serial.ok_or_else(|| malformed("no serial number"))?;
    let label = String::from_utf8_lossy(label.unwrap_or_default()).into_owned();
    // BIT STRING: unused-bit count, then bit 0 (readonly) as the most significant bit.
    let flag_byte = flags.and_then(|f| f.get(1)).copied().unwrap_or_default();
    let perso_byte =
        |index: usize| perso.and_then(|p| p.get(index)).map_or_else(String::new, |b| b.to_string());
    let details = Details {
        raw_data: BASE64.encode(&raw),
        version: version.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)).to_string(),
        serial_number: hex(serial),
        label: label.clone(),
        prn_generation: (flag_byte & 0x20 != 0).to_string(),
        eid_compliant: (flag_byte & 0x10 != 0).to_string(),
        graphical_perso_version: perso_byte(0),
        electrical_perso_version: perso_byte(1),
        electrical_perso_interface_version: perso_byte(2),
        version_rfu: perso_byte(3),
        change_counter: None,
        activated: card_data.activated().to_string(),
        applet_version: card_data.version_text(),
        card_data: BASE64.encode(&card_data.raw),
    };
    Ok(TokenInfo {
        serial_number: hex(serial),
        label,
        version: card_data.version_text(),
        details: serde_json::to_string(&details).map_err(|err| Error::internal(err.to_string()))?,
    })
}
