//! Fidelity of the simulated Belgian eID card, judged by a client nobody here wrote: OpenSC's
//! `belpic` driver (`pkcs15-tool`, and `pkcs11-tool` with `opensc-pkcs11.so`), talking to the
//! card through a private `pcscd` and the vpcd bridge.
//!
//! The OpenSC tools are separate processes: each gets `PCSCLITE_CSOCK_NAME` in its own
//! environment, so this test process never touches libpcsclite and the tests can share one.
//!
//! What OpenSC 0.23 (Debian 12) does not do, whatever the card does, and so is not tested here:
//! - non-repudiation signatures: `card-belpic.c` refuses MSE for key 83 itself ("No GUI for
//!   NonRep key present, signature cancelled", `SC_ERROR_NOT_SUPPORTED`, surfacing as
//!   `CKR_FUNCTION_NOT_SUPPORTED` from `C_SignFinal`); no APDU reaches the card;
//! - any signature on applet 1.8: the driver registers RSA only, so ECDSA mechanisms fail in
//!   `C_SignInit` with `CKR_MECHANISM_INVALID`. Listing and reading 1.8 certificates and
//!   their EC public keys works.
#![cfg(all(feature = "simulator", target_os = "linux"))]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rsa::Pkcs1v15Sign;
use sha2::{Digest as _, Sha256};
use x509_cert::der::{DecodePem as _, Encode as _};

use t1c_sdk::simulator::VirtualReader;
use t1c_sdk::simulator::belpic::{
    AppletVersion, BelpicCard, CertificateRole, Persona, PublicKey, TestPki,
};
use t1c_sdk::simulator::pcscd::PrivatePcscd;
use t1c_sdk::simulator::vpcd::VpcdBridge;

const PKCS11_MODULE: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
/// How long pcscd and OpenSC may take to see the card.
const DEADLINE: Duration = Duration::from_secs(20);

fn pki(version: AppletVersion) -> &'static TestPki {
    static V17_PKI: OnceLock<TestPki> = OnceLock::new();
    static V18_PKI: OnceLock<TestPki> = OnceLock::new();
    let cell = match version {
        AppletVersion::V1_8 => &V18_PKI,
        _ => &V17_PKI,
    };
    cell.get_or_init(|| {
        TestPki::generate_seeded(&Persona::default_citizen(), version, 11).expect("test PKI")
    })
}

/// A private pcscd with one vpcd reader holding a simulated card.
struct Rig {
    pcscd: PrivatePcscd,
    _reader: VirtualReader,
    _bridge: VpcdBridge,
    card: BelpicCard,
    dir: tempfile::TempDir,
}

impl Rig {
    fn start(version: AppletVersion) -> Self {
        let card = BelpicCard::from_pki(&Persona::default_citizen(), pki(version)).expect("card");
        let pcscd = PrivatePcscd::start(1).expect("private pcscd");
        let reader = VirtualReader::new("belpic");
        reader.insert(Box::new(card.clone()));
        let port = pcscd.port(0).expect("reader 0");
        let bridge = VpcdBridge::start(reader.clone(), "127.0.0.1", port).expect("vpcd bridge");
        let dir = tempfile::tempdir().expect("temporary directory");
        let rig = Self { pcscd, _reader: reader, _bridge: bridge, card, dir };
        rig.wait_for_card();
        rig
    }

    /// Runs an OpenSC tool against this rig's pcscd.
    fn tool(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", self.pcscd.socket_path())
            // Keep OpenSC's on-disk file cache out of the way: every test's card is new.
            .env("OPENSC_CONF", self.opensc_conf())
            .env("HOME", self.dir.path())
            .output()
            .unwrap_or_else(|err| panic!("{program} does not run: {err}"))
    }

