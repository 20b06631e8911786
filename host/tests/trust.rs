//! `t1c trust`: the local CA added to and removed from a real NSS database with the real
//! `certutil` (Debian `libnss3-tools`), each test in its own temporary database. What the
//! database holds is checked with `certutil` itself, not with the code under test.

use std::path::Path;
use std::process::{Command, Output};

use t1c_host::security::tls::LocalCa;
use t1c_host::security::trust::{
    self, CERTUTIL_PACKAGE, NICKNAME, NssDb, Previous, TRUST_FLAGS, TrustError,
};

#[test]
fn adding_creates_the_database_and_trusts_the_ca_for_tls_servers() {
    let temp = tempfile::tempdir().expect("tempdir");
    let db = NssDb::at(temp.path().join("nssdb"));

    let added = trust::trust_local_ca(&temp.path().join("tls"), &db).expect("added");

    assert!(added.created_database);
    assert_eq!(added.previous, Previous::Absent);
    assert_eq!(listed(db.dir()), [(NICKNAME.to_owned(), "C,,".to_owned())]);
    assert_eq!(TRUST_FLAGS, "C,,");
    assert_eq!(certutil_fingerprint(db.dir(), NICKNAME), added.fingerprint);
    let ca = LocalCa::open_or_create(&temp.path().join("tls")).expect("ca");
    assert_eq!(trust::fingerprint_of_file(&ca.certificate_path()).expect("fp"), added.fingerprint);
}

#[test]
fn adding_twice_is_idempotent() {
    let temp = tempfile::tempdir().expect("tempdir");
    let db = NssDb::at(temp.path().join("nssdb"));
    let first = trust::trust_local_ca(&temp.path().join("tls"), &db).expect("first");

    let again = trust::trust_local_ca(&temp.path().join("tls"), &db).expect("again");

    assert!(!again.created_database);
    assert_eq!(again.previous, Previous::Same);
    assert_eq!(again.fingerprint, first.fingerprint);
    assert_eq!(listed(db.dir()), [(NICKNAME.to_owned(), "C,,".to_owned())]);
}

#[test]
fn adding_restores_trust_flags_someone_changed() {
    let temp = tempfile::tempdir().expect("tempdir");
    let db = NssDb::at(temp.path().join("nssdb"));
    trust::trust_local_ca(&temp.path().join("tls"), &db).expect("added");
    certutil(db.dir(), &["-M", "-n", NICKNAME, "-t", ",,"]);

    trust::trust_local_ca(&temp.path().join("tls"), &db).expect("again");

    assert_eq!(listed(db.dir()), [(NICKNAME.to_owned(), "C,,".to_owned())]);
}

#[test]
fn a_new_ca_replaces_the_earlier_one_under_the_nickname() {
    let temp = tempfile::tempdir().expect("tempdir");
    let db = NssDb::at(temp.path().join("nssdb"));
    let old = trust::trust_local_ca(&temp.path().join("old-install"), &db).expect("old");

    let new = trust::trust_local_ca(&temp.path().join("new-install"), &db).expect("new");

    assert_ne!(new.fingerprint, old.fingerprint);
    assert_eq!(new.previous, Previous::Replaced(1));
    assert_eq!(listed(db.dir()), [(NICKNAME.to_owned(), "C,,".to_owned())]);
    assert_eq!(certutil_fingerprint(db.dir(), NICKNAME), new.fingerprint);
}

#[test]
fn other_certificates_in_the_database_are_left_alone() {
    let temp = tempfile::tempdir().expect("tempdir");
    let db = NssDb::at(temp.path().join("nssdb"));
    let other = LocalCa::open_or_create(&temp.path().join("other")).expect("other ca");
    db.add(&other.certificate_path(), "someone else").expect("other added");

    trust::trust_local_ca(&temp.path().join("tls"), &db).expect("added");
    trust::distrust_local_ca(&db).expect("removed");

    assert_eq!(listed(db.dir()), [("someone else".to_owned(), "C,,".to_owned())]);
}

#[test]
fn removing_deletes_it() {
    let temp = tempfile::tempdir().expect("tempdir");
    let db = NssDb::at(temp.path().join("nssdb"));
    trust::trust_local_ca(&temp.path().join("tls"), &db).expect("added");

    let removed = trust::distrust_local_ca(&db).expect("removed");

    assert_eq!(removed.count, 1);
    assert!(listed(db.dir()).is_empty());
    assert_eq!(db.trust_flags(NICKNAME).expect("listing"), None);
}

#[test]
fn removing_when_absent_is_not_an_error() {
    let temp = tempfile::tempdir().expect("tempdir");
    let missing = NssDb::at(temp.path().join("no-such-db"));
    assert_eq!(trust::distrust_local_ca(&missing).expect("no database").count, 0);

    let empty = NssDb::at(temp.path().join("nssdb"));
    certutil_new(empty.dir());
    assert_eq!(trust::distrust_local_ca(&empty).expect("empty database").count, 0);
}

#[test]
fn a_file_without_a_certificate_is_a_typed_error() {
    let temp = tempfile::tempdir().expect("tempdir");
    let file = temp.path().join("ca.pem");
    std::fs::write(&file, "not a certificate").expect("write");

    let err = NssDb::at(temp.path().join("nssdb")).add(&file, NICKNAME).expect_err("refused");

    assert!(matches!(err, TrustError::NoCertificate { .. }), "{err}");
}

