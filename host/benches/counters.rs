//! Transaction counters benchmark, run with `cargo bench -p t1c-host --bench counters`.
//!
//! Measures, in one run and on the same disk, increments per second and per-increment latency
//! with group commit (the default) against one commit (one fsync) per increment
//! (`max_batch = 1`), for 1, 8 and 64 concurrent callers, and prints the ratios. Every increment
//! is durable when `record` returns in both modes (WAL, `synchronous=FULL`).
//!
//! The database lives under Cargo's target tmp directory, not `/tmp`, which may be a tmpfs where
//! fsync costs nothing. `T1C_BENCH_SECONDS` sets the time per measurement (default 2).

use std::num::NonZeroUsize;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use t1c_host::counters::{Counters, Options, Transaction, UseCase};

const CALLERS: [usize; 3] = [1, 8, 64];

fn main() {
    let seconds: u64 =
        std::env::var("T1C_BENCH_SECONDS").ok().and_then(|value| value.parse().ok()).unwrap_or(2);
    let run_for = Duration::from_secs(seconds);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    println!(
        "transaction counters: {seconds} s per measurement, database in {}",
        dir.path().display()
    );
    println!(
        "{:>8}  {:>16}  {:>12}  {:>12}  {:>12}",
        "callers", "mode", "increments/s", "median", "p99"
    );
    for callers in CALLERS {
        let group = measure(&dir, "group", Options::default(), callers, run_for);
        let single_options = Options::default().max_batch(NonZeroUsize::MIN);
        let single = measure(&dir, "single", single_options, callers, run_for);
        println!("{:>8}  {:>16}  {:>11.1}x", callers, "ratio group/one", group / single);
    }
}

/// Runs `callers` threads recording for `run_for` on a fresh database; prints and returns the
/// rate.
fn measure(
    dir: &tempfile::TempDir,
    mode: &str,
    options: Options,
    callers: usize,
    run_for: Duration,
) -> f64 {
    let path = dir.path().join(format!("{mode}-{callers}.sqlite"));
    let counters = Arc::new(Counters::open_with(&path, options).expect("open"));
    let start = Arc::new(Barrier::new(callers + 1));
    let threads: Vec<_> = (0..callers)
        .map(|caller| {
            let counters = Arc::clone(&counters);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let use_case = UseCase::ALL[caller % UseCase::ALL.len()];
                let label = format!("label-{}", caller % 4);
                let mut latencies = Vec::new();
                start.wait();
                let began = Instant::now();
                while began.elapsed() < run_for {
                    let mut transaction = Transaction::today("beid", use_case);
                    transaction.label = Some(label.clone());
                    let sent = Instant::now();
                    counters.record(transaction).expect("record");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut latencies: Vec<Duration> =
        threads.into_iter().flat_map(|thread| thread.join().expect("caller")).collect();
    let elapsed = began.elapsed();
    let counted: u64 = counters.snapshot().expect("snapshot").iter().map(|row| row.counter).sum();
    assert_eq!(counted, latencies.len() as u64, "every increment counted");

    latencies.sort_unstable();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{:>8}  {:>16}  {:>12.0}  {:>12.2?}  {:>12.2?}",
        callers,
        mode,
        rate,
        percentile(&latencies, 50),
        percentile(&latencies, 99)
    );
    rate
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * percent / 100]
}
