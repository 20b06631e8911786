//! What a module is and does: its [`Manifest`] and the [`Module`], [`Token`] and [`Extension`]
//! traits a module implements. The [`export_module!`](crate::export_module) macro turns an
//! implementation into the component's exports.
//!
//! These are plain Rust types, so module logic compiles and is unit-tested natively; the guest
//! glue converts them to and from the contract's types.

use crate::card::Card;
use crate::error::{Error, Result};
use crate::pin::Pin;

/// The version of the WIT contract (`t1c:card`) this SDK implements.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Implemented by every module: who it is and what it needs.
pub trait Module {
    /// The module's manifest. Must be cheap and must not touch any device.
    fn manifest() -> Manifest;
}

/// The PKI operations of a token. Every method defaults to [`Error::NotSupported`], so a module
/// implements what its cards can do.
pub trait Token {
    /// Facts about the token.
    ///
    /// # Errors
    /// Any [`Error`]; by default [`Error::NotSupported`].
    fn info(device: Device<'_>) -> Result<TokenInfo> {
        let _ = device;
        Err(Error::not_supported("token info"))
    }

    /// The certificates of the given kinds (all when `kinds` is empty).
    ///
    /// # Errors
    /// Any [`Error`]; by default [`Error::NotSupported`].
    fn certificates(device: Device<'_>, kinds: &[CertificateKind]) -> Result<Vec<Certificate>> {
        let _ = (device, kinds);
        Err(Error::not_supported("certificates"))
    }

    /// Verifies the PIN (`None`: on the reader's keypad).
    ///
    /// # Errors
    /// [`Error::PinWrong`], [`Error::PinBlocked`], ...; by default [`Error::NotSupported`].
    fn verify_pin(device: Device<'_>, pin: Option<&Pin<'_>>) -> Result<()> {
        let _ = (device, pin);
        Err(Error::not_supported("PIN verification"))
    }

    /// A non-repudiation signature.
    ///
    /// # Errors
    /// Any [`Error`]; by default [`Error::NotSupported`].
    fn sign(device: Device<'_>, request: &SignRequest, pin: Option<&Pin<'_>>) -> Result<Vec<u8>> {
        let _ = (device, request, pin);
        Err(Error::not_supported("signing"))
    }

    /// A signature with the authentication key.
    ///
    /// # Errors
    /// Any [`Error`]; by default [`Error::NotSupported`].
    fn authenticate(
        device: Device<'_>,
        request: &SignRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<Vec<u8>> {
        let _ = (device, request, pin);
        Err(Error::not_supported("authentication"))
    }

    /// The digest algorithms the token signs.
    ///
    /// # Errors
    /// Any [`Error`]; by default [`Error::NotSupported`].
    fn supported_algorithms(device: Device<'_>) -> Result<Vec<HashAlgorithm>> {
        let _ = device;
        Err(Error::not_supported("supported algorithms"))
    }
}

/// Module-specific operations, declared in [`Manifest::operations`].
pub trait Extension {
    /// Runs `operation` with a JSON `request`, returning JSON.
    ///
    /// # Errors
    /// Any [`Error`]; by default [`Error::NotSupported`].
    fn invoke(device: Option<Device<'_>>, operation: &str, request: &str) -> Result<String> {
        let _ = (device, request);
        Err(Error::NotSupported(format!("operation `{operation}`")))
    }
}

/// The device an operation runs on.
#[non_exhaustive]
pub enum Device<'a> {
    /// A card in a PC/SC reader (or an in-process card in tests).
    Card(&'a mut dyn Card),
    /// A PKCS#11 slot (the host's, or an in-memory token in tests).
    Slot(&'a dyn crate::pkcs11::Slot),
}

impl<'a> Device<'a> {
    /// The card, or [`Error::NotSupported`] when the device is not a card.
    ///
    /// # Errors
    /// [`Error::NotSupported`] for a non-card device.
    pub fn card(self) -> Result<&'a mut dyn Card> {
        match self {
            Device::Card(card) => Ok(card),
            Device::Slot(_) => Err(Error::not_supported("this module works with PC/SC cards only")),
        }
    }

    /// The PKCS#11 slot, or [`Error::NotSupported`] when the device is not a slot.
    ///
    /// # Errors
    /// [`Error::NotSupported`] for a card.
    pub fn slot(self) -> Result<&'a dyn crate::pkcs11::Slot> {
        match self {
            Device::Slot(slot) => Ok(slot),
            Device::Card(_) => {
                Err(Error::not_supported("this module works with PKCS#11 tokens only"))
            }
        }
    }
}

