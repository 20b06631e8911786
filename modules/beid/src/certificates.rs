//! The five certificates of the card (DF(BELPIC) `5038`..`503C`), by their T1C role, and
//! their JSON form (the T1C ≥ 3.6 shape).
//!
//! Certificate files are a DER certificate followed by zero padding, or only zeros when the
//! card has no such certificate (Kids-ID cards have no authentication and non-repudiation
//! certificates); the padding is never read (see [`crate::files`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use t1c_sdk::{CertificateKind, Result};

use crate::files::{CardSession, File};
use crate::x509::CertificateFields;

/// A certificate's role, as T1C names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The root CA (`503B`): `rootCertificate`.
    Root,
    /// The citizen or foreigner CA (`503A`): `intermediateCertificates`.
    Intermediate,
    /// The authentication certificate (`5038`): `authenticationCertificate`.
    Authentication,
    /// The non-repudiation certificate (`5039`): `nonRepudiationCertificate`.
    NonRepudiation,
    /// The National Register's certificate (`503C`): `encryptionCertificate`, as T1C v2
    /// called it.
    Encryption,
}

impl Role {
    /// Every role, in the order of the `cert-list` response.
    pub const ALL: [Self; 5] = [
        Self::Authentication,
        Self::Intermediate,
        Self::NonRepudiation,
        Self::Root,
        Self::Encryption,
    ];

    /// The file holding the certificate.
    pub fn file(self) -> File {
        match self {
            Self::Root => File::RootCertificate,
            Self::Intermediate => File::CaCertificate,
            Self::Authentication => File::AuthenticationCertificate,
            Self::NonRepudiation => File::NonRepudiationCertificate,
            Self::Encryption => File::RrnCertificate,
        }
    }

    /// The role of a token certificate kind; `None` for kinds the card has not.
    pub fn from_kind(kind: CertificateKind) -> Option<Self> {
        match kind {
            CertificateKind::Root => Some(Self::Root),
            CertificateKind::Intermediate => Some(Self::Intermediate),
            CertificateKind::Authentication => Some(Self::Authentication),
            CertificateKind::NonRepudiation => Some(Self::NonRepudiation),
            CertificateKind::Encryption => Some(Self::Encryption),
            _ => None,
        }
    }

    /// The token certificate kind of this role.
    pub fn kind(self) -> CertificateKind {
        match self {
            Self::Root => CertificateKind::Root,
            Self::Intermediate => CertificateKind::Intermediate,
            Self::Authentication => CertificateKind::Authentication,
            Self::NonRepudiation => CertificateKind::NonRepudiation,
            Self::Encryption => CertificateKind::Encryption,
        }
    }
}

/// The DER certificate of `role`, or `None` when its file holds none.
///
/// # Errors
/// The errors of [`CardSession::file`].
pub fn read(session: &mut CardSession<'_>, role: Role) -> Result<Option<Vec<u8>>> {
    let file = session.file(role.file())?;
    Ok(if file.first().is_none_or(|b| *b == 0) { None } else { Some(file) })
}

/// `{"certificates": [...]}`: the response of one certificate operation and one entry of
/// `cert-list`. Empty when the card has no certificate of the role.
#[derive(Debug, Serialize)]
pub struct Certificates {
    /// Zero or one certificate.
    pub certificates: Vec<CertificateJson>,
}

/// One certificate in the T1C ≥ 3.6 shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateJson {
    /// Base64 of the DER certificate (without the file's padding).
    pub certificate: String,
    /// The role: `root`, `intermediate`, `authentication`, `nonRepudiation`, `encryption`.
    pub certificate_type: &'static str,
    /// The certificate file's identifier on the card, hex (`5038` ... `503C`).
    pub id: String,
    /// Subject DN, RFC 4514 style.
    pub subject: String,
    /// Issuer DN, RFC 4514 style.
    pub issuer: String,
    /// Serial number, upper-case hex.
    pub serial_number: String,
}

/// The JSON entry of `role`'s certificate, read from the card.
///
/// # Errors
/// The errors of [`CardSession::file`]; [`t1c_sdk::Error::Internal`] for a certificate that
/// does not parse.
pub fn to_json(session: &mut CardSession<'_>, role: Role) -> Result<Certificates> {
    let Some(der) = read(session, role)? else {
        return Ok(Certificates { certificates: Vec::new() });
    };
    let fields = CertificateFields::parse(&der)?;
    Ok(Certificates {
        certificates: vec![CertificateJson {
            certificate: BASE64.encode(&der),
            certificate_type: role.kind().certificate_type(),
            id: role.file().id(),
            subject: fields.subject,
            issuer: fields.issuer,
            serial_number: fields.serial_number,
        }],
    })
}
