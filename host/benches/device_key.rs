//! PIN decryption with the device key, the connector's way against the `rsa` crate's PKCS#1 v1.5
//! decryption (what it used before), same key, same run:
//! `cargo bench -p t1c-host --bench device_key`.
//!
//! Cases, in alternating batches so all see the same machine state:
//! (a) `DeviceKey::decrypt_pin` on a PIN as t1c-sdk-js sends it (base64 of the ciphertext);
//! (b) the `rsa` crate's `decrypt(Pkcs1v15Encrypt, ..)` on the same ciphertext, plus the base64;
//! (c) `decrypt_pin` on random ciphertexts below the modulus (bad padding);
//! (d) `decrypt_pin` on a well-padded plaintext that is no PIN.
//! (c) and (d) take the refusal path and should cost what (a) costs: timing that tells them
//! apart is what the connector's decryption must not show. This prints medians and p99 only; a
//! side-channel claim needs far more samples and a quiet machine. `T1C_BENCH_SAMPLES` sets the
//! samples per case (default 2000).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

use t1c_host::security::device_key::DeviceKey;

const BATCH: usize = 100;

fn main() {
    let samples: usize =
        std::env::var("T1C_BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("device-key.pem");
    let key = DeviceKey::load_or_create(&path).expect("device key");
    let pem = std::fs::read_to_string(&path).expect("key file");
    let old = RsaPrivateKey::from_pkcs8_pem(&pem).expect("the key for the rsa crate");
    let public = RsaPublicKey::from_public_key_pem(key.public_pem()).expect("public key");

    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let good = BASE64.encode(public.encrypt(&mut rng, Pkcs1v15Encrypt, b"1234").expect("encrypt"));
    let not_a_pin =
        BASE64.encode(public.encrypt(&mut rng, Pkcs1v15Encrypt, b"12\x0034").expect("encrypt"));
    // Random numbers below the modulus (its top byte is at least 0x80): almost never 00 02.
    let garbage: Vec<String> = (0..64)
        .map(|_| {
            let mut bytes = vec![0; 256];
            rng.fill_bytes(&mut bytes);
            bytes[0] &= 0x3F;
            BASE64.encode(bytes)
        })
        .collect();
    assert_eq!(key.decrypt_pin(&good).expect("decrypts").as_str(), "1234");

    let (mut new, mut before, mut bad, mut non_pin) = (vec![], vec![], vec![], vec![]);
    while new.len() < samples {
        for _ in 0..BATCH {
            let started = Instant::now();
            let pin = key.decrypt_pin(&good);
            new.push(started.elapsed());
            assert!(pin.is_ok());
        }
        for _ in 0..BATCH {
            let started = Instant::now();
            let ciphertext = BASE64.decode(&good).expect("base64");
            let pin = old.decrypt(Pkcs1v15Encrypt, &ciphertext);
            before.push(started.elapsed());
            assert!(pin.is_ok());
        }
        for index in 0..BATCH {
            let input = &garbage[index % garbage.len()];
            let started = Instant::now();
            let pin = key.decrypt_pin(input);
            bad.push(started.elapsed());
            assert!(pin.is_err());
        }
        for _ in 0..BATCH {
            let started = Instant::now();
            let pin = key.decrypt_pin(&not_a_pin);
            non_pin.push(started.elapsed());
            assert!(pin.is_err());
        }
    }
    println!("PIN decryption with the device key (RSA-2048), {samples} samples per case");
    let (a, b) = (stats(&mut new), stats(&mut before));
    let (c, d) = (stats(&mut bad), stats(&mut non_pin));
    println!("(a) connector, good PIN          median {:>8.1?} p99 {:>8.1?}", a.0, a.1);
    println!("(b) rsa crate, good PIN          median {:>8.1?} p99 {:>8.1?}", b.0, b.1);
    println!("(c) connector, bad padding       median {:>8.1?} p99 {:>8.1?}", c.0, c.1);
    println!("(d) connector, padded, not a PIN median {:>8.1?} p99 {:>8.1?}", d.0, d.1);
    println!(
        "a/b {:.2}x; refusals against a good PIN: c/a {:.3}, d/a {:.3}",
        a.0.as_secs_f64() / b.0.as_secs_f64(),
        c.0.as_secs_f64() / a.0.as_secs_f64(),
        d.0.as_secs_f64() / a.0.as_secs_f64(),
    );
}

/// Median and p99.
fn stats(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}
