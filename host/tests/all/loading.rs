//! Loading modules: the contract check, the capability granter, manifests and the registry.

use std::collections::BTreeSet;

use t1c_runtime::{Device, LoadError, Registry, Runtime, RuntimeConfig};
use t1c_sdk::{Capability, Error};

use crate::fixtures::{self, MemoryCard};

#[test]
fn example_module_loads_with_its_manifest() {
    let runtime = fixtures::runtime();
    let module =
        runtime.load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello").expect("loads");
    assert_eq!(module.name(), "hello");
    assert_eq!(module.manifest().contract, t1c_sdk::CONTRACT_VERSION);
    assert_eq!(module.manifest().capabilities, [Capability::Reader]);
    assert_eq!(module.imported_capabilities(), &BTreeSet::from([Capability::Reader]));
    assert!(module.matches_atr(&MemoryCard::ATR));
    assert!(!module.matches_atr(&[0x3F, 0x00]));
}

#[test]
fn token_call_reaches_the_card_and_returns_a_typed_result() {
    let runtime = fixtures::runtime();
    let module =
        runtime.load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello").expect("loads");
    let info = module.token_info(Device::Card(Box::new(MemoryCard::default()))).expect("info");
    assert_eq!(info.serial_number, "3B981340");
    assert_eq!(info.label, "hello");
}

#[test]
fn extension_call_sends_apdus_through_the_host() {
    let runtime = fixtures::runtime();
    let module =
        runtime.load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello").expect("loads");
    let card = MemoryCard::default();
    let sent = card.sent.clone();
    let answer = module
        .invoke(Some(Device::Card(Box::new(card))), "select", r#"{"aid":"A001"}"#)
        .expect("select");
    assert_eq!(answer, r#"{"status":"9000"}"#);
    assert_eq!(*sent.lock().expect("lock"), [vec![0x00, 0xA4, 0x04, 0x0C, 0x02, 0xA0, 0x01]]);
}

#[test]
fn module_errors_arrive_typed() {
    let runtime = fixtures::runtime();
    let module =
        runtime.load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello").expect("loads");
    let device = Device::Card(Box::new(MemoryCard::default()));
    let err = module.invoke(Some(device), "select", "not json").expect_err("bad request");
    assert!(matches!(err.module_error(), Some(Error::InvalidInput(_))), "{err}");
    let device = Device::Card(Box::new(MemoryCard::default()));
    let err = module.sign(device, &sign_request(), None).expect_err("hello does not sign");
    assert!(matches!(err.module_error(), Some(Error::NotSupported(_))), "{err}");
}

#[test]
fn undeclared_capability_stops_the_module_from_loading() {
    let runtime = fixtures::runtime();
    let err = runtime
        .load(&t1c_testkit::components::bytes("t1c-test-undeclared"), "undeclared")
        .expect_err("must not load");
    match err {
        LoadError::UndeclaredCapability { module, capability } => {
            assert_eq!(module, "undeclared");
            assert_eq!(capability, Capability::Reader);
        }
        other => panic!("expected UndeclaredCapability, got {other}"),
    }
}

#[test]
fn capability_not_granted_by_config_stops_the_module_from_loading() {
    let runtime = Runtime::new(RuntimeConfig {
        granted: BTreeSet::new(),
        limits: fixtures::test_limits(),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let err = runtime
        .load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello")
        .expect_err("denied");
    assert!(
        matches!(err, LoadError::CapabilityNotGranted { capability: Capability::Reader, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not granted"));
}

#[test]
fn a_module_without_capabilities_loads_when_nothing_is_granted() {
    let runtime = Runtime::new(RuntimeConfig {
        granted: BTreeSet::new(),
        limits: fixtures::test_limits(),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let module = runtime
        .load(&t1c_testkit::components::bytes("t1c-test-hostile"), "hostile")
        .expect("loads");
    assert!(module.imported_capabilities().is_empty());
}

#[test]
fn garbage_and_core_modules_are_rejected_as_not_components() {
    let runtime = fixtures::runtime();
    for bytes in [
        b"not wasm at all".to_vec(),
        Vec::new(),
        // A valid, empty *core* module: a component is required.
        vec![0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00],
    ] {
        let err = runtime.load(&bytes, "garbage").expect_err("rejected");
        assert!(matches!(err, LoadError::Compile(_)), "{err}");
    }
}

#[test]
fn truncated_component_is_rejected() {
    let runtime = fixtures::runtime();
    let bytes = t1c_testkit::components::bytes("t1c-module-hello");
    let err = runtime.load(&bytes[..bytes.len() / 2], "truncated").expect_err("rejected");
    assert!(matches!(err, LoadError::Compile(_)), "{err}");
}

#[test]
fn registry_matches_atrs_to_the_modules_that_claim_them() {
    let runtime = fixtures::runtime();
    let mut registry = Registry::new();
    for package in ["t1c-module-hello", "t1c-test-hostile"] {
        let module =
            runtime.load(&t1c_testkit::components::bytes(package), package).expect("loads");
        registry.insert(module).expect("inserted");
    }
    let names: Vec<String> =
        registry.modules_for_atr(&MemoryCard::ATR).iter().map(|m| m.name().to_owned()).collect();
    assert_eq!(names, ["hello"]);
    assert!(registry.modules_for_atr(&[0x3F]).is_empty());
}

#[test]
fn registry_refuses_two_modules_with_one_name() {
    let runtime = fixtures::runtime();
    let bytes = t1c_testkit::components::bytes("t1c-module-hello");
    let mut registry = Registry::new();
    registry.insert(runtime.load(&bytes, "a").expect("loads")).expect("first");
    let err = registry.insert(runtime.load(&bytes, "b").expect("loads")).expect_err("duplicate");
    assert!(matches!(err, LoadError::Duplicate(name) if name == "hello"));
}

fn sign_request() -> t1c_sdk::SignRequest {
    t1c_sdk::SignRequest {
        algorithm: t1c_sdk::HashAlgorithm::Sha256,
        data: vec![0; 32],
        raw: false,
        key_id: None,
        padding: t1c_sdk::Padding::Pkcs1V15,
    }
}

#[test]
fn pin_reaches_the_card_without_entering_the_module() {
    let runtime = fixtures::runtime();
    let module =
        runtime.load(&t1c_testkit::components::bytes("t1c-module-hello"), "hello").expect("loads");
    let card = MemoryCard::default();
    let sent = card.sent.clone();
    module
        .verify_pin(Device::Card(Box::new(card)), Some(zeroize::Zeroizing::new("1234".into())))
        .expect("right PIN");
    // The host filled the module's format 2 block with the digits.
    assert_eq!(sent.lock().expect("lock")[0][5..9], [0x24, 0x12, 0x34, 0xFF]);

    let err = module
        .verify_pin(
            Device::Card(Box::new(MemoryCard::default())),
            Some(zeroize::Zeroizing::new("9876".into())),
        )
        .expect_err("wrong PIN");
    assert!(matches!(err.module_error(), Some(Error::PinWrong(2))), "{err}");
    assert!(!format!("{err} {err:?}").contains("9876"));
}
