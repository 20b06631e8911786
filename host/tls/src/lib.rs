//! # t1c-tls: the TLS identity of the T1C servers
//!
//! The connector and the Distribution Service prove themselves the same way: a per-installation
//! local CA and a leaf it issues for `localhost` and the configured names, or a configured
//! certificate chain; served through a resolver whose certificate can be swapped while
//! connections are open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::{Error as PemError, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why the TLS identity cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Reading or writing a certificate or key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Generating a certificate failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the key.
    #[error("unusable private key: {0}")]
    Key(#[from] rustls::Error),
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum CertificateSource {
    /// A local CA in `dir` (created on first use) issues a leaf for these names.
    LocalCa {
        /// Directory of `ca.pem`, `ca.key`, `leaf.pem`, `leaf.key`.
        dir: PathBuf,
        /// DNS names beside `localhost`, `127.0.0.1` and `::1`.
        dns_names: Vec<String>,
    },
    /// A configured chain and key (PEM).
    Files {
        /// Chain, leaf first.
        certificate: PathBuf,
        /// Key of the leaf.
        key: PathBuf,
    },
}

/// The current certificate, swappable at runtime; implements rustls' [`ResolvesServerCert`].
#[derive(Debug)]
pub struct CertificateResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateResolver {
    /// A resolver serving `key`.
    pub fn new(key: CertifiedKey) -> Self {
        Self { current: RwLock::new(Arc::new(key)) }
    }

    /// Serves `key` to every new handshake from now on; open connections are unaffected.
    pub fn swap(&self, key: CertifiedKey) {
        let mut current = self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Arc::new(key);
    }

    /// The certificate served now (leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current().cert.clone()
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl ResolvesServerCert for CertificateResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Loads the certificate for `source`, generating the local CA and leaf when needed.
///
/// # Errors
/// [`TlsError`] naming the file or step that failed.
pub fn load(source: &CertificateSource) -> Result<CertifiedKey, TlsError> {
    match source {
        CertificateSource::Files { certificate, key } => load_files(certificate, key),
        CertificateSource::LocalCa { dir, dns_names } => {
            let local = LocalCa::open_or_create(dir)?;
            if !local.leaf_is_current(dns_names) {
                local.issue_leaf(dns_names)?;
            }
            load_files(&dir.join(LEAF_CERT), &dir.join(LEAF_KEY))
        }
    }
}

/// Modification time of the files behind `source`, to notice a replaced certificate.
pub fn source_modified(source: &CertificateSource) -> Option<SystemTime> {
    let paths: Vec<PathBuf> = match source {
        CertificateSource::Files { certificate, key } => vec![certificate.clone(), key.clone()],
        CertificateSource::LocalCa { dir, .. } => vec![dir.join(LEAF_CERT), dir.join(LEAF_KEY)],
    };
    paths.iter().filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()).max()
}

/// Reloads the certificate whenever the files behind `source` change (checked every
/// `interval`) and swaps it into `resolver`; open connections keep the certificate they
/// started with. A file that cannot be loaded is logged and the old certificate stays.
pub async fn watch(
    source: CertificateSource,
    resolver: Arc<CertificateResolver>,
    interval: std::time::Duration,
) {
    let mut last = source_modified(&source);
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let modified = source_modified(&source);
        if modified == last {
            continue;
        }
        last = modified;
        // For a local CA, reload the leaf as written; do not issue a new one here.
        let files = match &source {
            CertificateSource::Files { .. } => source.clone(),
            CertificateSource::LocalCa { dir, .. } => CertificateSource::Files {
                certificate: dir.join(LEAF_CERT),
                key: dir.join(LEAF_KEY),
            },
        };
        match load(&files) {
            Ok(key) => {
                resolver.swap(key);
                tracing::info!("certificate reloaded");
            }
            Err(err) => {
                tracing::warn!(
                    "certificate changed but cannot be loaded, keeping the old one: {err}"
                )
            }
        }
    }
}

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const LEAF_CERT: &str = "leaf.pem";
const LEAF_KEY: &str = "leaf.key";
/// The names and expiry of the current leaf, to reuse it across starts.
const LEAF_META: &str = "leaf.meta";
/// A leaf closer than this to its expiry is replaced at start.
const LEAF_RENEW_BEFORE_DAYS: i64 = 30;

/// The per-installation CA.
pub struct LocalCa {
    dir: PathBuf,
    cert_pem: String,
    key: KeyPair,
}

