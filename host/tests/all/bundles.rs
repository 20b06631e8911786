//! Installing signed bundles: the checks, the version policy, rollback, persistence, and that
//! every refusal leaves the installed and served sets as they were.

use std::collections::BTreeSet;
use std::sync::Arc;

use t1c_bundle::{BundleError, BundleManifest, SigningKey, TrustStore};
use t1c_host::bundles::{InstallError, InstallOptions, Installer, ModuleStatus, Store};
use t1c_runtime::{LoadError, ModuleRefused, ModuleSet, Runtime, RuntimeConfig};
use t1c_sdk::Capability;

use t1c_testkit::bundle::bundle_with;

use crate::fixtures;

const V1: &str = "t1c-module-hello";
const V2: &str = "t1c-test-hello-next";

struct Setup {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    key: SigningKey,
    installer: Installer,
}

fn setup() -> Setup {
    setup_with(Capability::ALL.into_iter().collect())
}

fn setup_with(granted: BTreeSet<Capability>) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("modules");
    let key = SigningKey::generate();
    let installer = installer(&path, &key, granted);
    Setup { _dir: dir, path, key, installer }
}

fn installer(path: &std::path::Path, key: &SigningKey, granted: BTreeSet<Capability>) -> Installer {
    let runtime = Runtime::new(RuntimeConfig {
        limits: fixtures::test_limits(),
        granted,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let mut trust = TrustStore::new();
    trust.add(key.public_key());
    let store = Store::open(path).expect("store");
    Installer::new(Arc::new(runtime), trust, Arc::new(ModuleSet::default()), store)
}

/// The version the served `hello` reports through its `version` operation (a real call).
fn served_version(installer: &Installer) -> Option<String> {
    let module = installer.modules().snapshot().get("hello")?;
    let answer = module.invoke(None, "version", "{}").expect("version call");
    let json: serde_json::Value = serde_json::from_str(&answer).expect("json");
    Some(json["version"].as_str().expect("version").to_owned())
}

fn listed(installer: &Installer) -> Vec<ModuleStatus> {
    installer.list()
}

#[test]
fn install_upgrade_and_rollback_swap_the_served_module() {
    let s = setup();
    let v1 = t1c_testkit::bundle::signed_bundle(V1, &s.key);
    let v2 = t1c_testkit::bundle::signed_bundle(V2, &s.key);

    let first = s.installer.install(&v1, InstallOptions::default()).expect("v1");
    assert!(first.changed && first.replaced.is_none());
    assert_eq!(first.signer, s.key.public_key().id().to_string());
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.1.0"));

    // A module held by a request in flight stays usable after the swap.
    let in_flight = s.installer.modules().snapshot().get("hello").expect("served");
    let second = s.installer.install(&v2, InstallOptions::default()).expect("v2");
    assert_eq!((second.version.as_str(), second.replaced.as_deref()), ("0.2.0", Some("0.1.0")));
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.2.0"));
    let old = in_flight.invoke(None, "version", "{}").expect("old instance still callable");
    assert!(old.contains("0.1.0"), "{old}");

    // The same bundle again changes nothing.
    assert!(!s.installer.install(&v2, InstallOptions::default()).expect("again").changed);

    let back = s.installer.rollback("hello").expect("rollback");
    assert_eq!((back.version.as_str(), back.replaced.as_deref()), ("0.1.0", Some("0.2.0")));
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.1.0"));
    // A second rollback undoes the first.
    s.installer.rollback("hello").expect("roll forward");
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.2.0"));

    s.installer.remove("hello").expect("remove");
    assert_eq!(served_version(&s.installer), None);
    assert!(listed(&s.installer).is_empty());
    assert!(matches!(s.installer.remove("hello"), Err(InstallError::NotInstalled(_))));
    assert!(matches!(s.installer.rollback("hello"), Err(InstallError::NotInstalled(_))));
}

#[test]
fn a_lower_version_is_refused_unless_pinned_and_a_pin_holds() {
    let s = setup();
    let v1 = t1c_testkit::bundle::signed_bundle(V1, &s.key);
    let v2 = t1c_testkit::bundle::signed_bundle(V2, &s.key);
    s.installer.install(&v2, InstallOptions::default()).expect("v2");
    let err = s.installer.install(&v1, InstallOptions::default()).expect_err("downgrade");
    assert!(matches!(err, InstallError::Downgrade { .. }), "{err}");
    assert!(err.to_string().contains("0.2.0") && err.to_string().contains("0.1.0"), "{err}");
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.2.0"));

    let pinned = s.installer.install(&v1, InstallOptions { pin: true }).expect("pinned downgrade");
    assert!(pinned.pinned);
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.1.0"));
    // While pinned, even a newer version needs an explicit pin.
    let err = s.installer.install(&v2, InstallOptions::default()).expect_err("pinned");
    assert!(matches!(err, InstallError::Pinned { .. }), "{err}");
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.1.0"));
    s.installer.install(&v2, InstallOptions { pin: true }).expect("pinned upgrade");
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.2.0"));
}

#[test]
fn no_previous_version_means_no_rollback() {
    let s = setup();
    s.installer
        .install(&t1c_testkit::bundle::signed_bundle(V1, &s.key), InstallOptions::default())
        .unwrap();
    let err = s.installer.rollback("hello").expect_err("nothing to roll back to");
    assert!(matches!(err, InstallError::NoPrevious(_)), "{err}");
    assert_eq!(served_version(&s.installer).as_deref(), Some("0.1.0"));
}

#[test]
fn the_install_state_survives_a_restart() {
    let s = setup();
    s.installer
        .install(&t1c_testkit::bundle::signed_bundle(V1, &s.key), InstallOptions::default())
        .unwrap();
    s.installer
        .install(&t1c_testkit::bundle::signed_bundle(V2, &s.key), InstallOptions::default())
        .unwrap();
    let before = listed(&s.installer);
    let Setup { installer, path, key, _dir } = s;
    drop(installer);

    let again = self::installer(&path, &key, Capability::ALL.into_iter().collect());
    assert_eq!(served_version(&again), None, "nothing is served before load_installed");
    assert!(again.load_installed().is_empty());
    assert_eq!(served_version(&again).as_deref(), Some("0.2.0"));
    assert_eq!(listed(&again), before);
    again.rollback("hello").expect("the previous version was kept too");
    assert_eq!(served_version(&again).as_deref(), Some("0.1.0"));

    // A signer that is no longer trusted: the module is not served after the restart.
    drop(again);
    let other = SigningKey::generate();
    let untrusted = self::installer(&path, &other, Capability::ALL.into_iter().collect());
    let failures = untrusted.load_installed();
    assert_eq!(failures.len(), 1);
    assert!(matches!(failures[0].1, InstallError::Bundle(BundleError::UntrustedKey { .. })));
    assert_eq!(served_version(&untrusted), None);
    assert!(!listed(&untrusted)[0].served);
}

/// Each refusal: the expected error, and the installed and served sets unchanged.
#[test]
fn every_refusal_says_why_and_changes_nothing() {
    let s = setup();
    s.installer
        .install(&t1c_testkit::bundle::signed_bundle(V1, &s.key), InstallOptions::default())
        .unwrap();
    let before = listed(&s.installer);
    let unchanged = |what: &str| {
        assert_eq!(listed(&s.installer), before, "{what}: installed set changed");
        assert_eq!(served_version(&s.installer).as_deref(), Some("0.1.0"), "{what}");
    };

    // Signed by a key the connector does not trust.
    let stranger = SigningKey::generate();
    let err = s
        .installer
        .install(&t1c_testkit::bundle::signed_bundle(V2, &stranger), InstallOptions::default());
    assert!(matches!(err, Err(InstallError::Bundle(BundleError::UntrustedKey { .. }))), "{err:?}");
    unchanged("untrusted key");

    // Not signed at all.
    let unsigned = t1c_testkit::bundle::unsigned_bundle(V2);
    let err = s.installer.install(&unsigned, InstallOptions::default());
    assert!(matches!(err, Err(InstallError::Bundle(BundleError::SignatureMissing))), "{err:?}");
    unchanged("unsigned");

    // Not a bundle.
    let err = s.installer.install(b"not a zip", InstallOptions::default());
    assert!(matches!(err, Err(InstallError::Bundle(_))), "{err:?}");
    unchanged("garbage");

    // A contract major version this host does not implement.
    let future = bundle_with(V2, &s.key, |m| m.contract = semver::Version::new(1, 0, 0));
    let err = s.installer.install(&future, InstallOptions::default()).expect_err("contract");
    assert!(
        matches!(err, InstallError::Module(ModuleRefused::ContractUnsupported { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("1.0.0"), "{err}");
    unchanged("contract");

    // A capability the configuration does not allow.
    let greedy = bundle_with(V2, &s.key, |m| m.capabilities.push(t1c_sdk::Capability::Files));
    let restricted = setup_with(BTreeSet::from([Capability::Reader]));
    let greedy_for_restricted = bundle_with(V2, &restricted.key, |m| {
        m.capabilities.push(t1c_sdk::Capability::Files);
    });
    let err = restricted
        .installer
        .install(&greedy_for_restricted, InstallOptions::default())
        .expect_err("forbidden capability");
    assert!(
        matches!(err, InstallError::Module(ModuleRefused::CapabilityForbidden { ref capability, .. }) if capability == "files"),
        "{err}"
    );
    assert!(listed(&restricted.installer).is_empty());

    // A manifest that does not say what the component says.
    let err = s.installer.install(&greedy, InstallOptions::default()).expect_err("mismatch");
    assert!(
        matches!(
            err,
            InstallError::Module(ModuleRefused::ManifestMismatch { field: "capabilities", .. })
        ),
        "{err}"
    );
    unchanged("capabilities mismatch");
    let liar = bundle_with(V2, &s.key, |m| m.version = semver::Version::new(9, 9, 9));
    let err = s.installer.install(&liar, InstallOptions::default()).expect_err("mismatch");
    assert!(
        matches!(
            err,
            InstallError::Module(ModuleRefused::ManifestMismatch { field: "version", .. })
        ),
        "{err}"
    );
    unchanged("version mismatch");

    // A component (valid header) that does not export the contract.
    let empty_component = b"\0asm\x0d\x00\x01\x00".to_vec();
    let manifest = BundleManifest {
        name: t1c_bundle::ModuleName::new("hello").unwrap(),
        version: semver::Version::new(0, 3, 0),
        contract: semver::Version::new(0, 1, 0),
        description: String::new(),
        capabilities: Vec::new(),
        atrs: Vec::new(),
    };
    let hollow =
        t1c_bundle::sign(&t1c_bundle::pack(&manifest, &empty_component).unwrap(), &s.key).unwrap();
    let err = s.installer.install(&hollow, InstallOptions::default()).expect_err("no exports");
    assert!(
        matches!(
            err,
            InstallError::Module(ModuleRefused::Component {
                source: LoadError::MissingExport(_) | LoadError::Link(_),
                ..
            })
        ),
        "{err}"
    );
    unchanged("no contract exports");

    // A core module, not a component: refused by the bundle reader already.
    let core = t1c_bundle::pack(&manifest, b"\0asm\x01\x00\x00\x00");
    assert!(
        core.is_err() || {
            let signed = t1c_bundle::sign(&core.unwrap(), &s.key).unwrap();
            matches!(
                s.installer.install(&signed, InstallOptions::default()),
                Err(InstallError::Bundle(_))
            )
        }
    );
    unchanged("core module");

    // The same version with other bytes: a published version does not change.
    let rebuilt = bundle_with(V1, &s.key, |m| m.description.push_str(" (rebuilt)"));
    let err = s.installer.install(&rebuilt, InstallOptions::default()).expect_err("reuse");
    assert!(matches!(err, InstallError::VersionReused { .. }), "{err}");
    unchanged("version reused");
}
