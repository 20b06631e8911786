//! The sandbox: each hostile operation fails its own call with a typed error within its
//! deadline, while well-behaved calls on the same runtime keep succeeding.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use t1c_runtime::{CallError, LoadedModule};
use t1c_sdk::Error;

use crate::fixtures;

fn hostile() -> LoadedModule {
    fixtures::runtime()
        .load(&t1c_testkit::components::bytes("t1c-test-hostile"), "hostile")
        .expect("hostile module loads")
}

#[test]
fn infinite_loop_hits_the_cpu_deadline() {
    let module = hostile();
    let started = Instant::now();
    let err = module.invoke(None, "spin", "").expect_err("must be stopped");
    assert!(
        matches!(err, CallError::DeadlineExceeded { limit, .. } if limit == fixtures::test_limits().cpu_time),
        "{err}"
    );
    // Loose bound: stopped by the deadline, not by anything else.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn unbounded_memory_growth_hits_the_memory_cap() {
    let err = hostile().invoke(None, "hoard", "").expect_err("must be stopped");
    assert!(
        matches!(err, CallError::MemoryExhausted { limit, .. } if limit == fixtures::test_limits().memory_bytes),
        "{err}"
    );
}

#[test]
fn panic_is_reported_with_its_message() {
    let err = hostile().invoke(None, "panic", "").expect_err("must trap");
    match err {
        CallError::Trapped { message, .. } => {
            let message = message.expect("panic message captured from stderr");
            assert!(message.contains("panicked on purpose"), "{message}");
        }
        other => panic!("expected Trapped, got {other}"),
    }
}

/// What a call of WASI's file system or sockets ends with: modules do not get them at all.
fn assert_unavailable(err: &CallError, interface: &str) {
    assert!(
        matches!(err, CallError::Trapped { trap, .. } if trap.contains(interface) && trap.contains("which modules do not get")),
        "{err}"
    );
}

#[test]
fn file_access_through_wasi_is_denied() {
    let module = hostile();
    let secret = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(secret.path(), "secret").expect("write");
    for path in ["{}", secret.path().to_str().expect("utf-8 path"), "/", "."] {
        let err = module.invoke(None, "read-file", path).expect_err("no file access");
        assert_unavailable(&err, "wasi:filesystem/");
    }
    // The module is not broken by it: the next call gets a fresh instance.
    assert_eq!(module.invoke(None, "ok", "").expect("fresh instance"), r#"{"ok":true}"#);
}

#[test]
fn environment_and_arguments_are_empty() {
    let err = hostile().invoke(None, "read-env", "").expect_err("nothing to read");
    assert!(
        matches!(err.module_error(), Some(Error::Internal(msg)) if msg.contains("empty")),
        "{err}"
    );
}

#[test]
fn sockets_are_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("address").to_string();
    let err = hostile().invoke(None, "connect", &address).expect_err("no network");
    assert_unavailable(&err, "wasi:sockets/");
    assert!(listener.accept().is_err(), "the module reached the listener");
}

#[test]
fn a_trap_does_not_poison_the_next_call() {
    let module = hostile();
    assert!(module.invoke(None, "panic", "").is_err());
    assert!(module.invoke(None, "spin", "").is_err());
    assert_eq!(module.invoke(None, "ok", "").expect("fresh instance"), r#"{"ok":true}"#);
}

#[test]
fn hostile_calls_do_not_disturb_concurrent_good_calls() {
    let module = Arc::new(hostile());
    let stop = Arc::new(AtomicBool::new(false));
    let good_calls = Arc::new(AtomicUsize::new(0));
    let good = {
        let (module, stop, good_calls) = (module.clone(), stop.clone(), good_calls.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let answer = module.invoke(None, "ok", "").expect("good call succeeds");
                assert_eq!(answer, r#"{"ok":true}"#);
                good_calls.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let attacks: Vec<_> = ["spin", "hoard", "panic", "read-file", "read-env", "connect"]
        .into_iter()
        .map(|operation| {
            let module = module.clone();
            thread::spawn(move || (operation, module.invoke(None, operation, "127.0.0.1:9")))
        })
        .collect();
    for attack in attacks {
        let (operation, result) = attack.join().expect("attack thread");
        assert!(result.is_err(), "{operation} must fail");
    }
    stop.store(true, Ordering::Relaxed);
    good.join().expect("good calls never failed");
    assert!(good_calls.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_full_instance_pool_gives_busy_not_a_hang() {
    let runtime = t1c_runtime::Runtime::new(t1c_runtime::RuntimeConfig {
        limits: fixtures::test_limits(),
        max_instances: 1,
        ..Default::default()
    })
    .expect("runtime");
    let module = Arc::new(
        runtime
            .load(&t1c_testkit::components::bytes("t1c-test-hostile"), "hostile")
            .expect("loads"),
    );
    let spin = |module: Arc<t1c_runtime::LoadedModule>| {
        thread::spawn(move || module.invoke(None, "spin", ""))
    };
    // While a spinning call holds the only slot, another call is refused at once. The probe
    // and the spinner race for the slot; when the spinner loses (it gets Busy), start it again.
    let mut spinner = spin(module.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut busy = false;
    while !busy && Instant::now() < deadline {
        busy = matches!(module.invoke(None, "ok", ""), Err(CallError::Busy { .. }));
        if !busy && spinner.is_finished() {
            let lost = spinner.join().expect("thread");
            assert!(
                matches!(lost, Err(CallError::Busy { .. })),
                "spinner ended otherwise: {lost:?}"
            );
            spinner = spin(module.clone());
        }
    }
    assert!(busy, "never saw the pool full while a spinning call ran");
    assert!(matches!(spinner.join().expect("thread"), Err(CallError::DeadlineExceeded { .. })));
    assert_eq!(module.invoke(None, "ok", "").expect("slot free again"), r#"{"ok":true}"#);
}

#[test]
fn nothing_a_call_leaves_in_memory_reaches_the_next_call() {
    let module = hostile();
    for _ in 0..20 {
        module.invoke(None, "remember", "").expect("remember");
        let seen = module.invoke(None, "recall", "").expect("recall");
        assert_eq!(seen, r#"{"heap":false,"static":false}"#);
    }
}
