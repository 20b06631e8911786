//! Arbitrary bytes through the bundle reader and verifier: nothing may panic, and nothing but a
//! bundle signed by the trusted key may verify.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use t1c_bundle::{Bundle, PublicKey, TrustStore};

/// A fixed key to trust (RFC 8032 test 1). The seed corpus is not signed with it and a fuzzer
/// cannot forge Ed25519, so nothing may verify.
static TRUST: LazyLock<TrustStore> = LazyLock::new(|| {
    let key: PublicKey = "t1c-ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        .parse()
        .expect("a valid public key");
    [key].into_iter().collect()
});

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = Bundle::read(data) {
        let _ = bundle.manifest().to_toml();
        let _ = bundle.digest().to_string();
        assert!(bundle.verify(&TRUST).is_err(), "a bundle verified without the secret key");
    }
});
