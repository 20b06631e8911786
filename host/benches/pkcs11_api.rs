//! Signing through the whole connector against `cryptoki` called directly, same SoftHSM key,
//! same run: `cargo bench -p t1c-host --bench pkcs11_api`.
//!
//! (a) `POST /v3/modules/pkcs11/apps/token/readers/{id}/sign` over HTTPS (keep-alive): PIN
//!     decryption with the device key, the `pkcs11` component in a fresh instance, the worker
//!     process (one IPC round trip per PKCS#11 call), the signed JSON reply.
//! (b) The same PKCS#11 work in this process with `cryptoki`: what one T1C sign request must ask
//!     of the token (open a session, log in, find the key by CKA_ID, sign, log out, close).
//! (c) Only `C_Sign` on a session kept logged in, for scale.
//!
//! Batches of (a) and (b) alternate so both see the same machine state. Prints median, p99 and
//! the ratio a/b of medians. `T1C_BENCH_SAMPLES` sets the samples per case (default 400);
//! `T1C_BENCH_SPLIT=1` also times a sign with a plain-text PIN (no device-key decryption) and
//! `supported-algorithms` (HTTPS, slot, fresh instance, one worker call; nothing counted).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use t1c_host::config::Libraries;
use t1c_testkit::TestConnector;
use t1c_testkit::softhsm::{KeyKind, SoftHsm};

const BATCH: usize = 50;

fn main() {
    let samples: usize =
        std::env::var("T1C_BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    let hsm = SoftHsm::new();
    // Built before any thread starts: cargo runs as a child process.
    t1c_testkit::components::path("t1c-module-pkcs11");
    // SoftHSM reads its configuration at C_Initialize. SAFETY: no other thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("SOFTHSM2_CONF", &hsm.conf)
    };
    let direct = Pkcs11::new(&hsm.library).expect("load SoftHSM");
    direct.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("initialize");
    let slot = direct.get_slots_with_token().expect("slots")[0];
    let pin = AuthPin::from(hsm.user_pin.as_str());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let connector = runtime.block_on(Connector::start(&hsm));
    let reader = runtime.block_on(connector.slot_id());

    println!(
        "sign a SHA-256 digest with SoftHSM, {samples} samples per case\n\
         (a) HTTPS connector: PIN decryption, pkcs11 component, worker process\n\
         (b) cryptoki in process: session, login, find key, sign, logout, close\n\
         (c) cryptoki in process: C_Sign only, session kept logged in"
    );
    let digest = Sha256::digest(b"T1C benchmark").to_vec();
    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072, KeyKind::EcP256] {
        let key = hsm.key(kind);
        let (mechanism, data) = if kind.is_rsa() {
            (Mechanism::RsaPkcs, [SHA256_DIGEST_INFO, digest.as_slice()].concat())
        } else {
            (Mechanism::Ecdsa, digest.clone())
        };
        let template = [Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(key.id.clone())];
        let direct_sign = || {
            let session = direct.open_ro_session(slot).expect("session");
            session.login(UserType::User, Some(&pin)).expect("login");
            let handle = session.find_objects(&template).expect("find")[0];
            let signature = session.sign(&mechanism, handle, &data).expect("sign");
            session.logout().expect("logout");
            drop(session);
            signature
        };
        let body = json!({
            "algorithm": "sha256",
            "data": BASE64.encode(&digest),
            "id": hex::encode(&key.id),
            "pin": connector.encrypted_pin(&hsm.user_pin),
            "base64Encoded": true,
        });
        let path = format!("/v3/modules/pkcs11/apps/token/readers/{reader}/sign");
        // Warm up: worker, instance pool, TLS session, caches.
        for _ in 0..20 {
            runtime.block_on(connector.sign(&path, &body));
            direct_sign();
        }
        let (mut through, mut inline, mut sign_only) = (Vec::new(), Vec::new(), Vec::new());
        while through.len() < samples {
            for _ in 0..BATCH {
                let started = Instant::now();
                let signature = runtime.block_on(connector.sign(&path, &body));
                through.push(started.elapsed());
                assert!(!signature.is_empty());
            }
            for _ in 0..BATCH {
                let started = Instant::now();
                let signature = direct_sign();
                inline.push(started.elapsed());
                assert!(!signature.is_empty());
            }
        }
        // PKCS#11 login state is per process, so (c) runs after the others, not between them.
        let kept = direct.open_ro_session(slot).expect("session");
        kept.login(UserType::User, Some(&pin)).expect("login");
        let kept_handle = kept.find_objects(&template).expect("find")[0];
        while sign_only.len() < samples {
            let started = Instant::now();
            let signature = kept.sign(&mechanism, kept_handle, &data).expect("sign");
            sign_only.push(started.elapsed());
            assert!(!signature.is_empty());
        }
        kept.logout().expect("logout");
        drop(kept);
        if std::env::var_os("T1C_BENCH_SPLIT").is_some() {
            let mut plain_body = body.clone();
            plain_body["pin"] = json!(hsm.user_pin);
            plain_body["base64Encoded"] = json!(false);
            let mut plain = Vec::new();
            let mut algos = Vec::new();
            let algo_path = path.replace("/sign", "/supported-algorithms");
            for _ in 0..samples {
                let started = Instant::now();
                runtime.block_on(connector.sign(&path, &plain_body));
                plain.push(started.elapsed());
                let started = Instant::now();
                runtime.block_on(connector.get(&algo_path));
                algos.push(started.elapsed());
            }
            let (plain, algos) = (stats(&mut plain), stats(&mut algos));
            println!(
                "  {kind:?} split: plain-PIN sign median {:.1?} p99 {:.1?}; \
                 supported-algorithms median {:.1?} p99 {:.1?}",
                plain.0, plain.1, algos.0, algos.1
            );
        }
        let (a, b, c) = (stats(&mut through), stats(&mut inline), stats(&mut sign_only));
        println!(
            "{kind:?}: (a) median {:>8.1?} p99 {:>8.1?} | (b) median {:>8.1?} p99 {:>8.1?} | \
             (c) median {:>8.1?} p99 {:>8.1?} | a/b {:.2}x, a/c {:.2}x",
            a.0,
            a.1,
            b.0,
            b.1,
            c.0,
            c.1,
            a.0.as_secs_f64() / b.0.as_secs_f64(),
            a.0.as_secs_f64() / c.0.as_secs_f64(),
        );
    }
    runtime.block_on(connector.stop());
}

