//! The simulated Belgian eID card (applets 1.7 and 1.8), driven in process through the SDK's
//! own ISO 7816 helpers, and checked against the reference manuals and card content specs.
#![cfg(feature = "simulator")]

use std::sync::OnceLock;

use p384::ecdsa::signature::Verifier as _;
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
use proptest::prelude::*;
use rsa::{Pkcs1v15Sign, Pss};
use sha2::{Digest as _, Sha256, Sha384};

use t1c_sdk::Card as _;
use t1c_sdk::apdu::Command;
use t1c_sdk::iso7816::{read_file, select_by_path, transceive};
use t1c_sdk::simulator::belpic::{
    APPLET_AID, ATR_V1_7, ATR_V1_8, AppletVersion, BELPIC_DF_AID, BelpicCard, CertificateRole,
    ID_DF_AID, Persona, PublicKey, TestPki, pin_block,
};
use t1c_sdk::simulator::{SimulatedCard, VirtualCard, VirtualReader};
use t1c_sdk::status::StatusWord;

const V17: AppletVersion = AppletVersion::V1_7;
const V18: AppletVersion = AppletVersion::V1_8;
const IDENTITY: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x31];
const IDENTITY_SIGNATURE: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x32];
const ADDRESS: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x33];
const ADDRESS_SIGNATURE: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x34];
const PHOTO: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x35];
const BASIC_KEY: [u8; 6] = [0x3F, 0x00, 0xDF, 0x01, 0x40, 0x40];

/// One PKI per applet version for the whole test binary: RSA key generation is slow.
fn pki(version: AppletVersion) -> &'static TestPki {
    static V17_PKI: OnceLock<TestPki> = OnceLock::new();
    static V18_PKI: OnceLock<TestPki> = OnceLock::new();
    let cell = match version {
        AppletVersion::V1_8 => &V18_PKI,
        _ => &V17_PKI,
    };
    cell.get_or_init(|| {
        TestPki::generate_seeded(&Persona::default_citizen(), version, 7).expect("test PKI")
    })
}

fn belpic(version: AppletVersion) -> BelpicCard {
    BelpicCard::from_pki(&Persona::default_citizen(), pki(version)).expect("card")
}

fn insert(card: BelpicCard) -> SimulatedCard {
    let reader = VirtualReader::new("Simulated reader");
    reader.insert(Box::new(card));
    reader.connect().expect("connect")
}

fn connect(version: AppletVersion) -> SimulatedCard {
    insert(belpic(version))
}

/// Sends raw bytes and returns the raw response.
fn raw(card: &mut SimulatedCard, apdu: &[u8]) -> Vec<u8> {
    card.transmit(apdu).expect("transmit")
}

/// The status word of a raw exchange.
fn sw(card: &mut SimulatedCard, apdu: &[u8]) -> u16 {
    let response = raw(card, apdu);
    let [.., sw1, sw2] = response[..] else { panic!("no status word") };
    u16::from_be_bytes([sw1, sw2])
}

fn verify_apdu(pin: &str) -> Vec<u8> {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x01, 0x08];
    apdu.extend_from_slice(&pin_block(pin).expect("PIN block"));
    apdu
}

fn verify(card: &mut SimulatedCard, pin: &str) -> u16 {
    sw(card, &verify_apdu(pin))
}

fn mse(card: &mut SimulatedCard, algorithm: u8, key: u8) -> u16 {
    sw(card, &[0x00, 0x22, 0x41, 0xB6, 0x05, 0x04, 0x80, algorithm, 0x84, key])
}

/// PSO:CDS sent as eid-mw does (no Le), then GET RESPONSE through `transceive`.
fn sign(card: &mut SimulatedCard, dtbs: &[u8]) -> (Vec<u8>, StatusWord) {
    let command = Command::new(0x00, 0x2A, 0x9E, 0x9A).with_data(dtbs.to_vec()).expect("data");
    let response = transceive(card, &command).expect("exchange");
    (response.data().to_vec(), response.status())
}

fn read(card: &mut SimulatedCard, path: &[u8]) -> Vec<u8> {
    assert!(select_by_path(card, path, true).expect("select").is_success());
    read_file(card, 252).expect("read")
}

fn rsa_key(key: PublicKey) -> rsa::RsaPublicKey {
    match key {
        PublicKey::Rsa(key) => key,
        other => panic!("not RSA: {other:?}"),
    }
}

fn ec_key(key: PublicKey) -> p384::ecdsa::VerifyingKey {
    match key {
        PublicKey::Ec(key) => key,
        other => panic!("not EC: {other:?}"),
    }
}

/// The DER signature at the start of a zero-padded EC signature file.
fn trimmed_der(file: &[u8]) -> &[u8] {
    let len = match file[1] {
        0x81 => usize::from(file[2]) + 3,
        short => usize::from(short) + 2,
    };
    &file[..len]
}

fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

/// The TLV value of `tag` in an identity or address file.
fn field(file: &[u8], tag: u8) -> Option<Vec<u8>> {
    let mut rest = file;
    while let [t, tail @ ..] = rest {
        let mut len = 0usize;
        let mut i = 0;
        while tail[i] == 0xFF {
            len += 255;
            i += 1;
        }
        len += usize::from(tail[i]);
        let value = &tail[i + 1..i + 1 + len];
        if *t == tag {
            return Some(value.to_vec());
        }
        rest = &tail[i + 1 + len..];
        if rest.first() == Some(&0) {
            return None;
        }
    }
    None
}

fn tags(file: &[u8]) -> Vec<u8> {
    (0u8..=0x1F).filter(|&tag| field(file, tag).is_some()).collect()
}

// --- ATR, selection, reading -------------------------------------------------------------

