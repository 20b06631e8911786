//! # t1c-sdk: writing T1C modules
//!
//! A T1C module is a WebAssembly component that drives one kind of card or token for the T1C
//! connector. It reaches its device only through handles the host passes in, defined by the
//! WIT contract in `wit/` (package `t1c:card`). This crate is what a module links against:
//!
//! - [`module`]: the [`Manifest`] and the [`Module`], [`Token`] and [`Extension`] traits;
//!   [`export_module!`] turns an implementation into the component's exports.
//! - [`card`]: the [`Card`] a module talks to, the host's card in a built module or an
//!   in-process card in a native test.
//! - [`apdu`], [`status`], [`iso7816`]: command and response APDUs, status words, SELECT and
//!   a READ BINARY loop with GET RESPONSE and Le correction.
//! - [`tlv`]: simple-TLV (BELPIC style) and BER-TLV parsers and encoders.
//! - [`pin`]: the opaque [`Pin`] and PIN block descriptions; a module never sees PIN digits.
//! - [`pkcs11`]: the [`pkcs11::Slot`] and [`pkcs11::Session`] of a PKCS#11 token module.
//! - [`files`]: the [`files::Files`] and [`files::Directory`] of a file exchange module, the
//!   host's or an in-memory [`files::MemoryFiles`] in a native test.
//! - [`error`]: the [`Error`] every operation returns, one case per T1C error.
//! - [`log`]: log lines tagged with the module's name by the host.
//!
//! Module logic written against these types compiles natively, so it can be unit-tested
//! against an in-process card with no WebAssembly and no PC/SC daemon.
#![deny(missing_docs)]

pub mod apdu;
pub mod card;
pub mod error;
pub mod files;
#[cfg(feature = "guest")]
pub mod guest;
pub mod iso7816;
pub mod log;
pub mod module;
pub mod pin;
pub mod pkcs11;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod status;
pub mod tlv;

pub use card::{Card, CardError};
pub use error::{Error, Result};
pub use module::{
    AtrPattern, CONTRACT_VERSION, Capability, Certificate, CertificateKind, Device, DeviceKind,
    Extension, HashAlgorithm, HttpMethod, Manifest, Module, ModuleName, Operation, Padding,
    SignRequest, Token, TokenInfo, parse_algorithm,
};
pub use pin::Pin;
pub use status::StatusWord;
