//! Making browsers trust the connector: the local CA (see [`super::tls`]) added to, or removed
//! from, an NSS certificate database with `certutil` (Debian package `libnss3-tools`).
//!
//! Chromium and Chrome on Linux read the user's shared database, `~/.pki/nssdb` (`sql:`
//! format). Firefox keeps one database per profile (`~/.mozilla/firefox/<profile>/`); point
//! [`NssDb::at`] at a profile directory to trust the CA there.
//!
//! The CA is stored under one stable nickname, [`NICKNAME`], trusted to issue TLS server
//! certificates only (trust flags `C,,`). This module changes nothing but that one entry: it
//! never touches other certificates, and never reads or writes the CA's private key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use sha2::{Digest, Sha256};

use super::tls::{LocalCa, TlsError};

/// The nickname the local CA is stored under in an NSS database.
pub const NICKNAME: &str = "T1C local CA";

/// Trust flags for the local CA: a CA for TLS servers (`C`), nothing for e-mail or code signing.
pub const TRUST_FLAGS: &str = "C,,";

/// The Debian package that provides `certutil`.
pub const CERTUTIL_PACKAGE: &str = "libnss3-tools";

/// Why trusting or distrusting the CA failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// `certutil` is not on `PATH`.
    #[error(
        "certutil is not installed; install the Debian package {CERTUTIL_PACKAGE} \
         (`sudo apt install {CERTUTIL_PACKAGE}`; Fedora: nss-tools)"
    )]
    CertutilMissing,
    /// `certutil` could not be started for another reason.
    #[error("cannot run certutil: {0}")]
    Spawn(std::io::Error),
    /// `certutil` ran and failed.
    #[error("certutil {action} failed on sql:{} ({status}): {message}", database.display())]
    Certutil {
        /// What was being done (`-N`, `-A`, ...), for the message.
        action: &'static str,
        /// The database directory.
        database: PathBuf,
        /// The exit status.
        status: String,
        /// What certutil printed on stderr.
        message: String,
    },
    /// No home directory, so no default database.
    #[error("cannot find the home directory for the default NSS database; pass --nssdb <dir>")]
    NoHome,
    /// Creating the database directory or reading the certificate failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{}: no PEM certificate in the file", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The local CA could not be opened or created.
    #[error("local CA: {0}")]
    LocalCa(#[from] TlsError),
    /// NSS databases are not managed on this platform: on Windows the browsers trust the
    /// system certificate store, and Windows' own `certutil.exe` is another tool.
    #[error(
        "t1c trust manages NSS databases with NSS's certutil, which Windows browsers do not \
         use; add the local CA (tls\\ca.pem in the data directory) to the user's Trusted Root \
         Certification Authorities instead"
    )]
    Unsupported,
}

/// An NSS certificate database directory (`sql:` format: `cert9.db`, `key4.db`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NssDb {
    dir: PathBuf,
}

/// What [`NssDb::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Added {
    /// The database directory.
    pub database: PathBuf,
    /// The nickname the certificate is stored under.
    pub nickname: String,
    /// The certificate file that was added.
    pub certificate: PathBuf,
    /// SHA-256 of the certificate (DER), uppercase hex in colon-separated pairs, as
    /// `certutil -L -n` and browsers' certificate viewers print it.
    pub fingerprint: String,
    /// Whether the database was created for this.
    pub created_database: bool,
    /// What was under the nickname before.
    pub previous: Previous,
}

/// What was stored under the nickname before [`NssDb::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Previous {
    /// Nothing.
    Absent,
    /// This same certificate (its trust flags were set again).
    Same,
    /// Other certificates (an earlier CA of a reinstalled connector); this many were removed.
    Replaced(usize),
}

/// What [`NssDb::remove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Removed {
    /// The database directory.
    pub database: PathBuf,
    /// The nickname.
    pub nickname: String,
    /// How many certificates were deleted (0: there was none; not an error).
    pub count: usize,
}