/// A module's identity and needs. [`Manifest::new`] fills the contract version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Manifest {
    /// Name used in API paths; lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// The module's version (semver).
    pub version: String,
    /// The contract version it was built against (semver).
    pub contract: String,
    /// One line on what it supports.
    pub description: String,
    /// Host capabilities it uses.
    pub capabilities: Vec<Capability>,
    /// Cards it claims.
    pub atrs: Vec<AtrPattern>,
    /// Whether it implements [`Token`].
    pub token: bool,
    /// Module-specific operations.
    pub operations: Vec<Operation>,
}

impl Manifest {
    /// A manifest for this SDK's contract version, with no capabilities, cards or operations.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            contract: CONTRACT_VERSION.to_owned(),
            description: description.into(),
            capabilities: Vec::new(),
            atrs: Vec::new(),
            token: false,
            operations: Vec::new(),
        }
    }

    /// Adds a capability.
    #[must_use]
    pub fn with_capability(mut self, capability: Capability) -> Self {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }

    /// Adds an ATR pattern.
    #[must_use]
    pub fn with_atr(mut self, pattern: AtrPattern) -> Self {
        self.atrs.push(pattern);
        self
    }

    /// Declares that the module implements [`Token`].
    #[must_use]
    pub fn with_token(mut self) -> Self {
        self.token = true;
        self
    }

    /// Adds an extension operation.
    #[must_use]
    pub fn with_operation(mut self, operation: Operation) -> Self {
        self.operations.push(operation);
        self
    }

    /// Checks the fields a host relies on: the name's and operations' characters, the
    /// versions' syntax, the ATR patterns' shape and unique operation names.
    ///
    /// # Errors
    /// [`ManifestError`] naming the first problem found.
    pub fn validate(&self) -> std::result::Result<(), ManifestError> {
        if !is_identifier(&self.name) {
            return Err(ManifestError::InvalidName(self.name.clone()));
        }
        if !is_semver(&self.version) {
            return Err(ManifestError::InvalidVersion(self.version.clone()));
        }
        if !is_semver(&self.contract) {
            return Err(ManifestError::InvalidVersion(self.contract.clone()));
        }
        for pattern in &self.atrs {
            if pattern.value.is_empty() || pattern.value.len() != pattern.mask.len() {
                return Err(ManifestError::InvalidAtrPattern);
            }
        }
        for (i, operation) in self.operations.iter().enumerate() {
            if !is_identifier(&operation.name) {
                return Err(ManifestError::InvalidOperation(operation.name.clone()));
            }
            if self.operations[..i].iter().any(|o| o.name == operation.name) {
                return Err(ManifestError::DuplicateOperation(operation.name.clone()));
            }
        }
        Ok(())
    }
}

/// What is wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The module name is empty, too long or has characters other than `a-z 0-9 - _`.
    #[error("invalid module name `{0}`: use 1-64 of a-z, 0-9, '-' and '_'")]
    InvalidName(String),
    /// A version is not `major.minor.patch`.
    #[error("invalid version `{0}`: expected semver major.minor.patch")]
    InvalidVersion(String),
    /// An ATR pattern is empty or its mask differs in length from its value.
    #[error("invalid ATR pattern: value and mask must be non-empty and of equal length")]
    InvalidAtrPattern,
    /// An operation name has characters other than `a-z 0-9 - _`.
    #[error("invalid operation name `{0}`: use 1-64 of a-z, 0-9, '-' and '_'")]
    InvalidOperation(String),
    /// Two operations have the same name.
    #[error("operation `{0}` is declared twice")]
    DuplicateOperation(String),
    /// An ATR pattern written as text does not parse.
    #[error("invalid ATR pattern `{text}`: {reason}")]
    InvalidAtrText {
        /// The text (at most 80 characters of it).
        text: String,
        /// What is wrong.
        reason: String,
    },
}

