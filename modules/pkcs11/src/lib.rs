//! # The `pkcs11` module: tokens behind vendor PKCS#11 libraries
//!
//! Serves the T1C v3 `pkcs11` module (`/v3/modules/pkcs11/apps/token/readers/{id}/...`,
//! `shared/reference/t1c-v3-api.md` §3.2) for any token the host reaches through a configured
//! PKCS#11 library. The host loads the libraries in worker processes and calls this module with
//! the slot of the request (`pkcs11.slot`); the module sees no library path and no pointer, and
//! PINs reach the token through the host's `pin` handle only.
//!
//! - **Token**: `info` (`PKCS11TokenInfo`: token info, flags, mechanisms, [`json`]),
//!   `certificates` (by role, [`objects`]), `verify-pin` (login and logout), `sign` and
//!   `authenticate` (RSA PKCS#1 v1.5, RSA-PSS where the token offers CKM_RSA_PKCS_PSS, and ECDSA
//!   over SHA-1/256/384/512, the key chosen by certificate `id` or by role, [`sign`]),
//!   `supported-algorithms`.
//! - **Extension operations** (on a slot): `cert-list`, `authentication-cert`,
//!   `nonrepudiation-cert`, `root-cert`, `intermediate-certs`, `encryption-cert`, and `validate`
//!   (a signature checked against a certificate's public key in the module, [`validate`]).
//!
//! Which certificate is the authentication one and which the non-repudiation one is decided
//! by key usage, then label; see [`objects`].

#![warn(missing_docs)]

pub mod json;
pub mod objects;
pub mod sign;
pub mod validate;
pub mod x509;

use serde_json::{Map, Value};
use t1c_sdk::pkcs11::Slot;
use t1c_sdk::{
    Capability, Certificate, CertificateKind, Device, DeviceKind, Error, Extension, HashAlgorithm,
    HttpMethod, Manifest, Module, Operation, Pin, Result, SignRequest, Token, TokenInfo,
};

use crate::json::{CertificateJson, Certificates, Pkcs11TokenInfo};
use crate::objects::Role;

/// The module.
pub struct Pkcs11;

/// Transaction use case of the certificate operations, as for the Belgian eID: certificates
/// carry the holder's identity.
const CERTIFICATE_READ: &str = "identity read";

impl Module for Pkcs11 {
    fn manifest() -> Manifest {
        let get = |name: &str, description: &str| {
            Operation::new(name, HttpMethod::Get, DeviceKind::Slot, CERTIFICATE_READ, description)
        };
        Manifest::new(
            "pkcs11",
            env!("CARGO_PKG_VERSION"),
            "PKCS#11 tokens (through the connector's configured PKCS#11 libraries)",
        )
        .with_capability(Capability::Pkcs11)
        .with_token()
        .with_operation(get(
            "cert-list",
            "The certificates by role ({\"filter\": \"authenticationCertificate,...\"})",
        ))
        .with_operation(get("authentication-cert", "The authentication certificates"))
        .with_operation(get("nonrepudiation-cert", "The non-repudiation (signing) certificates"))
        .with_operation(get("root-cert", "Self-signed CA certificates on the token"))
        .with_operation(get("intermediate-certs", "Other CA certificates on the token"))
        .with_operation(get("encryption-cert", "Certificates of no signing role"))
        .with_operation(Operation::new(
            "validate",
            HttpMethod::Post,
            DeviceKind::Slot,
            "",
            "Checks a signature against a certificate's public key ({algorithm, hash, \
             signedHash, id?})",
        ))
    }
}

impl Token for Pkcs11 {
    fn info(device: Device<'_>) -> Result<TokenInfo> {
        let slot = device.slot()?;
        let info = slot.info()?;
        let mechanisms = slot.mechanisms()?;
        let (serial_number, label, version) =
            (info.serial_number.clone(), info.label.clone(), info.firmware_version.clone());
        let details = serde_json::to_string(&Pkcs11TokenInfo::new(info, mechanisms))
            .map_err(|err| Error::internal(format!("JSON: {err}")))?;
        Ok(TokenInfo { serial_number, label, version, details })
    }

