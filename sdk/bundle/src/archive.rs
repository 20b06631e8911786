//! The zip container: reading with every limit of the format, and deterministic writing.
//!
//! Declared sizes are never trusted: every entry is inflated through a counting reader that
//! stops at the entry's limit or at the compression-ratio limit, whichever comes first.

use std::io::{Cursor, Read, Write as _};

use zip::read::{ArchiveOffset, Config};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::{BundleError, MANIFEST_ENTRY, SIGNATURE_ENTRY, WASM_ENTRY, limits};

/// The raw entries of a bundle that passed the container checks.
pub(crate) struct Entries {
    pub(crate) manifest: Vec<u8>,
    pub(crate) wasm: Vec<u8>,
    pub(crate) signature: Option<Vec<u8>>,
}

/// The entries a bundle may hold, with their uncompressed limits; the first two are required.
const ALLOWED: [(&str, u64); 3] = [
    (MANIFEST_ENTRY, limits::MANIFEST),
    (WASM_ENTRY, limits::WASM),
    (SIGNATURE_ENTRY, limits::SIGNATURE),
];

/// Reads a bundle's entries, refusing anything the format does not allow.
pub(crate) fn read(bytes: &[u8]) -> Result<Entries, BundleError> {
    if bytes.len() as u64 > limits::BUNDLE {
        return Err(BundleError::BundleTooLarge {
            size: bytes.len() as u64,
            limit: limits::BUNDLE,
        });
    }
    check_directory_size(bytes)?;
    // The archive starts at byte 0: no self-extractor stubs or other prefixed data.
    let config = Config { archive_offset: ArchiveOffset::Known(0) };
    let mut archive = ZipArchive::with_config(config, Cursor::new(bytes)).map_err(not_a_zip)?;
    if archive.has_duplicate_names() {
        return Err(BundleError::DuplicateEntry);
    }

    // Check every entry's metadata before inflating anything.
    let mut slots: [Option<usize>; 3] = [None; 3];
    for index in 0..archive.len() {
        let entry = archive.by_index_data(index).map_err(not_a_zip)?;
        let raw = entry.name_raw();
        let name = shown(raw);
        if let Some(reason) = unsafe_path(raw) {
            return Err(BundleError::UnsafePath { name, reason });
        }
        let Some(slot) = ALLOWED.iter().position(|(allowed, _)| allowed.as_bytes() == raw) else {
            return Err(BundleError::UnexpectedEntry { name });
        };
        if entry.is_dir() {
            return Err(BundleError::NotARegularFile { name, kind: "directory" });
        }
        if entry.is_symlink() {
            return Err(BundleError::NotARegularFile { name, kind: "symbolic link" });
        }
        if entry.encrypted() {
            return Err(BundleError::EncryptedEntry { name });
        }
        let method = entry.compression();
        if method != CompressionMethod::Stored && method != CompressionMethod::Deflated {
            return Err(BundleError::UnsupportedCompression { name, method: format!("{method}") });
        }
        if let Some(existing) = slots.get_mut(slot) {
            if existing.is_some() {
                return Err(BundleError::DuplicateEntry);
            }
            *existing = Some(index);
        }
    }
    // Local headers must agree with the central directory (names, no hidden entries).
    archive.validate_header_consistency().map_err(not_a_zip)?;

    let mut contents: [Option<Vec<u8>>; 3] = [None, None, None];
    for ((slot, content), (name, limit)) in slots.iter().zip(&mut contents).zip(ALLOWED) {
        if let Some(index) = *slot {
            *content = Some(inflate(&mut archive, index, name, limit)?);
        }
    }
    let [manifest, wasm, signature] = contents;
    Ok(Entries {
        manifest: manifest.ok_or(BundleError::MissingEntry { name: MANIFEST_ENTRY })?,
        wasm: wasm.ok_or(BundleError::MissingEntry { name: WASM_ENTRY })?,
        signature,
    })
}

/// Writes a bundle: `manifest.toml`, `module.wasm` and, when given, `signature.toml`, deflated,
/// with fixed timestamps and permissions so equal inputs give equal bytes.
pub(crate) fn write(
    manifest: &[u8],
    wasm: &[u8],
    signature: Option<&[u8]>,
) -> Result<Vec<u8>, BundleError> {
    let mut entries =
        vec![(MANIFEST_ENTRY, manifest, limits::MANIFEST), (WASM_ENTRY, wasm, limits::WASM)];
    if let Some(signature) = signature {
        entries.push((SIGNATURE_ENTRY, signature, limits::SIGNATURE));
    }
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let failed =
        |e: &dyn std::fmt::Display| BundleError::NotAZip { reason: format!("writing: {e}") };
    for (name, bytes, limit) in entries {
        if bytes.len() as u64 > limit {
            return Err(BundleError::EntryTooLarge { name: name.to_owned(), limit });
        }
        writer.start_file(name, options).map_err(|e| failed(&e))?;
        writer.write_all(bytes).map_err(|e| failed(&e))?;
    }
    let bytes = writer.finish().map_err(|e| failed(&e))?.into_inner();
    if bytes.len() as u64 > limits::BUNDLE {
        return Err(BundleError::BundleTooLarge {
            size: bytes.len() as u64,
            limit: limits::BUNDLE,
        });
    }
    Ok(bytes)
}