#[test]
fn atr_is_the_real_one_per_applet() {
    assert_eq!(connect(V17).atr(), ATR_V1_7);
    assert_eq!(connect(V18).atr(), ATR_V1_8);
}

#[test]
fn select_by_path_with_and_without_3f00() {
    let mut card = connect(V17);
    let with = read(&mut card, &IDENTITY);
    let without = read(&mut card, &IDENTITY[2..]);
    assert_eq!(with, without);
    assert_eq!(with, belpic(V17).file(&IDENTITY).expect("identity"));
}

#[test]
fn select_by_fid_follows_the_current_df() {
    let mut card = connect(V18);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x40, 0x31]), 0x6A82);
    for fid in [[0x3F, 0x00], [0xDF, 0x01], [0x40, 0x31]] {
        assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, fid[0], fid[1]]), 0x9000);
    }
    // Siblings of the current EF are reachable, other DFs' files are not.
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x40, 0x33]), 0x9000);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x50, 0x38]), 0x6A82);
}

#[test]
fn select_by_aid_of_applet_and_dfs() {
    let mut card = connect(V17);
    let select = |aid: &[u8], p2: u8| {
        let mut apdu = vec![0x00, 0xA4, 0x04, p2, u8::try_from(aid.len()).expect("short")];
        apdu.extend_from_slice(aid);
        apdu
    };
    assert_eq!(sw(&mut card, &select(&APPLET_AID, 0x00)), 0x9000);
    assert_eq!(sw(&mut card, &select(&BELPIC_DF_AID, 0x0C)), 0x9000);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x50, 0x32]), 0x9000);
    assert_eq!(sw(&mut card, &select(&ID_DF_AID, 0x0C)), 0x9000);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x40, 0x35]), 0x9000);
    assert_eq!(sw(&mut card, &select(&[0xA0, 0, 0, 0, 0x63], 0x0C)), 0x6A82);
}

#[test]
fn empty_aid_selects_the_card_manager_until_the_applet_is_selected_again() {
    let mut card = connect(V18);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x04, 0x0C]), 0x9000);
    assert_eq!(sw(&mut card, &[0x80, 0xE4, 0x00, 0x00, 0x1C]), 0x6D00);
    let mut reselect = vec![0x00, 0xA4, 0x04, 0x0C, 0x0F];
    reselect.extend_from_slice(&APPLET_AID);
    assert_eq!(sw(&mut card, &reselect), 0x9000);
    assert_eq!(raw(&mut card, &[0x80, 0xE4, 0x00, 0x00, 0x1C]).len(), 30);
}

#[test]
fn select_with_fci_or_unknown_p1_is_wrong_p1_p2() {
    let mut card = connect(V17);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x08, 0x00, 0x04, 0xDF, 0x01, 0x40, 0x31]), 0x6A86);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x09, 0x0C, 0x02, 0x40, 0x31]), 0x6A86);
}

#[test]
fn read_past_end_gives_6b00() {
    let mut card = connect(V17);
    let size = belpic(V17).file(&IDENTITY).expect("identity").len();
    assert_eq!(
        sw(&mut card, &[0x00, 0xA4, 0x08, 0x0C, 0x06, 0x3F, 0x00, 0xDF, 0x01, 0x40, 0x31]),
        0x9000
    );
    let [hi, lo] = u16::try_from(size).expect("small").to_be_bytes();
    assert_eq!(sw(&mut card, &[0x00, 0xB0, hi, lo, 0x01]), 0x6B00);
    assert_eq!(sw(&mut card, &[0x00, 0xB0, 0x7F, 0xFF, 0x01]), 0x6B00);
}

#[test]
fn read_with_le_beyond_the_end_gives_6cxx_with_what_is_left() {
    let mut card = connect(V17);
    let identity = belpic(V17).file(&IDENTITY).expect("identity").to_vec();
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x08, 0x0C, 0x04, 0xDF, 0x01, 0x40, 0x31]), 0x9000);
    let left = u8::try_from(identity.len()).expect("under 256");
    assert_eq!(raw(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0xFF]), [0x6C, left]);
    let mut expected = identity.clone();
    expected.extend_from_slice(&[0x90, 0x00]);
    assert_eq!(raw(&mut card, &[0x00, 0xB0, 0x00, 0x00, left]), expected);
}

#[test]
fn read_without_current_ef_gives_6986() {
    let mut card = connect(V17);
    assert_eq!(sw(&mut card, &[0x00, 0xB0, 0x00, 0x00, 0x10]), 0x6986);
}

#[test]
fn every_file_reads_back_through_the_sdk() {
    for version in [V17, V18] {
        let reference = belpic(version);
        let mut card = connect(version);
        let mut paths = vec![vec![0x3F, 0x00, 0x2F, 0x00]];
        for fid in [0x31u8, 0x32, 0x34, 0x35, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C] {
            paths.push(vec![0x3F, 0x00, 0xDF, 0x00, 0x50, fid]);
        }
        for fid in [0x31u8, 0x32, 0x33, 0x34, 0x35] {
            paths.push(vec![0x3F, 0x00, 0xDF, 0x01, 0x40, fid]);
        }
        for path in paths {
            assert_eq!(read(&mut card, &path), reference.file(&path).expect("file"), "{path:02X?}");
        }
    }
}

// --- PKCS#15 and certificate files ----------------------------------------------------------

