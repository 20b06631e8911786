//! The `beid` module against the SDK's simulated Belgian eID cards, applets 1.7 (RSA-2048) and
//! 1.8 (ECDSA P-384): every operation's JSON against the persona's values, PIN handling,
//! signatures verified with the card's keys, integrity checks on altered files, card removal,
//! and the number of commands the heavy operations cost.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::{Pkcs1v15Sign, Pss};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use t1c_module_beid::Beid;
use t1c_sdk::pin::PinVerifyRequest;
use t1c_sdk::simulator::belpic::{
    AppletVersion, BelpicCard, CertificateRole, Persona, PublicKey, TestPki,
};
use t1c_sdk::simulator::{SimulatedCard, VirtualReader};
use t1c_sdk::{
    Card, CardError, CertificateKind, Device, Error, Extension, HashAlgorithm, Module, Padding,
    Pin, SignRequest, Token,
};

const V17: AppletVersion = AppletVersion::V1_7;
const V18: AppletVersion = AppletVersion::V1_8;
const VERSIONS: [AppletVersion; 2] = [V17, V18];
const IDENTITY: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x31];
const IDENTITY_SIGNATURE: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x32];
const ADDRESS: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x33];
const ADDRESS_SIGNATURE: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x34];
const PHOTO: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x35];
const TOKEN_INFO: [u8; 6] = [0x3F, 0x00, 0xDF, 0x00, 0x50, 0x32];

// ---------------------------------------------------------------------------------------------
// Fixtures

/// One PKI per applet version for the whole binary: RSA key generation is slow.
fn pki(version: AppletVersion) -> &'static TestPki {
    static V17_PKI: OnceLock<TestPki> = OnceLock::new();
    static V18_PKI: OnceLock<TestPki> = OnceLock::new();
    let cell = if version == V18 { &V18_PKI } else { &V17_PKI };
    cell.get_or_init(|| {
        TestPki::generate_seeded(&Persona::default_citizen(), version, 11).expect("test PKI")
    })
}

fn belpic(persona: &Persona, version: AppletVersion) -> BelpicCard {
    BelpicCard::from_pki(persona, pki(version)).expect("card")
}

/// A card in a reader, seen through a [`Probe`].
fn probe(card: BelpicCard) -> Probe {
    let reader = VirtualReader::new("Simulated reader");
    reader.insert(Box::new(card));
    Probe::new(reader.connect().expect("connect"))
}

/// A [`Card`] between the module and the simulated card: counts and records commands, and can
/// remove the card or alter a file's bytes on the way back.
struct Probe {
    inner: SimulatedCard,
    sent: Vec<Vec<u8>>,
    /// Remove the card from its reader once this many commands went through.
    remove_after: Option<usize>,
    /// Flip one bit of the first READ BINARY data of this file (by its FID).
    tamper: Option<[u8; 2]>,
    selected: Option<[u8; 2]>,
}

impl Probe {
    fn new(inner: SimulatedCard) -> Self {
        Self { inner, sent: Vec::new(), remove_after: None, tamper: None, selected: None }
    }

    fn device(&mut self) -> Device<'_> {
        Device::Card(self)
    }

    fn invoke(&mut self, operation: &str, request: &str) -> Result<Value, Error> {
        let json = Beid::invoke(Some(self.device()), operation, request)?;
        Ok(serde_json::from_str(&json).expect("the module returns JSON"))
    }

    fn count(&self) -> usize {
        self.sent.len()
    }
}

impl Card for Probe {
    fn atr(&self) -> Vec<u8> {
        self.inner.atr()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.sent.push(apdu.to_vec());
        if self.remove_after.is_some_and(|n| self.sent.len() > n) {
            self.inner.reader().remove();
        }
        if let [0x00, 0xA4, 0x08, 0x0C, _, .., high, low] = apdu {
            self.selected = Some([*high, *low]);
        }
        let mut response = self.inner.transmit(apdu)?;
        let first_read = matches!(apdu, [0x00, 0xB0, 0x00, 0x00, ..]);
        if first_read && self.tamper.is_some() && self.tamper == self.selected {
            let len = response.len();
            if len > 10 && response[len - 2..] == [0x90, 0x00] {
                response[6] ^= 0x01;
            }
        }
        Ok(response)
    }

