//! A fresh test PKI per persona, shaped like the real eID hierarchy (CONT18 §5.3.6, §6.2):
//!
//! ```text
//! test root CA ─┬─ test citizen (or foreigner) CA ─┬─ authentication  (card key 82)
//!               │                                  └─ non-repudiation (card key 83)
//!               └─ test RRN (signs the identity and address files)
//! ```
//!
//! RSA-2048 with SHA-256 throughout for applet 1.7, P-384 with SHA-384 for 1.8, where the
//! card also gets a basic key (81) without certificate. Every name says "T1C Test": none of
//! these chains to a real Belgian root.

use der::asn1::{GeneralizedTime, UtcTime};
use der::referenced::OwnedToRef as _;
use der::{Any, DateTime, Encode as _, Tag};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRngCore, OsRng, SeedableRng as _};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::keys::{PrivateKey, PublicKey};
use crate::simulator::belpic::AppletVersion;
use crate::simulator::belpic::error::BelpicError;
use crate::simulator::belpic::persona::{Date, Persona};

const COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SURNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
const GIVEN_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

/// The certificates a card carries, by the file they live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateRole {
    /// Cert#2, `DF00/5038`, key `82`.
    Authentication,
    /// Cert#3, `DF00/5039`, key `83`.
    NonRepudiation,
    /// Cert#4, `DF00/503A`: the citizen CA (foreigner CA for foreigners' cards).
    Ca,
    /// Cert#6, `DF00/503B`: the root.
    Root,
    /// Cert#8, `DF00/503C`: the National Register signer.
    Rrn,
}

/// A persona's test PKI: keys and DER certificates. Generating one takes a while for RSA
/// (five 2048-bit keys), so tests build it once and share it (see [`TestPki::generate`]).
#[derive(Debug, Clone)]
pub struct TestPki {
    version: AppletVersion,
    root: Issued,
    ca: Issued,
    authentication: Issued,
    non_repudiation: Issued,
    rrn: Issued,
    basic: Option<PrivateKey>,
}

/// A key and the certificate issued for it.
#[derive(Debug, Clone)]
struct Issued {
    key: PrivateKey,
    certificate: Vec<u8>,
}

impl CertificateRole {
    /// Every role, in file order (5038 to 503C).
    pub const ALL: [Self; 5] =
        [Self::Authentication, Self::NonRepudiation, Self::Ca, Self::Root, Self::Rrn];

    /// The certificate file's identifier in DF(BELPIC).
    pub fn file_id(self) -> [u8; 2] {
        match self {
            Self::Authentication => [0x50, 0x38],
            Self::NonRepudiation => [0x50, 0x39],
            Self::Ca => [0x50, 0x3A],
            Self::Root => [0x50, 0x3B],
            Self::Rrn => [0x50, 0x3C],
        }
    }
}

impl TestPki {
    /// A fresh PKI for `persona` on a card of `version`, from the operating system's RNG.
    ///
    /// A test binary builds it once:
    ///
    /// ```no_run
    /// # use std::sync::OnceLock;
    /// # use t1c_sdk::simulator::belpic::{AppletVersion, Persona, TestPki};
    /// fn pki() -> &'static TestPki {
    ///     static PKI: OnceLock<TestPki> = OnceLock::new();
    ///     PKI.get_or_init(|| {
    ///         TestPki::generate(&Persona::default_citizen(), AppletVersion::V1_7).expect("PKI")
    ///     })
    /// }
    /// ```
    ///
    /// # Errors
    /// [`BelpicError`] if a key or certificate cannot be made.
    pub fn generate(persona: &Persona, version: AppletVersion) -> Result<Self, BelpicError> {
        Self::generate_with_rng(persona, version, &mut OsRng)
    }

    /// The same PKI every time for the same `seed`, persona and version.
    ///
    /// # Errors
    /// As [`TestPki::generate`].
    pub fn generate_seeded(
        persona: &Persona,
        version: AppletVersion,
        seed: u64,
    ) -> Result<Self, BelpicError> {
        Self::generate_with_rng(persona, version, &mut ChaCha20Rng::seed_from_u64(seed))
    }

