//! Arbitrary bytes through what the DS does with a device message before trusting it: open
//! (size, headers, recipient, decryption), verify (sender key, signature, envelope, time), and
//! the counter checks; and what a connector does with a module assignment before trusting it.
//! Nothing may panic, and nothing the fuzzer makes may verify: it holds no device's or DS's
//! private key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use t1c_ds_protocol::assignment::ModuleAssignment;
use t1c_ds_protocol::messages::{Envelope, SyncRequest};
use t1c_ds_protocol::seal::{self, PrivateKeys};

/// The DS's keys, a device's public signing key and the DS's verifier, fixed for the run.
static KEYS: LazyLock<(PrivateKeys, josekit::jwk::Jwk, seal::Verifier)> = LazyLock::new(|| {
    let ds = PrivateKeys::generate("ds-sig", "ds-enc").expect("ds keys");
    let device = PrivateKeys::generate("device-sig", "device-enc").expect("device keys");
    let verifier = seal::Verifier::load(&ds.public().0).expect("ds verifier");
    (ds, device.public().0, verifier)
});

fuzz_target!(|data: &[u8]| {
    let (ds, device, ds_verifier) = &*KEYS;
    if let Ok(text) = std::str::from_utf8(data) {
        let assignment =
            ModuleAssignment::verify(text, std::slice::from_ref(ds_verifier), "d", 0, None);
        assert!(assignment.is_err(), "an assignment verified without the DS's private key");
        if let Ok(opened) = seal::decrypt(text, std::slice::from_ref(&ds.encryption)) {
            let verified = opened.verify::<SyncRequest>(device, Some("d"), 0);
            assert!(verified.is_err(), "a message verified without the device's private key");
        }
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope<SyncRequest>>(data) {
        let _ = envelope.body.counters.check();
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = seal::peer_key(&value, true);
        let _ = seal::peer_key(&value, false);
    }
});
