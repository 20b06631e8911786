//! # The `beid` module: Belgian eID cards
//!
//! Reads and signs with Belgian eID cards of the Belpic applet generations 1.1 and 1.7 (RSA)
//! and 1.8 (ECDSA P-384), speaking APDUs through the host's card handle only. The protocol
//! facts come from the Belpic reference manuals and card content specifications, summarised
//! in `shared/reference/beid-card.md`; the response field names are those of the T1C v3 API.
//!
//! - **Cards**: the manifest claims the 1.0/1.1/1.7 ATRs (by mask) and the 1.8 ATR. Any card
//!   routed here anyway is accepted if it has the Belpic applet: a SELECT that fails as on
//!   another application is followed by a SELECT of the applet's AID, and without the applet
//!   the operation reports `not-supported` ([`files`]).
//! - **Token**: `info` (GET CARD DATA and EF(TokenInfo), [`token_info`]), certificates,
//!   `verify-pin` ([`pin`]), `sign` (non-repudiation key) and `authenticate` (authentication
//!   key) over SHA-1, SHA-256, SHA-384 and SHA-512, and RSA-PSS over SHA-1 and SHA-256 on
//!   applet 1.7 cards ([`sign`]).
//! - **Extension operations**: `biometric`, `address`, `picture`, `all-data`, `version`,
//!   `cert-list` and one operation per certificate ([`operations`]); JSON shapes in [`json`]
//!   and [`certificates`].
//! - **Integrity**: identity, address and photo are checked against the National Register's
//!   signatures and photo hash on every read that returns them ([`integrity`]).
//!
//! Every operation costs the fewest commands the card allows: one SELECT by path per file,
//! READ BINARY in chunks of 256 bytes sized by what the file holds (certificate padding is
//! never read), nothing read twice.

#![warn(missing_docs)]

pub mod address;
pub mod card_data;
pub mod certificates;
pub mod date;
pub mod files;
pub mod filter;
pub mod identity;
pub mod integrity;
pub mod json;
pub mod operations;
pub mod picture;
pub mod pin;
pub mod sign;
pub mod token_info;
pub mod x509;

use t1c_sdk::{
    Capability, Certificate, CertificateKind, Device, DeviceKind, Error, Extension, HashAlgorithm,
    HttpMethod, Manifest, Module, Operation, Pin, Result, SignRequest, Token, TokenInfo,
};

use crate::certificates::Role;
use crate::files::CardSession;
use crate::sign::SigningKey;

/// The module.
pub struct Beid;

/// Transaction use case of the operations that read the holder's identity.
const IDENTITY_READ: &str = "identity read";
/// Transaction use case of the certificate operations: certificates carry the holder's identity,
/// and the connector counts the seven T1C use cases only.
const CERTIFICATE_READ: &str = IDENTITY_READ;

impl Module for Beid {
    fn manifest() -> Manifest {
        let get = |name: &str, use_case: &str, description: &str| {
            Operation::new(name, HttpMethod::Get, DeviceKind::Card, use_case, description)
        };
        Manifest::new(
            "beid",
            env!("CARGO_PKG_VERSION"),
            "Belgian eID (Belpic applet 1.1, 1.7, 1.8)",
        )
        .with_capability(Capability::Reader)
        .with_atr(card_data::atr_v1_1_to_1_7())
        .with_atr(card_data::atr_v1_8())
        .with_token()
        .with_operation(get("biometric", IDENTITY_READ, "The identity file, checked"))
        .with_operation(get("address", IDENTITY_READ, "The address file, checked"))
        .with_operation(get("picture", IDENTITY_READ, "The photo (JPEG), checked"))
        .with_operation(get(
            "all-data",
            IDENTITY_READ,
            "Biometric, address and picture ({\"filter\": \"biometric,address,picture\"})",
        ))
        .with_operation(get("version", "info", "The Belpic applet version"))
        .with_operation(get(
            "cert-list",
            CERTIFICATE_READ,
            "The certificates ({\"filter\": \"rootCertificate,...\"})",
        ))
        .with_operation(get("root-cert", CERTIFICATE_READ, "The root CA certificate"))
        .with_operation(get(
            "intermediate-certs",
            CERTIFICATE_READ,
            "The citizen or foreigner CA certificate",
        ))
        .with_operation(get(
            "authentication-cert",
            CERTIFICATE_READ,
            "The authentication certificate",
        ))
        .with_operation(get(
            "nonrepudiation-cert",
            CERTIFICATE_READ,
            "The non-repudiation (signing) certificate",
        ))
        .with_operation(get(
            "encryption-cert",
            CERTIFICATE_READ,
            "The National Register (RRN) certificate",
        ))
    }
}

impl Token for Beid {
    fn info(device: Device<'_>) -> Result<TokenInfo> {
        token_info::read(&mut CardSession::new(device.card()?))
    }

    fn certificates(device: Device<'_>, kinds: &[CertificateKind]) -> Result<Vec<Certificate>> {
        let mut session = CardSession::new(device.card()?);
        let roles: Vec<Role> = if kinds.is_empty() {
            Role::ALL.to_vec()
        } else {
            kinds.iter().filter_map(|kind| Role::from_kind(*kind)).collect()
        };
        let mut found = Vec::with_capacity(roles.len());
        for role in roles {
            if let Some(der) = certificates::read(&mut session, role)? {
                found.push(Certificate { kind: role.kind(), id: role.file().id(), der });
            }
        }
        Ok(found)
    }

    fn verify_pin(device: Device<'_>, pin: Option<&Pin<'_>>) -> Result<()> {
        pin::verify(&mut CardSession::new(device.card()?), pin)
    }

    fn sign(device: Device<'_>, request: &SignRequest, pin: Option<&Pin<'_>>) -> Result<Vec<u8>> {
        let mut session = CardSession::new(device.card()?);
        sign::sign(&mut session, SigningKey::NonRepudiation, request, pin)
    }

    fn authenticate(
        device: Device<'_>,
        request: &SignRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<Vec<u8>> {
        let mut session = CardSession::new(device.card()?);
        sign::sign(&mut session, SigningKey::Authentication, request, pin)
    }

    fn supported_algorithms(_device: Device<'_>) -> Result<Vec<HashAlgorithm>> {
        Ok(sign::ALGORITHMS.to_vec())
    }
}

impl Extension for Beid {
    fn invoke(device: Option<Device<'_>>, operation: &str, request: &str) -> Result<String> {
        let device =
            device.ok_or_else(|| Error::invalid_input(format!("`{operation}` needs a card")))?;
        operations::invoke(device.card()?, operation, request)
    }
}

t1c_sdk::export_module!(Beid);