    /// A PKI from keys drawn from `rng`.
    ///
    /// # Errors
    /// As [`TestPki::generate`].
    pub fn generate_with_rng(
        persona: &Persona,
        version: AppletVersion,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, BelpicError> {
        persona.validate()?;
        let mut key = || PrivateKey::generate(version, rng);
        let (root_key, ca_key, auth_key, nonrep_key, rrn_key) =
            (key()?, key()?, key()?, key()?, key()?);
        let basic = match version {
            AppletVersion::V1_7 => None,
            AppletVersion::V1_8 => Some(key()?),
        };

        let root_name = name(&[
            (COUNTRY, "BE", Tag::PrintableString),
            (COMMON_NAME, "T1C Test Root CA", Tag::PrintableString),
        ])?;
        let foreigner = persona.document_type.0 >= 11;
        let ca_common_name =
            if foreigner { "T1C Test Foreigner CA" } else { "T1C Test Citizen CA" };
        let ca_name = name(&[
            (COUNTRY, "BE", Tag::PrintableString),
            (ORGANIZATION, "T1C Test Federal Government", Tag::Utf8String),
            (SERIAL_NUMBER, "202601", Tag::PrintableString),
            (COMMON_NAME, ca_common_name, Tag::PrintableString),
        ])?;
        let holder = |usage: &str| {
            name(&[
                (COUNTRY, "BE", Tag::PrintableString),
                (COMMON_NAME, &format!("{} ({usage})", persona.common_name()), Tag::Utf8String),
                (SURNAME, &persona.surname, Tag::Utf8String),
                (GIVEN_NAME, &persona.given_names(), Tag::Utf8String),
                (SERIAL_NUMBER, &persona.national_number, Tag::PrintableString),
            ])
        };
        let rrn_name = name(&[
            (COUNTRY, "BE", Tag::PrintableString),
            (ORGANIZATION, "T1C Test Federal Government", Tag::Utf8String),
            (COMMON_NAME, "T1C Test RRN", Tag::PrintableString),
        ])?;

        let ca_validity = validity(Date::new(2020, 1, 1), Date::new(2045, 1, 1))?;
        let leaf_validity = validity(persona.validity_begin, persona.validity_end)?;
        let mut serial = || serial_number(rng);
        let root = Request {
            subject: root_name.clone(),
            issuer: root_name.clone(),
            validity: ca_validity,
            kind: Kind::Ca { path_len: None },
            serial: serial()?,
        }
        .issue(&root_key, &root_key)?;
        let ca = Request {
            subject: ca_name.clone(),
            issuer: root_name.clone(),
            validity: ca_validity,
            kind: Kind::Ca { path_len: Some(0) },
            serial: serial()?,
        }
        .issue(&ca_key, &root_key)?;
        let leaf = |subject, usage, serial| Request {
            subject,
            issuer: ca_name.clone(),
            validity: leaf_validity,
            kind: Kind::Leaf(usage),
            serial,
        };
        let authentication = leaf(
            holder("Authentication")?,
            KeyUsage(KeyUsages::DigitalSignature.into()),
            serial()?,
        )
        .issue(&auth_key, &ca_key)?;
        let non_repudiation =
            leaf(holder("Signature")?, KeyUsage(KeyUsages::NonRepudiation.into()), serial()?)
                .issue(&nonrep_key, &ca_key)?;
        let rrn = Request {
            subject: rrn_name,
            issuer: root_name,
            validity: ca_validity,
            kind: Kind::Leaf(KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation)),
            serial: serial()?,
        }
        .issue(&rrn_key, &root_key)?;

        Ok(Self {
            version,
            root: Issued { key: root_key, certificate: root },
            ca: Issued { key: ca_key, certificate: ca },
            authentication: Issued { key: auth_key, certificate: authentication },
            non_repudiation: Issued { key: nonrep_key, certificate: non_repudiation },
            rrn: Issued { key: rrn_key, certificate: rrn },
            basic,
        })
    }

    /// A PKI from its keys and certificates, in the order root, CA, authentication,
    /// non-repudiation, RRN (what [`TestPki::from_pem`] read).
    pub(super) fn from_parts(
        version: AppletVersion,
        issued: [(PrivateKey, Vec<u8>); 5],
        basic: Option<PrivateKey>,
    ) -> Self {
        let [root, ca, authentication, non_repudiation, rrn] =
            issued.map(|(key, certificate)| Issued { key, certificate });
        Self { version, root, ca, authentication, non_repudiation, rrn, basic }
    }

    /// The applet version the keys are for.
    pub fn version(&self) -> AppletVersion {
        self.version
    }

    /// The DER certificate of `role`, without the file's zero padding.
    pub fn certificate(&self, role: CertificateRole) -> &[u8] {
        &self.issued(role).certificate
    }

    /// The public key certified for `role`.
    pub fn public_key(&self, role: CertificateRole) -> PublicKey {
        self.issued(role).key.public_key()
    }

    /// The public half of the basic card key `81` (applet 1.8 only; EF(PuK#1) holds it).
    pub fn basic_public_key(&self) -> Option<PublicKey> {
        self.basic.as_ref().map(PrivateKey::public_key)
    }

    /// The private key of `role`: the card's keys 82 and 83, the RRN's signing key.
    pub(crate) fn private_key(&self, role: CertificateRole) -> &PrivateKey {
        &self.issued(role).key
    }

    /// The basic card key `81` (1.8).
    pub(crate) fn basic_key(&self) -> Option<&PrivateKey> {
        self.basic.as_ref()
    }

