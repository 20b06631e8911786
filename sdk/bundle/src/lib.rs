//! Signed T1C module bundles: the one reader, writer and verifier of the format described in
//! `FORMAT.md` next to this crate. The connector, the module-author CLI and the Distribution
//! Service all go through this crate, so there is one parser.
//!
//! A bundle is a zip holding exactly `manifest.toml`, `module.wasm` and, once signed,
//! `signature.toml`: a detached Ed25519 signature over a [`Digest`] of the manifest and the wasm.
//!
//! This crate decides everything that can be decided from the bytes: zip structure and limits,
//! the manifest's syntax, the wasm's component header, the signature and the signer's trust. It
//! does not load the component: whether it exports the contract, and whether the configuration
//! allows its capabilities, is for the host's runtime.
//!
//! ```
//! use t1c_bundle::{Bundle, BundleManifest, Capability, ModuleName, SigningKey, TrustStore};
//!
//! let manifest = BundleManifest {
//!     name: ModuleName::new("hello")?,
//!     version: semver::Version::new(0, 1, 0),
//!     contract: semver::Version::new(0, 1, 0),
//!     description: "Example module".into(),
//!     capabilities: vec![Capability::Reader],
//!     atrs: vec!["3b98/ffff".parse()?],
//! };
//! // The smallest component header: magic, version 0x0d, layer 1.
//! let wasm = b"\0asm\x0d\x00\x01\x00";
//! let key = SigningKey::generate();
//! let signed = t1c_bundle::sign(&t1c_bundle::pack(&manifest, wasm)?, &key)?;
//!
//! let mut trust = TrustStore::new();
//! trust.add(key.public_key());
//! let verified = Bundle::read(&signed)?.verify(&trust)?;
//! assert_eq!(verified.manifest().name, "hello");
//! assert_eq!(verified.signer(), &key.public_key().id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod archive;
mod digest;
mod error;
mod keys;
mod manifest;
mod signature;
mod wasm;

pub use digest::{Digest, DigestParseError};
pub use error::BundleError;
pub use keys::{KeyId, PublicKey, SigningKey, TrustStore};
pub use manifest::BundleManifest;
/// The SDK's types a manifest is made of, so users of this crate need not depend on the SDK.
pub use t1c_sdk::{AtrPattern, Capability, ModuleName};

use tracing::debug;

use signature::SignatureFile;

/// Entry name of the manifest.
pub const MANIFEST_ENTRY: &str = "manifest.toml";
/// Entry name of the component.
pub const WASM_ENTRY: &str = "module.wasm";
/// Entry name of the detached signature.
pub const SIGNATURE_ENTRY: &str = "signature.toml";
/// The file extension bundles are written with (`<name>-<version>.t1cm`).
pub const FILE_EXTENSION: &str = "t1cm";

/// Size limits the reader enforces; see `FORMAT.md`.
pub mod limits {
    /// Largest bundle file accepted.
    pub const BUNDLE: u64 = 64 * 1024 * 1024;
    /// Largest uncompressed `module.wasm`.
    pub const WASM: u64 = 32 * 1024 * 1024;
    /// Largest uncompressed `manifest.toml`.
    pub const MANIFEST: u64 = 64 * 1024;
    /// Largest uncompressed `signature.toml`.
    pub const SIGNATURE: u64 = 4 * 1024;
    /// Largest uncompressed/compressed ratio of an entry ...
    pub const RATIO: u64 = 100;
    /// ... once it has inflated past this many bytes (tiny entries compress arbitrarily well).
    pub const RATIO_EXEMPT_BELOW: u64 = 16 * 1024;
}

/// A bundle read from bytes, NOT verified: its structure, limits, manifest syntax and component
/// header are checked, its signature is not. Call [`Bundle::verify`] before trusting it.
#[derive(Debug, Clone)]
pub struct Bundle {
    manifest: BundleManifest,
    manifest_bytes: Vec<u8>,
    wasm: Vec<u8>,
    digest: Digest,
    signature: Option<SignatureFile>,
}

