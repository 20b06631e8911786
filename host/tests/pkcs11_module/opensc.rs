//! OpenSC's `opensc-pkcs11.so` in front of a simulated Belgian eID behind the real `pcscd`:
//! the same card read through the `pkcs11` module (a PKCS#11 slot) and through the `beid`
//! module (a PC/SC reader).
//!
//! OpenSC 0.23's `belpic` driver signs with the authentication key of RSA cards only (it
//! refuses the non-repudiation key itself, and registers no ECDSA), so signatures here are
//! authentication signatures on applet 1.7 (see `sdk/tests/belpic_opensc.rs`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use serde_json::{Value, json};

use t1c_host::readers::{PcscBackend, PcscConfig};
use t1c_sdk::simulator::VirtualReader;
use t1c_sdk::simulator::belpic::{AppletVersion, BelpicCard, Persona, TestPki};
use t1c_sdk::simulator::pcscd::PrivatePcscd;
use t1c_sdk::simulator::vpcd::VpcdBridge;

use super::{Connector, Hash, Setup, certificates, verify};

const OPENSC: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
const PIN: &str = "1234";
const DEADLINE: Duration = Duration::from_secs(30);

/// A private pcscd with one vpcd reader holding a simulated card, and a connector with the
/// `beid` and `pkcs11` modules and OpenSC as its PKCS#11 library.
struct Rig {
    connector: Connector,
    _pcscd: PrivatePcscd,
    _bridge: VpcdBridge,
    _home: tempfile::TempDir,
}

impl Rig {
    /// `declassify`: OpenSC's `private_certificate = declassify`, so the certificates a 1.7
    /// card marks private are listed before login; OpenSC's default (`protect`) shows them
    /// only to a logged-in session.
    fn start(version: AppletVersion, declassify: bool) -> Self {
        let card = BelpicCard::from_pki(&Persona::default_citizen(), pki(version)).expect("card");
        // Built before any thread starts: cargo runs as a child process.
        t1c_testkit::components::path("t1c-module-pkcs11");
        let pcscd = PrivatePcscd::start(1).expect("private pcscd");
        // SAFETY: one test per process (nextest), and no other thread has started yet.
        #[allow(unsafe_code)]
        unsafe {
            pcscd.use_for_this_process()
        };
        let reader = VirtualReader::new("belpic");
        reader.insert(Box::new(card));
        let port = pcscd.port(0).expect("reader 0");
        let bridge = VpcdBridge::start(reader, "127.0.0.1", port).expect("vpcd bridge");
        let home = tempfile::tempdir().expect("home");
        let opensc_conf = home.path().join("opensc.conf");
        // No on-disk cache: every test's card is new.
        let certificates = if declassify { "declassify" } else { "protect" };
        std::fs::write(
            &opensc_conf,
            format!(
                "app default {{\n  framework pkcs15 {{\n    use_file_caching = no;\n    \
                 private_certificate = {certificates};\n  }}\n}}\n"
            ),
        )
        .expect("opensc.conf");
        let env: Vec<(OsString, OsString)> = vec![
            ("PCSCLITE_CSOCK_NAME".into(), pcscd.socket_path().into()),
            ("OPENSC_CONF".into(), opensc_conf.into()),
            ("HOME".into(), home.path().into()),
        ];
        let mut pcsc = PcscConfig::default();
        pcsc.max_backoff = Duration::from_millis(200);
        let connector = Connector::start(Setup {
            libraries: vec![PathBuf::from(OPENSC)],
            env,
            modules: vec!["t1c-module-pkcs11", "t1c-module-beid"],
            readers: Arc::new(PcscBackend::start(pcsc).expect("PC/SC backend")),
            api_config: false,
        });
        Self { connector, _pcscd: pcscd, _bridge: bridge, _home: home }
    }

    /// The ids of the card as a PC/SC reader (`beid`) and as a PKCS#11 slot (`pkcs11`), once
    /// both are listed.
    fn ids(&self) -> (String, String) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let beid = self.connector.readers_of("beid");
            let pkcs11 = self.connector.readers_of("pkcs11");
            if let ([reader], [slot]) = (beid.as_slice(), pkcs11.as_slice()) {
                let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
                return (id(reader), id(slot));
            }
            assert!(Instant::now() < deadline, "card not listed both ways: {beid:?} {pkcs11:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn get(&self, module: &str, id: &str, operation: &str) -> Value {
        let path = format!("/v3/modules/{module}/apps/token/readers/{id}/{operation}");
        self.connector.data(Method::GET, &path, None)
    }

    fn post(&self, module: &str, id: &str, operation: &str, body: &Value) -> (u16, Value) {
        let path = format!("/v3/modules/{module}/apps/token/readers/{id}/{operation}");
        self.connector.post(&path, body)
    }

    fn pin_body(&self, pin: &str) -> Value {
        json!({ "pin": self.connector.encrypted_pin(pin), "base64Encoded": true })
    }
}

fn pki(version: AppletVersion) -> &'static TestPki {
    static V17: OnceLock<TestPki> = OnceLock::new();
    static V18: OnceLock<TestPki> = OnceLock::new();
    let cell = if version == AppletVersion::V1_8 { &V18 } else { &V17 };
    cell.get_or_init(|| {
        TestPki::generate_seeded(&Persona::default_citizen(), version, 11).expect("test PKI")
    })
}

