//! VERIFY of the cardholder PIN (reference 01, 3 tries; beid-card.md §4): an 8-byte ISO 9564
//! format 2 block `2L PP PP .. FF`, filled by the host or the reader's pinpad, never seen here.

use t1c_sdk::pin::PinVerifyRequest;
use t1c_sdk::{Pin, Result, StatusWord};

use crate::files::{CardSession, CommandOutcome};

/// Seconds a pinpad waits for the PIN.
const PINPAD_TIMEOUT_SECONDS: u8 = 30;

/// The VERIFY command with an empty format 2 block: `00 20 00 01 08 20 FF FF FF FF FF FF FF`.
pub fn verify_request() -> PinVerifyRequest {
    PinVerifyRequest::iso9564_format2(0x00, 0x01, PINPAD_TIMEOUT_SECONDS)
}

/// Verifies the PIN (`None`: on the reader's pinpad).
///
/// Like every command here it is sent again after selecting the applet when the card answers
/// as another application would; with a pinpad that rare case asks for the PIN twice.
///
/// # Errors
/// [`t1c_sdk::Error::PinWrong`] with the tries left, [`t1c_sdk::Error::PinBlocked`],
/// [`t1c_sdk::Error::PinCancelled`], [`t1c_sdk::Error::NotSupported`] without a PIN on a
/// reader without pinpad, other status words and transport errors.
pub fn verify(session: &mut CardSession<'_>, pin: Option<&Pin<'_>>) -> Result<()> {
    let request = verify_request();
    session.on_applet(|card| {
        let status = StatusWord::from_u16(card.verify_pin(&request, pin)?);
        Ok(if status.is_success() {
            CommandOutcome::Done(())
        } else {
            CommandOutcome::Refused(status)
        })
    })
}
