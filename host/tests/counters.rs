//! The transaction counters, black-box: aggregation, concurrency, persistence, draining for the
//! DS sync, typed errors for bad files, and no acknowledged increment lost to a `SIGKILL`.
//!
//! The `SIGKILL` test re-executes this test binary as its child, selecting the
//! `counters_worker` test with `--exact` (the way nextest runs each test) and handing it the
//! database path in `T1C_COUNTERS_WORKER`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use t1c_host::counters::{CounterRow, Counters, CountersError, Day, Transaction, UseCase};

/// The environment variable that turns `counters_worker` into the child of the SIGKILL test; it
/// holds the database path.
const WORKER_ENV: &str = "T1C_COUNTERS_WORKER";
/// The prefix of the line the worker prints after each acknowledged increment.
const ACK: &str = "T1C-COUNTERS-ACK ";
/// Threads recording in the worker.
const WORKER_THREADS: u64 = 8;
/// How many acknowledged increments the parent waits for before killing the worker.
const KILL_AFTER: u64 = 2_000;

#[test]
fn increments_aggregate_per_label_tag_module_use_case_and_day() {
    let (_dir, counters) = fresh();
    let day = day("2024-05-01");
    for _ in 0..3 {
        counters.record(tx(Some("app"), None, "beid", UseCase::IdentityRead, day)).unwrap();
    }
    counters.record(tx(Some("app"), Some("shop-1"), "beid", UseCase::IdentityRead, day)).unwrap();
    counters.record(tx(Some("other"), None, "beid", UseCase::IdentityRead, day)).unwrap();
    counters.record(tx(Some("app"), None, "pkcs11", UseCase::IdentityRead, day)).unwrap();
    counters.record(tx(Some("app"), None, "beid", UseCase::DigitalSignature, day)).unwrap();
    let next_day = self::day("2024-05-02");
    counters.record(tx(Some("app"), None, "beid", UseCase::IdentityRead, next_day)).unwrap();

    let snapshot = counters.snapshot().unwrap();
    let rows = by_key(&snapshot);
    let count = |label, tag, module, use_case, day: Day| {
        rows.get(&(label, tag, module, use_case, day.to_string())).copied()
    };
    assert_eq!(rows.len(), 6);
    assert_eq!(count(Some("app"), None, "beid", "identity read", day), Some(3));
    assert_eq!(count(Some("app"), Some("shop-1"), "beid", "identity read", day), Some(1));
    assert_eq!(count(Some("other"), None, "beid", "identity read", day), Some(1));
    assert_eq!(count(Some("app"), None, "pkcs11", "identity read", day), Some(1));
    assert_eq!(count(Some("app"), None, "beid", "digital signature", day), Some(1));
    assert_eq!(count(Some("app"), None, "beid", "identity read", next_day), Some(1));
}

