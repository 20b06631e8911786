//! Every reason a bundle, a key or a signature is refused.

use std::path::PathBuf;

use crate::{Digest, KeyId};

/// Why a bundle (or a key, or a trust list) was refused. Each variant is one reason; the
/// message says precisely what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle file is larger than [`limits::BUNDLE`](crate::limits::BUNDLE).
    #[error("the bundle is {size} bytes, over the {limit}-byte limit")]
    BundleTooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a readable zip archive: truncated, garbage, or a broken structure.
    #[error("not a valid zip archive (truncated or corrupt): {reason}")]
    NotAZip {
        /// What the zip reader found.
        reason: String,
    },
    /// An entry's data is corrupt (bad CRC, broken deflate stream, truncated data).
    #[error("entry `{name}` is corrupt: {reason}")]
    CorruptEntry {
        /// The entry.
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// An entry name escapes the archive: `..` components, an absolute path or a drive prefix
    /// (zip slip).
    #[error("entry name `{name}` is unsafe: {reason}")]
    UnsafePath {
        /// The entry name, lossily decoded.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// Two entries have the same name.
    #[error("the archive has duplicate entries (two entries with the same name)")]
    DuplicateEntry,
    /// An entry other than `manifest.toml`, `module.wasm` and `signature.toml`.
    #[error(
        "unexpected entry `{name}`: a bundle holds only manifest.toml, module.wasm and \
         signature.toml"
    )]
    UnexpectedEntry {
        /// The entry name, lossily decoded.
        name: String,
    },
    /// A required entry is absent.
    #[error("the bundle has no `{name}` entry")]
    MissingEntry {
        /// The missing entry.
        name: &'static str,
    },
    /// An entry is a directory or a symbolic link rather than a regular file.
    #[error("entry `{name}` is a {kind}, not a regular file")]
    NotARegularFile {
        /// The entry.
        name: String,
        /// `directory` or `symbolic link`.
        kind: &'static str,
    },
    /// An entry is encrypted.
    #[error("entry `{name}` is encrypted; bundles are never encrypted")]
    EncryptedEntry {
        /// The entry.
        name: String,
    },
    /// An entry uses a compression method other than stored or deflate.
    #[error("entry `{name}` uses compression method {method}; only stored and deflate are allowed")]
    UnsupportedCompression {
        /// The entry.
        name: String,
        /// The zip method, as the zip reader names it.
        method: String,
    },
    /// An entry inflates past its size limit.
    #[error("entry `{name}` is larger than its {limit}-byte limit when uncompressed")]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// An entry inflates more than [`limits::RATIO`](crate::limits::RATIO) times its compressed
    /// size (a zip bomb).
    #[error(
        "entry `{name}` inflates more than {limit}:1 ({compressed} compressed bytes gave over \
         {inflated}); refused as a zip bomb"
    )]
    CompressionRatio {
        /// The entry.
        name: String,
        /// Its compressed size.
        compressed: u64,
        /// Bytes inflated when the ratio was exceeded.
        inflated: u64,
        /// The ratio limit.
        limit: u64,
    },
    /// `manifest.toml` is not UTF-8, not TOML, or has missing, unknown or mistyped fields.
    #[error("manifest.toml is malformed: {0}")]
    ManifestMalformed(String),
    /// A manifest field has an invalid value.
    #[error("manifest.toml field `{field}` is invalid: {reason}")]
    ManifestInvalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `module.wasm` is not a WebAssembly component.
    #[error("module.wasm is not a WebAssembly component: {reason}")]
    NotAComponent {
        /// What the header shows instead.
        reason: String,
    },
    /// The bundle has no `signature.toml`.
    #[error("the bundle is not signed (no signature.toml); sign it with a trusted key")]
    SignatureMissing,
    /// `signature.toml` is unreadable, or names an unknown format or algorithm.
    #[error("signature.toml is malformed: {0}")]
    SignatureMalformed(String),
    /// The signing key is not in the trust store.
    #[error("the bundle is signed by key {key_id}, which is not trusted")]
    UntrustedKey {
        /// The signer's key id.
        key_id: KeyId,
    },
    /// The manifest or the component changed after signing.
    #[error(
        "the bundle was tampered with: the manifest or the module changed after signing \
         (signed digest {signed}, actual digest {actual})"
    )]
    DigestMismatch {
        /// The digest named in the signature file.
        signed: Digest,
        /// The digest of the bundle's contents.
        actual: Digest,
    },
    /// The signature does not verify with the trusted key of that id.
    #[error(
        "the signature does not verify with trusted key {key_id}: the bundle or its signature \
         was tampered with"
    )]
    SignatureMismatch {
        /// The key it was checked with.
        key_id: KeyId,
    },
    /// A key (public key line or PEM secret key) could not be parsed.
    #[error("malformed key: {0}")]
    KeyMalformed(String),
    /// Reading or writing a key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
