//! A SoftHSMv2 token created per test, in its own temporary directory.
//!
//! [`SoftHsm::new`] writes a `softhsm2.conf` pointing at a fresh token directory, initialises one
//! token (`softhsm2-util --init-token`), and puts four key pairs on it with matching self-signed
//! certificates: RSA-2048, RSA-3072, EC P-256 and EC P-384. Keys and certificates are made with
//! the `openssl` command line, keys are imported with `softhsm2-util --import` (private and public
//! key objects), certificates written with `pkcs11-tool --write-object` (OpenSC). Each key's
//! private key, public key and certificate share its `CKA_ID` and `CKA_LABEL`.
//!
//! Nothing touches the test process's environment: give [`SoftHsm::env`] to whatever loads the
//! library (`Pkcs11Options::env` for the connector's workers, `Command::envs` for tools).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// SoftHSM's PKCS#11 library as Debian installs it (`softhsm2`).
pub const LIBRARY: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The kinds of keys on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, 2048 bits.
    Rsa2048,
    /// RSA, 3072 bits.
    Rsa3072,
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
}

impl KeyKind {
    /// Every kind, in the order of [`SoftHsm::keys`].
    pub const ALL: [KeyKind; 4] =
        [KeyKind::Rsa2048, KeyKind::Rsa3072, KeyKind::EcP256, KeyKind::EcP384];

    /// Is it an RSA key?
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyKind::Rsa2048 | KeyKind::Rsa3072)
    }

    fn label(self) -> &'static str {
        match self {
            KeyKind::Rsa2048 => "rsa-2048",
            KeyKind::Rsa3072 => "rsa-3072",
            KeyKind::EcP256 => "ec-p256",
            KeyKind::EcP384 => "ec-p384",
        }
    }

    fn id(self) -> Vec<u8> {
        match self {
            KeyKind::Rsa2048 => vec![0x01],
            KeyKind::Rsa3072 => vec![0x02],
            KeyKind::EcP256 => vec![0x03],
            KeyKind::EcP384 => vec![0x04],
        }
    }

    fn genpkey_args(self) -> &'static [&'static str] {
        match self {
            KeyKind::Rsa2048 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyKind::Rsa3072 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            KeyKind::EcP256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyKind::EcP384 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        }
    }
}

/// One key pair on the token.
#[derive(Debug, Clone)]
pub struct TestKey {
    /// What it is.
    pub kind: KeyKind,
    /// CKA_LABEL of the private key, public key and certificate.
    pub label: String,
    /// CKA_ID of the private key, public key and certificate.
    pub id: Vec<u8>,
    /// The self-signed certificate (DER), also on the token.
    pub certificate: Vec<u8>,
    /// The private key, PKCS#8 PEM (for in-process comparisons; the token has its own copy).
    pub private_key_pem: String,
}

/// A SoftHSM configuration with (usually) one token; deleted on drop.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    /// `softhsm2.conf`; the value of `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The PKCS#11 library.
    pub library: PathBuf,
    /// The token label.
    pub token_label: String,
    /// The user PIN.
    pub user_pin: String,
    /// The security officer PIN.
    pub so_pin: String,
    /// The keys, in [`KeyKind::ALL`] order (empty for [`SoftHsm::empty`]).
    pub keys: Vec<TestKey>,
}

impl SoftHsm {
    /// A token labelled `T1C Test Token` (user PIN `123456`, SO PIN `12345678`) with the four
    /// key pairs and certificates.
    #[expect(clippy::new_without_default, reason = "making a token runs tools; say so with `new`")]
    pub fn new() -> Self {
        let mut hsm = Self::empty();
        hsm.init_token(&hsm.token_label.clone());
        for kind in KeyKind::ALL {
            let key = hsm.import_key(kind);
            hsm.keys.push(key);
        }
        hsm
    }

    /// A configuration with no token at all.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        Self {
            dir,
            conf,
            library: PathBuf::from(LIBRARY),
            token_label: "T1C Test Token".to_owned(),
            user_pin: "123456".to_owned(),
            so_pin: "12345678".to_owned(),
            keys: Vec::new(),
        }
    }

    /// The environment a process loading the library needs.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![("SOFTHSM2_CONF".into(), self.conf.clone().into())]
    }

    /// The temporary directory (configuration, tokens, key files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The key of `kind`.
    pub fn key(&self, kind: KeyKind) -> &TestKey {
        self.keys.iter().find(|k| k.kind == kind).expect("the token has every kind of key")
    }

    /// Initialises another (empty) token labelled `label` in the first free slot, with the same
    /// PINs.
    pub fn init_token(&self, label: &str) {
        self.tool(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                &self.user_pin,
                "--so-pin",
                &self.so_pin,
            ],
        );
    }

    /// Deletes the token (`softhsm2-util --delete-token`), as if it were pulled out.
    pub fn delete_token(&self) {
        self.tool("softhsm2-util", &["--delete-token", "--token", &self.token_label]);
    }

    fn import_key(&self, kind: KeyKind) -> TestKey {
        let label = kind.label();
        let id = kind.id();
        let key_path = self.dir().join(format!("{label}.key.pem"));
        let cert_path = self.dir().join(format!("{label}.cert.der"));
        let mut genpkey = vec!["genpkey"];
        genpkey.extend_from_slice(kind.genpkey_args());
        genpkey.extend_from_slice(&["-out", path_str(&key_path)]);
        self.tool("openssl", &genpkey);
        let subject = format!("/CN=T1C test {label}");
        self.tool(
            "openssl",
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                path_str(&key_path),
                "-subj",
                &subject,
                "-days",
                "365",
                "-sha256",
                "-outform",
                "DER",
                "-out",
                path_str(&cert_path),
            ],
        );
        let id_hex = hex::encode(&id);
        self.tool(
            "softhsm2-util",
            &[
                "--import",
                path_str(&key_path),
                "--token",
                &self.token_label,
                "--label",
                label,
                "--id",
                &id_hex,
                "--pin",
                &self.user_pin,
            ],
        );
        self.tool(
            "pkcs11-tool",
            &[
                "--module",
                path_str(&self.library),
                "--token-label",
                &self.token_label,
                "--login",
                "--pin",
                &self.user_pin,
                "--write-object",
                path_str(&cert_path),
                "--type",
                "cert",
                "--id",
                &id_hex,
                "--label",
                label,
            ],
        );
        TestKey {
            kind,
            label: label.to_owned(),
            id,
            certificate: std::fs::read(&cert_path).expect("certificate"),
            private_key_pem: std::fs::read_to_string(&key_path).expect("key"),
        }
    }

    fn tool(&self, program: &str, args: &[&str]) {
        let output = Command::new(program)
            .args(args)
            .envs(self.env())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
