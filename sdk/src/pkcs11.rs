//! PKCS#11 tokens for module authors: the [`Slot`] a module is called with, the [`Session`]s it
//! opens on it, and the plain types of the contract's `pkcs11` interface.
//!
//! In a built module the slot is the host's `pkcs11.slot` resource: the host loaded the vendor
//! library in a worker process, and the module sees neither the library's path nor a pointer.
//! In a native unit test the slot is any type implementing [`Slot`] (an in-memory token), so
//! module logic is tested without WebAssembly and without a PKCS#11 library.
//!
//! ```ignore
//! fn label(device: t1c_sdk::Device<'_>) -> t1c_sdk::Result<String> {
//!     let slot = device.slot()?;
//!     let mut session = slot.open_session()?;
//!     let certificates = session.find_objects(&ObjectQuery::class(ObjectClass::Certificate))?;
//!     Ok(slot.info()?.label)
//! }
//! ```
//!
//! Errors are [`TokenError`]s, which convert into the module [`Error`] with `?`.

use crate::error::Error;
use crate::module::HashAlgorithm;
use crate::pin::Pin;

/// A slot with a token, chosen by the host for the current call.
pub trait Slot {
    /// The token's CK_TOKEN_INFO.
    ///
    /// # Errors
    /// [`TokenError`], for instance [`TokenError::TokenRemoved`].
    fn info(&self) -> Result<TokenInfo, TokenError>;

    /// The mechanisms the token supports.
    ///
    /// # Errors
    /// [`TokenError`].
    fn mechanisms(&self) -> Result<Vec<MechanismInfo>, TokenError>;

    /// Opens a read-only session. The host closes it, and logs it out, when the call ends at
    /// the latest; dropping it closes it earlier. The host limits how many a call may open.
    ///
    /// # Errors
    /// [`TokenError`]; [`TokenError::Library`] with `CKR_SESSION_COUNT` past the host's limit.
    fn open_session(&self) -> Result<Box<dyn Session + '_>, TokenError>;
}

/// A session on a token. Object handles are valid within the session that found them only.
pub trait Session {
    /// The objects matching every field given in `query`.
    ///
    /// # Errors
    /// [`TokenError`].
    fn find_objects(&mut self, query: &ObjectQuery) -> Result<Vec<ObjectInfo>, TokenError>;

    /// CKA_VALUE of a certificate or data object (DER for a certificate).
    ///
    /// # Errors
    /// [`TokenError::ObjectNotFound`] for a handle this session did not find.
    fn value(&mut self, handle: u64) -> Result<Vec<u8>, TokenError>;

    /// Logs the user in with the host's PIN, or on the protected authentication path (the
    /// reader's pinpad) when `pin` is `None`.
    ///
    /// # Errors
    /// [`TokenError::PinIncorrect`], [`TokenError::PinLocked`], ...
    fn login(&mut self, pin: Option<&Pin<'_>>) -> Result<(), TokenError>;

    /// Logs the user out.
    ///
    /// # Errors
    /// [`TokenError`].
    fn logout(&mut self) -> Result<(), TokenError>;

    /// Signs `data` with the private key `key` (a handle from [`Session::find_objects`]).
    ///
    /// # Errors
    /// [`TokenError::NotLoggedIn`] before a login, [`TokenError::NotSupported`] for a scheme
    /// the token lacks, ...
    fn sign(
        &mut self,
        key: u64,
        scheme: &SignatureScheme,
        data: &[u8],
    ) -> Result<Vec<u8>, TokenError>;
}

/// What can go wrong in a PKCS#11 operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token was removed from its slot.
    #[error("token removed")]
    TokenRemoved,
    /// The library did not answer in time, or its worker crashed.
    #[error("the token did not answer in time")]
    Timeout,
    /// The PIN was wrong.
    #[error("wrong PIN")]
    PinIncorrect(PinTries),
    /// The PIN is locked.
    #[error("PIN locked")]
    PinLocked,
    /// The operation needs a login first.
    #[error("not logged in")]
    NotLoggedIn,
    /// No object matches.
    #[error("object not found")]
    ObjectNotFound,
    /// The token or library does not support the mechanism or operation.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The request is malformed.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Any other PKCS#11 return value, by name (`CKR_...`).
    #[error("PKCS#11 error {0}")]
    Library(String),
}

