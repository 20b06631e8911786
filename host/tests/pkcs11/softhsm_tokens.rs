//! Every operation on a SoftHSM token, through the worker; signatures verified in Rust.

use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256, Sha384};
use x509_cert::der::{Decode, Encode};
use zeroize::Zeroizing;

use t1c_host::pkcs11::{
    HashAlgorithm, KeyType, ObjectClass, ObjectQuery, Pkcs11Error, SessionHandle, SignatureScheme,
    TokenSlot,
};

use crate::{host, options};
use t1c_testkit::softhsm::{KeyKind, SoftHsm, TestKey};

fn only_slot(host: &t1c_host::pkcs11::Pkcs11Host) -> TokenSlot {
    let slots = host.slots();
    assert_eq!(slots.len(), 1, "{slots:?}");
    slots.into_iter().next().expect("one slot")
}

fn pin(hsm: &SoftHsm) -> Zeroizing<String> {
    Zeroizing::new(hsm.user_pin.clone())
}

fn private_key(session: &SessionHandle, key: &TestKey) -> u64 {
    let found = session
        .find_objects(&ObjectQuery {
            class: Some(ObjectClass::PrivateKey),
            label: None,
            id: Some(key.id.clone()),
        })
        .expect("find");
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].handle
}

fn spki(certificate: &[u8]) -> Vec<u8> {
    let certificate = x509_cert::Certificate::from_der(certificate).expect("certificate parses");
    certificate.tbs_certificate.subject_public_key_info.to_der().expect("spki")
}

#[test]
fn slots_list_the_token_with_an_id_stable_across_hosts() {
    let hsm = SoftHsm::new();
    let first = only_slot(&host(&hsm, vec![hsm.library.clone()]));
    assert_eq!(first.label, hsm.token_label);
    assert_eq!(first.manufacturer, "SoftHSM project");
    assert_eq!(first.library, hsm.library);
    assert!(!first.serial.is_empty());
    assert!(!first.protected_authentication_path);
    assert_eq!(first.id.as_str().len(), 16);
    assert!(first.id.as_str().bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));

    // A new host (new worker) and a second token that takes a slot number: same id.
    hsm.init_token("Another token");
    let second_host = host(&hsm, vec![hsm.library.clone()]);
    let slots = second_host.slots();
    assert_eq!(slots.len(), 2);
    let again = slots.iter().find(|s| s.label == hsm.token_label).expect("still listed");
    assert_eq!(again.id, first.id);
    assert_eq!(second_host.slot(&first.id).as_ref(), Some(again));
    assert!(second_host.slot(&"0000000000000000".parse().expect("a reader id")).is_none());
}

#[test]
fn no_token_means_no_slots() {
    let hsm = SoftHsm::empty();
    let host = host(&hsm, vec![hsm.library.clone()]);
    assert!(host.slots().is_empty());
}

#[test]
fn token_info_and_mechanisms() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let slot = host.open(&only_slot(&host)).expect("open");
    let info = slot.info().expect("info");
    assert_eq!(info.label, hsm.token_label);
    assert_eq!(info.model, "SoftHSM v2");
    assert!(info.flags.token_initialized && info.flags.login_required);
    assert!(info.flags.user_pin_initialized && info.flags.rng);
    assert!(info.max_pin_length >= info.min_pin_length);
    let mechanisms = slot.mechanisms().expect("mechanisms");
    let rsa = mechanisms.iter().find(|m| m.name == "CKM_RSA_PKCS").expect("CKM_RSA_PKCS");
    assert_eq!(rsa.code, 1);
    assert!(rsa.flags.sign && rsa.max_key_size >= 3072);
    for name in ["CKM_RSA_PKCS_PSS", "CKM_ECDSA", "CKM_SHA256_RSA_PKCS"] {
        assert!(mechanisms.iter().any(|m| m.name == name), "{name} missing");
    }
}