    fn certificates(device: Device<'_>, kinds: &[CertificateKind]) -> Result<Vec<Certificate>> {
        let slot = device.slot()?;
        let found = objects::certificates(slot.open_session()?.as_mut())?;
        let roles: Vec<Role> = if kinds.is_empty() {
            Role::ALL.to_vec()
        } else {
            kinds.iter().filter_map(|kind| Role::from_kind(*kind)).collect()
        };
        Ok(roles
            .into_iter()
            .flat_map(|role| found.iter().filter(move |c| c.role == role))
            .map(|c| Certificate { kind: c.role.kind(), id: c.id_hex(), der: c.der.clone() })
            .collect())
    }

    fn verify_pin(device: Device<'_>, pin: Option<&Pin<'_>>) -> Result<()> {
        sign::verify_pin(device.slot()?, pin)
    }

    fn sign(device: Device<'_>, request: &SignRequest, pin: Option<&Pin<'_>>) -> Result<Vec<u8>> {
        sign::sign(device.slot()?, Role::NonRepudiation, request, pin)
    }

    fn authenticate(
        device: Device<'_>,
        request: &SignRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<Vec<u8>> {
        sign::sign(device.slot()?, Role::Authentication, request, pin)
    }

    fn supported_algorithms(device: Device<'_>) -> Result<Vec<HashAlgorithm>> {
        // The module hashes and the host builds the DigestInfo, so CKM_RSA_PKCS or CKM_ECDSA
        // is all a token needs for every digest.
        let mechanisms = device.slot()?.mechanisms()?;
        let signs = mechanisms
            .iter()
            .any(|m| m.flags.sign && matches!(m.name.as_str(), "CKM_RSA_PKCS" | "CKM_ECDSA"));
        Ok(if signs { sign::ALGORITHMS.to_vec() } else { Vec::new() })
    }
}

impl Extension for Pkcs11 {
    fn invoke(device: Option<Device<'_>>, operation: &str, request: &str) -> Result<String> {
        let device =
            device.ok_or_else(|| Error::invalid_input(format!("`{operation}` needs a token")))?;
        invoke(device.slot()?, operation, request)
    }
}

/// Runs the extension operation `operation` on the token in `slot`.
///
/// # Errors
/// [`Error::NotSupported`] for an unknown operation; [`Error::InvalidInput`] for a malformed
/// request; the token's errors.
pub fn invoke(slot: &dyn Slot, operation: &str, request: &str) -> Result<String> {
    let role = match operation {
        "validate" => {
            let valid = validate::validate(slot, request)?;
            return to_json(&serde_json::json!({ "valid": valid }));
        }
        "cert-list" => None,
        "authentication-cert" => Some(Role::Authentication),
        "nonrepudiation-cert" => Some(Role::NonRepudiation),
        "root-cert" => Some(Role::Root),
        "intermediate-certs" => Some(Role::Intermediate),
        "encryption-cert" => Some(Role::Encryption),
        other => return Err(Error::NotSupported(format!("operation `{other}`"))),
    };
    let found = objects::certificates(slot.open_session()?.as_mut())?;
    let entry = |role: Role| Certificates {
        certificates: found.iter().filter(|c| c.role == role).map(CertificateJson::from).collect(),
    };
    match role {
        Some(role) => to_json(&entry(role)),
        None => {
            let known = Role::ALL.map(|role| (role.kind().list_key(), role));
            let mut list = Map::new();
            for role in filter::select(request, &known)? {
                let value = serde_json::to_value(entry(role))
                    .map_err(|err| Error::internal(format!("JSON: {err}")))?;
                list.insert(role.kind().list_key().to_owned(), value);
            }
            to_json(&Value::Object(list))
        }
    }
}

mod filter;

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|err| Error::internal(format!("JSON: {err}")))
}

t1c_sdk::export_module!(Pkcs11, [pkcs11]);
