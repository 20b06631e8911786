//! The card a module talks to: the [`Card`] trait and the errors of the transport under it.
//!
//! In a built module the card is the host's `reader.card` resource; in a native unit test it is
//! an in-process card (the SDK's simulator or a test double). Module logic takes `&mut dyn Card`
//! and never knows which.

use crate::pin::{Pin, PinVerifyRequest, PinpadCapabilities};

/// A smart card held exclusively for the current operation.
pub trait Card {
    /// Answer-to-reset of the card.
    fn atr(&self) -> Vec<u8>;

    /// Sends one command APDU and returns the complete response (data and status bytes).
    ///
    /// This is the raw exchange: no GET RESPONSE chaining, no Le correction. Use
    /// [`crate::iso7816::transceive`] for the ISO 7816 status-word handling.
    ///
    /// # Errors
    /// [`CardError`] when the card or the reader fails.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError>;

    /// What the reader's keypad can do. Readers without one report nothing.
    fn pinpad(&self) -> PinpadCapabilities {
        PinpadCapabilities::default()
    }

    /// Sends the VERIFY described by `request`, the PIN filled in by whoever holds it: the
    /// host (from `pin`) or the reader's keypad (when `pin` is `None`). Returns the card's
    /// status word.
    ///
    /// # Errors
    /// [`CardError::NotSupported`] without a PIN on a reader without keypad, and any transport
    /// error.
    fn verify_pin(
        &mut self,
        request: &PinVerifyRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError>;
}

/// What can go wrong below the module: in the reader, the PC/SC service or the card's presence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The card was removed during the operation.
    #[error("card removed")]
    CardRemoved,
    /// The card was reset by another application.
    #[error("card reset by another application")]
    CardReset,
    /// The operation did not finish before the deadline.
    #[error("card operation timed out")]
    Timeout,
    /// The reader, driver or PC/SC service failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The user cancelled PIN entry.
    #[error("PIN entry cancelled")]
    PinCancelled,
    /// The device cannot do this.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The request to the card layer was malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