impl NssDb {
    /// The database at `dir` (created on [`add`](Self::add) if missing).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The user's shared database, `$HOME/.pki/nssdb`, which Chromium and Chrome read on Linux.
    ///
    /// # Errors
    /// [`TrustError::NoHome`] when no home directory is known.
    pub fn user() -> Result<Self, TrustError> {
        let base = directories::BaseDirs::new().ok_or(TrustError::NoHome)?;
        Ok(Self::at(base.home_dir().join(".pki").join("nssdb")))
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the database files exist.
    pub fn exists(&self) -> bool {
        self.dir.join("cert9.db").is_file()
    }

    /// Stores the PEM certificate at `certificate` under `nickname` with trust [`TRUST_FLAGS`],
    /// creating the database (empty password) if missing. Idempotent: the same certificate
    /// again only has its trust flags set; a different certificate under the nickname (an
    /// earlier CA) is replaced, since NSS refuses two subjects under one nickname.
    ///
    /// # Errors
    /// [`TrustError`]: certutil missing or failing, the file unreadable or not PEM.
    pub fn add(&self, certificate: &Path, nickname: &str) -> Result<Added, TrustError> {
        let fingerprint = fingerprint_of_file(certificate)?;
        let created_database = self.create_if_missing()?;
        let present = self.fingerprints(nickname)?;
        let previous = if present.is_empty() {
            Previous::Absent
        } else if present.iter().all(|f| *f == fingerprint) {
            Previous::Same
        } else {
            Previous::Replaced(self.delete_all(nickname)?)
        };
        if previous == Previous::Same {
            self.certutil("-M", &["-M", "-n", nickname, "-t", TRUST_FLAGS])?;
        } else {
            let file = certificate.as_os_str().to_string_lossy();
            self.certutil("-A", &["-A", "-n", nickname, "-t", TRUST_FLAGS, "-i", &file])?;
        }
        Ok(Added {
            database: self.dir.clone(),
            nickname: nickname.to_owned(),
            certificate: certificate.to_owned(),
            fingerprint,
            created_database,
            previous,
        })
    }

    /// Deletes every certificate stored under `nickname`. A missing database or nickname is
    /// not an error: the count is 0.
    ///
    /// # Errors
    /// [`TrustError`]: certutil missing or failing.
    pub fn remove(&self, nickname: &str) -> Result<Removed, TrustError> {
        let count = if self.exists() { self.delete_all(nickname)? } else { 0 };
        Ok(Removed { database: self.dir.clone(), nickname: nickname.to_owned(), count })
    }

    /// The trust flags of `nickname` (`"C,,"`), or `None` when it is absent.
    ///
    /// # Errors
    /// [`TrustError`]: certutil missing or failing.
    pub fn trust_flags(&self, nickname: &str) -> Result<Option<String>, TrustError> {
        if !self.exists() {
            return Ok(None);
        }
        let listing = self.certutil("-L", &["-L"])?;
        Ok(parse_listing(&listing).into_iter().find(|(name, _)| name == nickname).map(|(_, f)| f))
    }

    /// SHA-256 fingerprints of the certificates stored under `nickname` (empty when none).
    ///
    /// # Errors
    /// [`TrustError`]: certutil missing or failing.
    pub fn fingerprints(&self, nickname: &str) -> Result<Vec<String>, TrustError> {
        if self.trust_flags(nickname)?.is_none() {
            return Ok(Vec::new());
        }
        let pem = self.certutil("-L -a", &["-L", "-n", nickname, "-a"])?;
        let ders: Vec<_> =
            CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok).collect();
        Ok(ders.iter().map(|der| fingerprint(der)).collect())
    }

    /// Creates the database (empty password) unless it exists; says whether it did.
    fn create_if_missing(&self) -> Result<bool, TrustError> {
        if self.exists() {
            return Ok(false);
        }
        let io = |source| TrustError::Io { path: self.dir.clone(), source };
        let made = !self.dir.exists();
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        #[cfg(unix)]
        if made {
            // Owner-only, as NSS tools make it; a directory the user made keeps its mode.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
        }
        #[cfg(not(unix))]
        let _ = made;
        self.certutil("-N", &["-N", "--empty-password"])?;
        Ok(true)
    }