/// DigestInfo header of SHA-256 (what the host prepends for CKM_RSA_PKCS).
const SHA256_DIGEST_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Median and p99.
fn stats(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// The connector for tests, with the `pkcs11` module on the SoftHSM token.
struct Connector {
    kit: TestConnector,
}

impl Connector {
    async fn start(hsm: &SoftHsm) -> Self {
        let library = hsm.library.clone();
        let kit = TestConnector::builder()
            .module("t1c-module-pkcs11")
            .pkcs11_worker(env!("CARGO_BIN_EXE_t1c"))
            .pkcs11_worker_env(hsm.env())
            .config(|config| config.pkcs11.linux = Some(Libraries::One(library)))
            .start()
            .await;
        Self { kit }
    }

    fn url(&self, path: &str) -> String {
        self.kit.url(path)
    }

    async fn slot_id(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let readers: Value = self
                .kit
                .http()
                .get(self.url("/v3/readers"))
                .send()
                .await
                .expect("readers")
                .json()
                .await
                .expect("json");
            if let Some(id) = readers["data"][0]["id"].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no token slot: {readers}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.kit.http().get(self.url(path)).send().await.expect("get");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    async fn sign(&self, path: &str, body: &Value) -> Vec<u8> {
        let response = self.kit.http().post(self.url(path)).json(body).send().await.expect("sign");
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.expect("json");
        BASE64.decode(answer["data"]["data"].as_str().expect("signature")).expect("base64")
    }

    fn encrypted_pin(&self, pin: &str) -> String {
        self.kit.encrypted_pin(pin)
    }

    async fn stop(self) {
        self.kit.shutdown().await;
    }
}
