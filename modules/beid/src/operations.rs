//! The extension operations: what each reads and the JSON it returns.
//!
//! | operation | reads | response |
//! |---|---|---|
//! | `biometric` | 4031, 4032, 503C | [`Biometric`] |
//! | `address` | 4033, 4034, 4032, 503C | [`AddressData`] |
//! | `picture` | 4035, 4031, 4032, 503C | [`Picture`] |
//! | `all-data` | the union for the filter (`biometric`, `address`, `picture`) | [`AllData`] |
//! | `version` | GET CARD DATA | `{"version": "1.7"}` |
//! | `cert-list` | 5038..503C for the filter (the `cert-list` keys) | `{key: {"certificates": [..]}}` |
//! | `root-cert`, `intermediate-certs`, `authentication-cert`, `nonrepudiation-cert`, `encryption-cert` | one of 503B, 503A, 5038, 5039, 503C | `{"certificates": [..]}` |
//!
//! Every file is read once per operation, whatever parts need it.

use serde::Serialize;
use serde_json::{Map, Value};
use t1c_sdk::{Card, Error, Result};

use crate::address::Address;
use crate::card_data::CardData;
use crate::certificates::{self, Role};
use crate::files::{CardSession, File};
use crate::filter;
use crate::identity::Identity;
use crate::integrity::{self, Integrity, RrnKey};
use crate::json::{AddressData, AllData, Biometric, Picture};

/// A part of the identity data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Biometric,
    Address,
    Picture,
}

/// The `all-data` filter names.
const PARTS: [(&str, Part); 3] =
    [("biometric", Part::Biometric), ("address", Part::Address), ("picture", Part::Picture)];

/// Runs the extension operation `operation` on `card`.
///
/// # Errors
/// [`Error::NotSupported`] for an unknown operation or a card without Belpic applet;
/// [`Error::InvalidInput`] for a malformed request; card and transport errors.
pub fn invoke(card: &mut dyn Card, operation: &str, request: &str) -> Result<String> {
    let mut session = CardSession::new(card);
    let session = &mut session;
    match operation {
        "biometric" => to_json(&read_parts(session, &[Part::Biometric])?.biometric),
        "address" => to_json(&read_parts(session, &[Part::Address])?.address),
        "picture" => to_json(&read_parts(session, &[Part::Picture])?.picture),
        "all-data" => to_json(&read_parts(session, &filter::select(request, &PARTS)?)?),
        "version" => {
            let version = CardData::read(session)?.version_text();
            to_json(&serde_json::json!({ "version": version }))
        }
        "cert-list" => {
            let known = Role::ALL.map(|role| (role.kind().list_key(), role));
            let mut list = Map::new();
            for role in filter::select(request, &known)? {
                let entry = certificates::to_json(session, role)?;
                let entry = serde_json::to_value(entry).map_err(json_error)?;
                list.insert(role.kind().list_key().to_owned(), entry);
            }
            to_json(&Value::Object(list))
        }
        "root-cert" => to_json(&certificates::to_json(session, Role::Root)?),
        "intermediate-certs" => to_json(&certificates::to_json(session, Role::Intermediate)?),
        "authentication-cert" => to_json(&certificates::to_json(session, Role::Authentication)?),
        "nonrepudiation-cert" => to_json(&certificates::to_json(session, Role::NonRepudiation)?),
        "encryption-cert" => to_json(&certificates::to_json(session, Role::Encryption)?),
        other => Err(Error::NotSupported(format!("operation `{other}`"))),
    }
}

/// Reads `parts` and checks what they need checked.
fn read_parts(session: &mut CardSession<'_>, parts: &[Part]) -> Result<AllData> {
    let wants = |part| parts.contains(&part);
    let needs_identity = wants(Part::Biometric) || wants(Part::Picture);
    let rrn = RrnKey::from_certificate(certificates::read(session, Role::Encryption)?.as_deref());
    let identity_signature = session.file(File::IdentitySignature)?;
    let mut integrity = Integrity::default();

    let identity_raw = if needs_identity { Some(session.file(File::Identity)?) } else { None };
    if let Some(raw) = &identity_raw {
        integrity.identity = rrn.check_identity(raw, &identity_signature);
    }
    let address = if wants(Part::Address) {
        let raw = session.file(File::Address)?;
        let signature = session.file(File::AddressSignature)?;
        integrity.address = rrn.check_address(&raw, &identity_signature, &signature);
        Some((Address::parse(&raw)?, raw, signature))
    } else {
        None
    };
    let identity = identity_raw.as_deref().map(Identity::parse).transpose()?;
    let photo = if wants(Part::Picture) {
        let photo = session.file(File::Photo)?;
        let hash = identity.as_ref().map(|id| id.photo_hash.as_slice()).unwrap_or_default();
        integrity.photo = integrity::check_photo(&photo, hash);
        Some(photo)
    } else {
        None
    };

    let mut data = AllData::default();
    if let (true, Some(identity), Some(raw)) = (wants(Part::Biometric), identity, &identity_raw) {
        data.biometric = Some(Biometric::new(identity, raw, &identity_signature, integrity));
    }
    if let Some((address, raw, signature)) = address {
        data.address = Some(AddressData::new(address, &raw, &signature, integrity));
    }
    if let Some(photo) = photo {
        data.picture = Some(Picture::new(&photo, &identity_signature, integrity));
    }
    Ok(data)
}

fn to_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(json_error)
}

fn json_error(err: serde_json::Error) -> Error {
    Error::internal(format!("JSON: {err}"))
}
