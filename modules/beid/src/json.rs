//! The JSON responses of the identity operations, with the T1C v3 field names
//! (`TokenBiometricData`, `TokenAddressData`, `TokenPictureData`, `TokenAllData` of the
//! published SDK), plus what this module adds, all optional for a v3 client:
//!
//! - `integrity` on each object: the checks of [`crate::integrity`] this request made,
//!   `{"identity", "address", "photo"}`, each `"valid"`, `"invalid"` or `"unchecked"`;
//! - on `biometric`, ISO 8601 forms of the card's dates (`birthDateIso`,
//!   `cardValidityDateBeginIso`, `cardValidityDateEndIso`, `cardEuStartDateIso`), present only
//!   when the card's text names a real day (the text itself is always returned unchanged);
//! - on `biometric`, the foreigners' and applet 1.8 fields, present only when the card has
//!   the tag: `duplicate` (12), `specialOrganization` (13), `memberOfFamily` (14, `true`),
//!   `dateAndCountryOfProtection` (15), `workPermitMention` (16), `employerVat1` (17),
//!   `employerVat2` (18), `regionalFileNumber` (19), `basicKeyHash` (1A, base64),
//!   `brexitMention1` (1B), `brexitMention2` (1C), `cardAMention1` (1D), `cardAMention2`
//!   (1E), `cardEuStartDate` (1F).
//!
//! Binary values (`chipNumber`, `pictureHash`, `rawData`, `signature`, `picture`) are base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use crate::address::Address;
use crate::date;
use crate::identity::Identity;
use crate::integrity::Integrity;

/// Who issues every Belgian eID: the Belgian state (ISO 3166 alpha-2).
const ISSUER: &str = "BE";

/// The `biometric` response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Biometric {
    card_number: String,
    chip_number: String,
    card_validity_date_begin: String,
    card_validity_date_end: String,
    card_delivery_municipality: String,
    national_number: String,
    name: String,
    first_names: String,
    third_name: String,
    nationality: String,
    birth_location: String,
    birth_date: String,
    sex: String,
    noble_condition: String,
    document_type: String,
    special_status: String,
    picture_hash: String,
    raw_data: String,
    signature: String,
    version: u32,
    issuer: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_validity_date_begin_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_validity_date_end_iso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    special_organization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_of_family: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_and_country_of_protection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    work_permit_mention: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    employer_vat1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    employer_vat2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    regional_file_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    basic_key_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    brexit_mention1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    brexit_mention2: Option<String>,
    #[serde(rename = "cardAMention1", skip_serializing_if = "Option::is_none")]
    card_a_mention1: Option<String>,
    #[serde(rename = "cardAMention2", skip_serializing_if = "Option::is_none")]
    card_a_mention2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_eu_start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_eu_start_date_iso: Option<String>,
    integrity: Integrity,
}

impl Biometric {
    /// The response for the identity file `raw`, parsed as `identity`, with its signature
    /// file as read.
    pub fn new(identity: Identity, raw: &[u8], signature: &[u8], integrity: Integrity) -> Self {
        Self {
            birth_date_iso: date::to_iso(&identity.birth_date),
            card_validity_date_begin_iso: date::to_iso(&identity.validity_begin),
            card_validity_date_end_iso: date::to_iso(&identity.validity_end),
            card_eu_start_date_iso: identity.card_eu_start_date.as_deref().and_then(date::to_iso),
            card_number: identity.card_number,
            chip_number: BASE64.encode(&identity.chip_number),
            card_validity_date_begin: identity.validity_begin,
            card_validity_date_end: identity.validity_end,
            card_delivery_municipality: identity.issuing_municipality,
            national_number: identity.national_number,
            name: identity.surname,
            first_names: identity.first_names,
            third_name: identity.third_initial,
            nationality: identity.nationality,
            birth_location: identity.birth_place,
            birth_date: identity.birth_date,
            sex: identity.sex,
            noble_condition: identity.nobility,
            document_type: identity.document_type,
            special_status: identity.special_status,
            picture_hash: BASE64.encode(&identity.photo_hash),
            raw_data: BASE64.encode(raw),
            signature: BASE64.encode(signature),
            version: identity.version,
            issuer: ISSUER,
            duplicate: identity.duplicate,
            special_organization: identity.special_organization,
            member_of_family: identity.member_of_family.then_some(true),
            date_and_country_of_protection: identity.date_and_country_of_protection,
            work_permit_mention: identity.work_permit_mention,
            employer_vat1: identity.employer_vat_1,
            employer_vat2: identity.employer_vat_2,
            regional_file_number: identity.regional_file_number,
            basic_key_hash: identity.basic_key_hash.map(|hash| BASE64.encode(hash)),
            brexit_mention1: identity.brexit_mention_1,
            brexit_mention2: identity.brexit_mention_2,
            card_a_mention1: identity.card_a_mention_1,
            card_a_mention2: identity.card_a_mention_2,
            card_eu_start_date: identity.card_eu_start_date,
            integrity,
        }
    }
}

/// The `address` response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressData {
    municipality: String,
    raw_data: String,
    signature: String,
    street_and_number: String,
    version: u32,
    zipcode: String,
    integrity: Integrity,
}

impl AddressData {
    /// The response for the address file `raw`, parsed as `address`, with its signature file.
    pub fn new(address: Address, raw: &[u8], signature: &[u8], integrity: Integrity) -> Self {
        Self {
            municipality: address.municipality,
            raw_data: BASE64.encode(raw),
            signature: BASE64.encode(signature),
            street_and_number: address.street_and_number,
            version: address.version,
            zipcode: address.zip,
            integrity,
        }
    }
}

/// The `picture` response. `signature` is EF(SGN#ID): the photo is signed through its hash in
/// the identity file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Picture {
    picture: String,
    signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u16>,
    integrity: Integrity,
}

impl Picture {
    /// The response for the photo file, with the identity signature file.
    pub fn new(photo: &[u8], identity_signature: &[u8], integrity: Integrity) -> Self {
        let size = crate::picture::dimensions(photo);
        Self {
            picture: BASE64.encode(photo),
            signature: BASE64.encode(identity_signature),
            width: size.map(|(width, _)| width),
            height: size.map(|(_, height)| height),
            integrity,
        }
    }
}

/// The `all-data` response: the parts the filter asked for.
#[derive(Debug, Default, Serialize)]
pub struct AllData {
    /// The `picture` part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<Picture>,
    /// The `biometric` part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biometric: Option<Biometric>,
    /// The `address` part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<AddressData>,
}