/// Host capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Capability {
    /// APDUs to a PC/SC card.
    Reader,
    /// PKCS#11 slots and sessions.
    Pkcs11,
    /// User-mapped directories.
    Files,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 3] = [Capability::Reader, Capability::Pkcs11, Capability::Files];

    /// The name used in manifests and configuration (`reader`, `pkcs11`, `files`), which is
    /// also the name of the WIT interface that provides it.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Reader => "reader",
            Capability::Pkcs11 => "pkcs11",
            Capability::Files => "files",
        }
    }

    /// The capability called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An ATR value with a mask: a card matches when `atr & mask == value & mask`, byte by byte,
/// and the lengths are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AtrPattern {
    /// Expected bytes.
    pub value: Vec<u8>,
    /// Bits that must match.
    pub mask: Vec<u8>,
}

impl AtrPattern {
    /// A pattern with an explicit mask.
    pub fn new(value: impl Into<Vec<u8>>, mask: impl Into<Vec<u8>>) -> Self {
        Self { value: value.into(), mask: mask.into() }
    }

    /// A pattern matching exactly `value`.
    pub fn exact(value: impl Into<Vec<u8>>) -> Self {
        let value = value.into();
        let mask = vec![0xFF; value.len()];
        Self { value, mask }
    }

    /// Whether `atr` matches.
    pub fn matches(&self, atr: &[u8]) -> bool {
        atr.len() == self.value.len()
            && self.mask.len() == self.value.len()
            && atr.iter().zip(&self.value).zip(&self.mask).all(|((a, v), m)| a & m == v & m)
    }
}

impl std::str::FromStr for AtrPattern {
    type Err = ManifestError;

    /// Parses `<value hex>` (mask all ones) or `<value hex>/<mask hex>`, as bundle manifests
    /// and configuration write patterns: both 1 to [`AtrPattern::MAX_LEN`] bytes, of equal
    /// length, hex in either case.
    fn from_str(text: &str) -> std::result::Result<Self, ManifestError> {
        let invalid = |reason: &str| ManifestError::InvalidAtrText {
            text: text.chars().take(80).collect(),
            reason: reason.to_owned(),
        };
        let (value, mask) = match text.split_once('/') {
            Some((value, mask)) => (value, Some(mask)),
            None => (text, None),
        };
        let value = parse_hex(value).ok_or_else(|| invalid("the value is not hex"))?;
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(invalid("the value must be 1 to 33 bytes"));
        }
        let mask = match mask {
            Some(mask) => parse_hex(mask).ok_or_else(|| invalid("the mask is not hex"))?,
            None => vec![0xFF; value.len()],
        };
        if mask.len() != value.len() {
            return Err(invalid("mask and value differ in length"));
        }
        Ok(Self { value, mask })
    }
}

impl std::fmt::Display for AtrPattern {
    /// `<value hex>/<mask hex>`, lowercase: the form [`str::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in &self.value {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("/")?;
        for byte in &self.mask {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl AtrPattern {
    /// Longest ATR (ISO 7816-3: TS plus at most 32 bytes).
    pub const MAX_LEN: usize = 33;
}

/// A module's name: 1 to 64 of `a-z`, `0-9`, `-` and `_`, so it is safe in API paths, file
/// names and logs. The same rule names operations ([`is_identifier`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleName(String);

impl ModuleName {
    /// The name, when it follows the rule.
    ///
    /// # Errors
    /// [`ManifestError::InvalidName`] otherwise.
    pub fn new(name: impl Into<String>) -> std::result::Result<Self, ManifestError> {
        let name = name.into();
        if is_identifier(&name) { Ok(Self(name)) } else { Err(ManifestError::InvalidName(name)) }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ModuleName {
    type Err = ManifestError;

    fn from_str(name: &str) -> std::result::Result<Self, ManifestError> {
        Self::new(name)
    }
}

impl std::fmt::Display for ModuleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ModuleName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ModuleName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ModuleName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ModuleName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<ModuleName> for String {
    fn from(name: ModuleName) -> String {
        name.0
    }
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// HTTP methods an operation is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

/// What an operation runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum DeviceKind {
    /// A PC/SC card.
    Card,
    /// A PKCS#11 slot.
    Slot,
    /// Nothing.
    None,
}

/// A module-specific operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Operation {
    /// Path segment; `a-z 0-9 - _`.
    pub name: String,
    /// HTTP method.
    pub method: HttpMethod,
    /// Transaction use case counted for each success.
    pub use_case: String,
    /// What it runs on.
    pub device: DeviceKind,
    /// One line for the API documentation.
    pub description: String,
}

impl Operation {
    /// An operation.
    pub fn new(
        name: impl Into<String>,
        method: HttpMethod,
        device: DeviceKind,
        use_case: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            method,
            use_case: use_case.into(),
            device,
            description: description.into(),
        }
    }
}

/// Digest algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1 (legacy cards only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Length of a digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

/// General facts about a token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenInfo {
    /// Serial number.
    pub serial_number: String,
    /// Human label.
    pub label: String,
    /// Applet or firmware version.
    pub version: String,
    /// Module-specific details, a JSON object.
    pub details: String,
}

/// Roles of certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateKind {
    /// Root CA.
    Root,
    /// Intermediate CA.
    Intermediate,
    /// Authentication.
    Authentication,
    /// Non-repudiation (qualified signature).
    NonRepudiation,
    /// Encryption (for the Belgian eID: the RRN certificate).
    Encryption,
    /// Issuer.
    Issuer,
}

