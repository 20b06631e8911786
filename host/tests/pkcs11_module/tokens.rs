//! SoftHSMv2 tokens through the `pkcs11` module: one token per test with RSA-2048, RSA-3072,
//! EC P-256 and EC P-384 keys and their certificates (`t1c_testkit::softhsm`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Connector, Hash, Setup, certificates, verify};
use t1c_testkit::softhsm::{KeyKind, SoftHsm};

/// A connector serving `hsm`'s library and the id of its one token slot.
fn connect(hsm: &SoftHsm) -> (Connector, String) {
    let connector = Connector::start(Setup::softhsm(hsm));
    let slots = connector.readers_of("pkcs11");
    assert_eq!(slots.len(), 1, "{slots:?}");
    let id = slots[0]["id"].as_str().expect("id").to_owned();
    (connector, id)
}

fn path(id: &str, operation: &str) -> String {
    format!("/v3/modules/pkcs11/apps/token/readers/{id}/{operation}")
}

fn sign_body(
    connector: &Connector,
    hash: Hash,
    digest: &[u8],
    pin: &str,
    key: Option<&[u8]>,
) -> Value {
    let mut body = json!({
        "algorithm": hash.name(),
        "data": BASE64.encode(digest),
        "pin": connector.encrypted_pin(pin),
        "base64Encoded": true,
    });
    if let Some(key) = key {
        body["id"] = json!(hex::encode(key));
    }
    body
}

fn signature(answer: &Value) -> Vec<u8> {
    BASE64.decode(answer["data"].as_str().expect("data")).expect("base64 signature")
}

#[test]
fn readers_list_the_token_slot_for_the_pkcs11_module() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    let reader = connector.data(Method::GET, &format!("/v3/readers/{id}"), None);
    assert_eq!(reader["id"], id.as_str());
    assert_eq!(reader["pinpad"], false);
    assert_eq!(reader["card"]["modules"], json!(["pkcs11"]));
    assert_eq!(reader["card"]["module"], json!(["pkcs11"]));
    assert_eq!(reader["card"]["atr"], "");
    assert_eq!(reader["card"]["description"][0], hsm.token_label.as_str());
    // A token is a card in a reader: listed with cardInserted=true, not with false.
    let inserted = connector.data(Method::GET, "/v3/readers?cardInserted=true", None);
    assert!(inserted.as_array().expect("array").iter().any(|r| r["id"] == id.as_str()));
    let empty = connector.data(Method::GET, "/v3/readers?cardInserted=false", None);
    assert!(!empty.as_array().expect("array").iter().any(|r| r["id"] == id.as_str()));
    // The id is stable across connectors (restarts).
    drop(connector);
    let (_again, same) = connect(&hsm);
    assert_eq!(same, id);
}

#[test]
fn info_has_the_pkcs11_token_info_shape() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    let info = connector.data(Method::GET, &path(&id, "info"), None);
    assert_eq!(info["label"], hsm.token_label.as_str());
    assert_eq!(info["manufacturerId"], "SoftHSM project");
    assert_eq!(info["model"], "SoftHSM v2");
    assert!(!info["serialNumber"].as_str().expect("serial").is_empty());
    assert!(info["slot"].is_u64(), "{info}");
    let flags = &info["flags"];
    for (flag, expected) in [
        ("isTokenInitialized", true),
        ("isLoginRequired", true),
        ("isUserPinInitialized", true),
        ("isRandomNumberGenerator", true),
        ("isProtectedAuthenticationPath", false),
        ("isUserPinLocked", false),
        ("isSoPinToBeChanged", false),
    ] {
        assert_eq!(flags[flag], expected, "{flag} in {flags}");
    }
    for field in [
        "ulMaxSessionCount",
        "ulSessionCount",
        "ulMaxRwSessionCount",
        "ulMaxPinLen",
        "ulMinPinLen",
        "ulTotalPubLicMemory",
        "ulFreePubMemory",
        "ulTotalPrivateMemory",
        "ulFreePrivateMemory",
    ] {
        assert!(info[field].is_u64(), "{field} in {info}");
    }
    assert!(info["hardwareVersion"].as_str().is_some_and(|v| v.contains('.')));
    assert!(info["firmwareVersion"].as_str().is_some_and(|v| v.contains('.')));
    let mechanisms = info["mechanisms"].as_array().expect("mechanisms");
    let rsa = mechanisms.iter().find(|m| m["mechanism"] == "CKM_RSA_PKCS").expect("CKM_RSA_PKCS");
    assert_eq!(rsa["flags"]["isSign"], true);
    assert!(rsa["ulMaxKeySize"].as_u64().is_some_and(|bits| bits >= 3072));
    let ecdsa = mechanisms.iter().find(|m| m["mechanism"] == "CKM_ECDSA").expect("CKM_ECDSA");
    for flag in ["isHardware", "isEcFP", "isEcNamedcurve", "isEcUncompress", "isEcCompress"] {
        assert!(ecdsa["flags"][flag].is_boolean(), "{flag} in {ecdsa}");
    }
    let algorithms = connector.data(Method::GET, &path(&id, "supported-algorithms"), None);
    assert_eq!(algorithms["ref"], json!(["sha1", "sha256", "sha384", "sha512"]));
}

