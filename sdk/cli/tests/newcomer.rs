//! The SDK README's "From zero to a signed bundle", command for command: a newcomer goes from
//! `new` to a signed bundle the connector loads.

use std::path::{Path, PathBuf};
use std::process::Command;

use t1c_bundle::{Bundle, TrustStore};
use t1c_host::bundles::InstallOptions;
use t1c_host::config::{Config, ModulesConfig};

/// Runs one documented command in `dir` and returns its standard output; fails with its output
/// when it fails.
fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let program = match program {
        "t1c-module" => PathBuf::from(env!("CARGO_BIN_EXE_t1c-module")),
        other => PathBuf::from(other),
    };
    let output = Command::new(&program)
        .args(args)
        .current_dir(dir)
        // The generated crate builds in a target directory shared across runs, so repeated
        // runs are incremental.
        .env("CARGO_TARGET_DIR", shared_target())
        .output()
        .expect("the command starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}\n{stdout}\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn shared_target() -> PathBuf {
    // sdk/cli -> the repository's target/newcomer.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/newcomer")
}

#[test]
fn from_zero_to_a_signed_bundle_the_connector_loads() {
    let home = tempfile::tempdir().expect("temp dir");
    let home = home.path();
    let crate_dir = home.join("mycard");

    // The commands of sdk/README.md, "From zero to a signed bundle".
    run(home, "t1c-module", &["new", "mycard"]);
    run(&crate_dir, "cargo", &["test"]);
    let built = run(&crate_dir, "t1c-module", &["build"]);
    assert!(built.contains("mycard 0.1.0"), "{built}");
    run(&crate_dir, "t1c-module", &["pack"]);
    run(&crate_dir, "t1c-module", &["keygen", "--out", "../author.pem"]);
    run(&crate_dir, "t1c-module", &["sign", "mycard-0.1.0.t1cm", "--key", "../author.pem"]);
    let verified = run(
        &crate_dir,
        "t1c-module",
        &["verify", "mycard-0.1.0.t1cm", "--trust", "../author.pem.pub"],
    );
    assert!(verified.contains("OK"), "{verified}");
    let inspected = run(&crate_dir, "t1c-module", &["inspect", "mycard-0.1.0.t1cm"]);
    for expected in ["name:         mycard", "capabilities: reader", "3b000000/ff000000", "digest:"]
    {
        assert!(inspected.contains(expected), "{expected} missing from:\n{inspected}");
    }

    // A connector whose trust store holds the author's public key installs and serves it,
    // exactly as `t1c modules install mycard-0.1.0.t1cm` does.
    let bytes = std::fs::read(crate_dir.join("mycard-0.1.0.t1cm")).expect("the bundle");
    let public = std::fs::read_to_string(home.join("author.pem.pub")).expect("the public key");
    let trust = TrustStore::from_lines(&public).expect("a trust list");
    let verified = Bundle::read(&bytes).and_then(|b| b.verify(&trust)).expect("it verifies");
    assert_eq!(verified.manifest().name, "mycard");
    let trusted_keys = public
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let config = Config {
        data_dir: Some(home.join("connector")),
        modules: ModulesConfig { trusted_keys, trust_development_key: false, ..Default::default() },
        ..Config::default()
    };
    let installer = t1c_host::connector::installer(&config).expect("the connector's installer");
    let installed = installer.install(&bytes, InstallOptions::default()).expect("it installs");
    assert_eq!((installed.module.as_str(), installed.version.as_str()), ("mycard", "0.1.0"));
    let served = installer.modules().snapshot().get("mycard").expect("it is served");
    assert_eq!(served.manifest().version, "0.1.0");
}

#[test]
fn verify_fails_with_the_reason_for_an_untrusted_key() {
    let home = tempfile::tempdir().expect("temp dir");
    let home = home.path();
    let manifest = t1c_bundle::BundleManifest {
        name: t1c_bundle::ModuleName::new("x").expect("a module name"),
        version: semver::Version::new(1, 0, 0),
        contract: semver::Version::new(0, 1, 0),
        description: String::new(),
        capabilities: Vec::new(),
        atrs: Vec::new(),
    };
    let bundle = t1c_bundle::pack(&manifest, b"\0asm\x0d\x00\x01\x00").expect("pack");
    std::fs::write(home.join("x.t1cm"), bundle).expect("write");
    let cli = env!("CARGO_BIN_EXE_t1c-module");
    let ok = |args: &[&str]| Command::new(cli).args(args).current_dir(home).status().unwrap();
    assert!(ok(&["keygen", "--out", "a.pem"]).success());
    assert!(ok(&["keygen", "--out", "b.pem"]).success());
    assert!(!ok(&["keygen", "--out", "a.pem"]).success(), "keygen never overwrites");
    assert!(ok(&["sign", "x.t1cm", "--key", "a.pem"]).success());
    let output = Command::new(cli)
        .args(["verify", "x.t1cm", "--trust", "b.pem.pub"])
        .current_dir(home)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not trusted"), "{stderr}");
    let inspected =
        Command::new(cli).args(["inspect", "x.t1cm"]).current_dir(home).output().unwrap();
    assert!(String::from_utf8_lossy(&inspected.stdout).contains("signer:       key"));
}