impl Bundle {
    /// Parses a bundle file, enforcing every limit of the format, without checking the
    /// signature (a present `signature.toml` must be well-formed, though).
    ///
    /// # Errors
    /// The [`BundleError`] naming the first problem: size limits, zip structure, unsafe,
    /// duplicate, unexpected or missing entries, a malformed or invalid manifest, a malformed
    /// signature file, a `module.wasm` that is not a component.
    pub fn read(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let entries = archive::read(bytes)?;
        let manifest = BundleManifest::from_toml(&entries.manifest)?;
        wasm::check_component(&entries.wasm)?;
        let signature = entries.signature.as_deref().map(SignatureFile::parse).transpose()?;
        let digest = Digest::of(&entries.manifest, &entries.wasm);
        debug!(
            name = %manifest.name,
            version = %manifest.version,
            %digest,
            signed = signature.is_some(),
            "read bundle"
        );
        Ok(Bundle {
            manifest,
            manifest_bytes: entries.manifest,
            wasm: entries.wasm,
            digest,
            signature,
        })
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    /// The manifest exactly as stored (the digest covers these bytes).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The component's bytes.
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }

    /// The digest of the manifest and the component, as signed.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The key id the signature file names, or `None` for an unsigned bundle. Unverified: the
    /// signature may not check out.
    pub fn signer(&self) -> Option<&KeyId> {
        self.signature.as_ref().map(|s| &s.key_id)
    }

    /// Checks the signature against `trust`.
    ///
    /// # Errors
    /// [`BundleError::SignatureMissing`] for an unsigned bundle,
    /// [`BundleError::UntrustedKey`] when the signer is not in `trust`,
    /// [`BundleError::DigestMismatch`] when the manifest or the component changed after
    /// signing, [`BundleError::SignatureMismatch`] when the signature does not verify.
    pub fn verify(self, trust: &TrustStore) -> Result<VerifiedBundle, BundleError> {
        let signature = self.signature.ok_or(BundleError::SignatureMissing)?;
        let key = trust
            .get(&signature.key_id)
            .ok_or_else(|| BundleError::UntrustedKey { key_id: signature.key_id.clone() })?;
        if signature.digest != self.digest {
            return Err(BundleError::DigestMismatch {
                signed: signature.digest,
                actual: self.digest,
            });
        }
        key.verify_digest(&self.digest, &signature.signature)?;
        debug!(name = %self.manifest.name, key_id = %signature.key_id, "bundle verified");
        Ok(VerifiedBundle {
            manifest: self.manifest,
            manifest_bytes: self.manifest_bytes,
            wasm: self.wasm,
            digest: self.digest,
            signer: signature.key_id,
        })
    }
}

/// A bundle whose signature verified with a trusted key. Only [`Bundle::verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    manifest: BundleManifest,
    manifest_bytes: Vec<u8>,
    wasm: Vec<u8>,
    digest: Digest,
    signer: KeyId,
}

impl VerifiedBundle {
    /// The parsed manifest.
    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    /// The manifest exactly as stored and signed.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The component's bytes.
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }

    /// The signed digest.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The trusted key that signed the bundle.
    pub fn signer(&self) -> &KeyId {
        &self.signer
    }

    /// The component's bytes, consuming the bundle.
    pub fn into_wasm(self) -> Vec<u8> {
        self.wasm
    }
}

/// Writes an unsigned bundle (no `signature.toml`) from a manifest and a component.
///
/// The output is deterministic: same inputs, same bytes.
///
/// # Errors
/// [`BundleError::ManifestInvalid`] for an invalid manifest, [`BundleError::NotAComponent`]
/// when `wasm` is not a component, [`BundleError::EntryTooLarge`] past the limits.
pub fn pack(manifest: &BundleManifest, wasm: &[u8]) -> Result<Vec<u8>, BundleError> {
    manifest.validate()?;
    wasm::check_component(wasm)?;
    let manifest_bytes = manifest.to_toml()?;
    archive::write(&manifest_bytes, wasm, None)
}

/// Signs a bundle with `key`: adds `signature.toml`, or replaces the one there. The manifest and
/// component bytes are carried over unchanged.
///
/// # Errors
/// Whatever [`Bundle::read`] refuses in `bundle_bytes`.
pub fn sign(bundle_bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>, BundleError> {
    let bundle = Bundle::read(bundle_bytes)?;
    let signature = SignatureFile::sign(&bundle.digest, key);
    archive::write(&bundle.manifest_bytes, &bundle.wasm, Some(signature.to_toml()?.as_bytes()))
}
