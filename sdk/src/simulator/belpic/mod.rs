//! BELPIC: simulated Belgian eID cards, applet 1.7 (RSA-2048) and applet 1.8 (ECDSA P-384).
//!
//! A [`BelpicCard`] is one [`Persona`]'s card: the real card's ATR, AIDs and file system
//! (EF(DIR), the PKCS#15 files byte for byte, certificates with their zero padding, identity,
//! address and their National Register signatures, photo, and on 1.8 the basic public key),
//! its PIN with the 3-try counter, and private keys that really sign. Each persona gets a
//! [`TestPki`]: test root → citizen (or foreigner) CA → authentication and non-repudiation
//! certificates naming the persona, and root → RRN certificate, whose key signs the identity
//! and address files exactly as the specifications describe.
//!
//! The card speaks T=0 the way the applet does (see `transport`), answers every
//! command of the reference manuals with the status words they list, and follows their PIN
//! rules for the two signing keys ("PIN once", "PIN just before", "PIN mixed").
//!
//! Sources: the Belpic applet reference manuals 1.7 and 1.8, the card content specifications
//! and the ID/address file specification, summarised in `shared/reference/beid-card.md`.
//! Nothing here describes a real person or chains to a real Belgian CA.

mod card;
mod commands;
mod crypto;
mod error;
mod files;
mod identity;
mod persona;
mod photo;
mod pin;
mod pkcs15;
mod profile;
mod transport;

pub use card::BelpicCard;
pub use crypto::keys::PublicKey;
pub use crypto::pki::{CertificateRole, TestPki};
pub use error::BelpicError;
pub use identity::ADDRESS_FILE_LEN;
pub use persona::{
    Address, Date, DocumentType, ForeignerDetails, Language, Persona, Sex, SpecialStatus,
    card_number, national_number,
};
pub use pin::{MAX_TRIES, pin_block};
pub use profile::{APPLET_AID, ATR_V1_7, ATR_V1_8, AppletVersion, BELPIC_DF_AID, ID_DF_AID};
