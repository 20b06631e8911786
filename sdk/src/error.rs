//! The error a module returns to the host, one case per T1C error the API can report.

use crate::card::CardError;
use crate::status::StatusWord;

/// Result alias for module operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a module operation can fail with. Mirrors the contract's `module-error`; the host maps
/// each case to one T1C error code and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The card was removed during the operation.
    #[error("card removed")]
    CardRemoved,
    /// The card was reset by another application during the operation.
    #[error("card reset")]
    CardReset,
    /// The card, the reader or the user did not answer in time.
    #[error("timed out")]
    Timeout,
    /// The reader, driver or PC/SC service failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// Wrong PIN; this many tries are left ([`Error::PIN_TRIES_UNKNOWN`]: the token does not
    /// say).
    #[error("wrong PIN{}", tries_left(*.0))]
    PinWrong(u8),
    /// The PIN is blocked.
    #[error("PIN blocked")]
    PinBlocked,
    /// The user cancelled PIN entry.
    #[error("PIN entry cancelled")]
    PinCancelled,
    /// The module or the card does not support the operation.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The card answered with an unexpected status word.
    #[error("card returned status {0}")]
    StatusWord(StatusWord),
    /// The request is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A bug or an inconsistent card.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The tries count of [`Error::PinWrong`] when the token does not tell (PKCS#11 reports
    /// only "few left" and "final try").
    pub const PIN_TRIES_UNKNOWN: u8 = u8::MAX;

    /// Shorthand for [`Error::NotSupported`].
    pub fn not_supported(what: impl Into<String>) -> Self {
        Self::NotSupported(what.into())
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid_input(what: impl Into<String>) -> Self {
        Self::InvalidInput(what.into())
    }

    /// Shorthand for [`Error::Internal`].
    pub fn internal(what: impl Into<String>) -> Self {
        Self::Internal(what.into())
    }
}

fn tries_left(tries: u8) -> String {
    if tries == Error::PIN_TRIES_UNKNOWN { String::new() } else { format!(", {tries} tries left") }
}

impl From<CardError> for Error {
    fn from(err: CardError) -> Self {
        match err {
            CardError::CardRemoved => Self::CardRemoved,
            CardError::CardReset => Self::CardReset,
            CardError::Timeout => Self::Timeout,
            CardError::Transport(msg) => Self::Transport(msg),
            CardError::PinCancelled => Self::PinCancelled,
            CardError::NotSupported(msg) => Self::NotSupported(msg),
            CardError::InvalidInput(msg) => Self::InvalidInput(msg),
        }
    }
}