#[test]
fn concurrent_increments_are_all_counted() {
    let (_dir, counters) = fresh();
    let counters = Arc::new(counters);
    let threads = 16;
    let per_thread = 140;
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let counters = Arc::clone(&counters);
            thread::spawn(move || {
                for i in 0..per_thread {
                    let use_case = UseCase::ALL[i % UseCase::ALL.len()];
                    let label = if thread % 2 == 0 { "even" } else { "odd" };
                    let day = day("2024-05-01");
                    counters.record(tx(Some(label), None, "beid", use_case, day)).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let rows = counters.snapshot().unwrap();
    assert_eq!(total(&rows), (threads * per_thread) as u64);
    // Two labels by seven use cases, each 8 threads × 20 increments.
    assert_eq!(rows.len(), 14);
    assert!(rows.iter().all(|row| row.counter == 8 * 20), "{rows:?}");
}

#[test]
fn counts_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("counters.sqlite");
    {
        let counters = Counters::open(&path).unwrap();
        for use_case in UseCase::ALL {
            counters.record(tx(None, Some("t"), "beid", use_case, day("2024-05-01"))).unwrap();
        }
    }
    let reopened = Counters::open(&path).unwrap();
    let rows = reopened.snapshot().unwrap();
    assert_eq!(rows.len(), UseCase::ALL.len());
    assert_eq!(total(&rows), UseCase::ALL.len() as u64);
    reopened.record(tx(None, Some("t"), "beid", UseCase::FilePrint, day("2024-05-01"))).unwrap();
    assert_eq!(total(&reopened.snapshot().unwrap()), UseCase::ALL.len() as u64 + 1);
}

#[test]
fn acknowledged_increments_survive_sigkill_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.sqlite");
    // Several rounds on one file: each worker starts on the write-ahead log the killed one left.
    let mut acknowledged = 0;
    for round in 1..=3 {
        acknowledged += kill_worker_under_load(&path);
        let persisted = total(&Counters::open(&path).unwrap().snapshot().unwrap());
        eprintln!("round {round}: {acknowledged} increments acknowledged, {persisted} persisted");
        assert!(
            persisted >= acknowledged,
            "{acknowledged} increments were acknowledged but only {persisted} persisted"
        );
        // Nothing is counted twice: per round and worker thread, at most one increment
        // committed but not yet returned and one returned but not yet printed.
        assert!(
            persisted <= acknowledged + round * 2 * WORKER_THREADS,
            "{persisted} persisted for {acknowledged} acknowledged"
        );
    }
}

/// The child of `acknowledged_increments_survive_sigkill_under_load`: records from several
/// threads as fast as it can and prints the number of completed increments after each one, until
/// it is killed (or, as a safety net, for at most a minute). Without `T1C_COUNTERS_WORKER` it
/// does nothing.
#[test]
#[ignore = "the child process of acknowledged_increments_survive_sigkill_under_load"]
fn counters_worker() {
    let Some(path) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    let counters = Arc::new(Counters::open(PathBuf::from(path)).unwrap());
    let completed = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(60);
    let threads: Vec<_> = (0..WORKER_THREADS)
        .map(|thread| {
            let counters = Arc::clone(&counters);
            let completed = Arc::clone(&completed);
            thread::spawn(move || {
                let label = format!("label-{}", thread % 3);
                let use_case = UseCase::ALL[thread as usize % UseCase::ALL.len()];
                while Instant::now() < stop_at {
                    let transaction = tx(Some(&label), None, "beid", use_case, Day::today());
                    counters.record(transaction).unwrap();
                    let count = completed.fetch_add(1, Ordering::SeqCst) + 1;
                    println!("{ACK}{count}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn draining_moves_rows_out_and_keeps_increments_made_meanwhile() {
    let (_dir, counters) = fresh();
    let today = day("2024-05-02");
    let read = || tx(Some("app"), None, "beid", UseCase::IdentityRead, today);
    counters.record(read()).unwrap();
    counters.record(read()).unwrap();

    let drain = counters.drain_until(today).unwrap().unwrap();
    assert_eq!(total(drain.rows()), 2);
    // Increments of the same key while the DS upload is under way.
    counters.record(read()).unwrap();
    assert!(counters.acknowledge(drain.id()).unwrap());

    let rows = counters.snapshot().unwrap();
    assert_eq!(total(&rows), 1);
    let next = counters.drain_until(today).unwrap().unwrap();
    assert_eq!(total(next.rows()), 1);
    assert!(next.id() > drain.id());
}

#[test]
fn drained_rows_stay_in_the_snapshot_until_acknowledged() {
    let (_dir, counters) = fresh();
    let today = day("2024-05-02");
    counters.record(tx(None, None, "beid", UseCase::PinVerification, today)).unwrap();
    let drain = counters.drain_until(today).unwrap().unwrap();
    counters.record(tx(None, None, "beid", UseCase::PinVerification, today)).unwrap();

    let rows = counters.snapshot().unwrap();
    assert_eq!(rows.len(), 1, "drained and live rows of one key are one row: {rows:?}");
    assert_eq!(rows[0].counter, 2);
    counters.acknowledge(drain.id()).unwrap();
    assert_eq!(total(&counters.snapshot().unwrap()), 1);
}

#[test]
fn an_unacknowledged_drain_is_handed_out_again_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.sqlite");
    let first = {
        let counters = Counters::open(&path).unwrap();
        counters
            .record(tx(Some("a"), None, "beid", UseCase::Authentication, day("2024-05-01")))
            .unwrap();
        counters.drain_until(day("2024-05-01")).unwrap().unwrap()
    };
    let counters = Counters::open(&path).unwrap();
    counters
        .record(tx(Some("a"), None, "beid", UseCase::Authentication, day("2024-05-01")))
        .unwrap();

    let again = counters.drain_until(day("2024-05-31")).unwrap().unwrap();
    assert_eq!(again, first);
    counters.acknowledge(again.id()).unwrap();
    let rest = counters.drain_until(day("2024-05-31")).unwrap().unwrap();
    assert_ne!(rest.id(), first.id());
    assert_eq!(total(rest.rows()), 1);
}

#[test]
fn draining_with_nothing_due_hands_out_nothing() {
    let (_dir, counters) = fresh();
    assert_eq!(counters.drain_until(day("2024-05-01")).unwrap(), None);
    counters.record(tx(None, None, "beid", UseCase::FileUpload, day("2024-05-02"))).unwrap();
    assert_eq!(counters.drain_until(day("2024-05-01")).unwrap(), None);
    assert_eq!(total(&counters.snapshot().unwrap()), 1);
}

#[test]
fn acknowledging_twice_or_an_unknown_drain_changes_nothing() {
    let (_dir, counters) = fresh();
    let today = day("2024-05-02");
    counters.record(tx(None, None, "beid", UseCase::FileDownload, today)).unwrap();
    let drain = counters.drain_until(today).unwrap().unwrap();
    counters.record(tx(None, None, "beid", UseCase::FileDownload, today)).unwrap();
    assert!(counters.acknowledge(drain.id()).unwrap());
    assert!(!counters.acknowledge(drain.id()).unwrap());
    assert_eq!(total(&counters.snapshot().unwrap()), 1);
}

#[test]
fn drain_ids_are_never_reused() {
    let (_dir, counters) = fresh();
    let today = day("2024-05-02");
    let mut ids = Vec::new();
    for _ in 0..3 {
        counters.record(tx(None, None, "beid", UseCase::FileDownload, today)).unwrap();
        let drain = counters.drain_until(today).unwrap().unwrap();
        counters.acknowledge(drain.id()).unwrap();
        ids.push(drain.id());
    }
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_reported_as_corrupt_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.sqlite");
    std::fs::write(&path, b"these are not the pages you are looking for".repeat(200)).unwrap();
    let err = Counters::open(&path).unwrap_err();
    assert!(matches!(err, CountersError::Corrupt { .. }), "{err:?}");
    assert_names(&err, &path);
}

#[test]
fn a_damaged_database_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.sqlite");
    {
        let counters = Counters::open(&path).unwrap();
        for i in 0..400 {
            let label = format!("label-{i:04}-{}", "x".repeat(100));
            counters
                .record(tx(Some(&label), None, "beid", UseCase::IdentityRead, day("2024-05-01")))
                .unwrap();
        }
    }
    // Scribble over every page but the first (the header and schema stay readable).
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096, "the database should span several pages");
    for byte in &mut bytes[4096..] {
        *byte = 0xA5;
    }
    std::fs::write(&path, bytes).unwrap();

    let err = Counters::open(&path).unwrap_err();
    assert!(matches!(err, CountersError::Corrupt { .. }), "{err:?}");
    assert_names(&err, &path);
}

#[test]
fn a_folder_in_place_of_the_file_is_an_open_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.sqlite");
    std::fs::create_dir(&path).unwrap();
    let err = Counters::open(&path).unwrap_err();
    assert!(matches!(err, CountersError::Open { .. }), "{err:?}");
    assert_names(&err, &path);
}

#[test]
fn a_database_from_a_newer_connector_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counters.sqlite");
    drop(Counters::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);

    let err = Counters::open(&path).unwrap_err();
    assert!(matches!(err, CountersError::UnsupportedSchema { found: 99, .. }), "{err:?}");
    assert_names(&err, &path);
}

/// Runs `counters_worker` on `path` until it has acknowledged [`KILL_AFTER`] increments, kills
/// it with `SIGKILL`, and returns how many increments it acknowledged in all.
fn kill_worker_under_load(path: &Path) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "counters_worker", "--ignored", "--nocapture"])
        .env(WORKER_ENV, path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let acks = read_acks(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acknowledged = 0;
    while acknowledged < KILL_AFTER {
        let left = deadline.saturating_duration_since(Instant::now());
        match acks.recv_timeout(left) {
            Ok(count) => acknowledged = acknowledged.max(count),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the worker acknowledged only {acknowledged} increments; its stderr:\n{}",
                    stderr.join().unwrap()
                );
            }
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_killed(status);
    // Lines already in the pipe were printed after their increment returned: they count too.
    acks.iter().fold(acknowledged, u64::max)
}

fn fresh() -> (tempfile::TempDir, Counters) {
    let dir = tempfile::tempdir().unwrap();
    let counters = Counters::open(dir.path().join("counters.sqlite")).unwrap();
    (dir, counters)
}

fn tx(
    label: Option<&str>,
    tag: Option<&str>,
    module: &str,
    use_case: UseCase,
    day: Day,
) -> Transaction {
    Transaction {
        label: label.map(str::to_owned),
        tag: tag.map(str::to_owned),
        module: module.to_owned(),
        use_case,
        day,
    }
}

fn day(text: &str) -> Day {
    text.parse().unwrap()
}

fn total(rows: &[CounterRow]) -> u64 {
    rows.iter().map(|row| row.counter).sum()
}

type RowKey<'a> = (Option<&'a str>, Option<&'a str>, &'a str, &'static str, String);

fn by_key(rows: &[CounterRow]) -> BTreeMap<RowKey<'_>, u64> {
    rows.iter()
        .map(|row| {
            let key = (
                row.label.as_deref(),
                row.tag.as_deref(),
                row.module.as_str(),
                row.use_case.as_str(),
                row.day.to_string(),
            );
            (key, row.counter)
        })
        .collect()
}

fn assert_names(err: &CountersError, path: &Path) {
    assert_eq!(err.path(), path);
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}

/// Parses the worker's acknowledgement lines as they arrive.
fn read_acks(stdout: impl Read + Send + 'static) -> mpsc::Receiver<u64> {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The test harness may print on the same line before the first acknowledgement.
            let count = line.split_once(ACK).and_then(|(_, count)| count.trim().parse().ok());
            if let Some(count) = count
                && send.send(count).is_err()
            {
                break;
            }
        }
    });
    receive
}

fn read_all(stream: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stream).read_to_string(&mut text);
        text
    })
}

#[cfg(unix)]
fn assert_killed(status: std::process::ExitStatus) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the worker should still have been running when killed, it ended with {status}"
    );
}

#[cfg(not(unix))]
fn assert_killed(status: std::process::ExitStatus) {
    assert!(!status.success(), "the worker ended on its own: {status}");
}
