//! [`ReaderError`]: everything that can go wrong between the host and a card.

use std::time::Duration;

use t1c_sdk::CardError;

use super::ReaderId;

/// Why a reader operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// The PC/SC service is not running, was stopped or restarted. The backend reconnects by
    /// itself when it is back.
    #[error("the PC/SC service is not available: {0}")]
    ServiceUnavailable(String),
    /// No reader with this id is currently known.
    #[error("no reader with id {0}")]
    UnknownReader(ReaderId),
    /// The reader went away (unplugged) during the operation.
    #[error("the reader is no longer available")]
    ReaderUnavailable,
    /// The reader has no card, or the card does not answer.
    #[error("no card in reader {0}")]
    NoCard(ReaderId),
    /// The card was removed during the operation.
    #[error("the card was removed")]
    CardRemoved,
    /// The card was reset by another application during the operation.
    #[error("the card was reset by another application")]
    CardReset,
    /// Another application holds the card exclusively.
    #[error("the card is in exclusive use by another application")]
    SharingViolation,
    /// Too many operations already wait for this reader.
    #[error("{waiting} operations already wait for reader {reader}")]
    QueueFull {
        /// The reader.
        reader: ReaderId,
        /// How many operations wait (the queue's capacity).
        waiting: usize,
    },
    /// The operations queued before this one on the reader did not finish in time.
    #[error("reader {reader} stayed busy for {waited:?}")]
    QueueTimeout {
        /// The reader.
        reader: ReaderId,
        /// How long this operation waited.
        waited: Duration,
    },
    /// The reader or card did not answer in time.
    #[error("the reader timed out")]
    Timeout,
    /// The PIN verification request cannot be expressed for this reader.
    #[error("invalid PIN verification request: {0}")]
    InvalidPinRequest(String),
    /// The simulated card refused the session.
    #[error("simulated card: {0}")]
    Simulator(CardError),
    /// Any other PC/SC failure.
    #[error("PC/SC {operation} failed: {detail}")]
    Pcsc {
        /// The PC/SC call that failed.
        operation: &'static str,
        /// The service's error.
        detail: String,
    },
}

impl ReaderError {
    /// Classifies the PC/SC error `error` returned by `operation` on reader `reader`.
    pub(crate) fn from_pcsc(
        operation: &'static str,
        reader: &ReaderId,
        error: pcsc::Error,
    ) -> Self {
        use pcsc::Error as E;
        match error {
            E::NoService | E::ServiceStopped | E::InvalidHandle | E::CommError | E::Shutdown => {
                Self::ServiceUnavailable(error.to_string())
            }
            E::RemovedCard => Self::CardRemoved,
            E::ResetCard => Self::CardReset,
            E::NoSmartcard | E::UnresponsiveCard | E::UnpoweredCard => Self::NoCard(reader.clone()),
            E::ReaderUnavailable | E::UnknownReader => Self::ReaderUnavailable,
            E::SharingViolation => Self::SharingViolation,
            E::Timeout => Self::Timeout,
            other => Self::Pcsc { operation, detail: other.to_string() },
        }
    }
}

impl From<ReaderError> for CardError {
    fn from(error: ReaderError) -> Self {
        match error {
            ReaderError::CardRemoved | ReaderError::NoCard(_) => CardError::CardRemoved,
            ReaderError::CardReset => CardError::CardReset,
            ReaderError::Timeout | ReaderError::QueueTimeout { .. } => CardError::Timeout,
            ReaderError::InvalidPinRequest(detail) => CardError::InvalidInput(detail),
            ReaderError::Simulator(error) => error,
            other => CardError::Transport(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_mean_service_unavailable() {
        let reader = ReaderId::from_name("r");
        for error in
            [pcsc::Error::NoService, pcsc::Error::ServiceStopped, pcsc::Error::InvalidHandle]
        {
            assert!(matches!(
                ReaderError::from_pcsc("transmit", &reader, error),
                ReaderError::ServiceUnavailable(_)
            ));
        }
    }

    #[test]
    fn removed_and_reset_cards_keep_their_meaning_down_to_the_module() {
        let reader = ReaderId::from_name("r");
        let removed = ReaderError::from_pcsc("transmit", &reader, pcsc::Error::RemovedCard);
        let reset = ReaderError::from_pcsc("transmit", &reader, pcsc::Error::ResetCard);
        assert_eq!(CardError::from(removed), CardError::CardRemoved);
        assert_eq!(CardError::from(reset), CardError::CardReset);
    }
}