#[test]
fn the_pkcs11_module_reads_the_same_certificates_as_beid() {
    let rig = Rig::start(AppletVersion::V1_7, true);
    let (reader, slot) = rig.ids();
    assert_ne!(reader, slot, "one card, two paths, two ids");
    let pkcs11 = rig.get("pkcs11", &slot, "cert-list");
    let beid = rig.get("beid", &reader, "cert-list");
    for key in ["authenticationCertificate", "nonRepudiationCertificate", "rootCertificate"] {
        let through_beid = certificates(&beid[key]);
        assert_eq!(through_beid.len(), 1, "{key} through beid: {beid}");
        assert_eq!(certificates(&pkcs11[key]), through_beid, "{key} through pkcs11: {pkcs11}");
    }
    // OpenSC shows the citizen CA as the intermediate; the National Register's certificate,
    // whose key is not on the card, has no signing role.
    assert_eq!(
        certificates(&pkcs11["intermediateCertificates"]),
        certificates(&beid["intermediateCertificates"])
    );
    let auth = rig.get("pkcs11", &slot, "authentication-cert");
    assert_eq!(certificates(&auth), certificates(&beid["authenticationCertificate"]));
    let nonrep = rig.get("pkcs11", &slot, "nonrepudiation-cert");
    assert_eq!(certificates(&nonrep), certificates(&beid["nonRepudiationCertificate"]));
    // And a beid signature validates in the pkcs11 module, against the certificate it reads.
    let digest = Hash::Sha256.digest(b"challenge");
    let mut body = rig.pin_body(PIN);
    body["algorithm"] = json!("sha256");
    body["data"] = json!(BASE64.encode(&digest));
    let (status, answer) = rig.post("beid", &reader, "authenticate", &body);
    assert_eq!(status, 200, "{answer}");
    let validate = json!({
        "algorithm": "sha256",
        "hash": BASE64.encode(&digest),
        "signedHash": answer["data"]["data"],
        "id": auth["certificates"][0]["id"],
    });
    let (status, valid) = rig.post("pkcs11", &slot, "validate", &validate);
    assert_eq!((status, &valid["data"]), (200, &json!({ "valid": true })), "{valid}");
    let info = rig.get("pkcs11", &slot, "info");
    assert!(info["label"].as_str().is_some_and(|l| l.contains("BELPIC")), "{info}");
}

#[test]
fn an_authentication_through_pkcs11_verifies_with_the_beid_certificate() {
    // OpenSC's default: the certificates appear after the login the signature makes anyway.
    let rig = Rig::start(AppletVersion::V1_7, false);
    let (reader, slot) = rig.ids();
    let certificate = certificates(&rig.get("beid", &reader, "authentication-cert")).remove(0);
    let digest = Hash::Sha256.digest(b"challenge");
    let mut body = rig.pin_body(PIN);
    body["algorithm"] = json!("sha256");
    body["data"] = json!(BASE64.encode(&digest));
    let (status, answer) = rig.post("pkcs11", &slot, "authenticate", &body);
    assert_eq!(status, 200, "{answer}");
    let signature = BASE64.decode(answer["data"]["data"].as_str().expect("data")).expect("base64");
    verify(&certificate, Hash::Sha256, &digest, &signature, false);
}

#[test]
fn wrong_pins_through_pkcs11_end_in_a_locked_pin() {
    let rig = Rig::start(AppletVersion::V1_7, false);
    let (reader, slot) = rig.ids();
    let (status, answer) = rig.post("pkcs11", &slot, "verify-pin", &rig.pin_body(PIN));
    assert_eq!(status, 200, "{answer}");
    let mut codes = Vec::new();
    for _ in 0..3 {
        let (status, answer) = rig.post("pkcs11", &slot, "verify-pin", &rig.pin_body("9999"));
        assert_eq!(status, 400, "{answer}");
        codes.push(answer["code"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(codes[..2], ["208001", "208001"], "wrong PIN twice: {codes:?}");
    // The third wrong PIN blocks it, whichever error reports that; then it is locked.
    let (status, answer) = rig.post("pkcs11", &slot, "verify-pin", &rig.pin_body(PIN));
    assert_eq!((status, answer["code"].as_str()), (400, Some("208002")), "{answer}");
    // beid agrees.
    let (status, answer) = rig.post("beid", &reader, "verify-pin", &rig.pin_body(PIN));
    assert_eq!((status, answer["code"].as_str()), (400, Some("208002")), "{answer}");
}

#[test]
fn applet_1_8_certificates_are_the_same_both_ways() {
    let rig = Rig::start(AppletVersion::V1_8, false);
    let (reader, slot) = rig.ids();
    let beid = rig.get("beid", &reader, "cert-list");
    let pkcs11 = rig.get("pkcs11", &slot, "cert-list");
    for key in ["authenticationCertificate", "nonRepudiationCertificate"] {
        assert_eq!(certificates(&pkcs11[key]), certificates(&beid[key]), "{key}: {pkcs11}");
    }
}
