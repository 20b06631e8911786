//! The values of the `pkcs11` interface on the host side. What a token says about itself and
//! its objects, and what a caller may ask for, are the SDK's types (written once, with serde
//! under its `serde` feature); what can go wrong in the host is [`Pkcs11Error`], richer than the
//! contract's `TokenError` (worker crashes, library loads, stale sessions).
//!
//! These types cross the worker pipe (serde), so they hold no pointer, no library path and no PIN.

use serde::{Deserialize, Serialize};

pub use t1c_sdk::HashAlgorithm;
pub use t1c_sdk::pkcs11::{
    KeyType, MechanismFlags, MechanismInfo, ObjectClass, ObjectInfo, ObjectQuery, PinTries,
    SignatureScheme, TokenFlags, TokenInfo,
};

/// What can go wrong in a PKCS#11 operation. Never contains a PIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The library did not answer before the deadline; its worker was killed and restarts on the
    /// next call.
    #[error("the PKCS#11 library did not answer in time")]
    Timeout,
    /// The library's worker process died during the call (exit status or signal).
    #[error("the PKCS#11 worker crashed: {0}")]
    WorkerCrashed(String),
    /// The token was removed from its slot.
    #[error("the token was removed")]
    TokenRemoved,
    /// The PIN was wrong.
    #[error("incorrect PIN ({0:?})")]
    PinIncorrect(PinTries),
    /// The PIN is locked.
    #[error("the PIN is locked")]
    PinLocked,
    /// The operation needs a login first.
    #[error("the user is not logged in")]
    NotLoggedIn,
    /// No object matches (or the handle is not an object of this session).
    #[error("no such object")]
    ObjectNotFound,
    /// The token or its library does not support the mechanism or operation.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The request is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Any other PKCS#11 return value, by name (`CKR_...`).
    #[error("PKCS#11 error {0}")]
    Library(String),
    /// The library could not be loaded (not a shared library, not a PKCS#11 library, or its
    /// `C_Initialize` failed).
    #[error("cannot load the PKCS#11 library: {0}")]
    LibraryLoad(String),
    /// No slot with that id (or its token is gone from the library's slot list).
    #[error("no such slot")]
    NoSuchSlot,
    /// The session was opened on a worker that has restarted since; open a new one.
    #[error("the session belongs to a PKCS#11 worker that has restarted")]
    StaleSession,
}
