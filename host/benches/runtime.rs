//! Runtime benchmark, run with `cargo bench -p t1c-host --bench runtime`.
//!
//! Measures, in one run, so the ratios compare like with like on the same machine:
//! (a) a fresh instance from the pooling allocator plus one call of a trivial export
//!     (`hello`'s `version` operation), through `InstancePre`;
//! (b) the same operation as a native function call (the module's crate linked natively);
//! (c) a cold start of the runtime loading five modules from the compiled cache, against the
//!     same start compiling them.
//!
//! The five modules of (c) are the `hello` component with five different custom sections
//! appended, so each has its own hash (and cache entry) and the same realistic size.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use t1c_module_hello::{Hello, VERSION_JSON};
use t1c_runtime::{Runtime, RuntimeConfig};
use t1c_sdk::Extension;

fn main() {
    let wasm = build_hello();
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let module = runtime.load(&wasm, "hello").expect("hello loads");
    assert_eq!(module.invoke(None, "version", "").expect("call"), VERSION_JSON);

    // (a) fresh instance + call
    for _ in 0..200 {
        black_box(module.invoke(None, "version", "").expect("call"));
    }
    let samples =
        std::env::var("T1C_BENCH_SAMPLES").ok().and_then(|s| s.parse().ok()).unwrap_or(5000);
    let wasm_calls = sample(samples, || {
        black_box(module.invoke(None, "version", "").expect("call"));
    });

    // (b) native call of the same logic
    let native_calls = sample_batched(5000, 100, || {
        black_box(Hello::invoke(None, black_box("version"), black_box("")).expect("native"));
    });

    let a = median(&wasm_calls);
    let b = median(&native_calls);
    println!(
        "(a) fresh instance + call   median {:>10.2?}  p99 {:>10.2?}",
        a,
        percentile(&wasm_calls, 99)
    );
    println!(
        "(b) native call             median {:>10.2?}  p99 {:>10.2?}",
        b,
        percentile(&native_calls, 99)
    );
    println!("    ratio a/b               {:.0}x", ratio(a, b));

    if std::env::var_os("T1C_BENCH_CALLS_ONLY").is_some() {
        return; // for profiling (a) alone
    }

    // (c) cold start: five modules from the cache vs compiled
    let modules: Vec<Vec<u8>> = (0..5u8).map(|i| with_custom_section(&wasm, i)).collect();
    let cache = tempfile::tempdir().expect("tempdir");
    load_all(&modules, Some(cache.path().to_owned()));
    let compiled: Vec<Duration> = (0..5).map(|_| load_all(&modules, None)).collect();
    let cached: Vec<Duration> =
        (0..20).map(|_| load_all(&modules, Some(cache.path().to_owned()))).collect();
    let compile = median(&compiled);
    let from_cache = median(&cached);
    println!("(c) start + load 5 compiled median {:>10.2?}", compile);
    println!("    start + load 5 cached   median {:>10.2?}", from_cache);
    println!("    ratio compiled/cached   {:.1}x", ratio(compile, from_cache));
}

/// Creates a runtime and loads every module; returns the elapsed time.
fn load_all(modules: &[Vec<u8>], cache_dir: Option<PathBuf>) -> Duration {
    let started = Instant::now();
    let runtime =
        Runtime::new(RuntimeConfig { cache_dir, ..RuntimeConfig::default() }).expect("runtime");
    for (i, wasm) in modules.iter().enumerate() {
        black_box(runtime.load(wasm, &format!("hello-{i}")).expect("loads"));
    }
    started.elapsed()
}

fn sample(samples: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..samples)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect()
}

/// Times batches of `batch` calls and reports the time per call, for calls too short to time
/// one by one.
fn sample_batched(samples: usize, batch: u32, mut f: impl FnMut()) -> Vec<Duration> {
    (0..samples)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..batch {
                f();
            }
            started.elapsed() / batch
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

/// `wasm` with a custom section `t1c-bench-<i>` appended.
fn with_custom_section(wasm: &[u8], i: u8) -> Vec<u8> {
    let name = format!("t1c-bench-{i}");
    let mut payload = vec![u8::try_from(name.len()).expect("short name")];
    payload.extend(name.as_bytes());
    payload.push(i);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(payload.len()).expect("short section"));
    out.extend(payload);
    out
}

fn build_hello() -> Vec<u8> {
    t1c_testkit::components::bytes("t1c-module-hello")
}
