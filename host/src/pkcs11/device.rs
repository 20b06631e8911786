//! The connector's PKCS#11 slots as the runtime's devices: [`SlotHandle`] and
//! [`SessionHandle`] implement `t1c_runtime::Pkcs11Slot` and `Pkcs11Session`, so a module's
//! `pkcs11` calls reach the library's worker process.
//!
//! Here the host's [`Pkcs11Error`] becomes the contract's [`TokenError`]. Texts that could name
//! the library (load failures, worker crashes) stay in the host's log.

use zeroize::Zeroizing;

use t1c_runtime::{Pkcs11Session, Pkcs11Slot};
use t1c_sdk::pkcs11::TokenError;

use super::{
    MechanismInfo, ObjectInfo, ObjectQuery, Pkcs11Error, SessionHandle, SignatureScheme,
    SlotHandle, TokenInfo,
};

impl Pkcs11Slot for SlotHandle {
    fn info(&self) -> Result<TokenInfo, TokenError> {
        SlotHandle::info(self).map_err(token_error)
    }

    fn mechanisms(&self) -> Result<Vec<MechanismInfo>, TokenError> {
        SlotHandle::mechanisms(self).map_err(token_error)
    }

    fn open_session(&self) -> Result<Box<dyn Pkcs11Session>, TokenError> {
        let session = SlotHandle::open_session(self).map_err(token_error)?;
        Ok(Box::new(session))
    }
}

impl Pkcs11Session for SessionHandle {
    fn find_objects(&mut self, query: &ObjectQuery) -> Result<Vec<ObjectInfo>, TokenError> {
        SessionHandle::find_objects(self, query).map_err(token_error)
    }

    fn value(&mut self, handle: u64) -> Result<Vec<u8>, TokenError> {
        SessionHandle::value(self, handle).map_err(token_error)
    }

    fn login(&mut self, pin: Option<&Zeroizing<String>>) -> Result<(), TokenError> {
        SessionHandle::login(self, pin).map_err(token_error)
    }

    fn logout(&mut self) -> Result<(), TokenError> {
        SessionHandle::logout(self).map_err(token_error)
    }

    fn sign(
        &mut self,
        key: u64,
        scheme: &SignatureScheme,
        data: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        SessionHandle::sign(self, key, scheme, data).map_err(token_error)
    }
}

/// The contract's error for a host failure.
fn token_error(err: Pkcs11Error) -> TokenError {
    match err {
        Pkcs11Error::Timeout => TokenError::Timeout,
        Pkcs11Error::WorkerCrashed(detail) => {
            tracing::warn!("PKCS#11 worker crashed during a module call: {detail}");
            TokenError::Timeout
        }
        Pkcs11Error::TokenRemoved | Pkcs11Error::NoSuchSlot => TokenError::TokenRemoved,
        Pkcs11Error::PinIncorrect(tries) => TokenError::PinIncorrect(tries),
        Pkcs11Error::PinLocked => TokenError::PinLocked,
        Pkcs11Error::NotLoggedIn => TokenError::NotLoggedIn,
        Pkcs11Error::ObjectNotFound => TokenError::ObjectNotFound,
        Pkcs11Error::NotSupported(what) => TokenError::NotSupported(what),
        Pkcs11Error::InvalidInput(what) => TokenError::InvalidInput(what),
        Pkcs11Error::Library(code) => TokenError::Library(code),
        Pkcs11Error::LibraryLoad(detail) => {
            tracing::warn!("PKCS#11 library unavailable during a module call: {detail}");
            TokenError::Library("CKR_GENERAL_ERROR".into())
        }
        Pkcs11Error::StaleSession => TokenError::Library("CKR_SESSION_HANDLE_INVALID".into()),
    }
}
