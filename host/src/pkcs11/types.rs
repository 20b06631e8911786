//! The values of the `pkcs11` WIT interface, on the host side: what a token says about itself and
//! its objects, what a caller may ask for, and what can go wrong.
//!
//! These types cross the worker pipe (serde), so they hold no pointer, no library path and no PIN.

use serde::{Deserialize, Serialize};

pub use t1c_sdk::HashAlgorithm;

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

/// What PKCS#11 says about the tries left after a wrong PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PinTries {
    /// Nothing known.
    Unknown,
    /// CKF_USER_PIN_COUNT_LOW: at least one failed attempt since the last success.
    Low,
    /// CKF_USER_PIN_FINAL_TRY: one more wrong PIN locks it.
    FinalTry,
}

/// Token flags (CK_TOKEN_INFO.flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // each field is the CKF_ flag of the same name
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

/// CK_TOKEN_INFO, with strings trimmed of their blank padding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token label.
    pub label: String,
    /// The token manufacturer.
    pub manufacturer_id: String,
    /// The token model.
    pub model: String,
    /// The token serial number.
    pub serial_number: String,
    /// CK_TOKEN_INFO.flags.
    pub flags: TokenFlags,
    /// ulMaxSessionCount (`u64::MAX` when the library says "effectively infinite" or
    /// "unavailable").
    pub max_session_count: u64,
    /// ulSessionCount.
    pub session_count: u64,
    /// ulMaxRwSessionCount.
    pub max_rw_session_count: u64,
    /// ulMaxPinLen.
    pub max_pin_length: u64,
    /// ulMinPinLen.
    pub min_pin_length: u64,
    /// ulTotalPublicMemory, in bytes.
    pub total_public_memory: u64,
    /// ulFreePublicMemory, in bytes.
    pub free_public_memory: u64,
    /// ulTotalPrivateMemory, in bytes.
    pub total_private_memory: u64,
    /// ulFreePrivateMemory, in bytes.
    pub free_private_memory: u64,
    /// `major.minor`
    pub hardware_version: String,
    /// `major.minor`
    pub firmware_version: String,
}

/// Mechanism flags (CK_MECHANISM_INFO.flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // each field is the CKF_ flag of the same name
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MechanismInfo {
    /// The CKM_ name, for instance `CKM_SHA256_RSA_PKCS` (or `CKM_0x...` when unknown).
    pub name: String,
    /// The CKM_ value.
    pub code: u64,
    /// ulMinKeySize (bits).
    pub min_key_size: u64,
    /// ulMaxKeySize (bits).
    pub max_key_size: u64,
    /// CK_MECHANISM_INFO.flags.
    pub flags: MechanismFlags,
}

/// Object classes a caller may search for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Key types of the keys a caller may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    /// CKK_RSA.
    Rsa,
    /// CKK_EC.
    Ec,
    /// Any other key type.
    Other,
}

/// Search criteria; every given field must match. An empty query finds every object of the four
/// classes of [`ObjectClass`] the session may see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectQuery {
    /// CKA_CLASS to match.
    pub class: Option<ObjectClass>,
    /// CKA_LABEL to match.
    pub label: Option<String>,
    /// CKA_ID to match.
    pub id: Option<Vec<u8>>,
}

/// An object found on the token. `handle` is valid only within the session that found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// The object handle, valid in this session only.
    pub handle: u64,
    /// CKA_CLASS.
    pub class: ObjectClass,
    /// CKA_LABEL (empty when absent).
    pub label: String,
    /// CKA_ID (empty when absent).
    pub id: Vec<u8>,
    /// CKA_KEY_TYPE, for keys.
    pub key_type: Option<KeyType>,
}

/// Signature schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// RSA PKCS#1 v1.5 (CKM_RSA_PKCS). With a digest algorithm, `data` is the digest and the host
    /// wraps it in a DigestInfo; without one, `data` is signed as given.
    RsaPkcs1(Option<HashAlgorithm>),
    /// RSA-PSS (CKM_RSA_PKCS_PSS) over a digest, with MGF1 over the same digest and a salt as long
    /// as the digest.
    RsaPss(HashAlgorithm),
    /// ECDSA (CKM_ECDSA) over a digest; the signature is `r || s`.
    Ecdsa,
}
