//! Why a simulated BELPIC card could not be made.

/// An error building a persona's card: its PKI, files or photo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BelpicError {
    /// The persona has a field the card cannot hold.
    #[error("invalid persona: {0}")]
    InvalidPersona(String),
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// A certificate could not be built or encoded.
    #[error("certificate: {0}")]
    Certificate(String),
    /// Signing the identity or address file failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The photo could not be encoded.
    #[error("photo encoding failed: {0}")]
    Photo(String),
    /// A stored test PKI ([`super::TestPki::from_pem`]) cannot be read or written.
    #[error("stored test PKI: {0}")]
    Stored(String),
    /// The test PKI was generated for another applet version than the card.
    #[error("the test PKI is for applet {pki:?}, not {card:?}")]
    VersionMismatch {
        /// Applet version of the PKI.
        pki: super::AppletVersion,
        /// Applet version asked for.
        card: super::AppletVersion,
    },
}
