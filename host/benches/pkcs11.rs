//! PKCS#11 benchmark, run with `cargo bench -p t1c-host --bench pkcs11`.
//!
//! Signs with the same SoftHSM key, in the same run, (a) through `Pkcs11Host` (the worker
//! process, one IPC round trip per call) and (b) with `cryptoki` called directly in this process,
//! and reports medians, p99 and the ratio a/b: what isolation costs. Batches of (a) and (b)
//! alternate so both see the same machine state. `T1C_BENCH_SAMPLES` sets the samples per key.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass as CkObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use t1c_host::pkcs11::{
    HashAlgorithm, ObjectClass, ObjectQuery, Pkcs11Host, Pkcs11Options, SignatureScheme,
};

use t1c_testkit::softhsm::{KeyKind, SoftHsm};

fn main() {
    let samples: usize =
        std::env::var("T1C_BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let hsm = SoftHsm::new();

    // (a) through the connector's worker
    let mut options = Pkcs11Options::new(PathBuf::from(env!("CARGO_BIN_EXE_t1c")));
    options.env = hsm.env();
    let host = Pkcs11Host::new(options);
    host.set_libraries(vec![hsm.library.clone()]);
    let slot = host.slots().into_iter().next().expect("the SoftHSM token");
    let slot = host.open(&slot).expect("open");
    let session = slot.open_session().expect("session");
    session.login(Some(&Zeroizing::new(hsm.user_pin.clone()))).expect("login");

    // (b) in process. SoftHSM reads its configuration from the environment at C_Initialize;
    // this is the only thread so far.
    // SAFETY: no other thread exists yet that could read the environment concurrently.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("SOFTHSM2_CONF", &hsm.conf)
    };
    let pkcs11 = Pkcs11::new(&hsm.library).expect("load SoftHSM");
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("initialize");
    let direct_slot = pkcs11
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).is_ok_and(|t| t.label().trim() == hsm.token_label))
        .expect("the token, in process");
    let direct = pkcs11.open_ro_session(direct_slot).expect("session");
    direct.login(UserType::User, Some(&AuthPin::from(hsm.user_pin.as_str()))).expect("login");

    let digest = Sha256::digest(b"T1C benchmark").to_vec();
    println!(
        "sign with SoftHSM, {samples} samples each: (a) Pkcs11Host worker, (b) cryptoki in process"
    );
    for (kind, scheme, mechanism, data) in [
        (KeyKind::EcP256, SignatureScheme::Ecdsa, Mechanism::Ecdsa, digest.clone()),
        (
            KeyKind::Rsa2048,
            SignatureScheme::RsaPkcs1(Some(HashAlgorithm::Sha256)),
            Mechanism::RsaPkcs,
            digest.clone(),
        ),
    ] {
        let key = hsm.key(kind);
        let handle = session
            .find_objects(&ObjectQuery {
                class: Some(ObjectClass::PrivateKey),
                label: None,
                id: Some(key.id.clone()),
            })
            .expect("find")
            .first()
            .expect("the key")
            .handle;
        let direct_key = *direct
            .find_objects(&[
                Attribute::Class(CkObjectClass::PRIVATE_KEY),
                Attribute::Id(key.id.clone()),
            ])
            .expect("find")
            .first()
            .expect("the key, in process");
        // The same token operation both ways: for RSA, CKM_RSA_PKCS over DigestInfo || digest
        // (the host builds the DigestInfo for (a)).
        let wrapped = [SHA256_DIGEST_INFO, &data].concat();
        let direct_data: &[u8] = if kind.is_rsa() { &wrapped } else { &data };

        for _ in 0..50 {
            black_box(session.sign(handle, &scheme, &data).expect("warm-up a"));
            black_box(direct.sign(&mechanism, direct_key, direct_data).expect("warm-up b"));
        }
        let mut via_worker = Vec::with_capacity(samples);
        let mut in_process = Vec::with_capacity(samples);
        let batch = 100;
        for _ in 0..samples.div_ceil(batch) {
            via_worker.extend(sample(batch, || {
                black_box(session.sign(handle, &scheme, &data).expect("sign a"));
            }));
            in_process.extend(sample(batch, || {
                black_box(direct.sign(&mechanism, direct_key, direct_data).expect("sign b"));
            }));
        }
        let a = median(&via_worker);
        let b = median(&in_process);
        println!("{kind:?}");
        println!(
            "  (a) via worker      median {:>10.2?}  p99 {:>10.2?}",
            a,
            percentile(&via_worker, 99)
        );
        println!(
            "  (b) in process      median {:>10.2?}  p99 {:>10.2?}",
            b,
            percentile(&in_process, 99)
        );
        println!(
            "      ratio a/b       {:.2}x  (one IPC hop: {:.2?})",
            ratio(a, b),
            a.saturating_sub(b)
        );
    }
}

/// DER DigestInfo header of SHA-256.
const SHA256_DIGEST_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn sample(samples: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..samples)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect()
}

fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50)
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) * p / 100]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}