#[test]
fn certificates_are_listed_by_role_with_their_cka_id() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    let list = connector.data(Method::GET, &path(&id, "cert-list"), None);
    // The fixture's self-signed certificates have no key usage and labels that say nothing of
    // signing: each is an authentication certificate, in CKA_ID order.
    let authentication = &list["authenticationCertificate"];
    let ders = certificates(authentication);
    let expected: Vec<Vec<u8>> = hsm.keys.iter().map(|k| k.certificate.clone()).collect();
    assert_eq!(ders, expected);
    let entries = authentication["certificates"].as_array().expect("entries");
    for (entry, key) in entries.iter().zip(&hsm.keys) {
        assert_eq!(entry["id"], hex::encode(&key.id).as_str());
        assert_eq!(entry["label"], key.label.as_str());
        assert_eq!(entry["certificateType"], "authentication");
        assert!(entry["subject"].as_str().is_some_and(|s| s.contains(&key.label)), "{entry}");
        assert!(entry["serialNumber"].as_str().is_some_and(|s| !s.is_empty()));
    }
    for key in ["nonRepudiationCertificate", "rootCertificate", "intermediateCertificates"] {
        assert_eq!(list[key]["certificates"], json!([]), "{key}");
    }
    let filtered =
        connector.data(Method::GET, &path(&id, "cert-list?filter=authenticationCertificate"), None);
    assert_eq!(filtered.as_object().map(|o| o.len()), Some(1), "{filtered}");
    let one = connector.data(Method::GET, &path(&id, "authentication-cert"), None);
    assert_eq!(certificates(&one), expected);
    let none = connector.data(Method::GET, &path(&id, "nonrepudiation-cert"), None);
    assert_eq!(none["certificates"], json!([]));
    let (status, answer) = connector.get(&path(&id, "cert-list?filter=nonsense"));
    assert_eq!(status, 400, "{answer}");
}

#[test]
fn verify_pin_accepts_the_right_pin_and_rejects_a_wrong_one() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    let body = |pin: &str| json!({ "pin": connector.encrypted_pin(pin), "base64Encoded": true });
    let verified =
        connector.data(Method::POST, &path(&id, "verify-pin"), Some(&body(&hsm.user_pin)));
    assert_eq!(verified, json!({ "verified": true }));
    let (status, answer) = connector.post(&path(&id, "verify-pin"), &body("000000"));
    assert_eq!((status, answer["code"].as_str()), (400, Some("208001")), "{answer}");
    assert!(!answer.to_string().contains("000000"), "the PIN never shows: {answer}");
    // Without a PIN, a token without pinpad asks for one instead of failing in the library.
    let (status, answer) = connector.post(&path(&id, "verify-pin"), &json!({}));
    assert_eq!(status, 400, "{answer}");
    // A plain-text PIN (no base64Encoded) works as with the card modules.
    let plain = json!({ "pin": hsm.user_pin });
    connector.data(Method::POST, &path(&id, "verify-pin"), Some(&plain));
}