/// What PKCS#11 says about the tries left after a wrong PIN.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinTries {
    /// Nothing known.
    Unknown,
    /// CKF_USER_PIN_COUNT_LOW: at least one failed attempt since the last success.
    Low,
    /// CKF_USER_PIN_FINAL_TRY: one more wrong PIN locks it.
    FinalTry,
}

impl From<TokenError> for Error {
    /// PKCS#11 tells only whether the final try is next, so a wrong PIN reports one try left
    /// on the final try and [`Error::PIN_TRIES_UNKNOWN`] otherwise.
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::TokenRemoved => Error::CardRemoved,
            TokenError::Timeout => Error::Timeout,
            TokenError::PinIncorrect(PinTries::FinalTry) => Error::PinWrong(1),
            TokenError::PinIncorrect(_) => Error::PinWrong(Error::PIN_TRIES_UNKNOWN),
            TokenError::PinLocked => Error::PinBlocked,
            TokenError::NotLoggedIn => Error::InvalidInput("the token needs a PIN".into()),
            TokenError::ObjectNotFound => Error::InvalidInput("no such object on the token".into()),
            TokenError::NotSupported(what) => Error::NotSupported(what),
            TokenError::InvalidInput(what) => Error::InvalidInput(what),
            TokenError::Library(code) => Error::Transport(format!("PKCS#11 {code}")),
        }
    }
}

/// CK_TOKEN_INFO.flags the T1C API reports, one field per flag.
#[allow(missing_docs)] // Each field is the CKF_ flag of the same name.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenFlags {
    pub rng: bool,
    pub write_protected: bool,
    pub login_required: bool,
    pub user_pin_initialized: bool,
    pub restore_key_not_needed: bool,
    pub clock_on_token: bool,
    pub protected_authentication_path: bool,
    pub dual_crypto_operations: bool,
    pub token_initialized: bool,
    pub secondary_authentication: bool,
    pub user_pin_count_low: bool,
    pub user_pin_final_try: bool,
    pub user_pin_locked: bool,
    pub user_pin_to_be_changed: bool,
    pub so_pin_count_low: bool,
    pub so_pin_final_try: bool,
    pub so_pin_locked: bool,
    pub so_pin_to_be_changed: bool,
}

/// CK_TOKEN_INFO, strings trimmed of their blank padding.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token label.
    pub label: String,
    /// The manufacturer.
    pub manufacturer_id: String,
    /// The model.
    pub model: String,
    /// The serial number.
    pub serial_number: String,
    /// The flags.
    pub flags: TokenFlags,
    /// ulMaxSessionCount.
    pub max_session_count: u64,
    /// ulSessionCount.
    pub session_count: u64,
    /// ulMaxRwSessionCount.
    pub max_rw_session_count: u64,
    /// ulMaxPinLen.
    pub max_pin_length: u64,
    /// ulMinPinLen.
    pub min_pin_length: u64,
    /// ulTotalPublicMemory, bytes.
    pub total_public_memory: u64,
    /// ulFreePublicMemory, bytes.
    pub free_public_memory: u64,
    /// ulTotalPrivateMemory, bytes.
    pub total_private_memory: u64,
    /// ulFreePrivateMemory, bytes.
    pub free_private_memory: u64,
    /// `major.minor`.
    pub hardware_version: String,
    /// `major.minor`.
    pub firmware_version: String,
}