impl CertificateKind {
    /// The key of this role in a T1C `cert-list` answer and its `filter` parameter.
    pub fn list_key(self) -> &'static str {
        match self {
            Self::Root => "rootCertificate",
            Self::Intermediate => "intermediateCertificates",
            Self::Authentication => "authenticationCertificate",
            Self::NonRepudiation => "nonRepudiationCertificate",
            Self::Encryption => "encryptionCertificate",
            Self::Issuer => "issuerCertificate",
        }
    }

    /// The `certificateType` of a T1C certificate entry of this role.
    pub fn certificate_type(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Intermediate => "intermediate",
            Self::Authentication => "authentication",
            Self::NonRepudiation => "nonRepudiation",
            Self::Encryption => "encryption",
            Self::Issuer => "issuer",
        }
    }
}

/// A certificate read from a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Its role.
    pub kind: CertificateKind,
    /// The token's id for it.
    pub id: String,
    /// DER bytes.
    pub der: Vec<u8>,
}

/// What to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// Digest algorithm.
    pub algorithm: HashAlgorithm,
    /// The digest, or the raw data when `raw`.
    pub data: Vec<u8>,
    /// `data` must be hashed first.
    pub raw: bool,
    /// Which key, when several have the same role.
    pub key_id: Option<String>,
    /// The padding of an RSA signature (contract 0.2.0).
    pub padding: Padding,
}

/// The padding of an RSA signature (the contract's `token.padding`, since 0.2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Padding {
    /// RSASSA-PKCS1-v1_5 on RSA keys, ECDSA on EC keys: what T1C's `sha256` and the like
    /// have always meant, and the only scheme of contract 0.1.0.
    #[default]
    Pkcs1V15,
    /// RSASSA-PSS with MGF1 over the request's digest algorithm and a salt as long as that
    /// digest. A module refuses it with [`Error::NotSupported`] for EC keys and for cards or
    /// tokens without PSS.
    Pss,
}

/// Reads a T1C signature algorithm name: `sha1`, `sha256`, `sha384` or `sha512` (PKCS#1 v1.5
/// on RSA keys, ECDSA on EC keys, as T1C has always meant them), or one of them with `-pss`
/// (`sha256-pss`: RSA-PSS, MGF1 over the same digest, salt as long as the digest; `PS256` in
/// JOSE terms). Case-insensitive; `_` is accepted for `-`, and `sha-256` for `sha256`. `None`
/// for anything else.
pub fn parse_algorithm(name: &str) -> Option<(HashAlgorithm, Padding)> {
    let lower = name.trim().to_ascii_lowercase().replace('_', "-");
    let (hash, padding) = match lower.strip_suffix("-pss") {
        Some(hash) => (hash, Padding::Pss),
        None => (lower.as_str(), Padding::Pkcs1V15),
    };
    let hash = match hash {
        "sha1" | "sha-1" => HashAlgorithm::Sha1,
        "sha256" | "sha-256" => HashAlgorithm::Sha256,
        "sha384" | "sha-384" => HashAlgorithm::Sha384,
        "sha512" | "sha-512" => HashAlgorithm::Sha512,
        _ => return None,
    };
    Some((hash, padding))
}

