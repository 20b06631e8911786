//! Arbitrary bytes through what the DS does with a device message before trusting it: open
//! (size, headers, recipient, decryption), verify (sender key, signature, envelope, time), and
//! the counter checks. Nothing may panic, and nothing the fuzzer makes may verify: it holds no
//! device's private key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use t1c_ds_protocol::messages::{Envelope, SyncRequest};
use t1c_ds_protocol::seal::{self, PrivateKeys};

/// The DS's keys and a device's public signing key, fixed for the run.
static KEYS: LazyLock<(PrivateKeys, josekit::jwk::Jwk)> = LazyLock::new(|| {
    let ds = PrivateKeys::generate("ds-sig", "ds-enc").expect("ds keys");
    let device = PrivateKeys::generate("device-sig", "device-enc").expect("device keys");
    (ds, device.public().0)
});

fuzz_target!(|data: &[u8]| {
    let (ds, device) = &*KEYS;
    if let Ok(text) = std::str::from_utf8(data) {
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