    fn verify_pin(
        &mut self,
        request: &PinVerifyRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError> {
        self.sent.push(request.apdu.clone());
        self.inner.verify_pin(request, pin)
    }
}

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_else(|| panic!("`{field}` is a string in {value}")).to_owned()
}

fn sign_request(algorithm: HashAlgorithm, data: &[u8], raw: bool) -> SignRequest {
    SignRequest { algorithm, data: data.to_vec(), raw, key_id: None, padding: Padding::Pkcs1V15 }
}

fn digest(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        HashAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        _ => Sha512::digest(data).to_vec(),
    }
}

/// Verifies `signature` over `hash` with a card key: PKCS#1 v1.5 for RSA, DER ECDSA for P-384.
fn verify_signature(key: &PublicKey, algorithm: HashAlgorithm, hash: &[u8], signature: &[u8]) {
    match key {
        PublicKey::Rsa(key) => {
            let scheme = match algorithm {
                HashAlgorithm::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
                HashAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                HashAlgorithm::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                _ => Pkcs1v15Sign::new::<Sha512>(),
            };
            key.verify(scheme, hash, signature).expect("RSA PKCS#1 v1.5 signature verifies");
        }
        PublicKey::Ec(key) => {
            let signature = p384::ecdsa::Signature::from_der(signature).expect("DER ECDSA-Sig");
            // A digest shorter than the order is the same integer left-padded with zeros.
            let mut prehash = vec![0u8; 48usize.saturating_sub(hash.len())];
            prehash.extend_from_slice(hash);
            key.verify_prehash(&prehash, &signature).expect("ECDSA P-384 signature verifies");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Manifest

#[test]
fn manifest_declares_the_cards_and_operations() {
    let manifest = Beid::manifest();
    assert_eq!(manifest.validate(), Ok(()));
    assert_eq!(manifest.name, "beid");
    assert!(manifest.token);
    assert!(manifest.atrs.iter().any(|p| p.matches(&AppletVersion::V1_7.atr())));
    assert!(manifest.atrs.iter().any(|p| p.matches(&AppletVersion::V1_8.atr())));
    let names: Vec<&str> = manifest.operations.iter().map(|o| o.name.as_str()).collect();
    for name in [
        "biometric",
        "address",
        "picture",
        "version",
        "all-data",
        "cert-list",
        "root-cert",
        "intermediate-certs",
        "authentication-cert",
        "nonrepudiation-cert",
        "encryption-cert",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    let biometric = manifest.operations.iter().find(|o| o.name == "biometric").expect("op");
    assert_eq!(biometric.use_case, "identity read");
}

// ---------------------------------------------------------------------------------------------
// Identity, address, photo

#[test]
fn biometric_returns_the_persona_with_t1c_field_names() {
    for version in VERSIONS {
        let persona = Persona::default_citizen();
        let card = belpic(&persona, version);
        let identity_file = card.file(&IDENTITY).expect("4031").to_vec();
        let signature_file = card.file(&IDENTITY_SIGNATURE).expect("4032").to_vec();
        let mut card = probe(card);
        let json = card.invoke("biometric", "").expect("biometric");
        assert_eq!(text(&json, "cardNumber"), persona.card_number);
        assert_eq!(text(&json, "chipNumber"), b64(&persona.chip_number()));
        assert_eq!(text(&json, "cardValidityDateBegin"), "15.01.2024");
        assert_eq!(text(&json, "cardValidityDateBeginIso"), "2024-01-15");
        assert_eq!(text(&json, "cardValidityDateEnd"), "15.01.2034");
        assert_eq!(text(&json, "cardDeliveryMunicipality"), "Hasselt");
        assert_eq!(text(&json, "nationalNumber"), persona.national_number);
        assert_eq!(text(&json, "name"), "Testkaart");
        assert_eq!(text(&json, "firstNames"), "Lotte Anna");
        assert_eq!(text(&json, "thirdName"), "M");
        assert_eq!(text(&json, "nationality"), "Belg");
        assert_eq!(text(&json, "birthLocation"), "Hasselt");
        assert_eq!(text(&json, "birthDate"), "15 MAAR 1985");
        assert_eq!(text(&json, "birthDateIso"), "1985-03-15");
        assert_eq!(text(&json, "sex"), "V");
        assert_eq!(text(&json, "nobleCondition"), "");
        assert_eq!(text(&json, "documentType"), "1");
        assert_eq!(text(&json, "specialStatus"), "0");
        assert_eq!(text(&json, "rawData"), b64(&identity_file));
        assert_eq!(text(&json, "signature"), b64(&signature_file));
        assert_eq!(text(&json, "issuer"), "BE");
        assert_eq!(json["version"], 0);
        let photo_hash = BASE64.decode(text(&json, "pictureHash")).expect("base64");
        assert_eq!(photo_hash.len(), if version == V18 { 48 } else { 32 });
        assert_eq!(json["integrity"]["identity"], "valid", "{version:?}");
        assert_eq!(json["integrity"]["address"], "unchecked");
        assert_eq!(json["integrity"]["photo"], "unchecked");
        assert_eq!(json.get("basicKeyHash").is_some(), version == V18);
        assert!(json.get("duplicate").is_none());
    }
}

#[test]
fn biometric_of_a_foreigner_has_the_extra_tags() {
    let persona = Persona::foreigner();
    let mut card = probe(belpic(&persona, V18));
    let json = card.invoke("biometric", "").expect("biometric");
    assert_eq!(text(&json, "documentType"), "32");
    assert_eq!(text(&json, "birthDate"), "30 SEPT 1979");
    assert_eq!(text(&json, "birthDateIso"), "1979-09-30");
    assert_eq!(text(&json, "duplicate"), "02");
    assert_eq!(text(&json, "specialOrganization"), "5");
    assert_eq!(json["memberOfFamily"], true);
    assert_eq!(text(&json, "dateAndCountryOfProtection"), "01.02.2022-FR");
    assert_eq!(text(&json, "workPermitMention"), "7");
    assert_eq!(text(&json, "employerVat1"), "0123.456.789");
    assert_eq!(text(&json, "employerVat2"), "0987.654.321");
    assert_eq!(text(&json, "regionalFileNumber"), "RF-2022-000042");
    assert_eq!(text(&json, "brexitMention1"), "B");
    assert_eq!(text(&json, "brexitMention2"), "C");
    assert_eq!(text(&json, "cardAMention1"), "D");
    assert_eq!(text(&json, "cardAMention2"), "K");
    assert_eq!(text(&json, "cardEuStartDate"), "02.05.2017");
    assert_eq!(text(&json, "cardEuStartDateIso"), "2017-05-02");
    assert_eq!(text(&json, "cardDeliveryMunicipality"), "Liège");
    assert_eq!(json["integrity"]["identity"], "valid");
}

#[test]
fn biometric_keeps_german_dates_and_non_ascii_names() {
    let persona = Persona::german_speaking_citizen();
    let mut card = probe(belpic(&persona, V17));
    let json = card.invoke("biometric", "").expect("biometric");
    assert_eq!(text(&json, "birthDate"), "01.DEZ. 2003");
    assert_eq!(text(&json, "birthDateIso"), "2003-12-01");
    assert_eq!(text(&json, "name"), "Probekärte-Müßig");
    assert_eq!(text(&json, "firstNames"), "Jonas Élie");
    assert_eq!(text(&json, "thirdName"), "Ö");
    assert_eq!(text(&json, "nobleCondition"), "Baron");
    assert_eq!(text(&json, "sex"), "M");
    assert_eq!(text(&json, "specialStatus"), "4");
}

#[test]
fn address_returns_the_persona_address_checked() {
    for version in VERSIONS {
        let persona = Persona::default_citizen();
        let card = belpic(&persona, version);
        let raw = card.file(&ADDRESS).expect("4033").to_vec();
        let signature = card.file(&ADDRESS_SIGNATURE).expect("4034").to_vec();
        let mut card = probe(card);
        let json = card.invoke("address", "").expect("address");
        assert_eq!(text(&json, "streetAndNumber"), "Simulatiestraat 12 bus 3");
        assert_eq!(text(&json, "zipcode"), "3500");
        assert_eq!(text(&json, "municipality"), "Hasselt");
        assert_eq!(text(&json, "rawData"), b64(&raw));
        assert_eq!(text(&json, "signature"), b64(&signature));
        assert_eq!(json["version"], 0);
        assert_eq!(json["integrity"]["address"], "valid", "{version:?}");
        assert_eq!(json["integrity"]["identity"], "unchecked");
    }
}

#[test]
fn picture_returns_the_jpeg_checked_against_its_hash() {
    for version in VERSIONS {
        let card = belpic(&Persona::default_citizen(), version);
        let photo = card.file(&PHOTO).expect("4035").to_vec();
        let mut card = probe(card);
        let json = card.invoke("picture", "").expect("picture");
        assert_eq!(text(&json, "picture"), b64(&photo));
        assert_eq!((json["width"].as_u64(), json["height"].as_u64()), (Some(140), Some(200)));
        assert_eq!(json["integrity"]["photo"], "valid", "{version:?}");
        assert_eq!(json["integrity"]["identity"], "valid");
    }
}

#[test]
fn all_data_reads_every_part_once_and_reports_its_cost() {
    for version in VERSIONS {
        let mut card = probe(belpic(&Persona::default_citizen(), version));
        let json = card.invoke("all-data", "").expect("all-data");
        assert_eq!(text(&json["biometric"], "name"), "Testkaart");
        assert_eq!(text(&json["address"], "zipcode"), "3500");
        assert!(!text(&json["picture"], "picture").is_empty());
        for part in ["biometric", "address", "picture"] {
            for check in ["identity", "address", "photo"] {
                assert_eq!(json[part]["integrity"][check], "valid", "{version:?} {part} {check}");
            }
        }
        let selects = card.sent.iter().filter(|apdu| apdu[1] == 0xA4).count();
        let reads = card.sent.iter().filter(|apdu| apdu[1] == 0xB0).count();
        println!(
            "APDUs for all-data on applet {version:?}: {} ({selects} SELECT, {reads} READ BINARY)",
            card.count()
        );
        // Six files, each selected once; no READ BINARY past a file's end.
        assert_eq!(selects, 6);
        assert!(card.count() <= 32, "{}", card.count());
    }
}

#[test]
fn all_data_honours_the_filter() {
    let mut card = probe(belpic(&Persona::default_citizen(), V18));
    let json = card.invoke("all-data", r#"{"filter": "biometric,address"}"#).expect("all-data");
    assert!(json.get("picture").is_none());
    assert_eq!(json["biometric"]["integrity"]["photo"], "unchecked");
    assert_eq!(json["address"]["integrity"]["address"], "valid");
    // No photo read: identity, its signature, address, its signature, RRN certificate.
    let selects = card.sent.iter().filter(|apdu| apdu[1] == 0xA4).count();
    assert_eq!(selects, 5);
    let err = card.invoke("all-data", r#"{"filter": "photo"}"#).expect_err("unknown part");
    assert!(matches!(err, Error::InvalidInput(_)));
}

#[test]
fn version_reports_the_applet() {
    for (version, expected) in [(V17, "1.7"), (V18, "1.8")] {
        let mut card = probe(belpic(&Persona::default_citizen(), version));
        let json = card.invoke("version", "").expect("version");
        assert_eq!(json["version"], expected);
        assert_eq!(card.count(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Integrity

#[test]
fn an_altered_identity_file_is_reported_invalid() {
    for version in VERSIONS {
        let persona = Persona::default_citizen();
        let mut card = probe(belpic(&persona, version));
        card.tamper = Some([0x40, 0x31]);
        let json = card.invoke("all-data", "").expect("all-data still answers");
        let biometric = &json["biometric"];
        assert_eq!(biometric["integrity"]["identity"], "invalid", "{version:?}");
        // The altered data is returned, not hidden.
        assert_ne!(text(biometric, "cardNumber"), persona.card_number);
        // The address signature covers the identity signature, not the identity file.
        assert_eq!(biometric["integrity"]["address"], "valid");
        assert_eq!(biometric["integrity"]["photo"], "valid");
    }
}

#[test]
fn an_altered_photo_or_address_is_reported_invalid() {
    for version in VERSIONS {
        let mut card = probe(belpic(&Persona::default_citizen(), version));
        card.tamper = Some([0x40, 0x35]);
        let json = card.invoke("picture", "").expect("picture");
        assert_eq!(json["integrity"]["photo"], "invalid", "{version:?}");
        assert_eq!(json["integrity"]["identity"], "valid");

        let mut card = probe(belpic(&Persona::default_citizen(), version));
        card.tamper = Some([0x40, 0x33]);
        let json = card.invoke("address", "").expect("address");
        assert_eq!(json["integrity"]["address"], "invalid", "{version:?}");
    }
}

#[test]
fn an_altered_identity_signature_is_reported_invalid() {
    let mut card = probe(belpic(&Persona::default_citizen(), V17));
    card.tamper = Some([0x40, 0x32]);
    let json = card.invoke("biometric", "").expect("biometric");
    assert_eq!(json["integrity"]["identity"], "invalid");
}

// ---------------------------------------------------------------------------------------------
// Certificates and token info

#[test]
fn cert_list_returns_every_certificate_with_its_names() {
    for version in VERSIONS {
        let persona = Persona::default_citizen();
        let card = belpic(&persona, version);
        let expected: Vec<(&str, Vec<u8>)> = [
            ("authenticationCertificate", CertificateRole::Authentication),
            ("nonRepudiationCertificate", CertificateRole::NonRepudiation),
            ("intermediateCertificates", CertificateRole::Ca),
            ("rootCertificate", CertificateRole::Root),
            ("encryptionCertificate", CertificateRole::Rrn),
        ]
        .into_iter()
        .map(|(key, role)| (key, card.certificate(role).to_vec()))
        .collect();
        let mut card = probe(card);
        let json = card.invoke("cert-list", "").expect("cert-list");
        for (key, der) in &expected {
            let entry = &json[*key]["certificates"][0];
            assert_eq!(text(entry, "certificate"), b64(der), "{version:?} {key}");
            assert!(!text(entry, "serialNumber").is_empty());
        }
        let auth = &json["authenticationCertificate"]["certificates"][0];
        assert_eq!(text(auth, "certificateType"), "authentication");
        assert_eq!(text(auth, "id"), "5038");
        let subject = text(auth, "subject");
        assert!(subject.contains("CN=Lotte Testkaart (Authentication)"), "{subject}");
        assert!(subject.contains(&format!("SERIALNUMBER={}", persona.national_number)));
        assert!(subject.ends_with("C=BE"), "{subject}");
        assert!(text(auth, "issuer").contains("CN=T1C Test Citizen CA"));
        let root = &json["rootCertificate"]["certificates"][0];
        assert_eq!(text(root, "subject"), text(root, "issuer"));
        let reads = card.sent.iter().filter(|apdu| apdu[1] == 0xB0).count();
        println!(
            "APDUs for cert-list on applet {version:?}: {} ({reads} READ BINARY)",
            card.count()
        );
    }
}

#[test]
fn cert_list_filter_and_single_certificate_operations() {
    let card = belpic(&Persona::default_citizen(), V18);
    let root = card.certificate(CertificateRole::Root).to_vec();
    let rrn = card.certificate(CertificateRole::Rrn).to_vec();
    let mut card = probe(card);
    let json = card.invoke("cert-list", r#"{"filter": "rootCertificate"}"#).expect("cert-list");
    assert_eq!(json.as_object().map(|o| o.len()), Some(1));
    assert_eq!(text(&json["rootCertificate"]["certificates"][0], "certificate"), b64(&root));
    let json = card.invoke("root-cert", "").expect("root-cert");
    assert_eq!(text(&json["certificates"][0], "certificate"), b64(&root));
    let json = card.invoke("encryption-cert", "").expect("encryption-cert");
    assert_eq!(text(&json["certificates"][0], "certificate"), b64(&rrn));
    assert_eq!(text(&json["certificates"][0], "certificateType"), "encryption");
    for operation in ["intermediate-certs", "authentication-cert", "nonrepudiation-cert"] {
        let json = card.invoke(operation, "").expect(operation);
        assert_eq!(json["certificates"].as_array().map(Vec::len), Some(1), "{operation}");
    }
}

#[test]
fn token_certificates_are_the_card_certificates() {
    let card = belpic(&Persona::default_citizen(), V17);
    let auth = card.certificate(CertificateRole::Authentication).to_vec();
    let mut card = probe(card);
    let all = Beid::certificates(card.device(), &[]).expect("certificates");
    assert_eq!(all.len(), 5);
    let only = Beid::certificates(card.device(), &[CertificateKind::Authentication]).expect("auth");
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].der, auth);
    assert_eq!(only[0].id, "5038");
}

#[test]
fn token_info_combines_card_data_and_token_info() {
    for (version, applet, perso) in [(V17, "1.7", "3"), (V18, "1.8", "4")] {
        let persona = Persona::default_citizen();
        let card = belpic(&persona, version);
        let token_info = card.file(&TOKEN_INFO).expect("5032").to_vec();
        let mut card = probe(card);
        let info = Beid::info(card.device()).expect("info");
        let serial: String = persona.chip_number().iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(info.serial_number, serial);
        assert_eq!(info.label, "BELPIC");
        assert_eq!(info.version, applet);
        let details: Value = serde_json::from_str(&info.details).expect("details JSON");
        assert_eq!(text(&details, "rawData"), b64(&token_info));
        assert_eq!(text(&details, "version"), "0");
        assert_eq!(text(&details, "serialNumber"), serial);
        assert_eq!(text(&details, "label"), "BELPIC");
        assert_eq!(text(&details, "prnGeneration"), "true");
        assert_eq!(text(&details, "eidCompliant"), "true");
        assert_eq!(text(&details, "graphicalPersoVersion"), "0");
        assert_eq!(text(&details, "electricalPersoVersion"), perso);
        assert_eq!(text(&details, "electricalPersoInterfaceVersion"), "0");
        assert_eq!(text(&details, "versionRfu"), "0");
        assert_eq!(details["changeCounter"], Value::Null);
        assert_eq!(text(&details, "activated"), "true");
        // GET CARD DATA, SELECT, one READ BINARY of the 41 bytes.
        assert_eq!(card.count(), 3);
    }
}

// ---------------------------------------------------------------------------------------------
// PIN

#[test]
fn wrong_pin_reports_tries_left_then_blocked() {
    for version in VERSIONS {
        let mut card = probe(belpic(&Persona::default_citizen(), version));
        let wrong = Pin::from_digits("9999");
        assert_eq!(Beid::verify_pin(card.device(), Some(&wrong)), Err(Error::PinWrong(2)));
        assert_eq!(Beid::verify_pin(card.device(), Some(&wrong)), Err(Error::PinWrong(1)));
        assert_eq!(Beid::verify_pin(card.device(), Some(&wrong)), Err(Error::PinWrong(0)));
        let right = Pin::from_digits("1234");
        assert_eq!(Beid::verify_pin(card.device(), Some(&right)), Err(Error::PinBlocked));
    }
}

#[test]
fn right_pin_resets_the_counter() {
    let mut card = probe(belpic(&Persona::default_citizen(), V18));
    let wrong = Pin::from_digits("9999");
    assert_eq!(Beid::verify_pin(card.device(), Some(&wrong)), Err(Error::PinWrong(2)));
    let right = Pin::from_digits("1234");
    assert_eq!(Beid::verify_pin(card.device(), Some(&right)), Ok(()));
    assert_eq!(Beid::verify_pin(card.device(), Some(&wrong)), Err(Error::PinWrong(2)));
    assert_eq!(card.count(), 3);
}

#[test]
fn pinpad_verification_without_a_pinpad_is_not_supported() {
    let mut card = probe(belpic(&Persona::default_citizen(), V17));
    assert!(matches!(Beid::verify_pin(card.device(), None), Err(Error::NotSupported(_))));
}

#[test]
fn pinpad_verification_uses_the_reader_keypad() {
    let reader = VirtualReader::with_pinpad("Pinpad reader", "1234".to_owned());
    reader.insert(Box::new(belpic(&Persona::default_citizen(), V18)));
    let mut card = Probe::new(reader.connect().expect("connect"));
    assert_eq!(Beid::verify_pin(card.device(), None), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Signatures

#[test]
fn signatures_verify_with_the_card_keys_for_every_digest() {
    let data = b"document to sign";
    for version in VERSIONS {
        let card = belpic(&Persona::default_citizen(), version);
        let auth_key = card.public_key(CertificateRole::Authentication);
        let nonrep_key = card.public_key(CertificateRole::NonRepudiation);
        let mut card = probe(card);
        let pin = Pin::from_digits("1234");
        for algorithm in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let hash = digest(algorithm, data);
            let request = sign_request(algorithm, &hash, false);
            let signature = Beid::sign(card.device(), &request, Some(&pin)).expect("sign");
            verify_signature(&nonrep_key, algorithm, &hash, &signature);
            let signature = Beid::authenticate(card.device(), &request, Some(&pin)).expect("auth");
            verify_signature(&auth_key, algorithm, &hash, &signature);
        }
    }
}

#[test]
fn rsa_pss_signatures_verify_on_applet_1_7_over_sha1_and_sha256() {
    let card = belpic(&Persona::default_citizen(), V17);
    let PublicKey::Rsa(auth_key) = card.public_key(CertificateRole::Authentication) else {
        panic!("applet 1.7 has RSA keys");
    };
    let PublicKey::Rsa(nonrep_key) = card.public_key(CertificateRole::NonRepudiation) else {
        panic!("applet 1.7 has RSA keys");
    };
    let mut card = probe(card);
    let pin = Pin::from_digits("1234");
    for algorithm in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
        let hash = digest(algorithm, b"pss document");
        let request =
            SignRequest { padding: Padding::Pss, ..sign_request(algorithm, &hash, false) };
        let signed = Beid::sign(card.device(), &request, Some(&pin)).expect("PSS sign");
        let authenticated = Beid::authenticate(card.device(), &request, Some(&pin)).expect("auth");
        // MGF1 over the same digest, salt as long as the digest (the `rsa` crate's default).
        let (sign_check, auth_check) = match algorithm {
            HashAlgorithm::Sha1 => (
                nonrep_key.verify(Pss::new::<Sha1>(), &hash, &signed),
                auth_key.verify(Pss::new::<Sha1>(), &hash, &authenticated),
            ),
            _ => (
                nonrep_key.verify(Pss::new::<Sha256>(), &hash, &signed),
                auth_key.verify(Pss::new::<Sha256>(), &hash, &authenticated),
            ),
        };
        sign_check.expect("PSS signature verifies with the non-repudiation key");
        auth_check.expect("PSS signature verifies with the authentication key");
        assert!(
            nonrep_key.verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signed).is_err(),
            "not a PKCS#1 v1.5 signature"
        );
    }
}

#[test]
fn rsa_pss_is_not_supported_over_longer_digests_or_on_ec_cards_and_spends_no_pin_try() {
    let pin = Pin::from_digits("1234");
    let mut card = probe(belpic(&Persona::default_citizen(), V17));
    let request = SignRequest {
        padding: Padding::Pss,
        ..sign_request(HashAlgorithm::Sha384, &Sha384::digest(b"a"), false)
    };
    let err = Beid::sign(card.device(), &request, Some(&pin));
    assert!(matches!(&err, Err(Error::NotSupported(m)) if m.contains("SHA-256")), "{err:?}");
    let mut card18 = probe(belpic(&Persona::default_citizen(), V18));
    let request = SignRequest {
        padding: Padding::Pss,
        ..sign_request(HashAlgorithm::Sha256, &Sha256::digest(b"a"), false)
    };
    let err = Beid::authenticate(card18.device(), &request, Some(&pin));
    assert!(matches!(&err, Err(Error::NotSupported(m)) if m.contains("EC")), "{err:?}");
    for sent in [&card.sent, &card18.sent] {
        assert!(sent.iter().all(|apdu| apdu[1] != 0x20 && apdu[1] != 0x2A), "no VERIFY, no PSO");
    }
}

#[test]
fn raw_data_is_hashed_by_the_module() {
    let data = b"raw document bytes";
    for version in VERSIONS {
        let card = belpic(&Persona::default_citizen(), version);
        let key = card.public_key(CertificateRole::NonRepudiation);
        let mut card = probe(card);
        let request = sign_request(HashAlgorithm::Sha256, data, true);
        let signature =
            Beid::sign(card.device(), &request, Some(&Pin::from_digits("1234"))).expect("sign");
        verify_signature(&key, HashAlgorithm::Sha256, &Sha256::digest(data), &signature);
    }
}

#[test]
fn a_signature_costs_four_commands() {
    for version in VERSIONS {
        let mut card = probe(belpic(&Persona::default_citizen(), version));
        let hash = Sha256::digest(b"x");
        let request = sign_request(HashAlgorithm::Sha256, &hash, false);
        Beid::sign(card.device(), &request, Some(&Pin::from_digits("1234"))).expect("sign");
        let instructions: Vec<u8> = card.sent.iter().map(|apdu| apdu[1]).collect();
        println!("APDUs for a non-repudiation signature on applet {version:?}: {}", card.count());
        // MSE:SET, VERIFY, PSO:CDS, GET RESPONSE.
        assert_eq!(instructions, [0x22, 0x20, 0x2A, 0xC0]);
    }
}

#[test]
fn consecutive_non_repudiation_signatures_each_get_their_pin() {
    let mut card = probe(belpic(&Persona::default_citizen(), V17));
    let request = sign_request(HashAlgorithm::Sha256, &Sha256::digest(b"a"), false);
    let pin = Pin::from_digits("1234");
    for _ in 0..3 {
        Beid::sign(card.device(), &request, Some(&pin)).expect("sign");
    }
}

#[test]
fn signing_with_a_wrong_pin_reports_tries_left() {
    let mut card = probe(belpic(&Persona::default_citizen(), V18));
    let request = sign_request(HashAlgorithm::Sha384, &Sha384::digest(b"a"), false);
    let err = Beid::sign(card.device(), &request, Some(&Pin::from_digits("0000")));
    assert_eq!(err, Err(Error::PinWrong(2)));
    // No PSO after the failed VERIFY.
    assert!(card.sent.iter().all(|apdu| apdu[1] != 0x2A));
}

#[test]
fn a_digest_of_the_wrong_length_is_refused_before_any_command() {
    let mut card = probe(belpic(&Persona::default_citizen(), V17));
    let request = sign_request(HashAlgorithm::Sha256, &[0; 20], false);
    let err = Beid::sign(card.device(), &request, Some(&Pin::from_digits("1234")));
    assert!(matches!(err, Err(Error::InvalidInput(_))));
    assert_eq!(card.count(), 0);
}

#[test]
fn supported_algorithms_are_the_four_sha_digests() {
    let mut card = probe(belpic(&Persona::default_citizen(), V18));
    let algorithms = Beid::supported_algorithms(card.device()).expect("algorithms");
    assert_eq!(algorithms.len(), 4);
    assert_eq!(card.count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Card presence and other cards

#[test]
fn removing_the_card_mid_read_is_card_removed() {
    for version in VERSIONS {
        let mut card = probe(belpic(&Persona::default_citizen(), version));
        card.remove_after = Some(5);
        let err = card.invoke("all-data", "").expect_err("the card is gone");
        assert_eq!(err, Error::CardRemoved);
    }
}

#[test]
fn the_applet_is_selected_when_another_application_is_current() {
    let mut card = probe(belpic(&Persona::default_citizen(), V17));
    // SELECT of the empty AID hands the card to the card manager (RM18 §6.6).
    card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x00]).expect("select card manager");
    let json = card.invoke("biometric", "").expect("biometric");
    assert_eq!(text(&json, "name"), "Testkaart");
    let applet_selects =
        card.sent.iter().filter(|apdu| apdu.starts_with(&[0x00, 0xA4, 0x04, 0x0C, 0x0F])).count();
    assert_eq!(applet_selects, 1);
}

/// A card without the Belpic applet: every SELECT is `6A82`.
struct OtherCard;

impl Card for OtherCard {
    fn atr(&self) -> Vec<u8> {
        vec![0x3B, 0x8F, 0x80, 0x01]
    }

    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, CardError> {
        Ok(vec![0x6A, 0x82])
    }

    fn verify_pin(&mut self, _: &PinVerifyRequest, _: Option<&Pin<'_>>) -> Result<u16, CardError> {
        Ok(0x6D00)
    }
}

#[test]
fn a_card_without_the_applet_is_not_supported() {
    for operation in ["biometric", "version", "cert-list"] {
        let err = Beid::invoke(Some(Device::Card(&mut OtherCard)), operation, "");
        assert!(matches!(err, Err(Error::NotSupported(_))), "{operation}: {err:?}");
    }
    let request = sign_request(HashAlgorithm::Sha256, &[0; 32], false);
    let err = Beid::sign(Device::Card(&mut OtherCard), &request, None);
    assert!(matches!(err, Err(Error::NotSupported(_))), "{err:?}");
}

#[test]
fn unknown_operations_are_not_supported() {
    let mut card = probe(belpic(&Persona::default_citizen(), V17));
    assert!(matches!(card.invoke("rn", ""), Err(Error::NotSupported(_))));
    assert_eq!(card.count(), 0);
}

#[test]
fn command_counts_per_operation() {
    for version in VERSIONS {
        let mut counts = Vec::new();
        for operation in [
            "biometric",
            "address",
            "picture",
            "all-data",
            "version",
            "cert-list",
            "root-cert",
            "authentication-cert",
        ] {
            let mut card = probe(belpic(&Persona::default_citizen(), version));
            card.invoke(operation, "").expect(operation);
            counts.push(format!("{operation} {}", card.count()));
        }
        let mut card = probe(belpic(&Persona::default_citizen(), version));
        Beid::info(card.device()).expect("info");
        counts.push(format!("info {}", card.count()));
        println!("APDUs per operation on applet {version:?}: {}", counts.join(", "));
    }
}
