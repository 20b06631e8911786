//! `t1c_testkit::postgres`: a database per test, gone after the test.
#![cfg(feature = "postgres")]

use std::net::TcpStream;
use std::panic;
use std::process::Command;
use std::time::Instant;

use t1c_testkit::postgres::{DATABASE_URL_ENV, TestDatabase};

fn psql(url: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .expect("psql runs")
}

fn answer(url: &str, sql: &str) -> String {
    let output = psql(url, sql);
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The private server's port; `None` when the database is on the server of
/// `T1C_DS_TEST_DATABASE_URL`.
fn private_port(url: &str) -> Option<u16> {
    if std::env::var_os(DATABASE_URL_ENV).is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let rest = url.strip_prefix("postgres://t1c@127.0.0.1:")?;
    rest.split('/').next()?.parse().ok()
}

fn assert_gone(url: &str) {
    match private_port(url) {
        Some(port) => assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server still listens on {port}"
        ),
        None => assert!(!psql(url, "select 1").status.success(), "the database is still there"),
    }
}

#[test]
fn a_database_answers_and_is_gone_after_drop() {
    let started = Instant::now();
    let database = TestDatabase::start().expect("a test database");
    eprintln!("TestDatabase::start took {:?}", started.elapsed());
    let url = database.url().to_owned();

    assert_eq!(answer(&url, "select 1"), "1");
    assert_eq!(answer(&url, "select current_database()"), url.rsplit('/').next().unwrap_or(""));

    drop(database);
    assert_gone(&url);
}

#[test]
fn two_databases_do_not_share_tables() {
    let first = TestDatabase::start().expect("a test database");
    let second = TestDatabase::start().expect("another test database");
    assert_ne!(first.url(), second.url());

    answer(first.url(), "create table only_here (id int)");
    assert_eq!(answer(first.url(), "select count(*) from only_here"), "0");
    assert!(!psql(second.url(), "select count(*) from only_here").status.success());
}

#[test]
fn a_panicking_test_still_stops_its_server() {
    let outcome = panic::catch_unwind(|| {
        let database = TestDatabase::start().expect("a test database");
        let url = database.url().to_owned();
        assert_eq!(answer(&url, "select 1"), "1");
        panic::panic_any(url);
    });
    let url = outcome.expect_err("the closure panics");
    let url = url.downcast_ref::<String>().expect("the URL as the panic payload");
    assert_gone(url);
}