#[test]
fn pkcs15_files_are_byte_exact() {
    let card = belpic(V17);
    let dir: &[u8] = &[
        0x61, 0x23, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x01, 0x77, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31,
        0x35, 0x50, 0x06, 0x42, 0x45, 0x4C, 0x50, 0x49, 0x43, 0x51, 0x04, 0x3F, 0x00, 0xDF, 0x00,
        0x73, 0x05, 0x06, 0x03, 0x60, 0x38, 0x02,
    ];
    assert_eq!(card.file(&[0x3F, 0x00, 0x2F, 0x00]), Some(dir));
    let odf = card.file(&[0xDF, 0x00, 0x50, 0x31]).expect("ODF");
    assert_eq!(odf.len(), 36);
    assert_eq!(odf[..12], [0xA0, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0xDF, 0x00, 0x50, 0x35]);
    let aodf = card.file(&[0xDF, 0x00, 0x50, 0x34]).expect("AODF");
    assert_eq!(aodf.len(), 53);
    assert_eq!(aodf[..6], [0x30, 0x33, 0x30, 0x0F, 0x0C, 0x09]);
    let token_info = card.file(&[0xDF, 0x00, 0x50, 0x32]).expect("TokenInfo");
    assert_eq!(token_info.len(), 41);
    assert_eq!(token_info[7..23], card.chip_number());
}

#[test]
fn prkdf_declares_rsa_2048_on_1_7_and_ec_384_on_1_8() {
    let v17 = belpic(V17);
    let prkdf = v17.file(&[0xDF, 0x00, 0x50, 0x35]).expect("PrKDF");
    assert_eq!((prkdf[0], prkdf[0x3C]), (0x30, 0x30));
    assert_eq!(prkdf[0x3A..0x3C], [0x08, 0x00]);
    let v18 = belpic(V18);
    let prkdf = v18.file(&[0xDF, 0x00, 0x50, 0x35]).expect("PrKDF");
    assert_eq!((prkdf[0], prkdf[0x3C]), (0xA0, 0xA0));
    assert_eq!(prkdf[0x3A..0x3C], [0x01, 0x80]);
}

#[test]
fn certificate_files_are_der_with_zero_padding() {
    for (version, padding) in [(V17, 50), (V18, 1100)] {
        let card = belpic(version);
        for role in [
            CertificateRole::Authentication,
            CertificateRole::NonRepudiation,
            CertificateRole::Ca,
            CertificateRole::Root,
        ] {
            let [hi, lo] = role.file_id();
            let file = card.file(&[0xDF, 0x00, hi, lo]).expect("certificate file");
            let der = card.certificate(role);
            assert_eq!(file.len(), der.len() + padding);
            assert_eq!(&file[..der.len()], der);
            assert!(file[der.len()..].iter().all(|&b| b == 0));
            // The trimming rule of eid-mw's minidriver: 30 82 LL LL.
            assert_eq!(usize::from(u16::from_be_bytes([file[2], file[3]])) + 4, der.len());
        }
    }
}

#[test]
fn certificates_name_the_persona_like_real_eid_certificates() {
    use der::Decode as _;
    let persona = Persona::default_citizen();
    let card = belpic(V17);
    let cert = x509_cert::Certificate::from_der(card.certificate(CertificateRole::Authentication))
        .expect("certificate");
    let subject = cert.tbs_certificate.subject.to_string();
    assert!(subject.contains(&format!("SERIALNUMBER={}", persona.national_number)), "{subject}");
    assert!(subject.contains("CN=Lotte Testkaart (Authentication)"), "{subject}");
    assert!(subject.contains("SN=Testkaart"), "{subject}");
}

#[test]
fn certificates_chain_to_the_test_root() {
    use der::{Decode as _, Encode as _};
    for version in [V17, V18] {
        let card = belpic(version);
        for (role, issuer) in [
            (CertificateRole::Authentication, CertificateRole::Ca),
            (CertificateRole::NonRepudiation, CertificateRole::Ca),
            (CertificateRole::Ca, CertificateRole::Root),
            (CertificateRole::Rrn, CertificateRole::Root),
            (CertificateRole::Root, CertificateRole::Root),
        ] {
            let cert = x509_cert::Certificate::from_der(card.certificate(role)).expect("cert");
            let tbs = cert.tbs_certificate.to_der().expect("tbs");
            let signature = cert.signature.raw_bytes();
            match card.public_key(issuer) {
                PublicKey::Rsa(key) => key
                    .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&tbs), signature)
                    .expect("RSA chain"),
                PublicKey::Ec(key) => {
                    let signature = p384::ecdsa::Signature::from_der(signature).expect("DER");
                    key.verify(&tbs, &signature).expect("EC chain");
                }
            }
        }
    }
}

// --- identity, address, photo ------------------------------------------------------------

#[test]
fn identity_signature_verifies_with_rrn_key() {
    let card = belpic(V17);
    let identity = card.file(&IDENTITY).expect("identity");
    let signature = card.file(&IDENTITY_SIGNATURE).expect("signature");
    assert_eq!(signature.len(), 256);
    rsa_key(card.public_key(CertificateRole::Rrn))
        .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(identity), signature)
        .expect("RSA identity signature");

    let card = belpic(V18);
    let identity = card.file(&IDENTITY).expect("identity");
    let file = card.file(&IDENTITY_SIGNATURE).expect("signature");
    let signature = p384::ecdsa::Signature::from_der(trimmed_der(file)).expect("DER");
    ec_key(card.public_key(CertificateRole::Rrn)).verify(identity, &signature).expect("ECDSA");
}

