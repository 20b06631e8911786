//! The Belgian eID module end to end, the way a browser reaches it: HTTPS to an in-process
//! connector whose readers are the real PC/SC backend, talking to a private `pcscd` whose vpcd
//! readers hold simulated cards (applet 1.7 and 1.8) through the SDK's vpcd bridge, with the
//! `beid` module loaded from its built component.
//!
//! libpcsclite finds its daemon through `PCSCLITE_CSOCK_NAME`, read once per process: run these
//! with `cargo nextest` (one process per test).
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::Pkcs1v15Sign;
use rsa::pkcs8::DecodePublicKey as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode as _, Encode as _};

use t1c_host::readers::{PcscBackend, PcscConfig};
use t1c_sdk::simulator::VirtualReader;
use t1c_sdk::simulator::belpic::{AppletVersion, BelpicCard, CertificateRole, Persona, TestPki};
use t1c_sdk::simulator::pcscd::PrivatePcscd;
use t1c_sdk::simulator::vpcd::VpcdBridge;
use t1c_testkit::TestConnector;

/// Generous: pcscd polls vpcd about every 400 ms, the backend reconnects with backoff.
const DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two looks while polling for a state (not a synchronisation: every wait has a
/// condition and a deadline).
const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// The rig: pcscd, two vpcd readers with a 1.7 and a 1.8 card, the PC/SC backend, the connector.

/// What a card in the rig is: its reader slot, persona and simulated card.
struct Slot {
    reader: VirtualReader,
    card: BelpicCard,
    /// The name pcscd lists the reader under.
    name: String,
}

impl Slot {
    fn persona(&self) -> &Persona {
        self.card.persona()
    }
}

struct Rig {
    pcscd: PrivatePcscd,
    slots: Vec<Slot>,
    _bridges: Vec<VpcdBridge>,
    runtime: tokio::runtime::Runtime,
    connector: Connector,
}

struct Connector {
    /// The connector; taken when the rig stops it.
    running: Option<TestConnector>,
    /// Successful module calls by use case, to compare with `/ds/transactions`.
    counted: Mutex<BTreeMap<String, u64>>,
}

impl Rig {
    /// Reader 0 holds the default citizen's 1.7 card, reader 1 a German-speaking citizen's 1.8
    /// card; returns once the connector lists both with the `beid` module.
    fn start() -> Self {
        let cards = [
            BelpicCard::from_pki(&Persona::default_citizen(), pki(AppletVersion::V1_7))
                .expect("1.7 card"),
            BelpicCard::from_pki(&Persona::german_speaking_citizen(), pki(AppletVersion::V1_8))
                .expect("1.8 card"),
        ];
        // Built before any thread starts: cargo runs as a child process.
        t1c_testkit::components::path("t1c-module-beid");
        let pcscd = PrivatePcscd::start(cards.len()).expect("private pcscd starts");
        // SAFETY: one test per process (nextest), and no other thread has started yet.
        #[allow(unsafe_code)]
        unsafe {
            pcscd.use_for_this_process()
        };
        let mut slots = Vec::new();
        let mut bridges = Vec::new();
        for (i, card) in cards.into_iter().enumerate() {
            let reader = VirtualReader::new(format!("belpic {i}"));
            reader.insert(Box::new(card.clone()));
            let port = pcscd.port(i).expect("reader exists");
            bridges.push(VpcdBridge::start(reader.clone(), "127.0.0.1", port).expect("bridge"));
            let name = pcscd.reader_name(i).expect("reader exists");
            slots.push(Slot { reader, card, name });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio");
        let connector = runtime.block_on(start_connector());
        let rig = Self { pcscd, slots, _bridges: bridges, runtime, connector };
        rig.wait_for_readers(|readers| {
            rig.slots.iter().all(|slot| {
                readers.iter().any(|r| r["name"] == slot.name.as_str() && claimed_by_beid(r))
            })
        });
        rig
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Polls `GET /v3/readers` until `accept` takes the list; fails with pcscd's log.
    fn wait_for_readers(&self, accept: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let (status, body) = self.block_on(self.connector.get("/v3/readers"));
            assert_eq!(status, 200, "{body}");
            let readers = body["data"].as_array().cloned().unwrap_or_default();
            if accept(&readers) {
                return readers;
            }
            if Instant::now() > deadline {
                self.fail(&format!("readers never reached the expected state: {readers:?}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The connector's id of the reader in slot `i`.
    fn reader_id(&self, i: usize) -> String {
        let readers = self.wait_for_readers(|readers| {
            readers.iter().any(|r| r["name"] == self.slots[i].name.as_str())
        });
        let reader = readers.iter().find(|r| r["name"] == self.slots[i].name.as_str());
        reader.and_then(|r| r["id"].as_str()).expect("reader id").to_owned()
    }

    /// Calls a `beid` operation on slot `i`: GET without a body, POST with one.
    fn call(&self, i: usize, operation: &str, body: Option<Value>) -> (u16, Value) {
        let id = self.reader_id(i);
        let path = format!("/v3/modules/beid/apps/token/readers/{id}/{operation}");
        let (status, answer) = match body {
            None => self.block_on(self.connector.get(&path)),
            Some(body) => self.block_on(self.connector.post(&path, &body)),
        };
        if status == 200 {
            assert_eq!(answer["success"], true, "{answer}");
            let data = answer["data"].to_string();
            let signature = answer["signature"].as_str().expect("signed reply");
            assert!(
                self.connector.kit().device_key().verify(data.as_bytes(), signature),
                "signature"
            );
            if let Some(use_case) = counted_use_case(operation) {
                let mut counted = self.connector.counted.lock().expect("lock");
                *counted.entry(use_case.to_owned()).or_default() += 1;
            }
        }
        (status, answer)
    }

    /// Calls an operation that must succeed and returns its `data`.
    fn data(&self, i: usize, operation: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(i, operation, body);
        if status != 200 {
            self.fail(&format!("{operation} on reader {i}: {status} {answer}"));
        }
        answer["data"].clone()
    }

    fn encrypted_pin(&self, pin: &str) -> String {
        self.connector.kit().encrypted_pin(pin)
    }

    /// `/ds/transactions` summed by use case, for the `beid` module.
    fn transactions(&self) -> BTreeMap<String, u64> {
        let (status, body) = self.block_on(self.connector.get("/ds/transactions"));
        assert_eq!(status, 200, "{body}");
        let mut sums = BTreeMap::new();
        for row in body["data"].as_array().expect("rows") {
            assert_eq!(row["module"], "beid", "{row}");
            let use_case = row["useCase"].as_str().expect("use case").to_owned();
            *sums.entry(use_case).or_default() += row["counter"].as_u64().expect("counter");
        }
        sums
    }

    /// Every success this test saw was counted, under its use case.
    fn assert_transactions_counted(&self) {
        let expected = self.connector.counted.lock().expect("lock").clone();
        assert!(!expected.is_empty());
        assert_eq!(self.transactions(), expected);
    }

    fn fail(&self, what: &str) -> ! {
        let log = std::fs::read_to_string(self.pcscd.log_path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!("{what}\npcscd log (tail):\n{}", tail.join("\n"));
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(running) = self.connector.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

impl Connector {
    fn kit(&self) -> &TestConnector {
        self.running.as_ref().expect("the connector runs")
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let kit = self.kit();
        let response = kit.http().get(kit.url(path)).send().await.expect("https");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let kit = self.kit();
        let response = kit.http().post(kit.url(path)).json(body).send().await.expect("https");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }
}

/// The use case a successful operation is counted under in `/ds/transactions`, if any:
/// certificate reads count as identity reads; `version` and `supported-algorithms` are not
/// transactions.
fn counted_use_case(operation: &str) -> Option<&'static str> {
    match operation {
        "verify-pin" => Some("pin verification"),
        "sign" => Some("digital signature"),
        "authenticate" => Some("authentication"),
        "biometric"
        | "address"
        | "picture"
        | "all-data"
        | "info"
        | "cert-list"
        | "root-cert"
        | "intermediate-certs"
        | "authentication-cert"
        | "nonrepudiation-cert"
        | "encryption-cert" => Some("identity read"),
        _ => None,
    }
}

fn claimed_by_beid(reader: &Value) -> bool {
    reader["card"]["modules"] == json!(["beid"])
}

/// One PKI per applet version (RSA key generation is slow); the persona only names the
/// certificates, so both cards share the citizen's.
fn pki(version: AppletVersion) -> &'static TestPki {
    static V17: OnceLock<TestPki> = OnceLock::new();
    static V18: OnceLock<TestPki> = OnceLock::new();
    let (cell, persona) = match version {
        AppletVersion::V1_8 => (&V18, Persona::german_speaking_citizen()),
        _ => (&V17, Persona::default_citizen()),
    };
    cell.get_or_init(|| TestPki::generate_seeded(&persona, version, 23).expect("test PKI"))
}

/// The connector over HTTPS on an ephemeral loopback port, its readers the PC/SC backend and
/// its one module `beid`.
async fn start_connector() -> Connector {
    let mut config = PcscConfig::default();
    config.max_backoff = Duration::from_millis(200);
    let readers = PcscBackend::start(config).expect("PC/SC backend starts");
    let connector =
        TestConnector::builder().module("t1c-module-beid").readers(Arc::new(readers)).start().await;
    Connector { running: Some(connector), counted: Mutex::default() }
}

// ---------------------------------------------------------------------------------------------
// Checks

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_else(|| panic!("`{field}` is a string in {value}")).to_owned()
}

fn assert_biometric(biometric: &Value, persona: &Persona) {
    assert_eq!(text(biometric, "name"), persona.surname);
    assert_eq!(text(biometric, "firstNames"), persona.first_names);
    assert_eq!(text(biometric, "thirdName"), persona.third_initial);
    assert_eq!(text(biometric, "nationality"), persona.nationality);
    assert_eq!(text(biometric, "birthLocation"), persona.birth_place);
    assert_eq!(text(biometric, "nationalNumber"), persona.national_number);
    assert_eq!(text(biometric, "cardNumber"), persona.card_number);
    assert_eq!(text(biometric, "nobleCondition"), persona.nobility);
    assert_eq!(text(biometric, "cardDeliveryMunicipality"), persona.issuing_municipality);
    assert_eq!(text(biometric, "chipNumber"), BASE64.encode(persona.chip_number()));
    assert_eq!(
        text(biometric, "birthDateIso"),
        format!(
            "{:04}-{:02}-{:02}",
            persona.birth_date.year, persona.birth_date.month, persona.birth_date.day
        )
    );
    assert_eq!(biometric["integrity"]["identity"], "valid", "{biometric}");
}

fn assert_address(address: &Value, persona: &Persona) {
    assert_eq!(text(address, "streetAndNumber"), persona.address.street_and_number);
    assert_eq!(text(address, "zipcode"), persona.address.zip);
    assert_eq!(text(address, "municipality"), persona.address.municipality);
    assert_eq!(address["integrity"]["address"], "valid", "{address}");
}

/// The DER of the only certificate in a `{certificates: [..]}` answer.
fn only_certificate(answer: &Value) -> Vec<u8> {
    let certificates = answer["certificates"].as_array().expect("certificates");
    assert_eq!(certificates.len(), 1, "{answer}");
    BASE64.decode(text(&certificates[0], "certificate")).expect("base64 certificate")
}

/// Verifies a card signature over the SHA-256 `digest` with the key of `certificate`: RSA
/// PKCS#1 v1.5 (applet 1.7) or DER ECDSA P-384 (1.8, the digest left-padded to the order).
fn verify_with_certificate(certificate: &[u8], digest: &[u8], signature: &[u8]) {
    let parsed = x509_cert::Certificate::from_der(certificate).expect("X.509 certificate");
    let spki = parsed.tbs_certificate.subject_public_key_info.to_der().expect("SPKI DER");
    if let Ok(key) = rsa::RsaPublicKey::from_public_key_der(&spki) {
        key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature)
            .expect("RSA PKCS#1 v1.5 signature verifies with the certificate");
        return;
    }
    let key = p384::ecdsa::VerifyingKey::from_public_key_der(&spki).expect("an RSA or P-384 key");
    let signature = p384::ecdsa::Signature::from_der(signature).expect("DER ECDSA-Sig-Value");
    let mut prehash = vec![0u8; 48usize.saturating_sub(digest.len())];
    prehash.extend_from_slice(digest);
    key.verify_prehash(&prehash, &signature)
        .expect("ECDSA P-384 signature verifies with the certificate");
}

fn sign_body(rig: &Rig, digest: &[u8], pin: &str) -> Value {
    json!({
        "algorithm": "sha256",
        "data": BASE64.encode(digest),
        "pin": rig.encrypted_pin(pin),
        "base64Encoded": true,
    })
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn both_readers_are_listed_and_identity_and_certificates_match_the_personas() {
    let rig = Rig::start();
    let readers = rig.wait_for_readers(|readers| readers.len() == 2);
    for slot in &rig.slots {
        let reader = readers.iter().find(|r| r["name"] == slot.name.as_str()).expect("listed");
        assert_eq!(reader["card"]["modules"], json!(["beid"]), "{reader}");
        assert_eq!(reader["card"]["atr"], hex::encode_upper(slot.reader.atr().expect("atr")));
        assert_eq!(reader["pinpad"], false);
    }

    for (i, slot) in rig.slots.iter().enumerate() {
        let persona = slot.persona();
        assert_biometric(&rig.data(i, "biometric", None), persona);
        assert_address(&rig.data(i, "address", None), persona);

        let all = rig.data(i, "all-data", None);
        assert_biometric(&all["biometric"], persona);
        assert_address(&all["address"], persona);
        let photo = BASE64.decode(text(&all["picture"], "picture")).expect("base64 photo");
        assert_eq!(photo[..2], [0xFF, 0xD8], "a JPEG");
        assert_eq!(all["picture"]["integrity"]["photo"], "valid");

        let list = rig.data(i, "cert-list", None);
        for (key, role) in [
            ("authenticationCertificate", CertificateRole::Authentication),
            ("nonRepudiationCertificate", CertificateRole::NonRepudiation),
            ("rootCertificate", CertificateRole::Root),
            ("encryptionCertificate", CertificateRole::Rrn),
        ] {
            assert_eq!(only_certificate(&list[key]), slot.card.certificate(role), "{key} on {i}");
        }
        let intermediates = list["intermediateCertificates"]["certificates"]
            .as_array()
            .expect("intermediate certificates");
        assert_eq!(
            BASE64.decode(text(&intermediates[0], "certificate")).expect("base64"),
            slot.card.certificate(CertificateRole::Ca)
        );
    }
    rig.assert_transactions_counted();
}

#[test]
fn pins_signatures_and_authentication_verify_against_the_card_certificates() {
    let rig = Rig::start();
    let digest = Sha256::digest(b"T1C end to end through pcscd");
    for (i, slot) in rig.slots.iter().enumerate() {
        let pin = slot.card.pin().to_owned();
        let verified = rig.data(
            i,
            "verify-pin",
            Some(json!({"pin": rig.encrypted_pin(&pin), "base64Encoded": true})),
        );
        assert_eq!(verified, json!({"verified": true}));

        let wrong = if pin == "0000" { "1111" } else { "0000" };
        let (status, answer) = rig.call(
            i,
            "verify-pin",
            Some(json!({"pin": rig.encrypted_pin(wrong), "base64Encoded": true})),
        );
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["code"], "208001", "{answer}");
        let description = text(&answer, "description");
        assert!(description.contains("2 tries left"), "{description}");
        assert!(!answer.to_string().contains(wrong));
        // The right PIN resets the counter.
        rig.data(
            i,
            "verify-pin",
            Some(json!({"pin": rig.encrypted_pin(&pin), "base64Encoded": true})),
        );

        let non_repudiation = only_certificate(&rig.data(i, "nonrepudiation-cert", None));
        let signed = rig.data(i, "sign", Some(sign_body(&rig, &digest, &pin)));
        let signature = BASE64.decode(text(&signed, "data")).expect("base64 signature");
        verify_with_certificate(&non_repudiation, &digest, &signature);

        let authentication = only_certificate(&rig.data(i, "authentication-cert", None));
        let authenticated = rig.data(i, "authenticate", Some(sign_body(&rig, &digest, &pin)));
        let signature = BASE64.decode(text(&authenticated, "data")).expect("base64 signature");
        verify_with_certificate(&authentication, &digest, &signature);
        assert_ne!(authentication, non_repudiation);

        // A signature with a wrong PIN fails and signs nothing.
        let (status, answer) = rig.call(i, "sign", Some(sign_body(&rig, &digest, wrong)));
        assert_eq!((status, answer["code"].as_str()), (400, Some("208001")), "{answer}");
        rig.data(
            i,
            "verify-pin",
            Some(json!({"pin": rig.encrypted_pin(&pin), "base64Encoded": true})),
        );
    }
    rig.assert_transactions_counted();
}

#[test]
fn a_removed_card_is_a_typed_error_and_a_reinserted_card_works_again() {
    let rig = Rig::start();
    for (i, slot) in rig.slots.iter().enumerate() {
        assert_biometric(&rig.data(i, "biometric", None), slot.persona());
        let id = rig.reader_id(i);

        let card = slot.reader.remove().expect("a card was inserted");
        let (status, answer) = rig.call(i, "biometric", None);
        let code = answer["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            (status, code.as_str()) == (410, "202001")
                || (status, code.as_str()) == (404, "702404"),
            "removed card on reader {i}: {status} {answer}"
        );
        // The other reader is unaffected.
        let other = 1 - i;
        assert_biometric(&rig.data(other, "biometric", None), rig.slots[other].persona());
        // Once pcscd noticed, the listing shows the reader empty and calls say so.
        rig.wait_for_readers(|readers| {
            readers.iter().any(|r| r["id"] == id.as_str() && r["card"].is_null())
        });
        let (status, answer) = rig.call(i, "address", None);
        assert_eq!((status, answer["code"].as_str()), (404, Some("702404")), "{answer}");

        slot.reader.insert(card);
        rig.wait_for_readers(|readers| {
            readers.iter().any(|r| r["id"] == id.as_str() && claimed_by_beid(r))
        });
        let deadline = Instant::now() + DEADLINE;
        let biometric = loop {
            let (status, answer) = rig.call(i, "biometric", None);
            if status == 200 {
                break answer["data"].clone();
            }
            let code = answer["code"].as_str().unwrap_or_default();
            assert!(matches!(code, "202001" | "702404"), "{status} {answer}");
            if Instant::now() > deadline {
                rig.fail(&format!("the reinserted card never answered: {answer}"));
            }
            std::thread::sleep(POLL);
        };
        assert_biometric(&biometric, slot.persona());
    }
    rig.assert_transactions_counted();
}