#[test]
fn every_key_signs_and_authenticates_verifiably() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    for kind in KeyKind::ALL {
        let key = hsm.key(kind);
        for hash in Hash::ALL {
            let digest = hash.digest(format!("{kind:?} {hash:?}").as_bytes());
            for operation in ["sign", "authenticate"] {
                let body = sign_body(&connector, hash, &digest, &hsm.user_pin, Some(&key.id));
                let answer = connector.data(Method::POST, &path(&id, operation), Some(&body));
                verify(&key.certificate, hash, &digest, &signature(&answer), false);
            }
        }
    }
}

#[test]
fn sign_raw_hashes_in_the_module_and_the_default_key_is_the_first() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    let data = b"the raw document";
    let mut body = sign_body(&connector, Hash::Sha256, data, &hsm.user_pin, None);
    body["data"] = json!(BASE64.encode(data));
    let answer = connector.data(Method::POST, &path(&id, "sign_raw"), Some(&body));
    let first = hsm.key(KeyKind::Rsa2048);
    verify(
        &first.certificate,
        Hash::Sha256,
        &Hash::Sha256.digest(data),
        &signature(&answer),
        false,
    );
    // A digest of the wrong length and an unknown key id are the caller's errors.
    let short = sign_body(&connector, Hash::Sha256, &[0; 20], &hsm.user_pin, None);
    assert_eq!(connector.post(&path(&id, "sign"), &short).0, 400);
    let digest = Hash::Sha256.digest(b"x");
    let unknown = sign_body(&connector, Hash::Sha256, &digest, &hsm.user_pin, Some(&[0x77]));
    let (status, answer) = connector.post(&path(&id, "sign"), &unknown);
    assert_eq!(status, 400, "{answer}");
    // A wrong PIN signs nothing.
    let wrong = sign_body(&connector, Hash::Sha256, &digest, "654321", None);
    let (status, answer) = connector.post(&path(&id, "sign"), &wrong);
    assert_eq!((status, answer["code"].as_str()), (400, Some("208001")), "{answer}");
}

#[test]
fn validate_checks_signatures_against_the_certificate() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    for (kind, hash) in
        KeyKind::ALL.into_iter().zip([Hash::Sha256, Hash::Sha512, Hash::Sha384, Hash::Sha1])
    {
        let key = hsm.key(kind);
        let digest = hash.digest(kind.is_rsa().to_string().as_bytes());
        let body = sign_body(&connector, hash, &digest, &hsm.user_pin, Some(&key.id));
        let mut signed = signature(&connector.data(Method::POST, &path(&id, "sign"), Some(&body)));
        let request = |signed: &[u8]| {
            json!({
                "algorithm": hash.name(),
                "hash": BASE64.encode(&digest),
                "signedHash": BASE64.encode(signed),
                "id": hex::encode(&key.id),
            })
        };
        let valid = connector.data(Method::POST, &path(&id, "validate"), Some(&request(&signed)));
        assert_eq!(valid, json!({ "valid": true }), "{kind:?}");
        let last = signed.len() - 1;
        signed[last] ^= 1;
        let invalid = connector.data(Method::POST, &path(&id, "validate"), Some(&request(&signed)));
        assert_eq!(invalid, json!({ "valid": false }), "{kind:?}");
    }
    // RSA-PSS (`sha256-pss`), made here with the same key.
    let key = hsm.key(KeyKind::Rsa3072);
    let private =
        <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&key.private_key_pem)
            .expect("PKCS#8 key");
    let digest = Hash::Sha256.digest(b"pss");
    let pss = private
        .sign_with_rng(&mut rsa::rand_core::OsRng, rsa::Pss::new::<sha2::Sha256>(), &digest)
        .expect("PSS");
    verify(&key.certificate, Hash::Sha256, &digest, &pss, true);
    let request = json!({
        "algorithm": "sha256-pss",
        "hash": BASE64.encode(&digest),
        "signedHash": BASE64.encode(&pss),
        "id": hex::encode(&key.id),
    });
    let valid = connector.data(Method::POST, &path(&id, "validate"), Some(&request));
    assert_eq!(valid, json!({ "valid": true }));
}

