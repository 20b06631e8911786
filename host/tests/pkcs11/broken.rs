//! Libraries that hang, crash or are not PKCS#11 libraries at all, built here from
//! `tests/pkcs11_broken/*.c`, next to a SoftHSM token that a second thread keeps signing with:
//! every broken library fails with a typed error within its deadline, its worker is killed and
//! restarted, and the SoftHSM signer never sees an error.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use t1c_host::pkcs11::{
    ObjectClass, ObjectQuery, PinTries, Pkcs11Error, Pkcs11Host, SignatureScheme, TokenSlot,
};

use crate::{host, options};
use t1c_testkit::softhsm::{KeyKind, SoftHsm};

/// The deadlines of these tests (`options` sets 2 s; broken tests use 1 s).
const DEADLINE: Duration = Duration::from_secs(1);

/// Compiles `tests/pkcs11_broken/<source>` into `<dir>/<name>.so` with `-D<define>`s.
fn compile(dir: &Path, source: &str, name: &str, defines: &[&str]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pkcs11_broken").join(source);
    let output = dir.join(format!("{name}.so"));
    let mut cc = Command::new("cc");
    cc.args(["-shared", "-fPIC", "-O1", "-o"]).arg(&output).arg(&source);
    for define in defines {
        cc.arg(format!("-D{define}"));
    }
    let result = cc.output().expect("cc runs (gcc is needed for these tests)");
    assert!(result.status.success(), "cc failed: {}", String::from_utf8_lossy(&result.stderr));
    output
}

fn broken_host(hsm: &SoftHsm, broken: &[&Path]) -> Arc<Pkcs11Host> {
    let mut options = options(hsm);
    options.call_timeout = DEADLINE;
    options.init_timeout = DEADLINE;
    options.login_timeout = DEADLINE;
    let host = Pkcs11Host::new(options);
    let mut libraries = vec![hsm.library.clone()];
    libraries.extend(broken.iter().map(|p| p.to_path_buf()));
    host.set_libraries(libraries);
    Arc::new(host)
}

/// A slot of a library that cannot list its own (to reach its worker through `open`).
fn unlisted_slot(library: &Path) -> TokenSlot {
    TokenSlot {
        id: "0000000000000000".parse().expect("a reader id"),
        library: library.to_owned(),
        slot_id: 1,
        description: String::new(),
        label: String::new(),
        manufacturer: String::new(),
        model: String::new(),
        serial: String::new(),
        protected_authentication_path: false,
    }
}

/// Worker processes alive for `library` (by their command line).
fn workers_of(library: &Path) -> usize {
    let needle = library.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == needle))
        .count()
}

fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A thread that signs with SoftHSM's P-256 key until stopped; returns how many signatures it
/// made, and panics (failing the test on join) at the first error.
struct Signer {
    stop: Arc<AtomicBool>,
    signed: Arc<AtomicU64>,
    thread: JoinHandle<Result<u64, Pkcs11Error>>,
}

impl Signer {
    fn start(host: Arc<Pkcs11Host>, hsm: &SoftHsm) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let pin = Zeroizing::new(hsm.user_pin.clone());
        let label = hsm.token_label.clone();
        let id = hsm.key(KeyKind::EcP256).id.clone();
        let stopping = stop.clone();
        let signed = Arc::new(AtomicU64::new(0));
        let counter = signed.clone();
        let thread = thread::spawn(move || {
            let slot = host
                .slots()
                .into_iter()
                .find(|s| s.label == label)
                .ok_or(Pkcs11Error::NoSuchSlot)?;
            let digest = Sha256::digest(b"under load");
            let mut signed = 0;
            while !stopping.load(Ordering::Relaxed) {
                // A new slot handle and session each round, like one request each.
                let session = host.open(&slot)?.open_session()?;
                session.login(Some(&pin))?;
                let key = session.find_objects(&ObjectQuery {
                    class: Some(ObjectClass::PrivateKey),
                    label: None,
                    id: Some(id.clone()),
                })?;
                let key = key.first().ok_or(Pkcs11Error::ObjectNotFound)?.handle;
                for _ in 0..5 {
                    let signature = session.sign(key, &SignatureScheme::Ecdsa, &digest)?;
                    assert_eq!(signature.len(), 64);
                    signed += 1;
                    counter.store(signed, Ordering::Relaxed);
                }
            }
            Ok(signed)
        });
        // Return once it signs, so what the test does next happens under load.
        let until = Instant::now() + Duration::from_secs(20);
        while signed.load(Ordering::Relaxed) == 0 && !thread.is_finished() {
            assert!(Instant::now() < until, "the signer never started signing");
            thread::sleep(Duration::from_millis(5));
        }
        Self { stop, signed, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let signed = self.thread.join().expect("signer thread").expect("SoftHSM never fails");
        assert!(signed > self.signed.load(Ordering::Relaxed) / 2 && signed > 0);
        signed
    }
}