#[test]
fn objects_are_found_by_class_label_and_id() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let slot = host.open(&only_slot(&host)).expect("open");
    let session = slot.open_session().expect("session");

    // Before login only public objects: four certificates and four public keys.
    let all = session.find_objects(&ObjectQuery::default()).expect("all");
    assert_eq!(all.iter().filter(|o| o.class == ObjectClass::Certificate).count(), 4);
    assert_eq!(all.iter().filter(|o| o.class == ObjectClass::PublicKey).count(), 4);
    assert!(all.iter().all(|o| o.class != ObjectClass::PrivateKey));

    session.login(Some(&pin(&hsm))).expect("login");
    let private = session
        .find_objects(&ObjectQuery { class: Some(ObjectClass::PrivateKey), ..Default::default() })
        .expect("private keys");
    assert_eq!(private.len(), 4);

    let key = hsm.key(KeyKind::EcP384);
    let by_label = session
        .find_objects(&ObjectQuery { label: Some(key.label.clone()), ..Default::default() })
        .expect("by label");
    assert_eq!(by_label.len(), 3, "{by_label:?}"); // private key, public key, certificate
    for object in &by_label {
        assert_eq!(object.id, key.id);
        assert_eq!(object.label, key.label);
        match object.class {
            ObjectClass::Certificate => assert_eq!(object.key_type, None),
            _ => assert_eq!(object.key_type, Some(KeyType::Ec)),
        }
    }
    let rsa = hsm.key(KeyKind::Rsa3072);
    let by_id = session
        .find_objects(&ObjectQuery {
            class: Some(ObjectClass::PrivateKey),
            label: None,
            id: Some(rsa.id.clone()),
        })
        .expect("by id");
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].key_type, Some(KeyType::Rsa));
    assert_eq!(by_id[0].label, rsa.label);

    let none = session
        .find_objects(&ObjectQuery { label: Some("nothing".to_owned()), ..Default::default() })
        .expect("none");
    assert!(none.is_empty());
}

#[test]
fn certificate_values_are_the_imported_der() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let slot = host.open(&only_slot(&host)).expect("open");
    let session = slot.open_session().expect("session");
    for key in &hsm.keys {
        let found = session
            .find_objects(&ObjectQuery {
                class: Some(ObjectClass::Certificate),
                label: None,
                id: Some(key.id.clone()),
            })
            .expect("find");
        assert_eq!(found.len(), 1);
        assert_eq!(session.value(found[0].handle).expect("value"), key.certificate);
    }
    assert_eq!(session.value(0xdead_beef), Err(Pkcs11Error::ObjectNotFound));
    // Keys have no readable value through this interface.
    session.login(Some(&pin(&hsm))).expect("login");
    let key = private_key(&session, hsm.key(KeyKind::EcP256));
    assert!(matches!(session.value(key), Err(Pkcs11Error::InvalidInput(_))));
}

#[test]
fn every_scheme_signs_with_every_key_and_verifies() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let slot = host.open(&only_slot(&host)).expect("open");
    let session = slot.open_session().expect("session");
    session.login(Some(&pin(&hsm))).expect("login");
    let message = b"T1C signs this";
    let sha256 = Sha256::digest(message);
    let sha384 = Sha384::digest(message);

    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072] {
        let key = hsm.key(kind);
        let handle = private_key(&session, key);
        let public = rsa::RsaPublicKey::from_public_key_der(&spki(&key.certificate)).expect("rsa");

        let signature = session
            .sign(handle, &SignatureScheme::RsaPkcs1(Some(HashAlgorithm::Sha256)), &sha256)
            .expect("pkcs1 sha256");
        public
            .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &sha256, &signature)
            .expect("pkcs1 sha256 verifies");

        let signature = session
            .sign(handle, &SignatureScheme::RsaPkcs1(Some(HashAlgorithm::Sha384)), &sha384)
            .expect("pkcs1 sha384");
        public
            .verify(rsa::Pkcs1v15Sign::new::<Sha384>(), &sha384, &signature)
            .expect("pkcs1 sha384 verifies");

        let signature =
            session.sign(handle, &SignatureScheme::RsaPkcs1(None), message).expect("raw pkcs1");
        public
            .verify(rsa::Pkcs1v15Sign::new_unprefixed(), message, &signature)
            .expect("raw pkcs1 verifies");

        let signature = session
            .sign(handle, &SignatureScheme::RsaPss(HashAlgorithm::Sha256), &sha256)
            .expect("pss");
        public.verify(rsa::Pss::new::<Sha256>(), &sha256, &signature).expect("pss verifies");

        assert!(matches!(
            session.sign(handle, &SignatureScheme::RsaPss(HashAlgorithm::Sha256), &sha384),
            Err(Pkcs11Error::InvalidInput(_))
        ));
    }

    {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let key = hsm.key(KeyKind::EcP256);
        let handle = private_key(&session, key);
        let public =
            p256::ecdsa::VerifyingKey::from_public_key_der(&spki(&key.certificate)).expect("p256");
        let signature = session.sign(handle, &SignatureScheme::Ecdsa, &sha256).expect("ecdsa");
        assert_eq!(signature.len(), 64);
        let signature = p256::ecdsa::Signature::from_slice(&signature).expect("r || s");
        public.verify_prehash(&sha256, &signature).expect("p256 verifies");
    }
    {
        use p384::ecdsa::signature::hazmat::PrehashVerifier;
        let key = hsm.key(KeyKind::EcP384);
        let handle = private_key(&session, key);
        let public =
            p384::ecdsa::VerifyingKey::from_public_key_der(&spki(&key.certificate)).expect("p384");
        let signature = session.sign(handle, &SignatureScheme::Ecdsa, &sha384).expect("ecdsa");
        assert_eq!(signature.len(), 96);
        let signature = p384::ecdsa::Signature::from_slice(&signature).expect("r || s");
        public.verify_prehash(&sha384, &signature).expect("p384 verifies");
    }

    // An RSA key cannot do ECDSA.
    let rsa = private_key(&session, hsm.key(KeyKind::Rsa2048));
    assert!(session.sign(rsa, &SignatureScheme::Ecdsa, &sha256).is_err());
}