#[test]
fn bulk_signing_keeps_the_pin_for_the_same_token_until_reset() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    let digest = Hash::Sha256.digest(b"bulk");
    let bulk = format!("{}?bulk=true", path(&id, "sign"));
    let first = sign_body(&connector, Hash::Sha256, &digest, &hsm.user_pin, None);
    connector.data(Method::POST, &bulk, Some(&first));
    let without_pin = json!({ "algorithm": "sha256", "data": BASE64.encode(&digest) });
    let answer = connector.data(Method::POST, &bulk, Some(&without_pin));
    verify(
        &hsm.key(KeyKind::Rsa2048).certificate,
        Hash::Sha256,
        &digest,
        &signature(&answer),
        false,
    );
    let reset = connector.data(Method::GET, "/v3/modules/pkcs11/apps/token/reset-bulk-pin", None);
    assert_eq!(reset, json!(true));
    let (status, answer) = connector.post(&bulk, &without_pin);
    assert_eq!(status, 400, "no PIN kept after reset: {answer}");
}

#[test]
fn no_token_means_no_slot_and_an_unknown_id_is_not_found() {
    let hsm = SoftHsm::empty();
    let connector = Connector::start(Setup::softhsm(&hsm));
    assert!(connector.readers_of("pkcs11").is_empty());
    let (status, answer) = connector.get(&path("0123456789abcdef", "info"));
    assert_eq!((status, answer["code"].as_str()), (404, Some("701404")), "{answer}");
}

#[test]
fn a_removed_token_leaves_the_list_and_its_operations_fail() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    connector.data(Method::GET, &path(&id, "info"), None);
    hsm.delete_token();
    let (status, answer) = connector.get(&path(&id, "info"));
    assert_eq!((status, answer["code"].as_str()), (410, Some("202001")), "{answer}");
    assert!(connector.readers_of("pkcs11").is_empty());
    let (status, answer) = connector.get(&path(&id, "info"));
    assert_eq!((status, answer["code"].as_str()), (404, Some("701404")), "{answer}");
}

/// Polls `GET /v3/readers` until the `pkcs11` token labels are `labels`, failing after 1 s.
fn readers_show_within_a_second(connector: &Connector, labels: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let mut listed: Vec<String> = connector
            .readers_of("pkcs11")
            .iter()
            .map(|r| r["card"]["description"][0].as_str().expect("label").to_owned())
            .collect();
        listed.sort();
        if listed == labels {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 1 s /v3/readers lists {listed:?}, not {labels:?}"
        );
        // Between two requests, not a wait for the condition: the deadline decides.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn tokens_created_and_deleted_show_up_in_readers_within_a_second() {
    let hsm = SoftHsm::empty();
    let connector = Connector::start(Setup::softhsm(&hsm));
    assert!(connector.readers_of("pkcs11").is_empty());
    hsm.init_token(&hsm.token_label);
    readers_show_within_a_second(&connector, &[&hsm.token_label]);
    hsm.init_token("Second token");
    readers_show_within_a_second(&connector, &["Second token", &hsm.token_label]);
    hsm.delete_token();
    readers_show_within_a_second(&connector, &["Second token"]);
}

#[test]
fn a_card_module_refuses_a_token_slot() {
    let hsm = SoftHsm::new();
    let mut setup = Setup::softhsm(&hsm);
    setup.modules.push("t1c-module-beid");
    let connector = Connector::start(setup);
    let id = connector.readers_of("pkcs11")[0]["id"].as_str().expect("id").to_owned();
    let (status, answer) = connector.get(&format!("/v3/modules/beid/apps/token/readers/{id}/info"));
    assert_eq!((status, answer["code"].as_str()), (501, Some("211005")), "{answer}");
}