impl LocalCa {
    /// Opens the CA in `dir`, creating it (key readable by the user only) the first time.
    ///
    /// # Errors
    /// [`TlsError`] when the files cannot be read, parsed or written.
    pub fn open_or_create(dir: &Path) -> Result<Self, TlsError> {
        create_private_dir(dir)?;
        let cert_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        if cert_path.exists() && key_path.exists() {
            let cert_pem = read(&cert_path)?;
            let key = KeyPair::from_pem(&read(&key_path)?)
                .map_err(|e| TlsError::Pem { path: key_path.clone(), message: e.to_string() })?;
            return Ok(Self { dir: dir.to_owned(), cert_pem, key });
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("T1C local CA {}", installation_tag()));
        name.push(DnType::OrganizationName, "T1C (issued on this computer only)");
        params.distinguished_name = name;
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2045, 1, 1);
        let cert = params.self_signed(&key)?;
        write_private(&key_path, &key.serialize_pem())?;
        write_public(&cert_path, &cert.pem())?;
        Ok(Self { dir: dir.to_owned(), cert_pem: cert.pem(), key })
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Path of the CA certificate file.
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// Whether the leaf on disk was issued for exactly these names and is not about to expire.
    pub fn leaf_is_current(&self, dns_names: &[String]) -> bool {
        let Ok(meta) = std::fs::read_to_string(self.dir.join(LEAF_META)) else { return false };
        let mut lines = meta.lines();
        let not_after = lines.next().and_then(|l| l.parse::<i64>().ok());
        let names: Vec<&str> = lines.collect();
        let renew_at =
            time::OffsetDateTime::now_utc() + time::Duration::days(LEAF_RENEW_BEFORE_DAYS);
        not_after.is_some_and(|t| t > renew_at.unix_timestamp())
            && names == dns_names.iter().map(String::as_str).collect::<Vec<_>>()
            && self.dir.join(LEAF_CERT).is_file()
            && self.dir.join(LEAF_KEY).is_file()
    }

    /// Issues (and writes) a leaf for `localhost`, `127.0.0.1`, `::1` and `dns_names`, valid
    /// for 397 days. The chain written is leaf then CA.
    ///
    /// # Errors
    /// [`TlsError`] when generation or writing fails.
    pub fn issue_leaf(&self, dns_names: &[String]) -> Result<(), TlsError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?;
        let key = KeyPair::generate()?;
        let mut names = vec!["localhost".to_owned()];
        names.extend(dns_names.iter().cloned());
        let mut params = CertificateParams::new(names)?;
        params.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        params.subject_alt_names.push(SanType::IpAddress([0u16, 0, 0, 0, 0, 0, 0, 1].into()));
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(397);
        let cert = params.signed_by(&key, &issuer)?;
        write_private(&self.dir.join(LEAF_KEY), &key.serialize_pem())?;
        write_public(&self.dir.join(LEAF_CERT), &format!("{}{}", cert.pem(), self.cert_pem))?;
        let mut meta = params.not_after.unix_timestamp().to_string();
        for name in dns_names {
            meta.push('\n');
            meta.push_str(name);
        }
        write_public(&self.dir.join(LEAF_META), &meta)?;
        Ok(())
    }
}

/// Reads a PEM chain and key into rustls' form.
fn load_files(certificate: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain_pem = read(certificate)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem { path: certificate.to_owned(), message: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: certificate.to_owned(),
            message: "no certificate in the file".into(),
        });
    }
    let key_pem = read(key)?;
    let key_der = match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) {
        Ok(key) => key,
        Err(PemError::NoItemsFound) => {
            return Err(TlsError::Pem {
                path: key.to_owned(),
                message: "no private key in the file".into(),
            });
        }
        Err(e) => return Err(TlsError::Pem { path: key.to_owned(), message: e.to_string() }),
    };
    let signing_key = any_supported_type(&key_der)?;
    Ok(CertifiedKey::new(chain, signing_key))
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io { path: path.to_owned(), source })
}

fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let io = |source| TlsError::Io { path: dir.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Writes a secret file readable by the user only, atomically.
pub fn write_private(path: &Path, content: &str) -> Result<(), TlsError> {
    write_atomic(path, content, 0o600)
}

fn write_public(path: &Path, content: &str) -> Result<(), TlsError> {
    write_atomic(path, content, 0o644)
}

fn write_atomic(path: &Path, content: &str, mode: u32) -> Result<(), TlsError> {
    use std::io::Write;
    let io = |source| TlsError::Io { path: path.to_owned(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(content.as_bytes()).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Eight random hex characters, so two installations' CAs have different names.
fn installation_tag() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return "00000000".into();
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ca_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = LocalCa::open_or_create(dir.path()).expect("created");
        let again = LocalCa::open_or_create(dir.path()).expect("reopened");
        assert_eq!(first.certificate_pem(), again.certificate_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                std::fs::metadata(dir.path().join(CA_KEY)).expect("key").permissions().mode();
            assert_eq!(mode & 0o077, 0, "the CA key must be private");
        }
    }

    #[test]
    fn leaf_chain_is_leaf_then_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = CertificateSource::LocalCa {
            dir: dir.path().to_owned(),
            dns_names: vec!["t1c.example.test".into()],
        };
        let key = load(&source).expect("loads");
        assert_eq!(key.cert.len(), 2);
    }

    #[test]
    fn leaf_is_reused_until_the_names_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = |names: &[&str]| CertificateSource::LocalCa {
            dir: dir.path().to_owned(),
            dns_names: names.iter().map(|n| (*n).to_owned()).collect(),
        };
        let first = load(&source(&["a.test"])).expect("first");
        let again = load(&source(&["a.test"])).expect("again");
        assert_eq!(first.cert[0], again.cert[0], "same leaf across starts");
        let renamed = load(&source(&["b.test"])).expect("renamed");
        assert_ne!(first.cert[0], renamed.cert[0], "new names, new leaf");
    }

    #[test]
    fn missing_or_empty_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "not pem").expect("write");
        let err = load(&CertificateSource::Files {
            certificate: cert.clone(),
            key: dir.path().join("k.pem"),
        })
        .expect_err("fails");
        assert!(err.to_string().contains("c.pem"), "{err}");
    }
}