    /// Runs a tool that must succeed and returns its standard output.
    fn run(&self, program: &str, args: &[&str]) -> String {
        let output = self.tool(program, args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    fn opensc_conf(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("opensc.conf");
        if !path.exists() {
            std::fs::write(
                &path,
                "app default {\n  framework pkcs15 {\n    use_file_caching = no;\n  }\n}\n",
            )
            .expect("write opensc.conf");
        }
        path
    }

    fn wait_for_card(&self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let output = self.tool("opensc-tool", &["--list-readers"]);
            let listing = String::from_utf8_lossy(&output.stdout);
            if listing.lines().any(|line| line.contains("Yes") && line.contains("T1C Virtual PCD"))
            {
                return;
            }
            assert!(Instant::now() < deadline, "no card seen by OpenSC:\n{listing}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn der_of_pem(pem: &str) -> Vec<u8> {
    x509_cert::Certificate::from_pem(pem.trim()).expect("PEM certificate").to_der().expect("DER")
}

#[test]
fn opensc_identifies_a_belgian_eid_1_7() {
    let rig = Rig::start(AppletVersion::V1_7);
    let name = rig.run("opensc-tool", &["--reader", "0", "--name"]);
    assert_eq!(name.trim(), "Belpic cards");
}

#[test]
fn pkcs15_tool_lists_the_four_certificates_of_a_1_7_card() {
    let rig = Rig::start(AppletVersion::V1_7);
    let listing = rig.run("pkcs15-tool", &["--reader", "0", "--list-certificates"]);
    for label in ["Authentication", "Signature", "CA", "Root"] {
        assert!(listing.contains(label), "{label} missing from:\n{listing}");
    }
    for id in ["02", "03", "04", "06"] {
        let has_id = listing.lines().any(|line| {
            line.trim_start().starts_with("ID") && line.trim_end().ends_with(&format!(": {id}"))
        });
        assert!(has_id, "ID {id} missing:\n{listing}");
    }
}

#[test]
fn pkcs15_tool_reads_certificates_byte_identical_from_a_1_7_card() {
    let rig = Rig::start(AppletVersion::V1_7);
    for (id, role) in [
        ("02", CertificateRole::Authentication),
        ("03", CertificateRole::NonRepudiation),
        ("04", CertificateRole::Ca),
        ("06", CertificateRole::Root),
    ] {
        let pem = rig.run("pkcs15-tool", &["--reader", "0", "--read-certificate", id]);
        assert_eq!(der_of_pem(&pem), rig.card.certificate(role), "certificate {id}");
    }
}

#[test]
fn pkcs11_tool_signs_with_the_authentication_key_of_a_1_7_card() {
    let rig = Rig::start(AppletVersion::V1_7);
    let message = b"signed through OpenSC's PKCS#11 module";
    let input = rig.path("message");
    let output = rig.path("signature");
    std::fs::write(&input, message).expect("write message");
    rig.run(
        "pkcs11-tool",
        &[
            "--module",
            PKCS11_MODULE,
            "--login",
            "--pin",
            "1234",
            "--sign",
            "--id",
            "02",
            "--mechanism",
            "SHA256-RSA-PKCS",
            "--input-file",
            &input,
            "--output-file",
            &output,
        ],
    );
    let signature = std::fs::read(Path::new(&output)).expect("signature file");
    let PublicKey::Rsa(key) = rig.card.public_key(CertificateRole::Authentication) else {
        panic!("a 1.7 card has RSA keys");
    };
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message), &signature)
        .expect("OpenSC's signature verifies with the authentication certificate");
}

#[test]
fn pkcs15_tool_reads_certificates_byte_identical_from_a_1_8_card() {
    let rig = Rig::start(AppletVersion::V1_8);
    let listing = rig.run("pkcs15-tool", &["--reader", "0", "--list-certificates"]);
    let pem = rig.run("pkcs15-tool", &["--reader", "0", "--read-certificate", "02"]);
    assert_eq!(
        der_of_pem(&pem),
        rig.card.certificate(CertificateRole::Authentication),
        "{listing}"
    );
}