    /// Deletes certificates under `nickname` until none is left; returns how many.
    fn delete_all(&self, nickname: &str) -> Result<usize, TrustError> {
        // certutil -D deletes one certificate per call. The bound only guards against a
        // certutil that reports success without deleting.
        let mut count = 0;
        while count < 64 && self.trust_flags(nickname)?.is_some() {
            self.certutil("-D", &["-D", "-n", nickname])?;
            count += 1;
        }
        Ok(count)
    }

    /// Runs `certutil -d sql:<dir> <args>`; returns stdout.
    fn certutil(&self, action: &'static str, args: &[&str]) -> Result<String, TrustError> {
        if cfg!(windows) {
            return Err(TrustError::Unsupported);
        }
        let mut database = std::ffi::OsString::from("sql:");
        database.push(&self.dir);
        let output = Command::new("certutil").arg("-d").arg(database).args(args).output();
        let output = match output {
            Ok(output) => output,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(TrustError::CertutilMissing);
            }
            Err(err) => return Err(TrustError::Spawn(err)),
        };
        check(action, &self.dir, output)
    }
}

/// Trusts the connector's local CA, kept in `ca_dir` (`<data_dir>/tls`), in `db` under
/// [`NICKNAME`]. Creates the CA first when the connector has not run yet, so an installer can
/// trust it before the first start.
///
/// # Errors
/// [`TrustError`].
pub fn trust_local_ca(ca_dir: &Path, db: &NssDb) -> Result<Added, TrustError> {
    let ca = LocalCa::open_or_create(ca_dir)?;
    db.add(&ca.certificate_path(), NICKNAME)
}

/// Removes the connector's CA ([`NICKNAME`]) from `db`.
///
/// # Errors
/// [`TrustError`].
pub fn distrust_local_ca(db: &NssDb) -> Result<Removed, TrustError> {
    db.remove(NICKNAME)
}

/// The NSS databases of the user's browsers: Chromium's and Chrome's shared `~/.pki/nssdb`
/// (created when missing), and each Firefox profile under `~/.mozilla/firefox/` that already
/// has a `cert9.db`.
///
/// # Errors
/// [`TrustError::NoHome`] when no home directory is known, [`TrustError::Unsupported`] on
/// Windows.
pub fn user_databases() -> Result<Vec<NssDb>, TrustError> {
    if cfg!(windows) {
        return Err(TrustError::Unsupported);
    }
    let base = directories::BaseDirs::new().ok_or(TrustError::NoHome)?;
    let mut databases = vec![NssDb::at(base.home_dir().join(".pki").join("nssdb"))];
    if let Ok(profiles) = std::fs::read_dir(base.home_dir().join(".mozilla").join("firefox")) {
        let mut found: Vec<PathBuf> = profiles
            .flatten()
            .map(|entry| entry.path())
            .filter(|dir| dir.join("cert9.db").is_file())
            .collect();
        found.sort();
        databases.extend(found.into_iter().map(NssDb::at));
    }
    Ok(databases)
}

/// Where the CA was added, so that removing it (`t1c trust --remove`, the package's removal)
/// finds every database: `<ca dir>/trusted-in`, one database directory per line.
#[derive(Debug, Clone)]
pub struct TrustRecord {
    path: PathBuf,
}

impl TrustRecord {
    /// The record kept beside the local CA in `ca_dir`.
    pub fn in_dir(ca_dir: &Path) -> Self {
        Self { path: ca_dir.join("trusted-in") }
    }

