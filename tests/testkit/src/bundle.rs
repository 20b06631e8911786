//! Signed bundles of components: the manifest the component declares, packed with the
//! component and signed, as `cargo xtask build-modules` and the author CLI make them.

use t1c_bundle::{BundleManifest, SigningKey};
use t1c_runtime::LoadedModule;

use crate::components;

/// Why a component cannot be bundled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleHelperError {
    /// The component's manifest does not make a bundle manifest.
    #[error("the component's manifest: {0}")]
    Manifest(#[source] t1c_sdk::module::ManifestError),
    /// Packing or signing failed.
    #[error(transparent)]
    Bundle(#[from] t1c_bundle::BundleError),
}

/// `wasm`, already loaded as `module`, packed as a bundle whose manifest is the component's
/// own, signed by `key`.
///
/// # Errors
/// [`BundleHelperError`] when the manifest does not convert or packing or signing fails.
pub fn sign(
    module: &LoadedModule,
    wasm: &[u8],
    key: &SigningKey,
) -> Result<Vec<u8>, BundleHelperError> {
    signed_with(module, wasm, key, |_| {})
}

/// As [`sign`], with the manifest changed by `edit` first.
///
/// # Errors
/// As [`sign`].
pub fn signed_with(
    module: &LoadedModule,
    wasm: &[u8],
    key: &SigningKey,
    edit: impl FnOnce(&mut BundleManifest),
) -> Result<Vec<u8>, BundleHelperError> {
    let mut manifest = t1c_runtime::manifest_of(module).map_err(BundleHelperError::Manifest)?;
    edit(&mut manifest);
    Ok(t1c_bundle::sign(&t1c_bundle::pack(&manifest, wasm)?, key)?)
}

/// The repository's development signing key (what `cargo xtask build-modules` signs with and
/// debug builds of the connector trust).
///
/// # Panics
/// When the key file cannot be read.
pub fn development_key() -> SigningKey {
    let path = components::workspace_root().join("xtask/development-key.pem");
    SigningKey::read_pem_file(&path).expect("the development key")
}

/// A component of the workspace as a bundle with its own manifest, signed by `key`.
///
/// # Panics
/// When the component cannot be built, loaded or bundled.
pub fn signed_bundle(package: &str, key: &SigningKey) -> Vec<u8> {
    bundle_with(package, key, |_| {})
}

/// A component of the workspace as a bundle whose manifest `edit` changed, signed by `key`.
///
/// # Panics
/// As [`signed_bundle`].
pub fn bundle_with(
    package: &str,
    key: &SigningKey,
    edit: impl FnOnce(&mut BundleManifest),
) -> Vec<u8> {
    let (module, wasm) = load(package);
    signed_with(&module, &wasm, key, edit).expect("the component bundles")
}

/// A component of the workspace as a bundle with its own manifest and no signature.
///
/// # Panics
/// As [`signed_bundle`].
pub fn unsigned_bundle(package: &str) -> Vec<u8> {
    let (module, wasm) = load(package);
    let manifest = t1c_runtime::manifest_of(&module).expect("the manifest converts");
    t1c_bundle::pack(&manifest, &wasm).expect("the component packs")
}

fn load(package: &str) -> (LoadedModule, Vec<u8>) {
    let wasm = components::bytes(package);
    let module = components::runtime().load(&wasm, package).expect("the component loads");
    (module, wasm)
}
