//! The bundle format end to end: pack, sign, read, verify, and every refusal the library
//! decides, each built as real zip bytes.

use std::io::{Cursor, Write as _};

use proptest::prelude::*;
use t1c_bundle::{Bundle, BundleError, BundleManifest, SigningKey, TrustStore, limits};

/// The smallest component: the component-model header and nothing else.
const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
/// A core module header.
const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

fn manifest() -> BundleManifest {
    BundleManifest {
        name: t1c_bundle::ModuleName::new("hello").unwrap(),
        version: semver::Version::new(0, 1, 0),
        contract: semver::Version::new(0, 1, 0),
        description: "Example module".into(),
        capabilities: vec![t1c_bundle::Capability::Reader],
        atrs: vec!["3b98/ffff".parse().unwrap()],
    }
}

fn wasm() -> Vec<u8> {
    let mut wasm = COMPONENT.to_vec();
    wasm.extend((0..2000u32).map(|i| (i * 7 % 251) as u8));
    wasm
}

fn signed(key: &SigningKey) -> Vec<u8> {
    t1c_bundle::sign(&t1c_bundle::pack(&manifest(), &wasm()).unwrap(), key).unwrap()
}

fn trusting(key: &SigningKey) -> TrustStore {
    [key.public_key()].into_iter().collect()
}

/// The entries of a valid signed bundle, as (name, bytes).
fn signed_entries(key: &SigningKey) -> Vec<(Vec<u8>, Vec<u8>)> {
    let bytes = signed(key);
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut file, &mut data).unwrap();
            (file.name_raw().to_vec(), data)
        })
        .collect()
}