#[test]
fn address_signature_covers_trimmed_address_and_identity_signature_file() {
    let card = belpic(V17);
    let signed = [
        trim_zeros(card.file(&ADDRESS).expect("address")),
        card.file(&IDENTITY_SIGNATURE).expect("id signature"),
    ]
    .concat();
    rsa_key(card.public_key(CertificateRole::Rrn))
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(&signed),
            card.file(&ADDRESS_SIGNATURE).expect("sig"),
        )
        .expect("RSA address signature");

    let card = belpic(V18);
    let id_signature_file = card.file(&IDENTITY_SIGNATURE).expect("id signature");
    assert_eq!(id_signature_file.len(), 256);
    let signed = [trim_zeros(card.file(&ADDRESS).expect("address")), id_signature_file].concat();
    let file = card.file(&ADDRESS_SIGNATURE).expect("signature");
    let signature = p384::ecdsa::Signature::from_der(trimmed_der(file)).expect("DER");
    ec_key(card.public_key(CertificateRole::Rrn)).verify(&signed, &signature).expect("ECDSA");
}

#[test]
fn address_is_zero_padded() {
    let card = belpic(V17);
    let address = card.file(&ADDRESS).expect("address");
    assert_eq!(address.len(), 121);
    let used = trim_zeros(address).len();
    assert!(used < 121 && address[used..].iter().all(|&b| b == 0));
    assert_eq!(field(address, 0x01).as_deref(), Some(&b"Simulatiestraat 12 bus 3"[..]));
    assert_eq!(field(address, 0x02).as_deref(), Some(&b"3500"[..]));
}

#[test]
fn photo_hash_in_identity_file_matches_the_photo() {
    let card = belpic(V17);
    let photo = card.file(&PHOTO).expect("photo");
    assert_eq!(photo[..3], [0xFF, 0xD8, 0xFF], "a JPEG");
    let hash = field(card.file(&IDENTITY).expect("identity"), 0x11).expect("tag 11");
    assert_eq!(hash, Sha256::digest(photo).to_vec());

    let card = belpic(V18);
    let hash = field(card.file(&IDENTITY).expect("identity"), 0x11).expect("tag 11");
    assert_eq!(hash, Sha384::digest(card.file(&PHOTO).expect("photo")).to_vec());
}

#[test]
fn basic_key_file_is_in_the_identity_file_on_1_8_only() {
    let card = belpic(V18);
    let spki = card.file(&BASIC_KEY).expect("4040");
    assert_eq!(spki.len(), 120);
    assert_eq!(spki[..5], [0x30, 0x76, 0x30, 0x10, 0x06]);
    let hash = field(card.file(&IDENTITY).expect("identity"), 0x1A).expect("tag 1A");
    assert_eq!(hash, Sha384::digest(spki).to_vec());
    assert!(belpic(V17).file(&BASIC_KEY).is_none());
}

#[test]
fn citizen_identity_has_tags_01_to_11_and_1a_on_1_8() {
    let v17 = belpic(V17);
    assert_eq!(tags(v17.file(&IDENTITY).expect("identity")), (1u8..=0x11).collect::<Vec<_>>());
    let v18 = belpic(V18);
    let mut expected: Vec<u8> = (1u8..=0x11).collect();
    expected.push(0x1A);
    assert_eq!(tags(v18.file(&IDENTITY).expect("identity")), expected);
}

#[test]
fn identity_fields_follow_the_persona() {
    let persona = Persona::default_citizen();
    let card = belpic(V17);
    let identity = card.file(&IDENTITY).expect("identity");
    assert_eq!(field(identity, 0x06), Some(persona.national_number.into_bytes()));
    assert_eq!(field(identity, 0x02), Some(card.chip_number().to_vec()));
    assert_eq!(field(identity, 0x0C).as_deref(), Some(&b"15 MAAR 1985"[..]));
    assert_eq!(field(identity, 0x0D).as_deref(), Some(&b"V"[..]));
    assert_eq!(field(identity, 0x03).as_deref(), Some(&b"15.01.2024"[..]));
    assert_eq!(field(identity, 0x0F).as_deref(), Some(&b"1"[..]));
}

#[test]
fn foreigner_identity_has_foreigner_tags_and_1_8_mentions() {
    let foreigner = Persona::foreigner();
    let v18 = BelpicCard::from_pki(&foreigner, pki(V18)).expect("card");
    let tags18 = tags(v18.file(&IDENTITY).expect("identity"));
    assert_eq!(tags18, (1u8..=0x1F).collect::<Vec<_>>());
    let identity = v18.file(&IDENTITY).expect("identity");
    assert_eq!(field(identity, 0x14), Some(Vec::new()), "member of family: empty value");
    assert_eq!(field(identity, 0x0F).as_deref(), Some(&b"32"[..]));

    let v17 = BelpicCard::from_pki(&foreigner, pki(V17)).expect("card");
    assert_eq!(tags(v17.file(&IDENTITY).expect("identity")), (1u8..=0x19).collect::<Vec<_>>());
}

#[test]
fn german_card_writes_dots_and_umlauts_in_the_birth_date() {
    let card = BelpicCard::from_pki(&Persona::german_speaking_citizen(), pki(V18)).expect("card");
    let identity = card.file(&IDENTITY).expect("identity");
    assert_eq!(field(identity, 0x0C), Some("01.DEZ. 2003".as_bytes().to_vec()));
    assert_eq!(field(identity, 0x07), Some("Probekärte-Müßig".as_bytes().to_vec()));
    assert_eq!(field(identity, 0x10).as_deref(), Some(&b"4"[..]));
}