    /// The databases recorded (none when the record does not exist).
    ///
    /// # Errors
    /// [`TrustError::Io`] when the record exists but cannot be read.
    pub fn databases(&self) -> Result<Vec<PathBuf>, TrustError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                Ok(text.lines().filter(|l| !l.trim().is_empty()).map(PathBuf::from).collect())
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(TrustError::Io { path: self.path.clone(), source }),
        }
    }

    /// Records `database` (once).
    ///
    /// # Errors
    /// [`TrustError::Io`] when the record cannot be read or written.
    pub fn add(&self, database: &Path) -> Result<(), TrustError> {
        let mut databases = self.databases()?;
        if !databases.iter().any(|d| d == database) {
            databases.push(database.to_owned());
            self.write(&databases)?;
        }
        Ok(())
    }

    /// Forgets `database`.
    ///
    /// # Errors
    /// [`TrustError::Io`] when the record cannot be read or written.
    pub fn remove(&self, database: &Path) -> Result<(), TrustError> {
        let mut databases = self.databases()?;
        let before = databases.len();
        databases.retain(|d| d != database);
        if databases.len() != before {
            self.write(&databases)?;
        }
        Ok(())
    }

    fn write(&self, databases: &[PathBuf]) -> Result<(), TrustError> {
        let io = |source| TrustError::Io { path: self.path.clone(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text: String = databases.iter().map(|d| format!("{}\n", d.display())).collect();
        std::fs::write(&self.path, text).map_err(io)
    }
}

impl fmt::Display for Added {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database = self.database.display();
        if self.created_database {
            writeln!(f, "created NSS database sql:{database}")?;
        }
        match self.previous {
            Previous::Absent => write!(f, "added")?,
            Previous::Same => write!(f, "already present; trust set again for")?,
            Previous::Replaced(n) => {
                write!(f, "replaced {n} earlier certificate(s) under the same nickname with")?
            }
        }
        write!(
            f,
            " \"{}\" ({}, SHA-256 {}) in NSS database sql:{database}, trusted to identify \
             web sites ({TRUST_FLAGS})",
            self.nickname,
            self.certificate.display(),
            self.fingerprint,
        )
    }
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database = self.database.display();
        match self.count {
            0 => write!(
                f,
                "\"{}\" was not in NSS database sql:{database}; nothing removed",
                self.nickname
            ),
            n => write!(
                f,
                "removed {n} certificate(s) \"{}\" from NSS database sql:{database}",
                self.nickname
            ),
        }
    }
}

/// SHA-256 of the first certificate in a PEM file.
///
/// # Errors
/// [`TrustError::Io`] or [`TrustError::NoCertificate`].
pub fn fingerprint_of_file(path: &Path) -> Result<String, TrustError> {
    let pem = std::fs::read(path).map_err(|source| TrustError::Io { path: path.into(), source })?;
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| TrustError::NoCertificate { path: path.into() })?;
    Ok(fingerprint(&der))
}

fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let pairs: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    pairs.join(":")
}

fn check(action: &'static str, dir: &Path, output: Output) -> Result<String, TrustError> {
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(TrustError::Certutil {
        action,
        database: dir.to_owned(),
        status: output.status.to_string(),
        message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// `(nickname, trust flags)` of each line of `certutil -L`. The nickname column is padded
/// and may hold spaces; the flags are the last word, three comma-separated fields.
fn parse_listing(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let line = line.trim_end();
            let (name, flags) = line.rsplit_once(char::is_whitespace)?;
            let name = name.trim();
            let fields: Vec<&str> = flags.split(',').collect();
            let is_flags = fields.len() == 3
                && fields.iter().all(|f| f.chars().all(|c| c.is_ascii_alphabetic()));
            (is_flags && !name.is_empty()).then(|| (name.to_owned(), flags.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_lines_give_nickname_and_flags() {
        let listing = "\nCertificate Nickname                                         Trust Attributes\n\
                       \x20                                                            SSL,S/MIME,JAR/XPI\n\n\
                       T1C local CA                                                 C,,  \n\
                       other                                                        CT,C,C\n";
        assert_eq!(
            parse_listing(listing),
            [("T1C local CA".to_owned(), "C,,".to_owned()), ("other".into(), "CT,C,C".into())]
        );
    }

    #[test]
    fn fingerprint_is_colon_separated_uppercase_sha256() {
        let fp = fingerprint(b"abc");
        assert!(fp.starts_with("BA:78:16:BF:"), "{fp}");
        assert_eq!(fp.len(), 32 * 3 - 1);
    }
}