#[test]
fn the_command_says_which_database_nickname_and_fingerprint() {
    let temp = tempfile::tempdir().expect("tempdir");
    let nssdb = temp.path().join("nssdb");

    let added = t1c(temp.path(), &["trust", "--nssdb", path(&nssdb)], None);
    let ca = LocalCa::open_or_create(&temp.path().join("data/tls")).expect("the command made it");
    let fingerprint = trust::fingerprint_of_file(&ca.certificate_path()).expect("fp");
    let out = stdout(&added);
    assert!(out.contains(&format!("sql:{}", nssdb.display())), "{out}");
    assert!(out.contains(NICKNAME), "{out}");
    assert!(out.contains(&fingerprint), "{out}");
    assert_eq!(listed(&nssdb), [(NICKNAME.to_owned(), "C,,".to_owned())]);

    let removed = t1c(temp.path(), &["trust", "--remove", "--nssdb", path(&nssdb)], None);
    let out = stdout(&removed);
    assert!(out.contains("removed") && out.contains(NICKNAME), "{out}");
    assert!(listed(&nssdb).is_empty());

    let again = t1c(temp.path(), &["trust", "--remove", "--nssdb", path(&nssdb)], None);
    assert!(stdout(&again).contains("nothing removed"), "{}", stdout(&again));
}

#[test]
fn the_command_defaults_to_the_users_chromium_database() {
    let temp = tempfile::tempdir().expect("tempdir");
    let home = temp.path().join("home");
    std::fs::create_dir(&home).expect("home");

    let added = t1c(temp.path(), &["trust"], Some(("HOME", home.as_os_str())));

    let nssdb = home.join(".pki/nssdb");
    assert!(stdout(&added).contains(&format!("sql:{}", nssdb.display())), "{}", stdout(&added));
    assert_eq!(listed(&nssdb), [(NICKNAME.to_owned(), "C,,".to_owned())]);
}

#[test]
fn firefox_profiles_are_trusted_too_and_removal_finds_every_database_it_was_added_to() {
    let temp = tempfile::tempdir().expect("tempdir");
    let home = temp.path().join("home");
    let profile = home.join(".mozilla/firefox/abcd1234.default-release");
    std::fs::create_dir_all(&profile).expect("profile");
    certutil_new(&profile);
    let elsewhere = temp.path().join("other-nssdb");
    let with_home = Some(("HOME", home.as_os_str()));

    let added = t1c(temp.path(), &["trust"], with_home);
    t1c(temp.path(), &["trust", "--nssdb", path(&elsewhere)], with_home);

    let chromium = home.join(".pki/nssdb");
    let trusted = [(NICKNAME.to_owned(), "C,,".to_owned())];
    for db in [&chromium, &profile, &elsewhere] {
        assert_eq!(listed(db), trusted, "{}: {}", db.display(), stdout(&added));
    }

    t1c(temp.path(), &["trust", "--remove"], with_home);
    for db in [&chromium, &profile, &elsewhere] {
        assert!(listed(db).is_empty(), "removed from {}", db.display());
    }
    let record = std::fs::read_to_string(temp.path().join("data/tls/trusted-in")).expect("record");
    assert!(record.trim().is_empty(), "nothing left recorded: {record}");
}

#[test]
fn a_missing_certutil_names_the_package_to_install() {
    let temp = tempfile::tempdir().expect("tempdir");
    let empty = temp.path().join("empty-path");
    std::fs::create_dir(&empty).expect("dir");
    let nssdb = temp.path().join("nssdb");

    let output = run_t1c(
        temp.path(),
        &["trust", "--nssdb", path(&nssdb)],
        Some(("PATH", empty.as_os_str())),
    );

    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("certutil") && err.contains(CERTUTIL_PACKAGE), "{err}");
}

// --- helpers -------------------------------------------------------------------------------

/// `(nickname, trust flags)` as `certutil -L` lists them.
fn listed(dir: &Path) -> Vec<(String, String)> {
    let out = certutil(dir, &["-L"]);
    out.lines()
        .skip_while(|l| !l.contains("SSL,S/MIME,JAR/XPI"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, flags) = l.trim_end().rsplit_once(' ').expect("name and flags");
            (name.trim().to_owned(), flags.to_owned())
        })
        .collect()
}

/// The `Fingerprint (SHA-256):` certutil prints for `nickname`.
fn certutil_fingerprint(dir: &Path, nickname: &str) -> String {
    let out = certutil(dir, &["-L", "-n", nickname]);
    let mut lines = out.lines().skip_while(|l| !l.contains("Fingerprint (SHA-256):"));
    lines.next().expect("a SHA-256 fingerprint");
    lines.next().expect("its value").trim().to_owned()
}

fn certutil_new(dir: &Path) {
    std::fs::create_dir_all(dir).expect("dir");
    certutil(dir, &["-N", "--empty-password"]);
}

fn certutil(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("certutil")
        .arg("-d")
        .arg(format!("sql:{}", dir.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("certutil ({CERTUTIL_PACKAGE}) is needed: {e}"));
    assert!(
        output.status.success(),
        "certutil {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `t1c` with its data under `<temp>/data` and no configuration file; asserts success.
fn t1c(temp: &Path, args: &[&str], env: Option<(&str, &std::ffi::OsStr)>) -> Output {
    let output = run_t1c(temp, args, env);
    assert!(output.status.success(), "t1c {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn run_t1c(temp: &Path, args: &[&str], env: Option<(&str, &std::ffi::OsStr)>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_t1c"));
    command
        .arg("--config")
        .arg(temp.join("no-config.toml"))
        .args(args)
        .env("T1C_DATA_DIR", temp.join("data"))
        .env("T1C_LOG", "warn");
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    command.output().expect("t1c runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