#[test]
fn read_record_returns_the_tlv_fields_on_1_8() {
    let mut card = connect(V18);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x08, 0x0C, 0x04, 0xDF, 0x01, 0x40, 0x31]), 0x9000);
    let response = raw(&mut card, &[0x80, 0xB2, 0x06, 0x06, 0x00]);
    let nn = Persona::default_citizen().national_number;
    let mut expected = vec![0x06, 11];
    expected.extend_from_slice(nn.as_bytes());
    expected.extend_from_slice(&[0x90, 0x00]);
    assert_eq!(response, expected);
    assert_eq!(sw(&mut card, &[0x80, 0xB2, 0x07, 0x06, 0x00]), 0x6A83);
    assert_eq!(sw(&mut card, &[0x80, 0xB2, 0x06, 0x06, 0x20]), 0x6C0D);
    let mut v17 = connect(V17);
    assert_eq!(sw(&mut v17, &[0x80, 0xB2, 0x06, 0x06, 0x00]), 0x6D00);
}

// --- GET CARD DATA -----------------------------------------------------------------------

#[test]
fn get_card_data_both_forms_on_1_8() {
    let mut card = connect(V18);
    let short = raw(&mut card, &[0x80, 0xE4, 0x00, 0x00, 0x1C]);
    assert_eq!(short.len(), 28 + 2);
    assert_eq!(short[21], 0x18);
    assert_eq!(short[22..28], [0x00, 0x01, 0x00, 0x00, 0x02, 0x0F]);
    let long = raw(&mut card, &[0x80, 0xE4, 0x00, 0x01, 0x1F]);
    assert_eq!(long.len(), 31 + 2);
    assert_eq!(long[..28], short[..28]);
    assert_eq!(long[28..], [0x03, 0xFF, 0xFF, 0x90, 0x00]);
}

#[test]
fn get_card_data_on_1_7_has_only_the_legacy_form() {
    let mut card = connect(V17);
    let data = raw(&mut card, &[0x80, 0xE4, 0x00, 0x00, 0x1C]);
    assert_eq!(data[..16], belpic(V17).chip_number());
    assert_eq!(data[21..], [0x17, 0x00, 0x03, 0x00, 0x21, 0x01, 0x0F, 0x90, 0x00]);
    assert_eq!(sw(&mut card, &[0x80, 0xE4, 0x00, 0x01, 0x1F]), 0x6B00);
}

#[test]
fn get_card_data_with_long_le_gives_6c1c() {
    let mut card = connect(V17);
    assert_eq!(raw(&mut card, &[0x80, 0xE4, 0x00, 0x00, 0xFF]), [0x6C, 0x1C]);
    assert_eq!(raw(&mut card, &[0x80, 0xE4, 0x00, 0x00]), [0x6C, 0x1C]);
}

#[test]
fn get_card_data_with_short_le_leaves_the_rest_for_get_response() {
    let mut card = connect(V17);
    let first = raw(&mut card, &[0x80, 0xE4, 0x00, 0x00, 0x10]);
    assert_eq!(first[16..], [0x61, 0x0C]);
    let rest = raw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x0C]);
    assert_eq!(rest.len(), 14);
    assert_eq!(rest[12..], [0x90, 0x00]);
}

// --- PIN ---------------------------------------------------------------------------------

#[test]
fn wrong_pin_counts_down_then_blocks() {
    let mut card = connect(V17);
    assert_eq!(verify(&mut card, "9999"), 0x63C2);
    assert_eq!(verify(&mut card, "9999"), 0x63C1);
    assert_eq!(verify(&mut card, "9999"), 0x63C0);
    assert_eq!(verify(&mut card, "1234"), 0x6983);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01]), 0x6983);
}

#[test]
fn blocked_pin_stays_blocked_after_reset() {
    let reader = VirtualReader::new("r");
    reader.insert(Box::new(belpic(V18)));
    let mut card = reader.connect().expect("connect");
    for _ in 0..3 {
        verify(&mut card, "0000");
    }
    reader.reset();
    let mut card = reader.connect().expect("reconnect");
    assert_eq!(verify(&mut card, "1234"), 0x6983);
    assert_eq!(raw(&mut card, &[0x80, 0xE4, 0x00, 0x01, 0x1F])[28], 0x00);
}

#[test]
fn correct_pin_restores_the_tries() {
    let mut card = connect(V18);
    assert_eq!(verify(&mut card, "1111"), 0x63C2);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(raw(&mut card, &[0x80, 0xE4, 0x00, 0x01, 0x1F])[28], 0x03);
}

#[test]
fn empty_verify_reports_status_without_costing_a_try() {
    let mut card = connect(V17);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01]), 0x63C3);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01]), 0x63C3);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01]), 0x9000);
}

#[test]
fn verify_with_wrong_reference_or_length() {
    let mut card = connect(V17);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x02, 0x01, 0x00]), 0x6A88);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x01, 0x01, 0x01, 0x00]), 0x6A86);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01, 0x04, 0x31, 0x32, 0x33, 0x34]), 0x6700);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01]), 0x63C3, "no try lost");
}

#[test]
fn change_pin_then_only_the_new_one_verifies() {
    let mut card = connect(V17);
    let mut apdu = vec![0x00, 0x24, 0x00, 0x01, 0x10];
    apdu.extend_from_slice(&pin_block("1234").expect("old"));
    apdu.extend_from_slice(&pin_block("987654").expect("new"));
    assert_eq!(sw(&mut card, &apdu), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x63C2);
    assert_eq!(verify(&mut card, "987654"), 0x9000);
}

#[test]
fn change_pin_with_malformed_new_block_is_wrong_data() {
    let mut card = connect(V17);
    let mut apdu = vec![0x00, 0x24, 0x00, 0x01, 0x10];
    apdu.extend_from_slice(&pin_block("1234").expect("old"));
    apdu.extend_from_slice(&[0x24, 0x12, 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(sw(&mut card, &apdu), 0x6A80);
    assert_eq!(sw(&mut card, &[0x00, 0x24, 0x00, 0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]), 0x6700);
}

#[test]
fn log_off_drops_the_pin() {
    let mut card = connect(V17);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sw(&mut card, &[0x80, 0xE6, 0x00, 0x00]), 0x9000);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01]), 0x63C3);
}