#[test]
fn library_configuration_routes_apply_at_once() {
    let hsm = SoftHsm::new();
    let (connector, id) = connect(&hsm);
    let config = "/v3/modules/pkcs11/apps/token/config";
    let library = hsm.library.to_str().expect("utf-8").to_owned();
    let current = connector.data(Method::GET, config, None);
    assert_eq!(current["linux"], json!([library]));
    // A library that does not exist is refused with a clear error.
    let missing = json!({ "linux": "/nonexistent/libpkcs11.so", "macos": null, "win": null });
    let (status, answer) = connector.post(config, &missing);
    assert_eq!(status, 400, "{answer}");
    assert!(answer["description"].as_str().is_some_and(|d| d.contains("/nonexistent")));
    // An empty configuration: the slot is gone at once.
    let none = json!({ "linux": null, "macos": null, "win": null });
    assert_eq!(connector.data(Method::POST, config, Some(&none)), none);
    assert!(connector.readers_of("pkcs11").is_empty());
    assert!(connector.data_dir().join("pkcs11.json").is_file(), "persisted");
    // T1C's shape with one path per OS: back again.
    let one = json!({ "linux": library, "macos": "/Library/x.dylib", "win": "C:\\x.dll" });
    assert_eq!(connector.data(Method::POST, config, Some(&one)), one);
    assert_eq!(connector.readers_of("pkcs11")[0]["id"], id.as_str());
    assert_eq!(connector.data(Method::GET, config, None), one);
    // Reset: the configuration file's libraries, and the override is gone.
    connector.data(Method::POST, config, Some(&none));
    let reset = connector.data(Method::PATCH, &format!("{config}/reset"), None);
    assert_eq!(reset, json!(true));
    assert_eq!(connector.data(Method::GET, config, None)["linux"], json!([library]));
    assert!(!connector.data_dir().join("pkcs11.json").exists());
    assert_eq!(connector.readers_of("pkcs11").len(), 1);
}

#[test]
fn library_configuration_is_read_only_unless_allowed() {
    let hsm = SoftHsm::new();
    let mut setup = Setup::softhsm(&hsm);
    setup.api_config = false;
    let connector = Connector::start(setup);
    let config = "/v3/modules/pkcs11/apps/token/config";
    connector.data(Method::GET, config, None);
    let none = json!({ "linux": null });
    assert_eq!(connector.post(config, &none).0, 403);
    let (status, _) = connector.request(Method::PATCH, &format!("{config}/reset"), None);
    assert_eq!(status, 403);
    assert_eq!(connector.readers_of("pkcs11").len(), 1);
}

#[test]
fn a_module_opening_sessions_in_a_loop_hits_the_call_limits() {
    let hsm = SoftHsm::new();
    let mut setup = Setup::softhsm(&hsm);
    setup.modules = vec!["t1c-test-session-hog"];
    let connector = Connector::start(setup);
    let id = connector.readers_of("session-hog")[0]["id"].as_str().expect("id").to_owned();
    let hog = |operation: &str| {
        connector.get(&format!("/v3/modules/session-hog/apps/token/readers/{id}/{operation}"))
    };
    // Sessions kept open: 8 at once.
    let (status, answer) = hog("info");
    assert_eq!(status, 400, "{answer}");
    let description = answer["description"].as_str().expect("description");
    assert!(
        description.contains("8 kept") && description.contains("CKR_SESSION_COUNT"),
        "{answer}"
    );
    // Sessions dropped one by one: 64 per call.
    let (status, answer) = hog("supported-algorithms");
    let description = answer["description"].as_str().expect("description");
    assert_eq!(status, 400, "{answer}");
    assert!(description.contains("64 opened"), "{answer}");
    // Everything was closed at the end of the calls: the token still serves.
    let (status, answer) = hog("info");
    assert!(
        answer["description"].as_str().is_some_and(|d| d.contains("8 kept")),
        "{status} {answer}"
    );
}