/// Whether `s` is 1 to 64 of `a-z`, `0-9`, `-` and `_`: the rule of module and operation names,
/// and of capability names in bundle manifests.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_pattern_matches_under_mask() {
        let pattern = AtrPattern::new([0x3B, 0x98, 0x00, 0x40], [0xFF, 0xFF, 0x00, 0xFF]);
        assert!(pattern.matches(&[0x3B, 0x98, 0x13, 0x40]));
        assert!(!pattern.matches(&[0x3B, 0x98, 0x13, 0x41]));
    }

    #[test]
    fn atr_pattern_needs_equal_length() {
        let pattern = AtrPattern::exact([0x3B, 0x98]);
        assert!(!pattern.matches(&[0x3B, 0x98, 0x00]));
        assert!(!pattern.matches(&[0x3B]));
    }

    #[test]
    fn manifest_validation_names_the_problem() {
        let ok = Manifest::new("beid", "1.0.0", "Belgian eID");
        assert_eq!(ok.validate(), Ok(()));
        let bad_name = Manifest::new("BeID", "1.0.0", "");
        assert!(matches!(bad_name.validate(), Err(ManifestError::InvalidName(_))));
        let bad_version = Manifest::new("beid", "1.0", "");
        assert!(matches!(bad_version.validate(), Err(ManifestError::InvalidVersion(_))));
        let bad_atr = ok.clone().with_atr(AtrPattern::new([1, 2], [0xFF]));
        assert_eq!(bad_atr.validate(), Err(ManifestError::InvalidAtrPattern));
        let op = Operation::new("biometric", HttpMethod::Get, DeviceKind::Card, "read", "");
        let dup = ok.with_operation(op.clone()).with_operation(op);
        assert!(matches!(dup.validate(), Err(ManifestError::DuplicateOperation(_))));
    }

    #[test]
    fn atr_patterns_parse_with_and_without_mask_and_print_back() {
        let exact: AtrPattern = "3B98".parse().unwrap();
        assert_eq!(exact, AtrPattern::new([0x3b, 0x98], [0xff, 0xff]));
        let masked: AtrPattern = "3b98/FF00".parse().unwrap();
        assert_eq!(masked, AtrPattern::new([0x3b, 0x98], [0xff, 0]));
        assert_eq!(masked.to_string(), "3b98/ff00");
        assert_eq!(masked.to_string().parse::<AtrPattern>().unwrap(), masked);
        for bad in ["3b98/ff", "zz", "", "3b9", "é", &"00".repeat(34)] {
            assert!(
                matches!(bad.parse::<AtrPattern>(), Err(ManifestError::InvalidAtrText { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn module_names_follow_the_identifier_rule() {
        assert_eq!(ModuleName::new("beid").unwrap(), "beid");
        for bad in ["", "Beid", "be id", "../x", &"a".repeat(65)] {
            assert!(matches!(ModuleName::new(bad), Err(ManifestError::InvalidName(_))), "{bad}");
        }
    }

    #[test]
    fn algorithm_names_give_digest_and_padding() {
        let pss = |hash| Some((hash, Padding::Pss));
        assert_eq!(parse_algorithm("sha256"), Some((HashAlgorithm::Sha256, Padding::Pkcs1V15)));
        assert_eq!(parse_algorithm("SHA-384"), Some((HashAlgorithm::Sha384, Padding::Pkcs1V15)));
        assert_eq!(parse_algorithm("sha256-pss"), pss(HashAlgorithm::Sha256));
        assert_eq!(parse_algorithm("SHA512_PSS"), pss(HashAlgorithm::Sha512));
        assert_eq!(parse_algorithm(" sha1-pss "), pss(HashAlgorithm::Sha1));
        for bad in ["", "md5", "pss", "-pss", "sha256-pss-pss", "sha3-256", "sha256pss"] {
            assert_eq!(parse_algorithm(bad), None, "{bad}");
        }
    }

    #[test]
    fn semver_accepts_prerelease_and_rejects_leading_zeros() {
        assert!(is_semver("1.2.3-beta.1+build"));
        assert!(!is_semver("01.2.3"));
        assert!(!is_semver("1.2.x"));
    }
}
