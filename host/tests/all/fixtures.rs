//! Shared test fixtures: the test modules, built once per test binary, and in-memory cards.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use t1c_runtime::{CallLimits, Runtime, RuntimeConfig};
use t1c_sdk::pin::{Pin, PinVerifyRequest, fill_pin_block};
use t1c_sdk::{Card, CardError};

/// Crates built for the tests: the example module and the purpose-built test modules.
const TEST_CRATES: [&str; 4] =
    ["t1c-module-hello", "t1c-test-hello-next", "t1c-test-hostile", "t1c-test-undeclared"];

/// Path of a test module's component, building all of them on first use.
pub fn module_path(package: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut cargo = Command::new(env!("CARGO"));
        cargo.current_dir(&root).args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "wasm-release",
        ]);
        for package in TEST_CRATES {
            cargo.args(["-p", package]);
        }
        let status = cargo.status().expect("cargo starts");
        assert!(status.success(), "building the test modules failed");
        root.join("target/wasm32-wasip2/wasm-release")
    });
    dir.join(format!("{}.wasm", package.replace('-', "_")))
}

/// The bytes of a test module.
pub fn module_bytes(package: &str) -> Vec<u8> {
    std::fs::read(module_path(package)).expect("test module built")
}

/// The repository's development signing key (what `cargo xtask build-modules` signs with and
/// debug builds of the connector trust).
pub fn development_key() -> t1c_bundle::SigningKey {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../xtask/development-key.pem");
    t1c_bundle::SigningKey::read_pem_file(&path).expect("development key")
}

/// A test module packed as a bundle whose manifest is the component's own, signed by `key`.
pub fn signed_bundle(package: &str, key: &t1c_bundle::SigningKey) -> Vec<u8> {
    let wasm = module_bytes(package);
    let module = runtime().load(&wasm, package).expect("test module loads");
    let manifest = t1c_runtime::manifest_of(&module).expect("manifest");
    t1c_bundle::sign(&t1c_bundle::pack(&manifest, &wasm).expect("pack"), key).expect("sign")
}

/// Limits small enough for hostile modules to hit quickly.
pub fn test_limits() -> CallLimits {
    CallLimits {
        cpu_time: Duration::from_millis(300),
        wall_time: Duration::from_secs(10),
        memory_bytes: 16 << 20,
    }
}

/// A runtime with the test limits and no cache.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { limits: test_limits(), ..RuntimeConfig::default() })
        .expect("runtime")
}

/// An in-memory card: answers SELECT of one AID with 9000, anything else with 6A82, and a
/// VERIFY with 9000 for PIN 1234. Records every APDU it receives.
#[derive(Clone, Default)]
pub struct MemoryCard {
    /// APDUs received, shared with the test after the card is handed to a call.
    pub sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl MemoryCard {
    /// The ATR the card reports.
    pub const ATR: [u8; 4] = [0x3B, 0x98, 0x13, 0x40];
}

impl Card for MemoryCard {
    fn atr(&self) -> Vec<u8> {
        Self::ATR.to_vec()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.sent.lock().expect("lock").push(apdu.to_vec());
        if apdu == [0x00, 0xA4, 0x04, 0x0C, 0x02, 0xA0, 0x01] {
            Ok(vec![0x90, 0x00])
        } else {
            Ok(vec![0x6A, 0x82])
        }
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