#[test]
fn signing_without_login_is_not_logged_in() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let slot = host.open(&only_slot(&host)).expect("open");
    let session = slot.open_session().expect("session");
    session.login(Some(&pin(&hsm))).expect("login");
    let handle = private_key(&session, hsm.key(KeyKind::EcP256));
    session.logout().expect("logout");
    let digest = Sha256::digest(b"x");
    assert_eq!(
        session.sign(handle, &SignatureScheme::Ecdsa, &digest),
        Err(Pkcs11Error::NotLoggedIn)
    );
}

#[test]
fn one_sessions_login_does_not_let_another_session_sign() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let slot = host.open(&only_slot(&host)).expect("open");
    let first = slot.open_session().expect("session");
    first.login(Some(&pin(&hsm))).expect("login");
    let handle = private_key(&first, hsm.key(KeyKind::EcP256));
    let second = slot.open_session().expect("second session");
    let digest = Sha256::digest(b"x");
    assert_eq!(
        second.sign(handle, &SignatureScheme::Ecdsa, &digest),
        Err(Pkcs11Error::NotLoggedIn)
    );
    first.sign(handle, &SignatureScheme::Ecdsa, &digest).expect("the session that logged in");

    // The login ends with the session that made it.
    drop(first);
    let third = slot.open_session().expect("third session");
    assert_eq!(third.sign(handle, &SignatureScheme::Ecdsa, &digest), Err(Pkcs11Error::NotLoggedIn));
}

#[test]
fn a_wrong_pin_is_pin_incorrect_and_the_right_one_still_works() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let slot = host.open(&only_slot(&host)).expect("open");
    let session = slot.open_session().expect("session");
    let wrong = Zeroizing::new("000000".to_owned());
    match session.login(Some(&wrong)) {
        Err(Pkcs11Error::PinIncorrect(_)) => {}
        other => panic!("expected PinIncorrect, got {other:?}"),
    }
    let rendered = format!("{:?} {}", session.login(Some(&wrong)), Pkcs11Error::PinLocked);
    assert!(!rendered.contains("000000"), "a PIN leaked into an error: {rendered}");
    session.login(Some(&pin(&hsm))).expect("right PIN");
}

#[test]
fn a_removed_token_is_token_removed() {
    let hsm = SoftHsm::new();
    let host = host(&hsm, vec![hsm.library.clone()]);
    let listed = only_slot(&host);
    let slot = host.open(&listed).expect("open");
    let session = slot.open_session().expect("session");
    session.login(Some(&pin(&hsm))).expect("login");
    let handle = private_key(&session, hsm.key(KeyKind::EcP256));

    hsm.delete_token();

    let digest = Sha256::digest(b"x");
    let signed = session.sign(handle, &SignatureScheme::Ecdsa, &digest);
    assert_eq!(signed, Err(Pkcs11Error::TokenRemoved));
    let info = slot.info();
    assert!(matches!(info, Err(Pkcs11Error::TokenRemoved | Pkcs11Error::NoSuchSlot)), "{info:?}");
    assert!(host.slots().iter().all(|s| s.id != listed.id));
    assert!(host.open(&listed).is_err());
}

#[test]
fn options_default_to_the_documented_deadlines() {
    let hsm = SoftHsm::empty();
    let defaults = t1c_host::pkcs11::Pkcs11Options::new(options(&hsm).worker_exe);
    assert_eq!(defaults.call_timeout, std::time::Duration::from_secs(10));
    assert_eq!(defaults.login_timeout, std::time::Duration::from_secs(60));
    assert_eq!(defaults.init_timeout, std::time::Duration::from_secs(10));
}