    fn issued(&self, role: CertificateRole) -> &Issued {
        match role {
            CertificateRole::Authentication => &self.authentication,
            CertificateRole::NonRepudiation => &self.non_repudiation,
            CertificateRole::Ca => &self.ca,
            CertificateRole::Root => &self.root,
            CertificateRole::Rrn => &self.rrn,
        }
    }
}

/// What a certificate is for: a CA (with its path length) or an end entity with key usages.
enum Kind {
    Ca { path_len: Option<u8> },
    Leaf(KeyUsage),
}

/// One certificate to issue.
struct Request {
    subject: Name,
    issuer: Name,
    validity: Validity,
    kind: Kind,
    serial: SerialNumber,
}

impl Request {
    /// The DER certificate of `subject_key`, signed by `issuer_key`.
    fn issue(
        self,
        subject_key: &PrivateKey,
        issuer_key: &PrivateKey,
    ) -> Result<Vec<u8>, BelpicError> {
        let spki = spki_of(&subject_key.public_key())?;
        let issuer_spki = spki_of(&issuer_key.public_key())?;
        match issuer_key {
            PrivateKey::Rsa(key) => {
                let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
                let builder = self.builder(&signer, spki, &issuer_spki)?;
                finish(builder.build::<rsa::pkcs1v15::Signature>())
            }
            PrivateKey::Ec(key) => {
                let builder = self.builder(key, spki, &issuer_spki)?;
                finish(builder.build::<p384::ecdsa::DerSignature>())
            }
        }
    }

    fn builder<'s, S>(
        self,
        signer: &'s S,
        spki: SubjectPublicKeyInfoOwned,
        issuer_spki: &SubjectPublicKeyInfoOwned,
    ) -> Result<CertificateBuilder<'s, S>, BelpicError>
    where
        S: rsa::signature::Keypair + spki::DynSignatureAlgorithmIdentifier,
        S::VerifyingKey: spki::EncodePublicKey,
    {
        let self_signed = self.subject == self.issuer;
        let subject_key_id = SubjectKeyIdentifier::try_from(spki.owned_to_ref()).map_err(cert)?;
        let authority_key_id =
            AuthorityKeyIdentifier::try_from(issuer_spki.owned_to_ref()).map_err(cert)?;
        let profile = Profile::Manual { issuer: (!self_signed).then_some(self.issuer) };
        let mut builder = CertificateBuilder::new(
            profile,
            self.serial,
            self.validity,
            self.subject,
            spki,
            signer,
        )
        .map_err(cert)?;
        match self.kind {
            Kind::Ca { path_len } => {
                builder
                    .add_extension(&BasicConstraints { ca: true, path_len_constraint: path_len })
                    .map_err(cert)?;
                builder
                    .add_extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))
                    .map_err(cert)?;
                builder.add_extension(&subject_key_id).map_err(cert)?;
            }
            Kind::Leaf(usages) => {
                builder.add_extension(&usages).map_err(cert)?;
            }
        }
        if !self_signed {
            builder.add_extension(&authority_key_id).map_err(cert)?;
        }
        Ok(builder)
    }
}

fn finish(
    built: Result<x509_cert::Certificate, x509_cert::builder::Error>,
) -> Result<Vec<u8>, BelpicError> {
    built.map_err(cert)?.to_der().map_err(cert)
}

fn cert(err: impl std::fmt::Display) -> BelpicError {
    BelpicError::Certificate(err.to_string())
}

fn spki_of(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned, BelpicError> {
    use der::Decode as _;
    SubjectPublicKeyInfoOwned::from_der(&key.to_spki_der()?).map_err(cert)
}

/// A name from (attribute, value, string type) triples, one RDN each, in this order.
fn name(attributes: &[(ObjectIdentifier, &str, Tag)]) -> Result<Name, BelpicError> {
    let mut rdns = Vec::with_capacity(attributes.len());
    for &(oid, value, tag) in attributes {
        let value = Any::new(tag, value.as_bytes()).map_err(cert)?;
        let attribute = AttributeTypeAndValue { oid, value };
        let rdn = RelativeDistinguishedName::try_from(vec![attribute]).map_err(cert)?;
        rdns.push(rdn);
    }
    Ok(RdnSequence(rdns))
}

fn validity(from: Date, to: Date) -> Result<Validity, BelpicError> {
    Ok(Validity { not_before: time(from)?, not_after: time(to)? })
}

/// UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5).
fn time(date: Date) -> Result<Time, BelpicError> {
    let at = DateTime::new(date.year, date.month, date.day, 0, 0, 0).map_err(cert)?;
    if date.year < 2050 {
        Ok(Time::UtcTime(UtcTime::from_date_time(at).map_err(cert)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(at)))
    }
}

/// A random positive 16-byte serial number.
fn serial_number(rng: &mut impl CryptoRngCore) -> Result<SerialNumber, BelpicError> {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7F) | 0x10;
    SerialNumber::new(&bytes).map_err(cert)
}
