//! Tag-length-value data as cards store it.
//!
//! - [`simple`]: one-byte tags with `FF`-extended lengths, the layout of the Belgian eID
//!   (BELPIC) identity and address files.
//! - [`ber`]: the BER-TLV subset of ISO 7816-4 (multi-byte tags, definite lengths up to four
//!   bytes, constructed values), used by FCI templates, PKCS#15 and most card data objects.
//!
//! Parsers borrow from their input and never allocate; they yield elements one at a time and
//! stop at the first malformed one with a [`TlvError`] giving its offset.

pub mod ber;
pub mod simple;

/// Why TLV data could not be read or written. Offsets count bytes from the start of the data
/// given to the parser (for BER children, from the start of the outermost data) and point at
/// the first byte of the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlvError {
    /// The data ends inside the element's tag or length field.
    #[error("TLV data ends inside the tag or length of the element at offset {offset}")]
    Truncated {
        /// Offset of the element.
        offset: usize,
    },
    /// The element's length runs past the end of the data.
    #[error(
        "the element at offset {offset} declares {length} value bytes but only {available} \
         remain"
    )]
    LengthOverflow {
        /// Offset of the element.
        offset: usize,
        /// The declared length (`usize::MAX` if it does not fit a `usize`).
        length: usize,
        /// Bytes left after the length field.
        available: usize,
    },
    /// A BER indefinite length (`80`), which card data does not use.
    #[error("the element at offset {offset} has an indefinite length")]
    IndefiniteLength {
        /// Offset of the element.
        offset: usize,
    },
    /// A BER length field of more than four bytes, or the reserved `FF`.
    #[error("the element at offset {offset} has an unsupported length byte {first_byte:#04X}")]
    UnsupportedLength {
        /// Offset of the element.
        offset: usize,
        /// The first byte of the length field.
        first_byte: u8,
    },
    /// A BER tag of more than four bytes.
    #[error("the tag of the element at offset {offset} is longer than four bytes")]
    TagTooLong {
        /// Offset of the element.
        offset: usize,
    },
    /// BER elements nested deeper than [`ber::MAX_DEPTH`] levels.
    #[error("the element at offset {offset} is nested deeper than {max_depth} levels")]
    TooDeep {
        /// Offset of the element.
        offset: usize,
        /// The nesting limit.
        max_depth: usize,
    },
    /// A value too long for the length field of the encoding.
    #[error("a value of {length} bytes is too long to encode")]
    ValueTooLong {
        /// Length of the value.
        length: usize,
    },
}

impl From<TlvError> for crate::error::Error {
    /// TLV data comes from the card, so malformed data is an inconsistent card:
    /// [`Error::Internal`](crate::error::Error::Internal).
    fn from(err: TlvError) -> Self {
        Self::Internal(err.to_string())
    }
}
