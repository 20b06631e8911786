//! Modules built against an older contract keep working on this host: the `hello` bundle built
//! and signed (development key) before contract 0.2.0 existed, kept as a fixture
//! (`fixtures/hello-0.1.0.t1cm`, see `fixtures/README.md`), loads through the bundle checks,
//! is linked and called through the 0.1.0 bindings, and a request 0.1.0 cannot express (RSA-PSS)
//! is refused by the host without calling it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use t1c_bundle::{Bundle, SigningKey, TrustStore};
use t1c_runtime::{CallError, Device, LoadedModule, Runtime, RuntimeConfig, SUPPORTED_CONTRACTS};
use t1c_sdk::pin::{Pin, PinVerifyRequest, fill_pin_block};
use t1c_sdk::{Card, CardError, Error, HashAlgorithm, Padding, SignRequest};
use zeroize::Zeroizing;

/// `modules/hello` at contract 0.1.0, as `cargo xtask build-modules` signed it.
const HELLO_0_1_0: &[u8] = include_bytes!("fixtures/hello-0.1.0.t1cm");

/// A card answering SELECT of AID `A001` with 9000 and a VERIFY with PIN 1234 with 9000.
#[derive(Clone, Default)]
struct MemoryCard {
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Card for MemoryCard {
    fn atr(&self) -> Vec<u8> {
        vec![0x3B, 0x98, 0x13, 0x40]
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.sent.lock().expect("lock").push(apdu.to_vec());
        Ok(if apdu == [0x00, 0xA4, 0x04, 0x0C, 0x02, 0xA0, 0x01] {
            vec![0x90, 0x00]
        } else {
            vec![0x6A, 0x82]
        })
    }

    fn verify_pin(
        &mut self,
        request: &PinVerifyRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError> {
        let digits = pin
            .and_then(|p| p.digits())
            .ok_or_else(|| CardError::NotSupported("no pinpad".into()))?;
        let apdu = fill_pin_block(request, digits)?;
        self.transmit(&apdu)?;
        Ok(if digits == "1234" { 0x9000 } else { 0x63C2 })
    }
}

fn hello_0_1_0() -> LoadedModule {
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/development-key.pem");
    let mut trust = TrustStore::new();
    trust.add(SigningKey::read_pem_file(&key).expect("the development key").public_key());
    let bundle = Bundle::read(HELLO_0_1_0).expect("a bundle").verify(&trust).expect("signed");
    assert_eq!(bundle.manifest().contract.to_string(), "0.1.0");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    runtime.check_bundle_manifest(&bundle).expect("the manifest's contract is served");
    runtime.load_bundle(&bundle).expect("a 0.1.0 bundle loads")
}

fn card() -> Device {
    Device::Card(Box::new(MemoryCard::default()))
}

#[test]
fn a_module_built_for_0_1_0_loads_and_runs_unchanged() {
    assert_eq!(SUPPORTED_CONTRACTS, ["0.1.0", "0.2.0"]);
    let module = hello_0_1_0();
    assert_eq!(module.contract(), "0.1.0");
    assert_eq!(module.manifest().contract, "0.1.0");
    assert_eq!(module.manifest().version, "0.1.0");

    // Exports through the 0.1.0 bindings; imports (`reader`, `types`) under the 0.1.0 names.
    let info = module.token_info(card()).expect("token.info");
    assert_eq!((info.serial_number.as_str(), info.label.as_str()), ("3B981340", "hello"));
    let memory = MemoryCard::default();
    let sent = memory.sent.clone();
    let answer = module
        .invoke(Some(Device::Card(Box::new(memory))), "select", r#"{"aid":"A001"}"#)
        .expect("extension.invoke");
    assert_eq!(answer, r#"{"status":"9000"}"#);
    assert_eq!(*sent.lock().expect("lock"), [vec![0x00, 0xA4, 0x04, 0x0C, 0x02, 0xA0, 0x01]]);
    assert_eq!(module.invoke(None, "version", "{}").expect("version"), r#"{"version":"0.1.0"}"#);
    // The host-held PIN reaches the card through the 0.1.0 `pin` resource.
    module.verify_pin(card(), Some(Zeroizing::new("1234".to_owned()))).expect("right PIN");
    let wrong = module.verify_pin(card(), Some(Zeroizing::new("1111".to_owned())));
    assert!(matches!(wrong.map_err(|e| e.module_error().cloned()), Err(Some(Error::PinWrong(2)))));
}

#[test]
fn rsa_pss_asked_of_a_0_1_0_module_is_not_supported_by_its_contract() {
    let module = hello_0_1_0();
    let request = |padding| SignRequest {
        algorithm: HashAlgorithm::Sha256,
        data: vec![0x5A; 32],
        raw: false,
        key_id: None,
        padding,
    };
    for authenticate in [false, true] {
        let err = if authenticate {
            module.authenticate(card(), &request(Padding::Pss), None)
        } else {
            module.sign(card(), &request(Padding::Pss), None)
        }
        .expect_err("0.1.0 has no PSS");
        match &err {
            CallError::NotInContract { module, what, contract } => {
                assert_eq!(
                    (module.as_str(), *what, *contract),
                    ("hello", "RSA-PSS", "t1c:card@0.1.0")
                );
            }
            other => panic!("expected NotInContract, got {other}"),
        }
        assert!(
            err.to_string().contains("not supported by this module's contract (t1c:card@0.1.0)"),
            "{err}"
        );
    }
    // PKCS#1 v1.5 still reaches the module, which answers for itself (hello does not sign).
    let err = module.sign(card(), &request(Padding::Pkcs1V15), None).expect_err("no signing");
    assert!(matches!(err.module_error(), Some(Error::NotSupported(_))), "{err}");
}