fn replace(entries: &mut [(Vec<u8>, Vec<u8>)], name: &str, data: Vec<u8>) {
    for (n, d) in entries.iter_mut() {
        if n == name.as_bytes() {
            *d = data.clone();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A hand-rolled zip writer for archives the zip crate refuses to write (duplicate names, unsafe
// names, encrypted or symlink flags). Stored entries only.

struct RawEntry {
    name: Vec<u8>,
    data: Vec<u8>,
    flags: u16,
    /// Upper 16 bits: Unix mode when made on Unix.
    external: u32,
}

impl RawEntry {
    fn new(name: impl Into<Vec<u8>>, data: impl Into<Vec<u8>>) -> RawEntry {
        RawEntry { name: name.into(), data: data.into(), flags: 0, external: 0o100644 << 16 }
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = out.len() as u32;
        let crc = crc32(&entry.data);
        let size = entry.data.len() as u32;
        let name_len = entry.name.len() as u16;
        // Local file header.
        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(20u16.to_le_bytes()); // version needed
        out.extend(entry.flags.to_le_bytes());
        out.extend(0u16.to_le_bytes()); // stored
        out.extend(0u32.to_le_bytes()); // time, date
        out.extend(crc.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend(name_len.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(&entry.name);
        out.extend(&entry.data);
        // Central directory header.
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend((0x0300u16 | 20).to_le_bytes()); // made by Unix
        central.extend(20u16.to_le_bytes());
        central.extend(entry.flags.to_le_bytes());
        central.extend(0u16.to_le_bytes());
        central.extend(0u32.to_le_bytes());
        central.extend(crc.to_le_bytes());
        central.extend(size.to_le_bytes());
        central.extend(size.to_le_bytes());
        central.extend(name_len.to_le_bytes());
        central.extend([0u8; 8]); // extra len, comment len, disk, internal attrs
        central.extend(entry.external.to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(&entry.name);
    }
    let central_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn raw_from(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    raw_zip(&entries.iter().map(|(n, d)| RawEntry::new(n.clone(), d.clone())).collect::<Vec<_>>())
}

fn unsigned_entries(manifest: &[u8], wasm: &[u8]) -> Vec<RawEntry> {
    vec![RawEntry::new("manifest.toml", manifest), RawEntry::new("module.wasm", wasm)]
}

fn read_err(bytes: &[u8]) -> BundleError {
    Bundle::read(bytes).expect_err("the bundle should be refused")
}

// ---------------------------------------------------------------------------------------------
// Round trip.

#[test]
fn pack_sign_read_verify_round_trip() {
    let key = SigningKey::generate();
    let unsigned = t1c_bundle::pack(&manifest(), &wasm()).unwrap();
    let bundle = Bundle::read(&unsigned).unwrap();
    assert_eq!(bundle.signer(), None);
    let digest = bundle.digest();

    let signed = t1c_bundle::sign(&unsigned, &key).unwrap();
    let bundle = Bundle::read(&signed).unwrap();
    assert_eq!(bundle.signer(), Some(&key.public_key().id()));
    assert_eq!(bundle.digest(), digest, "signing does not change the digest");

    let verified = bundle.verify(&trusting(&key)).unwrap();
    assert_eq!(verified.manifest(), &manifest());
    assert_eq!(verified.wasm(), wasm());
    assert_eq!(verified.digest(), digest);
    assert_eq!(verified.signer(), &key.public_key().id());
    assert_eq!(
        BundleManifest::from_toml(verified.manifest_bytes()).unwrap(),
        manifest(),
        "manifest_bytes are the stored manifest"
    );
}

#[test]
fn packing_is_deterministic() {
    let a = t1c_bundle::pack(&manifest(), &wasm()).unwrap();
    let b = t1c_bundle::pack(&manifest(), &wasm()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn signing_again_replaces_the_signature() {
    let (first, second) = (SigningKey::generate(), SigningKey::generate());
    let resigned = t1c_bundle::sign(&signed(&first), &second).unwrap();
    let bundle = Bundle::read(&resigned).unwrap();
    assert_eq!(bundle.signer(), Some(&second.public_key().id()));
    bundle.verify(&trusting(&second)).unwrap();
}

#[test]
fn bundles_from_other_zip_writers_verify() {
    // The format is the entries, not this crate's writer: a stored (uncompressed) zip works.
    let key = SigningKey::generate();
    let bytes = raw_from(&signed_entries(&key));
    Bundle::read(&bytes).unwrap().verify(&trusting(&key)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Container refusals.

#[test]
fn zip_slip_paths_are_refused() {
    let mut entries = unsigned_entries(&manifest().to_toml().unwrap(), COMPONENT);
    entries.push(RawEntry::new("../module.wasm", COMPONENT));
    assert!(matches!(read_err(&raw_zip(&entries)), BundleError::UnsafePath { .. }));
}

#[test]
fn absolute_paths_are_refused() {
    let mut entries = unsigned_entries(&manifest().to_toml().unwrap(), COMPONENT);
    entries.push(RawEntry::new("/etc/cron.d/x", "x"));
    let err = read_err(&raw_zip(&entries));
    assert!(matches!(err, BundleError::UnsafePath { reason: "absolute path", .. }), "{err}");
}

#[test]
fn duplicate_entries_are_refused() {
    let mut entries = unsigned_entries(&manifest().to_toml().unwrap(), COMPONENT);
    entries.push(RawEntry::new("module.wasm", wasm()));
    assert!(matches!(read_err(&raw_zip(&entries)), BundleError::DuplicateEntry));
}

#[test]
fn unexpected_entries_are_refused() {
    let mut entries = unsigned_entries(&manifest().to_toml().unwrap(), COMPONENT);
    entries.push(RawEntry::new("README.md", "hi"));
    let err = read_err(&raw_zip(&entries));
    assert!(matches!(&err, BundleError::UnexpectedEntry { name } if name == "README.md"), "{err}");
}

#[test]
fn entry_names_are_compared_byte_exactly() {
    let mut entries = unsigned_entries(&manifest().to_toml().unwrap(), COMPONENT);
    entries[1].name = b"Module.wasm".to_vec();
    assert!(matches!(read_err(&raw_zip(&entries)), BundleError::UnexpectedEntry { .. }));
    entries[1].name = b"./module.wasm".to_vec();
    assert!(matches!(read_err(&raw_zip(&entries)), BundleError::UnexpectedEntry { .. }));
}

#[test]
fn missing_entries_are_refused() {
    let bytes = raw_zip(&[RawEntry::new("manifest.toml", manifest().to_toml().unwrap())]);
    assert!(matches!(read_err(&bytes), BundleError::MissingEntry { name: "module.wasm" }));
    let bytes = raw_zip(&[RawEntry::new("module.wasm", COMPONENT)]);
    assert!(matches!(read_err(&bytes), BundleError::MissingEntry { name: "manifest.toml" }));
}

#[test]
fn symlinks_are_refused() {
    let mut entries = unsigned_entries(&manifest().to_toml().unwrap(), COMPONENT);
    entries[1].external = 0o120777 << 16;
    let err = read_err(&raw_zip(&entries));
    assert!(matches!(err, BundleError::NotARegularFile { kind: "symbolic link", .. }), "{err}");
}

#[test]
fn encrypted_entries_are_refused() {
    let mut entries = unsigned_entries(&manifest().to_toml().unwrap(), COMPONENT);
    entries[1].flags = 1;
    let err = read_err(&raw_zip(&entries));
    assert!(matches!(err, BundleError::EncryptedEntry { .. }), "{err}");
}

#[test]
fn a_deflate_bomb_is_refused() {
    // 10 MB of zeros deflate to about 10 KB: a ratio near 1000:1.
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("manifest.toml", options).unwrap();
    writer.write_all(&manifest().to_toml().unwrap()).unwrap();
    writer.start_file("module.wasm", options).unwrap();
    writer.write_all(COMPONENT).unwrap();
    writer.write_all(&vec![0u8; 10_000_000]).unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    assert!(bytes.len() < 100_000, "the bomb is small: {}", bytes.len());
    let err = read_err(&bytes);
    assert!(
        matches!(&err, BundleError::CompressionRatio { name, limit: 100, .. } if name == "module.wasm"),
        "{err}"
    );
}

#[test]
fn entries_over_their_size_limit_are_refused() {
    // Stored, so the ratio is 1:1 and only the size limit applies.
    let mut big = manifest().to_toml().unwrap();
    big.extend(std::iter::repeat_n(b'#', limits::MANIFEST as usize));
    let err = read_err(&raw_zip(&unsigned_entries(&big, COMPONENT)));
    assert!(matches!(err, BundleError::EntryTooLarge { limit: limits::MANIFEST, .. }), "{err}");
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let bytes = vec![0u8; limits::BUNDLE as usize + 1];
    assert!(matches!(read_err(&bytes), BundleError::BundleTooLarge { .. }));
}

#[test]
fn truncated_files_are_refused() {
    let bytes = signed(&SigningKey::generate());
    for len in [0, 1, 4, 30, bytes.len() / 2, bytes.len() - 1] {
        let err = read_err(&bytes[..len]);
        assert!(matches!(err, BundleError::NotAZip { .. }), "{len}: {err}");
    }
}

#[test]
fn garbage_is_not_a_zip() {
    assert!(matches!(read_err(b"this is not a zip file"), BundleError::NotAZip { .. }));
}

#[test]
fn corrupt_entry_data_is_refused() {
    let mut bytes = raw_zip(&unsigned_entries(&manifest().to_toml().unwrap(), &wasm()));
    // Flip a byte inside module.wasm's stored data: the CRC no longer matches.
    let at = bytes.windows(4).rposition(|w| w == [0x0d, 0x00, 0x01, 0x00]).unwrap() + 100;
    bytes[at] ^= 0xFF;
    let err = read_err(&bytes);
    assert!(matches!(err, BundleError::CorruptEntry { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Manifest and component refusals.

#[test]
fn a_manifest_that_is_not_toml_is_refused() {
    let err = read_err(&raw_zip(&unsigned_entries(b"name = [", COMPONENT)));
    assert!(matches!(err, BundleError::ManifestMalformed(_)), "{err}");
}

#[test]
fn a_manifest_with_unknown_fields_is_refused() {
    let mut text = manifest().to_toml().unwrap();
    text.extend(b"secret-capability = true\n");
    let err = read_err(&raw_zip(&unsigned_entries(&text, COMPONENT)));
    assert!(matches!(err, BundleError::ManifestMalformed(_)), "{err}");
}

#[test]
fn a_manifest_with_an_invalid_name_is_refused() {
    let text = String::from_utf8(manifest().to_toml().unwrap()).unwrap();
    let text = text.replace("name = \"hello\"", "name = \"../hello\"");
    let err = read_err(&raw_zip(&unsigned_entries(text.as_bytes(), COMPONENT)));
    assert!(matches!(err, BundleError::ManifestInvalid { field: "name", .. }), "{err}");
}

#[test]
fn a_core_module_is_not_a_component() {
    let err = read_err(&raw_zip(&unsigned_entries(&manifest().to_toml().unwrap(), CORE_MODULE)));
    assert!(matches!(err, BundleError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
    assert!(matches!(
        t1c_bundle::pack(&manifest(), CORE_MODULE),
        Err(BundleError::NotAComponent { .. })
    ));
}

#[test]
fn garbage_wasm_is_not_a_component() {
    let bytes = raw_zip(&unsigned_entries(&manifest().to_toml().unwrap(), b"#!/bin/sh\nrm -rf /"));
    assert!(matches!(read_err(&bytes), BundleError::NotAComponent { .. }));
}

// ---------------------------------------------------------------------------------------------
// Signature refusals.

#[test]
fn an_unsigned_bundle_does_not_verify() {
    let key = SigningKey::generate();
    let bundle = Bundle::read(&t1c_bundle::pack(&manifest(), &wasm()).unwrap()).unwrap();
    assert!(matches!(bundle.verify(&trusting(&key)), Err(BundleError::SignatureMissing)));
}

#[test]
fn a_malformed_signature_is_refused() {
    let key = SigningKey::generate();
    let mut entries = signed_entries(&key);
    replace(&mut entries, "signature.toml", b"format = 1\nalgorithm = \"ed25519\"\n".to_vec());
    let err = read_err(&raw_from(&entries));
    assert!(matches!(err, BundleError::SignatureMalformed(_)), "{err}");
}

#[test]
fn a_signature_of_the_wrong_length_is_refused() {
    let key = SigningKey::generate();
    let mut entries = signed_entries(&key);
    let text = String::from_utf8(entries[2].1.clone()).unwrap();
    let line = text.lines().find(|l| l.starts_with("signature")).unwrap().to_owned();
    replace(&mut entries, "signature.toml", text.replace(&line, "signature = \"AAAA\"").into());
    let err = read_err(&raw_from(&entries));
    assert!(matches!(err, BundleError::SignatureMalformed(_)), "{err}");
}

#[test]
fn an_untrusted_key_is_refused() {
    let (signer, other) = (SigningKey::generate(), SigningKey::generate());
    let err = Bundle::read(&signed(&signer)).unwrap().verify(&trusting(&other)).unwrap_err();
    assert!(
        matches!(&err, BundleError::UntrustedKey { key_id } if *key_id == signer.public_key().id()),
        "{err}"
    );
    assert!(err.to_string().contains(&signer.public_key().id().to_string()));
    let empty = TrustStore::new();
    assert!(matches!(
        Bundle::read(&signed(&signer)).unwrap().verify(&empty),
        Err(BundleError::UntrustedKey { .. })
    ));
}

#[test]
fn a_tampered_manifest_is_refused() {
    let key = SigningKey::generate();
    let mut entries = signed_entries(&key);
    let text = String::from_utf8(entries[0].1.clone()).unwrap();
    let tampered = text.replace("\"reader\"", "\"reader\", \"files\"");
    assert_ne!(text, tampered);
    replace(&mut entries, "manifest.toml", tampered.into());
    let err = Bundle::read(&raw_from(&entries)).unwrap().verify(&trusting(&key)).unwrap_err();
    assert!(matches!(err, BundleError::DigestMismatch { .. }), "{err}");
}

#[test]
fn a_tampered_wasm_is_refused() {
    let key = SigningKey::generate();
    let mut entries = signed_entries(&key);
    let mut wasm = wasm();
    wasm[500] ^= 1;
    replace(&mut entries, "module.wasm", wasm);
    let err = Bundle::read(&raw_from(&entries)).unwrap().verify(&trusting(&key)).unwrap_err();
    assert!(matches!(err, BundleError::DigestMismatch { .. }), "{err}");
}

#[test]
fn a_tampered_signature_is_refused() {
    let key = SigningKey::generate();
    let mut entries = signed_entries(&key);
    // Re-sign different content with the same key and graft that signature on, keeping the
    // declared digest: the digest matches, the signature does not.
    let other = t1c_bundle::sign(
        &t1c_bundle::pack(
            &BundleManifest { name: t1c_bundle::ModuleName::new("other").unwrap(), ..manifest() },
            &wasm(),
        )
        .unwrap(),
        &key,
    )
    .unwrap();
    let other_sig = zip_entry(&other, "signature.toml");
    let sig_line =
        |text: &str| text.lines().find(|l| l.starts_with("signature")).unwrap().to_owned();
    let ours = String::from_utf8(entries[2].1.clone()).unwrap();
    let grafted = ours.replace(&sig_line(&ours), &sig_line(&String::from_utf8(other_sig).unwrap()));
    replace(&mut entries, "signature.toml", grafted.into());
    let err = Bundle::read(&raw_from(&entries)).unwrap().verify(&trusting(&key)).unwrap_err();
    assert!(matches!(err, BundleError::SignatureMismatch { .. }), "{err}");
}

#[test]
fn a_signature_by_a_different_key_claiming_a_trusted_id_is_refused() {
    let (trusted, attacker) = (SigningKey::generate(), SigningKey::generate());
    let mut entries = signed_entries(&attacker);
    let text = String::from_utf8(entries[2].1.clone()).unwrap();
    let text = text
        .replace(&attacker.public_key().id().to_string(), &trusted.public_key().id().to_string());
    replace(&mut entries, "signature.toml", text.into());
    let err = Bundle::read(&raw_from(&entries)).unwrap().verify(&trusting(&trusted)).unwrap_err();
    assert!(matches!(err, BundleError::SignatureMismatch { .. }), "{err}");
}

fn zip_entry(bytes: &[u8], name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut file = archive.by_name(name).unwrap();
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut data).unwrap();
    data
}

// ---------------------------------------------------------------------------------------------
// No input panics; no mutation of the signed content verifies.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let trust = TrustStore::new();
        if let Ok(bundle) = Bundle::read(&bytes) {
            let _ = bundle.verify(&trust);
        }
    }

    #[test]
    fn mutated_bundles_never_panic_and_verify_only_with_the_signed_content(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let key = SigningKey::generate();
        let original = signed(&key);
        let mut bytes = original.clone();
        for (index, mask) in flips {
            let at = index.index(bytes.len());
            bytes[at] ^= mask;
        }
        if let Ok(verified) = Bundle::read(&bytes).and_then(|b| b.verify(&trusting(&key))) {
            // Only zip metadata (timestamps, attributes) was hit: the content is the signed one.
            prop_assert_eq!(verified.manifest_bytes(), &manifest().to_toml().unwrap()[..]);
            prop_assert_eq!(verified.wasm(), &wasm()[..]);
        }
    }

    #[test]
    fn any_change_to_a_signed_entry_never_verifies(
        entry in 0usize..3,
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let key = SigningKey::generate();
        let mut entries = signed_entries(&key);
        let original = entries[entry].1.clone();
        let data = &mut entries[entry].1;
        let at = index.index(data.len());
        data[at] ^= mask;
        let outcome = Bundle::read(&raw_from(&entries)).and_then(|b| b.verify(&trusting(&key)));
        if entry == 2 && outcome.is_ok() {
            // The signature file is not itself signed: a change to its layout (a trailing
            // newline turned into a comment, say) may still verify, but never a change to
            // what it says.
            let parse = |bytes: &[u8]| {
                std::str::from_utf8(bytes).ok().and_then(|t| t.parse::<toml::Table>().ok())
            };
            prop_assert_eq!(parse(&entries[entry].1), parse(&original));
        } else {
            prop_assert!(outcome.is_err());
        }
    }
}