#[test]
fn a_library_hanging_in_c_initialize_times_out_and_is_killed() {
    let hsm = SoftHsm::new();
    let hang = compile(hsm.dir(), "fake_token.c", "hang", &["HANG_INITIALIZE"]);
    let host = broken_host(&hsm, &[&hang]);
    let signer = Signer::start(host.clone(), &hsm);

    // A call waits for the initialisation deadline at most (twice: the background start may
    // hold the library), then the worker is SIGKILLed and reaped.
    let started = Instant::now();
    assert_eq!(host.open(&unlisted_slot(&hang)).err(), Some(Pkcs11Error::Timeout));
    assert!(started.elapsed() < DEADLINE * 3, "{:?}", started.elapsed());
    wait_until("the hung worker is reaped", Duration::from_secs(2), || workers_of(&hang) == 0);

    // While it keeps failing, calls back off (answer at once); once the backoff passes, a call
    // restarts the worker and waits for the deadline again.
    let until = Instant::now() + Duration::from_secs(15);
    let mut fast = 0;
    loop {
        assert!(Instant::now() < until, "the worker was never restarted");
        let started = Instant::now();
        assert_eq!(host.open(&unlisted_slot(&hang)).err(), Some(Pkcs11Error::Timeout));
        if started.elapsed() >= DEADLINE {
            break; // restarted, and timed out again
        }
        assert!(started.elapsed() < Duration::from_millis(200), "backing off, not waiting");
        fast += 1;
        thread::sleep(Duration::from_millis(50));
    }
    assert!(fast > 0, "repeated failures back off");

    // Listing slots never waits past the deadlines, and lists SoftHSM's token.
    let started = Instant::now();
    let slots = host.slots();
    assert!(started.elapsed() < DEADLINE * 3, "{:?}", started.elapsed());
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0].library, hsm.library);
    signer.finish();
}

#[test]
fn a_library_aborting_in_c_initialize_is_a_crash_with_its_signal() {
    let hsm = SoftHsm::new();
    let abort = compile(hsm.dir(), "fake_token.c", "abort-init", &["ABORT_INITIALIZE"]);
    let host = broken_host(&hsm, &[&abort]);
    let signer = Signer::start(host.clone(), &hsm);
    let started = Instant::now();
    match host.open(&unlisted_slot(&abort)) {
        Err(Pkcs11Error::WorkerCrashed(how)) => assert!(how.contains("SIGABRT"), "{how}"),
        other => panic!("expected WorkerCrashed, got {:?}", other.err()),
    }
    assert!(started.elapsed() < DEADLINE);
    assert_eq!(host.slots().len(), 1);
    signer.finish();
}

#[test]
fn a_library_aborting_in_c_get_slot_list_contributes_no_slots() {
    let hsm = SoftHsm::new();
    let abort = compile(hsm.dir(), "fake_token.c", "abort-slots", &["ABORT_GET_SLOT_LIST"]);
    let host = broken_host(&hsm, &[&abort]);
    let signer = Signer::start(host.clone(), &hsm);
    for _ in 0..3 {
        let started = Instant::now();
        let slots = host.slots();
        assert!(started.elapsed() < DEADLINE * 2, "{:?}", started.elapsed());
        assert_eq!(slots.len(), 1, "{slots:?}");
        assert_eq!(slots[0].library, hsm.library);
    }
    signer.finish();
}

#[test]
fn a_crash_during_sign_fails_that_request_and_the_worker_restarts() {
    let hsm = SoftHsm::new();
    let abort = compile(hsm.dir(), "fake_token.c", "abort-sign", &["ABORT_SIGN"]);
    let host = broken_host(&hsm, &[&abort]);
    let signer = Signer::start(host.clone(), &hsm);
    let fake = host.slots().into_iter().find(|s| s.library == abort).expect("the fake token");
    assert_eq!(fake.label, "Fake token");
    let slot = host.open(&fake).expect("open");
    let session = slot.open_session().expect("session");
    session.login(Some(&Zeroizing::new("1234".to_owned()))).expect("login");

    let started = Instant::now();
    match session.sign(1, &SignatureScheme::RsaPkcs1(None), b"data") {
        Err(Pkcs11Error::WorkerCrashed(how)) => assert!(how.contains("SIGABRT"), "{how}"),
        other => panic!("expected WorkerCrashed, got {other:?}"),
    }
    assert!(started.elapsed() < DEADLINE);
    // The session died with its worker; a new worker serves new sessions.
    assert_eq!(session.logout(), Err(Pkcs11Error::StaleSession));
    let again = slot.open_session().expect("a new session on a new worker");
    again.login(Some(&Zeroizing::new("1234".to_owned()))).expect("login again");
    assert_eq!(slot.info().expect("info").label, "Fake token");
    signer.finish();
}

