//! RSA-PSS through the module routes (contract 0.2.0's `token.sign-request.padding`): the API's
//! `sha256-pss`, `sha384-pss` and `sha512-pss` on SoftHSMv2's CKM_RSA_PKCS_PSS, every signature
//! verified here with the `rsa` crate's PSS verifier against the token's certificate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Connector, Hash, Setup, verify};
use t1c_testkit::softhsm::{KeyKind, SoftHsm};

fn path(id: &str, operation: &str) -> String {
    format!("/v3/modules/pkcs11/apps/token/readers/{id}/{operation}")
}

fn body(connector: &Connector, algorithm: &str, data: &[u8], pin: &str, key: &[u8]) -> Value {
    json!({
        "algorithm": algorithm,
        "data": BASE64.encode(data),
        "pin": connector.encrypted_pin(pin),
        "base64Encoded": true,
        "id": hex::encode(key),
    })
}

fn signature(answer: &Value) -> Vec<u8> {
    BASE64.decode(answer["data"].as_str().expect("data")).expect("base64 signature")
}

#[test]
fn rsa_pss_signatures_through_the_api_verify_independently() {
    let hsm = SoftHsm::new();
    let connector = Connector::start(Setup::softhsm(&hsm));
    let slots = connector.readers_of("pkcs11");
    let id = slots[0]["id"].as_str().expect("id").to_owned();
    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072] {
        let key = hsm.key(kind);
        for (name, hash) in [
            ("sha256-pss", Hash::Sha256),
            ("SHA384-PSS", Hash::Sha384),
            ("sha512_pss", Hash::Sha512),
        ] {
            let digest = hash.digest(format!("{kind:?} {name}").as_bytes());
            for operation in ["sign", "authenticate"] {
                let request = body(&connector, name, &digest, &hsm.user_pin, &key.id);
                let answer = connector.data(Method::POST, &path(&id, operation), Some(&request));
                let signed = signature(&answer);
                verify(&key.certificate, hash, &digest, &signed, true);
                // The module's own `validate` agrees, under the same name.
                let check = json!({
                    "algorithm": name,
                    "hash": BASE64.encode(&digest),
                    "signedHash": BASE64.encode(&signed),
                    "id": hex::encode(&key.id),
                });
                let valid = connector.data(Method::POST, &path(&id, "validate"), Some(&check));
                assert_eq!(valid, json!({ "valid": true }), "{kind:?} {name} {operation}");
            }
        }
    }
    // `sign_raw`: the module hashes, then pads with PSS.
    let key = hsm.key(KeyKind::Rsa2048);
    let data = b"the raw document, PSS";
    let request = body(&connector, "sha256-pss", data, &hsm.user_pin, &key.id);
    let answer = connector.data(Method::POST, &path(&id, "sign_raw"), Some(&request));
    verify(&key.certificate, Hash::Sha256, &Hash::Sha256.digest(data), &signature(&answer), true);
}

#[test]
fn rsa_pss_on_an_ec_key_is_not_supported_and_unknown_names_are_refused() {
    let hsm = SoftHsm::new();
    let connector = Connector::start(Setup::softhsm(&hsm));
    let slots = connector.readers_of("pkcs11");
    let id = slots[0]["id"].as_str().expect("id").to_owned();
    let key = hsm.key(KeyKind::EcP256);
    let digest = Hash::Sha256.digest(b"ec");
    let request = body(&connector, "sha256-pss", &digest, &hsm.user_pin, &key.id);
    let (status, answer) = connector.post(&path(&id, "sign"), &request);
    assert_eq!((status, answer["code"].as_str()), (501, Some("211005")), "{answer}");
    assert!(answer["description"].as_str().is_some_and(|d| d.contains("PSS")), "{answer}");
    // The same key still signs ECDSA under the plain name.
    let plain = body(&connector, "sha256", &digest, &hsm.user_pin, &key.id);
    let answer = connector.data(Method::POST, &path(&id, "sign"), Some(&plain));
    verify(&key.certificate, Hash::Sha256, &digest, &signature(&answer), false);
    for bad in ["sha256-pkcs", "pss", "sha3-256-pss"] {
        let request = body(&connector, bad, &digest, &hsm.user_pin, &key.id);
        let (status, answer) = connector.post(&path(&id, "sign"), &request);
        assert_eq!(status, 400, "{bad}: {answer}");
    }
}