// --- signatures --------------------------------------------------------------------------

const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

#[test]
fn sign_without_pin_is_refused() {
    let mut card = connect(V17);
    assert_eq!(mse(&mut card, 0x08, 0x82), 0x9000);
    assert_eq!(sign(&mut card, &[0x11; 32]).1, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn sign_without_security_environment_is_refused() {
    let mut card = connect(V18);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sign(&mut card, &[0x11; 48]).1, StatusWord::CONDITIONS_NOT_SATISFIED);
}

#[test]
fn authentication_signature_over_digest_info_verifies_on_1_7() {
    let mut card = connect(V17);
    let hash = Sha256::digest(b"to be signed");
    assert_eq!(mse(&mut card, 0x01, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let (signature, status) = sign(&mut card, &[&SHA256_PREFIX[..], &hash].concat());
    assert_eq!(status, StatusWord::SUCCESS);
    assert_eq!(signature.len(), 256);
    rsa_key(belpic(V17).public_key(CertificateRole::Authentication))
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .expect("PKCS#1 v1.5");
}

#[test]
fn sha256_algorithm_reference_prepends_the_digest_info() {
    let mut card = connect(V17);
    let hash = Sha256::digest(b"hash only");
    assert_eq!(mse(&mut card, 0x08, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let (signature, status) = sign(&mut card, &hash);
    assert_eq!(status, StatusWord::SUCCESS);
    rsa_key(belpic(V17).public_key(CertificateRole::Authentication))
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .expect("PKCS#1 v1.5 SHA-256");
}

#[test]
fn pss_sha256_signature_verifies_on_1_7() {
    let mut card = connect(V17);
    let hash = Sha256::digest(b"pss");
    assert_eq!(mse(&mut card, 0x20, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let (signature, status) = sign(&mut card, &hash);
    assert_eq!(status, StatusWord::SUCCESS);
    rsa_key(belpic(V17).public_key(CertificateRole::Authentication))
        .verify(Pss::new::<Sha256>(), &hash, &signature)
        .expect("PSS");
}

#[test]
fn ec_signature_is_raw_r_s_after_61_60_on_1_8() {
    let mut card = connect(V18);
    let hash = Sha384::digest(b"ec");
    assert_eq!(mse(&mut card, 0x02, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let mut apdu = vec![0x00, 0x2A, 0x9E, 0x9A, 0x30];
    apdu.extend_from_slice(&hash);
    assert_eq!(raw(&mut card, &apdu), [0x61, 0x60]);
    let response = raw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x60]);
    assert_eq!(response[96..], [0x90, 0x00]);
    let signature = p384::ecdsa::Signature::from_slice(&response[..96]).expect("r || s");
    ec_key(belpic(V18).public_key(CertificateRole::Authentication))
        .verify_prehash(&hash, &signature)
        .expect("ECDSA");
}

#[test]
fn ec_hash_not_specified_accepts_sha256_lengths() {
    let mut card = connect(V18);
    let hash = Sha256::digest(b"any hash");
    assert_eq!(mse(&mut card, 0x40, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let (signature, status) = sign(&mut card, &hash);
    assert_eq!(status, StatusWord::SUCCESS);
    let signature = p384::ecdsa::Signature::from_slice(&signature).expect("r || s");
    ec_key(belpic(V18).public_key(CertificateRole::Authentication))
        .verify_prehash(&hash, &signature)
        .expect("ECDSA over a SHA-256 hash");
    assert_eq!(sign(&mut card, &[0; 33]).1, StatusWord::WRONG_LENGTH);
}

#[test]
fn wrong_hash_length_is_wrong_length() {
    let mut card = connect(V17);
    assert_eq!(mse(&mut card, 0x08, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sign(&mut card, &[0; 20]).1, StatusWord::WRONG_LENGTH);
}

#[test]
fn mse_rejects_unknown_keys_and_algorithms() {
    let mut card = connect(V17);
    assert_eq!(mse(&mut card, 0x08, 0x84), 0x6A88);
    assert_eq!(mse(&mut card, 0x40, 0x82), 0x6A80);
    assert_eq!(
        sw(&mut card, &[0x00, 0x22, 0x41, 0xB6, 0x05, 0x04, 0x81, 0x08, 0x84, 0x82]),
        0x6A80
    );
    assert_eq!(
        sw(&mut card, &[0x00, 0x22, 0x41, 0xB8, 0x05, 0x04, 0x80, 0x08, 0x84, 0x82]),
        0x6B00
    );
}

#[test]
fn nonrep_signs_right_after_verify() {
    let mut card = connect(V17);
    assert_eq!(mse(&mut card, 0x08, 0x83), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let hash = Sha256::digest(b"contract");
    let (signature, status) = sign(&mut card, &hash);
    assert_eq!(status, StatusWord::SUCCESS);
    rsa_key(belpic(V17).public_key(CertificateRole::NonRepudiation))
        .verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &signature)
        .expect("non-repudiation signature");
}

#[test]
fn nonrep_pin_is_consumed_by_one_signature() {
    let mut card = connect(V17);
    assert_eq!(mse(&mut card, 0x08, 0x83), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SUCCESS);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn nonrep_on_1_7_refuses_a_command_between_verify_and_sign() {
    // The OpenSC order: VERIFY, MSE, PSO.
    let mut card = connect(V17);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(mse(&mut card, 0x08, 0x83), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn nonrep_on_1_8_allows_one_command_between_verify_and_sign() {
    let mut card = connect(V18);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(mse(&mut card, 0x02, 0x83), 0x9000);
    assert_eq!(sign(&mut card, &[1; 48]).1, StatusWord::SUCCESS);

    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(mse(&mut card, 0x02, 0x83), 0x9000);
    assert_eq!(sw(&mut card, &[0x80, 0xE4, 0x00, 0x00, 0x1C]), 0x9000);
    assert_eq!(sign(&mut card, &[1; 48]).1, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn verify_consumed_by_nonrep_does_not_grant_authentication() {
    let mut card = connect(V17);
    assert_eq!(mse(&mut card, 0x08, 0x83), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SUCCESS);
    assert_eq!(mse(&mut card, 0x08, 0x82), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn authentication_pin_once_survives_a_nonrep_sequence() {
    // RM17 §5.1: Verify, Sign(auth), Verify, Sign(nonrep), ..., Sign(auth) is OK.
    let mut card = connect(V17);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(mse(&mut card, 0x08, 0x82), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SUCCESS);
    assert_eq!(mse(&mut card, 0x08, 0x83), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SUCCESS);
    assert_eq!(mse(&mut card, 0x08, 0x82), 0x9000);
    assert_eq!(sign(&mut card, &[2; 32]).1, StatusWord::SUCCESS);
}

#[test]
fn verify_aged_by_a_read_serves_authentication_not_nonrep() {
    // RM17 §5.1: Verify, Read, Sign(nonrep) KO, Sign(auth) OK.
    let mut card = connect(V17);
    assert_eq!(mse(&mut card, 0x08, 0x83), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x08, 0x0C, 0x04, 0xDF, 0x01, 0x40, 0x31]), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(mse(&mut card, 0x08, 0x82), 0x9000);
    assert_eq!(sign(&mut card, &[1; 32]).1, StatusWord::SUCCESS);
}

#[test]
fn wrong_pin_drops_the_authentication_right() {
    let mut card = connect(V18);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(mse(&mut card, 0x02, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "4321"), 0x63C2);
    assert_eq!(sign(&mut card, &[1; 48]).1, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn reset_drops_the_pin_and_security_environment() {
    let reader = VirtualReader::new("r");
    reader.insert(Box::new(belpic(V18)));
    let mut card = reader.connect().expect("connect");
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    assert_eq!(mse(&mut card, 0x02, 0x82), 0x9000);
    reader.reset();
    let mut card = reader.connect().expect("reconnect");
    assert_eq!(sign(&mut card, &[1; 48]).1, StatusWord::CONDITIONS_NOT_SATISFIED);
    assert_eq!(sw(&mut card, &[0x00, 0x20, 0x00, 0x01]), 0x63C3);
}

#[test]
fn internal_authenticate_signs_the_challenge_with_the_basic_key_on_1_8() {
    let mut card = connect(V18);
    let challenge = Sha384::digest(b"challenge");
    let mut apdu = vec![0x00, 0x88, 0x02, 0x81, 0x32, 0x94, 0x30];
    apdu.extend_from_slice(&challenge);
    assert_eq!(raw(&mut card, &apdu), [0x61, 0x60]);
    let response = raw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x60]);
    let signature = p384::ecdsa::Signature::from_slice(&response[..96]).expect("r || s");
    let reference = belpic(V18);
    let spki = reference.file(&BASIC_KEY).expect("4040");
    let key = ec_key(reference.basic_public_key().expect("basic key"));
    assert_eq!(
        spki,
        p384::pkcs8::EncodePublicKey::to_public_key_der(&key).expect("SPKI").as_bytes()
    );
    key.verify_prehash(&challenge, &signature).expect("internal authenticate");
}

#[test]
fn internal_authenticate_checks_tag_and_key() {
    let mut card = connect(V18);
    let mut apdu = vec![0x00, 0x88, 0x02, 0x81, 0x32, 0x95, 0x30];
    apdu.extend_from_slice(&[0; 48]);
    assert_eq!(sw(&mut card, &apdu), 0x6A80);
    apdu[3] = 0x82;
    apdu[5] = 0x94;
    assert_eq!(sw(&mut card, &apdu), 0x6A88);
    let mut v17 = connect(V17);
    apdu[3] = 0x81;
    assert_eq!(sw(&mut v17, &apdu), 0x6D00);
}

// --- transport and malformed commands ----------------------------------------------------

#[test]
fn unknown_instruction_gives_6d00() {
    let mut card = connect(V17);
    assert_eq!(sw(&mut card, &[0x00, 0x12, 0x00, 0x00]), 0x6D00);
    assert_eq!(sw(&mut card, &[0x80, 0x12, 0x00, 0x00]), 0x6D00);
}

#[test]
fn unknown_class_gives_6e00() {
    let mut card = connect(V17);
    assert_eq!(sw(&mut card, &[0x40, 0xB0, 0x00, 0x00, 0x10]), 0x6E00);
    assert_eq!(sw(&mut card, &[0xA0, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]), 0x6E00);
    // An instruction of the other class.
    assert_eq!(sw(&mut card, &[0x00, 0xE4, 0x00, 0x00, 0x1C]), 0x6E00);
    assert_eq!(sw(&mut card, &[0x80, 0xA4, 0x02, 0x0C, 0x02, 0x3F, 0x00]), 0x6E00);
    // Logical channels are not supported.
    assert_eq!(sw(&mut card, &[0x01, 0xA4, 0x02, 0x0C, 0x02, 0x3F, 0x00]), 0x6881);
}

#[test]
fn malformed_apdus_give_6700() {
    let mut card = connect(V17);
    for apdu in [
        &[][..],
        &[0x00, 0xA4, 0x02],
        // Lc 2 with one data byte, and Lc 1 with three.
        &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x3F],
        &[0x00, 0xA4, 0x02, 0x0C, 0x01, 0x3F, 0x00, 0x00],
        // Extended length.
        &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x00],
        &[0x00, 0xA4, 0x02, 0x0C, 0x00, 0x00, 0x02, 0x3F, 0x00],
        // VERIFY announcing 8 bytes but sending none.
        &[0x00, 0x20, 0x00, 0x01, 0x08],
        // READ BINARY with data.
        &[0x00, 0xB0, 0x00, 0x00, 0x01, 0x00],
    ] {
        assert_eq!(sw(&mut card, apdu), 0x6700, "{apdu:02X?}");
    }
}

#[test]
fn case_4_with_le_still_answers_61xx() {
    let mut card = connect(V18);
    assert_eq!(mse(&mut card, 0x02, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let mut apdu = vec![0x00, 0x2A, 0x9E, 0x9A, 0x30];
    apdu.extend_from_slice(&[7; 48]);
    apdu.push(0x00);
    assert_eq!(raw(&mut card, &apdu), [0x61, 0x60]);
}

#[test]
fn get_response_with_nothing_waiting_gives_6985() {
    let mut card = connect(V17);
    assert_eq!(sw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x10]), 0x6985);
}

#[test]
fn get_response_with_long_le_gives_6cxx_and_keeps_the_data() {
    let mut card = connect(V18);
    assert_eq!(mse(&mut card, 0x02, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let mut apdu = vec![0x00, 0x2A, 0x9E, 0x9A, 0x30];
    apdu.extend_from_slice(&[7; 48]);
    assert_eq!(raw(&mut card, &apdu), [0x61, 0x60]);
    assert_eq!(raw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x00]), [0x6C, 0x60]);
    let part = raw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x20]);
    assert_eq!(part[32..], [0x61, 0x40]);
    assert_eq!(raw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x40]).len(), 0x42);
}

#[test]
fn another_command_discards_waiting_data() {
    let mut card = connect(V18);
    assert_eq!(mse(&mut card, 0x02, 0x82), 0x9000);
    assert_eq!(verify(&mut card, "1234"), 0x9000);
    let mut apdu = vec![0x00, 0x2A, 0x9E, 0x9A, 0x30];
    apdu.extend_from_slice(&[7; 48]);
    assert_eq!(raw(&mut card, &apdu), [0x61, 0x60]);
    assert_eq!(sw(&mut card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x3F, 0x00]), 0x9000);
    assert_eq!(sw(&mut card, &[0x00, 0xC0, 0x00, 0x00, 0x60]), 0x6985);
}

#[test]
fn fresh_pki_per_persona_is_generated_by_new() {
    let card = BelpicCard::new(&Persona::foreigner(), V18).expect("card");
    let cert = card.certificate(CertificateRole::NonRepudiation);
    assert!(cert.windows(5).any(|w| w == b"Essai"));
    assert_ne!(
        card.certificate(CertificateRole::Root),
        belpic(V18).certificate(CertificateRole::Root)
    );
}

#[test]
fn invalid_persona_is_refused() {
    let persona = Persona { pin: "12".into(), ..Persona::default_citizen() };
    assert!(BelpicCard::from_pki(&persona, pki(V18)).is_err());
}

// --- robustness --------------------------------------------------------------------------

/// A header near the card's real commands.
fn header() -> impl Strategy<Value = (u8, u8, u8, u8)> {
    (
        prop_oneof![Just(0x00u8), Just(0x80), Just(0x10), any::<u8>()],
        prop_oneof![
            Just(0xA4u8),
            Just(0xB0),
            Just(0xB2),
            Just(0xC0),
            Just(0x20),
            Just(0x24),
            Just(0x22),
            Just(0x2A),
            Just(0x88),
            Just(0xE4),
            Just(0xE6),
            Just(0x84),
            any::<u8>()
        ],
        any::<u8>(),
        any::<u8>(),
    )
}

/// APDUs near the card's real commands, and noise.
fn apdu() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (header(), proptest::collection::vec(any::<u8>(), 0..260)).prop_map(
            |((cla, ins, p1, p2), body)| {
                let mut apdu = vec![cla, ins, p1, p2];
                apdu.extend_from_slice(&body);
                apdu
            }
        ),
        (header(), proptest::collection::vec(any::<u8>(), 1..255), any::<bool>()).prop_map(
            |((cla, ins, p1, p2), data, with_le)| {
                let mut apdu = vec![cla, ins, p1, p2, u8::try_from(data.len()).unwrap_or(0)];
                apdu.extend_from_slice(&data);
                if with_le {
                    apdu.push(0);
                }
                apdu
            }
        ),
        Just(verify_apdu("1234")),
        Just(vec![0x00, 0xA4, 0x08, 0x0C, 0x04, 0xDF, 0x01, 0x40, 0x31]),
        Just(vec![0x00, 0x22, 0x41, 0xB6, 0x05, 0x04, 0x80, 0x02, 0x84, 0x82]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn never_panics_and_always_answers_a_status_word(
        v18 in any::<bool>(),
        apdus in proptest::collection::vec(apdu(), 1..40),
    ) {
        static CARDS: OnceLock<(BelpicCard, BelpicCard)> = OnceLock::new();
        let (card17, card18) = CARDS.get_or_init(|| (belpic(V17), belpic(V18)));
        let mut card = if v18 { card18.clone() } else { card17.clone() };
        for apdu in &apdus {
            let response = card.process(apdu);
            prop_assert!(response.len() >= 2);
            prop_assert!(response.len() <= 258);
        }
        card.reset();
        prop_assert_eq!(card.process(&[0x80, 0xE4, 0x00, 0x00, 0x1C]).len(), 30);
    }
}