/// CK_MECHANISM_INFO.flags, one field per flag.
#[allow(missing_docs)] // Each field is the CKF_ flag of the same name.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MechanismFlags {
    pub hardware: bool,
    pub encrypt: bool,
    pub decrypt: bool,
    pub digest: bool,
    pub sign: bool,
    pub sign_recover: bool,
    pub verify: bool,
    pub verify_recover: bool,
    pub generate: bool,
    pub generate_key_pair: bool,
    pub wrap: bool,
    pub unwrap: bool,
    pub extension: bool,
    pub ec_fp: bool,
    pub ec_named_curve: bool,
    pub ec_uncompress: bool,
    pub ec_compress: bool,
}

/// One mechanism the token supports.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MechanismInfo {
    /// The CKM_ name, for instance `CKM_SHA256_RSA_PKCS`.
    pub name: String,
    /// The CKM_ value.
    pub code: u64,
    /// ulMinKeySize, bits.
    pub min_key_size: u64,
    /// ulMaxKeySize, bits.
    pub max_key_size: u64,
    /// The flags.
    pub flags: MechanismFlags,
}

/// Object classes a module may search for.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectClass {
    /// CKO_CERTIFICATE.
    Certificate,
    /// CKO_PUBLIC_KEY.
    PublicKey,
    /// CKO_PRIVATE_KEY.
    PrivateKey,
    /// CKO_DATA.
    Data,
}

/// Key types.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// CKK_RSA.
    Rsa,
    /// CKK_EC.
    Ec,
    /// Any other.
    Other,
}

/// Search criteria; every field given must match.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectQuery {
    /// CKA_CLASS.
    pub class: Option<ObjectClass>,
    /// CKA_LABEL.
    pub label: Option<String>,
    /// CKA_ID.
    pub id: Option<Vec<u8>>,
}

impl ObjectQuery {
    /// Every object of `class`.
    pub fn class(class: ObjectClass) -> Self {
        Self { class: Some(class), ..Self::default() }
    }

    /// Only objects with CKA_ID `id`.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Only objects with CKA_LABEL `label`.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

/// An object found on the token.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The handle, valid in the session that found it.
    pub handle: u64,
    /// CKA_CLASS.
    pub class: ObjectClass,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID.
    pub id: Vec<u8>,
    /// CKA_KEY_TYPE, for keys.
    pub key_type: Option<KeyType>,
}

/// Signature schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// RSA PKCS#1 v1.5. With a digest algorithm, the data is that digest and the host wraps it
    /// in a DigestInfo; without one, the data is signed as given (CKM_RSA_PKCS).
    RsaPkcs1(Option<HashAlgorithm>),
    /// RSA-PSS with MGF1 over the same digest and a salt as long as the digest; the data is
    /// the digest.
    RsaPss(HashAlgorithm),
    /// ECDSA over a digest; the signature is `r || s`.
    Ecdsa,
}

#[cfg(feature = "guest")]
pub(crate) mod host {
    //! The host's `pkcs11` resources seen through [`Slot`] and [`Session`].

    use super::*;
    use crate::guest::bindings::t1c::card::pkcs11 as wit;