/// Inflates entry `index` through a reader bounded by `limit` and the ratio limit.
fn inflate(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    index: usize,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, BundleError> {
    let corrupt = |e: &dyn std::fmt::Display| BundleError::CorruptEntry {
        name: name.to_owned(),
        reason: e.to_string(),
    };
    let mut file = archive.by_index(index).map_err(|e| corrupt(&e))?;
    // The zip reader reads at most the central directory's compressed size from the file, so
    // the real ratio is at least inflated / compressed.
    let compressed = file.compressed_size();
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(&e)),
        };
        let inflated = out.len() as u64 + n as u64;
        if inflated > limit {
            return Err(BundleError::EntryTooLarge { name: name.to_owned(), limit });
        }
        if inflated > limits::RATIO_EXEMPT_BELOW
            && inflated > compressed.saturating_mul(limits::RATIO)
        {
            return Err(BundleError::CompressionRatio {
                name: name.to_owned(),
                compressed,
                inflated,
                limit: limits::RATIO,
            });
        }
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(out)
}

/// Why an entry name could escape an extraction directory, if it could.
/// Most entries a central directory may declare: the three of the format. Checked on the
/// end-of-central-directory record before the zip reader parses (and allocates for) every
/// entry a crafted directory declares.
const MAX_ENTRIES: u16 = ALLOWED.len() as u16;

/// Refuses an archive whose end-of-central-directory record declares more entries than a
/// bundle has, or a Zip64 archive (a bundle never needs one). An archive without the record is
/// left to the zip reader, which refuses it.
fn check_directory_size(bytes: &[u8]) -> Result<(), BundleError> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const EOCD_LEN: usize = 22;
    // The record is the last thing in the file, followed by a comment of at most 65535 bytes.
    let search_from = bytes.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
    let Some(at) = bytes[search_from..]
        .windows(EOCD.len())
        .rposition(|window| window == EOCD)
        .map(|offset| search_from + offset)
    else {
        return Ok(());
    };
    let field = |offset: usize| {
        bytes.get(at + offset..at + offset + 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let (Some(on_disk), Some(total)) = (field(8), field(10)) else {
        return Ok(());
    };
    if on_disk == u16::MAX || total == u16::MAX {
        return Err(BundleError::NotAZip {
            reason: "a Zip64 archive; bundles are plain zip".into(),
        });
    }
    if total > MAX_ENTRIES || on_disk > MAX_ENTRIES {
        return Err(BundleError::NotAZip {
            reason: format!(
                "the central directory declares {} entries; a bundle has at most {MAX_ENTRIES}",
                total.max(on_disk)
            ),
        });
    }
    Ok(())
}

/// An entry name as errors show it: control characters escaped (a crafted name must not drive
/// a terminal or forge log lines), cut to 128 characters.
fn shown(raw: &[u8]) -> String {
    const LONGEST: usize = 128;
    let text = String::from_utf8_lossy(raw);
    let mut shown: String = text.chars().take(LONGEST).flat_map(char::escape_debug).collect();
    if text.chars().nth(LONGEST).is_some() {
        shown.push('…');
    }
    shown
}

fn unsafe_path(name: &[u8]) -> Option<&'static str> {
    if name.first().is_some_and(|b| *b == b'/' || *b == b'\\') {
        return Some("absolute path");
    }
    if name.get(1) == Some(&b':') && name.first().is_some_and(u8::is_ascii_alphabetic) {
        return Some("drive-letter path");
    }
    if name.split(|b| *b == b'/' || *b == b'\\').any(|part| part == b"..") {
        return Some("`..` path component (zip slip)");
    }
    if name.contains(&0) {
        return Some("NUL byte in the name");
    }
    None
}

fn not_a_zip(e: zip::result::ZipError) -> BundleError {
    BundleError::NotAZip { reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_named() {
        assert_eq!(unsafe_path(b"../x"), Some("`..` path component (zip slip)"));
        assert_eq!(unsafe_path(b"a/../../x"), Some("`..` path component (zip slip)"));
        assert_eq!(unsafe_path(b"a\\..\\x"), Some("`..` path component (zip slip)"));
        assert_eq!(unsafe_path(b"/etc/passwd"), Some("absolute path"));
        assert_eq!(unsafe_path(b"C:x"), Some("drive-letter path"));
        assert_eq!(unsafe_path(b"module.wasm"), None);
        assert_eq!(unsafe_path(b"..x"), None);
    }

    #[test]
    fn a_directory_declaring_many_entries_is_refused_before_parsing() {
        let mut eocd = vec![0u8; 10];
        eocd.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
        eocd.extend_from_slice(&60000u16.to_le_bytes());
        eocd.extend_from_slice(&60000u16.to_le_bytes());
        eocd.extend_from_slice(&[0; 10]);
        let err = check_directory_size(&eocd).expect_err("too many entries");
        assert!(err.to_string().contains("60000 entries"), "{err}");
        let zip64 = [&eocd[..18], &[0xff, 0xff, 0xff, 0xff], &eocd[22..]].concat();
        assert!(check_directory_size(&zip64).is_err());
        assert!(check_directory_size(b"no record here").is_ok());
    }

    #[test]
    fn names_in_errors_are_escaped_and_cut() {
        assert_eq!(shown(b"evil\x1b[2J\nline"), "evil\\u{1b}[2J\\nline");
        let long = shown(&[b'a'; 1000]);
        assert_eq!(long.chars().count(), 129);
        assert!(long.ends_with('…'));
    }
}