#[test]
fn a_shared_library_without_c_get_function_list_is_not_a_pkcs11_library() {
    let hsm = SoftHsm::new();
    let not_pkcs11 = compile(hsm.dir(), "not_pkcs11.c", "not-pkcs11", &[]);
    let host = broken_host(&hsm, &[&not_pkcs11]);
    let signer = Signer::start(host.clone(), &hsm);
    let started = Instant::now();
    assert_eq!(
        host.open(&unlisted_slot(&not_pkcs11)).err(),
        Some(Pkcs11Error::LibraryLoad("not a PKCS#11 library: no C_GetFunctionList".to_owned()))
    );
    // Again, at once: the failure is remembered rather than retried on every request.
    assert!(matches!(host.open(&unlisted_slot(&not_pkcs11)), Err(Pkcs11Error::LibraryLoad(_))));
    assert!(started.elapsed() < DEADLINE);
    assert_eq!(host.slots().len(), 1);
    signer.finish();
}

#[test]
fn a_text_file_is_not_a_library_and_its_path_is_not_in_the_error() {
    let hsm = SoftHsm::new();
    let text = hsm.dir().join("readme.so");
    std::fs::write(&text, "this is not a shared library\n").expect("write");
    let host = broken_host(&hsm, &[&text]);
    match host.open(&unlisted_slot(&text)) {
        Err(Pkcs11Error::LibraryLoad(why)) => {
            assert!(!why.contains(hsm.dir().to_str().expect("utf-8")), "{why}");
        }
        other => panic!("expected LibraryLoad, got {:?}", other.err()),
    }
    let missing = hsm.dir().join("missing.so");
    host.set_libraries(vec![hsm.library.clone(), missing.clone()]);
    assert!(matches!(host.open(&unlisted_slot(&missing)), Err(Pkcs11Error::LibraryLoad(_))));
    assert_eq!(host.slots().len(), 1);
}

#[test]
fn a_worker_writing_garbage_is_a_typed_error_not_a_panic() {
    let hsm = SoftHsm::empty();
    let script = hsm.dir().join("garbage-worker");
    std::fs::write(&script, "#!/bin/sh\nprintf 'this is no frame at all'\nsleep 5\n").expect("w");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut options = options(&hsm);
    options.worker_exe = script;
    let host = Pkcs11Host::new(options);
    let library = hsm.dir().join("any.so");
    host.set_libraries(vec![library.clone()]);
    match host.open(&unlisted_slot(&library)) {
        Err(Pkcs11Error::WorkerCrashed(how)) => assert!(how.contains("protocol"), "{how}"),
        other => panic!("expected WorkerCrashed, got {:?}", other.err()),
    }
    assert!(host.slots().is_empty());
}

#[test]
fn wrong_pins_report_tries_then_lock() {
    let hsm = SoftHsm::empty();
    let fake = compile(hsm.dir(), "fake_token.c", "fake", &[]);
    let host = host(&hsm, vec![fake]);
    let slot = host.open(&host.slots()[0]).expect("open");
    let session = slot.open_session().expect("session");
    let wrong = Zeroizing::new("9999".to_owned());
    assert_eq!(session.login(Some(&wrong)), Err(Pkcs11Error::PinIncorrect(PinTries::Low)));
    assert_eq!(session.login(Some(&wrong)), Err(Pkcs11Error::PinIncorrect(PinTries::FinalTry)));
    assert_eq!(session.login(Some(&wrong)), Err(Pkcs11Error::PinLocked));
    let right = Zeroizing::new("1234".to_owned());
    assert_eq!(session.login(Some(&right)), Err(Pkcs11Error::PinLocked));
    assert!(slot.info().expect("info").flags.user_pin_locked);
}

#[test]
fn removing_a_library_stops_its_worker() {
    let hsm = SoftHsm::empty();
    let fake = compile(hsm.dir(), "fake_token.c", "fake", &[]);
    let host = host(&hsm, vec![fake.clone()]);
    assert_eq!(host.slots().len(), 1);
    assert_eq!(workers_of(&fake), 1);
    host.set_libraries(Vec::new());
    assert!(host.libraries().is_empty());
    assert!(host.slots().is_empty());
    wait_until("the worker exits", Duration::from_secs(3), || workers_of(&fake) == 0);
}