    /// The host's slot.
    pub(crate) struct HostSlot<'a>(pub(crate) &'a wit::Slot);

    impl Slot for HostSlot<'_> {
        fn info(&self) -> Result<TokenInfo, TokenError> {
            let info = self.0.info().map_err(error_from_wit)?;
            Ok(TokenInfo {
                label: info.label,
                manufacturer_id: info.manufacturer_id,
                model: info.model,
                serial_number: info.serial_number,
                flags: token_flags(info.flags),
                max_session_count: info.max_session_count,
                session_count: info.session_count,
                max_rw_session_count: info.max_rw_session_count,
                max_pin_length: info.max_pin_length,
                min_pin_length: info.min_pin_length,
                total_public_memory: info.total_public_memory,
                free_public_memory: info.free_public_memory,
                total_private_memory: info.total_private_memory,
                free_private_memory: info.free_private_memory,
                hardware_version: info.hardware_version,
                firmware_version: info.firmware_version,
            })
        }

        fn mechanisms(&self) -> Result<Vec<MechanismInfo>, TokenError> {
            let mechanisms = self.0.mechanisms().map_err(error_from_wit)?;
            Ok(mechanisms
                .into_iter()
                .map(|m| MechanismInfo {
                    name: m.name,
                    code: m.code,
                    min_key_size: m.min_key_size,
                    max_key_size: m.max_key_size,
                    flags: mechanism_flags(m.flags),
                })
                .collect())
        }

        fn open_session(&self) -> Result<Box<dyn Session + '_>, TokenError> {
            let session = self.0.open_session().map_err(error_from_wit)?;
            Ok(Box::new(HostSession(session)))
        }
    }

    /// A session the host opened; dropping it closes it.
    struct HostSession(wit::Session);

    impl Session for HostSession {
        fn find_objects(&mut self, query: &ObjectQuery) -> Result<Vec<ObjectInfo>, TokenError> {
            let query = wit::ObjectQuery {
                class: query.class.map(class_to_wit),
                label: query.label.clone(),
                id: query.id.clone(),
            };
            let found = self.0.find_objects(&query).map_err(error_from_wit)?;
            Ok(found
                .into_iter()
                .map(|o| ObjectInfo {
                    handle: o.handle,
                    class: class_from_wit(o.class),
                    label: o.label,
                    id: o.id,
                    key_type: o.key_type.map(|k| match k {
                        wit::KeyType::Rsa => KeyType::Rsa,
                        wit::KeyType::Ec => KeyType::Ec,
                        wit::KeyType::Other => KeyType::Other,
                    }),
                })
                .collect())
        }

        fn value(&mut self, handle: u64) -> Result<Vec<u8>, TokenError> {
            self.0.value(handle).map_err(error_from_wit)
        }

        fn login(&mut self, pin: Option<&Pin<'_>>) -> Result<(), TokenError> {
            let handle = match pin {
                Some(pin) => Some(pin.host_handle().ok_or_else(|| {
                    TokenError::InvalidInput("a module can only pass on the host's PIN".into())
                })?),
                None => None,
            };
            self.0.login(handle).map_err(error_from_wit)
        }

        fn logout(&mut self) -> Result<(), TokenError> {
            self.0.logout().map_err(error_from_wit)
        }

        fn sign(
            &mut self,
            key: u64,
            scheme: &SignatureScheme,
            data: &[u8],
        ) -> Result<Vec<u8>, TokenError> {
            let scheme = match *scheme {
                SignatureScheme::RsaPkcs1(hash) => {
                    wit::SignatureScheme::RsaPkcs1(hash.map(crate::guest::hash_to_wit))
                }
                SignatureScheme::RsaPss(hash) => {
                    wit::SignatureScheme::RsaPss(crate::guest::hash_to_wit(hash))
                }
                SignatureScheme::Ecdsa => wit::SignatureScheme::Ecdsa,
            };
            self.0.sign(key, scheme, data).map_err(error_from_wit)
        }
    }

    fn error_from_wit(err: wit::TokenError) -> TokenError {
        match err {
            wit::TokenError::TokenRemoved => TokenError::TokenRemoved,
            wit::TokenError::Timeout => TokenError::Timeout,
            wit::TokenError::PinIncorrect(tries) => TokenError::PinIncorrect(match tries {
                wit::PinTries::Unknown => PinTries::Unknown,
                wit::PinTries::Low => PinTries::Low,
                wit::PinTries::FinalTry => PinTries::FinalTry,
            }),
            wit::TokenError::PinLocked => TokenError::PinLocked,
            wit::TokenError::NotLoggedIn => TokenError::NotLoggedIn,
            wit::TokenError::ObjectNotFound => TokenError::ObjectNotFound,
            wit::TokenError::NotSupported(what) => TokenError::NotSupported(what),
            wit::TokenError::InvalidInput(what) => TokenError::InvalidInput(what),
            wit::TokenError::Library(code) => TokenError::Library(code),
        }
    }

    fn class_to_wit(class: ObjectClass) -> wit::ObjectClass {
        match class {
            ObjectClass::Certificate => wit::ObjectClass::Certificate,
            ObjectClass::PublicKey => wit::ObjectClass::PublicKey,
            ObjectClass::PrivateKey => wit::ObjectClass::PrivateKey,
            ObjectClass::Data => wit::ObjectClass::Data,
        }
    }

    fn class_from_wit(class: wit::ObjectClass) -> ObjectClass {
        match class {
            wit::ObjectClass::Certificate => ObjectClass::Certificate,
            wit::ObjectClass::PublicKey => ObjectClass::PublicKey,
            wit::ObjectClass::PrivateKey => ObjectClass::PrivateKey,
            wit::ObjectClass::Data => ObjectClass::Data,
        }
    }

    fn token_flags(f: wit::TokenFlags) -> TokenFlags {
        use wit::TokenFlags as W;
        TokenFlags {
            rng: f.contains(W::RNG),
            write_protected: f.contains(W::WRITE_PROTECTED),
            login_required: f.contains(W::LOGIN_REQUIRED),
            user_pin_initialized: f.contains(W::USER_PIN_INITIALIZED),
            restore_key_not_needed: f.contains(W::RESTORE_KEY_NOT_NEEDED),
            clock_on_token: f.contains(W::CLOCK_ON_TOKEN),
            protected_authentication_path: f.contains(W::PROTECTED_AUTHENTICATION_PATH),
            dual_crypto_operations: f.contains(W::DUAL_CRYPTO_OPERATIONS),
            token_initialized: f.contains(W::TOKEN_INITIALIZED),
            secondary_authentication: f.contains(W::SECONDARY_AUTHENTICATION),
            user_pin_count_low: f.contains(W::USER_PIN_COUNT_LOW),
            user_pin_final_try: f.contains(W::USER_PIN_FINAL_TRY),
            user_pin_locked: f.contains(W::USER_PIN_LOCKED),
            user_pin_to_be_changed: f.contains(W::USER_PIN_TO_BE_CHANGED),
            so_pin_count_low: f.contains(W::SO_PIN_COUNT_LOW),
            so_pin_final_try: f.contains(W::SO_PIN_FINAL_TRY),
            so_pin_locked: f.contains(W::SO_PIN_LOCKED),
            so_pin_to_be_changed: f.contains(W::SO_PIN_TO_BE_CHANGED),
        }
    }

    fn mechanism_flags(f: wit::MechanismFlags) -> MechanismFlags {
        use wit::MechanismFlags as W;
        MechanismFlags {
            hardware: f.contains(W::HARDWARE),
            encrypt: f.contains(W::ENCRYPT),
            decrypt: f.contains(W::DECRYPT),
            digest: f.contains(W::DIGEST),
            sign: f.contains(W::SIGN),
            sign_recover: f.contains(W::SIGN_RECOVER),
            verify: f.contains(W::VERIFY),
            verify_recover: f.contains(W::VERIFY_RECOVER),
            generate: f.contains(W::GENERATE),
            generate_key_pair: f.contains(W::GENERATE_KEY_PAIR),
            wrap: f.contains(W::WRAP),
            unwrap: f.contains(W::UNWRAP),
            extension: f.contains(W::EXTENSION),
            ec_fp: f.contains(W::EC_FP),
            ec_named_curve: f.contains(W::EC_NAMED_CURVE),
            ec_uncompress: f.contains(W::EC_UNCOMPRESS),
            ec_compress: f.contains(W::EC_COMPRESS),
        }
    }
}
